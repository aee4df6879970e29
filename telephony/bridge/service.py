"""The bridge as a running service: the FastAGI server with the bridge as handler, and the spool replay loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator

from asgiref.sync import SyncToAsync
from django.conf import settings

from telephony.agi.pyst2_adapter import FastAGISession
from telephony.agi.server import FastAGIServer

from .flows import Bridge

logger = logging.getLogger(__name__)

# How often the replay loop looks at the spool and the held ticket numbers.
MAINTAIN_INTERVAL = 2.0


class BridgeService:
    """Serve FastAGI with `bridge` and keep its spool replayed; stop() stops accepting, drains, replays once more.

    `thread_context`, if given, wraps the work of every bridge thread (each call, each database step,
    each replay round): the embedded run command uses it to send events through daphne's event loop.
    Without it the service runs an event loop of its own for that (EventLoopThread). The server holds
    at most HOTLINE_AGI_MAX_CALLS calls unless `max_sessions` says otherwise.
    """

    def __init__(
        self,
        bridge: Bridge,
        *,
        host: str,
        port: int,
        allowed_hosts: Iterable[str] = (),
        thread_context: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
        maintain_interval: float | None = MAINTAIN_INTERVAL,
        **server_options: float,
    ) -> None:
        self.bridge = bridge
        self.events = EventLoopThread() if thread_context is None else None
        self.thread_context = thread_context or self.events.context  # type: ignore[union-attr]
        bridge.store.db.context = self.thread_context
        server_options.setdefault("max_sessions", settings.AGI_MAX_CALLS)
        self.server = FastAGIServer(
            self._handle, host=host, port=port, allowed_hosts=list(allowed_hosts), **server_options
        )
        self.maintain_interval = maintain_interval
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._stopped = False

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    def start(self) -> tuple[str, int]:
        if self.events is not None:
            self.events.start()
        address = self.server.start()
        if self.maintain_interval is None:  # the caller runs bridge.maintain() itself (tests)
            return address
        self._loop = threading.Thread(target=self._maintain_loop, name="agi-spool-replay", daemon=True)
        self._loop.start()
        return address

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop accepting calls, let those in progress finish for up to `timeout` s; True if all did."""
        if self._stopped:
            return True
        self._stopped = True
        drained = self.server.stop(timeout)
        self._stop.set()
        if self._loop is not None:
            self._loop.join()
        # Calls spooled in the last seconds get one more chance before the process ends.
        try:
            self.bridge.maintain()
        finally:
            self.bridge.close()
            if self.events is not None:
                self.events.stop()
        left = len(self.bridge.store.spool.pending())
        if left:
            logger.warning("%d spooled call(s) left in %s for the next start", left, self.bridge.store.spool.directory)
        return drained

    def _handle(self, session: FastAGISession) -> None:
        with self.thread_context():
            self.bridge.handle(session)

    def _maintain_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.bridge.maintain()
            except Exception:  # the loop must outlive one bad round; the next one retries
                logger.exception("spool replay round failed")
            self._stop.wait(self.maintain_interval or MAINTAIN_INTERVAL)


class EventLoopThread:
    """An asyncio loop in a thread of its own, on which the bridge's threads send their events.

    The publisher relays with async_to_sync. From a plain thread that builds a new loop in a new
    thread for every relay, and channels_redis a new Redis connection for each loop: milliseconds per
    relay. async_to_sync runs on the loop it finds in asgiref's thread-local instead (as in threads
    that sync_to_async starts), so `context()` puts this one there. The embedded run command does the
    same with daphne's loop.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="agi-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
        self.loop.close()

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        local = SyncToAsync.threadlocal
        if not self.loop.is_running():
            yield
            return
        local.main_event_loop, local.main_event_loop_pid = self.loop, os.getpid()
        try:
            yield
        finally:
            local.main_event_loop = local.main_event_loop_pid = None
