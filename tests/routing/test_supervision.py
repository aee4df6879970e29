"""A supervisor's actions from the wallboard page: escalate (督办) by hand, reassign (改派), the supervision lists.

Each action: who may, bad input changes nothing, the timeline entry, the published events.
"""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from dashboards.models import OutboxEvent
from dashboards.publish import OPERATORS, SUPERVISORS, department_group
from routing.actions import ticket_escalate
from routing.clocks import escalations_resolve, reminders_plan
from routing.deadlines import deadline_for, sign_for_deadline
from routing.models import Escalation, EscalationReason, Reminder, ReminderKind
from routing.reports import WALKED, ticket_facts
from routing.selectors import ticket_accept_by
from tests.factories import DepartmentFactory
from tickets import actions
from tickets.models import Action, Status, Ticket, TimelineEntry

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 25 November 2026, 10:00 in Shanghai: working days all around.
NOW = datetime.datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def post(api, user, path: str, body: dict | None = None):
    return api.as_user(user).post(path, body or {}, format="json")


def escalate_url(ticket: Ticket) -> str:
    return f"/api/routing/tickets/{ticket.number}/escalate/"


def reassign_url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.number}/reassign/"


def last_event_id() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_since(event_id: int) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(id__gt=event_id).order_by("id"))


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def last_entry(ticket: Ticket) -> TimelineEntry:
    return ticket.timeline.order_by("-id").first()


def error(response) -> dict:
    return response.json()["error"]


# Escalate (督办) ------------------------------------------------------------------------------------


def test_a_supervisor_escalates_a_ticket_by_hand_with_a_note(api, supervisor, make_ticket, water):
    ticket = make_ticket(Status.ACCEPTED)
    version, start = fresh(ticket).version, last_event_id()

    response = post(api, supervisor, escalate_url(ticket), {"note": "市民多次来电，请三日内办结"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["ticket"], body["reason"], body["department"], body["created_by"]) == (
        ticket.number,
        EscalationReason.MANUAL,
        water.pk,
        supervisor.username,
    )
    escalation = Escalation.objects.get(ticket=ticket)
    assert escalation.reason == EscalationReason.MANUAL and escalation.note == "市民多次来电，请三日内办结"
    assert escalation.deadline == fresh(ticket).deadline and escalation.resolved_at is None
    assert escalation.created_by == supervisor and escalation.department == water
    entry = last_entry(ticket)
    assert (entry.action, entry.from_status, entry.to_status, entry.actor) == (
        Action.ESCALATE,
        Status.ACCEPTED,
        Status.ACCEPTED,
        supervisor,
    )
    assert entry.note == "市民多次来电，请三日内办结" and entry.data["escalation"] == escalation.pk
    # The ticket itself is not changed: the department's copy stays current.
    assert fresh(ticket).status == Status.ACCEPTED and fresh(ticket).version == version
    [event] = events_since(start)
    assert event.type == "ticket.escalated"
    assert sorted(event.groups) == sorted([SUPERVISORS, department_group(water.pk)])
    assert event.payload["reason"] == EscalationReason.MANUAL and event.payload["ticket"] == ticket.number
    assert "三日内" not in str(event.payload)  # the note stays in the timeline, out of the sockets


def test_escalating_needs_a_note_and_a_refusal_changes_nothing(api, supervisor, make_ticket, ticket_state):
    ticket = make_ticket(Status.DISPATCHED)
    before, start = ticket_state(ticket), last_event_id()

    for body in ({}, {"note": ""}, {"note": "   "}):
        response = post(api, supervisor, escalate_url(ticket), body)
        assert response.status_code == 400, body
        assert "note" in error(response)["fields"]

    assert ticket_state(ticket) == before
    assert not Escalation.objects.exists() and events_since(start) == []


def test_a_ticket_is_escalated_by_hand_once_per_deadline(api, supervisor, water_staff, make_ticket, ticket_state):
    ticket = make_ticket(Status.EXTENSION_REQUESTED)
    assert post(api, supervisor, escalate_url(ticket), {"note": "第一次督办"}).status_code == 201
    before, start = ticket_state(ticket), last_event_id()

    again = post(api, supervisor, escalate_url(ticket), {"note": "再次督办"})

    assert again.status_code == 409 and error(again)["code"] == "already_escalated"
    assert ticket.number in error(again)["message"]
    assert ticket_state(ticket) == before and events_since(start) == []
    assert Escalation.objects.filter(ticket=ticket).count() == 1

    # An approved extension moves the deadline: the sweep resolves the escalation, and a new one may follow.
    actions.ticket_approve_extension(fresh(ticket), actor=supervisor)
    assert escalations_resolve(now=fresh(ticket).updated_at) == 1
    assert post(api, supervisor, escalate_url(ticket), {"note": "延期后仍未办理"}).status_code == 201
    assert Escalation.objects.filter(ticket=ticket, resolved_at__isnull=True).count() == 1


@pytest.mark.parametrize("status", [Status.REGISTERED, Status.RETURNED, Status.REPLIED, Status.CLOSED])
def test_only_a_ticket_a_department_is_handling_can_be_escalated(api, supervisor, make_ticket, ticket_state, status):
    ticket = make_ticket(status)
    before, start = ticket_state(ticket), last_event_id()

    response = post(api, supervisor, escalate_url(ticket), {"note": "督办"})

    assert response.status_code == 409
    assert error(response)["code"] == "not_with_departments" and error(response)["status"] == status
    assert ticket_state(ticket) == before and events_since(start) == []
    assert not Escalation.objects.exists()


@pytest.mark.parametrize(
    ("user_fixture", "expected"),
    [("operator", 403), ("water_staff", 403), ("housing_staff", 404), ("admin_user", 201), ("supervisor", 201)],
)
def test_only_supervisors_and_administrators_escalate(api, request, make_ticket, ticket_state, user_fixture, expected):
    ticket = make_ticket(Status.ACCEPTED)  # the water bureau's: housing staff may not even see it
    before = ticket_state(ticket)

    response = post(api, request.getfixturevalue(user_fixture), escalate_url(ticket), {"note": "督办"})

    assert response.status_code == expected, response.content
    if expected != 201:
        assert ticket_state(ticket) == before and not Escalation.objects.exists()
        assert ticket.number not in response.content.decode() or expected == 403


def test_the_sweep_resolves_an_escalation_by_hand_when_the_department_replies(supervisor, water_staff, make_ticket):
    ticket = make_ticket(Status.ACCEPTED)
    escalation = ticket_escalate(ticket, actor=supervisor, note="请尽快答复")
    assert escalations_resolve(now=NOW + datetime.timedelta(days=30)) == 0  # still at the department

    actions.ticket_reply(fresh(ticket), actor=water_staff, reply="已处理")
    assert escalations_resolve(now=fresh(ticket).updated_at) == 1
    escalation.refresh_from_db()
    assert escalation.resolved_at is not None


# Reassign (改派) -----------------------------------------------------------------------------------


def test_a_supervisor_reassigns_an_accepted_ticket_to_another_department(
    api, frozen, supervisor, water, housing, housing_staff, water_staff, make_ticket
):
    ticket = actions.ticket_dispatch(
        make_ticket(Status.REGISTERED), actor=supervisor, department=water, assisting=[DepartmentFactory(code="gas")]
    )
    ticket = actions.ticket_accept(ticket, actor=water_staff)
    helper = ticket.assisting_departments.get()
    frozen.shift(datetime.timedelta(hours=2))
    now = NOW + datetime.timedelta(hours=2)
    version, start = fresh(ticket).version, last_event_id()

    response = post(api, supervisor, reassign_url(ticket), {"department": housing.pk, "note": "应由住建局办理"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Status.DISPATCHED and response.json()["lead_department"] == housing.pk
    moved = fresh(ticket)
    assert (moved.status, moved.lead_department, moved.version) == (Status.DISPATCHED, housing, version + 1)
    assert moved.deadline == deadline_for(kind=moved.kind, urgency=moved.urgency, start=now)
    assert moved.dispatched_at == now and list(moved.assisting_departments.all()) == []
    entry = last_entry(ticket)
    assert (entry.action, entry.from_status, entry.to_status, entry.actor, entry.note) == (
        Action.REASSIGN,
        Status.ACCEPTED,
        Status.DISPATCHED,
        supervisor,
        "应由住建局办理",
    )
    assert entry.data["from_department"] == water.pk and entry.data["department"] == housing.pk
    assert datetime.datetime.fromisoformat(entry.data["deadline"]) == moved.deadline
    accept_by = sign_for_deadline(now, kind=moved.kind, urgency=moved.urgency, deadline=moved.deadline)
    assert datetime.datetime.fromisoformat(entry.data["accept_by"]) == accept_by
    assert ticket_accept_by(moved) == accept_by  # the new lead's sign-for time, from the reassignment
    [event] = events_since(start)
    assert event.type == "ticket.reassign"
    # Both departments hear of it (and the assisting one that lost it), with the hotline's streams.
    assert set(event.groups) == {
        SUPERVISORS,
        OPERATORS,
        department_group(water.pk),
        department_group(housing.pk),
        department_group(helper.pk),
    }
    assert (event.payload["from"], event.payload["status"], event.payload["department"]) == (
        Status.ACCEPTED,
        Status.DISPATCHED,
        housing.pk,
    )
    # The new department has it; the old one no longer sees it.
    assert api.as_user(water_staff).get(f"/api/tickets/{ticket.number}/").status_code == 404
    assert actions.ticket_accept(moved, actor=housing_staff).status == Status.ACCEPTED


def test_a_reassignment_may_set_the_deadline(api, frozen, supervisor, housing, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)
    deadline = NOW + datetime.timedelta(days=3)

    body = {"department": housing.pk, "note": "紧急改派", "deadline": deadline.isoformat()}
    response = post(api, supervisor, reassign_url(ticket), body)

    assert response.status_code == 200, response.content
    assert fresh(ticket).deadline == deadline


@pytest.fixture
def closed_bureau(db):
    return DepartmentFactory(code="closed", name="已撤销的局", is_active=False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "department"),
        ({"note": "改派"}, "department"),
        ({"department": "water", "note": "改派"}, "department"),  # the current lead department
        ({"department": "closed", "note": "改派"}, "department"),  # inactive
        ({"department": 10**6, "note": "改派"}, "department"),  # no such department
        ({"department": "housing"}, "note"),
        ({"department": "housing", "note": "  "}, "note"),
        ({"department": "housing", "note": "改派", "deadline": "2020-01-01T00:00:00+08:00"}, "deadline"),
    ],
)
def test_a_bad_reassignment_says_what_is_wrong_and_changes_nothing(
    api, supervisor, water, housing, closed_bureau, make_ticket, ticket_state, body, field
):
    ticket = make_ticket(Status.ACCEPTED)
    named = {"water": water.pk, "housing": housing.pk, "closed": closed_bureau.pk}
    body = {key: named.get(value, value) if key == "department" else value for key, value in body.items()}
    before, start = ticket_state(ticket), last_event_id()

    response = post(api, supervisor, reassign_url(ticket), body)

    assert response.status_code == 400, response.content
    assert field in error(response)["fields"], error(response)
    assert error(response)["message"]
    assert ticket_state(ticket) == before and fresh(ticket).deadline == ticket.deadline
    assert events_since(start) == []


@pytest.mark.parametrize(
    ("user_fixture", "expected"),
    [("operator", 403), ("water_staff", 403), ("housing_staff", 404), ("admin_user", 200)],
)
def test_only_supervisors_and_administrators_reassign(
    api, request, housing, make_ticket, ticket_state, user_fixture, expected
):
    ticket = make_ticket(Status.DISPATCHED)
    before = ticket_state(ticket)

    user = request.getfixturevalue(user_fixture)
    response = post(api, user, reassign_url(ticket), {"department": housing.pk, "note": "改派"})

    assert response.status_code == expected, response.content
    if expected != 200:
        assert ticket_state(ticket) == before


@pytest.mark.parametrize("status", [Status.EXTENSION_REQUESTED, Status.REGISTERED, Status.RETURNED, Status.REPLIED])
def test_only_a_dispatched_accepted_or_reopened_ticket_is_reassigned(
    api, supervisor, housing, make_ticket, ticket_state, status
):
    ticket = make_ticket(status)
    before = ticket_state(ticket)

    response = post(api, supervisor, reassign_url(ticket), {"department": housing.pk, "note": "改派"})

    assert response.status_code == 409
    body = error(response)
    assert body["code"] == "invalid_transition" and body["status"] == status
    if status == Status.EXTENSION_REQUESTED:  # decide the request first
        assert body["allowed_actions"] == ["approve_extension", "deny_extension"]
    assert ticket_state(ticket) == before


def test_a_reopened_ticket_can_be_reassigned(supervisor, housing, make_ticket):
    ticket = make_ticket(Status.REOPENED)
    moved = actions.ticket_reassign(ticket, actor=supervisor, department=housing, note="原单位两次未办好")
    assert moved.status == Status.DISPATCHED and moved.lead_department == housing


def test_the_reports_count_a_reassignment_for_the_new_department_and_end_the_old_ones_window(
    frozen, supervisor, water, housing, make_ticket
):
    ticket = make_ticket(Status.ACCEPTED)  # dispatched to water now, deadline some days ahead
    water_deadline = fresh(ticket).deadline
    frozen.shift(datetime.timedelta(hours=3))
    actions.ticket_reassign(fresh(ticket), actor=supervisor, department=housing, note="改派")

    later = water_deadline + datetime.timedelta(days=1)  # water's deadline has passed, housing's not yet
    ticket = fresh(ticket)
    entries = TimelineEntry.objects.filter(ticket=ticket, action__in=WALKED).order_by("at", "id")
    facts = {(fact.department_id, fact.figure) for fact in ticket_facts(ticket, entries, now=later)}
    assert (water.pk, "received") in facts and (housing.pk, "received") in facts
    assert (water.pk, "returned") not in facts
    # Water gave the ticket up before its deadline: not overdue for it.
    assert (water.pk, "overdue") not in facts
    assert ticket.deadline > later or (housing.pk, "overdue") in facts


def test_reminders_after_a_reassignment_go_to_the_new_department_from_its_start(
    frozen, supervisor, housing, make_ticket
):
    ticket = make_ticket(Status.DISPATCHED)
    frozen.shift(datetime.timedelta(hours=1))
    moved = actions.ticket_reassign(ticket, actor=supervisor, department=housing, note="改派")

    reminders_plan(now=NOW + datetime.timedelta(hours=1))

    planned = Reminder.objects.filter(ticket=ticket, deadline=moved.deadline)
    assert {r.department_id for r in planned} == {housing.pk}
    sign_for = planned.get(kind=ReminderKind.SIGN_FOR)
    start = NOW + datetime.timedelta(hours=1)
    assert sign_for.due_at == sign_for_deadline(start, kind=moved.kind, urgency=moved.urgency, deadline=moved.deadline)


# The supervision lists and re-dispatch -------------------------------------------------------------------


def test_the_supervision_lists_give_the_return_and_extension_reasons(
    api, supervisor, water, water_staff, housing, make_ticket
):
    returned = make_ticket(Status.RETURNED)
    extension = make_ticket(Status.EXTENSION_REQUESTED)
    late = make_ticket(Status.ACCEPTED)
    ticket_escalate(late, actor=supervisor, note="请加快")

    with time_machine.travel(fresh(late).deadline + datetime.timedelta(hours=1)):
        response = api.as_user(supervisor).get("/api/routing/supervision/")

    assert response.status_code == 200
    lists = response.json()
    [row] = lists["returned"]
    assert row["number"] == returned.number and row["flagged"] is False and row["return_count"] == 1
    assert row["return"]["reason"] == "非本单位职责"
    assert (row["return"]["department"], row["return"]["department_name"]) == (water.pk, str(water))
    [row] = lists["extensions"]
    assert row["number"] == extension.number and row["extension"]["reason"] == "需现场勘查"
    assert row["extension"]["until"] is not None and row["extension"]["requested_by"] == water_staff.username
    overdue = {row["number"]: row["escalated"] for row in lists["overdue"]}
    assert overdue[late.number] is True and overdue[extension.number] is False
    [row] = lists["escalations"]
    assert row["number"] == late.number and row["escalation"]["note"] == "请加快"
    assert row["escalation"]["created_by"] == supervisor.username


def test_a_ticket_returned_twice_is_flagged_and_a_supervisor_dispatches_it_again(
    api, supervisor, operator, water_staff, housing, housing_staff, make_ticket
):
    ticket = make_ticket(Status.RETURNED)
    actions.ticket_dispatch(fresh(ticket), actor=operator, department=housing)
    actions.ticket_return(fresh(ticket), actor=housing_staff, code="", reason="也不是我们的", responsible=None)

    [row] = api.as_user(supervisor).get("/api/routing/supervision/").json()["returned"]
    assert row["flagged"] is True and row["return_count"] == 2 and row["return"]["reason"] == "也不是我们的"

    response = post(
        api, supervisor, f"/api/tickets/{ticket.number}/dispatch/", {"department": water_staff.department_id}
    )
    assert response.status_code == 200 and fresh(ticket).status == Status.DISPATCHED
    assert api.as_user(supervisor).get("/api/routing/supervision/").json()["returned"] == []


@pytest.mark.parametrize(("user_fixture", "expected"), [("operator", 403), ("water_staff", 403), ("admin_user", 200)])
def test_the_supervision_lists_are_for_supervisors_and_administrators(api, request, user_fixture, expected):
    response = api.as_user(request.getfixturevalue(user_fixture)).get("/api/routing/supervision/")
    assert response.status_code == expected


def test_anonymous_users_get_no_supervision_lists(api, db):
    response = api.get("/api/routing/supervision/")
    assert response.status_code in (401, 403) and response.json()["error"]["code"] == "not_authenticated"
