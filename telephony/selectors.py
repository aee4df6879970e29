"""Reads for telephony: who answers on an agent interface, the screen pop, and the live queue state."""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Min, Q, QuerySet

from tickets import clock
from tickets.models import Citizen, Kind, Role, Satisfaction, Status, Ticket, User
from tickets.pii import phone_mask
from tickets.selectors import citizens_by_phone

from .models import Call, DeviceState, QueueCaller, QueueMember

logger = logging.getLogger(__name__)

# "PJSIP/8001", "SIP/8001", "IAX2/8001", "Local/8001@agents/n", "PJSIP/8001-0000002a" (a channel of it),
# "Local/8001@agents-00000005;1": the technology, then the resource up to "@", ";" or "/".
_INTERFACE = re.compile(r"^[A-Za-z0-9_]+/(?P<resource>[^@;/]+)")
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}$")

# The queue-state buckets. Every logged-in member is in exactly one of on_call, paused, available and
# ringing: a paused agent still on a call counts as on a call, and unknown device state counts as free
# because Asterisk's queue offers calls to such members too.
BUSY_STATES = [DeviceState.INUSE, DeviceState.BUSY, DeviceState.RINGINUSE, DeviceState.ONHOLD]
LOGGED_IN = ~Q(status__in=[DeviceState.INVALID, DeviceState.UNAVAILABLE])
ON_CALL = LOGGED_IN & (Q(in_call=True) | Q(status__in=BUSY_STATES))
NOT_ON_CALL = LOGGED_IN & Q(in_call=False) & ~Q(status__in=BUSY_STATES)
PAUSED = NOT_ON_CALL & Q(paused=True)
AVAILABLE = NOT_ON_CALL & Q(paused=False, status__in=[DeviceState.UNKNOWN, DeviceState.NOT_INUSE])
RINGING = NOT_ON_CALL & Q(paused=False, status=DeviceState.RINGING)
# Aggregate names may not shadow fields ("paused"), hence the prefix.
MEMBER_COUNTS = {
    "n_logged_in": Count("id", filter=LOGGED_IN),
    "n_available": Count("id", filter=AVAILABLE),
    "n_on_call": Count("id", filter=ON_CALL),
    "n_paused": Count("id", filter=PAUSED),
    "n_ringing": Count("id", filter=RINGING),
}


def _member_counts(row: dict[str, Any]) -> dict[str, int]:
    return {name.removeprefix("n_"): row.get(name, 0) for name in MEMBER_COUNTS}


def extension_of(interface: str) -> str:
    """The extension an agent interface or channel names ("PJSIP/8001-0000002a" -> "8001"); "" if none."""
    match = _INTERFACE.match(interface.strip())
    return _CHANNEL_SUFFIX.sub("", match["resource"]) if match else ""


def operator_for_interface(interface: str, *, member_name: str = "") -> User | None:
    """The active user behind a queue member, or None (unknown, or shared by several users).

    First by the extension the interface names ("PJSIP/8001" -> the user whose phone extension is
    8001, or who has the whole interface recorded as theirs); failing that, by the member name
    queues.conf gives (`member => PJSIP/8001,0,huawu1`): a username or an extension. A shared
    extension gives None rather than a guess: the answer pops the caller's ticket on that user's screen.
    """
    extension = extension_of(interface)
    if extension:
        found = _only_user(Q(extension=extension) | Q(extension__iexact=interface.strip()), f"extension {extension}")
        if found is not None:
            return found
    name = member_name.strip()
    if name and name != interface.strip():
        return _only_user(Q(username=name) | Q(extension=extension_of(name) or name), f"member name {name}")
    return None


def _only_user(condition: Q, what: str) -> User | None:
    users = list(User.objects.filter(condition, is_active=True)[:2])
    if len(users) > 1:
        logger.warning("%s belongs to several users: no operator for it", what)
        return None
    return users[0] if users else None


# --- the screen pop --------------------------------------------------------------------------------

POP_HISTORY = 10
POP_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)


def calls_poppable_for(user: User) -> QuerySet[Call]:
    """Supervisors and administrators may look at any call's screen pop; an operator at the calls they answered."""
    calls = Call.objects.select_related("ticket__citizen__district", "operator")
    if user.is_superuser or user.role in (Role.SUPERVISOR, Role.ADMIN):
        return calls
    if user.role == Role.OPERATOR:
        return calls.filter(operator=user)
    return calls.none()


def call_current_for(user: User) -> Call | None:
    """The operator's call in progress: answered by them and not hung up, the latest if several."""
    return (
        calls_poppable_for(user)
        .filter(operator=user, answered_at__isnull=False, ended_at__isnull=True)
        .order_by("-answered_at", "-id")
        .first()
    )


def call_pop_payload(call: Call) -> dict[str, Any]:
    """What the operator's console shows the moment a call connects: the call.pop event and its endpoint.

    The draft ticket the bridge opened, what the caller chose in the IVR, the citizen's record and
    their previous tickets. Masked as every list is: the phone numbers and the ID number never leave
    in clear (an unmasked view goes through the audited reveal). A call the bridge never saw (it was
    down) has no ticket; its caller is still looked up by number.
    """
    ticket = call.ticket if call.ticket_id else None
    citizen = ticket.citizen if ticket is not None and ticket.citizen_id else None
    if citizen is None and ticket is None and call.caller_number:
        citizen = citizens_by_phone(call.caller_number).select_related("district").order_by("-id").first()
    return {
        "call": call.pk,
        "uniqueid": call.uniqueid,
        "linkedid": call.linkedid,
        "recording": call.recording,
        "caller": phone_mask(call.caller_number),
        "queue": call.queue,
        "operator": call.operator_id,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "wait_seconds": call.wait_seconds,
        "ticket": _pop_ticket(ticket),
        "tickets": call_ticket_numbers(call),
        "ivr": _pop_ivr(call),
        "citizen": _pop_citizen(citizen),
        **_pop_history(call, ticket, citizen),
    }


def call_ticket_numbers(call: Call) -> list[str]:
    """Every ticket taken on the call: the bridge's draft first, then the others in the order opened."""
    others = list(call.other_tickets.order_by("created_at", "id").values_list("number", flat=True)) if call.pk else []
    return ([call.ticket.number] if call.ticket_id else []) + others


def _pop_ticket(ticket: Ticket | None) -> dict[str, Any] | None:
    if ticket is None:
        return None
    return {
        "number": ticket.number,
        "kind": ticket.kind,
        "kind_display": str(Kind(ticket.kind).label),
        "status": ticket.status,
        "status_display": str(Status(ticket.status).label),
        "version": ticket.version,
    }


def _pop_ivr(call: Call) -> dict[str, Any]:
    """The IVR trail (`main>complaint`), the keys pressed, and how it ended: a kind, progress or operator."""
    steps = call.ivr_path.split(">") if call.ivr_path else []
    last = steps[-1] if steps else ""
    kind = last if last in Kind.values else ""
    return {
        "path": call.ivr_path,
        "digits": call.ivr_digits,
        "choice": "kind" if kind else last if last in ("operator", "progress") else "",
        "kind": kind,
        "kind_display": str(Kind(kind).label) if kind else "",
        "ended_at": call.ivr_ended_at.isoformat() if call.ivr_ended_at else None,
    }


def _pop_citizen(citizen: Citizen | None) -> dict[str, Any] | None:
    if citizen is None:
        return None
    return {
        "id": citizen.pk,
        "name": citizen.name,
        "id_masked": citizen.id_masked,
        "phones": [phone.masked for phone in citizen.phones.all()],
        "address": citizen.address,
        "district": citizen.district_id,
        "district_name": str(citizen.district) if citizen.district_id else None,
    }


def _pop_history(call: Call, ticket: Ticket | None, citizen: Citizen | None) -> dict[str, Any]:
    """The caller's earlier tickets, newest first: the citizen's, or for an unknown caller the number's."""
    if citizen is not None:
        earlier = Ticket.objects.filter(citizen=citizen)
    elif call.caller_number:
        earlier = Ticket.objects.filter(caller_number=call.caller_number)
    else:
        return {"history": [], "history_total": 0}
    # Drafts are other calls still being written up, or hang-ups with nothing said.
    earlier = earlier.exclude(status=Status.DRAFT)
    if ticket is not None:
        earlier = earlier.exclude(pk=ticket.pk)
    rows = earlier.select_related("lead_department").order_by("-created_at", "-id")[:POP_HISTORY]
    return {
        "history": [
            {
                "number": t.number,
                "title": t.title,
                "kind": t.kind,
                "kind_display": str(Kind(t.kind).label),
                "status": t.status,
                "status_display": str(Status(t.status).label),
                "department": t.lead_department_id,
                "department_name": str(t.lead_department) if t.lead_department_id else None,
                "satisfaction": t.satisfaction,
                "satisfaction_display": str(Satisfaction(t.satisfaction).label) if t.satisfaction else "",
                "created_at": t.created_at.isoformat(),
            }
            for t in rows
        ],
        "history_total": earlier.count(),
    }


@dataclass(frozen=True)
class QueueState:
    """One queue's counts for the wallboard: no caller numbers, no names."""

    queue: str
    waiting: int = 0
    oldest_joined_at: datetime.datetime | None = None
    logged_in: int = 0
    available: int = 0
    on_call: int = 0
    paused: int = 0
    ringing: int = 0

    def longest_wait(self, now: datetime.datetime | None = None) -> int:
        """Seconds the longest-waiting caller has waited so far (0 with nobody waiting)."""
        if self.oldest_joined_at is None:
            return 0
        return max(0, int(((now or clock.now()) - self.oldest_joined_at).total_seconds()))

    def payload(self, now: datetime.datetime | None = None) -> dict[str, Any]:
        """The queue.state event: the counts, and when the longest wait began so a wallboard can keep counting."""
        return {
            "queue": self.queue,
            "waiting": self.waiting,
            "longest_wait": self.longest_wait(now),
            "oldest_since": self.oldest_joined_at.isoformat() if self.oldest_joined_at else None,
            "logged_in": self.logged_in,
            "available": self.available,
            "on_call": self.on_call,
            "paused": self.paused,
            "ringing": self.ringing,
        }


def queue_state(queue: str) -> QueueState:
    """The current counts of one queue (over every Asterisk server that has it)."""
    members = QueueMember.objects.filter(queue=queue).aggregate(**MEMBER_COUNTS)
    callers = QueueCaller.objects.filter(queue=queue).aggregate(waiting=Count("id"), oldest=Min("joined_at"))
    return QueueState(
        queue=queue, waiting=callers["waiting"], oldest_joined_at=callers["oldest"], **_member_counts(members)
    )


def queue_snapshot() -> list[QueueState]:
    """Every queue that has members or waiting callers, by name: what a wallboard shows when it connects."""
    members = {
        row.pop("queue"): row for row in QueueMember.objects.order_by().values("queue").annotate(**MEMBER_COUNTS)
    }
    callers = {
        row["queue"]: row
        for row in QueueCaller.objects.order_by().values("queue").annotate(waiting=Count("id"), oldest=Min("joined_at"))
    }
    return [
        QueueState(
            queue=name,
            waiting=callers.get(name, {}).get("waiting", 0),
            oldest_joined_at=callers.get(name, {}).get("oldest"),
            **_member_counts(members.get(name, {})),
        )
        for name in sorted(members.keys() | callers.keys())
    ]
