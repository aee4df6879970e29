"""POST requests: a citizen's report becomes a routed ticket (or a token), and every refusal the standard knows."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from callcentre.celery import app as celery_app
from dashboards.models import OutboxEvent
from routing.actions import rule_save
from routing.rules import RuleSpec
from tickets.models import Action, Channel, Status, Ticket
from tickets.open311.actions import api_key_revoke
from tickets.open311.models import RequestLog, Service, ServiceRequest

from .helpers import BASE, errors_of, light_request, post_form, xml

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def eager_celery():
    """Batch tasks run inline after commit, also when REDIS_URL makes Celery send them to a broker."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def nothing_written() -> bool:
    return not ServiceRequest.objects.exists() and not Ticket.objects.exists()


# --- the ticket a request becomes -----------------------------------------------------------------


def test_a_realtime_request_becomes_a_registered_open311_ticket(client, services, key):
    response = post_form(client, f"{BASE}/requests.json", light_request(key))

    assert response.status_code == 201
    [row] = response.json()
    ticket = Ticket.objects.get()
    assert row == {
        "service_request_id": ticket.number,
        "service_notice": "城管部门将在三个工作日内修复。",
        "account_id": "acct-9",
    }
    assert (ticket.channel, ticket.status, ticket.kind) == (Channel.OPEN311, Status.REGISTERED, "help")
    assert ticket.category == services["lights"].category
    assert ticket.title == "路灯不亮，晚上很黑"
    assert ticket.address == "惠城区江北文明一路 12 号对面"
    assert ticket.caller_number == "+8613800138000"
    assert ticket.created_by is None  # the system, as for the bridge's tickets
    assert list(ticket.timeline.values_list("action", flat=True)) == [Action.CREATE, Action.REGISTER]
    # What the department needs is in the description, in the hotline's language; contact details are not.
    for line in ("路灯不亮，晚上很黑", "城市通 App", "23.1115, 114.4162", "灯杆编号（灯杆上的白色标牌）: HC-0231"):
        assert line in ticket.description
    assert "灯的状态: 不亮" in ticket.description and "什么时候: 夜间" in ticket.description
    assert "https://img.example.com/1.jpg" in ticket.description
    for private in ("zhangsan@example.com", "张三", "acct-9", "device-1"):
        assert private not in ticket.description
    stored = ServiceRequest.objects.get()
    assert stored.ticket == ticket and ticket.external_ref == f"open311-{stored.token}"
    assert stored.attributes == {"pole": "HC-0231", "state": "dark", "when": ["night"]}
    assert (stored.first_name, stored.last_name, stored.email, stored.phone) == (
        "三",
        "张",
        "zhangsan@example.com",
        "+8613800138000",
    )
    assert (stored.device_id, stored.account_id, stored.api_key) == ("device-1", "acct-9", key)


def test_the_ticket_belongs_to_the_citizen_who_uses_that_phone(client, services, key, citizen):
    post_form(client, f"{BASE}/requests.json", light_request(key, phone="138 0013 8000"))

    assert Ticket.objects.get().citizen == citizen


def test_routing_dispatches_an_open311_ticket_like_any_registered_ticket(client, services, key, water):
    rule_save(
        RuleSpec(name="Open311 路灯", channels=("open311",), lead_department=water.pk, auto_dispatch=True), actor=None
    )
    events = OutboxEvent.objects.count()

    with time_machine.travel(datetime.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI), tick=False):
        response = post_form(client, f"{BASE}/requests.json", light_request(key))

    ticket = Ticket.objects.get()
    assert (ticket.status, ticket.lead_department) == (Status.DISPATCHED, water)
    types = list(OutboxEvent.objects.order_by("id").values_list("type", flat=True)[events:])
    assert types == ["ticket.create", "ticket.register", "ticket.dispatch"]
    shown = client.get(f"{BASE}/requests/{response.json()[0]['service_request_id']}.json").json()[0]
    assert shown["agency_responsible"] == "Water Affairs Bureau"  # the department's English name
    assert shown["expected_datetime"] == ticket.deadline.astimezone(SHANGHAI).isoformat()
    assert shown["requested_datetime"] == "2026-11-24T10:00:00+08:00"


def test_the_answer_in_xml_follows_the_standards_example(client, services, key):
    response = post_form(client, f"{BASE}/requests.xml", light_request(key, account_id=""))

    root = xml(response)
    assert root.tag == "service_requests"
    [request] = root
    assert request.tag == "request"
    assert [child.tag for child in request] == ["service_request_id", "service_notice", "account_id"]
    assert request.findtext("service_request_id") == Ticket.objects.get().number
    assert request.findtext("account_id") == ""


def test_multivaluelist_answers_and_every_datatype_are_kept(client, services, key):
    body = light_request(
        key,
        **{
            "attribute[when][]": ["night", "day", "night"],
            "attribute[count]": "3",
            "attribute[since]": "2026-11-20T19:00:00+08:00",
            "attribute[more]": "第一行\n第二行",
        },
    )

    assert post_form(client, f"{BASE}/requests.json", body).status_code == 201

    assert ServiceRequest.objects.get().attributes == {
        "pole": "HC-0231",
        "state": "dark",
        "when": ["night", "day"],
        "count": "3",
        "since": "2026-11-20T19:00:00+08:00",
        "more": "第一行\n第二行",
    }
    assert "什么时候: 夜间, 白天" in Ticket.objects.get().description


def test_a_location_may_be_an_address_or_an_address_id_alone(client, services, key):
    by_address = light_request(key, lat=None, long=None)
    by_id = light_request(key, lat=None, long=None, address_string=None, address_id="545483")

    assert post_form(client, f"{BASE}/requests.json", by_address).status_code == 201
    assert post_form(client, f"{BASE}/requests.json", by_id).status_code == 201

    assert sorted(Ticket.objects.values_list("address", flat=True)) == [
        "地址 ID 545483",  # the ticket's text is in the hotline's language, whatever the client asked for
        "惠城区江北文明一路 12 号对面",
    ]


def test_the_api_key_may_also_come_in_the_query_string(client, services, key):
    body = light_request(key, api_key=None)

    response = post_form(client, f"{BASE}/requests.json?api_key={key.secret}", body)

    assert response.status_code == 201


def test_a_service_without_attributes_needs_no_attribute(client, services, key):
    body = {"api_key": key.secret, "service_code": "water_cut", "address_string": "江北", "description": "没水"}

    assert post_form(client, f"{BASE}/requests.json", body).status_code == 201
    assert Ticket.objects.get().kind == "complaint"  # the service's kind


def test_every_request_is_logged_with_its_key(client, services, key):
    post_form(client, f"{BASE}/requests.json", light_request(key))

    entry = RequestLog.objects.get()
    assert (entry.api_key, entry.method, entry.endpoint, entry.status, entry.format) == (
        key,
        "POST",
        "create_request",
        201,
        "json",
    )
    assert entry.service_request_id == Ticket.objects.get().number
    assert entry.client_ip == "127.0.0.1"
    key.refresh_from_db()
    assert key.last_used_at is not None


# --- batch services and tokens --------------------------------------------------------------------


def test_a_batch_request_answers_a_token_and_the_ticket_follows(
    client, batch_service, key, eager_celery, django_capture_on_commit_callbacks
):
    body = {"api_key": key.secret, "service_code": "power", "address_string": "江北", "description": "停电了"}

    with django_capture_on_commit_callbacks(execute=True):
        response = post_form(client, f"{BASE}/requests.json", body)

    assert response.status_code == 202
    [row] = response.json()
    assert set(row) == {"token", "service_notice", "account_id"}  # no id when a token is returned
    ticket = Ticket.objects.get()
    assert ticket.channel == Channel.OPEN311
    assert client.get(f"{BASE}/tokens/{row['token']}.json").json() == [
        {"service_request_id": ticket.number, "token": row["token"]}
    ]
    token = xml(client.get(f"{BASE}/tokens/{row['token']}.xml"))
    assert token.tag == "service_requests"
    assert (token[0].tag, token[0].findtext("service_request_id"), token[0].findtext("token")) == (
        "request",
        ticket.number,
        row["token"],
    )


def test_a_token_whose_ticket_is_not_created_yet_has_an_empty_id(client, batch_service, key):
    body = {"api_key": key.secret, "service_code": "power", "address_string": "江北", "description": "停电了"}

    token = post_form(client, f"{BASE}/requests.xml", body)  # the task waits for a commit that never comes here

    value = xml(token)[0].findtext("token")
    assert not Ticket.objects.exists()
    assert client.get(f"{BASE}/tokens/{value}.json").json() == [{"service_request_id": None, "token": value}]
    assert xml(client.get(f"{BASE}/tokens/{value}.xml"))[0].findtext("service_request_id") == ""


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_an_unknown_token_is_a_404(client, services, suffix):
    response = client.get(f"{BASE}/tokens/nope.{suffix}")

    assert response.status_code == 404
    assert errors_of(response) == [{"code": 404, "description": "token “nope” was not found."}]


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_a_request_without_an_api_key_is_refused_with_403(client, services, key, suffix):
    response = post_form(client, f"{BASE}/requests.{suffix}", light_request(key, api_key=None))

    assert response.status_code == 403
    assert errors_of(response) == [{"code": 403, "description": "An api_key is required to post a service request."}]
    assert nothing_written()


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_an_unknown_api_key_is_refused_with_403(client, services, key, suffix):
    response = post_form(client, f"{BASE}/requests.{suffix}", light_request(key, api_key="o311_guessed"))

    assert response.status_code == 403
    assert errors_of(response) == [{"code": 403, "description": "Invalid api_key received."}]
    assert nothing_written()


def test_a_revoked_api_key_is_refused_with_403_and_the_refusal_is_logged_with_it(client, services, key):
    api_key_revoke(key, actor=None)

    response = post_form(client, f"{BASE}/requests.json", light_request(key))

    assert response.status_code == 403
    assert errors_of(response)[0]["description"] == "This api_key has been revoked."
    assert nothing_written()
    assert RequestLog.objects.get().api_key == key


def test_an_unknown_api_key_is_refused_on_reads_too(client, services):
    response = client.get(f"{BASE}/services.json", {"api_key": "o311_guessed"})

    assert response.status_code == 403


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_a_missing_service_code_is_a_400(client, services, key, suffix):
    response = post_form(client, f"{BASE}/requests.{suffix}", light_request(key, service_code=None))

    assert response.status_code == 400
    assert errors_of(response) == [{"code": 400, "description": "service_code is required."}]
    assert nothing_written()


def test_an_unknown_or_withdrawn_service_code_is_a_404(client, services, key):
    unknown = post_form(client, f"{BASE}/requests.json", light_request(key, service_code="NOPE"))
    Service.objects.filter(code="LIGHT-01").update(is_active=False)
    withdrawn = post_form(client, f"{BASE}/requests.json", light_request(key))

    assert (unknown.status_code, withdrawn.status_code) == (404, 404)
    assert errors_of(withdrawn) == [{"code": 404, "description": "service_code “LIGHT-01” was not found."}]
    assert nothing_written()


def test_a_wrong_jurisdiction_on_a_post_is_a_404(client, services, key):
    response = post_form(client, f"{BASE}/requests.json", light_request(key, jurisdiction_id="sfgov.org"))

    assert response.status_code == 404
    assert nothing_written()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"lat": None, "long": None, "address_string": None},
            "A location is required: lat and long, address_string or address_id.",
        ),
        ({"long": None}, "lat and long must be sent together."),
        ({"lat": "91"}, "lat must be a WGS84 coordinate in decimal degrees between -90 and 90."),
        ({"long": "east"}, "long must be a WGS84 coordinate in decimal degrees between -180 and 180."),
        ({"attribute[pole]": None}, "attribute[pole] is required: 灯杆编号（灯杆上的白色标牌）"),
        ({"attribute[state]": "broken"}, "attribute[state]: “broken” is not one of dark, flicker."),
        ({"attribute[state]": ["dark", "flicker"]}, "attribute[state]: takes one value, not 2."),
        ({"attribute[when][]": ["night", "noon"]}, "attribute[when]: “noon” is not one of night, day."),
        ({"attribute[count]": "three"}, "attribute[count]: “three” is not a number."),
        (
            {"attribute[since]": "2026-11-20"},
            "attribute[since]: “2026-11-20” is not a W3C date and time with its zone.",
        ),
        ({"attribute[pole]": "HC\n0231"}, "attribute[pole]: must be one line."),
        ({"attribute[colour]": "red"}, "attribute[colour] is not an attribute of service LIGHT-01."),
        ({"attribute[info]": "yes"}, "attribute[info] is information only and takes no value."),
        ({"email": "not-an-address"}, "email is not an e-mail address: “not-an-address”."),
        ({"phone": "12"}, "phone is not a valid phone number: “12”."),
        (
            {"media_url": "ftp://example.com/a.jpg"},
            "media_url must be an http or https URL of at most 1000 characters.",
        ),
        ({"description": "长" * 4001}, "description may be at most 4000 characters long."),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(client, services, key, changes, message):
    response = post_form(client, f"{BASE}/requests.json", light_request(key, **changes))

    assert response.status_code == 400
    assert errors_of(response) == [{"code": 400, "description": message}]
    assert nothing_written()


def test_every_problem_is_listed_at_once_in_xml_too(client, services, key):
    body = light_request(key, lat="north", email="x", **{"attribute[state]": None, "attribute[count]": "many"})

    response = post_form(client, f"{BASE}/requests.xml", body)

    assert response.status_code == 400
    errors = errors_of(response)
    assert [error["code"] for error in errors] == [400, 400, 400, 400]
    assert [error["description"].split(" ")[0] for error in errors] == [
        "lat",
        "email",
        "attribute[state]",
        "attribute[count]:",
    ]


def test_a_realtime_ticket_that_cannot_be_created_leaves_nothing_behind(client, services, key, monkeypatch):
    from django.core.exceptions import ValidationError

    def refuse(**fields):
        raise ValidationError({"description": "no"})

    monkeypatch.setattr("tickets.open311.actions.ticket_create", refuse)

    response = post_form(client, f"{BASE}/requests.json", light_request(key))

    assert response.status_code == 400
    assert not ServiceRequest.objects.exists()
