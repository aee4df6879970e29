"""Live views: what each dashboard's socket sends on connect and on resync, registered by name.

A view names the roles that may open it, the streams (channel-layer groups) its socket joins,
and the parts of its snapshot. Any app adds a part to a view from its own `snapshots.py`
(imported at start-up by `DashboardsConfig.ready`)::

    from dashboards.snapshots import snapshot_part

    @snapshot_part("supervisor", "queues")
    def supervisor_queues(user) -> dict:  # JSON-ready, scoped to `user`, personal data masked
        return {...}

and the page reads it as `data.queues`. Parts run in the socket's language, inside one
read-only transaction with the stream numbers, so a snapshot is exactly the state after the
event numbered `streams[name]` in each stream: the deltas that follow it apply on top.
"""

import datetime
from collections.abc import Callable, Hashable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, transaction

from tickets import clock
from tickets.models import Role, Ticket, User
from tickets.selectors import reporter_hidden_from

from . import selectors
from .publish import OPERATORS, SUPERVISORS, department_group, operator_group, stream_seqs

SnapshotPart = Callable[[User], Any]
_T = TypeVar("_T")
# What the parts of the snapshot being built read once for all of them (snapshot_shared).
_shared: ContextVar[dict[Hashable, Any] | None] = ContextVar("snapshot_shared", default=None)


@dataclass
class View:
    name: str
    roles: frozenset[str]
    streams: Callable[[User], list[str]]
    parts: dict[str, SnapshotPart] = field(default_factory=dict)

    def allows(self, user: User) -> bool:
        """The same rule as the view's page: the page role, and a stream to listen to."""
        return selectors.page_role(user) in self.roles and bool(self.streams(user))


VIEWS: dict[str, View] = {}
# The view a socket gets when it names none: the landing page of the user's role.
DEFAULT_VIEWS = {
    Role.OPERATOR: "operator",
    Role.SUPERVISOR: "supervisor",
    Role.ADMIN: "supervisor",
    Role.DEPARTMENT: "department",
}


def view_register(name: str, *, roles: Iterable[str], streams: Callable[[User], list[str]]) -> View:
    if name in VIEWS:
        raise ValueError(f"live view {name!r} is already registered")
    VIEWS[name] = View(name=name, roles=frozenset(roles), streams=streams)
    return VIEWS[name]


def snapshot_part(view: str, key: str) -> Callable[[SnapshotPart], SnapshotPart]:
    """Register `function(user)` as `data[key]` of the view's snapshot."""

    def register(function: SnapshotPart) -> SnapshotPart:
        parts = VIEWS[view].parts
        if key in parts:
            raise ValueError(f"live view {view!r} already has a snapshot part {key!r}")
        parts[key] = function
        return function

    return register


def view_get(name: str | None, user: User) -> View | None:
    """The view a socket asked for, or the user's default one; None when there is no such view."""
    return VIEWS.get(name or DEFAULT_VIEWS.get(selectors.page_role(user), ""))


def snapshot_build(view: View, user: User) -> dict[str, Any]:
    """The snapshot message: stream numbers and the view's data, read from one consistent state.

    Streams are read before the data in the same transaction (PostgreSQL: repeatable read; SQLite:
    writers are shut out meanwhile), so no event can fall between them.
    """
    names = view.streams(user)
    outermost = not connection.in_atomic_block  # inside a caller's transaction, its isolation holds
    shared = _shared.set({})
    try:
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            streams = stream_seqs(names)
            data = {key: part(user) for key, part in view.parts.items()}
    finally:
        _shared.reset(shared)
    return {"type": "snapshot", "view": view.name, "streams": streams, "now": _iso(clock.now()), "data": data}


def snapshot_shared(key: Hashable, read: Callable[[], _T]) -> _T:
    """`read()` once per snapshot for every part that needs it (the operator's drafts: two parts list them).

    Outside a snapshot (a page, a test) it simply reads.
    """
    shared = _shared.get()
    if shared is None:
        return read()
    if key not in shared:
        shared[key] = read()
    return shared[key]


# Rows ---------------------------------------------------------------------------------------------


def ticket_row(ticket: Ticket, user: User, *, now: datetime.datetime) -> dict[str, Any]:
    """One ticket as a live list shows it; keys as in the API's ticket, so pages can mix both.

    Hotline staff get the masked caller number and the citizen with the masked ID number;
    departments get neither (their pages never show the citizen, and a report hides its reporter).
    """
    row: dict[str, Any] = {
        "number": ticket.number,
        "kind": ticket.kind,
        "kind_display": ticket.get_kind_display(),
        "status": ticket.status,
        "status_display": ticket.get_status_display(),
        "urgency": ticket.urgency,
        "urgency_display": ticket.get_urgency_display(),
        "title": ticket.title,
        "lead_department": ticket.lead_department_id,
        "lead_department_name": str(ticket.lead_department) if ticket.lead_department_id else None,
        "deadline": _iso(ticket.deadline),
        "overdue": ticket.is_overdue(now),
        "extension_until": _iso(ticket.extension_until),
        "return_count": ticket.return_count,
        "created_at": _iso(ticket.created_at),
        "registered_at": _iso(ticket.registered_at),
        "updated_at": _iso(ticket.updated_at),
        "version": ticket.version,
    }
    if selectors.page_role(user) == Role.DEPARTMENT:
        row["is_lead"] = ticket.lead_department_id == user.department_id
    elif not reporter_hidden_from(user, ticket):
        row["caller_number"] = ticket.caller_masked
        citizen = ticket.citizen
        row["citizen"] = {"id": citizen.pk, "name": citizen.name, "id_masked": citizen.id_masked} if citizen else None
    return row


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _rows(tickets: Iterable[Ticket], user: User, now: datetime.datetime) -> list[dict[str, Any]]:
    return [ticket_row(ticket, user, now=now) for ticket in tickets]


# The three views and their first parts -----------------------------------------------------------

view_register(
    "operator",
    roles=(Role.OPERATOR, Role.ADMIN),
    # The personal group carries what is for this operator alone (the screen pop of a call).
    streams=lambda user: [OPERATORS, operator_group(user.pk)],
)
view_register("supervisor", roles=(Role.SUPERVISOR, Role.ADMIN), streams=lambda user: [SUPERVISORS])
view_register(
    "department",
    roles=(Role.DEPARTMENT,),
    streams=lambda user: [department_group(user.department_id)] if user.department_id else [],
)


@snapshot_part("operator", "tickets")
def operator_tickets(user: User) -> dict[str, Any]:
    """The operator's drafts (read once with the queue part's) and the tickets they registered lately."""
    now = clock.now()
    drafts = operator_drafts_shared(user)
    return {"drafts": _rows(drafts, user, now), "registered": _rows(selectors.operator_registered(user), user, now)}


def operator_drafts_shared(user: User) -> list[Ticket]:
    """The operator's drafts, read once per snapshot (the `tickets` and `queue` parts both list them)."""
    return snapshot_shared(("operator_drafts", user.pk), lambda: selectors.operator_drafts(user))


@snapshot_part("supervisor", "tickets")
def supervisor_tickets(user: User) -> dict[str, Any]:
    """Counts by status (a delta moves one ticket from `from` to `status`), overdue, returned, extensions."""
    home = selectors.supervisor_home(user)
    now = home["now"]
    return {
        "status_counts": {value: count for value, _label, count in home["status_counts"]},
        "overdue": _rows(home["overdue"], user, now),
        "returned": _rows(home["returned"], user, now),
        "extensions": _rows(home["extensions"], user, now),
    }


# The supervisor view's wallboard and supervision lists, and the department view's inbox, live in their
# own modules; registered here so that every process that serves the views has them.
from . import inbox, wallboard_snapshots  # noqa: E402, F401
