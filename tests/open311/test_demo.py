"""The demo city's Open311 services and its public demo key."""

import pytest

from tests.factories import CategoryFactory
from tickets.open311.demo import DEMO_API_KEY, SERVICES, load_open311_demo
from tickets.open311.models import ApiKey, Service

from .helpers import BASE, errors_of, post_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_categories(db):
    urban = CategoryFactory(code="urban", name="城市管理")
    return {code: CategoryFactory(code=code, name=code, parent=urban) for code, *_rest in SERVICES}


def test_loading_twice_offers_the_services_and_the_key_once(demo_categories):
    assert load_open311_demo(demo_categories) == len(SERVICES)
    assert load_open311_demo(demo_categories) == 0

    assert Service.objects.count() == len(SERVICES)
    assert ApiKey.objects.count() == 1
    assert Service.objects.get(code="street-lights").attributes.count() == 2


def test_the_demo_key_posts_a_street_light_request(client, demo_categories):
    load_open311_demo(demo_categories)
    body = {"api_key": DEMO_API_KEY, "service_code": "street-lights", "lat": "23.11", "long": "114.41"}

    missing = post_form(client, f"{BASE}/requests.json", body)
    created = post_form(client, f"{BASE}/requests.json", {**body, "attribute[state]": "dark"})

    assert errors_of(missing)[0]["description"].startswith("attribute[state] is required")
    assert created.status_code == 201
