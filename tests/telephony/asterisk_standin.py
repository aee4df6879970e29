"""A stand-in Asterisk: connects to a FastAGI server and plays one call byte for byte as the transcripts show.

The reference is ../shared/asterisk-agi-transcripts.md (Asterisk 22.10.1). The stand-in models just
enough of res_agi to answer like it: Asterisk's own argument parser, 510 for unknown commands (also on
a dead channel), 511 for everything but the dead-channel commands once the caller is gone, 520 usage
blocks for a wrong argument count, `200 result=-1` for a missing file on a live channel, and the
unsolicited `HANGUP` line after the reply of the command that saw the hang-up and again when the
server ends the session.
"""

from __future__ import annotations

import datetime
import re
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Transcript 1's environment block, in Asterisk's order (agi_accountcode is empty: "agi_accountcode: ").
TRANSCRIPT_ENV: tuple[tuple[str, str], ...] = (
    ("agi_network", "yes"),
    ("agi_network_script", "hotline"),
    ("agi_request", "agi://127.0.0.1:4573/hotline"),
    ("agi_channel", "Local/13800138000@hotline-00000001;2"),
    ("agi_language", "en"),
    ("agi_type", "Local"),
    ("agi_uniqueid", "1795834593.3"),
    ("agi_version", "22.10.1"),
    ("agi_callerid", "13800138000"),
    ("agi_calleridname", "13800138000"),
    ("agi_callingpres", "0"),
    ("agi_callingani2", "0"),
    ("agi_callington", "0"),
    ("agi_callingtns", "0"),
    ("agi_dnid", "unknown"),
    ("agi_rdnis", "unknown"),
    ("agi_context", "hotline"),
    ("agi_extension", "s"),
    ("agi_priority", "3"),
    ("agi_enhanced", "0.0"),
    ("agi_accountcode", ""),
    ("agi_threadid", "140080652281536"),
)

# Transcript 1, the `>>` lines: what the FastAGI side sent, in order.
TRANSCRIPT_1_SENT: tuple[str, ...] = (
    "ANSWER",
    'VERBOSE "FastAGI test: call from 13800138000" 1',
    "GET DATA beep 3000 1",
    "SET VARIABLE TICKET_ID 12345",
    'STREAM FILE nonexistent ""',
    "GET VARIABLE TICKET_ID",
    'GET FULL VARIABLE "${CALLERID(num)}|${CHANNEL}"',
    'SET VARIABLE "NOTE" "two words \\"quoted\\""',
    "GET VARIABLE NOTE",
    "GET VARIABLE DOES_NOT_EXIST",
    "STREAM FILE nonexistent",
    "FOO BAR",
    "CHANNEL STATUS",
    "WAIT FOR DIGIT 100",
    "NOOP",
)

# The transcript keeps the first usage line (cut at "...") and elides the 5 after it; these follow
# res_agi.c's STREAM FILE documentation, one paragraph or item per line.
STREAM_FILE_USAGE: tuple[str, ...] = (
    "Send the given file, allowing playback to be interrupted by the given digits, if any. Returns "
    "<literal>0</literal> if playback completes without a digit being pressed, or the ASCII numerical value "
    "of the digit if one was pressed, or <literal>-1</literal> on error or if the channel was disconnected. "
    "If musiconhold is playing before calling stream file it will be automatically stopped and will not be "
    "restarted after completion.",
    "It sets the following channel variables upon completion:",
    "PLAYBACKSTATUS",
    "The status of the playback attempt as a text string.",
    "SUCCESS",
    "FAILED",
)

# Transcript 1, the `<<` lines after the environment, in the order the server read them.
TRANSCRIPT_1_REPLIES: tuple[str, ...] = (
    "200 result=0",
    "200 result=1",
    "200 result=1",
    "200 result=1",
    "200 result=-1 endpos=0",
    "200 result=1 (12345)",
    "200 result=1 (13800138000|Local/13800138000@hotline-00000001;2)",
    "200 result=1",
    '200 result=1 (two words "quoted")',
    "200 result=0",
    "520-Invalid command syntax.  Proper usage follows:",
    *STREAM_FILE_USAGE,
    "520 End of proper usage.",
    "510 Invalid or unknown command",
    "200 result=6",
    "200 result=0",
    "200 result=0",
    "HANGUP",
)

# Transcript 2 (caller hangs up during GET DATA): the `<<` lines after the environment as the server read them.
TRANSCRIPT_2_REPLIES: tuple[str, ...] = (
    "200 result=0",
    "200 result=1",
    "200 result=-1",
    "HANGUP",
    "200 result=1",
    "511 Command Not Permitted on a dead channel or intercept routine",
    "200 result=1 (12345)",
    "200 result=1 (13800138000|Local/13800138000@hotline-00000002;2)",
    "200 result=1",
    '200 result=1 (two words "quoted")',
    "200 result=0",
    "511 Command Not Permitted on a dead channel or intercept routine",
    "510 Invalid or unknown command",
    "511 Command Not Permitted on a dead channel or intercept routine",
    "511 Command Not Permitted on a dead channel or intercept routine",
    "200 result=0",
    "HANGUP",
)

# Other reply shapes the transcripts record ("Other observed replies" and the protocol facts).
OTHER_OBSERVED_REPLIES: tuple[str, ...] = (
    "200 result=55",
    "200 result=123",
    "200 result= (timeout)",
    "200 result=4",
    "200 result=0 endpos=2000",
    "200 result=-1",
    "520 Invalid command syntax.  Proper usage not available.",
)

R511 = "511 Command Not Permitted on a dead channel or intercept routine"
R510 = "510 Invalid or unknown command"
R520 = "520 Invalid command syntax.  Proper usage not available."

# command words -> (min, max) arguments after them, as res_agi checks argc.
ARITY: dict[tuple[str, ...], tuple[int, int]] = {
    ("ANSWER",): (0, 0),
    ("VERBOSE",): (1, 2),
    ("NOOP",): (0, 99),
    ("GET", "DATA"): (1, 3),
    ("STREAM", "FILE"): (2, 3),
    ("WAIT", "FOR", "DIGIT"): (1, 1),
    ("SAY", "DIGITS"): (2, 2),
    ("SAY", "NUMBER"): (2, 3),
    ("SAY", "DATE"): (2, 2),
    ("SAY", "TIME"): (2, 2),
    # res_agi's handle_saydatetime: SAY DATETIME <time> <escape digits> [format] [timezone]; it checks
    # only argc < 4 (more arguments are ignored), then that <time> parses (ast_get_time_t).
    ("SAY", "DATETIME"): (2, 99),
    ("SET", "VARIABLE"): (2, 2),
    ("GET", "VARIABLE"): (1, 1),
    ("GET", "FULL", "VARIABLE"): (1, 2),
    ("CHANNEL", "STATUS"): (0, 1),
    ("HANGUP",): (0, 1),
    ("EXEC",): (1, 99),
}
DEAD_OK = {("GET", "VARIABLE"), ("GET", "FULL", "VARIABLE"), ("SET", "VARIABLE"), ("VERBOSE",), ("NOOP",), ("EXEC",)}
MEDIA = {("GET", "DATA"), ("STREAM", "FILE"), ("WAIT", "FOR", "DIGIT"), ("SAY", "DIGITS"), ("SAY", "NUMBER")}
MEDIA |= {("SAY", "DATE"), ("SAY", "TIME"), ("SAY", "DATETIME")}
_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")
# Sample counts of the prompt files the stand-in "has" (beep: 2000 samples, as observed).
FILE_SAMPLES = {"beep": 2000}


def environment(*, args: Iterable[str] = (), **values: str) -> bytes:
    """Transcript 1's environment block with some values replaced (`callerid="unknown"`), agi_arg_N, blank line.

    An empty `network_script` drops its line, as Asterisk does.
    """
    env = dict(TRANSCRIPT_ENV)
    for name, value in values.items():
        if f"agi_{name}" not in env:
            raise KeyError(f"agi_{name} is not in Asterisk's environment block")
        env[f"agi_{name}"] = value
    lines = [f"{key}: {value}\n" for key, value in env.items() if key != "agi_network_script" or value]
    lines += [f"agi_arg_{number}: {arg}\n" for number, arg in enumerate(args, 1)]
    return ("".join(lines) + "\n").encode("utf-8")


def transcript_2_environment() -> bytes:
    # The transcript gives only the channel; the uniqueid and threadid here are plausible stand-ins.
    channel = "Local/13800138000@hotline-00000002;2"
    return environment(channel=channel, uniqueid="1795834610.7", threadid="140080652281537")


def parse_args(line: str) -> list[str]:
    """Split a command line exactly like res_agi.c's parse_args: spaces/tabs, `"…"` groups, `\\` escapes."""
    argv: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    for char in line:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
                argv.append("")
            continue
        if char in " \t" and not quoted and not escaped:
            if current is not None:
                argv[-1] = "".join(current)
            current = None
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            current = []
            argv.append("")
        current.append(char)
        escaped = False
    if current is not None:
        argv[-1] = "".join(current)
    return argv


@dataclass
class CallRecord:
    """What happened on the wire during one stand-in call."""

    received: bytearray = field(default_factory=bytearray)  # every byte the server sent
    sent: bytearray = field(default_factory=bytearray)  # every byte the stand-in sent
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    closed_by_server: bool = False
    # What SAY DATE / SAY DATETIME made the caller hear: the date, in the zone Asterisk used for it.
    said_dates: list[datetime.date] = field(default_factory=list)
    # Seconds from the stand-in's last write to the server's EOF (how promptly the server closed).
    close_delay: float | None = None

    @property
    def sent_lines(self) -> list[str]:
        return self.sent.decode("utf-8").split("\n")[:-1]


@dataclass
class AsteriskStandIn:
    """One scripted call.

    digits: what the caller keys, one entry per GET DATA / WAIT FOR DIGIT / interrupted STREAM FILE
        ("1", "123#", "" for no input).
    hangup_at: the caller hangs up while command N (1-based) runs; 0 right after the environment.
    hangup_before_reply: the HANGUP line goes out before that command's reply instead of after it.
    agisighup: False is Set(AGISIGHUP=no): no HANGUP lines at all.
    exit_on_hangup: Set(AGIEXITONHANGUP=yes): HANGUP twice, then Asterisk closes the socket.
    silent_at: command N gets no reply at all (a wedged Asterisk).
    host_zone: the Asterisk host's time zone, in which SAY DATE (and SAY DATETIME without a zone) speak.
    """

    env: bytes = field(default_factory=environment)
    digits: list[str] = field(default_factory=lambda: ["1"])
    missing_files: frozenset[str] = frozenset({"nonexistent"})
    hangup_at: int | None = None
    hangup_before_reply: bool = False
    agisighup: bool = True
    exit_on_hangup: bool = False
    silent_at: int | None = None
    host_zone: str = "UTC"
    timeout: float = 5.0
    _record: CallRecord = field(init=False, repr=False, default_factory=CallRecord)
    _up: bool = field(init=False, repr=False, default=True)
    _last_write: float = field(init=False, repr=False, default=0.0)

    def call(self, address: tuple[str, int]) -> CallRecord:
        record = self._record = CallRecord()
        self._up = True
        record.variables = self._channel_variables()
        sock = socket.create_connection(address, timeout=self.timeout)
        try:
            self._send(sock, self.env)
            if self.hangup_at == 0 and self._hang_up(sock):
                return record
            for number, line in enumerate(self._lines(sock), 1):
                record.commands.append(line)
                if number == self.silent_at:
                    continue
                was_up = self._up
                reply = self._respond(line).encode()
                if number != self.hangup_at and (self._up or not was_up):
                    self._send(sock, reply)
                elif self._hang_up(sock, reply):
                    return record
            record.closed_by_server = True
            record.close_delay = time.monotonic() - self._last_write
            if self.agisighup:
                self._send(sock, b"HANGUP\n")
        finally:
            sock.close()
        return record

    def _hang_up(self, sock: socket.socket, reply: bytes = b"") -> bool:
        """The caller is gone (or HANGUP ran): the reply and the unsolicited HANGUP line(s) in one write.

        Returns True when Asterisk then ends the AGI session itself (AGIEXITONHANGUP).
        """
        self._up = False
        hangup = b"HANGUP\n" * (2 if self.exit_on_hangup else 1) if self.agisighup else b""
        self._send(sock, hangup + reply if self.hangup_before_reply else reply + hangup)
        if self.exit_on_hangup:
            sock.shutdown(socket.SHUT_RDWR)
            return True
        return False

    def _lines(self, sock: socket.socket) -> Iterator[str]:
        buffer = b""
        while True:
            while b"\n" not in buffer:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    raise TimeoutError(f"stand-in: the server sent nothing for {self.timeout}s") from None
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    return
                self._record.received += chunk
                buffer += chunk
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode("utf-8", errors="replace")

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError:
            return
        self._record.sent += data
        self._last_write = time.monotonic()

    def _channel_variables(self) -> dict[str, str]:
        env = dict(line.split(": ", 1) for line in self.env.decode("utf-8", "replace").splitlines() if ": " in line)
        return {
            "CALLERID(num)": env.get("agi_callerid", ""),
            "CALLERID(name)": env.get("agi_calleridname", ""),
            "CHANNEL": env.get("agi_channel", ""),
            "UNIQUEID": env.get("agi_uniqueid", ""),
        }

    def _respond(self, line: str) -> str:
        """The reply block (with its newlines) that Asterisk gives `line` in the channel's current state."""
        argv = parse_args(line)
        words = next((key for key in sorted(ARITY, key=len, reverse=True) if _matches(argv, key)), None)
        if words is None:
            return R510 + "\n"
        args = argv[len(words) :]
        dying = len(self._record.commands) == self.hangup_at
        if not self._up and words not in DEAD_OK:
            return R511 + "\n"
        low, high = ARITY[words]
        if not low <= len(args) <= high:
            if words == ("STREAM", "FILE"):
                usage = "".join(f"{usage_line}\n" for usage_line in STREAM_FILE_USAGE)
                return f"520-Invalid command syntax.  Proper usage follows:\n{usage}520 End of proper usage.\n"
            return R520 + "\n"
        if dying and words in MEDIA:
            return "200 result=-1\n"
        return self._run(words, args) + "\n"

    def _run(self, words: tuple[str, ...], args: list[str]) -> str:
        variables = self._record.variables
        if words in (("SAY", "DATE"), ("SAY", "DATETIME")):
            return self._say_date(words, args)
        if words == ("ANSWER",) or words == ("NOOP",) or words == ("EXEC",) or words[0] == "SAY":
            return "200 result=0"
        if words == ("VERBOSE",):
            return "200 result=1"
        if words == ("CHANNEL", "STATUS"):
            return "200 result=6"
        if words == ("HANGUP",):
            self._up = False
            return "200 result=1"
        if words == ("SET", "VARIABLE"):
            variables[args[0]] = args[1]
            return "200 result=1"
        if words == ("GET", "VARIABLE"):
            return f"200 result=1 ({variables[args[0]]})" if args[0] in variables else "200 result=0"
        if words == ("GET", "FULL", "VARIABLE"):
            value = re.sub(r"\$\{([^}]*)\}", lambda match: variables.get(match.group(1), ""), args[0])
            return f"200 result=1 ({value})"
        if words == ("WAIT", "FOR", "DIGIT"):
            keyed = self.digits.pop(0) if self.digits else ""
            return f"200 result={ord(keyed[0]) if keyed else 0}"
        if args[0] in self.missing_files:
            return "200 result=-1 endpos=0" if words == ("STREAM", "FILE") else "200 result=-1"
        if words == ("STREAM", "FILE"):
            return self._stream_file(args[0], escape=args[1])
        return self._get_data(max_digits=int(args[2]) if len(args) > 2 else 255)

    def _say_date(self, words: tuple[str, ...], args: list[str]) -> str:
        # SAY DATE: sscanf("%30d"), the host's zone. SAY DATETIME: ast_get_time_t, then the zone argument
        # if given and not empty (ast_localtime falls back to the host's zone for one it does not know).
        match = _LEADING_INTEGER.match(args[0])
        if match is None:
            return R520
        zone_name = args[3] if words == ("SAY", "DATETIME") and len(args) > 3 and args[3] else self.host_zone
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(self.host_zone)
        self._record.said_dates.append(datetime.datetime.fromtimestamp(int(match[1]), zone).date())
        return "200 result=0"

    def _stream_file(self, name: str, *, escape: str) -> str:
        samples = FILE_SAMPLES.get(name, 8000)
        if escape and self.digits and self.digits[0][:1] and self.digits[0][0] in escape:
            return f"200 result={ord(self.digits.pop(0)[0])} endpos={samples // 2}"
        return f"200 result=0 endpos={samples}"

    def _get_data(self, *, max_digits: int) -> str:
        keyed = self.digits.pop(0) if self.digits else ""
        digits = keyed.split("#")[0][:max_digits]
        if "#" in keyed or len(digits) >= max_digits:
            return f"200 result={digits}"
        return f"200 result={digits} (timeout)"


def _matches(argv: list[str], words: tuple[str, ...]) -> bool:
    return len(argv) >= len(words) and all(arg.upper() == word for arg, word in zip(argv, words, strict=False))
