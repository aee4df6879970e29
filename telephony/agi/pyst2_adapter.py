"""pyst2's AGI command layer on a FastAGI connection, with pyst2 0.5.1's Python 3.11 defects fixed in one place.

pyst2 keeps the command methods (answer, get_data, stream_file, say_digits, say_date, set_variable,
get_variable, verbose, hangup …): each formats a line and calls self.execute(). This subclass replaces
only the I/O underneath them. The defects, each covered by tests/telephony/test_pyst2_adapter.py:

1. asterisk.fastagi imports the Python 2 SocketServer (ModuleNotFoundError): never imported here;
   telephony.agi.server accepts the connections and builds a FastAGISession per socket.
2. AGI.__init__ installs a SIGHUP handler (ValueError outside the main thread; a process-wide handler
   is meaningless for one socket among many): not called. Over FastAGI the HANGUP line is the signal.
3. AGI writes debug lines to stderr on every command: they go to this module's logger at DEBUG.
4. A FastAGI `HANGUP` line or EOF becomes a ValueError (int('') on the reply code): HANGUP lines are
   skipped and noted, EOF and 511 raise AGIHangup.
5. Reads have no timeout and no size limit (and a 520 block cut by EOF loops forever): capped lines,
   a deadline on every read (AGITimeout), the 64 KiB environment cap.
Found on the way: _quote does not escape `"` or `\\` (a value with a quote becomes several arguments), and
non-UTF-8 bytes raise UnicodeDecodeError; both fixed here too.
"""

from __future__ import annotations

import logging
from typing import Any

from asterisk import agi as pyst2_agi

from telephony.agi.protocol import (
    MAX_ENV_BYTES,
    READ_TIMEOUT,
    AGICommandFailed,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
    Connection,
    Reply,
    check_command,
    command_line,
    quote,
    read_environment,
    read_reply,
)

logger = logging.getLogger(__name__)

# Commands Asterisk still runs on a hung-up channel; anything else only earns a 511, so it is not sent.
DEAD_CHANNEL_COMMANDS = (
    "GET VARIABLE",
    "GET FULL VARIABLE",
    "SET VARIABLE",
    "VERBOSE",
    "NOOP",
    "DATABASE ",
    "EXEC",
    "ASYNCAGI BREAK",
    "SPEECH DESTROY",
    "SPEECH UNLOAD GRAMMAR",
)
# Commands whose reply comes only after audio played or the caller keyed digits: the read timeout
# would cut a long prompt short, so they get media_timeout on top of it.
MEDIA_COMMANDS = (
    "STREAM FILE",
    "CONTROL STREAM FILE",
    "GET DATA",
    "GET OPTION",
    "WAIT FOR DIGIT",
    "SAY ",
    "RECORD FILE",
    "RECEIVE CHAR",
    "RECEIVE TEXT",
    "SPEECH RECOGNIZE",
    "EXEC",
)
MEDIA_TIMEOUT = 300.0


class FastAGISession(pyst2_agi.AGI):
    """One AGI session on one FastAGI connection: pyst2's command methods over the bridge's capped I/O.

    Raises AGIHangup once the caller is gone (511, EOF, `result=-1` after a HANGUP line, or any command
    Asterisk would refuse after one), AGICommandFailed for `result=-1` on a live channel, AGIInvalidCommand
    (510) and AGIUsageError (520) for our own mistakes, AGITimeout and AGIProtocolError for a broken peer,
    and AGISessionCut once the server itself cut the connection (the drain on SIGTERM ran out).
    """

    def __init__(
        self,
        conn: Connection,
        *,
        env: dict[str, str] | None = None,
        read_timeout: float = READ_TIMEOUT,
        media_timeout: float = MEDIA_TIMEOUT,
        max_env_bytes: int = MAX_ENV_BYTES,
    ) -> None:
        # pyst2's __init__ is deliberately not called (defects 2 and 3); these are the attributes its methods use.
        self.conn = conn
        self.read_timeout = read_timeout
        self.media_timeout = media_timeout
        self.hung_up = False
        self._got_sighup = False
        self._sent: str | None = None
        self.env = env if env is not None else read_environment(conn, timeout=read_timeout, max_bytes=max_env_bytes)

    @property
    def peer(self) -> str:
        return self.conn.peer

    def _quote(self, string: Any) -> str:
        return quote(string)

    def test_hangup(self) -> None:
        if self.hung_up:
            raise AGIHangup("caller hung up")

    def execute(self, command: str, *args: Any) -> dict[str, tuple[str, str]]:
        """pyst2's execute: arguments are joined as given; `result=-1` raises AGICommandFailed."""
        self.send_command(command, *args)
        return self.get_result()

    def command(self, command: str, *args: object) -> Reply:
        """Send `command` with each argument quoted only where needed and return the Reply as is (even -1)."""
        self.send_command(command_line(command, *args))
        return self._read_reply()

    def send_command(self, command: str, *args: Any) -> None:
        line = check_command(" ".join([command.strip(), *map(str, args)]).strip())
        if self.conn.take_pending_hangup():
            self.hung_up = True
        if self.hung_up and not line.upper().startswith(DEAD_CHANNEL_COMMANDS):
            raise AGIHangup(f"caller hung up; not sending {line!r}")
        logger.debug("AGI %s >> %s", self.peer, line)
        self.conn.write_line(line, timeout=self.read_timeout)
        self._sent = line

    def get_result(self, stdin: Any = None) -> dict[str, tuple[str, str]]:
        reply = self._read_reply()
        if reply.result == "-1":
            raise AGICommandFailed(f"{reply.text} (channel up: a missing file or a failed application)", reply)
        result = {"result": (reply.result or "", reply.data or "")}
        if reply.endpos is not None:
            result["endpos"] = (str(reply.endpos), "")
        return result

    def hangup(self, channel: str = "") -> None:
        """Hang up the channel; a no-op once the caller is gone (Asterisk would answer 511)."""
        if self.hung_up and not channel:
            return
        super().hangup(channel)
        if not channel:
            self.hung_up = True

    def database_get(self, family: str, key: str) -> str:
        """pyst2's database_get wraps family and key in quotes before _quote; with escaping they would arrive
        with literal quotes, so this one sends them plainly."""
        reply = self.command("DATABASE GET", family, key)
        if reply.result != "1":
            raise pyst2_agi.AGIDBError(f"Key not found in database: family={family}, key={key}")
        return reply.data or ""

    def _read_reply(self) -> Reply:
        line, self._sent = self._sent, None
        if line is None:
            raise RuntimeError("no AGI command is waiting for a reply")
        timeout = self.read_timeout + (self.media_timeout if line.upper().startswith(MEDIA_COMMANDS) else 0)
        reply = read_reply(self.conn, timeout=timeout)
        logger.debug("AGI %s << %s %s%s", self.peer, reply.code, reply.text, " (+HANGUP)" if reply.hangup else "")
        self.hung_up = self.hung_up or reply.hangup
        if reply.code == 511 or (self.hung_up and reply.result == "-1"):
            self.hung_up = True
            raise AGIHangup(f"caller hung up: {line!r} got {reply.code} {reply.text}")
        if reply.code == 510:
            raise AGIInvalidCommand(f"{line!r}: 510 {reply.text}")
        if reply.code == 520:
            raise AGIUsageError(f"{line!r}: 520 {reply.text}", reply.usage)
        if reply.code != 200:
            raise AGIProtocolError(f"{line!r}: unexpected reply code {reply.code}")
        return reply
