"""Websocket consumers: authenticate, pick the live view, send its snapshot, forward its streams' events.

The protocol (messages, sequence numbers, resync, close codes) is described in docs/dashboards.md.
"""

import asyncio
import json
import logging
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation

from .publish import stream_seqs
from .snapshots import View, snapshot_build, view_get

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's). The socket is accepted first and then closed, so
# the browser sees the code (a refused handshake only shows 1006) and knows not to retry.
CLOSE_BAD_REQUEST = 4400  # no such view
CLOSE_UNAUTHENTICATED = 4401  # no session: sign in again
CLOSE_FORBIDDEN = 4403  # the user's role may not see this view
# At most one snapshot a second per socket, however often a client asks.
RESYNC_MIN_INTERVAL = 1.0


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

    async def _refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def _send_snapshot(self) -> None:
        snapshot = await database_sync_to_async(self._build_snapshot)()
        self.seqs = dict(snapshot["streams"])
        snapshot["heartbeat"] = settings.LIVE_HEARTBEAT_SECONDS
        snapshot["user"] = {"id": self.user.pk, "username": self.user.username}
        self._last_snapshot = time.monotonic()
        await self.send_json(snapshot)

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
                streams = await database_sync_to_async(stream_seqs)(self.streams)
            except Exception:  # the database is away: the client notices the silence instead
                logger.warning("live heartbeat could not read the streams", exc_info=True)
                continue
            await self.send_json({"type": "heartbeat", "streams": streams})


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
