"""The AMI listener: events into call records and queue state, failures skipped, drops reconnected and resynced."""

import datetime
import itertools
import json
import logging
import threading
import time

import pytest
from django.db import OperationalError

from dashboards.models import OutboxEvent
from dashboards.publish import SUPERVISORS, operator_group
from telephony import actions
from telephony.ami import listener as listener_module
from telephony.ami.client import AmiClient, ManagerAuthException, message_from_lines
from telephony.ami.listener import AmiListener, backoff_delay
from telephony.models import Call, DeviceState, Outcome, QueueCaller, QueueMember
from telephony.selectors import queue_state
from tests.factories import UserFactory
from tests.telephony import ami_standin as ami
from tests.telephony.ami_standin import AmiStandin, Entry, Member

T0 = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.UTC)
UID = "1795834593.3"
SERVER = "127.0.0.1:5038"
STATE_KEYS = {
    "queue",
    "waiting",
    "longest_wait",
    "oldest_since",
    "logged_in",
    "available",
    "on_call",
    "paused",
    "ringing",
}
_arrivals = itertools.count(1000)


def event(name, fields, *, at=T0, seconds=0, timestamp=None):
    """An event as AmiClient delivers it: parsed from its lines, stamped with its arrival."""
    head = [f"Event: {name}", "Privilege: agent,all", *([f"Timestamp: {timestamp:.6f}"] if timestamp else [])]
    lines = [*head, *(f"{key}: {value}" for key, value in fields)]
    return message_from_lines(lines, received_at=at + datetime.timedelta(seconds=seconds), seq=next(_arrivals))


@pytest.fixture
def listener():
    return AmiListener(
        host="127.0.0.1", port=5038, username="hotline", secret="s3cret", close_grace=0, db_retry_delay=0
    )


@pytest.fixture
def apply(listener, django_capture_on_commit_callbacks):
    """Handle events one by one, each committed (its on-commit work done) before the next, as in production."""

    def handle(*events):
        results = []
        for item in events:
            with django_capture_on_commit_callbacks(execute=True):
                results.append(listener.handle(item))
        return results[-1] if len(results) == 1 else results

    return handle


@pytest.fixture
def operator(db):
    return UserFactory(username="op8001", extension="8001")


def states():
    return [e.payload for e in OutboxEvent.objects.filter(type="queue.state").order_by("id")]


def test_a_caller_joining_the_queue_is_recorded_and_counted(db, apply):
    opened = actions.call_open(uniqueid=UID, caller="13800138000")
    assert apply(event("QueueCallerJoin", ami.caller_join(UID, position=1, count=1)))
    call = Call.objects.get(pk=opened.call.pk)
    assert (call.queue, call.queue_joined_at) == ("hotline", T0)
    assert QueueCaller.objects.get().uniqueid == UID
    assert OutboxEvent.objects.filter(type="call.queue").exists()
    last = states()[-1]
    assert last["waiting"] == 1 and last["oldest_since"] == T0.isoformat()
    assert OutboxEvent.objects.filter(type="queue.state").last().groups == [SUPERVISORS]


def test_the_linked_id_and_recording_come_from_the_channel_events_for_a_call_the_bridge_missed(db, apply, operator):
    recording = ("ChanVariable", "HOTLINE_RECORDING=hotline/20261128/1795834593.3.wav")
    apply(event("QueueCallerJoin", [*ami.caller_join(UID), recording]))

    call = Call.objects.get(uniqueid=UID)
    assert (call.linkedid, call.recording) == (UID, "hotline/20261128/1795834593.3.wav")

    # A call first seen at AgentConnect (its QueueCallerJoin lost in a reconnect) gets them there.
    other = "1795834593.4"
    apply(event("AgentConnect", [*ami.agent_connect(other), ("ChanVariable", "HOTLINE_RECORDING=")]))
    assert (Call.objects.get(uniqueid=other).linkedid, Call.objects.get(uniqueid=other).recording) == (other, "")


def test_agent_connect_answers_the_call_for_the_operator_on_that_extension(db, apply, operator):
    apply(
        event("QueueMemberAdded", ami.member_fields("PJSIP/8001")),
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("AgentCalled", ami.agent_called(UID), seconds=9),
    )
    assert queue_state("hotline").ringing == 1
    assert apply(event("AgentConnect", ami.agent_connect(UID), seconds=12))
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.operator, call.agent) == (Outcome.ANSWERED, operator, "PJSIP/8001")
    assert (call.answered_at, call.wait_seconds) == (T0 + datetime.timedelta(seconds=12), 12)
    answer = OutboxEvent.objects.get(type="call.answer")
    assert operator_group(operator.pk) in answer.groups
    assert QueueMember.objects.get().operator == operator
    state = queue_state("hotline")
    assert (state.waiting, state.on_call, state.available) == (0, 1, 0)


def test_agent_complete_and_hangup_close_the_call_with_asterisks_cause(db, apply, listener, operator):
    apply(
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("AgentConnect", ami.agent_connect(UID), seconds=12),
        event("AgentComplete", ami.agent_complete(UID, talk=300), seconds=312),
        event("Hangup", ami.hangup(UID, cause=16), seconds=313),
    )
    listener.close_overdue()
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.hangup_cause, call.talk_seconds) == (Outcome.ANSWERED, "16", 301)
    assert call.ended_at == T0 + datetime.timedelta(seconds=313)


def test_call_events_reach_the_supervisors_and_the_answering_operator_not_every_console(db, apply, operator):
    apply(
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("AgentConnect", ami.agent_connect(UID), seconds=12),
        event("Hangup", ami.hangup(UID, cause=16), seconds=313),
    )
    groups = dict(OutboxEvent.objects.filter(type__startswith="call.").values_list("type", "groups"))
    assert groups["call.queue"] == [SUPERVISORS]
    assert groups["call.hangup"] == sorted([SUPERVISORS, operator_group(operator.pk)])
    assert not any("operators" in names for names in groups.values())


def test_events_already_waiting_are_applied_in_one_transaction_with_one_state_per_queue(
    db, listener, operator, django_capture_on_commit_callbacks, monkeypatch
):
    transactions = []
    real = listener._with_retries
    monkeypatch.setattr(listener, "_with_retries", lambda what, work: transactions.append(what) or real(what, work))
    batch = [
        event("QueueMemberAdded", ami.member_fields("PJSIP/8001")),
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("AgentCalled", ami.agent_called(UID), seconds=9),
        event("AgentConnect", ami.agent_connect(UID), seconds=12),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        listener.handle_batch(batch)

    assert transactions == ["a batch of 4 events"]
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.operator) == (Outcome.ANSWERED, operator)
    assert len(states()) == 1 and (states()[0]["on_call"], states()[0]["waiting"]) == (1, 0)
    assert (listener.stats.events, listener.stats.applied) == (4, 4)


def test_a_batch_with_a_bad_event_falls_back_to_one_by_one_and_loses_only_that_one(
    db, listener, operator, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    real_hangup = listener_module.actions.call_hangup
    monkeypatch.setattr(listener_module.actions, "call_hangup", lambda *a, **k: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        listener.handle_batch([event("QueueCallerJoin", ami.caller_join(UID)), event("Hangup", ami.hangup(UID))])

    assert Call.objects.get(uniqueid=UID).queue_joined_at is not None  # the good event survived the rollback
    assert "the Hangup event failed and was skipped" in caplog.text
    monkeypatch.setattr(listener_module.actions, "call_hangup", real_hangup)


def test_a_completed_call_whose_hangup_never_comes_is_closed_after_the_grace(db, apply, listener, operator):
    apply(
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("AgentConnect", ami.agent_connect(UID), seconds=12),
        event("AgentComplete", ami.agent_complete(UID, talk=300, reason="caller"), seconds=312),
    )
    listener.close_overdue()
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.hangup_cause, call.talk_seconds) == (Outcome.ANSWERED, "caller hung up", 300)


@pytest.mark.parametrize("reason", ["agent", "transfer"])
def test_a_call_that_goes_on_after_the_operator_stays_open(db, apply, listener, reason):
    apply(
        event("AgentConnect", ami.agent_connect(UID)),
        event("AgentComplete", ami.agent_complete(UID, reason=reason), seconds=100),
    )
    listener.close_overdue()
    assert Call.objects.get(uniqueid=UID).ended_at is None


def test_an_abandoned_call_ends_abandoned_in_queue_with_the_hangup_cause(db, apply, listener):
    apply(
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("QueueCallerAbandon", ami.caller_abandon(UID, hold=20), seconds=20),
        event("QueueCallerLeave", ami.caller_leave(UID), seconds=20),
        event("Hangup", ami.hangup(UID, cause=16), seconds=21),
    )
    listener.close_overdue()
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.hangup_cause, call.wait_seconds) == (Outcome.ABANDONED_QUEUE, "16", 21)
    assert queue_state("hotline").waiting == 0


def test_an_abandoned_call_is_closed_even_without_its_hangup(db, apply, listener):
    apply(
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("QueueCallerAbandon", ami.caller_abandon(UID, hold=20), seconds=20),
    )
    listener.close_overdue()
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.hangup_cause, call.wait_seconds) == (Outcome.ABANDONED_QUEUE, "caller abandoned", 20)


def test_member_events_give_logged_in_available_on_call_paused_and_ringing(db, apply):
    apply(
        event("QueueMemberAdded", ami.member_fields("PJSIP/8001", status=DeviceState.NOT_INUSE)),
        event("QueueMemberStatus", ami.member_fields("PJSIP/8002", status=DeviceState.INUSE)),
        event("QueueMemberPause", ami.member_fields("PJSIP/8003", paused=True, reason="lunch")),
        event("QueueMemberStatus", ami.member_fields("PJSIP/8004", status=DeviceState.RINGING)),
        event("QueueMemberStatus", ami.member_fields("PJSIP/8005", status=DeviceState.UNAVAILABLE)),
        event("QueueMemberPause", ami.member_fields("SIP/8006", status=DeviceState.INUSE, paused=True, in_call=True)),
        event("QueueMemberStatus", ami.member_fields("Local/8007@agents/n", status=DeviceState.NOT_INUSE)),
    )
    state = queue_state("hotline")
    counts = (state.logged_in, state.available, state.on_call, state.paused, state.ringing)
    assert counts == (6, 2, 2, 1, 1)
    assert QueueMember.objects.get(interface="PJSIP/8003").paused_reason == "lunch"
    apply(event("QueueMemberRemoved", ami.member_fields("PJSIP/8001")))
    assert queue_state("hotline").logged_in == 5
    assert states()[-1] == {
        **dict.fromkeys(STATE_KEYS, 0),
        "queue": "hotline",
        "oldest_since": None,
        "logged_in": 5,
        "available": 1,
        "on_call": 2,
        "paused": 1,
        "ringing": 1,
    }


def test_queue_state_is_published_only_when_a_count_changes(db, apply):
    status = ami.member_fields("PJSIP/8001", status=DeviceState.NOT_INUSE)
    apply(event("QueueMemberStatus", status), event("QueueMemberStatus", status))
    assert len(states()) == 1
    apply(event("QueueMemberPause", ami.member_fields("PJSIP/8001", paused=True)))
    assert [s["paused"] for s in states()] == [0, 1]


def test_the_queue_state_event_has_counts_and_no_phone_numbers(db, apply):
    apply(event("QueueCallerJoin", ami.caller_join(UID, caller="13800138000")))
    payload = states()[-1]
    assert set(payload) == STATE_KEYS
    assert "13800138000" not in json.dumps(payload)


def test_the_event_timestamp_wins_over_the_arrival_time(db, apply):
    stamped = T0 + datetime.timedelta(minutes=5)
    apply(event("QueueCallerJoin", ami.caller_join(UID), timestamp=stamped.timestamp(), seconds=30))
    apply(event("QueueCallerJoin", ami.caller_join("1795834593.4"), seconds=30))
    assert Call.objects.get(uniqueid=UID).queue_joined_at == stamped
    assert Call.objects.get(uniqueid="1795834593.4").queue_joined_at == T0 + datetime.timedelta(seconds=30)


def test_a_malformed_event_is_logged_and_skipped(db, apply, listener, caplog):
    no_uniqueid = [(k, v) for k, v in ami.caller_join(UID) if k != "Uniqueid"]
    bad_position = [(k, "first" if k == "Position" else v) for k, v in ami.caller_join(UID)]
    assert apply(event("QueueCallerJoin", no_uniqueid)) is False
    assert apply(event("QueueCallerJoin", bad_position)) is False
    assert apply(event("QueueCallerJoin", ami.caller_join(UID)))
    assert "QueueCallerJoin event skipped: no Uniqueid" in caplog.text
    assert "Position is not a number: 'first'" in caplog.text
    assert (listener.stats.skipped, listener.stats.applied) == (2, 1)
    assert Call.objects.count() == 1


def test_unknown_events_are_ignored(db, apply):
    assert apply(event("Newchannel", ami.channel_fields(UID, "PJSIP/trunk-0001"))) is False
    assert not Call.objects.exists()


def test_a_database_error_is_retried(db, apply, listener, monkeypatch, caplog):
    real, calls = actions.call_queue_join, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(listener_module.actions, "call_queue_join", flaky)
    assert apply(event("QueueCallerJoin", ami.caller_join(UID)))
    assert Call.objects.get(uniqueid=UID).queue == "hotline"
    assert "attempt 1 of 3" in caplog.text


def test_a_database_that_stays_down_costs_the_event_not_the_listener(db, apply, listener, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(listener_module.actions, "call_queue_join", down)
    assert apply(event("QueueCallerJoin", ami.caller_join(UID))) is False
    assert "database unavailable: the QueueCallerJoin event skipped after 3 attempts" in caplog.text
    assert apply(event("QueueMemberStatus", ami.member_fields("PJSIP/8001")))
    assert listener.stats.failed == 1 and QueueMember.objects.count() == 1
    assert not QueueCaller.objects.exists()  # the failed event left nothing half-written


def test_a_bug_in_a_handler_is_logged_and_the_next_event_handled(db, apply, monkeypatch, caplog):
    monkeypatch.setattr(listener_module.actions, "call_hangup", lambda *a, **k: 1 / 0)
    assert apply(event("Hangup", ami.hangup(UID))) is False
    assert "the Hangup event failed and was skipped" in caplog.text
    assert apply(event("QueueCallerJoin", ami.caller_join(UID)))


def test_resync_makes_the_state_what_queue_status_says(db, listener, django_capture_on_commit_callbacks):
    QueueMember.objects.create(server=SERVER, queue="hotline", interface="PJSIP/8009")  # logged out meanwhile
    QueueCaller.objects.create(server=SERVER, queue="hotline", uniqueid="1.1", joined_at=T0)  # hung up meanwhile
    QueueMember.objects.create(server="10.0.0.2:5038", queue="hotline", interface="PJSIP/8100")  # another Asterisk
    with AmiStandin() as standin:
        standin.queues["hotline"] = ami.Queue(
            members=[
                Member("PJSIP/8001"),
                Member("PJSIP/8002", status=2, in_call=True),
                Member("PJSIP/8003", paused=True),
            ],
            entries=[Entry(UID, wait=40)],
        )
        standin.queues["complaints"] = ami.Queue()
        client = AmiClient(timeout=2)
        client.connect("127.0.0.1", standin.port)
        client.login("hotline", "s3cret")
        with django_capture_on_commit_callbacks(execute=True):
            listener.resync(client)
        client.close()
    assert sorted(QueueMember.objects.filter(server=SERVER).values_list("interface", flat=True)) == [
        "PJSIP/8001",
        "PJSIP/8002",
        "PJSIP/8003",
    ]
    assert QueueMember.objects.filter(server="10.0.0.2:5038").exists()
    caller = QueueCaller.objects.get(server=SERVER)
    assert caller.uniqueid == UID
    assert 39 <= queue_state("hotline").longest_wait() <= 45
    state = queue_state("hotline")
    assert (state.logged_in, state.available, state.on_call, state.paused, state.waiting) == (4, 2, 1, 1, 1)
    assert {s["queue"] for s in states()} == {"hotline", "complaints"}


def test_a_malformed_queue_status_line_is_left_out_of_the_snapshot(caplog):
    events = [
        event("QueueParams", [("Queue", "hotline")]),
        event("QueueMember", [("Queue", "hotline"), ("Name", "Op"), ("Location", "PJSIP/8001"), ("Status", "1")]),
        event("QueueMember", [("Queue", "hotline"), ("Name", "Op"), ("Location", "PJSIP/8002"), ("Status", "busy")]),
        event(
            "QueueEntry", [("Queue", "hotline"), ("Position", "1"), ("Wait", "30")]
        ),  # no Uniqueid (Asterisk < 16.24)
    ]
    snapshot = listener_module.snapshot_from_queue_status(events, at=T0)
    assert [m.interface for m in snapshot.members] == ["PJSIP/8001"] and snapshot.callers == []
    assert "QueueMember line skipped: Status is not a number" in caplog.text
    assert "QueueEntry line skipped: no Uniqueid" in caplog.text


def test_events_from_before_the_snapshot_do_not_undo_it(db, apply, listener):
    stale = event("QueueCallerJoin", ami.caller_join(UID))
    listener._snapshot_seq = stale.seq + 1
    assert apply(stale)
    assert Call.objects.get(uniqueid=UID).queue == "hotline"  # the call record still learns it
    assert not QueueCaller.objects.exists()  # the snapshot decides who waits


def test_backoff_doubles_up_to_the_cap_with_jitter():
    low = [backoff_delay(n, initial=1, cap=60, rand=lambda: 0.0) for n in range(8)]
    high = [backoff_delay(n, initial=1, cap=60, rand=lambda: 1.0) for n in range(8)]
    assert low == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert high == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10_000, initial=1, cap=60, rand=lambda: 0.5) == 45


# Over the wire, with the listener in its own thread.


class Running:
    """The listener's run() in a thread; stop() stops it and waits."""

    def __init__(self, listener):
        self.listener = listener
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.listener.run()
        except Exception as exc:
            self.error = exc

    def wait(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not reached"
            assert self.thread.is_alive() or predicate(), f"listener ended: {self.error!r}"
            time.sleep(0.01)

    def stop(self):
        self.listener.stop()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def wire_listener(port, **options):
    defaults = {
        "timeout": 1.0,
        "connect_timeout": 1.0,
        "backoff_initial": 0.02,
        "backoff_max": 0.1,
        "poll_interval": 0.05,
        "close_grace": 0.1,
        "db_retry_delay": 0,
    }
    return AmiListener(host="127.0.0.1", port=port, username="hotline", secret="s3cret", **{**defaults, **options})


@pytest.mark.django_db(transaction=True)
def test_the_listener_logs_in_resyncs_and_records_calls_over_the_wire(caplog):
    operator = UserFactory(username="op8001", extension="8001")
    caplog.set_level(logging.INFO, logger="telephony.ami")
    with AmiStandin() as standin:
        standin.queues["hotline"].members.append(Member("PJSIP/8001"))
        running = Running(wire_listener(standin.port))
        running.wait(running.listener.listening.is_set)
        start = time.time()
        for seconds, name, fields in [
            (0, "QueueCallerJoin", ami.caller_join(UID)),
            (15, "AgentConnect", ami.agent_connect(UID)),
            (15, "QueueCallerLeave", ami.caller_leave(UID)),
            (315, "AgentComplete", ami.agent_complete(UID)),
            (316, "Hangup", ami.hangup(UID, cause=16)),
        ]:
            standin.emit(name, fields, timestamp=start + seconds)
        running.wait(lambda: running.listener.stats.applied == 5)
        running.stop()
        assert standin.actions[-1]["action"] == "Logoff"
    call = Call.objects.get(uniqueid=UID)
    assert (call.outcome, call.operator, call.wait_seconds, call.talk_seconds) == (Outcome.ANSWERED, operator, 15, 301)
    assert call.hangup_cause == "16"
    assert (
        "AMI connected to 127.0.0.1" in caplog.text
        and "AMI resync from QueueStatus: 1 queues, 1 members" in caplog.text
    )
    assert "AMI listener for 127.0.0.1" in caplog.text and "stopped: 1 connections, 5 events, 5 applied" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_reconnected_and_the_state_resynced(caplog):
    with AmiStandin() as standin:
        standin.queues["hotline"].members.append(Member("PJSIP/8001"))
        running = Running(wire_listener(standin.port))
        running.wait(running.listener.listening.is_set)
        standin.emit("QueueCallerJoin", ami.caller_join(UID))
        running.wait(lambda: running.listener.stats.applied == 1)

        # While AMI is down the caller is answered and another one waits; an operator logs in and pauses.
        standin.drop()
        standin.queues["hotline"] = ami.Queue(
            members=[Member("PJSIP/8001", status=2, in_call=True), Member("PJSIP/8002", paused=True)],
            entries=[Entry("1795834600.7", wait=5)],
        )
        running.wait(lambda: running.listener.stats.connects == 2 and running.listener.listening.is_set())
        running.stop()
    assert "reconnecting in" in caplog.text
    assert list(QueueCaller.objects.values_list("uniqueid", flat=True)) == ["1795834600.7"]
    state = queue_state("hotline")
    assert (state.waiting, state.logged_in, state.on_call, state.paused, state.available) == (1, 2, 1, 1, 0)
    assert states()[-1]["waiting"] == 1 and states()[-1]["paused"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_silent_connection_is_pinged_and_replaced():
    with AmiStandin() as standin:
        running = Running(wire_listener(standin.port, ping_interval=0.1, timeout=0.2))
        running.wait(running.listener.listening.is_set)
        standin.mute = True
        standin.wait_action("Ping")
        standin.mute = False
        running.wait(lambda: running.listener.stats.connects == 2 and running.listener.listening.is_set())
        running.stop()


def test_bad_credentials_end_the_listener_with_the_reason():
    with AmiStandin(secret="other") as standin:
        listener = wire_listener(standin.port)
        with pytest.raises(ManagerAuthException, match="Authentication failed"):
            listener.run()
        assert standin.connections == 1  # no retry loop on a wrong secret


def test_an_unreachable_asterisk_is_retried_with_backoff_until_stopped(caplog):
    with AmiStandin() as standin:
        port = standin.port
    running = Running(wire_listener(port))
    running.wait(lambda: caplog.text.count("reconnecting in") >= 3)
    running.stop()
    assert f"AMI 127.0.0.1:{port}: AMI at 127.0.0.1:{port}: Connection refused; reconnecting in" in caplog.text
