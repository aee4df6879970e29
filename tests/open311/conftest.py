"""Fixtures of the Open311 tests: services over the category tree, API keys, a form-posting client."""

import uuid

import pytest
from django.test import Client

from tickets.open311.actions import api_key_issue
from tickets.open311.models import ApiKey, AttributeValue, Datatype, Service, ServiceAttribute, ServiceType

from .helpers import JURISDICTION


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """Each test counts its rate limits from zero: a fresh key prefix, on Redis or in local memory."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"o311test-{uuid.uuid4().hex}"}}
    settings.OPEN311_JURISDICTION_ID = JURISDICTION


@pytest.fixture
def services(category_tree):
    """Two services: water cuts (realtime, no attributes) and street lights (attributes of every datatype)."""
    water_cut = Service.objects.create(
        category=category_tree["water_cut"], description="停水、水压低", keywords="停水, 没水", kind="complaint"
    )
    lights = Service.objects.create(
        category=category_tree["street_lights"],
        code="LIGHT-01",
        description="路灯不亮或闪烁",
        notice="城管部门将在三个工作日内修复。",
        sort=1,
    )
    ServiceAttribute.objects.create(
        service=lights, code="pole", order=1, required=True, description="灯杆编号（灯杆上的白色标牌）"
    )
    state = ServiceAttribute.objects.create(
        service=lights, code="state", order=2, datatype=Datatype.SINGLEVALUELIST, required=True, description="灯的状态"
    )
    AttributeValue.objects.create(attribute=state, key="dark", name="不亮", sort=1)
    AttributeValue.objects.create(attribute=state, key="flicker", name="闪烁", sort=2)
    when = ServiceAttribute.objects.create(
        service=lights, code="when", order=3, datatype=Datatype.MULTIVALUELIST, description="什么时候"
    )
    AttributeValue.objects.create(attribute=when, key="night", name="夜间", sort=1)
    AttributeValue.objects.create(attribute=when, key="day", name="白天", sort=2)
    ServiceAttribute.objects.create(service=lights, code="count", order=4, datatype=Datatype.NUMBER, description="几盏")
    ServiceAttribute.objects.create(
        service=lights, code="since", order=5, datatype=Datatype.DATETIME, description="从何时起"
    )
    ServiceAttribute.objects.create(service=lights, code="more", order=6, datatype=Datatype.TEXT, description="补充")
    ServiceAttribute.objects.create(
        service=lights, code="info", order=7, variable=False, description="紧急情况请拨打 12345"
    )
    return {"water_cut": water_cut, "lights": lights}


@pytest.fixture
def batch_service(category_tree):
    return Service.objects.create(category=category_tree["power_cut"], code="power", type=ServiceType.BATCH)


@pytest.fixture
def key(db):
    """A fresh API key: `key.secret` is the secret a client sends."""
    api_key = ApiKey(name="城市通 App", contact="dev@example.com")
    api_key.secret = api_key_issue(api_key, actor=None)
    return api_key


@pytest.fixture
def client():
    """A client that asks for English, as the tests compare the standard's English texts (the default is Chinese)."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")
