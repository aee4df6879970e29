"""The supervisor wallboard's figures on a known data set, under a frozen clock, in a bounded number of queries."""

import datetime
import json
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from dashboards import wallboard
from dashboards.wallboard import WallboardThrottle, wallboard_affected_by, wallboard_cached, wallboard_snapshot
from routing.callbacks import callback_record
from routing.models import Report, ReportPeriod
from routing.reports import reports_build
from telephony.models import Call, DeviceState, Outcome, QueueCaller, QueueMember
from tests.conftest import VALID_ID
from tests.factories import DistrictFactory, UserFactory
from tickets import actions, clock
from tickets.models import Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 25 November 2026, 10:30 in Shanghai; the week began on Monday the 23rd (no holidays).
NOW = datetime.datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)
MONDAY, TUESDAY, WEDNESDAY = (datetime.date(2026, 11, d) for d in (23, 24, 25))
LAST_WEEK = datetime.date(2026, 11, 18)
# Queries of one snapshot: callers, members, calls, tickets by kind and channel, departments, rates,
# hot categories, hot districts; two more when a ticket reopened this week replied in an earlier window.
QUERIES = 8
QUERIES_WITH_EARLIER_WINDOWS = QUERIES + 2

pytestmark = pytest.mark.django_db


def at(day: datetime.date, hour: int, minute: int = 0, second: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute, second), tzinfo=SHANGHAI)


def ago(**delta: float) -> datetime.datetime:
    return NOW - datetime.timedelta(**delta)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat()


@pytest.fixture
def queue(db):
    """Four callers waiting (the longest 95 s) and five logged-in operators, most of them in two queues."""
    for uniqueid, queue, seconds in (("c.1", "hotline", 95), ("c.2", "hotline", 40), ("c.3", "english", 10)):
        QueueCaller.objects.create(queue=queue, uniqueid=uniqueid, joined_at=ago(seconds=seconds))
    # The same caller seen by two Asterisk servers is one caller.
    QueueCaller.objects.create(server="pbx1", queue="hotline", uniqueid="c.4", joined_at=ago(seconds=5))
    QueueCaller.objects.create(server="pbx2", queue="hotline", uniqueid="c.4", joined_at=ago(seconds=5))

    wang, li, zhao = (
        UserFactory(username=name, extension=ext)
        for name, ext in (("agent.wang", "8001"), ("agent.li", "8002"), ("agent.zhao", "8003"))
    )

    def member(queue: str, interface: str, operator=None, **state) -> None:
        QueueMember.objects.create(
            queue=queue,
            interface=interface,
            member_name=operator.username if operator else "",
            operator=operator,
            **state,
        )

    # Wang: on a call in one queue, idle in the other: on a call.
    member("hotline", "PJSIP/8001", wang, status=DeviceState.INUSE, in_call=True)
    member("english", "PJSIP/8001", wang, status=DeviceState.INUSE)
    # Li: paused in one queue, free in the other: available.
    member("hotline", "PJSIP/8002", li, status=DeviceState.NOT_INUSE, paused=True)
    member("english", "PJSIP/8002", li, status=DeviceState.NOT_INUSE)
    # Zhao: paused in both: paused.
    member("hotline", "PJSIP/8003", zhao, status=DeviceState.NOT_INUSE, paused=True, paused_reason="lunch")
    member("english", "PJSIP/8003", zhao, status=DeviceState.NOT_INUSE, paused=True, paused_reason="lunch")
    # Interfaces no user is mapped to, counted per interface: one ringing (two queues), one free, one logged out.
    member("hotline", "PJSIP/8004", status=DeviceState.RINGING)
    member("english", "PJSIP/8004", status=DeviceState.RINGING)
    member("hotline", "PJSIP/8006", status=DeviceState.UNKNOWN)
    member("hotline", "PJSIP/8005", status=DeviceState.UNAVAILABLE)


@pytest.fixture
def calls(db):
    """Ten calls today and one late last night, each with a known outcome, wait and talk time."""

    def call(uniqueid: str, started: datetime.datetime, outcome: str, wait=None, talk=None, queued=True) -> None:
        Call.objects.create(
            uniqueid=uniqueid,
            caller_number="+8613800138000",
            started_at=started,
            queue="hotline" if queued else "",
            queue_joined_at=started + datetime.timedelta(seconds=30) if queued else None,
            outcome=outcome,
            wait_seconds=wait,
            talk_seconds=talk,
        )

    call("1", ago(hours=3), Outcome.ANSWERED, wait=10, talk=100)
    call("2", ago(hours=2), Outcome.ANSWERED, wait=20, talk=200)  # exactly the threshold: within
    call("3", ago(hours=2), Outcome.ANSWERED, wait=45, talk=300)
    call("4", ago(minutes=5), Outcome.ANSWERED, wait=5)  # still talking
    call("5", ago(hours=1), Outcome.ABANDONED_QUEUE, wait=8)  # a short abandon: in neither part
    call("6", ago(hours=1), Outcome.ABANDONED_QUEUE, wait=60)
    call("7", ago(hours=1), Outcome.ABANDONED_IVR, queued=False)
    call("8", ago(hours=1), Outcome.SELF_SERVICE, queued=False)
    call("9", ago(minutes=1), Outcome.IN_PROGRESS)
    call("10", at(WEDNESDAY, 0, 0), Outcome.ANSWERED, talk=50, queued=False)  # straight to an extension
    call("yesterday", at(TUESDAY, 23, 59, 59), Outcome.ANSWERED, wait=100, talk=100)


@pytest.fixture
def city(operator, supervisor, water, housing, water_staff, housing_staff, district, category_tree, citizen):
    """Tickets across kinds, channels, departments and days, every step at a known moment (see each comment)."""
    huiyang = DistrictFactory(code="441303", name="惠阳区", name_en="Huiyang District")
    cats = category_tree
    cats["utilities"].name_en = "Utilities"
    cats["utilities"].save()
    cats["power_cut"].name_en = "Power cut"
    cats["power_cut"].save()

    def new(moment, kind="complaint", *, register=True, **fields):
        fields.setdefault("district", district)
        with time_machine.travel(moment, tick=False):
            return actions.ticket_create(
                actor=operator, register=register, kind=kind, title="测试", description="测试诉求", **fields
            )

    def step(moment, action, ticket, **kwargs):
        with time_machine.travel(moment, tick=False):
            return action(ticket, **kwargs)

    def dispatched(moment, department, kind="complaint", **dispatch):
        ticket = new(moment - datetime.timedelta(minutes=10), kind)
        return step(moment, actions.ticket_dispatch, ticket, actor=operator, department=department, **dispatch)

    # Rates. R1: dispatched Mon, replied Tue 10:00 on time, satisfied Tue 11:00.
    r1 = dispatched(at(MONDAY, 9), water)
    r1 = step(at(MONDAY, 9, 30), actions.ticket_accept, r1, actor=water_staff)
    r1 = step(at(TUESDAY, 10), actions.ticket_reply, r1, actor=water_staff, reply="已处理")
    step(at(TUESDAY, 11), callback_record, r1, actor=operator, result="satisfied")
    # R2: due Mon 12:00, replied late Tue 09:00, no callback yet.
    r2 = dispatched(at(MONDAY, 9), water, deadline=at(MONDAY, 12))
    r2 = step(at(MONDAY, 9, 10), actions.ticket_accept, r2, actor=water_staff)
    step(at(TUESDAY, 9), actions.ticket_reply, r2, actor=water_staff, reply="已处理")
    # R3: dispatched 2 Nov (due 9 Nov), replied late Mon 10:00, unsatisfied Tue 09:00 (reopened, due later than
    # Monday, so the ticket's own deadline would call Monday's reply on time), replied today 09:00 on time,
    # basically satisfied today 10:00.
    r3 = dispatched(at(datetime.date(2026, 11, 2), 9), housing)
    r3 = step(at(datetime.date(2026, 11, 2), 10), actions.ticket_accept, r3, actor=housing_staff)
    r3 = step(at(MONDAY, 10), actions.ticket_reply, r3, actor=housing_staff, reply="已处理")
    step(at(TUESDAY, 9), callback_record, r3, actor=operator, result="unsatisfied", note="未解决")
    r3 = Ticket.objects.get(pk=r3.pk)
    r3 = step(at(TUESDAY, 9, 30), actions.ticket_accept, r3, actor=housing_staff)
    r3 = step(at(WEDNESDAY, 9), actions.ticket_reply, r3, actor=housing_staff, reply="已重新处理")
    step(at(WEDNESDAY, 10), callback_record, r3, actor=operator, result="basically")
    # R4: dispatched Mon, replied today 08:00 on time, satisfied today 09:30.
    r4 = dispatched(at(MONDAY, 11), water)
    r4 = step(at(MONDAY, 11, 30), actions.ticket_accept, r4, actor=water_staff)
    r4 = step(at(WEDNESDAY, 8), actions.ticket_reply, r4, actor=water_staff, reply="已处理")
    step(at(WEDNESDAY, 9, 30), callback_record, r4, actor=operator, result="satisfied")
    # R5: replied last week (not this week's), satisfied Mon 09:00 (this week's).
    r5 = dispatched(at(LAST_WEEK, 14), water)
    r5 = step(at(LAST_WEEK, 15), actions.ticket_accept, r5, actor=water_staff)
    r5 = step(at(datetime.date(2026, 11, 20), 9), actions.ticket_reply, r5, actor=water_staff, reply="已处理")
    step(at(MONDAY, 9), callback_record, r5, actor=operator, result="satisfied")

    # Open and overdue. O1 water, dispatched today 08:00: open. O2 water, due last Fri: accepted, overdue.
    dispatched(at(WEDNESDAY, 8), water)
    o2 = dispatched(at(datetime.date(2026, 11, 16), 9), water, deadline=at(datetime.date(2026, 11, 20), 17))
    step(at(datetime.date(2026, 11, 16), 10), actions.ticket_accept, o2, actor=water_staff)
    # O3 water, extension requested: open. O4 housing, due Tue 17:00, never accepted: overdue.
    o3 = dispatched(at(MONDAY, 14), water)
    o3 = step(at(MONDAY, 15), actions.ticket_accept, o3, actor=water_staff)
    until = o3.deadline + datetime.timedelta(days=5)
    step(at(MONDAY, 16), actions.ticket_request_extension, o3, actor=water_staff, until=until, reason="勘查")
    dispatched(at(MONDAY, 14), housing, deadline=at(TUESDAY, 17))
    # O5 returned by housing: no department holds it.
    o5 = dispatched(at(MONDAY, 15), housing)
    step(at(MONDAY, 16), actions.ticket_return, o5, actor=housing_staff, reason="非本单位职责")

    # Today's other tickets. A consultation by walk-in closed at first contact 07:00; a praise from the API late
    # last night (yesterday's); a draft being written up (not a ticket yet).
    t = new(at(WEDNESDAY, 7), "consultation", channel="walk_in", citizen=citizen, caller_number="13800138000")
    step(at(WEDNESDAY, 7, 5), actions.ticket_close_first_contact, t, actor=operator, answer="已解答")
    new(at(TUESDAY, 23, 59, 59), "praise", channel="open311")

    # Hot topics: the last hour is (09:30, 10:30] today, the baseline (09:30, 10:30] on 18 November.
    for minute in (31, 40, 50, 59):
        new(at(WEDNESDAY, 9, minute), category=cats["water_cut"], channel="phone")
    for minute in (35, 45, 55):
        new(at(WEDNESDAY, 9, minute), "help", category=cats["power_cut"], district=huiyang, channel="app")
        new(at(WEDNESDAY, 9, minute), "suggestion", category=cats["street_lights"], district=huiyang, channel="web")
    new(at(WEDNESDAY, 10, 5), register=False, category=cats["water_cut"])  # a draft: not counted
    new(at(WEDNESDAY, 9, 30), "suggestion", category=cats["street_lights"], district=huiyang, channel="web")
    new(at(LAST_WEEK, 10), category=cats["water_cut"])
    new(at(LAST_WEEK, 10, 5), "suggestion", category=cats["street_lights"])
    new(at(LAST_WEEK, 10, 10), "suggestion", category=cats["street_lights"])
    new(at(LAST_WEEK, 9, 30), "help", category=cats["power_cut"], district=huiyang)  # on the edge: outside
    return {"water": water, "housing": housing, "huiyang": huiyang, "cats": cats}


def snapshot(**kwargs) -> dict:
    with time_machine.travel(NOW, tick=False):
        return wallboard_snapshot(**kwargs)


def by_key(rows: list[dict]) -> dict[str, int]:
    return {row["key"]: row["count"] for row in rows}


# The live block --------------------------------------------------------------------------------


def test_queue_counts_callers_once_and_each_operator_once_in_their_best_state(queue):
    live = snapshot()["queue"]

    assert live == {
        "waiting": 4,
        "longest_wait": 95,
        "oldest_since": iso(ago(seconds=95)),
        "operators": {"logged_in": 5, "on_call": 1, "ringing": 1, "available": 2, "paused": 1},
    }


def test_todays_calls_by_outcome_with_service_level_speed_of_answer_and_handle_time(calls):
    figures = snapshot()["calls"]

    assert figures == {
        "total": 10,
        "answered": 5,
        "abandoned": 3,
        "abandoned_ivr": 1,
        "abandoned_queue": 2,
        "self_service": 1,
        "in_progress": 1,
        # Calls 1, 2 and 4 answered within 20 s, of 4 answered from the queue and call 6 abandoned after 60 s.
        "service_level": {
            "threshold_seconds": 20,
            "answered_within": 3,
            "answered": 4,
            "abandoned_after": 1,
            "rate": 0.6,
        },
        "average_speed_of_answer": 20.0,  # (10 + 20 + 45 + 5) / 4
        "average_handle_time": 162.5,  # (100 + 200 + 300 + 50) / 4 ended answered calls
    }


@pytest.mark.parametrize(
    ("threshold", "within", "abandoned_after", "rate"),
    [(10, 2, 1, 0.4), (5, 1, 2, 0.1667), (60, 4, 0, 1.0)],
)
def test_the_service_level_threshold_is_a_setting(calls, settings, threshold, within, abandoned_after, rate):
    settings.HOTLINE_SERVICE_LEVEL_SECONDS = threshold

    level = snapshot()["calls"]["service_level"]

    assert (level["threshold_seconds"], level["answered_within"], level["abandoned_after"], level["rate"]) == (
        threshold,
        within,
        abandoned_after,
        rate,
    )


# Tickets ---------------------------------------------------------------------------------------


def test_todays_tickets_by_kind_and_channel_list_every_kind_and_channel(city):
    tickets = snapshot()["tickets"]

    # O1 and the four water cuts are phone complaints; 3 power cuts (help, app), 4 street lights (suggestion, web,
    # one at 09:30), the walk-in consultation. Not: last night's praise, the draft, tickets of other days.
    assert tickets["total"] == 13
    assert by_key(tickets["by_kind"]) == {
        "consultation": 1,
        "complaint": 5,
        "suggestion": 4,
        "help": 3,
        "report": 0,
        "praise": 0,
    }
    assert by_key(tickets["by_channel"]) == {"phone": 5, "web": 4, "app": 3, "open311": 0, "walk_in": 1}


def test_open_and_overdue_by_lead_department_most_overdue_first(city):
    water, housing = city["water"], city["housing"]

    assert snapshot()["departments"] == [
        {"id": water.pk, "code": "water", "label": "市水务局", "open": 3, "overdue": 1},
        {"id": housing.pk, "code": "housing", "label": "市住房和城乡建设局", "open": 1, "overdue": 1},
    ]


def test_rates_of_today_and_this_week(city):
    rates = snapshot()["rates"]

    # Week: R1 on time, R2 late, R3 late on Monday (its first deadline, 9 Nov) and on time today, R4 on time.
    assert rates["week"]["on_time"] == {"replied": 5, "on_time": 3, "rate": 0.6}
    assert rates["today"]["on_time"] == {"replied": 2, "on_time": 2, "rate": 1.0}
    # Week: satisfied R1, R4, R5; basically R3; unsatisfied R3's first reply.
    assert rates["week"]["satisfaction"] == {
        "rated": 5,
        "satisfied": 3,
        "basically_satisfied": 1,
        "unsatisfied": 1,
        "rate": 0.8,
    }
    assert rates["today"]["satisfaction"] == {
        "rated": 2,
        "satisfied": 1,
        "basically_satisfied": 1,
        "unsatisfied": 0,
        "rate": 1.0,
    }


def test_rates_agree_with_the_periodic_reports(city):
    with time_machine.travel(NOW, tick=False):
        reports_build(first=MONDAY, last=WEDNESDAY)
    rates = snapshot()["rates"]

    for period, start, shown in ((ReportPeriod.DAY, WEDNESDAY, "today"), (ReportPeriod.WEEK, MONDAY, "week")):
        rows = Report.objects.filter(period=period, start=start)
        total = {name: sum(getattr(r, name) for r in rows) for name in ("replied", "replied_on_time")}
        rated = {name: sum(getattr(r, name) for r in rows) for name in ("satisfied", "basically_satisfied")}
        rated["unsatisfied"] = sum(r.unsatisfied for r in rows)
        assert rates[shown]["on_time"]["replied"] == total["replied"]
        assert rates[shown]["on_time"]["on_time"] == total["replied_on_time"]
        assert {k: rates[shown]["satisfaction"][k] for k in rated} == rated


def test_hot_topics_spike_against_the_same_hour_last_week(city):
    cats, huiyang = city["cats"], city["huiyang"]

    hot = snapshot()["hot_topics"]

    # Power cuts 3 vs 0 (the one at exactly 09:30 last week is outside): (3+1)/(0+1) = 4; water cuts 4 vs 1:
    # 5/2 = 2.5. Street lights 3 vs 2 (4/3) do not spike; utilities has no ticket of its own.
    assert hot["categories"] == [
        {"id": cats["power_cut"].pk, "label": "水电气 / 停电", "count": 3, "previous": 0, "ratio": 4.0},
        {"id": cats["water_cut"].pk, "label": "水电气 / 停水", "count": 4, "previous": 1, "ratio": 2.5},
    ]
    # Huiyang 6 vs 0; Huicheng 4 vs 3 does not spike.
    assert hot["districts"] == [{"id": huiyang.pk, "label": "惠阳区", "count": 6, "previous": 0, "ratio": 7.0}]


def test_hot_topics_list_only_the_hottest_above_the_minimum_count(city, monkeypatch):
    monkeypatch.setattr(wallboard, "HOT_TOP", 1)
    monkeypatch.setattr(wallboard, "HOT_MIN_COUNT", 4)

    hot = snapshot()["hot_topics"]

    assert [row["label"] for row in hot["categories"]] == ["水电气 / 停水"]
    assert [row["count"] for row in hot["districts"]] == [6]


# Shape, language, privacy, cost ----------------------------------------------------------------


def test_labels_follow_the_active_language(city):
    with translation.override("en"):
        board = snapshot()

    assert board["labels"]["service_level"] == "Service level"
    assert {row["key"]: row["label"] for row in board["tickets"]["by_kind"]}["help"] == "Help request"
    assert {row["key"]: row["label"] for row in board["tickets"]["by_channel"]}["open311"] == "Open311 API"
    assert [row["label"] for row in board["departments"]] == ["Water Affairs Bureau", "Housing Bureau"]
    assert [row["label"] for row in board["hot_topics"]["categories"]] == ["Utilities / Power cut", "Utilities / 停水"]
    assert board["hot_topics"]["districts"][0]["label"] == "Huiyang District"


def test_the_snapshot_is_json_and_holds_no_personal_data(queue, calls, city, citizen):
    text = json.dumps(snapshot(), ensure_ascii=False)

    phones = [p.number for p in citizen.phones.all()] + [p.masked for p in citizen.phones.all()]
    for secret in [citizen.name, VALID_ID, citizen.id_masked, *phones, "8613800138000", "agent.wang", "PJSIP"]:
        assert secret not in text
    assert set(json.loads(text)) == {
        "now",
        "day",
        "week_start",
        "queue",
        "calls",
        "tickets",
        "departments",
        "rates",
        "hot_topics",
        "labels",
    }


def test_one_snapshot_costs_a_fixed_number_of_queries(queue, calls, city, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(QUERIES_WITH_EARLIER_WINDOWS):
        wallboard_snapshot()


def test_the_query_count_does_not_grow_with_the_data(queue, calls, city, operator, water):
    with time_machine.travel(at(WEDNESDAY, 10, 1), tick=False):
        for _ in range(20):
            ticket = actions.ticket_create(actor=operator, kind="complaint", description="x")
            actions.ticket_dispatch(ticket, actor=operator, department=water)
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
        wallboard_snapshot()

    assert len(queries) == QUERIES_WITH_EARLIER_WINDOWS


def test_an_empty_hotline_shows_zeros_and_no_rates(db, django_assert_num_queries):
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(QUERIES):
        board = wallboard_snapshot()

    assert board["queue"]["waiting"] == board["queue"]["longest_wait"] == 0
    assert board["queue"]["oldest_since"] is None
    assert board["calls"]["service_level"]["rate"] is None
    assert board["calls"]["average_speed_of_answer"] is board["calls"]["average_handle_time"] is None
    assert board["rates"]["today"]["on_time"]["rate"] is None
    assert board["rates"]["week"]["satisfaction"]["rate"] is None
    assert board["departments"] == []
    assert board["hot_topics"] == {"categories": [], "districts": []}
    assert board["day"] == "2026-11-25" and board["week_start"] == "2026-11-23"


def test_the_snapshot_reads_the_projects_clock(db):
    with clock.at(NOW):
        assert wallboard_snapshot()["now"] == iso(NOW) == "2026-11-25T02:30:00+00:00"


# Keeping it live -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "affected"),
    [
        ("queue.state", True),
        ("call.answer", True),
        ("ticket.dispatch", True),
        ("ticket.escalated", True),
        ("knowledge.update", False),
        ("callback.due", False),
    ],
)
def test_which_events_refresh_the_wallboard(event, affected):
    assert wallboard_affected_by(event) is affected


def test_the_throttle_refreshes_at_once_then_at_most_once_a_second_and_never_drops_the_last_change():
    clock_value = [100.0]
    throttle = WallboardThrottle(monotonic=lambda: clock_value[0])

    assert throttle.event("knowledge.update") is None
    assert throttle.event("call.open") == 0.0  # the first refresh goes at once
    assert throttle.event("call.ivr") is None  # already planned: it will show this one too
    throttle.sent()
    clock_value[0] = 100.25
    assert throttle.event("queue.state") == pytest.approx(0.75)  # the rest of the second, then refresh
    assert throttle.event("ticket.create") is None
    clock_value[0] = 101.0
    throttle.sent()
    clock_value[0] = 103.0
    assert throttle.event("call.hangup") == 0.0  # quiet for a while: at once again


def test_the_cached_snapshot_is_shared_for_a_second_per_language(calls, monkeypatch):
    ticks = [50.0]
    monkeypatch.setattr(wallboard.time, "monotonic", lambda: ticks[0])
    wallboard._cache.clear()
    with time_machine.travel(NOW, tick=False):
        first = wallboard_cached()
        with CaptureQueriesContext(connection) as queries:
            again = wallboard_cached()
            first["extra"] = "a caller's own key"
        assert len(queries) == 0 and again == {k: v for k, v in first.items() if k != "extra"}
        assert "extra" not in wallboard_cached()
        with translation.override("en"), CaptureQueriesContext(connection) as queries:
            english = wallboard_cached()
        assert len(queries) == QUERIES and english["labels"]["answered"] == "Answered"
        ticks[0] = 51.0
        with CaptureQueriesContext(connection) as queries:
            wallboard_cached()
        assert len(queries) == QUERIES
    wallboard._cache.clear()
