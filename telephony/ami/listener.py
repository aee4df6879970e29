"""The AMI listener: Asterisk's queue and channel events into call records and the live queue state.

One AmiClient per connection. When AMI drops, the listener reconnects with capped, jittered exponential
backoff, then rebuilds the queue state from a QueueStatus snapshot. Each event is applied in its own
transaction: a malformed event is logged and skipped, a database error is retried a few times and then
skipped, so one bad event never stops the listener. Call events are published by telephony.actions,
queue changes as queue.state by QueueBoard.

The Hangup event closes a call record, with Asterisk's cause code. QueueCallerAbandon and AgentComplete
(the caller hung up) close it too if no Hangup follows within `close_grace` seconds, so a call never
stays open because a Hangup event was lost in a reconnect.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asterisk.manager import Event
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

from telephony import actions
from telephony.models import DeviceState
from telephony.selectors import operator_for_interface

from . import state
from .client import AmiClient, ManagerAuthException, ManagerException

logger = logging.getLogger(__name__)

# Callers' numbers that mean "none": stored as nothing.
NO_NUMBER = {"", "<unknown>", "unknown", "anonymous"}
# The channel variable the dialplan sets to MixMonitor's file name (manager.conf: channelvars).
RECORDING_VARIABLE = "HOTLINE_RECORDING"
# Events already waiting that are applied together, in one transaction, with one queue.state per queue.
BATCH_MAX = 10


class MalformedEvent(ValueError):
    """An event without a field it must have, or with a field that does not parse."""


@dataclass
class Stats:
    events: int = 0
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    connects: int = 0
    syncs: int = 0


def backoff_delay(failures: int, *, initial: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt `failures + 1`: doubling from `initial`, capped, jittered to 50–100 %.

    The jitter keeps several listeners (or one per Asterisk server) from reconnecting in lockstep after a
    network outage.
    """
    ceiling = min(cap, initial * 2 ** min(failures, 30))
    return ceiling * (0.5 + rand() / 2)


def event_time(event: Event) -> datetime.datetime:
    """When the event happened: its Timestamp field (manager.conf timestampevents=yes), else its arrival."""
    raw = event.get_header("Timestamp")
    if raw:
        try:
            return datetime.datetime.fromtimestamp(float(raw), tz=datetime.UTC)
        except (ValueError, OverflowError, OSError):
            logger.debug("AMI %s: unreadable Timestamp %r, using the arrival time", event.name, raw)
    return event.received_at


def required(event: Event, name: str) -> str:
    value = event.get_header(name, "")
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent(f"no {name}")
    return value.strip()


def number(event: Event, name: str, default: int = 0) -> int:
    raw = event.get_header(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise MalformedEvent(f"{name} is not a number: {str(raw)[:20]!r}") from None


def channel_ids(event: Event) -> dict[str, str]:
    """The caller channel's linked id and recording file (HOTLINE_RECORDING, which Asterisk adds to
    channel events as `ChanVariable: HOTLINE_RECORDING=…` when manager.conf's channelvars names it)."""
    variables = event.get_header("ChanVariable", {})
    recording = variables.get(RECORDING_VARIABLE, "") if isinstance(variables, dict) else ""
    return {"linkedid": event.get_header("Linkedid", "").strip(), "recording": recording.strip()}


def flag(event: Event, name: str) -> bool:
    return number(event, name) != 0


def member_seen(
    event: Event, *, interface_field: str = "Interface", name_field: str = "MemberName"
) -> state.MemberSeen:
    """A member as QueueMemberStatus/Pause/Added (Interface, MemberName) or QueueStatus (Location, Name) shows it."""
    return state.MemberSeen(
        queue=required(event, "Queue"),
        interface=required(event, interface_field),
        member_name=event.get_header(name_field, ""),
        status=number(event, "Status", DeviceState.UNKNOWN),
        paused=flag(event, "Paused"),
        paused_reason=event.get_header("PausedReason", ""),
        in_call=flag(event, "InCall"),
    )


def snapshot_from_queue_status(events: list[Event], *, at: datetime.datetime) -> state.QueueSnapshot:
    """The queue state a QueueStatus list describes; a malformed line is logged and left out."""
    snapshot = state.QueueSnapshot()
    for event in events:
        try:
            if event.name == "QueueParams":
                snapshot.queues.add(required(event, "Queue"))
            elif event.name == "QueueMember":
                interface = "Location" if event.get_header("Location") else "Interface"
                name = "Name" if event.get_header("Name") is not None else "MemberName"
                snapshot.members.append(member_seen(event, interface_field=interface, name_field=name))
            elif event.name == "QueueEntry":
                wait = datetime.timedelta(seconds=number(event, "Wait"))
                snapshot.callers.append(
                    state.CallerSeen(
                        required(event, "Queue"), required(event, "Uniqueid"), number(event, "Position"), at - wait
                    )
                )
        except MalformedEvent as exc:
            logger.warning("AMI QueueStatus: %s line skipped: %s", event.name, exc)
    return snapshot


class AmiListener:
    """Listen to one Asterisk server until stop(): records calls and keeps the queue state.

    run() raises ManagerAuthException when Asterisk refuses the login (a wrong secret does not fix
    itself); every other failure is logged and followed by a reconnect.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 5038,
        username: str,
        secret: str,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        ping_interval: float = 30.0,
        poll_interval: float = 0.5,
        close_grace: float = 5.0,
        db_attempts: int = 3,
        db_retry_delay: float = 0.5,
        client_factory: Callable[..., AmiClient] = AmiClient,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.server = f"{host}:{port}"
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.backoff_initial, self.backoff_max, self.rand = backoff_initial, backoff_max, rand
        self.ping_interval, self.poll_interval, self.close_grace = ping_interval, poll_interval, close_grace
        self.db_attempts, self.db_retry_delay = db_attempts, db_retry_delay
        self.client_factory = client_factory
        self.board = state.QueueBoard()
        self.stats = Stats()
        self._stop = threading.Event()
        self.listening = threading.Event()  # set while connected and in sync
        self._snapshot_seq = 0  # events that arrived before the last QueueStatus snapshot are in it already
        self._pending: dict[str, tuple[datetime.datetime, str, float]] = {}  # uniqueid -> (at, cause, due)
        # While a batch is applied: queue -> latest change, published once at the batch's end.
        self._touched: dict[str, datetime.datetime] | None = None
        self._handlers: dict[str, Callable[[Event, datetime.datetime], None]] = {
            "QueueCallerJoin": self._on_caller_join,
            "QueueCallerLeave": self._on_caller_leave,
            "QueueCallerAbandon": self._on_caller_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "QueueMemberStatus": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "Hangup": self._on_hangup,
        }

    def stop(self) -> None:
        """Ask run() to return; safe from a signal handler (it only sets a flag)."""
        self._stop.set()

    def run(self) -> None:
        """Connect, resync, apply events; on a drop, back off and do it again, until stop()."""
        failures = 0
        logger.info("AMI listener for %s starting (user %s)", self.server, self.username)
        try:
            while not self._stop.is_set():
                synced = self.stats.syncs
                try:
                    self._session()
                    reason = "connection closed"
                except ManagerAuthException:
                    raise
                except (ManagerException, OSError, DatabaseError) as exc:
                    reason = str(exc) or type(exc).__name__
                except Exception as exc:  # a bug must not end the listener: log it and start over
                    logger.exception("AMI %s: unexpected error", self.server)
                    reason = f"unexpected {type(exc).__name__}"
                if self._stop.is_set():
                    break
                if self.stats.syncs > synced:  # that connection worked: start the backoff over
                    failures = 0
                delay = backoff_delay(failures, initial=self.backoff_initial, cap=self.backoff_max, rand=self.rand)
                failures += 1
                logger.warning("AMI %s: %s; reconnecting in %.1f s", self.server, reason, delay)
                self._stop.wait(delay)
        finally:
            self.close_overdue(force=True)
            connection.close()
            s = self.stats
            logger.info(
                "AMI listener for %s stopped: %d connections, %d events, %d applied, %d skipped, %d failed",
                self.server,
                s.connects,
                s.events,
                s.applied,
                s.skipped,
                s.failed,
            )

    def _session(self) -> None:
        """One connection: returns when stopped, raises when the connection fails or drops."""
        client = self.client_factory(timeout=self.timeout, connect_timeout=self.connect_timeout)
        try:
            banner = client.connect(self.host, self.port)
            client.login(self.username, self.secret)
            self.stats.connects += 1
            logger.info("AMI connected to %s (%s) as %s", self.server, banner, self.username)
            self.resync(client)
            self.stats.syncs += 1
            self.listening.set()
            self._consume(client)
        finally:
            self.listening.clear()
            client.close()

    def resync(self, client: AmiClient) -> None:
        """Rebuild this server's queue state from QueueStatus and publish what changed."""
        result = client.queue_status()
        at = result.response.received_at
        snapshot = snapshot_from_queue_status(result.events, at=at)

        def apply() -> None:
            touched = state.queue_resync(self.server, snapshot, at=at)
            self.board.publish_changes(touched, at=at)

        if not self._with_retries("the QueueStatus resync", apply):
            raise DatabaseError("the queue state could not be written")
        self._snapshot_seq = result.complete_seq
        logger.info(
            "AMI resync from QueueStatus: %d queues, %d members, %d callers waiting",
            len(snapshot.queues),
            len(snapshot.members),
            len(snapshot.callers),
        )

    def _consume(self, client: AmiClient) -> None:
        last_heard = time.monotonic()
        while not self._stop.is_set():
            event = client.next_event(timeout=self.poll_interval)  # AmiDisconnected ends the session
            if event is not None:
                last_heard = time.monotonic()
                batch = [event]
                # What else is already waiting, a few at most, goes in the same transaction: short, as a
                # transaction that published holds the outbox's ordering lock until it commits.
                while len(batch) < BATCH_MAX:
                    more = client.next_event(timeout=0)
                    if more is None:
                        break
                    batch.append(more)
                self.handle_batch(batch)
            elif time.monotonic() - last_heard >= self.ping_interval:
                # A half-open TCP connection (Asterisk's host gone) is silent: only a Ping finds it.
                client.ping()
                last_heard = time.monotonic()
            self.close_overdue()

    def handle_batch(self, events: list[Event]) -> None:
        """Apply waiting events in one transaction, one queue.state per touched queue; on any trouble, one by one."""
        events = [event for event in events if event.name in self._handlers]
        if len(events) <= 1:
            for event in events:
                self.handle(event)
            return

        def apply() -> None:
            self._touched = {}
            try:
                for event in events:
                    self._handlers[event.name](event, event_time(event))
                for queue, at in sorted(self._touched.items()):
                    self.board.publish_changes({queue}, at=at)
            finally:
                self._touched = None

        try:
            applied = self._with_retries(f"a batch of {len(events)} events", apply)
        except MalformedEvent:
            applied = False
        if applied:
            self.stats.events += len(events)
            self.stats.applied += len(events)
        else:
            for event in events:
                self.handle(event)

    def handle(self, event: Event) -> bool:
        """Apply one event in its own transaction; True once applied, False if ignored or skipped. Never raises."""
        handler = self._handlers.get(event.name)
        if handler is None:
            return False
        self.stats.events += 1
        try:
            at = event_time(event)
            applied = self._with_retries(f"the {event.name} event", lambda: handler(event, at))
        except MalformedEvent as exc:
            logger.warning("AMI %s event skipped: %s", event.name, exc)
            self.stats.skipped += 1
            return False
        if applied:
            self.stats.applied += 1
        else:
            self.stats.failed += 1
        return applied

    def _with_retries(self, what: str, work: Callable[[], Any]) -> bool:
        """Run `work` in a transaction; retry on a lost or busy database; log and give up on anything else."""
        for attempt in range(1, self.db_attempts + 1):
            try:
                with transaction.atomic():
                    work()
                return True
            except MalformedEvent:
                raise
            except (OperationalError, InterfaceError) as exc:
                if not connection.in_atomic_block:  # ours to drop: the next query reconnects
                    connection.close()
                if attempt == self.db_attempts or self._stop.is_set():
                    logger.error("database unavailable: %s skipped after %d attempts: %s", what, attempt, exc)
                    return False
                logger.warning("database error on %s (attempt %d of %d): %s", what, attempt, self.db_attempts, exc)
                self._stop.wait(self.db_retry_delay * attempt)
            except Exception:
                logger.exception("%s failed and was skipped", what)
                return False
        return False

    def _queue_changes(self, event: Event) -> bool:
        """False for an event that arrived before the last QueueStatus snapshot: the snapshot already has it."""
        return getattr(event, "seq", 0) > self._snapshot_seq

    def _publish(self, queues: set[str], at: datetime.datetime) -> None:
        if queues and self._touched is not None:
            for queue in queues:
                self._touched[queue] = max(at, self._touched.get(queue, at))
            return
        if queues:
            self.board.publish_changes(queues, at=at)

    def _on_caller_join(self, event: Event, at: datetime.datetime) -> None:
        uniqueid, queue, position = required(event, "Uniqueid"), required(event, "Queue"), number(event, "Position")
        caller = event.get_header("CallerIDNum", "")
        actions.call_queue_join(
            uniqueid, queue=queue, at=at, caller="" if caller.lower() in NO_NUMBER else caller, **channel_ids(event)
        )
        if self._queue_changes(event):
            self._publish(state.queue_caller_join(self.server, queue, uniqueid, position=position, at=at), at)

    def _on_caller_leave(self, event: Event, at: datetime.datetime) -> None:
        uniqueid, queue = required(event, "Uniqueid"), required(event, "Queue")
        if self._queue_changes(event):
            self._publish(state.queue_caller_leave(self.server, uniqueid, queue), at)

    def _on_caller_abandon(self, event: Event, at: datetime.datetime) -> None:
        self._on_caller_leave(event, at)
        self._close_later(required(event, "Uniqueid"), at, "caller abandoned")

    def _on_agent_called(self, event: Event, at: datetime.datetime) -> None:
        queue, interface = required(event, "Queue"), required(event, "Interface")
        if self._queue_changes(event):
            changed = state.queue_member_change(self.server, queue, interface, at=at, status=DeviceState.RINGING)
            self._publish(changed, at)

    def _on_agent_connect(self, event: Event, at: datetime.datetime) -> None:
        uniqueid, queue, interface = required(event, "Uniqueid"), required(event, "Queue"), required(event, "Interface")
        operator = operator_for_interface(interface, member_name=event.get_header("MemberName", ""))
        actions.call_answer(uniqueid, agent=interface, operator=operator, at=at, **channel_ids(event))
        if self._queue_changes(event):
            changed = state.queue_caller_leave(self.server, uniqueid, queue)
            changed |= state.queue_member_change(self.server, queue, interface, at=at, in_call=True)
            self._publish(changed, at)

    def _on_agent_complete(self, event: Event, at: datetime.datetime) -> None:
        uniqueid, queue, interface = required(event, "Uniqueid"), required(event, "Queue"), required(event, "Interface")
        if self._queue_changes(event):
            self._publish(state.queue_member_change(self.server, queue, interface, at=at, in_call=False), at)
        # "agent": the caller may go on in the dialplan (a survey); "transfer": the call goes on elsewhere.
        if event.get_header("Reason", "") == "caller":
            self._close_later(uniqueid, at, "caller hung up")

    def _on_member(self, event: Event, at: datetime.datetime) -> None:
        seen = member_seen(event)
        if self._queue_changes(event):
            self._publish(state.queue_member_update(self.server, seen, at=at), at)

    def _on_member_removed(self, event: Event, at: datetime.datetime) -> None:
        queue, interface = required(event, "Queue"), required(event, "Interface")
        if self._queue_changes(event):
            self._publish(state.queue_member_remove(self.server, queue, interface), at)

    def _on_hangup(self, event: Event, at: datetime.datetime) -> None:
        uniqueid = required(event, "Uniqueid")
        actions.call_hangup(uniqueid, cause=event.get_header("Cause", ""), at=at)
        transaction.on_commit(lambda: self._pending.pop(uniqueid, None))
        if self._queue_changes(event):  # a QueueCallerLeave lost in a reconnect
            self._publish(state.queue_caller_leave(self.server, uniqueid), at)

    def _close_later(self, uniqueid: str, at: datetime.datetime, cause: str) -> None:
        """Close the call at `at` unless its Hangup (with the real cause) arrives within close_grace seconds."""
        self._pending.setdefault(uniqueid, (at, cause, time.monotonic() + self.close_grace))

    def close_overdue(self, *, force: bool = False) -> None:
        """Close the calls whose Hangup did not come within close_grace (all of them with `force`)."""
        now = time.monotonic()
        for uniqueid, (at, cause, due) in list(self._pending.items()):
            if force or due <= now:
                del self._pending[uniqueid]
                self._with_retries(
                    f"closing call {uniqueid}", lambda u=uniqueid, c=cause, a=at: actions.call_hangup(u, cause=c, at=a)
                )
