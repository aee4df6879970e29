"""Each pyst2 0.5.1 defect on Python 3.11, shown on plain pyst2, then fixed by the adapter."""

import importlib
import io
import logging
import signal
import socket
import threading
import time

import pytest
from asterisk import agi as pyst2_agi

from telephony.agi.protocol import (
    AGICommandFailed,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGITimeout,
    AGIUsageError,
    Connection,
)
from telephony.agi.pyst2_adapter import FastAGISession
from tests.telephony.asterisk_standin import STREAM_FILE_USAGE, TRANSCRIPT_1_SENT, environment, parse_args

ENV = environment()
R511 = b"511 Command Not Permitted on a dead channel or intercept routine\n"


@pytest.fixture
def sighup_restored():
    """Plain pyst2 replaces the process's SIGHUP handler; put the original back after the test."""
    original = signal.getsignal(signal.SIGHUP)
    yield original
    signal.signal(signal.SIGHUP, original)


def plain_agi(stdin, stderr=None):
    """A plain pyst2 AGI built in the main thread, as pyst2 expects."""
    return pyst2_agi.AGI(stdin=stdin, stdout=io.StringIO(), stderr=stderr or io.StringIO())


class Asterisk:
    """The far end of a socket pair: the test queues replies and reads what the session sent."""

    def __init__(self, sock):
        self.sock = sock

    def reply(self, *lines):
        self.sock.sendall("".join(f"{line}\n" for line in lines).encode())

    def received(self, wait=0.05):
        self.sock.settimeout(wait)
        data = b""
        try:
            while chunk := self.sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
        return data


@pytest.fixture
def call():
    """A FastAGISession on a socket pair whose far end has sent transcript 1's environment."""
    ours, theirs = socket.socketpair()
    theirs.sendall(ENV)
    session = FastAGISession(Connection(ours, peer="test"), read_timeout=1.0)
    yield session, Asterisk(theirs)
    ours.close()
    theirs.close()


# Defect 1: asterisk.fastagi cannot even be imported.


def test_plain_pyst2_fastagi_imports_python2_socketserver():
    with pytest.raises(ModuleNotFoundError, match="SocketServer"):
        importlib.import_module("asterisk.fastagi")


def test_adapter_speaks_fastagi_on_a_socket_without_asterisk_fastagi(call):
    session, asterisk = call
    asterisk.reply("200 result=1")

    session.verbose("FastAGI test: call from 13800138000", 1)

    assert session.env["agi_network"] == "yes"
    assert asterisk.received() == f"{TRANSCRIPT_1_SENT[1]}\n".encode()


# Defect 2: the constructor installs a SIGHUP handler.


def test_plain_pyst2_cannot_be_built_outside_the_main_thread():
    errors = []

    def build():
        try:
            plain_agi(io.StringIO(ENV.decode()))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()

    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    assert "main thread" in str(errors[0])


def test_plain_pyst2_takes_over_the_process_sighup_handler(sighup_restored):
    plain_agi(io.StringIO(ENV.decode()))

    assert signal.getsignal(signal.SIGHUP) is not sighup_restored


def test_adapter_builds_in_a_worker_thread_and_leaves_sighup_alone(sighup_restored):
    sessions, errors = [], []
    ours, theirs = socket.socketpair()
    theirs.sendall(ENV)

    def build():
        try:
            sessions.append(FastAGISession(Connection(ours), read_timeout=1.0))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    ours.close()
    theirs.close()

    assert errors == []
    assert sessions[0].env["agi_uniqueid"] == "1795834593.3"
    assert signal.getsignal(signal.SIGHUP) is sighup_restored


# Defect 3: debug lines on stderr for every command.


def test_plain_pyst2_writes_debug_lines_to_stderr(sighup_restored):
    stderr = io.StringIO()
    agi = plain_agi(io.StringIO(ENV.decode() + "200 result=0\n"), stderr=stderr)

    agi.answer()

    assert "ENV LINE: agi_network: yes" in stderr.getvalue()
    assert "    COMMAND: ANSWER" in stderr.getvalue()
    assert "    RESULT_LINE: 200 result=0" in stderr.getvalue()


def test_adapter_logs_at_debug_and_keeps_stderr_clean(call, capfd, caplog):
    session, asterisk = call
    asterisk.reply("200 result=0")

    with caplog.at_level(logging.DEBUG, logger="telephony.agi.pyst2_adapter"):
        session.answer()

    assert capfd.readouterr().err == ""
    assert [record.message for record in caplog.records] == ["AGI test >> ANSWER", "AGI test << 200 result=0"]


# Defect 4: a HANGUP line or EOF becomes a ValueError.


def test_plain_pyst2_turns_the_hangup_line_into_a_value_error(sighup_restored):
    agi = plain_agi(io.StringIO(ENV.decode() + "HANGUP\n200 result=1\n"))

    with pytest.raises(ValueError, match="invalid literal for int"):
        agi.set_variable("TICKET_ID", "12345")


def test_plain_pyst2_turns_eof_into_a_value_error(sighup_restored):
    agi = plain_agi(io.StringIO(ENV.decode()))

    with pytest.raises(ValueError, match="invalid literal for int"):
        agi.answer()


def test_adapter_skips_the_hangup_line_keeps_the_reply_and_stops_sending_live_channel_commands(call):
    # Transcript 2 as the server read it: HANGUP arrived just before SET VARIABLE's own reply.
    session, asterisk = call
    asterisk.reply("200 result=1")
    session.set_variable("TICKET_ID", "12345")
    asterisk.received()
    asterisk.reply("HANGUP", "200 result=1")

    session.execute("SET VARIABLE", "TICKET_ID", "12345")

    assert session.hung_up
    with pytest.raises(AGIHangup):
        session.stream_file("nonexistent")
    assert asterisk.received() == b"SET VARIABLE TICKET_ID 12345\n"


def test_adapter_still_sends_dead_channel_commands_after_a_hangup(call):
    session, asterisk = call
    asterisk.reply("HANGUP")
    asterisk.reply("200 result=1 (12345)", "200 result=0")

    assert session.command("GET VARIABLE", "TICKET_ID").data == "12345"
    session.noop()
    session.hangup()

    assert session.hung_up
    assert asterisk.received() == b"GET VARIABLE TICKET_ID\nNOOP\n"


def test_adapter_takes_a_result_minus_one_with_its_hangup_line_as_a_hangup(call):
    # Transcript 2 on the wire: "200 result=-1" and "HANGUP" together after GET DATA.
    session, asterisk = call
    asterisk.reply("200 result=-1", "HANGUP")

    with pytest.raises(AGIHangup):
        session.get_data("beep", 3000, 1)
    assert session.hung_up


def test_adapter_takes_511_as_a_hangup_when_hangup_lines_are_off(call):
    # Set(AGISIGHUP=no): no HANGUP lines, only 511 on a dead channel.
    session, asterisk = call
    asterisk.reply(R511.decode().strip())

    with pytest.raises(AGIHangup, match="511"):
        session.channel_status()
    assert session.hung_up


def test_adapter_takes_eof_as_a_hangup(call):
    session, asterisk = call
    asterisk.sock.shutdown(socket.SHUT_WR)

    with pytest.raises(AGIHangup):
        session.answer()


def test_result_minus_one_alone_is_no_hangup_and_the_call_goes_on(call):
    session, asterisk = call
    asterisk.reply("200 result=-1 endpos=0", "200 result=-1", "200 result=1")

    with pytest.raises(AGICommandFailed) as stream_failure:
        session.stream_file("nonexistent")
    with pytest.raises(AGICommandFailed):
        session.get_data("missing-prompt", 3000, 1)
    session.verbose("still here")

    assert stream_failure.value.reply.endpos == 0
    assert not session.hung_up
    assert not isinstance(stream_failure.value, AGIHangup)


# Defect 5: no timeout and no size limit on reads.


def test_plain_pyst2_waits_forever_on_a_silent_peer(sighup_restored):
    ours, theirs = socket.socketpair()
    agi = plain_agi(io.StringIO(ENV.decode()))
    agi.stdin = ours.makefile("rb")
    outcome = []

    def answer():
        try:
            agi.answer()
        except ValueError as exc:  # the EOF that finally ends the wait, defect 4 again
            outcome.append(exc)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    thread.join(0.3)
    still_waiting = thread.is_alive()
    theirs.close()
    thread.join(1)
    ours.close()

    assert still_waiting
    assert len(outcome) == 1


def test_plain_pyst2_reads_a_megabyte_reply_whole(sighup_restored):
    value = "x" * 1_000_000
    agi = plain_agi(io.StringIO(ENV.decode() + f"200 result=1 ({value})\n"))

    assert len(agi.get_variable("HUGE")) == 1_000_000


def test_plain_pyst2_reads_past_eof_forever_in_a_cut_520_block(sighup_restored):
    class CountingStdin(io.StringIO):
        reads_after_eof = 0

        def readline(self, *args):
            line = super().readline(*args)
            if not line:
                self.reads_after_eof += 1
                if self.reads_after_eof > 1000:
                    raise RuntimeError("still reading after EOF")
            return line

    agi = plain_agi(CountingStdin(ENV.decode() + "520-Invalid command syntax.  Proper usage follows:\nusage\n"))

    with pytest.raises(RuntimeError, match="still reading after EOF"):
        agi.stream_file("nonexistent")


def test_adapter_times_out_on_a_silent_peer():
    ours, theirs = socket.socketpair()
    theirs.sendall(ENV)
    session = FastAGISession(Connection(ours), read_timeout=0.1)
    started = time.monotonic()

    with pytest.raises(AGITimeout):
        session.answer()

    assert time.monotonic() - started < 0.5
    ours.close()
    theirs.close()


def test_adapter_refuses_a_megabyte_reply_after_8_kib(call):
    session, asterisk = call
    sender = threading.Thread(target=_send_quietly, args=(asterisk.sock, b"200 result=1 (" + b"x" * 1_000_000))
    sender.start()

    with pytest.raises(AGIProtocolError, match="exceeds 8192"):
        session.get_variable("HUGE")
    session.conn.close()
    sender.join()


def test_adapter_ends_a_cut_520_block_as_a_hangup(call):
    session, asterisk = call
    asterisk.reply("520-Invalid command syntax.  Proper usage follows:", "usage")
    asterisk.sock.shutdown(socket.SHUT_WR)

    with pytest.raises(AGIHangup):
        session.stream_file("nonexistent")


def test_adapter_gives_media_commands_their_media_allowance_on_top_of_the_read_timeout():
    ours, theirs = socket.socketpair()
    theirs.sendall(ENV)
    session = FastAGISession(Connection(ours), read_timeout=0.05, media_timeout=1.0)
    timer = threading.Timer(0.2, theirs.sendall, args=(b"200 result=123\n",))
    timer.start()

    assert session.get_data("hotline-menu", 5000, 4) == "123"
    with pytest.raises(AGITimeout):
        session.get_variable("TICKET_ID")
    timer.join()
    ours.close()
    theirs.close()


def test_adapter_refuses_an_environment_over_its_cap():
    ours, theirs = socket.socketpair()
    theirs.sendall(ENV)

    with pytest.raises(AGIProtocolError, match="exceeds 200 bytes"):
        FastAGISession(Connection(ours), read_timeout=1.0, max_env_bytes=200)
    ours.close()
    theirs.close()


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


# Found on the way: quoting and encoding.


def test_plain_pyst2_quote_loses_the_quotes_inside_a_value(sighup_restored):
    stdout = io.StringIO()
    agi = pyst2_agi.AGI(stdin=io.StringIO(ENV.decode() + "200 result=1\n"), stdout=stdout, stderr=io.StringIO())

    agi.set_variable("NOTE", 'two words "quoted"')

    assert stdout.getvalue() == 'SET VARIABLE "NOTE" "two words "quoted""\n'
    assert parse_args(stdout.getvalue().strip())[3] == "two words quoted"


def test_adapter_quotes_set_variable_exactly_like_the_transcript(call):
    session, asterisk = call
    asterisk.reply("200 result=1")

    session.set_variable("NOTE", 'two words "quoted"')

    sent = asterisk.received()
    assert sent == f"{TRANSCRIPT_1_SENT[7]}\n".encode()
    assert parse_args(sent.decode().strip())[3] == 'two words "quoted"'


def test_plain_pyst2_fails_on_non_utf8_bytes(sighup_restored):
    block = environment().replace(b"agi_calleridname: 13800138000", "agi_calleridname: 张三".encode("gbk"))

    with pytest.raises(UnicodeDecodeError):
        plain_agi(io.BytesIO(block))


def test_adapter_replaces_non_utf8_bytes_and_logs_them(caplog):
    ours, theirs = socket.socketpair()
    theirs.sendall(environment().replace(b"agi_calleridname: 13800138000", "agi_calleridname: 张三".encode("gbk")))

    with caplog.at_level(logging.WARNING):
        session = FastAGISession(Connection(ours, peer="test"), read_timeout=1.0)

    assert "\ufffd" in session.env["agi_calleridname"]
    assert any("non-UTF-8" in record.message for record in caplog.records)
    ours.close()
    theirs.close()


# pyst2's command methods, unchanged, over the adapter.


def test_command_methods_send_pyst2_lines_and_return_pyst2_values(call):
    session, asterisk = call
    asterisk.reply("200 result=0", "200 result=123", "200 result= (timeout)", "200 result=55 endpos=1000")
    asterisk.reply("200 result=0", "200 result=0", "200 result=1 (12345)", "200 result=0", "200 result=6")

    session.answer()
    keyed = session.get_data("hotline-menu", 5000, 4)
    nothing = session.get_data("hotline-menu", 5000, 4)
    interrupted = session.stream_file("hotline-welcome", "0123456789*#")
    session.say_digits("123")
    session.say_date(1_700_000_000)
    ticket = session.get_variable("TICKET_ID")
    unset = session.get_variable("DOES_NOT_EXIST")
    status = session.channel_status()

    assert (keyed, nothing, interrupted, ticket, unset, status) == ("123", "", "7", "12345", "", 6)
    assert asterisk.received().decode().splitlines() == [
        "ANSWER",
        "GET DATA hotline-menu 5000 4",
        "GET DATA hotline-menu 5000 4",
        'STREAM FILE hotline-welcome "0123456789*#" 0',
        'SAY DIGITS "123" ""',
        'SAY DATE 1700000000 ""',
        'GET VARIABLE "TICKET_ID"',
        'GET VARIABLE "DOES_NOT_EXIST"',
        "CHANNEL STATUS",
    ]


def test_510_and_520_are_our_mistakes_not_call_events(call):
    session, asterisk = call
    usage = "".join(f"{line}\n" for line in STREAM_FILE_USAGE)
    asterisk.sock.sendall(
        f"520-Invalid command syntax.  Proper usage follows:\n{usage}520 End of proper usage.\n".encode()
    )
    asterisk.reply("510 Invalid or unknown command")

    with pytest.raises(AGIUsageError) as usage_error:
        session.command("STREAM FILE", "nonexistent")
    with pytest.raises(AGIInvalidCommand):
        session.command("FOO BAR")

    assert usage_error.value.usage == STREAM_FILE_USAGE
    assert not session.hung_up


def test_hangup_sends_hangup_once_and_is_a_no_op_after(call):
    session, asterisk = call
    asterisk.reply("200 result=1", "HANGUP")

    session.hangup()
    session.hangup()

    assert session.hung_up
    assert asterisk.received() == b"HANGUP\n"


def test_database_get_sends_family_and_key_without_pyst2s_extra_quotes(call):
    session, asterisk = call
    asterisk.reply("200 result=1 (on duty)", "200 result=0")

    assert session.database_get("hotline", "night mode") == "on duty"
    with pytest.raises(pyst2_agi.AGIDBError):
        session.database_get("hotline", "missing")
    assert asterisk.received() == b'DATABASE GET hotline "night mode"\nDATABASE GET hotline missing\n'


def test_a_value_with_a_newline_is_refused_before_anything_is_sent(call):
    session, asterisk = call

    with pytest.raises(ValueError, match="line break"):
        session.set_variable("NOTE", "two\nlines")
    assert asterisk.received() == b""
