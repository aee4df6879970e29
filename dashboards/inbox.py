"""The department inbox (承办单位): its rows, read in a few queries whatever their number, and its snapshot part.

Only ever the user's own department's tickets, lead or assisting (`tickets_visible_to`). Rows are the live
`ROW` (`ticket_row`), which gives departments neither the citizen nor the caller number, so a report's
reporter (举报人) stays hidden; the inbox adds what the department acts on: the district and category, the
sign-for time, joint handling (联办) and whose assisting input the reply still waits for.
Described in docs/dashboards.md ("Department inbox").
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from routing.models import AssistInput
from routing.selectors import return_reasons, ticket_assist_inputs
from tickets import clock
from tickets.models import TERMINAL, WITH_DEPARTMENT, Action, Department, Role, Status, Ticket, TimelineEntry, User
from tickets.selectors import tickets_visible_to

from .snapshots import snapshot_part, ticket_row

# The inbox holds the tickets with the nearest deadlines; `total` says how many more are open.
INBOX_LIMIT = 500
# Under this share of its handling window left, a deadline shows amber.
WARN_SHARE = 0.2
# Where a ticket waits for its lead department to accept it (签收).
TO_ACCEPT = (Status.DISPATCHED, Status.REOPENED)
# The filters over the inbox (the page's tabs), in order: key, label, statuses.
FILTERS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("all", gettext_lazy("All"), ()),
    ("to_accept", gettext_lazy("To accept"), TO_ACCEPT),
    ("in_progress", gettext_lazy("In progress"), (Status.ACCEPTED,)),
    ("extension", gettext_lazy("Extension requested"), (Status.EXTENSION_REQUESTED,)),
    ("replied", gettext_lazy("Replied"), (Status.REPLIED,)),
]


def inbox_actions(status: str, *, is_lead: bool) -> list[str]:
    """The buttons a row offers; the API decides (department.js keeps the same table)."""
    if not is_lead:
        return ["assist"] if status in WITH_DEPARTMENT else []
    if status in TO_ACCEPT:
        return ["accept", "return"]
    if status == Status.ACCEPTED:
        return ["reply", "extend", "return"]
    return []


def duration_text(seconds: float) -> str:
    """Two units, the largest first: "2d 3h", "3h 12m", "12m 5s" (department.js writes the same)."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(d)sd %(h)sh") % {"d": days, "h": hours}
    if hours:
        return _("%(h)sh %(m)sm") % {"h": hours, "m": minutes}
    return _("%(m)sm %(s)ss") % {"m": minutes, "s": secs}


def countdown(
    due: datetime.datetime | None, *, now: datetime.datetime, start: datetime.datetime | None = None
) -> tuple[str, str]:
    """(state, text) for a time to meet: `overdue` past it, `warn` under a fifth of the window left, else `ok`."""
    if due is None:
        return "none", "—"
    left = (due - now).total_seconds()
    if left < 0:
        return "overdue", _("Overdue by %(duration)s") % {"duration": duration_text(left)}
    text = _("%(duration)s left") % {"duration": duration_text(left)}
    window = (due - start).total_seconds() if start else 0
    return ("warn" if window > 0 and left < WARN_SHARE * window else "ok"), text


@dataclass
class InboxRow:
    ticket: Ticket
    department_id: int
    now: datetime.datetime
    accept_by: datetime.datetime | None = None
    window_start: datetime.datetime | None = None
    assisting: tuple[Department, ...] = ()
    assist_missing: tuple[Department, ...] = ()
    input_given: bool = False

    @property
    def is_lead(self) -> bool:
        return self.ticket.lead_department_id == self.department_id

    @property
    def actions(self) -> list[str]:
        return inbox_actions(self.ticket.status, is_lead=self.is_lead)

    @property
    def overdue(self) -> bool:
        return self.ticket.is_overdue(self.now)

    @property
    def deadline_countdown(self) -> tuple[str, str]:
        if self.ticket.status not in WITH_DEPARTMENT:  # replied: the clock has stopped
            return "none", "—"
        return countdown(self.ticket.deadline, now=self.now, start=self.window_start)

    @property
    def accept_countdown(self) -> tuple[str, str]:
        return countdown(self.accept_by, now=self.now) if self.accept_by else ("none", "")

    def as_json(self, user: User) -> dict[str, Any]:
        t = self.ticket
        row = ticket_row(t, user, now=self.now)
        row.update(
            is_lead=self.is_lead,
            district_name=str(t.district) if t.district_id else None,
            category_name=str(t.category) if t.category_id else None,
            accept_by=_iso(self.accept_by),
            window_start=_iso(self.window_start),
            assisting=[_department(d) for d in self.assisting],
            assist_missing=[_department(d) for d in self.assist_missing],
            input_given=self.input_given,
        )
        return row


def inbox_tickets(user: User) -> QuerySet[Ticket]:
    """The department's open tickets, lead or assisting, the nearest deadline first (none last)."""
    tickets = tickets_visible_to(user).exclude(status__in=TERMINAL).prefetch_related("assisting_departments")
    return tickets.order_by(F("deadline").asc(nulls_last=True), "id")


def inbox_rows(user: User, tickets: list[Ticket], *, now: datetime.datetime) -> list[InboxRow]:
    """The rows of these tickets, with the sign-for time and the assisting input, in two more queries.

    Mirrors routing.selectors: `ticket_accept_by` (from the last dispatch, reassignment or reopen) and
    `ticket_assist_missing` (input since the ticket was last dispatched, or reopened after that).
    """
    ids = [t.pk for t in tickets]
    latest: dict[int, tuple[datetime.datetime, dict]] = {}
    reopened: dict[int, datetime.datetime] = {}
    entries = TimelineEntry.objects.filter(
        ticket_id__in=ids, action__in=(Action.DISPATCH, Action.REASSIGN, Action.REOPEN)
    ).order_by("at", "id")
    for ticket_id, action, at, data in entries.values_list("ticket_id", "action", "at", "data"):
        latest[ticket_id] = (at, data if isinstance(data, dict) else {})
        if action == Action.REOPEN:
            reopened[ticket_id] = at
    joint = [t.pk for t in tickets if t.assisting_departments.all()]
    inputs: dict[int, list[tuple[int, datetime.datetime]]] = {}
    for ticket_id, department_id, at in AssistInput.objects.filter(ticket_id__in=joint).values_list(
        "ticket_id", "department_id", "at"
    ):
        inputs.setdefault(ticket_id, []).append((department_id, at))

    rows = []
    for t in tickets:
        at, data = latest.get(t.pk, (None, {}))
        accept_by = data.get("accept_by") if t.status in TO_ACCEPT else None
        since = t.dispatched_at or t.created_at
        if t.pk in reopened and reopened[t.pk] > since:
            since = reopened[t.pk]
        given = {department for department, when in inputs.get(t.pk, []) if when >= since}
        assisting = tuple(t.assisting_departments.all())
        rows.append(
            InboxRow(
                ticket=t,
                department_id=user.department_id,
                now=now,
                accept_by=datetime.datetime.fromisoformat(accept_by) if accept_by else None,
                window_start=at,
                assisting=assisting,
                assist_missing=tuple(d for d in assisting if d.pk not in given),
                input_given=user.department_id in given,
            )
        )
    return rows


def inbox_read(user: User) -> dict[str, Any]:
    """The inbox as of now: rows (at most INBOX_LIMIT), how many tickets are open in all, how many overdue."""
    now = clock.now()
    tickets = inbox_tickets(user)
    rows = inbox_rows(user, list(tickets[:INBOX_LIMIT]), now=now)
    total = len(rows) if len(rows) < INBOX_LIMIT else tickets.count()
    return {"rows": rows, "total": total, "overdue_count": sum(row.overdue for row in rows), "now": now}


def inbox_row_get(user: User, number: str) -> InboxRow | None:
    """One row of the user's inbox, or None when the ticket is not there (not theirs, closed, returned)."""
    ticket = inbox_tickets(user).filter(number=number).first()
    return inbox_rows(user, [ticket], now=clock.now())[0] if ticket else None


def department_page(user: User) -> dict[str, Any]:
    """What the inbox page draws before its socket connects, and what its action dialogs offer."""
    inbox = inbox_read(user)
    rows: list[InboxRow] = inbox["rows"]
    filters = [
        (key, label, sum(1 for row in rows if not statuses or row.ticket.status in statuses), " ".join(statuses))
        for key, label, statuses in FILTERS
    ]
    return {
        **inbox,
        **action_choices(user),
        "department": user.department,
        "hidden_count": inbox["total"] - len(rows),
        "filters": filters,
        # A ticket that reaches one of these leaves the inbox (the page's live script removes it).
        "terminal_statuses": sorted(TERMINAL),
    }


def action_choices(user: User) -> dict[str, Any]:
    """What the action dialogs offer: the active return reasons, and the departments a return may name."""
    others = Department.objects.filter(is_active=True).exclude(pk=user.department_id).order_by("code")
    return {"return_reasons": list(return_reasons()), "departments": [(d.pk, str(d)) for d in others]}


def ticket_page_extras(user: User, ticket: Ticket) -> dict[str, Any]:
    """What the ticket page adds: the assisting input (联办) for everyone who sees the ticket, and for
    department staff the ticket's inbox row (its actions; None once it has left the inbox) and the dialogs' lists.
    """
    assisting = ticket.assisting_departments.all()
    extras: dict[str, Any] = {"assist_inputs": list(ticket_assist_inputs(ticket)) if assisting else []}
    if user.role == Role.DEPARTMENT and not user.is_superuser and user.department_id:
        row = inbox_row_get(user, ticket.number)
        extras.update(action_choices(user), department_live=True, inbox_row=row)
        extras["inbox_row_json"] = row.as_json(user) if row else None
    return extras


@snapshot_part("department", "inbox")
def department_inbox(user: User) -> dict[str, Any]:
    """The department's open tickets (lead or assisting), the nearest deadline first, as inbox rows."""
    inbox = inbox_read(user)
    department = user.department
    return {
        "department": {"id": department.pk, "name": str(department)},
        "rows": [row.as_json(user) for row in inbox["rows"]],
        "total": inbox["total"],
        "overdue_count": inbox["overdue_count"],
    }


def _department(department: Department) -> dict[str, Any]:
    return {"id": department.pk, "name": str(department)}


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
