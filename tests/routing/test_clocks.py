"""The clocks' sweep: 50 %, 80 % and sign-for reminders, overdue escalation (督办), callbacks due; each once."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection, connections

from callcentre.celery import app
from dashboards.models import OutboxEvent
from dashboards.publish import OPERATORS, SUPERVISORS, department_group
from routing import clocks
from routing.calendar import seed_from_chinese_calendar
from routing.clocks import clocks_sweep, escalations_overdue, fraction_point, overdue_tickets
from routing.models import Callback, Escalation, EscalationReason, Reminder, ReminderKind, ReminderState
from routing.tasks import sweep_clocks
from tests.factories import DepartmentFactory, UserFactory
from tickets import actions
from tickets.models import Role, Status, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday of a week with no holiday: 23–27 November 2026 are working days, 28–29 the weekend.
MONDAY = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)

pytestmark = pytest.mark.django_db


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def travel():
    """travel(moment): move the frozen clock there (and stay) for the rest of the test."""
    travellers = []

    def go(moment: datetime.datetime) -> None:
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)

    yield go
    for traveller in travellers:
        traveller.stop()


def events(kind: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=kind).order_by("id"))


def iso(moment: datetime.datetime) -> str:
    """How event payloads carry times: ISO 8601 in UTC."""
    return moment.astimezone(datetime.UTC).isoformat()


def sweep_twice(**expected: int) -> None:
    """Run the sweep twice: the first does `expected`, the second nothing at all."""
    first = clocks_sweep()
    for name, value in expected.items():
        assert getattr(first, name) == value, (name, first)
    second = clocks_sweep()
    assert not any(vars(second).values()), second


# Reminders -------------------------------------------------------------------------------------


def test_half_and_eighty_percent_reminders_fire_once_each(travel, make_ticket, water):
    travel(MONDAY)
    ticket = make_ticket(Status.ACCEPTED)  # a complaint: five working days, due Monday 30 November 09:00
    assert ticket.deadline == at(2026, 11, 30, 9, 0)

    travel(MONDAY + datetime.timedelta(minutes=1))
    sweep_twice(planned=1, reminded=0)
    half = Reminder.objects.get(ticket=ticket, kind=ReminderKind.HALF)
    eighty = Reminder.objects.get(ticket=ticket, kind=ReminderKind.EIGHTY)
    # 120 working hours from Monday 09:00: 60 h is Wednesday 21:00, 96 h Friday 09:00 (the weekend does not count).
    assert half.due_at == at(2026, 11, 25, 21, 0)
    assert eighty.due_at == at(2026, 11, 27, 9, 0)
    assert not Reminder.objects.filter(ticket=ticket, kind=ReminderKind.SIGN_FOR).exists()  # already accepted

    travel(at(2026, 11, 25, 20, 59))
    sweep_twice(reminded=0)
    travel(at(2026, 11, 25, 21, 0))
    sweep_twice(reminded=1)
    travel(at(2026, 11, 27, 9, 30))
    sweep_twice(reminded=1)

    sent = events("ticket.reminder")
    assert [e.payload["reminder"] for e in sent] == ["half", "eighty"]
    assert sent[0].payload == {
        "ticket": ticket.number,
        "id": ticket.pk,
        "department": water.pk,
        "reminder": "half",
        "deadline": iso(ticket.deadline),
        "due_at": iso(half.due_at),
    }
    assert sent[0].groups == sorted([SUPERVISORS, department_group(water.pk)])
    assert set(Reminder.objects.filter(ticket=ticket).values_list("state", flat=True)) == {ReminderState.SENT}


@pytest.mark.parametrize(
    ("limit", "half_at"),
    [
        # 72 hours from Friday 10:00 run on the wall clock: due Monday 10:00, half-way Saturday 22:00.
        ({"limit_hours": 72}, at(2026, 11, 28, 22, 0)),
        # One working day from Friday 10:00 is Monday 10:00 too, but half of it is in working time:
        # Friday 10:00–24:00 and Monday 00:00–10:00 make 24 hours, so half-way is Friday 22:00.
        ({"limit_working_days": 1}, at(2026, 11, 27, 22, 0)),
    ],
    ids=["hours", "working-days"],
)
def test_a_rules_own_limit_decides_whether_reminders_count_working_time(
    travel, make_ticket, operator, water, category_tree, limit, half_at
):
    from routing.actions import rule_save
    from routing.rules.spec import RuleSpec

    rule_save(RuleSpec(name="停水", lead_department=water.pk, priority=1, kinds=("complaint",), **limit), actor=None)
    friday = at(2026, 11, 27, 10, 0)
    travel(friday)
    ticket = actions.ticket_dispatch(make_ticket(Status.REGISTERED), actor=operator)
    assert ticket.deadline == at(2026, 11, 30, 10, 0)

    travel(friday + datetime.timedelta(minutes=1))
    sweep_twice(planned=1)
    assert Reminder.objects.get(ticket=ticket, kind=ReminderKind.HALF).due_at == half_at


def test_a_ticket_not_accepted_in_its_sign_for_window_gets_one_sign_for_reminder(travel, make_ticket):
    travel(MONDAY)
    ticket = make_ticket(Status.DISPATCHED)
    travel(at(2026, 11, 24, 8, 59))
    sweep_twice(planned=1, reminded=0)
    travel(at(2026, 11, 24, 9, 0))  # one working day after the dispatch; the 50 % mark is Wednesday 21:00
    sweep_twice(reminded=1)

    assert [e.payload["reminder"] for e in events("ticket.reminder")] == ["sign_for"]
    assert Reminder.objects.get(ticket=ticket, kind=ReminderKind.SIGN_FOR).state == ReminderState.SENT


def test_a_reminder_for_a_ticket_that_moved_on_is_skipped_not_sent(travel, make_ticket, water_staff):
    travel(MONDAY)
    ticket = make_ticket(Status.DISPATCHED)
    clocks_sweep()  # planned: sign-for Tuesday 09:00
    actions.ticket_accept(ticket, actor=water_staff)

    travel(at(2026, 11, 24, 10, 0))
    result = clocks_sweep()

    assert (result.reminded, result.skipped) == (0, 1)
    assert Reminder.objects.get(ticket=ticket, kind=ReminderKind.SIGN_FOR).state == ReminderState.SKIPPED
    assert not events("ticket.reminder")


def test_an_approved_extension_gets_reminders_for_its_new_window(travel, make_ticket, water_staff, supervisor):
    travel(MONDAY)
    ticket = make_ticket(Status.ACCEPTED)  # due Monday 30 November 09:00
    travel(at(2026, 11, 26, 9, 0))
    sweep_twice(planned=1, reminded=1)  # the 50 % reminder (Wednesday 21:00)

    new_deadline = at(2026, 12, 9, 9, 0)  # twelve working days after the dispatch
    ticket = actions.ticket_request_extension(ticket, actor=water_staff, until=new_deadline, reason="需现场勘查")
    ticket = actions.ticket_approve_extension(ticket, actor=supervisor)
    assert ticket.deadline == new_deadline

    travel(at(2026, 11, 27, 9, 30))  # the old 80 % mark passes: it no longer means anything
    sweep_twice(planned=1, reminded=0, skipped=1)
    old_eighty = Reminder.objects.get(ticket=ticket, kind=ReminderKind.EIGHTY, deadline=at(2026, 11, 30, 9, 0))
    assert old_eighty.state == ReminderState.SKIPPED
    # The new window runs from the dispatch to 9 December: 288 working hours, half at Tuesday 1 December 09:00.
    new_half = Reminder.objects.get(ticket=ticket, kind=ReminderKind.HALF, deadline=new_deadline)
    assert new_half.due_at == at(2026, 12, 1, 9, 0)

    travel(at(2026, 11, 30, 9, 30))  # the old deadline passes: not overdue any more
    sweep_twice(reminded=0, escalated=0)
    travel(at(2026, 12, 1, 9, 0))
    sweep_twice(reminded=1)

    sent = [(e.payload["reminder"], e.payload["deadline"]) for e in events("ticket.reminder")]
    assert sent == [("half", iso(at(2026, 11, 30, 9, 0))), ("half", iso(new_deadline))]
    assert not Escalation.objects.exists()


def test_half_of_a_working_day_limit_skips_the_national_day_holiday(db):
    seed_from_chinese_calendar(years=[2026])
    # Dispatched 30 September 15:00, due 13 October 15:00: 9 h + 8, 9, 10 (make-up Saturday), 12 October + 15 h.
    start, deadline = at(2026, 9, 30, 15, 0), at(2026, 10, 13, 15, 0)

    assert fraction_point(start, deadline, 0.5, wall_clock=False) == at(2026, 10, 10, 3, 0)
    assert fraction_point(start, deadline, 0.5, wall_clock=True) == at(2026, 10, 7, 3, 0)
    assert fraction_point(start, deadline, 1.0, wall_clock=False) == deadline


# Escalation ------------------------------------------------------------------------------------


def test_the_deadline_escalates_the_ticket_once(travel, make_ticket, water):
    travel(MONDAY)
    ticket = make_ticket(Status.ACCEPTED)
    travel(at(2026, 11, 30, 9, 0))  # at the deadline itself it is not yet overdue (Ticket.is_overdue agrees)
    clocks_sweep()
    assert not Escalation.objects.exists()

    travel(at(2026, 11, 30, 9, 1))
    sweep_twice(escalated=1)

    escalation = Escalation.objects.get()
    assert (escalation.ticket_id, escalation.reason, escalation.deadline) == (ticket.pk, "overdue", ticket.deadline)
    assert escalation.department_id == water.pk and escalation.resolved_at is None
    [event] = events("ticket.escalated")
    assert event.payload == {
        "ticket": ticket.number,
        "id": ticket.pk,
        "department": water.pk,
        "escalation": escalation.pk,
        "reason": "overdue",
        "deadline": iso(ticket.deadline),
    }
    assert event.groups == sorted([SUPERVISORS, department_group(water.pk)])
    assert Ticket.objects.get(pk=ticket.pk).is_overdue()


def test_a_clock_that_fails_does_not_stop_the_others(travel, make_ticket, monkeypatch, caplog):
    travel(MONDAY)
    ticket = make_ticket(Status.ACCEPTED)
    travel(at(2026, 12, 1, 9, 0))  # overdue, and past both reminder points

    def broken(**kwargs):
        raise ValueError("year 10000 is out of range")

    monkeypatch.setattr(clocks, "reminders_plan", broken)
    result = clocks_sweep()

    assert result.escalated == 1 and Escalation.objects.get().ticket_id == ticket.pk
    assert "clock broken failed" in caplog.text and "year 10000" in caplog.text


def test_a_reply_resolves_the_escalation_and_the_next_sweep_does_not_escalate_again(travel, make_ticket, water_staff):
    travel(MONDAY)
    ticket = make_ticket(Status.ACCEPTED)
    travel(at(2026, 11, 30, 10, 0))
    clocks_sweep()
    actions.ticket_reply(ticket, actor=water_staff, reply="已处理")

    travel(at(2026, 11, 30, 10, 1))
    result = clocks_sweep()

    assert result.escalated == 0 and result.resolved == 1
    assert Escalation.objects.get().resolved_at == at(2026, 11, 30, 10, 1)


def test_a_ticket_returned_twice_is_flagged_to_the_supervisors_once(travel, make_ticket, operator, water, water_staff):
    travel(MONDAY)
    ticket = make_ticket(Status.RETURNED)
    actions.ticket_dispatch(ticket, actor=operator, department=water)
    actions.ticket_return(ticket, actor=water_staff, reason="非本单位职责")

    sweep_twice(escalated=1)

    escalation = Escalation.objects.get()
    assert (escalation.reason, escalation.deadline) == (EscalationReason.RETURNED_TWICE, None)
    [event] = events("ticket.escalated")
    assert event.payload["reason"] == "returned_twice"
    assert set(event.groups) >= {SUPERVISORS, OPERATORS}


# Catch-up after an outage ----------------------------------------------------------------------


def test_after_hours_of_outage_one_run_catches_up_on_everything_once(travel, make_ticket):
    travel(MONDAY)
    urgent = make_ticket(Status.ACCEPTED, urgency="urgent")  # two hours on the wall clock: due 11:00
    help_request = make_ticket(Status.DISPATCHED, kind="help")  # one working day, never accepted: due Tuesday 09:00
    complaint = make_ticket(Status.ACCEPTED)  # five working days: its 50 % mark is Wednesday 21:00
    replied = make_ticket(Status.REPLIED)
    assert urgent.deadline == at(2026, 11, 23, 11, 0)
    # The worker is down from here (no sweep at all) ...

    travel(at(2026, 11, 23, 22, 0))  # ... for thirteen hours.
    result = clocks_sweep()

    assert result.planned == 4 - 1  # the replied ticket has no deadline running
    assert result.reminded == 3  # urgent: 50 % (10:00) and 80 % (10:36); help request: 50 % (21:00)
    assert result.escalated == 1  # urgent, at 11:00
    assert result.callbacks == 1  # the replied ticket
    by_ticket = sorted((e.payload["id"], e.payload["reminder"]) for e in events("ticket.reminder"))
    assert by_ticket == sorted([(urgent.pk, "half"), (urgent.pk, "eighty"), (help_request.pk, "half")])
    assert Escalation.objects.get().ticket_id == urgent.pk
    assert Callback.objects.get().ticket_id == replied.pk
    assert not clocks_sweep().reminded  # caught up: nothing is sent twice
    assert not Reminder.objects.filter(ticket=complaint, state=ReminderState.SENT).exists()

    travel(at(2026, 11, 24, 12, 0))  # down again over the help request's sign-for time and deadline
    sweep_twice(reminded=2, escalated=1)
    assert sorted(e.payload["reminder"] for e in events("ticket.reminder") if e.payload["id"] == help_request.pk) == [
        "eighty",
        "half",
        "sign_for",
    ]
    assert Escalation.objects.filter(ticket=help_request, reason="overdue").count() == 1
    assert len(events("ticket.escalated")) == Escalation.objects.count() == 2


# Callbacks -------------------------------------------------------------------------------------


def test_a_reply_schedules_its_callback_within_one_working_day_once(travel, make_ticket, water):
    travel(at(2026, 11, 27, 15, 0))  # Friday afternoon
    ticket = make_ticket(Status.REPLIED)

    travel(at(2026, 11, 27, 15, 1))
    sweep_twice(callbacks=1)

    callback = Callback.objects.get()
    assert callback.ticket_id == ticket.pk and callback.replied_at == ticket.replied_at
    assert callback.due_at == at(2026, 11, 30, 15, 0)  # the next working day is Monday
    assert callback.department_id == water.pk and callback.done_at is None
    [event] = events("callback.due")
    assert event.payload == {
        "ticket": ticket.number,
        "id": ticket.pk,
        "department": water.pk,
        "callback": callback.pk,
        "due_at": iso(callback.due_at),
    }
    assert event.groups == sorted([SUPERVISORS, OPERATORS, department_group(water.pk)])


# Tasks and schedule ----------------------------------------------------------------------------


def test_the_periodic_task_runs_the_sweep_and_is_on_the_beat_schedule(travel, make_ticket):
    travel(MONDAY)
    make_ticket(Status.DISPATCHED)

    result = sweep_clocks.apply(throw=True).get()

    assert result["planned"] == 1
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["routing.tasks.sweep_clocks"]["schedule"] == 60.0
    assert "routing.tasks.build_reports" in schedule
    app.loader.import_default_modules()
    assert {"routing.tasks.sweep_clocks", "routing.tasks.build_reports"} <= set(app.tasks)


# PostgreSQL: the index, and two sweeps at once ----------------------------------------------------


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A test table is tiny and PostgreSQL would rightly scan it; what matters is that the index can serve.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
def test_the_overdue_scan_uses_the_status_deadline_index(make_ticket):
    make_ticket(Status.ACCEPTED)

    plan = _plan(overdue_tickets(at(2026, 12, 31, 0, 0), Status.ACCEPTED).values("pk", "deadline")[:500])

    assert "ticket_status_deadline" in plan, plan
    assert "escalation_once_per_deadline" in plan, plan
    assert "Seq Scan on tickets_ticket" not in plan and "Sort" not in plan, plan


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
def test_the_reminder_sweep_reads_the_partial_index_of_pending_rows(make_ticket):
    make_ticket(Status.ACCEPTED)
    clocks_sweep()

    plan = _plan(Reminder.objects.filter(state=ReminderState.PENDING, due_at__lte=at(2026, 12, 31, 0, 0)))

    assert "reminder_pending_due" in plan, plan


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_escalate_an_overdue_ticket_once():
    water = DepartmentFactory(code="water-c")
    operator = UserFactory(role=Role.OPERATOR)
    tickets = []
    with time_machine.travel(MONDAY, tick=False):
        for _n in range(20):
            ticket = actions.ticket_create(actor=operator, kind="help", description="路灯不亮")
            tickets.append(actions.ticket_dispatch(ticket, actor=operator, department=water))
    later = at(2026, 11, 25, 9, 0)
    barrier, results, errors = threading.Barrier(2), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(escalations_overdue(now=later))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors
    assert sum(results) == 20
    assert Escalation.objects.count() == 20
    assert OutboxEvent.objects.filter(type="ticket.escalated").count() == 20


# Admin -----------------------------------------------------------------------------------------


def test_the_admin_lists_reminders_escalations_and_callbacks_read_only(client, admin_user, travel, make_ticket):
    travel(MONDAY)
    make_ticket(Status.REPLIED)
    make_ticket(Status.ACCEPTED, urgency="urgent")
    travel(at(2026, 11, 23, 12, 0))
    clocks_sweep()
    client.force_login(admin_user)

    for model in ("reminder", "escalation", "callback"):
        response = client.get(f"/admin/routing/{model}/")
        assert response.status_code == 200, model
        assert client.get(f"/admin/routing/{model}/add/").status_code == 403, model
