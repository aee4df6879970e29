"""The one event publisher: the only code outside consumers that touches the channel layer.

`publish()` writes an outbox row inside the caller's transaction, numbers the event in each
of its groups (streams), and asks for a relay on commit. `relay_pending()` sends owed rows to
their groups in sequence order; if the layer (Redis) is unreachable it logs and stops, and the
periodic `relay_outbox` task retries, so a save never fails because Redis is down and no event
is lost. Each message carries its stream and its number there, so a socket that missed one
(a full queue, a Redis blip) sees the gap and asks for a fresh snapshot (docs/dashboards.md).
"""

import asyncio
import datetime
import functools
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from stdnum.cn import ric

from .models import OutboxEvent, Stream

logger = logging.getLogger(__name__)

# Advisory lock key that orders outbox inserts by commit (any constant unique to this project).
OUTBOX_ORDER_LOCK = 12345_0001
SUPERVISORS = "supervisors"
OPERATORS = "operators"
MESSAGE_TYPE = "hotline.event"
RELAY_BATCH = 200
# A relay after a save reads again after a batch that was not full (events committed while it sent,
# whose own relays found it busy and left them to it), up to this many batches in all.
AFTER_COMMIT_BATCHES = 4
# After the layer failed, saves stop trying to relay for this long and leave the catch-up to
# the periodic task: a hung Redis (answering nothing until socket_timeout) must not make
# every save wait for it.
RETRY_AFTER = 10.0
# Outbox rows deleted per transaction by outbox_prune().
PRUNE_BATCH = 5000

# layer -> time.monotonic() until which on-commit relays skip it
_paused: "weakref.WeakKeyDictionary[BaseChannelLayer, float]" = weakref.WeakKeyDictionary()


def department_group(department_id: int) -> str:
    return f"department.{department_id}"


def operator_group(user_id: int) -> str:
    return f"operator.{user_id}"


def publish(event_type: str, payload: dict[str, Any], groups: Iterable[str]) -> OutboxEvent:
    """Record an event for `groups`; it reaches the channel layer after the transaction commits.

    Payloads carry ids and changed fields, never personal data: one with an unmasked resident
    ID number is refused with ValueError (operators' and departments' sockets must never get one).
    """
    _refuse_id_numbers(event_type, payload)
    names = sorted(set(groups))
    if connection.in_atomic_block:
        return _record(event_type, payload, names)
    with transaction.atomic():  # the ordering lock and the counters only hold inside a transaction
        return _record(event_type, payload, names)


def _record(event_type: str, payload: dict[str, Any], names: list[str]) -> OutboxEvent:
    if connection.vendor == "postgresql":
        event = _insert_ordered(event_type, payload, names)
    else:  # SQLite: writers are serialised by BEGIN IMMEDIATE
        event = OutboxEvent.objects.create(type=event_type, payload=payload, groups=names, seqs=_next_seqs(names))
    transaction.on_commit(functools.partial(_relay_after_commit, _key(event)), robust=True)
    return event


def _insert_ordered(event_type: str, payload: dict[str, Any], names: list[str]) -> OutboxEvent:
    """PostgreSQL: take the ordering lock, number the event in its streams and insert it, in one statement.

    Ids and stream numbers are handed out at insert, not at commit: without the lock a later number
    could commit (and be relayed) before an earlier one. It is held from here to commit, which is
    short because actions publish last, and it means the counter rows are only ever locked by the
    lock holder, so they cannot deadlock. Both the counters' upsert and the outbox row read the
    lock's one row first, so the lock is taken before either (and before the id is drawn). One
    round trip where a statement each took three: the AMI listener publishes about seven events a call.
    """
    quote = connection.ops.quote_name
    outbox, stream = quote(OutboxEvent._meta.db_table), quote(Stream._meta.db_table)
    field = OutboxEvent._meta.get_field
    params: list[Any] = [OUTBOX_ORDER_LOCK]
    numbered, seqs = "", "'{}'::jsonb"
    if names:
        values = ", ".join(["(%s)"] * len(names))
        numbered = (
            f", numbered AS (INSERT INTO {stream} (name, seq) "  # noqa: S608 - only names and placeholders
            f"SELECT v.name, 1 FROM (VALUES {values}) AS v(name), ordered "
            f"ON CONFLICT (name) DO UPDATE SET seq = {stream}.seq + 1 RETURNING name, seq)"
        )
        seqs = "(SELECT jsonb_object_agg(name, seq) FROM numbered)"
        params += names
    now = timezone.now()
    params += [
        event_type,
        field("payload").get_db_prep_save(payload, connection),
        field("groups").get_db_prep_save(names, connection),
        now,
    ]
    sql = (
        f"WITH ordered AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s)){numbered} "  # noqa: S608 - as above
        f"INSERT INTO {outbox} (type, payload, groups, seqs, created_at) "
        f"SELECT %s, %s, %s, {seqs}, %s FROM ordered RETURNING id, seqs::text"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk, numbers = cursor.fetchone()
    event = OutboxEvent(id=pk, type=event_type, payload=payload, groups=names, seqs=json.loads(numbers), created_at=now)
    event._state.adding, event._state.db = False, connection.alias
    return event


def _next_seqs(names: list[str]) -> dict[str, int]:
    """Bump the counter of each stream in one statement (an upsert) and return the new numbers."""
    if not names:
        return {}
    table = connection.ops.quote_name(Stream._meta.db_table)
    rows = ", ".join(["(%s, 1)"] * len(names))
    sql = (
        f"INSERT INTO {table} (name, seq) VALUES {rows} "  # noqa: S608 - only placeholders are interpolated
        f"ON CONFLICT (name) DO UPDATE SET seq = {table}.seq + 1 RETURNING name, seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, names)
        return dict(cursor.fetchall())


def stream_seqs(names: Iterable[str]) -> dict[str, int]:
    """The last number handed out in each stream (0 for one that never had an event)."""
    names = list(names)
    found = dict(Stream.objects.filter(name__in=names).values_list("name", "seq"))
    return {name: found.get(name, 0) for name in names}


# A resident ID number (GB 11643): area, birth date, sequence, check character. The check
# character is verified too, so a long number that merely looks like one is let through.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])"
)


def _refuse_id_numbers(event_type: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, ensure_ascii=False, default=str)
    for match in _ID_NUMBER.finditer(text):
        number = match.group().upper()
        if ric.calc_check_digit(number) == number[-1]:
            raise ValueError(f"event {event_type!r} carries an unmasked resident ID number; publish masked values")


def _relay_after_commit(key: tuple[int, Any]) -> None:
    layer = get_channel_layer()
    if layer is None or _paused.get(layer, 0.0) > time.monotonic():
        return
    if key in getattr(_just_sent, "keys", ()):
        # A transaction that published several events runs one relay per event after its commit;
        # the first one sent them all (the AMI listener's AgentConnect: three events, one relay).
        return
    # A full batch means a backlog (after an outage), which is the periodic task's job, not this request's.
    relay_pending(wait=False, max_batches=AFTER_COMMIT_BATCHES, backlog_stops=True)


def relay_pending(
    limit: int | None = None, *, wait: bool = True, max_batches: int | None = None, backlog_stops: bool = False
) -> int:
    """Send owed events to the channel layer in sequence order; return how many were sent.

    Relays take turns (the owed rows are locked while they are sent), so each event goes out
    once and in order even with several processes. With `wait=False` (after a save) a relay
    that finds another one busy leaves: that one sends this event too, as it reads again after
    each batch until nothing is owed. `max_batches` bounds the work; with `backlog_stops` (the
    after-commit relay) a full batch ends it too, leaving a backlog to the periodic task.
    """
    layer = get_channel_layer()
    if layer is None:
        return 0
    _just_sent.keys = keys = set()
    sent = batches = 0
    owed = OutboxEvent.objects.filter(relayed_at__isnull=True).order_by("id")
    # Marking rows relayed need not wait for the disk: a mark lost in a crash only sends those events
    # again, and the sockets ignore a number they had. (Not inside a caller's transaction: its commit.)
    lazy_commit = connection.vendor == "postgresql" and not connection.in_atomic_block
    while max_batches is None or batches < max_batches:
        batches += 1
        if batches > 1 and not owed.exists():
            # Reading again is one query when nothing is owed (the usual case after a save), where
            # taking the rows' locks is a transaction of three round trips.
            _paused.pop(layer, None)
            return sent
        try:
            with transaction.atomic():
                batch = list(owed.select_for_update(nowait=not wait)[: limit or RELAY_BATCH])
                if not batch:
                    _paused.pop(layer, None)
                    return sent
                delivered, error = _send_batch(layer, batch)
                if delivered:
                    if lazy_commit:
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit = off")
                    OutboxEvent.objects.filter(id__in=delivered).update(relayed_at=timezone.now())
                    sent += len(delivered)
                    keys.update(_key(event) for event in batch[: len(delivered)])
        except DatabaseError:
            if wait:
                raise
            return sent  # another relay holds the owed rows
        if error is not None:  # the layer is down: keep the rest for the next sweep
            _paused[layer] = time.monotonic() + RETRY_AFTER
            logger.warning("event relay paused at seq %s: %s", batch[len(delivered)].id, error)
            return sent
        if backlog_stops and len(batch) >= (limit or RELAY_BATCH):
            return sent
    return sent


def outbox_prune(*, relayed_before: datetime.datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete the outbox rows relayed before `relayed_before`, oldest first, `batch` rows a transaction.

    A relayed row is history: the sockets had it, a resync sends a snapshot (never outbox rows), and
    the per-stream numbers live in `Stream`, not here. A row still owed is never deleted, however old.
    Returns how many rows went.
    """
    deleted, after = 0, 0
    while True:
        old = OutboxEvent.objects.filter(id__gt=after, relayed_at__lt=relayed_before).order_by("id")
        ids = list(old.values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += OutboxEvent.objects.filter(id__in=ids).delete()[0]
        after = ids[-1]
        if len(ids) < batch:
            return deleted


# The events this thread's last relay sent, by id and creation time (ids alone are reused when a
# test database rolls back).
_just_sent = threading.local()


def _key(event: OutboxEvent) -> tuple[int, Any]:
    return (event.pk, event.created_at)


def _send_batch(layer: BaseChannelLayer, batch: list[OutboxEvent]) -> tuple[list[int], Exception | None]:
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the sockets' event loop: async_to_sync finds it when the save runs in
        # the ASGI server (the embedded mode's only process).
        return async_to_sync(_send)(layer, batch)
    return asyncio.run_coroutine_threadsafe(_send(layer, batch), _relay_loop()).result()


# The Redis layers keep their connections per event loop. async_to_sync from code with no loop of its
# own (the AGI bridge, the AMI listener, Celery, management commands) runs each relay on a new loop,
# so each relay connected to Redis anew and set up a thread and a loop: 9 of the 11 ms a published
# event cost the bench (bench/ws_load.py). One loop per process, in a daemon thread, keeps one
# connection for every relay of the process.
_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def _relay_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():  # a forked child (Celery's prefork) has no thread
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="event-relay", daemon=True).start()
        return _loop


async def _send(layer: BaseChannelLayer, batch: list[OutboxEvent]) -> tuple[list[int], Exception | None]:
    """Send a batch in one event loop (one Redis connection); stop at the first failure."""
    delivered: list[int] = []
    for event in batch:
        try:
            for group in event.groups:
                await layer.group_send(group, _message(event, group))
        except Exception as exc:
            return delivered, exc
        delivered.append(event.id)
    return delivered, None


def _message(event: OutboxEvent, group: str) -> dict[str, Any]:
    """The channel-layer message for one group: the stream's own number beside the global id."""
    return {
        "type": MESSAGE_TYPE,
        "id": event.id,
        "stream": group,
        "seq": event.seqs.get(group),  # None only for rows written before streams were numbered
        "event": event.type,
        "payload": event.payload,
    }
