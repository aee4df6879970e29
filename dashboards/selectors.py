"""Reads for the role pages: landing-page snapshots and the ticket detail page, masked and scoped."""

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from routing.models import Callback
from tickets import clock
from tickets.models import (
    WITH_DEPARTMENT,
    Action,
    Category,
    Citizen,
    Department,
    District,
    Role,
    Status,
    Ticket,
    TimelineEntry,
    User,
    localized_name,
)
from tickets.pii import phone_mask
from tickets.selectors import reporter_hidden_from, ticket_get_for, tickets_visible_to

LIST_LIMIT = 50
CALLBACK_LIMIT = 100
# The operator console follows the events of this many of the operator's open tickets (the most recently
# changed), to move each into "waiting for callback" when its department replies.
WATCH_LIMIT = 2000
# Where an operator's ticket may be between registration and the department's reply.
ON_THE_WAY = (
    Status.REGISTERED,
    Status.DISPATCHED,
    Status.ACCEPTED,
    Status.EXTENSION_REQUESTED,
    Status.RETURNED,
    Status.REOPENED,
)


def page_role(user: User) -> str:
    """The role whose landing page the user gets; a superuser is an administrator whatever the field says."""
    return Role.ADMIN if user.is_superuser else user.role


def taken_by(user: User) -> Q:
    """The tickets an operator took: opened by them, from a call they answered, or registered by them.

    The bridge opens a call's draft with no author (created_by is empty), so a phone ticket is the
    operator's through the call they answered and, once registered, through the timeline.
    """
    answered = Ticket.objects.filter(calls__operator=user).values("pk")  # telephony's Call.ticket
    registered = TimelineEntry.objects.filter(actor=user, action=Action.REGISTER).values("ticket_id")
    return Q(created_by=user) | Q(pk__in=answered) | Q(pk__in=registered)


def _taken(user: User) -> QuerySet[Ticket]:
    """The operator's tickets (taken_by) with the relations their rows show, and no others.

    The console's lists (and every connect's snapshot) show the citizen and the lead department;
    joining the other four relations tickets_visible_to joins cost each snapshot a third of its time.
    """
    return (
        tickets_visible_to(user)
        .select_related(None)
        .select_related("citizen", "lead_department")
        .filter(taken_by(user))
    )


def operator_drafts(user: User) -> list[Ticket]:
    """The operator's drafts: their calls not yet registered, newest first."""
    mine = _taken(user).filter(status=Status.DRAFT)
    return list(mine.order_by("-created_at", "-id")[:LIST_LIMIT])


def operator_callbacks(user: User) -> list[Ticket]:
    """The operator's tickets a department has replied to: waiting for the callback (回访), the earliest due first.

    Each has `callback_due_at` (None until the periodic sweep schedules the callback).
    """
    due = Callback.objects.filter(ticket=OuterRef("pk"), replied_at=OuterRef("replied_at"), done_at__isnull=True)
    mine = _taken(user).filter(status=Status.REPLIED)
    mine = mine.annotate(callback_due_at=Subquery(due.values("due_at")[:1]))
    return list(mine.order_by(F("callback_due_at").asc(nulls_last=True), "replied_at", "id")[:CALLBACK_LIMIT])


def operator_watching(user: User) -> list[str]:
    """The numbers of the operator's tickets on their way to a reply, whose events the console follows."""
    mine = _taken(user).filter(status__in=ON_THE_WAY).order_by("-updated_at", "-id")
    return list(mine.values_list("number", flat=True)[:WATCH_LIMIT])


def operator_registered(user: User) -> list[Ticket]:
    """The tickets the operator took that were registered, the latest first."""
    mine = _taken(user).filter(registered_at__isnull=False)
    return list(mine.order_by("-registered_at", "-id")[:LIST_LIMIT])


def operator_home(user: User) -> dict[str, object]:
    """The operator's own drafts (calls still being written up) and the tickets they registered lately."""
    return {"drafts": operator_drafts(user), "registered": operator_registered(user), "now": clock.now()}


def operator_console(user: User) -> dict[str, object]:
    """The rest of the operator console's page: tickets waiting for callback, and what the form offers.

    Labels in the page's language; the category tree flattened depth first for the searchable picker.
    """
    return {
        "callbacks": operator_callbacks(user),
        "categories": category_choices(),
        "districts": [(d.pk, str(d)) for d in District.objects.order_by("code")],
        "departments": [(d.pk, str(d)) for d in Department.objects.filter(is_active=True).order_by("code")],
    }


def category_choices() -> list[dict[str, object]]:
    """The active category tree, depth first (siblings by their order, then name), for the console's picker.

    Each node: `id`, `name` (in the page's language), `other` (the name in the other language, for
    searching), `label` (the path from the root), `depth`, `leaf`. A node under an inactive parent is left out.
    """
    nodes = list(Category.objects.filter(is_active=True).order_by("sort", "name"))
    children: dict[int | None, list[Category]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    result: list[dict[str, object]] = []

    def walk(parent: int | None, trail: list[str]) -> None:
        for node in children.get(parent, []):
            name = localized_name(node)
            other = node.name_en if name == node.name else node.name
            result.append(
                {
                    "id": node.pk,
                    "name": name,
                    "other": other,
                    "label": " / ".join([*trail, name]),
                    "depth": len(trail),
                    "leaf": node.pk not in children,
                }
            )
            walk(node.pk, [*trail, name])

    walk(None, [])
    return result


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
