"""pyst2's AMI client (asterisk.manager.Manager) with pyst2 0.5.1's defects on Python 3.11 fixed in one place.

pyst2 keeps the action layer (login, logoff, ping, command … each builds a dict and calls send_action;
login turns `Response: Error` into ManagerAuthException), its message and event classes and its
exceptions. This subclass replaces the socket, the threads and the framing underneath them. The defects,
each shown on plain pyst2 in tests/telephony/test_ami_client.py:

1. No timeouts: connect() waits forever for the banner and send_action() forever for a response (so do
   login, ping and close(), through logoff): a silent or half-open Asterisk hangs the caller. Every wait
   here has a deadline (AmiTimeout), and close() waits at most LOGOFF_TIMEOUT for the Logoff answer.
2. A Manager cannot reconnect: its threads are built once in __init__, so connect() after a drop raises
   RuntimeError ("threads can only be started once"); and nothing tells the owner that the connection
   dropped (the dispatch thread just ends). Here: one AmiClient per connection, and next_event() raises
   AmiDisconnected once the events received before the drop have been consumed.
3. An exception in an event callback ends pyst2's dispatch thread silently: later events queue up and are
   never seen. Events are pulled here (next_event) on the caller's own thread instead of pushed.
4. ManagerMsg.parse calls dict.has_key (Python 2) on a ChanVariable header: AttributeError kills the
   message thread, after which every action waits forever. Parsed here with dict methods.
5. A response whose message says "... status will follow" (QueueStatus, Status) makes the reader glue it
   and every event of the list into one message, up to a line containing "StatusComplete": the
   QueueParams / QueueMember / QueueEntry events are never dispatched, only left as raw text in
   response.data. Here every blank line ends a message and a list's events are collected by ActionID.
6. Responses are matched by arrival order, not ActionID, and send_action's mutable default dict keeps the
   first ActionID for every later keyword-argument call. Here each action gets a fresh ActionID and waits
   for the response carrying it; a late answer to an action that timed out is dropped.
7. The socket is read through an unbuffered file (one recv() per byte) with no cap on a message, and bytes
   that are not UTF-8 vanish silently. Here: 64 KiB reads, a message cap, invalid bytes replaced and logged.
8. The deprecated threading names (setDaemon, isSet, currentThread) warn on Python 3.10+. Not used here.
Found on the way: send_action writes header values as given, so a CR/LF in one injects headers; refused here.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import queue
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asterisk import manager as pyst2

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
ACTION_TIMEOUT = 10.0
LOGOFF_TIMEOUT = 1.0
MAX_MESSAGE_BYTES = 256 * 1024
MAX_BANNER_BYTES = 1024
_RECV_BYTES = 65536

ManagerException = pyst2.ManagerException
ManagerSocketException = pyst2.ManagerSocketException
ManagerAuthException = pyst2.ManagerAuthException


class AmiConnectError(pyst2.ManagerSocketException):
    """Asterisk cannot be reached (refused, unreachable, no answer to the TCP handshake)."""


class AmiTimeout(pyst2.ManagerSocketException):
    """Asterisk did not answer in time: treat the connection as broken."""


class AmiDisconnected(pyst2.ManagerSocketException):
    """The connection is gone (EOF, reset, or closed by us)."""


class AmiProtocolError(pyst2.ManagerSocketException):
    """The peer does not speak AMI."""


class _Closed:
    """Marker put in the queues when the connection ends."""


_CLOSED = _Closed()


class AmiMessage(pyst2.ManagerMsg):
    """pyst2's message with a Python 3 parser: each *ChanVariable header becomes a dict of its variables."""

    def parse(self, response: list[str]) -> None:
        data: list[str] = []
        for n, line in enumerate(response):
            key, colon, value = line.partition(":")
            if not colon or not line.endswith("\r\n") or not key.strip():
                data.extend(response[n:])  # the rest is free text (command output)
                break
            key, value = key.strip(), value.strip()
            if key.endswith("ChanVariable"):
                name, _eq, variable = value.partition("=")
                self.headers.setdefault(key, {})[name.strip()] = variable.strip()
            else:
                self.headers[key] = value
        self.data = "".join(data)


def message_from_lines(lines: list[str], *, received_at: datetime.datetime, seq: int) -> AmiMessage | pyst2.Event:
    """One AMI message (its lines without CRLF): a pyst2 Event, or a response, stamped with arrival time and order."""
    message = AmiMessage([f"{line}\r\n" for line in lines])
    result: AmiMessage | pyst2.Event = pyst2.Event(message) if message.has_header("Event") else message
    result.received_at = received_at  # type: ignore[union-attr]
    result.seq = seq  # type: ignore[union-attr]
    return result


@dataclass
class ListResult:
    """The answer to a list action: the response, the listed events, and the arrival number of the last one."""

    response: AmiMessage
    events: list[pyst2.Event]
    complete_seq: int


@dataclass
class _Collector:
    events: list[pyst2.Event] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    complete_seq: int = 0
    closed: bool = False

    def add(self, event: pyst2.Event) -> None:
        if event.get_header("EventList", "").lower() == "complete" or event.name.endswith("Complete"):
            self.complete_seq = event.seq
            self.done.set()
        else:
            self.events.append(event)


class AmiClient(pyst2.Manager):
    """One AMI connection: pyst2's actions over a socket with deadlines; events pulled with next_event().

    Connect once; after a drop make a new client. Thread-safe for actions; events go to one consumer.
    """

    def __init__(
        self,
        *,
        timeout: float = ACTION_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        # Manager.__init__ is deliberately not called (defects 2, 3 and 8); these are the attributes
        # pyst2's action methods use.
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_message_bytes = max_message_bytes
        self.hostname = socket.gethostname()
        self.title: str | None = None
        self.version: str | None = None
        self.peer = ""
        self._sock: socket.socket | None = None
        self._connected = threading.Event()
        self._running = threading.Event()
        self._seqlock = threading.Lock()
        self._seq = 0
        self._event_callbacks: dict[str, list[Any]] = {}
        self._events: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()  # guards the two dicts below
        self._waiting: dict[str, queue.Queue[Any]] = {}
        self._lists: dict[str, _Collector] = {}
        self._write_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._arrivals = itertools.count(1)
        self._close_reason = "not connected"

    def __del__(self) -> None:
        # pyst2's __del__ logs off, which can block a garbage collection for ever (defect 1).
        sock = self.__dict__.get("_sock")
        if sock is not None:
            sock.close()

    def connected(self) -> bool:
        return self._connected.is_set()

    def register_event(self, event: str, function: Any) -> None:
        raise NotImplementedError("AmiClient delivers events through next_event(), on the caller's thread")

    def connect(self, host: str, port: int = 5038) -> str:
        """Open the TCP connection and read Asterisk's banner; return it ("Asterisk Call Manager/9.0.0")."""
        if self._reader is not None:
            raise pyst2.ManagerException("an AmiClient connects once: make a new one to reconnect")
        self.peer = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, int(port)), timeout=self.connect_timeout)
        except TimeoutError as exc:
            raise AmiConnectError(f"AMI at {self.peer}: no answer within {self.connect_timeout:g} s") from exc
        except OSError as exc:
            raise AmiConnectError(f"AMI at {self.peer}: {exc.strerror or exc}") from exc
        try:
            banner, rest = self._read_banner(sock)
        except BaseException:
            sock.close()
            raise
        # Idle reads wake up once per timeout (and go back to reading); a send that cannot finish in time
        # means a dead peer.
        sock.settimeout(self.timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self.title, _slash, self.version = (part.strip() for part in banner.partition("/"))
        self._sock = sock
        self._close_reason = "open"
        self._connected.set()
        self._running.set()
        self._reader = threading.Thread(target=self._read_loop, args=(rest,), name=f"ami-{self.peer}", daemon=True)
        self._reader.start()
        return banner

    def _read_banner(self, sock: socket.socket) -> tuple[str, bytes]:
        deadline = time.monotonic() + self.connect_timeout
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AmiTimeout(f"AMI at {self.peer}: no banner within {self.connect_timeout:g} s")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(MAX_BANNER_BYTES)
            except TimeoutError:
                continue
            except OSError as exc:
                raise AmiDisconnected(f"AMI at {self.peer}: {exc}") from exc
            if not chunk:
                raise AmiDisconnected(f"AMI at {self.peer} closed the connection before its banner")
            buffer += chunk
            if len(buffer) > MAX_BANNER_BYTES and b"\n" not in buffer:
                raise AmiProtocolError(f"{self.peer} is not an AMI server (no banner line)")
        line, _nl, rest = buffer.partition(b"\n")
        banner = line.rstrip(b"\r").decode("utf-8", "replace").strip()
        if "/" not in banner or ":" in banner:  # pyst2's own test for the greeting line
            raise AmiProtocolError(f"{self.peer} is not an AMI server: it greeted {banner[:60]!r}")
        return banner, rest

    def send_action(
        self, cdict: Mapping[str, Any] | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> AmiMessage:
        """Send one action and return its response (AmiTimeout after `timeout`, AmiDisconnected if the line drops)."""
        fields = {**(cdict or {}), **kwargs}
        action_id = str(fields.setdefault("ActionID", f"{self.hostname}-{self.next_seq():08x}"))
        slot: queue.Queue[Any] = queue.Queue(maxsize=1)
        with self._lock:
            self._waiting[action_id] = slot
        try:
            self._write(fields)
            wait = self.timeout if timeout is None else timeout
            try:
                response = slot.get(timeout=wait)
            except queue.Empty:
                raise AmiTimeout(f"AMI at {self.peer}: no response to {fields.get('Action')} in {wait:g} s") from None
        finally:
            with self._lock:
                self._waiting.pop(action_id, None)
        if response is _CLOSED:
            raise AmiDisconnected(f"AMI at {self.peer}: {self._close_reason}")
        return response

    def send_list_action(self, cdict: Mapping[str, Any], *, timeout: float | None = None) -> ListResult:
        """Send an action that answers with a list of events (EventList: start … Complete) and collect them."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        action_id = f"{self.hostname}-{self.next_seq():08x}"
        collector = _Collector()
        with self._lock:
            self._lists[action_id] = collector
        try:
            response = self.send_action({**cdict, "ActionID": action_id}, timeout=wait)
            if response.get_header("Response") != "Success":
                raise pyst2.ManagerException(f"{cdict.get('Action')} refused: {response.get_header('Message')}")
            if not collector.done.wait(max(0.0, deadline - time.monotonic())):
                raise AmiTimeout(f"AMI at {self.peer}: {cdict.get('Action')} list incomplete after {wait:g} s")
        finally:
            with self._lock:
                self._lists.pop(action_id, None)
        if collector.closed:
            raise AmiDisconnected(f"AMI at {self.peer}: {self._close_reason}")
        return ListResult(response, collector.events, collector.complete_seq)

    def queue_status(self, *, timeout: float | None = None) -> ListResult:
        """Every queue's parameters, members and waiting callers (QueueParams, QueueMember, QueueEntry)."""
        return self.send_list_action({"Action": "QueueStatus"}, timeout=timeout)

    def next_event(self, timeout: float | None = None) -> pyst2.Event | None:
        """The next unsolicited event, or None after `timeout`; AmiDisconnected once the connection is gone."""
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._events.put(_CLOSED)  # every later call learns it too
            raise AmiDisconnected(f"AMI at {self.peer}: {self._close_reason}")
        return item

    def close(self) -> None:
        """Log off (waiting at most LOGOFF_TIMEOUT) and close. Safe to call twice and from any thread."""
        if self._connected.is_set():
            self._close_reason = "closed by us"
            try:
                self.send_action({"Action": "Logoff"}, timeout=LOGOFF_TIMEOUT)
            except (pyst2.ManagerException, OSError):
                pass
        sock = self._sock
        self._shutdown(self._close_reason if self._close_reason != "open" else "closed by us")  # wakes the reader
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=self.timeout)
        if sock is not None:
            sock.close()
        self._running.clear()

    def _write(self, fields: Mapping[str, Any]) -> None:
        lines = []
        for key, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                line = f"{key}: {item}"
                if "\r" in line or "\n" in line:
                    raise ValueError(f"AMI header {key!r} contains a line break")
                lines.append(line)
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace")
        if not self._connected.is_set() or self._sock is None:
            raise AmiDisconnected(f"AMI at {self.peer}: {self._close_reason}")
        with self._write_lock:
            try:
                self._sock.sendall(data)
            except OSError as exc:  # a send cut by the timeout leaves half an action on the wire
                self._shutdown(f"send failed: {exc}")
                raise AmiDisconnected(f"AMI at {self.peer}: send failed: {exc}") from exc

    def _shutdown(self, reason: str) -> None:
        self._close_reason = reason
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _read_loop(self, buffer: bytes) -> None:
        reason = "closed by Asterisk"
        lines: list[str] = []
        size, skipping = 0, False
        assert self._sock is not None
        try:
            while True:
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    raw = raw[:-1] if raw.endswith(b"\r") else raw
                    if not raw:  # a blank line ends every message
                        if lines and not skipping:
                            self._deliver(lines)
                        lines, size, skipping = [], 0, False
                        continue
                    size += len(raw) + 2
                    if skipping:
                        continue
                    if size > self.max_message_bytes:
                        logger.warning("AMI %s: message over %d bytes skipped", self.peer, self.max_message_bytes)
                        lines, skipping = [], True
                        continue
                    lines.append(self._decode(raw))
                if len(buffer) > self.max_message_bytes:
                    if not skipping:
                        logger.warning("AMI %s: line over %d bytes skipped", self.peer, self.max_message_bytes)
                    buffer, lines, skipping = b"", [], True
                try:
                    chunk = self._sock.recv(_RECV_BYTES)
                except TimeoutError:
                    continue  # idle: Asterisk may be quiet for hours; the listener pings
                if not chunk:
                    break
                buffer += chunk
        except OSError as exc:
            reason = f"connection error: {exc}"
        finally:
            self._closed(reason)

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # The header name only: values can hold a caller's number.
            logger.warning("AMI %s: non-UTF-8 bytes in %r replaced", self.peer, raw.partition(b":")[0][:40])
            return raw.decode("utf-8", "replace")

    def _deliver(self, lines: list[str]) -> None:
        received_at = datetime.datetime.now(datetime.UTC)
        message = message_from_lines(lines, received_at=received_at, seq=next(self._arrivals))
        action_id = message.get_header("ActionID")
        if isinstance(message, pyst2.Event):
            with self._lock:
                collector = self._lists.get(action_id) if action_id else None
            if collector is not None:
                collector.add(message)
            else:
                self._events.put(message)
            return
        with self._lock:
            slot = self._waiting.get(action_id) if action_id else None
        if slot is None:
            if message.get_header("Response") == "Generated Header":
                logger.warning("AMI %s: message with neither Event nor Response skipped", self.peer)
            else:
                logger.debug("AMI %s: response %s that nobody waits for dropped", self.peer, action_id)
            return
        try:
            slot.put_nowait(message)
        except queue.Full:
            logger.debug("AMI %s: second response for %s dropped", self.peer, action_id)

    def _closed(self, reason: str) -> None:
        if self._close_reason == "open":
            self._close_reason = reason
        self._connected.clear()
        with self._lock:
            waiting = list(self._waiting.values())
            collectors = list(self._lists.values())
        for slot in waiting:
            try:
                slot.put_nowait(_CLOSED)
            except queue.Full:
                pass
        for collector in collectors:
            collector.closed = True
            collector.done.set()
        self._events.put(_CLOSED)
        if self._sock is not None:
            self._sock.close()
