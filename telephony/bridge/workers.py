"""The bridge's database threads: every database step of every call runs on a few long-lived connections.

A call's own thread spends nearly all its life waiting for the caller (prompts, keys). Were it to hold
a database connection meanwhile, ~160 calls open at the busy hour would need ~160 PostgreSQL backends
(the default max_connections is 100) and every call would pay for a new connection. So call threads
touch no database: they hand each step (open the call, record the IVR result, …) to these workers
and wait for its result.

Each step is one transaction. The event publisher asks for a relay on every commit (one per event,
in fact); run as asked, the bridge would pay a relay transaction for each of its own. The workers
take those on-commit hooks out of the step's transaction, and a thread of their own runs each
distinct hook once for all the commits of the last `hook_delay` seconds: one relay sends the events
of many calls, and no call step waits behind it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, connections, transaction

from .database import DB_ERRORS, discard_connection

logger = logging.getLogger(__name__)

T = TypeVar("T")
Hook = Callable[[], object]
# How long the on-commit hooks of the bridge's transactions wait to be run together. Events reach
# the dashboards this much later; at 20 calls/s it saves about one relay transaction per call.
HOOK_DELAY = 0.1
# The call threads' name prefix is "agi "; these are "agi db-1" …, so an outage of the bridge's database
# connections is an outage of these threads (tests/telephony/test_bridge_outage.py makes one that way).
THREAD_NAME = "agi db-{}"
_ids = itertools.count(1)


@dataclass
class _Job:
    step: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    atomic: bool
    future: Future[Any] = field(default_factory=Future)


class DatabaseWorkers:
    """`size` threads that run database steps, each thread on its own connection kept open between steps.

    `context` wraps every step and hook run (the service sets it: events then go out through one
    event loop). With `hook_delay` 0 a step's on-commit hooks run right after its commit, on its
    worker, before the step returns, as they would without the workers (tests).
    """

    def __init__(
        self,
        size: int,
        *,
        hook_delay: float = HOOK_DELAY,
        context: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.size = max(1, size)
        self.hook_delay = hook_delay
        self.context = context
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._hooks: list[Hook] = []
        self._hooks_waiting = threading.Event()
        self._closing = threading.Event()  # cuts the hook thread's gathering short
        self._hook_thread: threading.Thread | None = None
        self._closed = False

    def run(self, step: Callable[..., T], *args: Any, atomic: bool = True, **kwargs: Any) -> T:
        """Run `step(*args, **kwargs)` on a worker and return its result or raise its exception.

        `atomic`: in one transaction (the step's own atomic blocks nest in it). A step that manages its
        transactions itself (the spool replay deletes a record only after its own commit) passes False.
        A step that fails on a connection kept from an earlier step (the server restarted, the backend
        was terminated) is run once more on a new connection: every bridge step is idempotent.
        """
        job = _Job(step, args, kwargs, atomic)
        with self._lock:
            if self._closed:
                raise RuntimeError("the bridge's database workers are closed")
            while len(self._threads) < self.size:  # started on first use; each connects on its first step
                self._threads.append(self._start(self._work))
        self._jobs.put(job)
        return job.future.result()

    def close(self, timeout: float = 10.0) -> None:
        """End the threads (the hooks still waiting run first) and close their connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
            hook_thread = self._hook_thread
        for _thread in threads:
            self._jobs.put(None)
        self._closing.set()
        self._hooks_waiting.set()
        for thread in [*threads, *([hook_thread] if hook_thread else [])]:
            thread.join(timeout)

    def _start(self, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=THREAD_NAME.format(next(_ids)), daemon=True)
        thread.start()
        return thread

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                if not job.future.set_running_or_notify_cancel():
                    continue
                try:
                    result = self._execute(job)
                except BaseException as exc:  # handed to the waiting call thread, which decides
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(result)
        finally:
            connections.close_all()

    def _execute(self, job: _Job) -> Any:
        for attempt in (1, 2):
            reused = connection.connection is not None
            try:
                # As Django does between requests: a connection past CONN_MAX_AGE or broken is closed.
                connection.close_if_unusable_or_obsolete()
                with self.context():
                    return self._attempt(job)
            except DB_ERRORS as exc:
                discard_connection()
                if attempt == 2 or not reused:
                    raise
                logger.info("database connection kept from an earlier step failed (%s); trying a new one", exc)
        raise AssertionError("unreachable")

    def _attempt(self, job: _Job) -> Any:
        if not job.atomic:
            return job.step(*job.args, **job.kwargs)
        with transaction.atomic():
            result = job.step(*job.args, **job.kwargs)
            hooks = _take_commit_hooks()
        if self.hook_delay <= 0:
            _run_each(hooks)
        else:
            self._defer(hooks)
        return result

    def _defer(self, hooks: list[Hook]) -> None:
        if not hooks:
            return
        with self._lock:
            closing = self._closed
        if closing:  # the hook thread may be gone already: run them here
            _run_each(hooks)
            return
        with self._lock:
            for hook in hooks:
                if not any(hook is waiting for waiting in self._hooks):
                    self._hooks.append(hook)
            if self._hook_thread is None:
                self._hook_thread = self._start(self._run_hooks)
        self._hooks_waiting.set()

    def _run_hooks(self) -> None:
        """The hook thread: once hooks wait, gather the commits of `hook_delay` more seconds, run each once."""
        try:
            while True:
                self._hooks_waiting.wait()
                # Not a sleep: a close() that comes meanwhile must not wait out the delay (it joins
                # this thread with a timeout, and the hooks would run after it gave up).
                self._closing.wait(self.hook_delay)
                with self._lock:
                    hooks, self._hooks = self._hooks, []
                    self._hooks_waiting.clear()
                    closed = self._closed
                try:
                    # The relay swallows database errors (the periodic sweep retries): drop a broken connection.
                    connection.close_if_unusable_or_obsolete()
                except DB_ERRORS:
                    discard_connection()
                with self.context():
                    _run_each(hooks)
                if closed:
                    return
        finally:
            connections.close_all()


def _take_commit_hooks() -> list[Hook]:
    """The on-commit hooks registered in the current transaction, removed from it, each callable once.

    Django keeps them in `connection.run_on_commit` as (savepoint ids, callable, robust) and runs them
    at the outermost commit; there is no public way to defer them. Taken just before the commit, they
    are exactly the hooks that commit would run (those of rolled-back savepoints are already gone).
    """
    hooks: list[Hook] = []
    for _savepoints, hook, _robust in connection.run_on_commit:
        if not any(hook is taken for taken in hooks):
            hooks.append(hook)
    connection.run_on_commit = []
    return hooks


def _run_each(hooks: list[Hook]) -> None:
    # After the commit, as Django's robust hooks: a failing hook is logged and the others still run.
    for hook in hooks:
        try:
            hook()
        except Exception:
            logger.exception("on-commit hook %s failed", getattr(hook, "__qualname__", hook))
