"""Writes on the live queue state (QueueMember, QueueCaller rows) and the queue.state events they cause.

Only the AMI listener calls these. Each returns the queues it touched; QueueBoard.publish_changes then
publishes one queue.state event per queue whose counts changed, in the caller's transaction.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction

from dashboards.publish import SUPERVISORS, publish
from telephony.models import DeviceState, QueueCaller, QueueMember
from telephony.selectors import operator_for_interface, queue_state


@dataclass(frozen=True)
class MemberSeen:
    """A queue member as one AMI event or QueueStatus line describes it."""

    queue: str
    interface: str
    member_name: str = ""
    status: int = DeviceState.UNKNOWN
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False


@dataclass(frozen=True)
class CallerSeen:
    queue: str
    uniqueid: str
    position: int
    joined_at: datetime.datetime


@dataclass
class QueueSnapshot:
    """What QueueStatus reported: every queue's name, its members and its waiting callers."""

    queues: set[str] = field(default_factory=set)
    members: list[MemberSeen] = field(default_factory=list)
    callers: list[CallerSeen] = field(default_factory=list)


def _member_fields(seen: MemberSeen, at: datetime.datetime) -> dict[str, object]:
    return {
        "member_name": seen.member_name[:128],
        "status": seen.status,
        "paused": seen.paused,
        "paused_reason": seen.paused_reason[:128],
        "in_call": seen.in_call,
        "updated_at": at,
    }


def queue_member_update(server: str, seen: MemberSeen, *, at: datetime.datetime) -> set[str]:
    """Record a member's state (QueueMemberStatus, QueueMemberPause, QueueMemberAdded); map its operator."""
    QueueMember.objects.update_or_create(
        server=server,
        queue=seen.queue[:64],
        interface=seen.interface[:128],
        defaults={
            **_member_fields(seen, at),
            "operator": operator_for_interface(seen.interface, member_name=seen.member_name),
        },
    )
    return {seen.queue}


def queue_member_change(
    server: str, queue: str, interface: str, *, at: datetime.datetime, **changes: object
) -> set[str]:
    """Change some fields of a member already known (AgentCalled, AgentConnect, AgentComplete); else nothing."""
    updated = QueueMember.objects.filter(server=server, queue=queue, interface=interface).update(
        **changes, updated_at=at
    )
    return {queue} if updated else set()


def queue_member_remove(server: str, queue: str, interface: str) -> set[str]:
    """The member logged out of the queue (QueueMemberRemoved)."""
    deleted, _detail = QueueMember.objects.filter(server=server, queue=queue, interface=interface).delete()
    return {queue} if deleted else set()


def queue_caller_join(server: str, queue: str, uniqueid: str, *, position: int, at: datetime.datetime) -> set[str]:
    """A caller started waiting (QueueCallerJoin)."""
    QueueCaller.objects.update_or_create(
        server=server, queue=queue[:64], uniqueid=uniqueid[:64], defaults={"position": position, "joined_at": at}
    )
    return {queue}


def queue_caller_leave(server: str, uniqueid: str, queue: str | None = None) -> set[str]:
    """A caller stopped waiting (QueueCallerLeave, QueueCallerAbandon, AgentConnect, Hangup); returns its queues."""
    rows = QueueCaller.objects.filter(server=server, uniqueid=uniqueid)
    if queue is not None:
        rows = rows.filter(queue=queue)
    queues = set(rows.values_list("queue", flat=True))
    if queues:
        rows.delete()
    return queues


def queue_resync(server: str, snapshot: QueueSnapshot, *, at: datetime.datetime) -> set[str]:
    """Make this server's rows what QueueStatus reported; unchanged rows keep their times. Returns touched queues."""
    touched = set(snapshot.queues)
    members = {(m.queue, m.interface): m for m in QueueMember.objects.filter(server=server)}
    for seen in snapshot.members:
        row = members.pop((seen.queue, seen.interface), None)
        wanted = _member_fields(seen, at)
        if row is None:
            queue_member_update(server, seen, at=at)
        elif any(getattr(row, name) != value for name, value in wanted.items() if name != "updated_at"):
            QueueMember.objects.filter(pk=row.pk).update(**wanted)
        touched.add(seen.queue)
    for (queue, _interface), row in members.items():  # gone while we were not listening
        row.delete()
        touched.add(queue)
    callers = {(c.queue, c.uniqueid): c for c in QueueCaller.objects.filter(server=server)}
    for seen_caller in snapshot.callers:
        if callers.pop((seen_caller.queue, seen_caller.uniqueid), None) is None:
            queue_caller_join(
                server, seen_caller.queue, seen_caller.uniqueid, position=seen_caller.position, at=seen_caller.joined_at
            )
        touched.add(seen_caller.queue)
    for (queue, _uniqueid), caller in callers.items():
        caller.delete()
        touched.add(queue)
    return touched


class QueueBoard:
    """Publishes queue.state to supervisors for each queue whose counts changed since this board last did."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[object, ...]] = {}

    def publish_changes(self, queues: Iterable[str], *, at: datetime.datetime | None = None) -> list[dict[str, object]]:
        """Publish the changed queues among `queues` (in the caller's transaction); return the payloads sent."""
        sent = []
        for queue in sorted(set(queues)):
            state = queue_state(queue)
            key = (
                state.waiting,
                state.oldest_joined_at,
                state.logged_in,
                state.available,
                state.on_call,
                state.paused,
                state.ringing,
            )
            if self._last.get(queue) == key:
                continue
            payload = state.payload(at)
            publish("queue.state", payload, [SUPERVISORS])
            # Remembered only once the event is committed: a rolled-back change must be published again.
            transaction.on_commit(lambda queue=queue, key=key: self._last.__setitem__(queue, key))
            sent.append(payload)
        return sent
