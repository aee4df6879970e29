"""The admin: keys issued (shown once, stored as a hash) and revoked, services over categories, read-only logs."""

import pytest
from django.test import Client

from tickets.open311.models import ApiKey, AttributeValue, RequestLog, Service, ServiceAttribute, ServiceRequest
from tickets.open311.selectors import api_key_hash

from .helpers import BASE, light_request, post_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_issuing_a_key_shows_it_once_and_keeps_only_its_hash(admin_client, client, services, admin_user):
    response = admin_client.post(
        "/admin/open311/apikey/add/", {"name": "城市通 App", "contact": "dev@example.com", "requests_per_minute": ""}
    )

    assert response.status_code == 200  # the page itself, not a redirect that would need the key stored somewhere
    assert "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert secret.startswith("o311_") and len(secret) > 40
    assert secret in response.content.decode()
    key = ApiKey.objects.get()
    assert key.key_hash == api_key_hash(secret)
    assert secret not in str(vars(key))
    assert (key.prefix, key.created_by) == (secret[:11], admin_user)
    assert not response.cookies.get("messages")
    # The page shows it once: the key's own page never does.
    assert secret not in admin_client.get(f"/admin/open311/apikey/{key.pk}/change/").content.decode()
    key.secret = secret
    assert post_form(client, f"{BASE}/requests.json", light_request(key)).status_code == 201


def test_revoking_keys_from_the_list_refuses_them_at_once(admin_client, client, services, key, admin_user):
    response = admin_client.post(
        "/admin/open311/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )

    assert "已吊销 1 个密钥。" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == admin_user
    assert post_form(client, f"{BASE}/requests.json", light_request(key)).status_code == 403


def test_keys_cannot_be_deleted(admin_client, key):
    assert admin_client.get(f"/admin/open311/apikey/{key.pk}/delete/").status_code == 403


def test_a_service_is_offered_from_the_admin_with_the_category_code_by_default(admin_client, category_tree):
    water_cut = category_tree["water_cut"]
    data = {
        "category": water_cut.pk,
        "code": "",
        "description": "停水",
        "keywords": "",
        "kind": "complaint",
        "type": "realtime",
        "notice": "",
        "is_active": "on",
        "sort": "0",
        "attributes-TOTAL_FORMS": "1",
        "attributes-INITIAL_FORMS": "0",
        "attributes-MIN_NUM_FORMS": "0",
        "attributes-MAX_NUM_FORMS": "1000",
        "attributes-0-order": "1",
        "attributes-0-code": "since",
        "attributes-0-description": "停水多久了",
        "attributes-0-datatype": "string",
        "attributes-0-variable": "on",
        "attributes-0-required": "on",
        "attributes-0-datatype_description": "",
    }

    response = admin_client.post("/admin/open311/service/add/", data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    service = Service.objects.get()
    assert (service.code, service.category) == ("water_cut", water_cut)
    assert list(service.attributes.values_list("code", "required")) == [("since", True)]


def test_list_values_are_edited_on_the_attributes_page(admin_client, services):
    state = ServiceAttribute.objects.get(code="state")

    page = admin_client.get(f"/admin/open311/serviceattribute/{state.pk}/change/")

    assert page.status_code == 200
    assert "不亮" in page.content.decode() and "闪烁" in page.content.decode()
    assert AttributeValue.objects.filter(attribute=state).count() == 2


def test_requests_and_the_log_are_browsable_read_only_with_contact_details_masked(admin_client, client, services, key):
    post_form(client, f"{BASE}/requests.json", light_request(key))
    request = ServiceRequest.objects.get()
    entry = RequestLog.objects.get()

    for url in (
        "/admin/open311/servicerequest/",
        f"/admin/open311/servicerequest/{request.pk}/change/",
        "/admin/open311/requestlog/",
        f"/admin/open311/requestlog/{entry.pk}/change/",
        "/admin/open311/service/",
        "/admin/open311/apikey/",
    ):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        content = page.content.decode()
        assert "13800138000" not in content and "zhangsan@example.com" not in content
    detail = admin_client.get(f"/admin/open311/servicerequest/{request.pk}/change/").content.decode()
    assert "138****8000" in detail and "z***@example.com" in detail
    assert admin_client.get(f"/admin/open311/requestlog/{entry.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/open311/servicerequest/add/").status_code == 403
