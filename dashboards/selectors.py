"""Reads for the role pages: landing-page snapshots and the ticket detail page, masked and scoped."""

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, F, QuerySet

from tickets import clock
from tickets.models import TERMINAL, WITH_DEPARTMENT, Citizen, Role, Status, Ticket, TimelineEntry, User
from tickets.pii import phone_mask
from tickets.selectors import reporter_hidden_from, ticket_get_for, tickets_visible_to

LIST_LIMIT = 50


def page_role(user: User) -> str:
    """The role whose landing page the user gets; a superuser is an administrator whatever the field says."""
    return Role.ADMIN if user.is_superuser else user.role


def operator_home(user: User) -> dict[str, object]:
    """The operator's own drafts (calls still being written up) and the tickets they registered lately."""
    mine = tickets_visible_to(user).filter(created_by=user)
    return {
        "drafts": list(mine.filter(status=Status.DRAFT).order_by("-created_at")[:LIST_LIMIT]),
        "registered": list(mine.filter(registered_at__isnull=False).order_by("-registered_at")[:LIST_LIMIT]),
        "now": clock.now(),
    }


def supervisor_home(user: User) -> dict[str, object]:
    """Counts by status, overdue tickets, returned tickets waiting for re-dispatch, extension requests."""
    now = clock.now()
    tickets = tickets_visible_to(user)
    counts = dict(tickets.order_by().values_list("status").annotate(n=Count("id")))
    return {
        "status_counts": [(status.value, status.label, counts.get(status.value, 0)) for status in Status],
        "overdue": list(tickets.filter(status__in=WITH_DEPARTMENT, deadline__lt=now).order_by("deadline")[:LIST_LIMIT]),
        "returned": list(tickets.filter(status=Status.RETURNED).order_by("-updated_at")[:LIST_LIMIT]),
        "extensions": list(tickets.filter(status=Status.EXTENSION_REQUESTED).order_by("deadline")[:LIST_LIMIT]),
        "now": now,
    }


@dataclass
class InboxRow:
    ticket: Ticket
    is_lead: bool
    overdue: bool


def department_home(user: User) -> dict[str, object]:
    """The department's open tickets (lead or assisting), the nearest deadline first."""
    now = clock.now()
    tickets: QuerySet[Ticket] = (
        tickets_visible_to(user).exclude(status__in=TERMINAL).order_by(F("deadline").asc(nulls_last=True), "id")
    )
    rows = [
        InboxRow(ticket=t, is_lead=t.lead_department_id == user.department_id, overdue=t.is_overdue(now))
        for t in tickets[: LIST_LIMIT * 4]
    ]
    return {
        "department": user.department,
        "rows": rows,
        "overdue_count": sum(row.overdue for row in rows),
        "now": now,
        # A ticket that reaches one of these leaves the inbox (the page's live script removes it).
        "terminal_statuses": sorted(TERMINAL),
    }


@dataclass
class TimelineRow:
    entry: TimelineEntry
    changed: list[str]


@dataclass
class TicketPage:
    ticket: Ticket
    reporter_hidden: bool
    citizen: Citizen | None
    citizen_phones: list[str]
    caller_masked: str
    external_ref: str
    overdue: bool
    now: datetime.datetime
    timeline: list[TimelineRow] = field(default_factory=list)


def ticket_page(user: User, number: str) -> TicketPage:
    """One ticket as its page shows it; 404 when the user may not see it.

    Phones and the ID number are masked for everyone; a report (举报) hides its reporter
    (citizen and caller number) from departments.
    """
    ticket = ticket_get_for(user, number)
    hidden = reporter_hidden_from(user, ticket)
    now = clock.now()
    citizen = None if hidden else ticket.citizen
    entries = TimelineEntry.objects.filter(ticket=ticket).select_related("actor")
    return TicketPage(
        ticket=ticket,
        reporter_hidden=hidden,
        citizen=citizen,
        citizen_phones=[p.masked for p in citizen.phones.all()] if citizen else [],
        caller_masked="" if hidden else phone_mask(ticket.caller_number),
        external_ref="" if hidden else (ticket.external_ref or ""),
        overdue=ticket.is_overdue(now),
        now=now,
        timeline=[TimelineRow(entry=e, changed=_changed_labels(e)) for e in entries],
    )


def _changed_labels(entry: TimelineEntry) -> list[str]:
    """The names of the fields an edit changed; the values stay out of the page (they may be personal)."""
    changed = entry.data.get("changed") if isinstance(entry.data, dict) else None
    if not isinstance(changed, dict):
        return []
    labels = []
    for name in changed:
        try:
            labels.append(str(Ticket._meta.get_field(name).verbose_name))
        except FieldDoesNotExist:
            labels.append(name)
    return labels
