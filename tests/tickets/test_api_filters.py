"""The ticket list's filters: each narrows the list, they combine, and a meaningless value is a readable 400."""

import datetime
import zoneinfo

import pytest
import time_machine

from tests.factories import DistrictFactory, UserFactory
from tickets import actions
from tickets.models import Status

pytestmark = pytest.mark.django_db

TICKETS = "/api/tickets/"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture
def listed(api, operator):
    """listed(**params): the numbers the operator's ticket list answers, across all pages."""

    def get(user=operator, **params) -> set[str]:
        response = api.as_user(user).get(TICKETS, {"page_size": 500, **params})
        assert response.status_code == 200, response.content
        return {ticket["number"] for ticket in response.json()["results"]}

    return get


@pytest.fixture
def refused(api, operator):
    """refused(**params): the error body of a 400 answer."""

    def get(**params) -> dict:
        response = api.as_user(operator).get(TICKETS, params)
        assert response.status_code == 400, response.content
        body = response.json()["error"]
        assert body["code"] == "invalid"
        return body

    return get


def test_status_filter_takes_one_status_or_a_comma_list(make_ticket, listed):
    registered = make_ticket(Status.REGISTERED)
    dispatched = make_ticket(Status.DISPATCHED)
    accepted = make_ticket(Status.ACCEPTED)
    make_ticket(Status.CLOSED)

    assert listed(status="dispatched") == {dispatched.number}
    assert listed(status="dispatched,accepted") == {dispatched.number, accepted.number}
    assert listed(status="registered") == {registered.number}
    assert len(listed()) == 4


def test_kind_filter(make_ticket, listed):
    complaint = make_ticket(Status.REGISTERED, kind="complaint")
    report = make_ticket(Status.REGISTERED, kind="report")
    make_ticket(Status.REGISTERED, kind="consultation")

    assert listed(kind="report") == {report.number}
    assert listed(kind="complaint,report") == {complaint.number, report.number}


def test_department_filter_is_the_lead_department(operator, water, housing, make_ticket, listed):
    to_water = make_ticket(Status.DISPATCHED)
    to_housing = make_ticket(Status.REGISTERED)
    actions.ticket_dispatch(to_housing, actor=operator, department=housing, assisting=[water])
    make_ticket(Status.REGISTERED)

    assert listed(department=water.pk) == {to_water.number}
    assert listed(department=housing.pk) == {to_housing.number}


def test_district_filter(make_ticket, listed, district):
    elsewhere = DistrictFactory(code="441303", name="惠阳区")
    here = make_ticket(Status.REGISTERED)
    there = make_ticket(Status.REGISTERED, district=elsewhere)

    assert listed(district=district.pk) == {here.number}
    assert listed(district=elsewhere.pk) == {there.number}


def test_category_filter_takes_the_whole_subtree(make_ticket, listed, category_tree):
    water_cut = make_ticket(Status.REGISTERED, category=category_tree["water_cut"])
    power_cut = make_ticket(Status.REGISTERED, category=category_tree["power_cut"])
    on_the_root = make_ticket(Status.REGISTERED, category=category_tree["utilities"])
    lights = make_ticket(Status.REGISTERED, category=category_tree["street_lights"])
    make_ticket(Status.REGISTERED)

    assert listed(category=category_tree["utilities"].pk) == {water_cut.number, power_cut.number, on_the_root.number}
    assert listed(category=category_tree["water_cut"].pk) == {water_cut.number}
    assert listed(category=category_tree["urban"].pk) == {lights.number}


def test_overdue_filter_follows_the_clock(make_ticket, listed):
    dispatched = make_ticket(Status.DISPATCHED)
    accepted = make_ticket(Status.ACCEPTED)
    replied = make_ticket(Status.REPLIED)
    registered = make_ticket(Status.REGISTERED)
    everything = {dispatched.number, accepted.number, replied.number, registered.number}

    assert listed(overdue="true") == set()
    assert listed(overdue="false") == everything

    late = max(dispatched.deadline, accepted.deadline) + datetime.timedelta(hours=1)
    with time_machine.travel(late, tick=False):
        assert listed(overdue="true") == {dispatched.number, accepted.number}
        # A replied ticket left the department in time; a registered one has no deadline yet.
        assert listed(overdue="false") == {replied.number, registered.number}
        assert listed(overdue="1") == listed(overdue="true")
        assert listed(overdue="0") == listed(overdue="false")


def test_overdue_ticket_says_so_in_the_list(api, operator, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)

    with time_machine.travel(ticket.deadline + datetime.timedelta(minutes=5), tick=False):
        row = api.as_user(operator).get(TICKETS, {"overdue": "true"}).json()["results"][0]

    assert row["overdue"] is True
    assert row["seconds_left"] == -300


def test_created_date_range(make_ticket, listed):
    tickets = {}
    for day in (1, 2, 3):
        with time_machine.travel(datetime.datetime(2025, 3, day, 23, 30, tzinfo=SHANGHAI), tick=False):
            tickets[day] = make_ticket(Status.REGISTERED).number

    assert listed(created_after="2025-03-02") == {tickets[2], tickets[3]}
    assert listed(created_before="2025-03-02") == {tickets[1]}
    assert listed(created_after="2025-03-02", created_before="2025-03-03") == {tickets[2]}
    # Full timestamps with an offset, in another zone: 2025-03-02 15:30 UTC is 23:30 in Shanghai.
    assert listed(created_after="2025-03-02T15:30:00Z", created_before="2025-03-02T15:30:01Z") == {tickets[2]}
    assert listed(created_after="2025-03-02T23:30:00+08:00") == {tickets[2], tickets[3]}


def test_text_search_matches_number_prefix_title_description_and_address(make_ticket, listed):
    with time_machine.travel(datetime.datetime(2025, 3, 1, 10, tzinfo=SHANGHAI), tick=False):
        by_title = make_ticket(Status.REGISTERED, title="路灯不亮", description="晚上很黑")
    by_description = make_ticket(Status.REGISTERED, title="噪音", description="工地夜间施工 Noise")
    by_address = make_ticket(Status.REGISTERED, title="占道", description="摆摊", address="江北街道水口路8号")

    assert listed(q="路灯") == {by_title.number}
    assert listed(q="夜间") == {by_description.number}
    assert listed(q="noise") == {by_description.number}
    assert listed(q="水口路") == {by_address.number}
    assert listed(q=by_title.number) == {by_title.number}
    assert listed(q="20250301") == {by_title.number}
    # A number is matched from its start only: the day's sequence alone finds nothing by number.
    assert listed(q=by_title.number[-5:]) == set()
    assert len(listed(q="  ")) == 3


def test_filters_combine(operator, water, housing, make_ticket, listed, category_tree):
    wanted = make_ticket(Status.DISPATCHED, kind="complaint", category=category_tree["water_cut"], title="停水")
    make_ticket(Status.DISPATCHED, kind="report", category=category_tree["water_cut"], title="停水")
    make_ticket(Status.ACCEPTED, kind="complaint", category=category_tree["water_cut"], title="停水")
    make_ticket(Status.DISPATCHED, kind="complaint", category=category_tree["street_lights"], title="停水")

    found = listed(
        status="dispatched",
        kind="complaint",
        department=water.pk,
        category=category_tree["utilities"].pk,
        q="停水",
    )

    assert found == {wanted.number}


def test_filters_keep_department_staff_inside_their_department(water_staff, housing, make_ticket, listed):
    mine = make_ticket(Status.DISPATCHED)
    housing_user = UserFactory(role="department", department=housing)
    theirs = make_ticket(Status.DISPATCHED, department_user=housing_user)

    assert mine.number in listed(water_staff, status="dispatched")
    assert listed(water_staff, department=housing.pk) == set()
    assert theirs.number not in listed(water_staff, q=theirs.number)
    assert listed(water_staff, status="registered,draft") == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "dispatched,bogus"}, "status"),
        ({"kind": "rumour"}, "kind"),
        ({"channel": "fax"}, "channel"),
        ({"urgency": "very"}, "urgency"),
        ({"department": "water"}, "department"),
        ({"department": "99999"}, "department"),
        ({"district": "abc"}, "district"),
        ({"category": "99999"}, "category"),
        ({"overdue": "maybe"}, "overdue"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2025-13-45"}, "created_before"),
    ],
)
def test_meaningless_filter_value_is_a_readable_400(refused, params, field):
    body = refused(**params)

    assert list(body["fields"]) == [field]
    assert body["fields"][field][0]
    assert body["message"].startswith(f"{field}: ")


def test_filter_error_follows_accept_language(api, operator):
    english = api.as_user(operator).get(TICKETS, {"status": "bogus"}, HTTP_ACCEPT_LANGUAGE="en")
    chinese = api.as_user(operator).get(TICKETS, {"status": "bogus"})

    assert "Select a valid choice" in english.json()["error"]["message"]
    assert "Select a valid choice" not in chinese.json()["error"]["message"]


def test_unknown_parameters_are_ignored(make_ticket, listed):
    ticket = make_ticket(Status.REGISTERED)

    assert listed(colour="blue") == {ticket.number}
