"""A real GeoReport v2 client from PyPI (georeport 0.3.1) against the live server, in XML and JSON.

georeport reads services, service definitions, request lists and single requests; it has no
method to post a request or read a token, so those two go through `requests`, the HTTP library
georeport itself uses, as any client of the standard would send them.
"""

import pytest
import requests
import xmltodict
from georeport import GeoReport
from requests.utils import default_headers

from callcentre.celery import app as celery_app
from tickets.models import Channel, Ticket

from .helpers import JURISDICTION, light_request

pytestmark = pytest.mark.django_db(transaction=True)
FORMATS = ["json", "xml"]


@pytest.fixture
def eager_celery():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def endpoint(live_server, monkeypatch) -> str:
    # One connection per request: a kept-alive socket would hold a server thread, with the test
    # database connection it shares, open until the session's live server stops. English: the
    # assertions compare the standard's English texts (a client asking for no language gets Chinese).
    headers = {"Connection": "close", "Accept-Language": "en"}
    monkeypatch.setattr(requests.sessions, "default_headers", lambda: {**default_headers(), **headers})
    return f"{live_server.url}/open311/v2"


def georeport(endpoint: str, output_format: str, key=None, jurisdiction: str = JURISDICTION) -> GeoReport:
    return GeoReport(
        endpoint, jurisdiction=jurisdiction, api_key=key.secret if key else None, output_format=output_format
    )


def post(endpoint: str, output_format: str, data: dict) -> requests.Response:
    """POST requests.{format} url-encoded, as the standard's example request."""
    return requests.post(f"{endpoint}/requests.{output_format}", data=data, timeout=10)


def created_id(response: requests.Response, output_format: str, field: str = "service_request_id") -> str:
    if output_format == "json":
        return response.json()[0][field]
    return xmltodict.parse(response.content)["service_requests"]["request"][field]


@pytest.mark.parametrize("output_format", FORMATS)
def test_the_client_lists_services_and_reads_a_definition(endpoint, services, output_format):
    client = georeport(endpoint, output_format)

    listed = client.get_service_list()
    definition = client.get_service_definition("LIGHT-01")

    assert [service["service_code"] for service in listed] == ["water_cut", "LIGHT-01"]
    assert [service["group"] for service in listed] == ["水电气", "城市管理"]
    assert str(listed[1]["metadata"]).lower() == "true"
    assert definition["service_code"] == "LIGHT-01"
    attributes = definition["attributes"] if output_format == "json" else definition["attributes"]["attribute"]
    assert [attribute["code"] for attribute in attributes] == [
        "pole",
        "state",
        "when",
        "count",
        "since",
        "more",
        "info",
    ]
    values = attributes[1]["values"] if output_format == "json" else attributes[1]["values"]["value"]
    assert [value["key"] for value in values] == ["dark", "flicker"]


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_posted_request_is_read_back_by_the_client_one_and_in_the_list(endpoint, services, key, output_format):
    response = post(endpoint, output_format, light_request(key))
    assert response.status_code == 201
    number = created_id(response, output_format)
    client = georeport(endpoint, output_format)

    one = client.get_service_request(number)
    window = {"service_code": "LIGHT-01", "start_date": "2020-01-01T00:00:00Z", "end_date": "2020-03-01T00:00:00Z"}
    if output_format == "json":
        listed = client.get_service_requests(**window)
    else:  # georeport cannot read an empty XML list (it indexes the None that <service_requests/> parses to)
        listed = requests.get(f"{endpoint}/requests.xml", params=window, timeout=10).text.splitlines()[1:]
    recent = client.get_service_requests(service_code="LIGHT-01", status="open")
    by_id = client.get_service_requests(service_request_id=number)

    ticket = Ticket.objects.get(number=number)
    assert ticket.channel == Channel.OPEN311
    assert (one["service_request_id"], one["status"], one["service_code"]) == (number, "open", "LIGHT-01")
    assert one["requested_datetime"].endswith("+08:00")
    assert listed in ([], ["<service_requests />"])
    recent = recent if isinstance(recent, list) else [recent]  # one <request> reads as a dict in XML
    by_id = by_id if isinstance(by_id, list) else [by_id]
    assert [row["service_request_id"] for row in recent] == [number]
    assert [row["service_request_id"] for row in by_id] == [number]
    for private in ("first_name", "last_name", "email", "phone", "device_id", "account_id"):
        assert private not in one


@pytest.mark.parametrize("output_format", FORMATS)
def test_a_batch_request_answers_a_token_that_leads_to_the_ticket(
    endpoint, batch_service, key, eager_celery, output_format
):
    body = {
        "api_key": key.secret,
        "jurisdiction_id": JURISDICTION,
        "service_code": "power",
        "lat": "23.1",
        "long": "114.4",
    }

    response = post(endpoint, output_format, body)

    assert response.status_code == 202
    token = created_id(response, output_format, "token")
    answer = requests.get(
        f"{endpoint}/tokens/{token}.{output_format}", params={"jurisdiction_id": JURISDICTION}, timeout=10
    )
    number = created_id(answer, output_format)
    assert number == Ticket.objects.get().number
    assert georeport(endpoint, output_format).get_service_request(number)["service_code"] == "power"


@pytest.mark.parametrize("output_format", FORMATS)
def test_errors_reach_the_client_with_the_standards_status_and_body(endpoint, services, key, output_format):
    def error_of(response: requests.Response) -> tuple[int, str]:
        if output_format == "json":
            first = response.json()[0]
            return first["code"], first["description"]
        first = xmltodict.parse(response.content)["errors"]["error"]
        return int(first["code"]), first["description"]

    with pytest.raises(requests.HTTPError) as unknown_service:
        georeport(endpoint, output_format).get_service_definition("NOPE")
    with pytest.raises(requests.HTTPError) as wrong_jurisdiction:
        georeport(endpoint, output_format, jurisdiction="sfgov.org").get_service_list()
    with pytest.raises(requests.HTTPError) as unknown_request:
        georeport(endpoint, output_format).get_service_request("2026010100001")
    with pytest.raises(requests.HTTPError) as bad_date:
        georeport(endpoint, output_format).get_service_requests(start_date="2026-01-01")
    no_key = post(endpoint, output_format, light_request(key, api_key=None))
    bad_value = post(endpoint, output_format, light_request(key, **{"attribute[state]": "broken"}))

    assert error_of(unknown_service.value.response) == (404, "service_code “NOPE” was not found.")
    assert error_of(wrong_jurisdiction.value.response)[0] == 404
    assert error_of(unknown_request.value.response)[0] == 404
    assert error_of(bad_date.value.response)[0] == 400
    assert (no_key.status_code, error_of(no_key)[0]) == (403, 403)
    assert (bad_value.status_code, error_of(bad_value)) == (
        400,
        (400, "attribute[state]: “broken” is not one of dark, flicker."),
    )
