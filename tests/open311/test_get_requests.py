"""GET requests and GET requests/{id}: filters, the 90-day window, status mapping, and no personal data."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.factories import advance
from tickets import actions
from tickets.models import Kind, Status, Ticket
from tickets.open311.models import Service

from .helpers import BASE, JURISDICTION, errors_of, light_request, post_form, xml

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]


@pytest.fixture
def submit(client, services, key):
    """submit(at=…, **changes): post a street-light request at that moment; returns its ticket."""

    def post(at: datetime.datetime = NOW, **changes) -> Ticket:
        with time_machine.travel(at, tick=False):
            response = post_form(client, f"{BASE}/requests.json", light_request(key, **changes))
        assert response.status_code == 201, response.content
        return Ticket.objects.get(number=response.json()[0]["service_request_id"])

    return post


def listed(client, **params) -> list[str]:
    with time_machine.travel(NOW, tick=False):
        response = client.get(f"{BASE}/requests.json", params)
    assert response.status_code == 200, response.content
    return [row["service_request_id"] for row in response.json()]


def test_a_request_shows_its_public_fields_in_the_standards_order(client, submit):
    ticket = submit()

    with time_machine.travel(NOW, tick=False):
        [row] = client.get(f"{BASE}/requests/{ticket.number}.json", {"jurisdiction_id": JURISDICTION}).json()

    assert list(row) == REQUEST_FIELDS
    assert row == {
        "service_request_id": ticket.number,
        "status": "open",
        "status_notes": "Registered",  # in the request's language (the client asks for English)
        "service_name": "路灯",
        "service_code": "LIGHT-01",
        "description": "路灯不亮，晚上很黑",
        "agency_responsible": None,
        "service_notice": "城管部门将在三个工作日内修复。",
        "requested_datetime": "2026-11-24T10:00:00+08:00",
        "updated_datetime": "2026-11-24T10:00:00+08:00",
        "expected_datetime": None,
        "address": "惠城区江北文明一路 12 号对面",
        "address_id": None,
        "zipcode": None,
        "lat": 23.1115,
        "long": 114.4162,
        "media_url": "https://img.example.com/1.jpg",
    }


def test_a_request_in_xml_follows_the_standards_example(client, submit):
    ticket = submit()

    root = xml(client.get(f"{BASE}/requests/{ticket.number}.xml"))

    assert root.tag == "service_requests"
    [request] = root
    assert request.tag == "request"
    assert [child.tag for child in request] == REQUEST_FIELDS
    assert request.findtext("requested_datetime") == "2026-11-24T10:00:00+08:00"
    assert request.findtext("lat") == "23.1115"
    assert request.findtext("expected_datetime") == ""


def test_the_list_in_xml_has_one_request_element_per_request(client, submit):
    first, second = submit(), submit(at=NOW - datetime.timedelta(hours=1))

    with time_machine.travel(NOW, tick=False):
        root = xml(client.get(f"{BASE}/requests.xml"))

    assert [r.findtext("service_request_id") for r in root.findall("request")] == [first.number, second.number]


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_an_unknown_request_id_is_a_404(client, submit, suffix):
    submit()

    response = client.get(f"{BASE}/requests/2026010100001.{suffix}")

    assert response.status_code == 404
    assert errors_of(response) == [{"code": 404, "description": "service_request_id “2026010100001” was not found."}]


def test_tickets_that_did_not_come_through_open311_are_not_published(client, submit, make_ticket, category_tree):
    submit()
    by_phone = make_ticket(category=category_tree["street_lights"], description="我家门口路灯坏了，电话 13800138000")

    assert by_phone.number not in listed(client)
    assert client.get(f"{BASE}/requests/{by_phone.number}.json").status_code == 404


# --- the window, the filters and the limit ---------------------------------------------------------


def test_by_default_the_last_90_days_are_listed_newest_first(client, submit):
    recent = submit(at=NOW - datetime.timedelta(days=1))
    newest = submit(at=NOW - datetime.timedelta(minutes=5))
    submit(at=NOW - datetime.timedelta(days=91))

    assert listed(client) == [newest.number, recent.number]


def test_a_start_date_alone_opens_a_90_day_window_after_it(client, submit):
    inside = submit(at=NOW - datetime.timedelta(days=100))
    submit(at=NOW - datetime.timedelta(days=120))
    start = (NOW - datetime.timedelta(days=110)).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert listed(client, start_date=start) == [inside.number]


def test_an_end_date_alone_closes_a_90_day_window_before_it(client, submit):
    inside = submit(at=NOW - datetime.timedelta(days=100))
    submit(at=NOW - datetime.timedelta(days=2))

    assert listed(client, end_date="2026-08-24T10:00:00+08:00") == [inside.number]


def test_start_and_end_dates_bound_the_requested_time(client, submit):
    submit(at=datetime.datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI))
    inside = submit(at=datetime.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))

    found = listed(client, start_date="2026-11-02T00:00:00+08:00", end_date="2026-11-02T23:59:59.5+08:00")

    assert found == [inside.number]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start_date": "2026-11-01"},
            "start_date must be a W3C date and time with its zone, e.g. 2010-01-01T00:00:00Z; got “2026-11-01”.",
        ),
        (
            {"end_date": "2026-11-01T00:00:00"},
            "end_date must be a W3C date and time with its zone, e.g. 2010-01-01T00:00:00Z; got “2026-11-01T00:00:00”.",
        ),
        ({"start_date": "2026-02-30T00:00:00Z"}, "start_date is not a real date and time: “2026-02-30T00:00:00Z”."),
        ({"start_date": "yesterday"}, None),
        (
            {"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-10-01T00:00:00Z"},
            "start_date must not be after end_date.",
        ),
        (
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"},
            "start_date and end_date may not span more than 90 days.",
        ),
        ({"status": "pending"}, "status must be open or closed, not “pending”."),
        ({"service_code": "LIGHT-01,NOPE"}, "service_code “NOPE” was not found."),
        ({"service_request_id": "2026112400001,abc"}, "service_request_id “abc” is not a request number."),
    ],
)
@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_bad_filters_are_a_400_in_the_requested_format(client, services, params, message, suffix):
    response = client.get(f"{BASE}/requests.{suffix}", params)

    assert response.status_code == 400
    [error] = errors_of(response)
    assert error["code"] == 400
    if message:
        assert error["description"] == message


def test_a_plus_sent_unencoded_gets_a_hint(client, services):
    # "+08:00" in a query string that was not URL-encoded arrives as " 08:00".
    response = client.get(f"{BASE}/requests.json?start_date=2026-11-01T00:00:00+08:00")

    assert response.status_code == 400
    assert "%2B" in errors_of(response)[0]["description"]


def test_status_filters_open_and_closed(client, submit, operator, supervisor, water_staff):
    still_open = submit()
    closed = advance(submit(), Status.CLOSED, hotline=operator, department_user=water_staff, supervisor=supervisor)

    assert listed(client, status="open") == [still_open.number]
    assert listed(client, status="closed") == [closed.number]
    assert sorted(listed(client, status="open,closed")) == sorted([still_open.number, closed.number])


def test_service_code_filters_one_or_several_services(client, submit, key):
    light = submit()
    with time_machine.travel(NOW, tick=False):
        water = {"api_key": key.secret, "service_code": "water_cut", "address_string": "江北", "description": "没水"}
        post_form(client, f"{BASE}/requests.json", water)
    water_ticket = Ticket.objects.exclude(pk=light.pk).get()

    assert listed(client, service_code="LIGHT-01") == [light.number]
    assert sorted(listed(client, service_code="LIGHT-01,water_cut")) == sorted([light.number, water_ticket.number])


def test_service_request_ids_override_every_other_filter(client, submit):
    old = submit(at=NOW - datetime.timedelta(days=200))
    new = submit()

    found = listed(client, service_request_id=f"{old.number},{new.number},2026010100009", status="closed")

    assert sorted(found) == sorted([old.number, new.number])


def test_the_list_costs_the_same_queries_for_one_request_or_many(client, submit, django_assert_max_num_queries):
    submit()
    with django_assert_max_num_queries(2):  # the requests with everything they show, and the log line
        assert len(listed(client)) == 1
    for minutes in range(1, 6):
        submit(at=NOW - datetime.timedelta(minutes=minutes))
    with django_assert_max_num_queries(2):
        assert len(listed(client)) == 6


def test_at_most_max_results_are_returned(client, submit, monkeypatch):
    monkeypatch.setattr("tickets.open311.selectors.MAX_RESULTS", 2)
    tickets = [submit(at=NOW - datetime.timedelta(minutes=minutes)) for minutes in (3, 2, 1)]

    assert listed(client) == [tickets[2].number, tickets[1].number]


# --- status mapping -------------------------------------------------------------------------------


def test_a_dispatched_request_is_open_with_the_department_and_its_deadline(client, submit, operator, water):
    ticket = actions.ticket_dispatch(submit(), actor=operator, department=water)

    [row] = client.get(f"{BASE}/requests/{ticket.number}.json", HTTP_ACCEPT_LANGUAGE="en").json()

    assert (row["status"], row["status_notes"], row["agency_responsible"]) == (
        "open",
        "Dispatched",
        "Water Affairs Bureau",
    )
    assert row["expected_datetime"] == ticket.deadline.astimezone(SHANGHAI).isoformat()
    assert row["expected_datetime"].endswith("+08:00")


def test_a_closed_request_shows_the_departments_reply_masked_and_when_it_closed(
    client, submit, operator, water, water_staff
):
    ticket = actions.ticket_dispatch(submit(), actor=operator, department=water)
    ticket = actions.ticket_accept(ticket, actor=water_staff)
    reply = "张三您好，路灯已修复。如有问题请拨打 13912345678 联系李工。"
    ticket = actions.ticket_reply(ticket, actor=water_staff, reply=reply)

    [replied] = client.get(f"{BASE}/requests/{ticket.number}.json").json()
    later = datetime.datetime.now(SHANGHAI) + datetime.timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        ticket = actions.ticket_close(ticket, actor=operator, satisfaction="satisfied")
    [closed] = client.get(f"{BASE}/requests/{ticket.number}.json").json()

    assert replied["status"] == "open"  # replied, the callback still to come
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "张*您好，路灯已修复。如有问题请拨打 139****5678 联系李工。"
    assert closed["updated_datetime"] == later.replace(microsecond=0).isoformat()


def test_merged_and_cancelled_requests_are_closed(client, submit, supervisor):
    main, duplicate, cancelled = submit(), submit(), submit()
    actions.ticket_merge(duplicate, actor=supervisor, into=main)
    actions.ticket_cancel(cancelled, actor=supervisor, reason="测试")

    rows = {row["service_request_id"]: row for row in client.get(f"{BASE}/requests.json").json()}

    assert rows[duplicate.number]["status"] == "closed"
    assert (
        rows[duplicate.number]["status_notes"]
        == f"Merged into request {main.number}, which deals with the same matter."
    )
    assert (rows[cancelled.number]["status"], rows[cancelled.number]["status_notes"]) == ("closed", "Cancelled")
    assert rows[main.number]["status"] == "open"


# --- personal data --------------------------------------------------------------------------------


def test_no_answer_carries_contact_details_or_the_citizens_record(client, submit, citizen):
    ticket = submit()
    assert ticket.citizen == citizen

    for path in (f"requests/{ticket.number}.json", "requests.json", f"requests/{ticket.number}.xml", "requests.xml"):
        with time_machine.travel(NOW, tick=False):
            body = client.get(f"{BASE}/{path}").content.decode()
        for private in (
            "13800138000",
            "138****8000",
            "zhangsan@example.com",
            "acct-9",
            "device-1",
            "张三",
            "11010519491231002X",
        ):
            assert private not in body, (path, private)
        assert "first_name" not in body and "email" not in body and "phone" not in body


def test_phone_and_id_numbers_names_and_emails_in_the_description_are_masked(client, submit, citizen):
    text = "我是张三，身份证 11010519491231002x，电话 138-0013-8000 或 0752-2345678，邮箱 zhangsan@qq.com"

    ticket = submit(description=text)
    [row] = client.get(f"{BASE}/requests/{ticket.number}.json").json()

    assert row["description"] == "我是张*，身份证 110105********002X，电话 138****8000 或 075****5678，邮箱 z***@qq.com"
    assert text in Ticket.objects.get(pk=ticket.pk).description  # the department still reads it whole


def test_the_content_of_a_report_is_not_published(client, submit):
    ticket = submit()
    Service.objects.update(kind=Kind.REPORT)
    Ticket.objects.filter(pk=ticket.pk).update(kind=Kind.REPORT)

    [row] = client.get(f"{BASE}/requests/{ticket.number}.json").json()

    assert row["description"] is None
    assert row["status"] == "open"
