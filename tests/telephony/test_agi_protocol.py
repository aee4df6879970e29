"""The FastAGI wire protocol: replies, the environment block, quoting, caps and timeouts, byte for byte."""

import logging
import socket
import threading

import pytest

from telephony.agi.protocol import (
    MAX_ENV_BYTES,
    AGIHangup,
    AGIProtocolError,
    AGISessionCut,
    AGITimeout,
    Connection,
    check_command,
    command_line,
    format_arg,
    parse_reply_line,
    quote,
    read_environment,
    read_reply,
)
from tests.telephony.asterisk_standin import (
    OTHER_OBSERVED_REPLIES,
    STREAM_FILE_USAGE,
    TRANSCRIPT_1_REPLIES,
    TRANSCRIPT_1_SENT,
    TRANSCRIPT_2_REPLIES,
    TRANSCRIPT_ENV,
    environment,
    parse_args,
)

R511 = "511 Command Not Permitted on a dead channel or intercept routine"


@pytest.fixture
def wire():
    """A Connection on one end of a socket pair; the test plays Asterisk on the other."""
    ours, theirs = socket.socketpair()
    yield Connection(ours, peer="test"), theirs
    ours.close()
    theirs.close()


# Every final reply line in the transcripts, with what it must parse to: (code, result, data, endpos).
REPLY_SHAPES = [
    ("200 result=0", 200, "0", None, None),
    ("200 result=1", 200, "1", None, None),
    ("200 result=-1", 200, "-1", None, None),
    ("200 result=-1 endpos=0", 200, "-1", None, 0),
    ("200 result=0 endpos=2000", 200, "0", None, 2000),
    ("200 result=1 (12345)", 200, "1", "12345", None),
    (
        "200 result=1 (13800138000|Local/13800138000@hotline-00000001;2)",
        200,
        "1",
        "13800138000|Local/13800138000@hotline-00000001;2",
        None,
    ),
    (
        "200 result=1 (13800138000|Local/13800138000@hotline-00000002;2)",
        200,
        "1",
        "13800138000|Local/13800138000@hotline-00000002;2",
        None,
    ),
    ('200 result=1 (two words "quoted")', 200, "1", 'two words "quoted"', None),
    ("200 result=6", 200, "6", None, None),
    ("200 result=55", 200, "55", None, None),
    ("200 result=123", 200, "123", None, None),
    ("200 result=4", 200, "4", None, None),
    ("200 result= (timeout)", 200, "", "timeout", None),
    ("200 result=12 (timeout)", 200, "12", "timeout", None),
    ("510 Invalid or unknown command", 510, None, None, None),
    (R511, 511, None, None, None),
    ("520 Invalid command syntax.  Proper usage not available.", 520, None, None, None),
    ("520 End of proper usage.", 520, None, None, None),
    # A variable's value is raw: the data runs from the first "(" to the final ")".
    ("200 result=1 (a) b (c))", 200, "1", "a) b (c)", None),
    ("200 result=1 ()", 200, "1", "", None),
]


@pytest.mark.parametrize(("line", "code", "result", "data", "endpos"), REPLY_SHAPES)
def test_reply_line_parses_to_code_result_data_and_endpos(line, code, result, data, endpos):
    reply = parse_reply_line(line)

    assert (reply.code, reply.result, reply.data, reply.endpos) == (code, result, data, endpos)


def test_every_reply_shape_in_the_transcripts_is_covered_above():
    final_lines = {
        line
        for line in (*TRANSCRIPT_1_REPLIES, *TRANSCRIPT_2_REPLIES, *OTHER_OBSERVED_REPLIES)
        if line[:3].isdigit() and not line.startswith("520-")
    }

    assert final_lines <= {shape[0] for shape in REPLY_SHAPES}


@pytest.mark.parametrize("line", ["HANGUP", "", "garbage", "2000 result=1", "200 value=1", "\x00\x01\x02"])
def test_a_line_that_is_no_reply_is_a_protocol_error(line):
    with pytest.raises(AGIProtocolError):
        parse_reply_line(line)


def test_multi_line_520_is_read_to_the_line_starting_520_space(wire):
    conn, asterisk = wire
    usage = "".join(f"{line}\n" for line in STREAM_FILE_USAGE)
    asterisk.sendall(f"520-Invalid command syntax.  Proper usage follows:\n{usage}520 End of proper usage.\n".encode())

    reply = read_reply(conn, timeout=1)

    assert (reply.code, reply.text, reply.usage) == (520, "End of proper usage.", STREAM_FILE_USAGE)


def test_a_520_block_cut_by_eof_is_a_hangup_not_an_endless_read(wire):
    conn, asterisk = wire
    asterisk.sendall(b"520-Invalid command syntax.  Proper usage follows:\nSend the given file\n")
    asterisk.close()

    with pytest.raises(AGIHangup):
        read_reply(conn, timeout=1)


def test_a_520_block_of_endless_usage_lines_is_a_protocol_error(wire):
    conn, asterisk = wire
    asterisk.sendall(b"520-Invalid command syntax.  Proper usage follows:\n" + b"usage\n" * 500)

    with pytest.raises(AGIProtocolError, match="usage block"):
        read_reply(conn, timeout=1)


def test_hangup_line_before_the_reply_is_skipped_and_noted(wire):
    # Transcript 2 as the server read it: SET VARIABLE went out, then "HANGUP", then its own "200 result=1".
    conn, asterisk = wire
    asterisk.sendall(b"HANGUP\n200 result=1\n")

    reply = read_reply(conn, timeout=1)

    assert (reply.code, reply.result, reply.hangup) == (200, "1", True)


def test_hangup_line_already_waiting_after_the_reply_is_taken_with_it(wire):
    # Transcript 2 on the wire: GET DATA's "200 result=-1" and "HANGUP" went out together.
    conn, asterisk = wire
    asterisk.sendall(b"200 result=-1\nHANGUP\n")

    reply = read_reply(conn, timeout=1)

    assert (reply.result, reply.hangup) == ("-1", True)
    with pytest.raises(AGITimeout):
        conn.readline(0.05)


def test_a_reply_with_no_hangup_waiting_is_not_a_hangup(wire):
    conn, asterisk = wire
    asterisk.sendall(b"200 result=-1 endpos=0\n")

    reply = read_reply(conn, timeout=1)

    assert (reply.result, reply.endpos, reply.hangup) == ("-1", 0, False)


def test_two_hangup_lines_of_agiexitonhangup_then_eof_are_a_hangup(wire):
    conn, asterisk = wire
    asterisk.sendall(b"HANGUP\nHANGUP\n")
    asterisk.close()

    with pytest.raises(AGIHangup, match="closed"):
        read_reply(conn, timeout=1)


def test_eof_while_waiting_for_a_reply_is_a_hangup(wire):
    conn, asterisk = wire
    asterisk.close()

    with pytest.raises(AGIHangup):
        read_reply(conn, timeout=1)


def test_silence_while_waiting_for_a_reply_is_a_timeout(wire):
    conn, _asterisk = wire

    with pytest.raises(AGITimeout):
        read_reply(conn, timeout=0.05)


def test_a_reply_trickling_in_slower_than_the_deadline_times_out(wire):
    conn, asterisk = wire

    def trickle():
        for byte in b"200 result=1\n":
            asterisk.sendall(bytes([byte]))
            if stop.wait(0.02):
                return

    stop = threading.Event()
    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        with pytest.raises(AGITimeout):
            read_reply(conn, timeout=0.1)
    finally:
        stop.set()
        thread.join()


def test_environment_block_of_transcript_1_is_read_key_by_key(wire):
    conn, asterisk = wire
    asterisk.sendall(environment())

    env = read_environment(conn, timeout=1)

    assert env == dict(TRANSCRIPT_ENV)
    assert env["agi_accountcode"] == ""
    assert env["agi_request"] == "agi://127.0.0.1:4573/hotline"
    assert list(env)[-1] == "agi_threadid"


def test_environment_keeps_script_query_and_every_argument_including_empty_ones(wire):
    # AGI(agi://h:p/hotline?lang=zh&x=1,first,second arg,"quoted",a\,b,,last) as Asterisk sent it.
    conn, asterisk = wire
    args = ["first", "second arg", "quoted", "a,b", "", "last"]
    asterisk.sendall(environment(network_script="hotline?lang=zh&x=1", args=args))

    env = read_environment(conn, timeout=1)

    assert env["agi_network_script"] == "hotline?lang=zh&x=1"
    assert [env[f"agi_arg_{number}"] for number in range(1, 7)] == args


def test_environment_without_script_line_and_with_odd_caller_id(wire):
    conn, asterisk = wire
    asterisk.sendall(environment(network_script="", callerid="+8613800138000", calleridname="O'Brien, J"))

    env = read_environment(conn, timeout=1)

    assert "agi_network_script" not in env
    assert (env["agi_callerid"], env["agi_calleridname"]) == ("+8613800138000", "O'Brien, J")


def test_non_utf8_environment_bytes_are_replaced_and_logged_once(wire, caplog):
    conn, asterisk = wire
    gbk_name = "张三".encode("gbk")
    block = environment().replace(b"agi_calleridname: 13800138000", b"agi_calleridname: " + gbk_name)
    asterisk.sendall(block.replace(b"agi_dnid: unknown", b"agi_dnid: \xff\xfe"))

    with caplog.at_level(logging.WARNING, logger="telephony.agi.protocol"):
        env = read_environment(conn, timeout=1)

    assert env["agi_calleridname"] == gbk_name.decode("utf-8", errors="replace")
    assert "\ufffd" in env["agi_dnid"]
    assert len([record for record in caplog.records if "non-UTF-8" in record.message]) == 1


def test_a_non_utf8_line_is_logged_by_its_length_and_bad_byte_offsets_never_its_content(wire, caplog):
    conn, asterisk = wire
    # A caller ID with a stray byte in the middle, and a name in GBK: both are personal data.
    line = b"agi_callerid: 1380013\xff8000"
    block = environment().replace(b"agi_callerid: 13800138000", line)
    asterisk.sendall(block.replace(b"agi_calleridname: 13800138000", "agi_calleridname: 张三".encode("gbk")))

    with caplog.at_level(logging.DEBUG, logger="telephony.agi.protocol"):
        env = read_environment(conn, timeout=1)

    assert env["agi_callerid"] == "1380013\ufffd8000"
    [record] = [r for r in caplog.records if "non-UTF-8" in r.getMessage()]
    message = record.getMessage()
    assert f"a line of {len(line)} bytes (agi_callerid), bad bytes at 21" in message
    for personal in ("1380013", "8000", "\\xff", "张三", repr("张三".encode("gbk"))):
        assert personal not in message, personal


def test_an_end_of_stream_after_this_server_cut_the_session_is_a_cut_not_a_hang_up(wire):
    conn, _asterisk = wire
    conn.cut()

    with pytest.raises(AGISessionCut):
        read_reply(conn, timeout=1)
    with pytest.raises(AGISessionCut):
        conn.write_line("NOOP")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (b"\n", "empty environment"),
        (b"agi_network yes\n\n", "malformed"),
        (b"network: yes\n\n", "malformed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n\n", "malformed"),
        (b"GET / HTTP/1.1\r\nHost: bridge\r\n\r\n", "malformed"),
    ],
)
def test_malformed_environment_is_a_protocol_error(wire, block, message):
    conn, asterisk = wire
    asterisk.sendall(block)

    with pytest.raises(AGIProtocolError, match=message):
        read_environment(conn, timeout=1)


def test_environment_cut_by_eof_is_a_protocol_error(wire):
    conn, asterisk = wire
    asterisk.sendall(environment()[:200])
    asterisk.close()

    with pytest.raises(AGIProtocolError, match="closed inside"):
        read_environment(conn, timeout=1)


def test_partial_environment_then_silence_times_out(wire):
    conn, asterisk = wire
    asterisk.sendall(environment()[:200])

    with pytest.raises(AGITimeout):
        read_environment(conn, timeout=0.1)


def test_environment_over_64_kib_is_refused(wire):
    conn, asterisk = wire
    line = b"agi_arg_1: " + b"x" * 4000 + b"\n"
    asterisk.sendall(line * (MAX_ENV_BYTES // len(line) + 2))

    with pytest.raises(AGIProtocolError, match="exceeds"):
        read_environment(conn, timeout=1)


def test_a_megabyte_line_is_refused_after_8_kib(wire):
    conn, asterisk = wire
    sender = threading.Thread(target=_send_quietly, args=(asterisk, b"agi_network: " + b"x" * 1_000_000 + b"\n"))
    sender.start()

    with pytest.raises(AGIProtocolError, match="exceeds 8192"):
        read_environment(conn, timeout=1)
    conn.close()
    sender.join()


def test_a_line_of_exactly_8_kib_is_accepted(wire):
    conn, asterisk = wire
    asterisk.sendall(b"x" * 8192 + b"\n")

    assert conn.readline(1) == "x" * 8192


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_quote_escapes_quotes_and_backslashes_like_the_transcript():
    assert quote('two words "quoted"') == '"two words \\"quoted\\""'
    assert quote("") == '""'
    assert quote(12345) == '"12345"'


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("SET VARIABLE", "TICKET_ID", 12345), TRANSCRIPT_1_SENT[3]),
        (("STREAM FILE", "nonexistent", ""), TRANSCRIPT_1_SENT[4]),
        (("GET VARIABLE", "TICKET_ID"), TRANSCRIPT_1_SENT[5]),
        (("GET FULL VARIABLE", "${CALLERID(num)}|${CHANNEL}"), TRANSCRIPT_1_SENT[6]),
        (("VERBOSE", "FastAGI test: call from 13800138000", 1), TRANSCRIPT_1_SENT[1]),
        (("GET DATA", "beep", 3000, 1), TRANSCRIPT_1_SENT[2]),
        (("WAIT FOR DIGIT", 100), TRANSCRIPT_1_SENT[13]),
        (("NOOP",), TRANSCRIPT_1_SENT[14]),
    ],
)
def test_command_line_quotes_only_what_needs_it_as_in_the_transcript(args, line):
    assert command_line(*args) == line


@pytest.mark.parametrize(
    "value",
    ["two words", 'x"y', "back\\slash", "", "tab\there", "中文 汉字", '\\"', "trailing\\", "  spaced  ", "${X}|(y)"],
)
def test_quoted_arguments_come_back_intact_through_asterisks_parser(value):
    line = command_line("SET VARIABLE", "NOTE", value)

    assert parse_args(line) == ["SET", "VARIABLE", "NOTE", value]
    assert parse_args(f"SET VARIABLE {quote('NOTE')} {quote(value)}") == ["SET", "VARIABLE", "NOTE", value]


@pytest.mark.parametrize("value", ["two\nlines", "cr\r", "nul\0"])
def test_an_argument_with_a_line_break_is_refused_rather_than_injected(value):
    with pytest.raises(ValueError, match="line break"):
        format_arg(value)
    with pytest.raises(ValueError):
        quote(value)


def test_a_command_longer_than_asterisks_buffer_is_refused():
    assert check_command("NOOP " + "x" * 8000) == "NOOP " + "x" * 8000
    with pytest.raises(ValueError, match="8192"):
        check_command("NOOP " + "x" * 8200)
