"""GET services and GET services/{code}: categories offered as services, their definitions, both formats."""

import pytest

from tests.factories import CategoryFactory
from tickets.open311.models import Service

from .helpers import BASE, JURISDICTION, errors_of, xml

pytestmark = pytest.mark.django_db


def test_services_lists_the_offered_categories_with_their_parent_as_group(client, services):
    response = client.get(f"{BASE}/services.json", {"jurisdiction_id": JURISDICTION})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == [
        {
            "service_code": "water_cut",  # the category's code when the admin left the service code empty
            "service_name": "停水",
            "description": "停水、水压低",
            "metadata": False,
            "type": "realtime",
            "keywords": "停水, 没水",
            "group": "水电气",
        },
        {
            "service_code": "LIGHT-01",
            "service_name": "路灯",
            "description": "路灯不亮或闪烁",
            "metadata": True,
            "type": "realtime",
            "keywords": None,
            "group": "城市管理",
        },
    ]


def test_services_in_xml_follow_the_standards_example(client, services):
    response = client.get(f"{BASE}/services.xml")

    root = xml(response)
    assert root.tag == "services"
    assert [child.tag for child in root] == ["service", "service"]
    first = root[0]
    assert [child.tag for child in first] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert (first.findtext("service_code"), first.findtext("metadata"), first.findtext("group")) == (
        "water_cut",
        "false",
        "水电气",
    )
    assert root[1].findtext("keywords") == ""  # null is an empty element


def test_without_a_suffix_the_answer_is_xml_the_standards_required_format(client, services):
    assert client.get(f"{BASE}/services")["Content-Type"] == "text/xml; charset=utf-8"


def test_service_names_follow_the_language_of_the_request(client, services, category_tree):
    category = category_tree["street_lights"]
    category.name_en = "Street lights"
    category.save()

    rows = client.get(f"{BASE}/services.json", HTTP_ACCEPT_LANGUAGE="en").json()

    assert rows[1]["service_name"] == "Street lights"


def test_inactive_services_and_services_of_inactive_categories_are_not_offered(client, services, category_tree):
    Service.objects.filter(code="water_cut").update(is_active=False)
    category = category_tree["street_lights"]
    category.is_active = False
    category.save()

    assert client.get(f"{BASE}/services.json").json() == []
    assert errors_of(client.get(f"{BASE}/services/LIGHT-01.json"))[0]["code"] == 404


def test_a_root_category_offered_as_a_service_has_no_group(client, db):
    Service.objects.create(category=CategoryFactory(code="noise", name="噪音"))

    assert client.get(f"{BASE}/services.json").json()[0]["group"] is None


def test_service_definition_lists_the_attributes_in_order_with_list_values(client, services):
    response = client.get(f"{BASE}/services/LIGHT-01.json", {"jurisdiction_id": JURISDICTION})

    assert response.status_code == 200
    definition = response.json()
    assert definition["service_code"] == "LIGHT-01"
    attributes = definition["attributes"]
    assert [a["code"] for a in attributes] == ["pole", "state", "when", "count", "since", "more", "info"]
    assert attributes[1] == {
        "variable": True,
        "code": "state",
        "datatype": "singlevaluelist",
        "required": True,
        "datatype_description": None,
        "order": 2,
        "description": "灯的状态",
        "values": [{"key": "dark", "name": "不亮"}, {"key": "flicker", "name": "闪烁"}],
    }
    assert attributes[0]["values"] == []
    assert attributes[-1]["variable"] is False


def test_service_definition_in_xml_follows_the_standards_example(client, services):
    root = xml(client.get(f"{BASE}/services/LIGHT-01.xml"))

    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "LIGHT-01"
    state = root.findall("attributes/attribute")[1]
    assert [child.tag for child in state] == [
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ]
    assert [(v.findtext("key"), v.findtext("name")) for v in state.findall("values/value")] == [
        ("dark", "不亮"),
        ("flicker", "闪烁"),
    ]


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_an_unknown_service_code_is_a_404_in_the_requested_format(client, services, suffix):
    response = client.get(f"{BASE}/services/NOPE.{suffix}")

    assert response.status_code == 404
    assert errors_of(response) == [{"code": 404, "description": "service_code “NOPE” was not found."}]


def test_errors_are_in_chinese_for_a_client_that_asks_for_no_language(services):
    from django.test import Client

    response = Client().get(f"{BASE}/services/NOPE.json")

    assert errors_of(response) == [{"code": 404, "description": "未找到 service_code“NOPE”。"}]


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_a_wrong_jurisdiction_is_a_404_naming_the_one_served(client, services, suffix):
    response = client.get(f"{BASE}/services.{suffix}", {"jurisdiction_id": "sfgov.org"})

    assert response.status_code == 404
    [error] = errors_of(response)
    assert error["code"] == 404
    assert "sfgov.org" in error["description"] and JURISDICTION in error["description"]


def test_an_empty_jurisdiction_counts_as_none_sent(client, services):
    assert client.get(f"{BASE}/services.json", {"jurisdiction_id": ""}).status_code == 200


def test_with_no_jurisdiction_configured_any_is_accepted(client, services, settings):
    settings.OPEN311_JURISDICTION_ID = ""

    assert client.get(f"{BASE}/services.json", {"jurisdiction_id": "anything.gov"}).status_code == 200


@pytest.mark.parametrize("path", ["nothing.json", "services/a.b.json", "services.csv", "requests/abc.json"])
def test_unknown_resources_get_the_standards_404(client, services, path):
    response = client.get(f"{BASE}/{path}")

    assert response.status_code == 404
    assert errors_of(response)[0]["code"] == 404


def test_a_method_the_resource_does_not_take_is_a_405_in_the_standards_shape(client, services, key):
    response = client.post(f"{BASE}/services.xml", {"api_key": key.secret})

    assert response.status_code == 405
    assert errors_of(response)[0]["code"] == 405


def test_open311_is_not_in_the_rest_apis_openapi_document(api, admin_user):
    schema = api.as_user(admin_user).get("/api/schema/", {"format": "json"}).json()

    assert not [path for path in schema["paths"] if "open311" in path]
