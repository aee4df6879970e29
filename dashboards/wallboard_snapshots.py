"""The supervisor view's wallboard and supervision lists (班长大屏, 督办台): snapshot parts and the lists' selector.

- `data.wallboard`: every wallboard figure (dashboards.wallboard), one computation a second shared
  by the process's sockets; the consumer then refreshes it while the socket is open.
- `data.supervision`: what a supervisor acts on — extension requests with their reason, returned
  tickets with their return reason, overdue tickets, open escalations made by hand. The page
  reads it again from GET /api/routing/supervision/ when an event touches one of its tickets.

Both are described in docs/dashboards.md ("Supervisor wallboard").
"""

import datetime
from collections.abc import Iterable
from typing import Any

from routing.models import RETURNS_FLAGGED, Escalation, EscalationReason
from tickets import clock
from tickets.models import WITH_DEPARTMENT, Action, Department, Status, Ticket, TimelineEntry, User
from tickets.selectors import tickets_visible_to

from .selectors import LIST_LIMIT
from .snapshots import snapshot_part, ticket_row
from .wallboard import wallboard_cached

WALLBOARD_PART = "wallboard"
SUPERVISION_PART = "supervision"


@snapshot_part("supervisor", WALLBOARD_PART)
def supervisor_wallboard(user: User) -> dict[str, Any]:
    """The wallboard's figures: counts and labels only, the same for every supervisor."""
    return wallboard_cached()


@snapshot_part("supervisor", SUPERVISION_PART)
def supervisor_supervision(user: User) -> dict[str, Any]:
    return supervision_lists(user)


def supervisor_page(user: User) -> dict[str, Any]:
    """What the supervision page draws before its socket connects: wallboard, figures, lists, departments."""
    wallboard = wallboard_cached()
    return {
        "wallboard": wallboard,
        "figures": wallboard_figures(wallboard),
        "supervision": supervision_lists(user),
        "departments": list(Department.objects.filter(is_active=True).order_by("code")),
    }


def _percent(rate: float | None) -> float | None:
    return round(rate * 100, 1) if rate is not None else None


def wallboard_figures(wallboard: dict[str, Any]) -> dict[str, int | float | None]:
    """The wallboard's headline numbers by the key the page's `data-figure` hooks use (supervisor.js mirrors it).

    Rates are percentages with one decimal; None where the base is 0 (the page shows "—").
    """
    queue, calls, rates = wallboard["queue"], wallboard["calls"], wallboard["rates"]
    operators = queue["operators"]
    return {
        "waiting": queue["waiting"],
        "longest_wait": queue["longest_wait"],
        "logged_in": operators["logged_in"],
        "available": operators["available"],
        "on_call": operators["on_call"],
        "ringing": operators["ringing"],
        "paused": operators["paused"],
        "calls_today": calls["total"],
        "answered": calls["answered"],
        "abandoned": calls["abandoned"],
        "self_service": calls["self_service"],
        "in_progress": calls["in_progress"],
        "service_level": _percent(calls["service_level"]["rate"]),
        "average_speed_of_answer": calls["average_speed_of_answer"],
        "average_handle_time": calls["average_handle_time"],
        "tickets_today": wallboard["tickets"]["total"],
        "open": sum(d["open"] for d in wallboard["departments"]),
        "overdue": sum(d["overdue"] for d in wallboard["departments"]),
        "on_time_today": _percent(rates["today"]["on_time"]["rate"]),
        "on_time_week": _percent(rates["week"]["on_time"]["rate"]),
        "satisfaction_today": _percent(rates["today"]["satisfaction"]["rate"]),
        "satisfaction_week": _percent(rates["week"]["satisfaction"]["rate"]),
    }


def supervision_lists(user: User, *, now: datetime.datetime | None = None) -> dict[str, Any]:
    """The supervision lists, JSON-ready, each at most LIST_LIMIT rows; rows as `ticket_row` plus what the list adds.

    - `extensions`: extension requests (延期申请), nearest deadline first, with `extension`: the
      requested date, the reason, who asked and when;
    - `returned`: returned tickets (退单) waiting to be dispatched again, those returned twice
      (`flagged`: only a supervisor dispatches them) first, with `return`: the reason, its note,
      the department that returned it and the one it named as responsible;
    - `overdue`: tickets past their deadline at a department, the most overdue first, with
      `escalated` when a supervisor has escalated it by hand for that deadline;
    - `escalations`: open escalations made by hand, newest first.
    """
    now = now or clock.now()
    tickets = tickets_visible_to(user)
    extensions = list(tickets.filter(status=Status.EXTENSION_REQUESTED).order_by("deadline", "id")[:LIST_LIMIT])
    returned = list(tickets.filter(status=Status.RETURNED).order_by("-return_count", "-updated_at", "-id")[:LIST_LIMIT])
    overdue = list(tickets.filter(status__in=WITH_DEPARTMENT, deadline__lt=now).order_by("deadline", "id")[:LIST_LIMIT])
    escalations = list(
        Escalation.objects.filter(
            resolved_at__isnull=True, reason=EscalationReason.MANUAL, ticket__in=tickets.values("pk")
        )
        .select_related("created_by")
        .order_by("-created_at", "-id")[:LIST_LIMIT]
    )
    requests = _last_entries(extensions, Action.REQUEST_EXTENSION)
    returns = _last_entries(returned, Action.RETURN)
    by_hand = set(
        Escalation.objects.filter(
            ticket__in=[t.pk for t in overdue], reason=EscalationReason.MANUAL, resolved_at__isnull=True
        ).values_list("ticket_id", flat=True)
    )
    escalated = tickets.in_bulk([e.ticket_id for e in escalations])
    names = _department_names(
        [
            *(e.data.get(key) for e in returns.values() for key in ("department", "responsible")),
            *(e.department_id for e in escalations),
        ]
    )
    return {
        "extensions": [
            {**ticket_row(t, user, now=now), "extension": _extension(t, requests.get(t.pk))} for t in extensions
        ],
        "returned": [
            {
                **ticket_row(t, user, now=now),
                "flagged": t.return_count >= RETURNS_FLAGGED,
                "return": _return(returns.get(t.pk), names),
            }
            for t in returned
        ],
        "overdue": [{**ticket_row(t, user, now=now), "escalated": t.pk in by_hand} for t in overdue],
        "escalations": [_escalation(e, escalated[e.ticket_id], user, names, now) for e in escalations],
    }


def _last_entries(tickets: Iterable[Ticket], action: str) -> dict[int, TimelineEntry]:
    """Each ticket's latest timeline entry of `action`, in one query."""
    latest: dict[int, TimelineEntry] = {}
    ids = [t.pk for t in tickets]
    if not ids:
        return latest
    entries = TimelineEntry.objects.filter(ticket_id__in=ids, action=action).select_related("actor")
    for entry in entries.order_by("ticket_id", "-at", "-id"):
        latest.setdefault(entry.ticket_id, entry)
    return latest


def _department_names(ids: Iterable[Any]) -> dict[int, str]:
    wanted = {i for i in ids if isinstance(i, int)}
    return {pk: str(d) for pk, d in Department.objects.in_bulk(wanted).items()} if wanted else {}


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _who(user: User | None) -> str | None:
    return (user.get_full_name() or user.username) if user is not None else None


def _extension(ticket: Ticket, entry: TimelineEntry | None) -> dict[str, Any]:
    return {
        "until": _iso(ticket.extension_until),
        "reason": entry.note if entry else "",
        "requested_at": _iso(entry.at) if entry else None,
        "requested_by": _who(entry.actor) if entry else None,
    }


def _return(entry: TimelineEntry | None, names: dict[int, str]) -> dict[str, Any] | None:
    if entry is None:
        return None
    data = entry.data or {}
    reason = data.get("reason") or ""
    department, responsible = data.get("department"), data.get("responsible")
    return {
        "reason": reason,
        "code": data.get("code") or "",
        "note": entry.note if entry.note != reason else "",
        "department": department,
        "department_name": names.get(department),
        "responsible": responsible,
        "responsible_name": names.get(responsible),
        "at": _iso(entry.at),
    }


def _escalation(
    escalation: Escalation, ticket: Ticket, user: User, names: dict[int, str], now: datetime.datetime
) -> dict[str, Any]:
    return {
        **ticket_row(ticket, user, now=now),
        "escalation": {
            "id": escalation.pk,
            "reason": escalation.reason,
            "reason_display": escalation.get_reason_display(),
            "department": escalation.department_id,
            "department_name": names.get(escalation.department_id),
            "deadline": _iso(escalation.deadline),
            "note": escalation.note,
            "created_at": _iso(escalation.created_at),
            "created_by": _who(escalation.created_by),
        },
    }
