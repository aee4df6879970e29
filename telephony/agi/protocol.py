"""The FastAGI wire protocol: capped line reading, the environment block, replies, quoting. No Django here."""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass, field, replace

logger = logging.getLogger(__name__)

MAX_ENV_BYTES = 64 * 1024
# Asterisk reads commands into an 8192-byte buffer; nothing it sends us is longer either.
MAX_LINE_BYTES = 8 * 1024
READ_TIMEOUT = 10.0
# A 520 usage block is a few lines; anything far longer is not Asterisk.
MAX_USAGE_LINES = 100

HANGUP_LINE = "HANGUP"

_ENV_KEY = re.compile(r"agi_[A-Za-z0-9_]+")
_ENV_KEY_BYTES = re.compile(rb"agi_[A-Za-z0-9_]+")
# Arguments made only of these characters go out bare; anything else is quoted.
_BARE_ARG = re.compile(r"[A-Za-z0-9_.:/@;,#*+=-]+")
_ENDPOS = re.compile(r"(?:^|\s)endpos=(-?\d+)")


class AGIError(Exception):
    """Base of every FastAGI failure raised by the bridge."""


class AGIHangup(AGIError):
    """The caller is gone: a HANGUP line, a 511 reply, or Asterisk closed the socket."""


class AGISessionCut(AGIError):
    """This server cut the session itself (the drain after SIGTERM ran out): the caller is still there,
    and Asterisk carries on in the dialplan."""


class AGITimeout(AGIError):
    """The peer sent nothing (or not a full line) within the read timeout."""


class AGIProtocolError(AGIError):
    """The peer sent something that is not FastAGI: malformed, over a cap, or an unknown reply."""


class AGICommandError(AGIError):
    """Asterisk refused the command itself (a bug on our side, not a call event)."""


class AGIInvalidCommand(AGICommandError):
    """510 Invalid or unknown command."""


class AGIUsageError(AGICommandError):
    """520 Invalid command syntax; `usage` holds the usage lines Asterisk sent, if any."""

    def __init__(self, message: str, usage: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.usage = usage


class AGICommandFailed(AGIError):
    """`200 result=-1` on a live channel, e.g. a missing prompt file: the call goes on."""

    def __init__(self, message: str, reply: Reply) -> None:
        super().__init__(message)
        self.reply = reply


@dataclass(frozen=True)
class Reply:
    """One parsed reply: `200 result=<r>[ (data)][ endpos=N]`, 510, 511 or a 520 block."""

    code: int
    text: str
    result: str | None = None
    data: str | None = None
    endpos: int | None = None
    usage: tuple[str, ...] = field(default=())
    # A HANGUP line arrived with this reply (before it, or already waiting right after it).
    hangup: bool = False


class Connection:
    """A FastAGI socket read line by line under the caps and deadlines, written one command line at a time."""

    def __init__(self, sock: socket.socket, *, peer: str = "", max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.sock = sock
        self.peer = peer
        self.max_line_bytes = max_line_bytes
        self.bytes_consumed = 0
        self._buf = bytearray()
        self._eof = False
        self._warned_encoding = False
        # Set by cut(): an end of stream from now on is ours, not the caller's hang-up.
        self.cut_by_server = False

    def readline(self, timeout: float) -> str | None:
        """Return the next line without its newline, or None at end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                if end > self.max_line_bytes:
                    raise AGIProtocolError(f"line of {end} bytes exceeds {self.max_line_bytes}")
                raw = bytes(self._buf[:end])
                del self._buf[: end + 1]
                self.bytes_consumed += end + 1
                return self._decode(raw.removesuffix(b"\r"))
            if len(self._buf) > self.max_line_bytes:
                raise AGIProtocolError(f"line exceeds {self.max_line_bytes} bytes")
            if self._eof:
                if self._buf:
                    logger.debug("AGI %s: %d bytes without a newline at end of stream", self.peer, len(self._buf))
                    self._buf.clear()
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AGITimeout(f"no complete line within {timeout:g}s")
            self._recv(remaining)

    def take_pending_hangup(self) -> bool:
        """Consume HANGUP lines that have already arrived, without waiting; True if there was one."""
        self._recv_nowait()
        found = False
        while self._buf.startswith(HANGUP_LINE.encode() + b"\n"):
            del self._buf[: len(HANGUP_LINE) + 1]
            found = True
        return found

    def write_line(self, line: str, timeout: float = READ_TIMEOUT) -> None:
        data = line.encode("utf-8") + b"\n"
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise AGITimeout(f"could not send within {timeout:g}s")
        except OSError as exc:  # EPIPE / ECONNRESET: Asterisk already dropped the channel's AGI.
            raise self.ended(f"connection lost while sending: {exc}")

    def cut(self) -> None:
        """End the session from this side (another thread may be reading): its reader gets AGISessionCut."""
        self.cut_by_server = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def ended(self, what: str) -> AGIError:
        """The error for a connection that ended: our own cut, or else the caller's side went away."""
        if self.cut_by_server:
            return AGISessionCut("this server cut the session")
        return AGIHangup(what)

    def close(self, *, linger: float = 0.0) -> None:
        """Close the socket; with `linger`, first half-close and let Asterisk finish (its last HANGUP, EOF)."""
        try:
            if linger > 0 and not self._eof:
                self.sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + linger
                drained = 0
                while not self._eof and drained < MAX_ENV_BYTES and time.monotonic() < deadline:
                    self._buf.clear()
                    self._recv(deadline - time.monotonic())
                    drained += len(self._buf)
        except (OSError, AGITimeout):
            pass
        finally:
            self.sock.close()

    def _recv(self, timeout: float) -> None:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(MAX_LINE_BYTES)
        except TimeoutError:
            raise AGITimeout(f"peer silent for {timeout:.3g}s")
        except (ConnectionResetError, ConnectionAbortedError):
            chunk = b""
        self._feed(chunk)

    def _recv_nowait(self) -> None:
        # A non-blocking recv rather than select(): select() fails on descriptors above 1023.
        if self._eof:
            return
        self.sock.setblocking(False)
        try:
            chunk = self.sock.recv(MAX_LINE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        if chunk:
            self._buf += chunk
        else:
            self._eof = True

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if not self._warned_encoding:
                self._warned_encoding = True
                # Never the bytes themselves: the line may be a caller's number, name or keyed digits.
                key = raw.partition(b":")[0]
                logger.warning(
                    "AGI %s sent non-UTF-8 bytes, replaced: a line of %d bytes%s, bad bytes at %s",
                    self.peer,
                    len(raw),
                    f" ({key.decode('ascii')})" if _ENV_KEY_BYTES.fullmatch(key) else "",
                    _bad_byte_ranges(raw),
                )
            return raw.decode("utf-8", errors="replace")


def _bad_byte_ranges(raw: bytes, *, limit: int = 5) -> str:
    """Where a line fails to decode as UTF-8, as byte offsets: `18-19, 24`; at most `limit` ranges."""
    ranges: list[str] = []
    start = 0
    while len(ranges) <= limit:
        try:
            raw[start:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            first, end = start + exc.start, start + exc.end
            ranges.append(str(first) if end - first == 1 else f"{first}-{end - 1}")
            start = end
    return ", ".join(ranges[:limit]) + (", …" if len(ranges) > limit else "")


def read_environment(
    conn: Connection, *, timeout: float = READ_TIMEOUT, max_bytes: int = MAX_ENV_BYTES
) -> dict[str, str]:
    """Read the `agi_name: value` lines up to the blank line; the whole block must arrive within `timeout`."""
    env: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    start = conn.bytes_consumed
    while True:
        line = conn.readline(max(deadline - time.monotonic(), 0))
        if conn.bytes_consumed - start > max_bytes:
            raise AGIProtocolError(f"environment block exceeds {max_bytes} bytes")
        if line is None:
            raise AGIProtocolError(f"connection closed inside the environment block after {len(env)} lines")
        if line == "":
            if not env:
                raise AGIProtocolError("empty environment block")
            return env
        key, sep, value = line.partition(":")
        if not sep or not _ENV_KEY.fullmatch(key):
            raise AGIProtocolError(f"malformed environment line {line[:80]!r}")
        env[key] = value.removeprefix(" ")


def read_reply(conn: Connection, *, timeout: float = READ_TIMEOUT) -> Reply:
    """Read one reply, skipping unsolicited HANGUP lines (noted on the Reply); EOF is a hang-up."""
    deadline = time.monotonic() + timeout
    hangup = False
    while True:
        line = conn.readline(max(deadline - time.monotonic(), 0))
        if line is None:
            raise conn.ended("Asterisk closed the connection")
        if line != HANGUP_LINE:
            break
        hangup = True
    usage: tuple[str, ...] = ()
    if line.startswith("520-"):
        usage, line = _read_usage(conn, deadline)
    reply = parse_reply_line(line, usage=usage)
    # Asterisk writes HANGUP right after the reply of the command that saw the hang-up: take it now if it is here.
    return replace(reply, hangup=conn.take_pending_hangup() or hangup)


def _read_usage(conn: Connection, deadline: float) -> tuple[tuple[str, ...], str]:
    usage: list[str] = []
    while len(usage) <= MAX_USAGE_LINES:
        line = conn.readline(max(deadline - time.monotonic(), 0))
        if line is None:
            raise conn.ended("Asterisk closed the connection inside a 520 usage block")
        if line.startswith("520 "):
            return tuple(usage), line
        usage.append(line)
    raise AGIProtocolError(f"520 usage block longer than {MAX_USAGE_LINES} lines")


def parse_reply_line(line: str, *, usage: tuple[str, ...] = ()) -> Reply:
    """Parse a final reply line (`200 …`, `510 …`, `511 …`, `520 …`)."""
    code_text, _sep, text = line.partition(" ")
    if len(code_text) != 3 or not code_text.isdigit():
        raise AGIProtocolError(f"unexpected reply line {line[:80]!r}")
    code = int(code_text)
    if code != 200:
        return Reply(code, text, usage=usage)
    if not text.startswith("result="):
        raise AGIProtocolError(f"200 reply without result= {line[:80]!r}")
    result, _sep, tail = text.removeprefix("result=").partition(" ")
    data = None
    # The data is raw (a variable may hold `)` or `"`): take it between the first `(` and the final `)`.
    opening, closing = tail.find("("), tail.rfind(")")
    if 0 <= opening < closing:
        data = tail[opening + 1 : closing]
        tail = tail[:opening] + tail[closing + 1 :]
    endpos = _ENDPOS.search(tail)
    return Reply(code, text, result, data, int(endpos.group(1)) if endpos else None, usage)


def quote(value: object) -> str:
    """Quote one argument the way Asterisk's parse_args reads it back: `"…"` with `\\"` and `\\\\` escaped."""
    text = str(value)
    _check_single_line(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_arg(value: object) -> str:
    """An argument bare when it is a plain token (`TICKET_ID`, `12345`), quoted otherwise; `""` when empty."""
    text = str(value)
    _check_single_line(text)
    return text if _BARE_ARG.fullmatch(text) else quote(text)


def command_line(command: str, *args: object) -> str:
    """`GET VARIABLE TICKET_ID`, `STREAM FILE nonexistent ""`: the command then each argument via format_arg."""
    return " ".join([command.strip(), *(format_arg(arg) for arg in args)])


def check_command(line: str) -> str:
    """Refuse a command line Asterisk would split or truncate; return it unchanged."""
    _check_single_line(line)
    if len(line.encode("utf-8")) + 1 > MAX_LINE_BYTES:
        raise ValueError(f"AGI command of {len(line)} characters exceeds Asterisk's {MAX_LINE_BYTES}-byte buffer")
    return line


def _check_single_line(text: str) -> None:
    # A newline would end the command early and turn the rest into a second, injected command.
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"AGI argument contains a line break or NUL: {text[:40]!r}")
