"""Reads for telephony: who answers on an agent interface, and the live queue state for the wallboards."""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Min, Q

from tickets import clock
from tickets.models import User

from .models import DeviceState, QueueCaller, QueueMember

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


def operator_for_interface(interface: str) -> User | None:
    """The active user whose extension the interface names, or None (unknown, or shared by several users).

    A shared extension gives None rather than a guess: the answer event pops the caller's ticket on that
    user's screen.
    """
    extension = extension_of(interface)
    if not extension:
        return None
    users = list(User.objects.filter(extension=extension, is_active=True)[:2])
    if len(users) > 1:
        logger.warning("extension %s belongs to several users: no operator for %s", extension, interface)
        return None
    return users[0] if users else None


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
