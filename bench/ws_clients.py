"""The websocket clients of bench/ws_load.py: they time, count and check what the servers send.

A `Socket` is one dashboard page's connection (the project's /ws/events/ with a session cookie, or
the no-op app's /ws/noop/). It keeps what live.js keeps, the last number of each stream, and does
what it does on a gap: ask for a fresh snapshot ({"type": "resync"}), also when a heartbeat
announced a number the stream has not reached by the next heartbeat. Each event's `payload.bench.t`
(time.monotonic() on the publisher just before publishing; one clock for every process of a
machine) gives its event-to-client latency.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ORIGIN = "http://localhost"
OPEN_TIMEOUT = 30.0


@dataclass
class Tally:
    """What every socket of one app received during one phase."""

    name: str
    started: float = field(default_factory=time.monotonic)
    latencies: list[float] = field(default_factory=list)
    messages: int = 0  # bench events delivered (each socket counts its own copy)
    last_arrival: float = 0.0
    gaps: int = 0  # gaps the sockets noticed (each one a resync)
    snapshots: int = 0  # snapshots sent on a resync
    wallboards: int = 0  # wallboard refreshes (supervisor sockets)
    other: int = 0  # other events (call.*, queue.*, … in the screen-pop phase)


@dataclass(frozen=True)
class Connected:
    """One connection's timing: until the handshake completed (open), until its first message arrived."""

    open: float
    first: float


def connect_options(cookie: str | None) -> dict[str, Any]:
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else None
    return {
        "origin": ORIGIN,
        "additional_headers": headers,
        "compression": None,  # daphne does not negotiate permessage-deflate
        "proxy": None,
        "ping_interval": None,  # browsers do not ping either; the server's heartbeats keep it alive
        "max_size": 16 * 2**20,
        "max_queue": None,
        "open_timeout": OPEN_TIMEOUT,
    }


async def connect_once(url: str, cookie: str | None) -> Connected:
    """Open a socket, wait for its first message (snapshot or hello), close it: one connect sample."""
    started = time.monotonic()
    async with connect(url, **connect_options(cookie)) as websocket:
        opened = time.monotonic()
        first = json.loads(await asyncio.wait_for(websocket.recv(), OPEN_TIMEOUT))
        arrived = time.monotonic()
    if first.get("type") not in ("snapshot", "hello"):
        raise RuntimeError(f"first message was {first.get('type')!r}: {str(first)[:200]}")
    return Connected(opened - started, arrived - started)


class Hub:
    """The sockets of one app: the current phase's tally and the screen pops being waited for."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.tally = Tally("idle")
        self.pops: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self.sockets: list[Socket] = []

    def begin(self, name: str) -> Tally:
        self.tally = Tally(name)
        for socket in self.sockets:
            socket.begin_phase()
        return self.tally


class Socket:
    """One persistent dashboard connection."""

    def __init__(self, hub: Hub, url: str, cookie: str | None, label: str) -> None:
        self.hub, self.url, self.cookie, self.label = hub, url, cookie, label
        self.websocket: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.last: dict[str, int] = {}  # stream -> last number applied (live.js's state)
        self.announced: dict[str, int] = {}  # the previous heartbeat's numbers
        self.resync_pending = False
        self.closed_by_server: str = ""
        self.begin_phase()

    def begin_phase(self) -> None:
        self.received: dict[str, set[int]] = defaultdict(set)  # this phase's numbers, per stream
        self.covered: dict[str, int] = {}  # the highest number a snapshot of this phase covered, per stream

    async def open(self) -> Connected:
        started = time.monotonic()
        self.websocket = await connect(self.url, **connect_options(self.cookie))
        opened = time.monotonic()
        first = json.loads(await asyncio.wait_for(self.websocket.recv(), OPEN_TIMEOUT))
        arrived = time.monotonic()
        if first.get("type") == "snapshot":
            self.last = dict(first["streams"])
        elif first.get("type") == "hello":
            self.last = {first["stream"]: 0}
        else:
            raise RuntimeError(f"{self.label}: first message was {str(first)[:200]}")
        self.hub.sockets.append(self)
        self.reader = asyncio.ensure_future(self._read())
        return Connected(opened - started, arrived - started)

    async def close(self) -> None:
        if self.websocket is not None:
            await self.websocket.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def _read(self) -> None:
        assert self.websocket is not None
        try:
            async for raw in self.websocket:
                self._handle(json.loads(raw), time.monotonic())
        except ConnectionClosed as exc:
            self.closed_by_server = str(exc)

    def _handle(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("type")
        tally = self.hub.tally
        if kind == "event":
            self._event(message, now, tally)
        elif kind == "snapshot":
            tally.snapshots += 1
            self.resync_pending = False
            self.last = dict(message["streams"])
            for stream, seq in self.last.items():
                self.covered[stream] = max(self.covered.get(stream, 0), seq)
        elif kind == "heartbeat":
            streams = message.get("streams", {})
            if any(self.last.get(stream, 0) < seq for stream, seq in self.announced.items()):
                self._resync()
            self.announced = dict(streams)
        elif kind == "wallboard":
            tally.wallboards += 1

    def _event(self, message: dict[str, Any], now: float, tally: Tally) -> None:
        stream, seq, payload = message["stream"], message["seq"], message["payload"]
        if message.get("event") == "call.pop":
            waiter = self.hub.pops.get(payload.get("uniqueid", ""))
            if waiter is not None and not waiter.done():
                waiter.set_result((now, (payload.get("ticket") or {}).get("number", "")))
        bench = payload.get("bench") if isinstance(payload, dict) else None
        if bench is not None:
            tally.latencies.append(now - bench["t"])
            tally.messages += 1
            tally.last_arrival = now
            self.received[stream].add(seq)
        else:
            tally.other += 1
        last = self.last.get(stream, 0)
        if seq is None or seq <= last:
            return
        if seq > last + 1 and self.hub.app == "project":
            tally.gaps += 1
            self._resync()
        self.last[stream] = seq

    def _resync(self) -> None:
        if self.resync_pending or self.websocket is None:
            return
        self.resync_pending = True
        asyncio.ensure_future(self.websocket.send(json.dumps({"type": "resync"})))

    def missing(self, expected: dict[str, tuple[int, int]]) -> tuple[int, int]:
        """(lost, resynced): numbers of this phase's `expected` ranges the socket never received.

        A number it missed but a later snapshot of the phase covered was repaired (resynced).
        """
        lost = resynced = 0
        for stream, (first, last) in expected.items():
            if stream not in self.last:
                continue  # not one of this socket's streams
            got = self.received.get(stream, set())
            for seq in range(first, last + 1):
                if seq not in got:
                    if self.covered.get(stream, 0) >= seq:
                        resynced += 1
                    else:
                        lost += 1
        return lost, resynced

    def caught_up(self, expected: dict[str, tuple[int, int]]) -> bool:
        return all(self.last.get(stream, last) >= last for stream, (_first, last) in expected.items())
