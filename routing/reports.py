"""Periodic reports (定期通报): each department's figures per day and per week, computed from the timeline and stored.

A period P runs from its first day's 00:00 to the next period's 00:00, Asia/Shanghai (a week
starts on Monday). Every figure counts events that happened during P, for the department that
held the ticket as lead department at that moment:

received
    Dispatches (派单) to the department. A ticket dispatched again after a return counts again,
    and so does one a supervisor reassigned (改派) to it; the reassignment ends the previous
    department's window as a return would, without counting a return.
accepted
    Acceptances (签收), of a dispatch or of a reopened ticket.
accepted in time
    Of those, the ones made no later than the sign-for deadline: one working day after the
    dispatch or reopen by default (``routing.deadlines.sign_for_deadline``), never after the
    handling deadline. The time the dispatch or reopen entry recorded (``accept_by``) wins.
replied
    Replies (办结回复).
replied on time
    Of those, the ones with ``replied_at <= deadline``, the deadline in force after any approved extension.
overdue
    Handling deadlines that passed during P, before the report was built, while the department
    held the ticket without having replied: replied late, not replied yet, or returned or
    merged after the deadline. Counted in the period in which the deadline fell.
returned
    Returns (退单) by the department.
extensions
    Extensions approved (the deadline moved); refused requests do not count.
reopened
    Tickets reopened (重办) after an unsatisfied callback.
satisfied, basically satisfied, unsatisfied
    Callback results recorded: a close after the callback records one of the first two, a reopen the third.

Rates (not stored; ``Report`` properties): satisfaction rate = (satisfied + basically satisfied)
/ rated; on-time rate = replied on time / replied; none when the base is 0.

The deadline of a handling window (from a dispatch or reopen to the reply, return or merge):
approved extensions record the old and new deadline in the timeline, and the ticket row holds
its current window's deadline; an earlier window without an extension has the deadline its
dispatch or reopen entry recorded (entries from before that was recorded: the one its time
limit gives, ``deadline_for`` / ``reopen_deadline_for``).

Building is idempotent (update_or_create on period, first day and department): the periodic
task rebuilds the recent periods every hour and ``manage.py build_reports`` any range.
"""

import datetime
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from tickets import clock
from tickets.models import WITH_DEPARTMENT, Action, Department, Role, Ticket, TimelineEntry, User

from .calendar import SHANGHAI
from .deadlines import deadline_for, reopen_deadline_for, sign_for_deadline
from .models import REPORT_FIGURES, Report, ReportPeriod

__all__ = [
    "Fact",
    "period_bounds",
    "period_start",
    "report_rows",
    "reports_build",
    "reports_build_recent",
    "reports_visible_to",
    "ticket_facts",
]

# The timeline entries the figures are made of.
WALKED = (
    Action.DISPATCH,
    Action.REASSIGN,
    Action.ACCEPT,
    Action.APPROVE_EXTENSION,
    Action.REPLY,
    Action.RETURN,
    Action.CLOSE,
    Action.REOPEN,
    Action.MERGE,
)
SATISFACTION_FIGURES = {"satisfied": "satisfied", "basically": "basically_satisfied"}
CHUNK = 500
# The hourly task also rebuilds any day of this many past days that has no report yet (an outage).
CATCH_UP_DAYS = 14


@dataclass(frozen=True)
class Fact:
    """One counted event: `figure` +1 for `department` at `at`."""

    department_id: int | None
    figure: str
    at: datetime.datetime


@dataclass
class _Window:
    department_id: int | None
    start: datetime.datetime
    reopen: bool
    accept_by: datetime.datetime | None  # the sign-for time the dispatch or reopen entry recorded
    entries: list[TimelineEntry] = field(default_factory=list)
    end: datetime.datetime | None = None
    deadline: datetime.datetime | None = None  # as the dispatch or reopen entry recorded it


# Periods ---------------------------------------------------------------------------------------


def period_start(period: str, day: datetime.date) -> datetime.date:
    """The first day of the period that contains `day` (the Monday for a week)."""
    return day - datetime.timedelta(days=day.weekday()) if period == ReportPeriod.WEEK else day


def period_bounds(period: str, start: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[from, to) of the period that starts on `start`, as Shanghai midnights."""
    begin = datetime.datetime.combine(start, datetime.time(0), tzinfo=SHANGHAI)
    return begin, begin + datetime.timedelta(days=7 if period == ReportPeriod.WEEK else 1)


def _starts(period: str, first: datetime.date, last: datetime.date) -> list[datetime.date]:
    step = datetime.timedelta(days=7 if period == ReportPeriod.WEEK else 1)
    day, starts = period_start(period, first), []
    while day <= last:
        starts.append(day)
        day += step
    return starts


# Facts from one ticket's timeline ----------------------------------------------------------------


def _when(value: Any) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None


def _windows(entries: Iterable[TimelineEntry]) -> Iterator[Fact | _Window]:
    """Split a ticket's timeline into handling windows, yielding the facts that need no deadline on the way."""
    department: int | None = None
    window: _Window | None = None
    for entry in entries:
        action, at = entry.action, entry.at
        if action in (Action.DISPATCH, Action.REASSIGN):
            if window is not None:  # reassigned: the previous lead's window ends here
                window.end = at
            department = entry.data.get("department")
            window = _Window(department, at, reopen=False, accept_by=_when(entry.data.get("accept_by")))
            window.deadline = _when(entry.data.get("deadline"))
            yield window
            yield Fact(department, "received", at)
        elif action == Action.REOPEN:
            yield Fact(department, "reopened", at)
            yield Fact(department, "unsatisfied", at)
            window = _Window(department, at, reopen=True, accept_by=_when(entry.data.get("accept_by")))
            window.deadline = _when(entry.data.get("deadline"))
            yield window
        elif action == Action.CLOSE:
            figure = SATISFACTION_FIGURES.get(entry.data.get("satisfaction", ""))
            if figure:
                yield Fact(department, figure, at)
        elif action == Action.RETURN:
            yield Fact(entry.data.get("department", department), "returned", at)
            if window is not None:
                window.end, window = at, None
            department = None
        elif window is not None:
            window.entries.append(entry)
            if action in (Action.REPLY, Action.MERGE):
                window.end, window = at, None


def _deadlines(window: _Window, ticket: Ticket, *, last: bool) -> tuple[datetime.datetime, datetime.datetime]:
    """(first, final) handling deadline of a window; see the module docstring."""
    extended = [e for e in window.entries if e.action == Action.APPROVE_EXTENSION and e.data.get("deadline")]
    if last and ticket.deadline is not None:
        final = ticket.deadline
    elif extended:
        final = _when(extended[-1].data["deadline"])
    elif window.deadline is not None:
        final = window.deadline
    else:  # entries written before dispatches recorded their deadline
        limit = reopen_deadline_for if window.reopen else deadline_for
        final = limit(kind=ticket.kind, urgency=ticket.urgency, start=window.start)
    first = _when(extended[0].data.get("previous_deadline")) if extended else None
    return first or final, final


def ticket_facts(ticket: Ticket, entries: Iterable[TimelineEntry], *, now: datetime.datetime) -> Iterator[Fact]:
    """Every counted event of one ticket, from its timeline entries in order."""
    windows: list[_Window] = []
    for item in _windows(entries):
        if isinstance(item, _Window):
            windows.append(item)
        else:
            yield item
    for index, window in enumerate(windows):
        first, final = _deadlines(window, ticket, last=index == len(windows) - 1)
        dept = window.department_id
        accepts = [e for e in window.entries if e.action == Action.ACCEPT][:1]
        for accept in accepts:
            yield Fact(dept, "accepted", accept.at)
            sign_for = window.accept_by or sign_for_deadline(
                window.start, kind=ticket.kind, urgency=ticket.urgency, deadline=first
            )
            if accept.at <= sign_for:
                yield Fact(dept, "accepted_in_time", accept.at)
        for entry in window.entries:
            if entry.action == Action.APPROVE_EXTENSION:
                yield Fact(dept, "extensions", entry.at)
            elif entry.action == Action.REPLY:
                yield Fact(dept, "replied", entry.at)
                if entry.at <= final:
                    yield Fact(dept, "replied_on_time", entry.at)
        if final < now and (window.end is None or window.end > final):
            yield Fact(dept, "overdue", final)


# Counting and storing --------------------------------------------------------------------------


def _candidates(begin: datetime.datetime, end: datetime.datetime) -> list[int]:
    """Tickets that may have a fact in [begin, end): an entry since `begin` or an open window's deadline inside.

    Entries after `end` matter too: a late reply tells that a deadline inside was missed.
    """
    moved = TimelineEntry.objects.filter(at__gte=begin, action__in=WALKED).values_list("ticket_id", flat=True)
    open_ = Ticket.objects.filter(status__in=WITH_DEPARTMENT, deadline__gte=begin, deadline__lt=end)
    return sorted(set(moved.order_by().distinct()) | set(open_.order_by().values_list("pk", flat=True)))


def _facts_between(begin: datetime.datetime, end: datetime.datetime, now: datetime.datetime) -> Iterator[Fact]:
    ids = _candidates(begin, end)
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        tickets = Ticket.objects.only("pk", "kind", "urgency", "deadline").in_bulk(chunk)
        by_ticket: dict[int, list[TimelineEntry]] = {pk: [] for pk in chunk}
        entries = TimelineEntry.objects.filter(ticket_id__in=chunk, action__in=WALKED).only(
            "ticket_id", "action", "at", "data"
        )
        for entry in entries.order_by("ticket_id", "at", "id"):
            by_ticket[entry.ticket_id].append(entry)
        for pk, ticket_entries in by_ticket.items():
            for fact in ticket_facts(tickets[pk], ticket_entries, now=now):
                if fact.department_id is not None and begin <= fact.at < end:
                    yield fact


def reports_build(
    *,
    first: datetime.date,
    last: datetime.date,
    periods: Iterable[str] = (ReportPeriod.DAY, ReportPeriod.WEEK),
    now: datetime.datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Compute and store the reports of every day and/or week from `first` to `last`; return the rows written.

    Every active department gets a row for every period (zeros included), and so does an
    inactive one with events in it. Running it again rewrites the same rows.
    """
    now = now or clock.now()
    starts = {period: _starts(period, first, last) for period in periods}
    bounds = [period_bounds(period, start) for period, days in starts.items() for start in days]
    if not bounds:
        return 0
    begin, end = min(b for b, _e in bounds), max(e for _b, e in bounds)
    counts: Counter[tuple[str, datetime.date, int, str]] = Counter()
    for fact in _facts_between(begin, end, now):
        day = fact.at.astimezone(SHANGHAI).date()
        for period in starts:
            counts[(period, period_start(period, day), fact.department_id, fact.figure)] += 1
    seen = {department for _period, _start, department, _figure in counts}
    departments = list(Department.objects.filter(Q(is_active=True) | Q(pk__in=seen)).order_by("code"))
    written = 0
    for period, days in starts.items():
        for start in days:
            with transaction.atomic():
                for department in departments:
                    figures = {name: counts[(period, start, department.pk, name)] for name in REPORT_FIGURES}
                    Report.objects.update_or_create(
                        period=period, start=start, department=department, defaults={**figures, "built_at": now}
                    )
            written += len(departments)
            if progress:
                progress(f"{ReportPeriod(period).label} {start.isoformat()}: {len(departments)}")
    return written


def reports_build_recent(*, now: datetime.datetime | None = None) -> int:
    """Rebuild today, this week and last week (days and weeks), plus any recent day never built (after an outage)."""
    now = now or clock.now()
    today = now.astimezone(SHANGHAI).date()
    first = period_start(ReportPeriod.WEEK, today) - datetime.timedelta(days=7)
    oldest = today - datetime.timedelta(days=CATCH_UP_DAYS)
    built = set(
        Report.objects.filter(period=ReportPeriod.DAY, start__gte=oldest, start__lt=first).values_list(
            "start", flat=True
        )
    )
    missing = [oldest + datetime.timedelta(days=n) for n in range((first - oldest).days)]
    missing = [day for day in missing if day not in built]
    return reports_build(first=min([first, *missing]), last=today, now=now)


# Reading ---------------------------------------------------------------------------------------


def reports_visible_to(user: User) -> QuerySet[Report]:
    """Supervisors and administrators read every department's reports; department staff only their own."""
    reports = Report.objects.select_related("department")
    if getattr(user, "is_superuser", False) or getattr(user, "role", None) in (Role.SUPERVISOR, Role.ADMIN):
        return reports
    if getattr(user, "role", None) == Role.DEPARTMENT and user.department_id:
        return reports.filter(department_id=user.department_id)
    return reports.none()


def report_rows(user: User, *, period: str, start: datetime.date) -> list[Report]:
    """The stored rows of one period that the user may read, ranked (see `report_rank_key`)."""
    rows = reports_visible_to(user).filter(period=period, start=start).order_by("department__code")
    return sorted(rows, key=report_rank_key)


def report_rank_key(row: Report) -> tuple:
    """The 定期通报 ranking: on-time replies first, then satisfaction, then accepted in time, then fewest overdue.

    A department with nothing to rate in a figure ranks after those that have one; ties keep code order.
    """

    def best_first(rate: float | None) -> tuple[bool, float]:
        return (rate is None, -(rate or 0.0))

    return (
        *best_first(row.on_time_rate),
        *best_first(row.satisfaction_rate),
        *best_first(row.accepted_in_time_rate),
        row.overdue,
    )
