"""Websocket consumers: authenticate, pick the live view, send its snapshot, forward its streams' events.

The protocol (messages, sequence numbers, resync, close codes, wallboard refreshes) is described in
docs/dashboards.md.
"""

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import connection, connections
from django.utils import translation

from .publish import stream_seqs
from .snapshots import View, snapshot_build, view_get
from .wallboard import REFRESH_INTERVAL, wallboard_affected_by, wallboard_cached
from .wallboard_snapshots import WALLBOARD_PART

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's). The socket is accepted first and then closed, so
# the browser sees the code (a refused handshake only shows 1006) and knows not to retry.
CLOSE_BAD_REQUEST = 4400  # no such view
CLOSE_UNAUTHENTICATED = 4401  # no session: sign in again
CLOSE_FORBIDDEN = 4403  # the user's role may not see this view
# At most one snapshot a second per socket, however often a client asks.
RESYNC_MIN_INTERVAL = 1.0
# A view with a wallboard part gets it refreshed at most this often (seconds) while figures move.
WALLBOARD_INTERVAL = REFRESH_INTERVAL
# Threads (each with its own database connection, kept for DB_CONN_MAX_AGE) that read snapshots,
# heartbeats and wallboards for the process's sockets, so that they run side by side (docs/dashboards.md).
DB_THREADS = 4

_T = TypeVar("_T")
_db_threads = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="live-db")


async def db_read(function: Callable[..., _T], *args: Any) -> _T:
    """Run a read-only `function(*args)` in one of the DB_THREADS threads; stale connections are closed around it.

    channels' default (thread-sensitive) puts every database call of the process on one thread, so
    each socket's snapshot and every session read queued behind the others: at 20 connects a second
    that queue was the p99 of the handshake. Snapshots are reads in their own transaction and share
    nothing between calls, so any thread will do. SQLite serialises the snapshot's transaction anyway
    (BEGIN IMMEDIATE), so there it keeps the one thread.
    """
    if connection.vendor == "sqlite":
        return await database_sync_to_async(function)(*args)
    return await database_sync_to_async(function, thread_sensitive=False, executor=_db_threads)(*args)


def db_threads_close() -> None:
    """Close the database connections the DB_THREADS threads hold (tests: so PostgreSQL can drop the database)."""
    barrier = threading.Barrier(DB_THREADS)

    def close() -> None:
        barrier.wait(timeout=10)  # every thread holds one task, so each closes its own connections
        connections.close_all()

    for future in [_db_threads.submit(close) for _ in range(DB_THREADS)]:
        future.result()


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """/ws/events/?view=<operator|supervisor|department>: a snapshot of the view, then its events."""

    view: View
    streams: list[str]
    seqs: dict[str, int]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        view = view_get(_query(self.scope, "view"), user)
        if view is None:
            await self._refuse(CLOSE_BAD_REQUEST)
            return
        if not view.allows(user):
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self.user, self.view = user, view
        self.streams = view.streams(user)
        self.seqs = {}
        self.language = _language(self.scope)
        self._last_snapshot = 0.0
        self._heartbeat: asyncio.Task | None = None
        self._wallboard = _WallboardRefresh(self) if WALLBOARD_PART in view.parts else None
        # Join before the snapshot is read: an event committed after that read is then surely
        # delivered, and one committed before it is dropped below as already in the snapshot.
        # (The base class leaves `self.groups` on disconnect.)
        self.groups = self.streams
        for group in self.streams:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self._send_snapshot()
        interval = settings.LIVE_HEARTBEAT_SECONDS
        if interval > 0:
            self._heartbeat = asyncio.ensure_future(self._beat(interval))

    async def disconnect(self, code: int) -> None:
        heartbeat = getattr(self, "_heartbeat", None)
        if heartbeat is not None:
            heartbeat.cancel()
        wallboard = getattr(self, "_wallboard", None)
        if wallboard is not None:
            wallboard.stop()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Hand a message to its handler, without channels' per-message hop to the sync thread.

        channels closes stale database connections before every message on the one thread all
        thread-sensitive code shares: for 100 sockets that was a thread hop per event per socket,
        queued behind the snapshots. This consumer touches the database only through db_read(),
        which closes stale connections around each call itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive_json(self, content: Any, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resync":
            wait = self._last_snapshot + RESYNC_MIN_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._send_snapshot()
        else:
            await self.send_json({"type": "error", "error": "unknown message type", "received": kind})

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return json.loads(text_data)
        except ValueError:
            return None  # answered as an unknown message rather than crashing the socket

    async def hotline_event(self, message: dict[str, Any]) -> None:
        """A published event (dashboards.publish): forward it unless the snapshot already holds it."""
        stream, seq = message.get("stream"), message.get("seq")
        if stream not in self.seqs:
            return  # never another stream's event, whatever reached this channel
        if seq is not None:
            if seq <= self.seqs[stream]:
                return  # already in the snapshot, or sent again after a relay failed halfway
            self.seqs[stream] = seq
        await self.send_json(
            {
                "type": "event",
                "stream": stream,
                "seq": seq,
                "id": message["id"],
                "event": message["event"],
                "payload": message["payload"],
            }
        )
        if self._wallboard is not None and wallboard_affected_by(message["event"]):
            self._wallboard.stale(time.monotonic())

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def _send_snapshot(self) -> None:
        snapshot = await db_read(self._build_snapshot)
        built = time.monotonic()
        self.seqs = dict(snapshot["streams"])
        snapshot["heartbeat"] = settings.LIVE_HEARTBEAT_SECONDS
        snapshot["user"] = {"id": self.user.pk, "username": self.user.username}
        self._last_snapshot = time.monotonic()
        await self.send_json(snapshot)
        if self._wallboard is not None:
            self._wallboard.sent_in_snapshot(snapshot["data"][WALLBOARD_PART], built)

    def _build_snapshot(self) -> dict[str, Any]:
        with translation.override(self.language):
            return snapshot_build(self.view, self.user)

    async def _beat(self, interval: float) -> None:
        """Tell the client each stream's last number now and then.

        A lost event is otherwise only noticed when the next one arrives, which in a quiet
        department may be hours later; the client compares these numbers with what it has had
        (allowing one interval for events still on their way) and resyncs if it fell behind.
        The message also keeps proxies from closing an idle socket.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                streams = await db_read(stream_seqs, self.streams)
            except Exception:  # the database is away: the client notices the silence instead
                logger.warning("live heartbeat could not read the streams", exc_info=True)
                continue
            await self.send_json({"type": "heartbeat", "streams": streams})


class _WallboardRefresh:
    """When and what to send one socket to keep its wallboard true: {"type": "wallboard", "data": …}.

    An event that can move a figure marks the wallboard stale; a refresh follows at the next tick of
    a clock shared by the process's sockets (every WALLBOARD_INTERVAL), at least an interval after the
    socket's last one, so a burst costs one refresh a second and its last change is always sent. The
    refresh must show the state at least as of the latest event the socket had: it takes the
    process's shared computation (wallboard_cached) only if that began after the event arrived (the
    event was committed before it was relayed). Sockets refreshing on the same tick share one: with
    a timer of its own each socket refreshed at its own moment, after the latest event, and every
    supervisor's socket computed the wallboard anew each second.

    The snapshot's wallboard may be a computation from up to a second before the snapshot, older
    than events the snapshot's streams already count (those are never sent to the socket), so a
    snapshot is followed by one check a second later, sent only if a figure changed. A refresh
    whose figures equal the ones the socket shows is not sent.
    """

    def __init__(self, consumer: EventsConsumer) -> None:
        self.consumer = consumer
        self.since = 0.0  # monotonic time of the latest change the next refresh must show
        self.last = float("-inf")  # monotonic time the last refresh began (or the snapshot was built)
        self.shown: dict[str, Any] | None = None  # the figures the socket shows
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Future | None = None
        self.generation = 0
        self.sent_generation = 0

    def stale(self, since: float) -> None:
        """The socket must be shown the state as of `since` (monotonic) or later: plan a refresh."""
        self.since = max(self.since, since)
        if self.timer is not None:
            return  # a refresh is planned; it will read after `since`
        now = time.monotonic()
        due = math.ceil(max(now, self.last + WALLBOARD_INTERVAL) / WALLBOARD_INTERVAL) * WALLBOARD_INTERVAL
        self.timer = asyncio.get_running_loop().call_later(max(0.0, due - now), self._due)

    def sent_in_snapshot(self, wallboard: dict[str, Any], built: float) -> None:
        self.generation += 1
        self.sent_generation = self.generation
        self.shown = _figures(wallboard)
        self.last = built
        self.stale(built)  # the check a second later (see the class docstring)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None:
            self.task.cancel()

    def _due(self) -> None:
        self.timer = None
        self.task = asyncio.ensure_future(self._refresh())

    async def _refresh(self) -> None:
        # Events arriving while this reads plan the next refresh, an interval after this one began.
        self.last = time.monotonic()
        since = self.since
        self.generation += 1
        generation = self.generation
        try:
            data = await db_read(self._read, since)
        except Exception:  # the database is away: try again an interval later
            logger.warning("wallboard refresh could not be read", exc_info=True)
            self.stale(since)
            return
        if generation < self.sent_generation:
            return  # a snapshot (or a later refresh) already showed something newer
        figures = _figures(data)
        if figures == self.shown:
            return
        self.sent_generation = generation
        self.shown = figures
        await self.consumer.send_json({"type": "wallboard", "data": data})

    def _read(self, since: float) -> dict[str, Any]:
        with translation.override(self.consumer.language):
            # Only a computation that began after `since` shows the changes up to it.
            return wallboard_cached(max_age=WALLBOARD_INTERVAL, since=since)


def _figures(wallboard: dict[str, Any]) -> dict[str, Any]:
    """What the wallboard shows, without what only says when it was computed (the page ticks the wait itself)."""
    figures = {key: value for key, value in wallboard.items() if key != "now"}
    queue = figures.get("queue")
    if isinstance(queue, dict):
        figures["queue"] = {key: value for key, value in queue.items() if key != "longest_wait"}
    return figures


def _query(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def _language(scope: dict[str, Any]) -> str:
    """The interface language the pages would use: the language cookie, else Accept-Language."""
    headers = dict(scope.get("headers", []))
    request = SimpleNamespace(
        COOKIES=scope.get("cookies", {}),
        META={"HTTP_ACCEPT_LANGUAGE": headers.get(b"accept-language", b"").decode("latin-1")},
        path_info="/",
    )
    return translation.get_language_from_request(request)
