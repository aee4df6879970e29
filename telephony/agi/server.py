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
        self._sessions: dict[threading.Thread, socket.socket] = {}

    @property
    def address(self) -> tuple[str, int]:
        """The bound address once started (the real port when asked for port 0)."""
        return self._bound or (self.host, self.port)

    @property
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start(self) -> tuple[str, int]:
        """Bind, listen and accept in a background thread; return the bound address (port 0 picks one)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.create_server((self.host, self.port), family=family, backlog=self.backlog)
        self._listener.settimeout(_POLL_INTERVAL)
        self._bound = self._listener.getsockname()[:2]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="agi-accept", daemon=True)
        self._accept_thread.start()
        logger.info("FastAGI bridge listening on %s:%d", *self.address)
        return self.address

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop accepting, let calls in progress finish for up to `timeout` seconds, then cut the rest.

        Returns True when every call finished on its own.
        """
        self._stopping.set()
        if self._listener is not None:
            try:
                # Wakes the accept() in progress at once on Linux; elsewhere the poll interval does.
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            drained = self._idle.wait_for(lambda: not self._sessions, timeout)
            left = list(self._sessions.items())
        if not drained:
            logger.warning("FastAGI bridge stopping with %d calls still open: closing them", len(left))
            for _thread, sock in left:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for thread, _sock in left:
                thread.join(max(self.close_linger, 1.0))
        logger.info("FastAGI bridge stopped (%s)", "drained" if drained else f"{len(left)} calls cut")
        return drained

    def __enter__(self) -> FastAGIServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(timeout=5.0)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
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

    def _dispatch(self, sock: socket.socket, addr: tuple) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        if not self._is_allowed(addr[0]):
            logger.warning("AGI connection from %s refused: not in the allowed Asterisk hosts", peer)
            sock.close()
            return
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                logger.warning("AGI connection from %s refused: %d calls already open", peer, len(self._sessions))
                sock.close()
                return
            thread = threading.Thread(target=self._serve, args=(sock, peer), name=f"agi {peer}", daemon=True)
            self._sessions[thread] = sock
        try:
            thread.start()
        except RuntimeError as exc:  # no more threads: refuse this call, keep accepting the next
            logger.error("AGI connection from %s refused: cannot start a thread: %s", peer, exc)
            with self._lock:
                self._sessions.pop(thread, None)
            sock.close()

    def _is_allowed(self, host: str) -> bool:
        if not self.allowed_networks:
            return True
        address = ipaddress.ip_address(host.split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_networks)

    def _serve(self, sock: socket.socket, peer: str) -> None:
        conn = Connection(sock, peer=peer, max_line_bytes=self.max_line_bytes)
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
        except (AGITimeout, AGIProtocolError) as exc:
            linger = 0.0
            logger.warning("AGI call %s: connection closed: %s: %s", call, type(exc).__name__, exc)
        except Exception:
            logger.exception("AGI call %s: handler failed", call)
        finally:
            conn.close(linger=linger)
            with self._lock:
                self._sessions.pop(threading.current_thread(), None)
                if not self._sessions:
                    self._idle.notify_all()
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
