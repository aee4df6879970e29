"""Each pyst2 0.5.1 AMI defect on Python 3.11, shown on plain pyst2 against the stand-in, then fixed by AmiClient."""

import threading
import time
import warnings

import pytest
from asterisk import manager as pyst2

from telephony.ami.client import (
    AmiClient,
    AmiConnectError,
    AmiDisconnected,
    AmiProtocolError,
    AmiTimeout,
    ManagerAuthException,
)
from tests.telephony.ami_standin import AmiStandin, Entry, Member, block, hangup, member_fields

# Plain pyst2 warns on every use of its deprecated threading calls (defect 8 has its own test).
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning")

HANG = 0.3  # how long "blocked" has to last to count as a hang here


@pytest.fixture
def standin():
    with AmiStandin() as server:
        server.queues["hotline"].members.append(Member("PJSIP/8001"))
        server.queues["hotline"].entries.append(Entry("1795834593.3", wait=42))
        yield server


@pytest.fixture
def plain(standin):
    """A plain pyst2 Manager logged in to the stand-in."""
    manager = pyst2.Manager()
    manager.connect("127.0.0.1", standin.port)
    manager.login("hotline", "s3cret")
    yield manager
    standin.drop()
    manager._running.clear()  # or its __del__ logs off on a dead line, and raises


@pytest.fixture
def client(standin):
    ami = AmiClient(timeout=2.0, connect_timeout=2.0)
    ami.connect("127.0.0.1", standin.port)
    ami.login("hotline", "s3cret")
    yield ami
    ami.close()


@pytest.fixture
def thread_errors(monkeypatch):
    """Exceptions that end a thread, caught instead of printed."""
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    return errors


def blocked(call, timeout=HANG):
    """Run `call` in a daemon thread; the thread if it is still waiting after `timeout`, else None."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout)
    return thread if thread.is_alive() else None


def release(manager, *threads):
    """Unblock plain pyst2's waits as its reader would at EOF, and see the threads end (while errors are caught)."""
    for _thread in threads:
        manager._response_queue.put(None)
    for thread in threads:
        thread.join(timeout=2)
    manager._running.clear()  # or its __del__ logs off on a dead line


def wait_until(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


# Defect 1: no timeouts.


def test_plain_pyst2_waits_forever_for_a_banner_that_never_comes(standin, thread_errors):
    standin.silent = True
    manager = pyst2.Manager()
    stuck = blocked(lambda: manager.connect("127.0.0.1", standin.port))
    assert stuck
    release(manager, stuck)

    started = time.monotonic()
    with pytest.raises(AmiTimeout, match="no banner"):
        AmiClient(connect_timeout=0.2).connect("127.0.0.1", standin.port)
    assert time.monotonic() - started < 1.0


def test_plain_pyst2_waits_forever_for_an_unanswered_action(standin, thread_errors):
    standin.mute = True
    manager = pyst2.Manager()
    manager.connect("127.0.0.1", standin.port)
    login = blocked(lambda: manager.login("hotline", "s3cret"))
    close = blocked(manager.close)  # close() logs off first, and waits for that answer too
    assert login and close
    standin.drop()
    release(manager, login, close)

    ami = AmiClient(timeout=0.2)
    ami.connect("127.0.0.1", standin.port)
    with pytest.raises(AmiTimeout, match="no response to Login"):
        ami.login("hotline", "s3cret")
    started = time.monotonic()
    ami.close()
    assert time.monotonic() - started < 1.5


def test_an_unreachable_asterisk_is_a_prompt_clear_error():
    with AmiStandin() as server:
        port = server.port
    with pytest.raises(AmiConnectError, match=f"AMI at 127.0.0.1:{port}"):
        AmiClient(connect_timeout=0.5).connect("127.0.0.1", port)


# Defect 2: no reconnect, no word of a drop.


def test_plain_pyst2_cannot_reconnect_after_a_drop(standin, plain):
    standin.drop()
    wait_until(lambda: not plain.connected())
    with pytest.raises(RuntimeError, match="threads can only be started once"):
        plain.connect("127.0.0.1", standin.port)


def test_a_drop_reaches_the_consumer_after_the_events_before_it(standin, client):
    standin.emit("QueueMemberStatus", member_fields(status=2))
    standin.drop()
    assert client.next_event(timeout=2).name == "FullyBooted"
    assert client.next_event(timeout=2).name == "QueueMemberStatus"
    with pytest.raises(AmiDisconnected, match="closed by Asterisk"):
        client.next_event(timeout=2)
    with pytest.raises(AmiDisconnected):  # and it stays said
        client.next_event(timeout=0)
    assert not client.connected()

    again = AmiClient(timeout=2.0)  # one client per connection
    again.connect("127.0.0.1", standin.port)
    again.login("hotline", "s3cret")
    assert again.ping().get_header("Ping") == "Pong"
    again.close()


def test_a_client_connects_only_once(standin, client):
    with pytest.raises(pyst2.ManagerException, match="make a new one"):
        client.connect("127.0.0.1", standin.port)


# Defect 3: a failing callback silently ends event delivery.


def test_plain_pyst2_stops_delivering_events_after_a_callback_raises(standin, plain, thread_errors):
    seen = []

    def callback(event, manager):
        seen.append(event.name)
        raise KeyError("a bug in one handler")

    plain.register_event("QueueMemberStatus", callback)
    standin.emit("QueueMemberStatus", member_fields(status=2))
    wait_until(lambda: not plain.event_dispatch_thread.is_alive())
    standin.emit("QueueMemberStatus", member_fields(status=1))
    time.sleep(HANG)
    assert seen == ["QueueMemberStatus"]
    assert plain.connected()  # nothing looks wrong from outside
    assert isinstance(thread_errors[0].exc_value, KeyError)


def test_the_client_hands_events_to_the_callers_thread(client):
    with pytest.raises(NotImplementedError, match="next_event"):
        client.register_event("*", print)
    assert client.next_event(timeout=2).name == "FullyBooted"
    assert client.next_event(timeout=0.05) is None


# Defect 4: ChanVariable headers kill the message thread.


def test_plain_pyst2_hangs_for_good_after_an_event_with_a_channel_variable(standin, plain, thread_errors):
    standin.emit("Hangup", [*hangup("1795834593.3"), ("ChanVariable", "HOTLINE_TICKET=T20261128-0001")])
    ping = blocked(plain.ping)
    assert ping
    standin.wait_action("Ping")  # Asterisk did answer: the answer is never read
    standin.drop()
    wait_until(lambda: not plain.message_thread.is_alive())
    release(plain, ping)
    assert "has_key" in str(thread_errors[0].exc_value)


def test_the_client_reads_channel_variables_into_a_dict(standin, client):
    standin.emit(
        "Hangup",
        [
            *hangup("1795834593.3"),
            ("ChanVariable", "HOTLINE_TICKET=T20261128-0001"),
            ("ChanVariable", "HOTLINE_LANG=zh"),
            ("DestChanVariable", "X=1"),
        ],
    )
    client.next_event(timeout=2)  # FullyBooted
    event = client.next_event(timeout=2)
    assert event.name == "Hangup" and event["Cause"] == "16"
    assert event["ChanVariable"] == {"HOTLINE_TICKET": "T20261128-0001", "HOTLINE_LANG": "zh"}
    assert event["DestChanVariable"] == {"X": "1"}
    assert client.ping().get_header("Ping") == "Pong"


# Defect 5: the QueueStatus list is glued into its response.


def test_plain_pyst2_swallows_the_queue_status_events_into_the_response(plain):
    dispatched = []
    plain.register_event("*", lambda event, manager: dispatched.append(event.name))
    response = plain.send_action({"Action": "QueueStatus"})
    time.sleep(HANG)
    assert "Event: QueueMember\r\n" in response.data and "Event: QueueEntry\r\n" in response.data
    assert not {"QueueParams", "QueueMember", "QueueEntry"} & set(dispatched)


def test_the_client_collects_the_queue_status_list_by_action_id(client):
    result = client.queue_status()
    assert result.response["Message"] == "Queue status will follow"
    assert [event.name for event in result.events] == ["QueueParams", "QueueMember", "QueueEntry"]
    member, entry = result.events[1], result.events[2]
    assert (member["Location"], member["Status"], member["Paused"]) == ("PJSIP/8001", "1", "0")
    assert (entry["Uniqueid"], entry["Wait"]) == ("1795834593.3", "42")
    assert result.complete_seq > entry.seq
    assert client.next_event(timeout=1).name == "FullyBooted"  # list events stay out of the event stream
    assert client.next_event(timeout=0.05) is None


# Defect 6: responses matched by order; one ActionID for every keyword call.


def test_plain_pyst2_reuses_the_first_action_id_for_keyword_actions(standin, plain):
    try:
        plain.send_action(Action="Ping")
        plain.send_action(Action="Ping")
    finally:
        pyst2.Manager.send_action.__defaults__[0].clear()  # the shared default dict
    pings = [action["actionid"] for action in standin.actions if action.get("action") == "Ping"]
    assert len(pings) == 2 and pings[0] == pings[1]


def test_each_action_gets_its_own_id_and_its_own_response(standin, client):
    first, second = client.send_action(Action="Ping"), client.send_action(Action="Ping")
    assert first["ActionID"] != second["ActionID"]
    pings = [action["actionid"] for action in standin.actions if action.get("action") == "Ping"]
    assert pings == [first["ActionID"], second["ActionID"]]


def test_a_late_response_does_not_answer_the_next_action(standin, client):
    standin.mute = True
    with pytest.raises(AmiTimeout):
        client.send_action({"Action": "Ping"}, timeout=0.1)
    late = standin.actions[-1]["actionid"]
    standin.mute = False
    standin.send_raw(block([("Response", "Success"), ("ActionID", late), ("Ping", "Pong")]))
    response = client.send_action({"Action": "Ping", "ActionID": "next"})
    assert response["ActionID"] == "next"


# Defect 7: byte-by-byte reads, no caps, invalid bytes dropped silently.


def test_plain_pyst2_drops_bytes_that_are_not_utf8(standin, plain):
    received = []
    plain.register_event("QueueMemberStatus", lambda event, manager: received.append(event["MemberName"]))
    standin.send_raw(b"Event: QueueMemberStatus\r\nQueue: hotline\r\nMemberName: Op\xff8001\r\n\r\n")
    wait_until(lambda: received)
    assert received == ["Op8001"]


def test_the_client_replaces_invalid_bytes_and_logs_the_header(standin, client, caplog):
    standin.send_raw(b"Event: QueueMemberStatus\r\nQueue: hotline\r\nMemberName: Op\xff8001\r\n\r\n")
    client.next_event(timeout=2)  # FullyBooted
    assert client.next_event(timeout=2)["MemberName"] == "Op\ufffd8001"
    assert "non-UTF-8 bytes in b'MemberName' replaced" in caplog.text


def test_an_oversized_message_is_skipped_and_the_next_one_read(standin):
    ami = AmiClient(timeout=2.0, max_message_bytes=4096)
    ami.connect("127.0.0.1", standin.port)
    ami.login("hotline", "s3cret")
    ami.next_event(timeout=2)  # FullyBooted
    standin.send_raw(b"Event: UserEvent\r\n" + b"Body: " + b"x" * 10000 + b"\r\n\r\n")
    standin.send_raw(b"Event: UserEvent\r\n" + b"Line: y\r\n" * 1000 + b"\r\n")
    standin.emit("QueueMemberStatus", member_fields(status=2))
    assert ami.next_event(timeout=2).name == "QueueMemberStatus"
    assert ami.ping()["Ping"] == "Pong"
    ami.close()


# Defect 8: deprecated threading calls.


def test_plain_pyst2_uses_deprecated_threading_calls():
    with pytest.warns(DeprecationWarning, match="setDaemon"):
        manager = pyst2.Manager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manager.close()  # its __del__ would warn again (isSet) at exit
        manager.close = lambda: None


def test_the_client_warns_about_nothing(standin):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ami = AmiClient(timeout=2.0)
        ami.connect("127.0.0.1", standin.port)
        ami.login("hotline", "s3cret")
        assert ami.connected()
        ami.close()


# Login, logoff, and what pyst2 keeps.


def test_login_is_pyst2s_and_a_refusal_says_why(standin):
    ami = AmiClient(timeout=2.0)
    ami.connect("127.0.0.1", standin.port)
    with pytest.raises(ManagerAuthException, match="Authentication failed"):
        ami.login("hotline", "wrong")
    with pytest.raises(AmiDisconnected):  # Asterisk hangs up after a refused login
        ami.next_event(timeout=2)
    ami.close()


def test_close_logs_off_and_is_idempotent(standin, client):
    client.close()
    client.close()
    assert standin.actions[-1]["action"] == "Logoff"
    assert not client.connected()
    with pytest.raises(AmiDisconnected):
        client.ping()


def test_a_peer_that_is_not_asterisk_is_refused(standin):
    standin.banner = b"SSH-2.0-OpenSSH_9.6\r\n"
    with pytest.raises(AmiProtocolError, match="not an AMI server: it greeted 'SSH-2.0-OpenSSH_9.6'"):
        AmiClient(connect_timeout=2.0).connect("127.0.0.1", standin.port)


def test_a_header_with_a_line_break_is_refused(client):
    with pytest.raises(ValueError, match="line break"):
        client.send_action({"Action": "QueueStatus", "Queue": "hotline\r\nAction: Originate"})
    assert client.ping()["Ping"] == "Pong"


def test_a_block_that_is_neither_event_nor_response_is_logged_and_skipped(standin, client, caplog):
    standin.send_raw(b"hello there\r\n\r\n")
    standin.emit("QueueMemberStatus", member_fields(status=2))
    client.next_event(timeout=2)  # FullyBooted
    assert client.next_event(timeout=2).name == "QueueMemberStatus"
    assert "message with neither Event nor Response skipped" in caplog.text
