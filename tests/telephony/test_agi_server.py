"""The FastAGI server against the Asterisk stand-in: transcript calls byte for byte, hang-ups, bad peers, drain."""

import logging
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from telephony.agi.protocol import (
    AGICommandFailed,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGISessionCut,
    AGIUsageError,
)
from telephony.agi.pyst2_adapter import DEAD_CHANNEL_COMMANDS
from telephony.agi.server import FastAGIServer, allowlist_networks
from tests.telephony.asterisk_standin import (
    STREAM_FILE_USAGE,
    TRANSCRIPT_1_REPLIES,
    TRANSCRIPT_1_SENT,
    TRANSCRIPT_2_REPLIES,
    TRANSCRIPT_ENV,
    AsteriskStandIn,
    environment,
    transcript_2_environment,
)

TRANSCRIPTS = Path(__file__).resolve().parents[3] / "shared" / "asterisk-agi-transcripts.md"
TRANSCRIPT_1_BYTES = "".join(f"{line}\n" for line in TRANSCRIPT_1_SENT).encode()
# Short timeouts so that silent peers cost the suite a fraction of a second, not the real 10 s.
TEST_TIMEOUT = 0.3
# "Promptly" for closing after the handler ends: Asterisk was seen holding channels 8 s and 29 s otherwise.
PROMPT = 0.5


def transcript_script(session, outcome=None):
    """The FastAGI side of transcript 1, one pyst2 method or raw command per `>>` line."""
    outcome = {} if outcome is None else outcome
    session.answer()
    session.verbose(f"FastAGI test: call from {session.env['agi_callerid']}", 1)
    outcome["digits"] = session.get_data("beep", 3000, 1)
    session.command("SET VARIABLE", "TICKET_ID", 12345)
    outcome["missing_file"] = session.command("STREAM FILE", "nonexistent", "")
    outcome["ticket"] = session.command("GET VARIABLE", "TICKET_ID").data
    outcome["full"] = session.get_full_variable("${CALLERID(num)}|${CHANNEL}")
    session.set_variable("NOTE", 'two words "quoted"')
    outcome["note"] = session.command("GET VARIABLE", "NOTE").data
    outcome["unset"] = session.command("GET VARIABLE", "DOES_NOT_EXIST")
    try:
        session.command("STREAM FILE", "nonexistent")
    except AGIUsageError as exc:
        outcome["usage"] = exc.usage
    try:
        session.command("FOO BAR")
    except AGIInvalidCommand:
        outcome["invalid"] = True
    outcome["status"] = session.channel_status()
    outcome["wait"] = session.wait_for_digit(100)
    session.noop()
    return outcome


class Recorder:
    """A handler that runs a script and keeps what it saw, for the test to inspect."""

    def __init__(self, script=transcript_script):
        self.script = script
        self.outcomes = []
        self.errors = []
        self.sessions = []
        self._lock = threading.Lock()

    def __call__(self, session):
        outcome = {}
        with self._lock:
            self.sessions.append(session)
            self.outcomes.append(outcome)
        try:
            self.script(session, outcome)
        except AGIError as exc:
            with self._lock:
                self.errors.append(exc)
            raise


@pytest.fixture
def serve():
    """Start FastAGI servers on loopback ports with test timeouts; stop them after the test."""
    servers = []

    def start(handler, **options):
        options = {"port": 0, "read_timeout": TEST_TIMEOUT, "close_linger": 0.5, **options}
        server = FastAGIServer(handler, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=2)


def assert_still_serving(server):
    record = AsteriskStandIn().call(server.address)
    assert bytes(record.received) == TRANSCRIPT_1_BYTES


def wait_until(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def transcript_lines(heading):
    """The `<<`/`>>` lines of one transcript in the shared reference, as (direction, text)."""
    text = TRANSCRIPTS.read_text(encoding="utf-8")
    block = text.split(heading, 1)[1].split("```", 2)[1]
    return [(match[1], match[2]) for match in re.finditer(r"^\d\d:\d\d:\d\d\.\d{3} (<<|>>) ?(.*)$", block, re.M)]


@pytest.mark.skipif(not TRANSCRIPTS.exists(), reason="the shared transcript reference is not on this machine")
def test_stand_in_constants_match_the_recorded_transcripts_line_for_line():
    lines = transcript_lines("## Transcript 1")
    env_end = lines.index(("<<", ""))
    received = [text for direction, text in lines[env_end + 1 :] if direction == "<<"]
    elided = received.index(next(line for line in received if line.endswith("[5 more usage lines]")))

    assert [text for _, text in lines[:env_end]] == [f"{key}: {value}" for key, value in TRANSCRIPT_ENV]
    assert tuple(text for direction, text in lines if direction == ">>") == TRANSCRIPT_1_SENT
    assert received[:elided] == list(TRANSCRIPT_1_REPLIES[:elided])
    assert STREAM_FILE_USAGE[0].startswith(received[elided].split(" ...")[0])
    assert len(STREAM_FILE_USAGE) == 1 + 5
    assert received[elided + 1 :] == list(TRANSCRIPT_1_REPLIES[elided + len(STREAM_FILE_USAGE) :])
    transcript_2 = [text for direction, text in transcript_lines("## Transcript 2") if direction == "<<"]
    assert transcript_2 == list(TRANSCRIPT_2_REPLIES)


def test_normal_call_sends_transcript_1_byte_for_byte(serve):
    handler = Recorder()
    server = serve(handler)

    record = AsteriskStandIn().call(server.address)

    assert bytes(record.received) == TRANSCRIPT_1_BYTES
    assert bytes(record.sent) == environment() + "".join(f"{line}\n" for line in TRANSCRIPT_1_REPLIES).encode()
    assert handler.errors == []
    outcome = handler.outcomes[0]
    assert outcome["digits"] == "1"
    assert (outcome["missing_file"].result, outcome["missing_file"].endpos) == ("-1", 0)
    assert outcome["ticket"] == "12345"
    assert outcome["full"] == "13800138000|Local/13800138000@hotline-00000001;2"
    assert outcome["note"] == 'two words "quoted"'
    assert (outcome["unset"].result, outcome["unset"].data) == ("0", None)
    assert outcome["usage"] == STREAM_FILE_USAGE
    assert outcome["invalid"] is True
    assert (outcome["status"], outcome["wait"]) == (6, "")
    assert record.variables["NOTE"] == 'two words "quoted"'


def test_server_closes_as_soon_as_the_handler_returns(serve):
    server = serve(Recorder(), close_linger=2.0)

    record = AsteriskStandIn().call(server.address)

    # The end-of-call HANGUP goes out after the server's half-close, as in transcript 1.
    assert record.closed_by_server
    assert record.close_delay < PROMPT
    assert record.sent.endswith(b"200 result=0\nHANGUP\n")
    wait_until(lambda: server.active_sessions == 0)


def test_hangup_during_get_data_ends_the_handler_with_agihangup_and_closes(serve, caplog):
    handler = Recorder()
    server = serve(handler)

    with caplog.at_level(logging.INFO, logger="telephony.agi.server"):
        record = AsteriskStandIn(env=transcript_2_environment(), hangup_at=3).call(server.address)
        wait_until(lambda: server.active_sessions == 0)

    assert bytes(record.received) == "".join(f"{line}\n" for line in TRANSCRIPT_1_SENT[:3]).encode()
    assert record.sent_lines[-3:] == ["200 result=-1", "HANGUP", "HANGUP"]
    assert record.closed_by_server and record.close_delay < PROMPT
    assert [type(error) for error in handler.errors] == [AGIHangup]
    peer = handler.sessions[0].peer
    assert [r.message for r in caplog.records if "hung up" in r.message] == [
        f"AGI call 1795834610.7 from {peer}: caller hung up (caller hung up: 'GET DATA beep 3000 1' got 200 result=-1)"
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_hangup_line_read_before_a_reply_as_in_transcript_2_stops_the_call(serve):
    handler = Recorder()
    server = serve(handler)

    record = AsteriskStandIn(hangup_at=4, hangup_before_reply=True).call(server.address)

    assert record.received.decode().splitlines() == list(TRANSCRIPT_1_SENT[:4])
    assert record.sent_lines[-3:] == ["HANGUP", "200 result=1", "HANGUP"]
    assert [type(error) for error in handler.errors] == [AGIHangup]


def test_after_a_hangup_only_dead_channel_commands_go_out_and_get_transcript_2_replies(serve):
    def every_step(session, outcome):
        # Like the recorder of transcript 2: carry on after each failure, line by line.
        for line in TRANSCRIPT_1_SENT:
            try:
                session.execute(line)
            except AGIError:
                pass

    handler = Recorder(every_step)
    server = serve(handler)

    record = AsteriskStandIn(env=transcript_2_environment(), hangup_at=3).call(server.address)

    sent = record.received.decode().splitlines()
    assert sent[:3] == list(TRANSCRIPT_1_SENT[:3])
    assert all(line.upper().startswith(DEAD_CHANNEL_COMMANDS) for line in sent[3:])
    assert sent[3:] == [line for line in TRANSCRIPT_1_SENT[3:] if line.startswith(DEAD_CHANNEL_COMMANDS)]
    replies = dict(zip(TRANSCRIPT_1_SENT[3:], [r for r in TRANSCRIPT_2_REPLIES[4:] if r != "HANGUP"], strict=True))
    assert record.sent_lines[len(TRANSCRIPT_ENV) + 1 + 4 :][:-1] == [replies[line] for line in sent[3:]]
    assert "511" not in record.sent.decode()


def test_with_agisighup_off_the_511_reply_is_the_hangup(serve):
    handler = Recorder()
    server = serve(handler)

    # No HANGUP lines: GET DATA's -1 looks like a missing prompt; STREAM FILE's 511 then tells the truth.
    record = AsteriskStandIn(hangup_at=3, agisighup=False).call(server.address)

    assert record.received.decode().splitlines() == list(TRANSCRIPT_1_SENT[:3])
    assert [type(error) for error in handler.errors] == [AGICommandFailed]

    def carry_on(session, outcome):
        session.answer()
        try:
            session.get_data("beep", 3000, 1)
        except AGICommandFailed:
            outcome["failed"] = True
        session.command("SET VARIABLE", "TICKET_ID", 12345)
        session.command("STREAM FILE", "nonexistent", "")

    handler = Recorder(carry_on)
    server = serve(handler)
    record = AsteriskStandIn(hangup_at=2, agisighup=False).call(server.address)

    assert record.sent_lines[-1] == "511 Command Not Permitted on a dead channel or intercept routine"
    assert [type(error) for error in handler.errors] == [AGIHangup]
    assert "HANGUP" not in record.sent_lines


def test_agiexitonhangup_closes_from_asterisks_side_and_the_server_copes(serve):
    handler = Recorder()
    server = serve(handler)

    record = AsteriskStandIn(hangup_at=4, exit_on_hangup=True).call(server.address)
    wait_until(lambda: server.active_sessions == 0)

    assert record.sent_lines[-3:] == ["200 result=1", "HANGUP", "HANGUP"]
    assert [type(error) for error in handler.errors] == [AGIHangup]
    assert_still_serving(server)


@pytest.mark.parametrize("step", range(len(TRANSCRIPT_1_SENT) + 1))
def test_caller_hangs_up_at_any_step_and_the_server_closes_cleanly(serve, caplog, step):
    handler = Recorder()
    server = serve(handler)

    with caplog.at_level(logging.INFO, logger="telephony.agi.server"):
        record = AsteriskStandIn(hangup_at=step).call(server.address)
        wait_until(lambda: server.active_sessions == 0)

    assert record.closed_by_server and record.close_delay < PROMPT
    # At most one command is ever refused with 511: the server stops sending live-channel commands.
    assert record.sent.count(b"511 ") <= 1
    assert handler.sessions[0].hung_up
    if step < len(TRANSCRIPT_1_SENT):
        assert [type(error) for error in handler.errors] == [AGIHangup]
    assert len([r for r in caplog.records if "hung up" in r.message]) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_concurrent_calls_each_get_their_own_exact_session(serve):
    handler = Recorder()
    server = serve(handler)

    def one_call(number):
        env = environment(uniqueid=f"1795834593.{number}", channel=f"Local/13800138000@hotline-{number:08x};2")
        return AsteriskStandIn(env=env).call(server.address)

    with ThreadPoolExecutor(max_workers=50) as pool:
        records = list(pool.map(one_call, range(50)))

    assert all(bytes(record.received) == TRANSCRIPT_1_BYTES for record in records)
    assert sorted(session.env["agi_uniqueid"] for session in handler.sessions) == sorted(
        f"1795834593.{number}" for number in range(50)
    )
    assert handler.errors == []


def connection_refused(address):
    try:
        socket.create_connection(address, timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # Queued on the listener just before it closed: reset, not refused (yet).
        return False
    return False


def raw_connection(server, data=b"", *, wait=2.0):
    """Connect, send `data`, and return what came back and whether the server closed, within `wait` seconds."""
    sock = socket.create_connection(server.address, timeout=wait)
    try:
        sock.sendall(data)
    except OSError:
        pass
    received, closed = b"", False
    try:
        while chunk := sock.recv(65536):
            received += chunk
        closed = True
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        pass
    finally:
        sock.close()
    return received, closed


@pytest.mark.parametrize(
    ("data", "logged"),
    [
        (b"agi_network: " + b"x" * 1_000_000 + b"\n", "AGIProtocolError: line exceeds 8192 bytes"),
        (bytes(range(256)) * 64, "AGIProtocolError"),
        (b"\x00\xff\xfe garbage\n\x89PNG\r\n\x1a\n", "AGIProtocolError: malformed environment line"),
        (b"GET / HTTP/1.1\r\nHost: bridge\r\n\r\n", "AGIProtocolError: malformed environment line"),
        (b"\n", "AGIProtocolError: empty environment block"),
        (environment()[:300], "AGITimeout"),
        (b"", "AGITimeout"),
    ],
    ids=["megabyte-line", "binary-garbage", "garbage-lines", "http", "empty-env", "partial-env-then-silence", "silent"],
)
def test_bad_peer_is_closed_and_logged_and_the_server_keeps_serving(serve, caplog, data, logged):
    handler = Recorder()
    server = serve(handler)

    with caplog.at_level(logging.WARNING, logger="telephony.agi.server"):
        started = time.monotonic()
        received, closed = raw_connection(server, data)
        wait_until(lambda: server.active_sessions == 0)

    assert closed and received == b""
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert any(logged in record.message for record in caplog.records)
    assert handler.sessions == []
    assert_still_serving(server)


def test_mid_call_megabyte_reply_and_silence_close_the_call_only(serve, caplog):
    def ask(session, outcome):
        session.answer()

    server = serve(Recorder(ask))

    with caplog.at_level(logging.WARNING, logger="telephony.agi.server"):
        flood = environment() + b"200 result=0 (" + b"x" * 1_000_000
        received, closed = raw_connection(server, flood)
        record = AsteriskStandIn(silent_at=1).call(server.address)

    # The reset that cuts the flood may also discard the ANSWER still unread on the client side.
    assert closed and received in (b"", b"ANSWER\n")
    assert record.closed_by_server and record.commands == ["ANSWER"]
    messages = [record.message for record in caplog.records]
    assert any("AGIProtocolError: line exceeds" in message for message in messages)
    assert any("AGITimeout" in message for message in messages)
    server.handler = Recorder()
    assert_still_serving(server)


def test_non_utf8_caller_name_is_replaced_logged_and_the_call_proceeds(serve, caplog):
    handler = Recorder()
    server = serve(handler)
    env = environment().replace(b"agi_calleridname: 13800138000", "agi_calleridname: 张三".encode("gbk"))

    with caplog.at_level(logging.WARNING):
        record = AsteriskStandIn(env=env).call(server.address)

    assert bytes(record.received) == TRANSCRIPT_1_BYTES
    assert handler.sessions[0].env["agi_calleridname"] == "张三".encode("gbk").decode("utf-8", errors="replace")
    assert any("non-UTF-8" in r.message for r in caplog.records)


def test_flood_of_200_connections_then_a_normal_call_still_works(serve, caplog):
    server = serve(Recorder(), read_timeout=0.5)

    with caplog.at_level(logging.WARNING, logger="telephony.agi.server"):
        flood = [socket.create_connection(server.address, timeout=2) for _ in range(200)]
        try:
            wait_until(lambda: server.active_sessions >= 200)
            assert_still_serving(server)
        finally:
            for sock in flood:
                sock.close()
        wait_until(lambda: server.active_sessions == 0)

    warnings = [r for r in caplog.records if r.name == "telephony.agi.server" and r.levelno == logging.WARNING]
    assert len(warnings) == 200


def test_at_its_call_limit_the_server_refuses_connections_so_asterisk_fails_over(serve, caplog):
    server = serve(Recorder(), max_sessions=2, read_timeout=5.0)

    with caplog.at_level(logging.INFO, logger="telephony.agi.server"):
        held = [socket.create_connection(server.address, timeout=2) for _ in range(2)]
        wait_until(lambda: server.active_sessions == 2)
        assert not server.accepting

        # Refused, not accepted then closed: res_agi tries the next hagi:// SRV target only when
        # the connection itself fails (a refused one fails at once).
        assert connection_refused(server.address)
        assert connection_refused(server.address)
        warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings == ["FastAGI bridge at its limit of 2 calls: refusing new connections until one ends"]

        held.pop().close()  # a call ends: a slot is free, the same port listens again
        wait_until(lambda: server.accepting)
        assert server.active_sessions == 1
        assert_still_serving(server)

    assert any("accepting calls again" in r.message for r in caplog.records)
    for sock in held:
        sock.close()


def test_a_server_stopped_while_at_its_limit_stops_cleanly(serve):
    server = serve(Recorder(), max_sessions=1, read_timeout=5.0)
    held = socket.create_connection(server.address, timeout=2)
    wait_until(lambda: server.active_sessions == 1)

    assert server.stop(timeout=0.2) is False
    assert connection_refused(server.address) and server.active_sessions == 0
    held.close()


def test_allowlist_refuses_other_hosts_before_reading_a_byte(serve, caplog):
    handler = Recorder()
    server = serve(handler, allowed_hosts=["192.0.2.10", "10.0.0.0/8"])

    with caplog.at_level(logging.WARNING, logger="telephony.agi.server"):
        received, closed = raw_connection(server, environment())

    assert closed and received == b""
    assert handler.sessions == []
    assert any("refused: not in the allowed Asterisk hosts" in record.message for record in caplog.records)


def test_allowlist_admits_listed_hosts_networks_and_names(serve):
    for allowed in (["127.0.0.1"], ["192.0.2.10", "127.0.0.0/8"], ["localhost"]):
        server = serve(Recorder(), allowed_hosts=allowed)
        assert_still_serving(server)
    assert allowlist_networks(["", " 10.1.2.3 "])[0].with_prefixlen == "10.1.2.3/32"


def test_handler_bug_is_logged_with_its_traceback_and_the_server_keeps_serving(serve, caplog):
    def broken(session):
        session.answer()
        raise RuntimeError("bug in the IVR")

    server = serve(broken)

    with caplog.at_level(logging.ERROR, logger="telephony.agi.server"):
        record = AsteriskStandIn().call(server.address)
        wait_until(lambda: server.active_sessions == 0)

    assert record.closed_by_server and record.close_delay < PROMPT
    assert [r.exc_info[0] for r in caplog.records if r.levelno >= logging.ERROR] == [RuntimeError]
    server.handler = Recorder()
    assert_still_serving(server)


def test_stop_refuses_new_calls_and_drains_the_one_in_progress(serve):
    release = threading.Event()

    def slow(session, outcome):
        session.answer()
        release.wait(5)
        transcript_script(session, outcome)

    handler = Recorder(slow)
    server = serve(handler)
    with ThreadPoolExecutor(max_workers=2) as pool:
        call = pool.submit(AsteriskStandIn().call, server.address)
        wait_until(lambda: server.active_sessions == 1)
        stopping = pool.submit(server.stop, 5)
        wait_until(lambda: connection_refused(server.address))
        release.set()
        assert stopping.result() is True
        record = call.result()

    assert bytes(record.received) == b"ANSWER\n" + TRANSCRIPT_1_BYTES
    assert handler.errors == []


def test_stop_cuts_calls_still_open_after_the_drain_timeout(serve):
    handler = Recorder()
    server = serve(handler, read_timeout=5.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        call = pool.submit(AsteriskStandIn(silent_at=3).call, server.address)
        wait_until(lambda: server.active_sessions == 1)

        started = time.monotonic()
        assert server.stop(timeout=0.2) is False
        record = call.result()

    assert time.monotonic() - started < 2.0
    assert record.closed_by_server
    assert server.active_sessions == 0
    # Cut by the server, not hung up: the caller is still there and Asterisk carries on in the dialplan.
    assert [type(error) for error in handler.errors] == [AGISessionCut]


def test_the_agi_package_imports_no_django():
    code = "import sys, telephony.agi.server; sys.exit('django' in sys.modules or 'asterisk.fastagi' in sys.modules)"
    root = Path(__file__).resolve().parents[2]

    # A fixed argv on our own interpreter: nothing untrusted reaches the subprocess.
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0  # noqa: S603
