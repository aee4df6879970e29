"""The FastAGI server core: accepts Asterisk's connections, one thread per call, caps, allowlist, graceful drain.

Threads rather than asyncio: pyst2's command layer is blocking, and the handlers will call the Django
ORM, which is blocking too; a thread per held call (~160 at the busy hour) keeps both plain.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

from telephony.agi.protocol import (
    MAX_ENV_BYTES,
    MAX_LINE_BYTES,
    READ_TIMEOUT,
    AGIHangup,
    AGIProtocolError,
    AGISessionCut,
    AGITimeout,
    Connection,
)
from telephony.agi.pyst2_adapter import MEDIA_TIMEOUT, FastAGISession

logger = logging.getLogger(__name__)

Handler = Callable[[FastAGISession], object]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# How long accept() waits before looking at the stop flag again.
_POLL_INTERVAL = 0.1


class FastAGIServer:
    """Serve FastAGI on host:port, calling `handler(session)` in its own thread for every accepted call.

    When the handler returns or raises, the socket is half-closed at once: Asterisk keeps the channel in
    AGI until the server closes, then sends its last HANGUP line and EOF, which are drained for up to
    `close_linger` seconds. A peer that times out or breaks the protocol is cut without lingering.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        allowed_hosts: Iterable[str] | None = None,
        read_timeout: float = READ_TIMEOUT,
        media_timeout: float = MEDIA_TIMEOUT,
        max_env_bytes: int = MAX_ENV_BYTES,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_sessions: int = 1000,
        backlog: int = 512,
        close_linger: float = 1.0,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.allowed_networks = allowlist_networks(allowed_hosts or ())
        self.read_timeout = read_timeout
        self.media_timeout = media_timeout
        self.max_env_bytes = max_env_bytes
        self.max_line_bytes = max_line_bytes
        self.max_sessions = max_sessions
        self.backlog = backlog
        self.close_linger = close_linger
        self._listener: socket.socket | None = None
        self._bound: tuple[str, int] | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._sessions: dict[threading.Thread, Connection] = {}

    @property
    def address(self) -> tuple[str, int]:
        """The bound address once started (the real port when asked for port 0)."""
        return self._bound or (self.host, self.port)

    @property
    def accepting(self) -> bool:
        """False before start, after stop, and while at max_sessions (the port then refuses connections)."""
        with self._lock:
            return self._listener is not None and not self._stopping.is_set()

    @property
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start(self) -> tuple[str, int]:
        """Bind, listen and accept in a background thread; return the bound address (port 0 picks one)."""
        self._listener = self._listen((self.host, self.port))
        self._bound = self._listener.getsockname()[:2]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="agi-accept", daemon=True)
        self._accept_thread.start()
        logger.info("FastAGI bridge listening on %s:%d", *self.address)
        return self.address

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop accepting, let calls in progress finish for up to `timeout` seconds, then cut the rest.

        A call cut here ends with AGISessionCut in its handler (not AGIHangup): the caller is still
        there, and Asterisk carries on in the dialplan. Returns True when every call finished on its own.
        """
        with self._lock:
            self._stopping.set()
            self._idle.notify_all()  # an accept loop paused at capacity wakes up to leave
            listener = self._listener
        if listener is not None:
            try:
                # Wakes the accept() in progress at once on Linux; elsewhere the poll interval does.
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join()
        self._close_listener()
        with self._lock:
            drained = self._idle.wait_for(lambda: not self._sessions, timeout)
            left = list(self._sessions.items())
        if not drained:
            logger.warning("FastAGI bridge stopping with %d calls still open: closing them", len(left))
            for _thread, conn in left:
                conn.cut()
            for thread, _conn in left:
                thread.join(max(self.close_linger, 1.0))
        logger.info("FastAGI bridge stopped (%s)", "drained" if drained else f"{len(left)} calls cut")
        return drained

    def __enter__(self) -> FastAGIServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(timeout=5.0)

    def _listen(self, address: tuple[str, int]) -> socket.socket:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        listener = socket.create_server(address, family=family, backlog=self.backlog)
        listener.settimeout(_POLL_INTERVAL)
        return listener

    def _close_listener(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                self._resume_when_room()
                continue
            try:
                sock, addr = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    break
                # Out of file descriptors or similar: say so and back off instead of spinning.
                logger.error("FastAGI accept failed: %s", exc)
                time.sleep(_POLL_INTERVAL)
                continue
            self._dispatch(sock, addr)

    def _pause_at_capacity(self, open_calls: int) -> None:
        """Stop listening while every slot is taken, so that Asterisk's connect is refused.

        Asterisk moves to the next hagi:// SRV target only when the connection itself fails (refused,
        or no answer within 2 s): a connection accepted and then closed is a finished AGI session to
        it, and the caller goes on without a ticket. A closed port refuses at once. Connections that
        reached the listen queue in the instant before it closes are reset by the kernel.
        """
        self._close_listener()
        logger.warning("FastAGI bridge at its limit of %d calls: refusing new connections until one ends", open_calls)

    def _resume_when_room(self) -> None:
        with self._lock:
            self._idle.wait_for(
                lambda: len(self._sessions) < self.max_sessions or self._stopping.is_set(), _POLL_INTERVAL
            )
            if self._stopping.is_set() or len(self._sessions) >= self.max_sessions:
                return
        assert self._bound is not None
        try:
            listener = self._listen(self._bound)
        except OSError as exc:  # the port taken meanwhile: Asterisk keeps failing over; try again shortly
            logger.error("FastAGI bridge cannot listen on %s:%d again: %s", *self._bound, exc)
            time.sleep(_POLL_INTERVAL)
            return
        with self._lock:
            if self._stopping.is_set():
                listener.close()
                return
            self._listener = listener
        logger.info("FastAGI bridge accepting calls again on %s:%d", *self._bound)

    def _dispatch(self, sock: socket.socket, addr: tuple) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        if not self._is_allowed(addr[0]):
            # Refusing by host needs a firewall: at the TCP level the connection is already made.
            logger.warning("AGI connection from %s refused: not in the allowed Asterisk hosts", peer)
            sock.close()
            return
        conn = Connection(sock, peer=peer, max_line_bytes=self.max_line_bytes)
        thread = threading.Thread(target=self._serve, args=(conn,), name=f"agi {peer}", daemon=True)
        with self._lock:
            open_calls = len(self._sessions) + 1
        # Stop listening before the call counts as open; only this thread adds calls, so the count can
        # only have dropped meanwhile (and the loop then listens again at once).
        if open_calls >= self.max_sessions:
            self._pause_at_capacity(open_calls)
        with self._lock:
            self._sessions[thread] = conn
        try:
            thread.start()
        except RuntimeError as exc:  # no more threads: refuse this call, keep accepting the next
            logger.error("AGI connection from %s refused: cannot start a thread: %s", peer, exc)
            self._session_ended(thread)
            sock.close()

    def _session_ended(self, thread: threading.Thread) -> None:
        with self._lock:
            self._sessions.pop(thread, None)
            # Wakes stop() waiting for the last call, and an accept loop paused at capacity.
            self._idle.notify_all()

    def _is_allowed(self, host: str) -> bool:
        if not self.allowed_networks:
            return True
        address = ipaddress.ip_address(host.split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_networks)

    def _serve(self, conn: Connection) -> None:
        peer = conn.peer
        linger = self.close_linger
        started = time.monotonic()
        call = peer
        try:
            session = FastAGISession(
                conn,
                read_timeout=self.read_timeout,
                media_timeout=self.media_timeout,
                max_env_bytes=self.max_env_bytes,
            )
            call = f"{session.env.get('agi_uniqueid', '?')} from {peer}"
            self.handler(session)
            if session.hung_up:
                logger.info("AGI call %s: caller hung up", call)
        except AGIHangup as exc:
            logger.info("AGI call %s: caller hung up (%s)", call, exc)
        except AGISessionCut as exc:
            linger = 0.0
            logger.info("AGI call %s: cut by the drain, back to Asterisk's dialplan (%s)", call, exc)
        except (AGITimeout, AGIProtocolError) as exc:
            linger = 0.0
            logger.warning("AGI call %s: connection closed: %s: %s", call, type(exc).__name__, exc)
        except Exception:
            logger.exception("AGI call %s: handler failed", call)
        finally:
            conn.close(linger=linger)
            self._session_ended(threading.current_thread())
            logger.debug("AGI call %s: closed after %.3fs", call, time.monotonic() - started)


def allowlist_networks(entries: Iterable[str]) -> list[IPNetwork]:
    """IP addresses, networks (`10.0.0.0/24`) or host names (resolved now) of the Asterisk servers allowed in."""
    networks: list[IPNetwork] = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            for *_rest, sockaddr in socket.getaddrinfo(entry, None, proto=socket.IPPROTO_TCP):
                networks.append(ipaddress.ip_network(sockaddr[0].split("%")[0]))
    return networks
