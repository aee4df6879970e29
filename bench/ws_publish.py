"""The publisher side of bench/ws_load.py (its child process, Django set up): events for both apps.

"project" events go through the project's one publisher, `dashboards.publish.publish()` (outbox
row, per-stream numbers, relay on commit), one event per transaction as a single-change action
publishes; "noop" events are `group_send`s on the same channel layer from one event loop, numbered
per group here. Both carry the same payload: a ticket event's shape plus `bench` (the event's
number and time.monotonic() just before it was handed over), so the sockets can time it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from channels.layers import get_channel_layer
from django.db import close_old_connections

from dashboards.publish import MESSAGE_TYPE, publish, relay_pending

logger = logging.getLogger(__name__)
EVENT_TYPE = "ticket.edit"


def bench_payload(number: int, department: int, sent: float) -> dict[str, Any]:
    """A ticket.edit payload (ids and what changed, as tickets.actions.lifecycle words it) with the send time."""
    return {
        "ticket": f"2026112{number:06d}",
        "id": number,
        "action": "edit",
        "from": "registered",
        "status": "registered",
        "kind": "complaint",
        "department": department,
        "deadline": None,
        "changed": ["title"],
        "bench": {"n": number, "t": sent},
    }


class BenchPublisher:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer = get_channel_layer()
        self.noop_seqs: dict[str, int] = {}
        self.number = 0
        self.stopping = threading.Event()

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "steady":
            return self.run(command, rate=float(command["rate"]), count=int(command["rate"] * command["seconds"]))
        if op == "burst":
            return self.run(command, rate=0.0, count=int(command["count"]))
        if op == "ping":
            return {"ok": True}
        raise ValueError(f"unknown op {op!r}")

    def run(self, command: dict[str, Any], *, rate: float, count: int) -> dict[str, Any]:
        """Publish `count` events to `groups`, `rate` a second on a fixed schedule (0: back to back)."""
        target, groups, department = command["target"], list(command["groups"]), int(command["department"])
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        durations: list[float] = []
        lag = 0.0
        start = time.monotonic()
        for index in range(count):
            if rate:
                scheduled = start + index / rate
                wait = scheduled - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                else:
                    lag = max(lag, -wait)
            self.number += 1
            sent = time.monotonic()
            payload = bench_payload(self.number, department, sent)
            if target == "project":
                seqs = publish(EVENT_TYPE, payload, groups).seqs
            else:
                seqs = self.loop.run_until_complete(self._group_send(groups, payload))
            durations.append(time.monotonic() - sent)
            for group, seq in seqs.items():
                first.setdefault(group, seq)
                last[group] = seq
        elapsed = time.monotonic() - start
        durations.sort()
        return {
            "published": count,
            "start": start,
            "elapsed": elapsed,
            "first": first,
            "last": last,
            "lag": lag,
            "publish_p50": durations[len(durations) // 2] if durations else 0.0,
            "publish_p99": durations[max(0, round(0.99 * len(durations)) - 1)] if durations else 0.0,
        }

    async def _group_send(self, groups: list[str], payload: dict[str, Any]) -> dict[str, int]:
        seqs = {}
        for group in groups:
            seq = self.noop_seqs[group] = self.noop_seqs.get(group, 0) + 1
            message = {
                "type": MESSAGE_TYPE,
                "id": payload["id"],
                "stream": group,
                "seq": seq,
                "event": EVENT_TYPE,
                "payload": payload,
            }
            await self.layer.group_send(group, message)
            seqs[group] = seq
        return seqs

    def sweep_forever(self, interval: float) -> None:
        """What Celery beat's relay_outbox does in production: send what the relays on commit left owed."""
        while not self.stopping.wait(interval):
            try:
                relay_pending()
            except Exception:
                logger.exception("relay sweep failed")
            finally:
                close_old_connections()

    def close(self) -> None:
        self.stopping.set()
        self.loop.close()
