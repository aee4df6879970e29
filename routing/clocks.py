"""The clocks' sweeps: reminders (50 %, 80 %, missed sign-for), overdue escalation (督办), callbacks due (回访).

The deadline stored on the ticket is the truth. Nothing waits in a countdown or ETA task
(Celery on Redis re-delivers those after the visibility timeout); instead `clocks_sweep` runs
every minute, reads indexed columns, and claims each piece of work by a unique key:

- reminders are planned as rows (one per ticket, kind and deadline) with their due time as a
  column, then sent by claiming pending rows with SELECT … FOR UPDATE SKIP LOCKED;
- an escalation or a callback is claimed by inserting its row: the unique constraint lets one
  insert through, so two sweeps (or one run twice) send one event.

After an outage the next sweep finds everything that fell due meanwhile (`due_at <= now`,
`deadline < now`) and handles each item once. Events go through dashboards.publish in the
claiming transaction, so a rolled-back claim sends nothing.
"""

import contextlib
import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from dashboards.publish import OPERATORS, SUPERVISORS, department_group, publish
from tickets import clock
from tickets.models import WITH_DEPARTMENT, Action, Status, Ticket, TimelineEntry

from .calendar import SHANGHAI, is_working_day
from .deadlines import add_working_days, sign_for_deadline, time_limit_for
from .models import (
    RETURNS_FLAGGED,
    Callback,
    Escalation,
    EscalationReason,
    LimitStage,
    Reminder,
    ReminderKind,
    ReminderState,
)

logger = logging.getLogger(__name__)

__all__ = [
    "SweepResult",
    "callback_due_at",
    "callback_publish_due",
    "callbacks_schedule",
    "callbacks_settle",
    "clocks_sweep",
    "escalations_overdue",
    "escalations_resolve",
    "escalations_returned_twice",
    "fraction_point",
    "overdue_tickets",
    "reminders_plan",
    "reminders_send",
]

BATCH = 500
# Rows claimed and published per transaction. publish() holds the outbox's ordering lock until
# commit, so a transaction that publishes must stay short: other writers wait for it.
CLAIM_BATCH = 50
# A sweep stops after this many batches and leaves the rest to the next minute, so one run stays short.
MAX_BATCHES = 200
# A ticket waiting to be accepted (签收): just dispatched, or reopened to the same department.
AWAITING_ACCEPT = (Status.DISPATCHED, Status.REOPENED)
REMINDER_FRACTIONS = {ReminderKind.HALF: 0.5, ReminderKind.EIGHTY: 0.8}
T = TypeVar("T")


@dataclass
class SweepResult:
    planned: int = 0
    reminded: int = 0
    skipped: int = 0
    escalated: int = 0
    resolved: int = 0
    callbacks: int = 0
    callbacks_settled: int = 0


def clocks_sweep(*, now: datetime.datetime | None = None) -> SweepResult:
    """Run every clock once at `now` (default: the clock's now); safe to run twice or concurrently."""
    now = now or clock.now()
    result = SweepResult()
    result.planned = _step(reminders_plan, now, 0)
    result.reminded, result.skipped = _step(reminders_send, now, (0, 0))
    result.escalated = _step(escalations_overdue, now, 0) + _step(escalations_returned_twice, now, 0)
    result.resolved = _step(escalations_resolve, now, 0)
    result.callbacks = _step(callbacks_schedule, now, 0)
    result.callbacks_settled = _step(callbacks_settle, now, 0)
    if any(vars(result).values()):
        logger.info("clocks at %s: %s", now.isoformat(), result)
    return result


def _step(run: Callable[..., T], now: datetime.datetime, failed: T) -> T:
    """Run one clock; a fault in it is logged and must not stop the others (each commits its own work)."""
    # Inside a caller's transaction (a test, a task wrapped in atomic) a savepoint keeps it usable.
    guard = transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()
    try:
        with guard:
            return run(now=now)
    except Exception:
        logger.exception("clock %s failed at %s; the other clocks ran", run.__name__, now.isoformat())
        return failed


# Reminders ------------------------------------------------------------------------------------


def fraction_point(
    start: datetime.datetime, deadline: datetime.datetime, fraction: float, *, wall_clock: bool
) -> datetime.datetime:
    """The moment `fraction` of the time between `start` and `deadline` is used.

    Working-day limits count working time only (whole Shanghai calendar days that are working
    days), so half of a complaint's limit across National Day does not fall in the holiday.
    Limits in hours (urgent matters) run on the wall clock, as their deadline does.
    """
    if deadline <= start:
        return deadline
    if not wall_clock:
        segments = list(_working_segments(start, deadline))
        total = sum((end - begin for begin, end in segments), datetime.timedelta())
        if total:
            left = total * fraction
            for begin, end in segments:
                if left <= end - begin:
                    return begin + left
                left -= end - begin
            return deadline
    return start + (deadline - start) * fraction


def _working_segments(
    start: datetime.datetime, deadline: datetime.datetime
) -> Iterable[tuple[datetime.datetime, datetime.datetime]]:
    start, deadline = start.astimezone(SHANGHAI), deadline.astimezone(SHANGHAI)
    day = start.date()
    while day <= deadline.date():
        if is_working_day(day):
            midnight = datetime.datetime.combine(day, datetime.time(0), tzinfo=SHANGHAI)
            begin, end = max(start, midnight), min(deadline, midnight + datetime.timedelta(days=1))
            if end > begin:
                yield begin, end
        day += datetime.timedelta(days=1)


def _reminders_for(ticket: dict[str, Any]) -> list[Reminder]:
    """The reminders one deadline gets: 50 % and 80 % of its window, and the sign-for one while unaccepted."""
    deadline: datetime.datetime = ticket["deadline"]
    start: datetime.datetime = ticket["window_start"] or deadline
    reopened = ticket["window_action"] == Action.REOPEN
    stage = LimitStage.REOPEN if reopened else LimitStage.HANDLING
    wall_clock = ticket["window_wall_clock"]  # what a rule's own limit recorded at dispatch
    if wall_clock is None:
        wall_clock = time_limit_for(stage=stage, kind=ticket["kind"], urgency=ticket["urgency"]).hours is not None
    common = {"ticket_id": ticket["pk"], "deadline": deadline, "department_id": ticket["lead_department_id"]}
    rows = [
        Reminder(kind=kind, due_at=fraction_point(start, deadline, fraction, wall_clock=wall_clock), **common)
        for kind, fraction in REMINDER_FRACTIONS.items()
    ]
    if ticket["status"] in AWAITING_ACCEPT:
        due = sign_for_deadline(start, kind=ticket["kind"], urgency=ticket["urgency"], deadline=deadline)
        rows.append(Reminder(kind=ReminderKind.SIGN_FOR, due_at=due, **common))
    return rows


def reminders_plan(*, now: datetime.datetime) -> int:
    """Plan the reminders of every deadline that has none yet; return how many tickets were planned.

    A deadline counts as planned once its 50 % row exists (the unique key's prefix serves the
    anti-join). The window starts at the latest dispatch, reassignment or reopen: an extension keeps the start
    and moves the end, so its reminders fall in the longer window.
    """
    planned = Reminder.objects.filter(ticket=OuterRef("pk"), kind=ReminderKind.HALF, deadline=OuterRef("deadline"))
    window = TimelineEntry.objects.filter(
        ticket=OuterRef("pk"), action__in=[Action.DISPATCH, Action.REASSIGN, Action.REOPEN]
    ).order_by("-at", "-id")
    unplanned = (
        Ticket.objects.filter(status__in=WITH_DEPARTMENT, deadline__isnull=False)
        .filter(~Exists(planned))
        .annotate(
            window_start=Coalesce(Subquery(window.values("at")[:1]), F("dispatched_at")),
            window_action=Subquery(window.values("action")[:1]),
            window_wall_clock=Subquery(window.values("data__wall_clock")[:1]),
        )
        .order_by()
        .values(
            "pk",
            "status",
            "kind",
            "urgency",
            "deadline",
            "lead_department_id",
            "window_start",
            "window_action",
            "window_wall_clock",
        )
    )
    total = 0
    for _batch in range(MAX_BATCHES):
        tickets = list(unplanned[:BATCH])
        if not tickets:
            break
        rows = [row for ticket in tickets for row in _reminders_for(ticket)]
        # ignore_conflicts: another sweep may have planned the same deadline a moment ago.
        Reminder.objects.bulk_create(rows, ignore_conflicts=True)
        total += len(tickets)
        if len(tickets) < BATCH:
            break  # that was everything
    return total


def _still_meant(reminder: Reminder) -> bool:
    ticket = reminder.ticket
    if ticket.status not in WITH_DEPARTMENT or ticket.deadline != reminder.deadline:
        return False  # replied, returned, reopened or extended: this deadline is no longer the one
    return reminder.kind != ReminderKind.SIGN_FOR or ticket.status in AWAITING_ACCEPT


def reminders_send(*, now: datetime.datetime) -> tuple[int, int]:
    """Send every pending reminder due by `now`, once; return (sent, skipped).

    Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite runs one writer at a time)
    and marked in the same transaction that publishes `ticket.reminder` to the supervisors and
    the department. A reminder whose deadline no longer holds is marked skipped, unsent.
    """
    due = (
        Reminder.objects.filter(state=ReminderState.PENDING, due_at__lte=now)
        .select_related("ticket")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("due_at", "id")
    )
    sent = skipped = 0
    for _batch in range(MAX_BATCHES):
        with transaction.atomic():
            batch = list(due[:CLAIM_BATCH])
            if not batch:
                break
            for reminder in batch:
                reminder.sent_at = now
                if _still_meant(reminder):
                    reminder.state = ReminderState.SENT
                    _publish_reminder(reminder)
                    sent += 1
                else:
                    reminder.state = ReminderState.SKIPPED
                    skipped += 1
            Reminder.objects.bulk_update(batch, ["state", "sent_at"])
    return sent, skipped


def _publish_reminder(reminder: Reminder) -> None:
    ticket = reminder.ticket
    payload = {
        "ticket": ticket.number,
        "id": ticket.pk,
        "department": ticket.lead_department_id,
        "reminder": reminder.kind,
        "deadline": _iso(reminder.deadline),
        "due_at": _iso(reminder.due_at),
    }
    publish("ticket.reminder", payload, _groups(ticket.lead_department_id))


def _iso(moment: datetime.datetime | None) -> str | None:
    """Times in event payloads: ISO 8601 in UTC, whatever zone the value was computed in."""
    return moment.astimezone(datetime.UTC).isoformat() if moment else None


def _groups(department_id: int | None, *extra: str) -> list[str]:
    return [SUPERVISORS, *extra, *([department_group(department_id)] if department_id else [])]


# Escalation (督办) ------------------------------------------------------------------------------


def _chunks(items: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for offset in range(0, len(items), CLAIM_BATCH):
        yield items[offset : offset + CLAIM_BATCH]


def _escalate(candidates: list[dict[str, Any]], *, reason: str, now: datetime.datetime) -> tuple[int, set[int]]:
    """Insert one escalation per candidate and publish it; (created, ids another sweep got first)."""
    created, lost = 0, set()
    for chunk in _chunks(candidates):
        with transaction.atomic():
            for ticket in chunk:
                try:
                    with transaction.atomic():
                        _escalation_create(ticket, reason=reason, now=now)
                except IntegrityError:
                    lost.add(ticket["pk"])  # the unique key: someone escalated it between our read and insert
                    continue
                created += 1
    return created, lost


def _escalation_create(ticket: dict[str, Any], *, reason: str, now: datetime.datetime) -> None:
    escalation = Escalation.objects.create(
        ticket_id=ticket["pk"],
        reason=reason,
        deadline=ticket["deadline"] if reason == EscalationReason.OVERDUE else None,
        department_id=ticket["lead_department_id"],
        created_at=now,
    )
    payload = {
        "ticket": ticket["number"],
        "id": ticket["pk"],
        "department": ticket["lead_department_id"],
        "escalation": escalation.pk,
        "reason": reason,
        "deadline": _iso(escalation.deadline),
    }
    extra = (OPERATORS,) if reason == EscalationReason.RETURNED_TWICE else ()
    publish("ticket.escalated", payload, _groups(ticket["lead_department_id"], *extra))


def _escalate_all(tickets: QuerySet[Ticket], *, reason: str, now: datetime.datetime) -> int:
    fields = ("pk", "number", "deadline", "lead_department_id")
    total, lost = 0, set()
    for _batch in range(MAX_BATCHES):
        # Ids first, then the rows: the scan reads index entries only (an index-only scan of the open
        # tickets' status-deadline index on PostgreSQL); only the few survivors are read from the table.
        ids = list(tickets.exclude(pk__in=lost).values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        candidates = list(Ticket.objects.filter(pk__in=ids).order_by().values(*fields))
        created, lost_now = _escalate(candidates, reason=reason, now=now)
        total, lost = total + created, lost | lost_now
        if len(ids) < BATCH:
            break  # that was everything: another scan would only confirm it
    return total


def overdue_tickets(now: datetime.datetime, status: str) -> QuerySet[Ticket]:
    """Tickets in `status` past their deadline without an overdue escalation for that deadline, newest first.

    Past means `deadline < now`, as Ticket.is_overdue says. One status at a time, `status = s AND
    deadline < now ORDER BY deadline DESC` is a backward range scan of the (status, deadline)
    index that meets the not-yet-escalated tickets first; the anti-join probes the escalation's
    unique index. (With `status IN (…)` PostgreSQL misjudges how many rows are past due and may
    scan the whole table.) On PostgreSQL the scan for ids is index-only: the partial index of
    the open tickets (migration 0007) carries the id, so the tickets already escalated, most of
    those past due, cost an index entry and a probe each, never a read of the table.
    """
    escalated = Escalation.objects.filter(
        ticket=OuterRef("pk"), reason=EscalationReason.OVERDUE, deadline=OuterRef("deadline"), deadline__isnull=False
    )
    return (
        Ticket.objects.filter(status=status, deadline__lt=now).filter(~Exists(escalated)).order_by(F("deadline").desc())
    )


def escalations_overdue(*, now: datetime.datetime) -> int:
    """Escalate (督办) every ticket whose deadline has passed, once per deadline; publishes ticket.escalated."""
    return sum(
        _escalate_all(overdue_tickets(now, status), reason=EscalationReason.OVERDUE, now=now)
        for status in sorted(WITH_DEPARTMENT)
    )


def escalations_returned_twice(*, now: datetime.datetime) -> int:
    """Flag for the supervisors every ticket waiting in the dispatch queue after its second return, once."""
    flagged = Escalation.objects.filter(ticket=OuterRef("pk"), reason=EscalationReason.RETURNED_TWICE)
    tickets = (
        Ticket.objects.filter(status=Status.RETURNED, return_count__gte=RETURNS_FLAGGED)
        .filter(~Exists(flagged))
        .order_by("pk")
    )
    return _escalate_all(tickets, reason=EscalationReason.RETURNED_TWICE, now=now)


def escalations_resolve(*, now: datetime.datetime) -> int:
    """Close the open escalations whose situation is over: the ticket left the department or its deadline moved."""
    still_overdue = Ticket.objects.filter(
        pk=OuterRef("ticket_id"), status__in=WITH_DEPARTMENT, deadline=OuterRef("deadline")
    )
    still_returned = Ticket.objects.filter(pk=OuterRef("ticket_id"), status=Status.RETURNED)
    open_ = Escalation.objects.filter(resolved_at__isnull=True)
    # A supervisor's escalation is for the deadline the department works to: it ends like an overdue one.
    for_deadline = (EscalationReason.OVERDUE, EscalationReason.MANUAL)
    resolved = open_.filter(reason__in=for_deadline).filter(~Exists(still_overdue)).update(resolved_at=now)
    resolved += (
        open_.filter(reason=EscalationReason.RETURNED_TWICE).filter(~Exists(still_returned)).update(resolved_at=now)
    )
    return resolved


# Callbacks (回访) -------------------------------------------------------------------------------


def callback_due_at(replied_at: datetime.datetime) -> datetime.datetime:
    """A callback is due within one working day of the reply."""
    return add_working_days(replied_at, 1)


def callbacks_schedule(*, now: datetime.datetime) -> int:
    """Schedule the callback of every replied ticket that has none for its reply; publishes callback.due."""
    scheduled = Callback.objects.filter(ticket=OuterRef("pk"), replied_at=OuterRef("replied_at"))
    replied = (
        Ticket.objects.filter(status=Status.REPLIED, replied_at__isnull=False)
        .filter(~Exists(scheduled))
        .order_by("pk")
        .values("pk", "number", "replied_at", "deadline", "lead_department_id")
    )
    total, lost = 0, set()
    for _batch in range(MAX_BATCHES):
        tickets = list(replied.exclude(pk__in=lost)[:BATCH])
        if not tickets:
            break
        for chunk in _chunks(tickets):
            with transaction.atomic():
                for ticket in chunk:
                    try:
                        with transaction.atomic():
                            _callback_create(ticket, now=now)
                    except IntegrityError:
                        lost.add(ticket["pk"])  # recorded by an operator (or scheduled by another sweep) meanwhile
                        continue
                    total += 1
        if len(tickets) < BATCH:
            break  # that was everything
    return total


def _callback_create(ticket: dict[str, Any], *, now: datetime.datetime) -> None:
    callback = Callback.objects.create(
        ticket_id=ticket["pk"],
        department_id=ticket["lead_department_id"],
        replied_at=ticket["replied_at"],
        deadline=ticket["deadline"],
        due_at=callback_due_at(ticket["replied_at"]),
        created_at=now,
    )
    callback_publish_due(callback, number=ticket["number"])


def callback_publish_due(callback: Callback, *, number: str) -> None:
    """Tell the operators, the supervisors and the department that a callback is owed, and by when."""
    payload = {
        "ticket": number,
        "id": callback.ticket_id,
        "department": callback.department_id,
        "callback": callback.pk,
        "due_at": _iso(callback.due_at),
    }
    publish("callback.due", payload, _groups(callback.department_id, OPERATORS))


def callbacks_settle(*, now: datetime.datetime) -> int:
    """Mark done the pending callbacks whose ticket was closed or reopened another way (the ticket API).

    The result is the satisfaction the ticket recorded; routing.callbacks.callback_record is the usual path.
    """
    waiting = Ticket.objects.filter(pk=OuterRef("ticket_id"), status=Status.REPLIED, replied_at=OuterRef("replied_at"))
    satisfaction = Ticket.objects.filter(pk=OuterRef("ticket_id")).values("satisfaction")[:1]
    return (
        Callback.objects.filter(done_at__isnull=True)
        .filter(~Exists(waiting))
        .update(done_at=now, result=Coalesce(Subquery(satisfaction), F("result")))
    )
