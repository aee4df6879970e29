"""The database goes away during calls: callers still reach the queue, calls are spooled and replayed exactly once.

How the outage is made: the bridge's threads (its call threads, named "agi <peer>" by the FastAGI
server, and its database workers, "agi db-N", which do all its database work) are the only ones
that fail. `BaseDatabaseWrapper.ensure_connection`, which Django runs before every query,
transaction and cursor, raises OperationalError in those threads while the outage is on; the test
thread (which asserts) keeps its database. The outage is switched on by the stand-in at
a chosen command, while the bridge waits for that command's reply, so the moment is exact and the
test needs no sleeps. On PostgreSQL one more test kills the bridge's backend for real.
"""

import json
import logging
import shutil
import threading
from dataclasses import dataclass, field

import pytest
from django.db import OperationalError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

from dashboards.models import OutboxEvent
from telephony.bridge import Bridge
from telephony.bridge.spool import FAILED_DIR
from telephony.models import Call, Outcome
from tests.telephony.asterisk_standin import AsteriskStandIn, environment
from tests.telephony.test_bridge_flows import (
    MENU,
    UNIQUEID,
    WELCOME,
    default_main_menu,
    opening,
    queued_with_kind,
    serving,
)
from tickets.models import Status, Ticket, TicketNumberCounter

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE_BUSY = 'STREAM FILE hotline/service-busy ""'


@pytest.fixture
def bridge(tmp_path, transactional_db):
    default_main_menu()
    bridge = Bridge(spool_dir=tmp_path / "spool", reserved_numbers=5, menu_ttl=0)
    yield bridge
    bridge.close()


@pytest.fixture
def server(bridge):
    with serving(bridge.handle) as start:
        yield start()


class Outage:
    def __init__(self):
        self.on = False

    def start(self):
        self.on = True

    def end(self):
        self.on = False


@pytest.fixture
def outage(monkeypatch):
    state = Outage()
    ensure_connection = BaseDatabaseWrapper.ensure_connection

    def failing(self):
        if state.on and threading.current_thread().name.startswith("agi "):
            raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')
        return ensure_connection(self)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", failing)
    return state


@dataclass
class Hooked(AsteriskStandIn):
    """A stand-in that runs a function when the bridge sends a given command, before answering it."""

    hooks: dict = field(default_factory=dict)

    def _respond(self, line):
        if line in self.hooks:
            self.hooks.pop(line)()
        return super()._respond(line)


def spooled(bridge):
    return [json.loads(path.read_text()) for path in bridge.store.spool.pending()]


def test_database_down_at_the_start_queues_the_caller_with_a_held_number_and_replays_once(server, bridge, outage):
    bridge.store.numbers.top_up()  # while the database is up: 5 numbers held
    held = TicketNumberCounter.objects.get().last
    outage.start()

    record = AsteriskStandIn(digits=["2"]).call(server.address)

    number = record.variables["HOTLINE_TICKET"]
    assert number.endswith(f"{held - 4:05d}")  # the first held number
    assert record.commands == [*opening(number), 'SET VARIABLE HOTLINE_KIND ""', SERVICE_BUSY]
    assert not Call.objects.exists() and not Ticket.objects.exists()
    [state] = spooled(bridge)
    assert state["number"] == number and state["opened"] is False and state["ivr"]["path"] == "outage>operator"

    outage.end()
    bridge.maintain()
    bridge.maintain()

    call = Call.objects.select_related("ticket").get()
    assert call.uniqueid == UNIQUEID and call.ticket.number == number and call.ticket.status == Status.DRAFT
    assert call.ivr_path == "outage>operator" and call.caller_number == "+8613800138000"
    assert Ticket.objects.count() == 1 and not bridge.store.spool.pending()
    assert TicketNumberCounter.objects.get().last == held  # the replay used the held number, took no new one


def test_a_spooled_call_keeps_its_linked_id_and_recording_through_the_replay(server, bridge, outage):
    recording = "hotline/20261128/1795834593.3.wav"
    outage.start()

    AsteriskStandIn(env=environment(args=["1795834590.1", recording]), digits=["2"]).call(server.address)
    outage.end()
    bridge.maintain()

    call = Call.objects.get()
    assert (call.uniqueid, call.linkedid, call.recording) == (UNIQUEID, "1795834590.1", recording)


def test_a_progress_answer_spooled_at_its_end_is_replayed_as_self_service(server, bridge, outage, make_ticket):
    ticket = make_ticket(Status.REGISTERED)
    # The lookup answered; the database goes as the answer is spoken, before the IVR result is written.
    stand_in = Hooked(
        digits=["8", f"{ticket.number}#"], hooks={'STREAM FILE hotline/ticket-status-is ""': outage.start}
    )

    record = stand_in.call(server.address)
    outage.end()
    bridge.maintain()

    call = Call.objects.get(uniqueid=UNIQUEID)
    assert record.commands[-1] == "HANGUP" and call.ivr_path == "main>progress"
    assert call.outcome == Outcome.SELF_SERVICE and call.hangup_cause == "self-service done"


def test_database_lost_mid_call_spools_the_rest_and_the_replay_completes_the_call_once(server, bridge, outage, caplog):
    caplog.set_level(logging.INFO)
    record = Hooked(digits=["2"], hooks={MENU: outage.start}).call(server.address)

    ticket = Ticket.objects.get()
    number = ticket.number
    assert record.commands == [*opening(number), WELCOME, MENU, *queued_with_kind("complaint", number)]
    assert ticket.kind == "consultation" and Call.objects.get().ivr_path == ""  # the choice did not reach it
    [state] = spooled(bridge)
    assert state["opened"] is True and state["ivr"]["kind"] == "complaint" and state["ivr"]["digits"] == "2"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("database unavailable, calls go to the spool")
    assert not any(r.exc_info for r in caplog.records)

    outage.end()
    bridge.maintain()
    events = OutboxEvent.objects.count()
    bridge.maintain()

    call = Call.objects.select_related("ticket").get()
    assert call.ivr_path == "main>complaint" and call.ticket.kind == "complaint" and call.ticket.number == number
    assert OutboxEvent.objects.count() == events and not bridge.store.spool.pending()


def test_a_replay_interrupted_between_commit_and_delete_changes_nothing_the_second_time(server, bridge, outage):
    bridge.store.numbers.top_up()
    outage.start()
    AsteriskStandIn(digits=["1"], hangup_at=6).call(server.address)
    [path] = bridge.store.spool.pending()
    copy = path.with_name("copy")
    shutil.copy(path, copy)
    outage.end()

    bridge.maintain()
    after_first = (Call.objects.get().ended_at, Ticket.objects.count(), OutboxEvent.objects.count())
    shutil.copy(copy, path)  # as if the process died after the commit, before the delete
    copy.unlink()
    bridge.maintain()

    assert (Call.objects.get().ended_at, Ticket.objects.count(), OutboxEvent.objects.count()) == after_first
    assert not bridge.store.spool.pending()


def test_a_hang_up_during_the_outage_is_replayed_with_the_call(server, bridge, outage):
    outage.start()
    record = AsteriskStandIn(digits=["2"], hangup_at=5).call(server.address)
    outage.end()
    bridge.maintain()

    call = Call.objects.get()
    assert record.commands[-1] == "GET VARIABLE HANGUPCAUSE"
    assert call.ended_at and call.hangup_cause == "caller hung up" and call.outcome == Outcome.ABANDONED_IVR
    assert call.ticket.status == Status.DRAFT


def test_with_no_held_numbers_left_the_ticket_variable_is_empty_and_the_caller_still_queued(server, bridge, outage):
    outage.start()  # nothing was held: the pool was never topped up

    record = AsteriskStandIn(digits=["2"]).call(server.address)

    assert record.variables["HOTLINE_TICKET"] == ""
    assert record.commands == [
        'SET VARIABLE HOTLINE_TICKET ""',
        "SET VARIABLE HOTLINE_CITIZEN_KNOWN 0",
        "SET VARIABLE HOTLINE_LANG en",
        "ANSWER",
        'SET VARIABLE HOTLINE_KIND ""',
        SERVICE_BUSY,  # "our system is busy; connecting you to an operator"
    ]
    outage.end()
    bridge.maintain()
    assert Ticket.objects.get().number  # a fresh number from the day's sequence


def test_a_second_session_during_the_outage_reuses_the_spooled_number(server, bridge, outage):
    bridge.store.numbers.top_up()
    outage.start()

    first = AsteriskStandIn(digits=["2"]).call(server.address)
    again = AsteriskStandIn(digits=["0"]).call(server.address)
    outage.end()
    bridge.maintain()

    assert first.variables["HOTLINE_TICKET"] == again.variables["HOTLINE_TICKET"] == Ticket.objects.get().number
    assert Call.objects.count() == 1


def test_a_new_session_after_the_outage_replays_its_spooled_call_first(server, bridge, outage):
    bridge.store.health.cooldown = 0  # the breaker times out at once; no replay round runs before the next call
    bridge.store.numbers.top_up()
    outage.start()
    first = AsteriskStandIn(digits=["2"]).call(server.address)
    outage.end()

    again = AsteriskStandIn(digits=["0"]).call(server.address)  # before any replay round

    assert again.variables["HOTLINE_TICKET"] == first.variables["HOTLINE_TICKET"] == Ticket.objects.get().number
    assert Call.objects.get().ivr_path == "main>operator" and not bridge.store.spool.pending()


def test_a_progress_query_during_the_outage_goes_to_an_operator(server, bridge, outage):
    record = Hooked(digits=["8", "2026112800001#"], hooks={MENU: outage.start}).call(server.address)

    assert record.commands[-3:] == [
        "GET DATA hotline/enter-ticket-number 10000 20",
        'SET VARIABLE HOTLINE_KIND ""',
        SERVICE_BUSY,
    ]
    outage.end()
    bridge.maintain()
    assert Call.objects.get().ivr_path == "main>progress>operator"


def test_a_spooled_record_the_replay_cannot_read_is_quarantined_not_retried(bridge, caplog):
    spool = bridge.store.spool
    spool.directory.mkdir(parents=True)
    (spool.directory / "call-broken.json").write_text("{not json")

    bridge.maintain()

    assert not spool.pending() and (spool.directory / FAILED_DIR / "call-broken.json").exists()
    assert any("cannot be replayed" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends")
def test_the_bridges_backend_killed_mid_call_on_postgresql(tmp_path, transactional_db, caplog):
    """The bridge keeps its connections between calls: one the server dropped is replaced, and no call is lost."""
    caplog.set_level(logging.INFO)
    default_main_menu()
    # One connection, so the step after the kill surely runs on the connection that was killed.
    bridge = Bridge(spool_dir=tmp_path / "spool", menu_ttl=0, db_connections=1)

    def kill_other_backends():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    with serving(bridge.handle) as start:
        record = Hooked(digits=["3"], hooks={MENU: kill_other_backends}).call(start().address)
    bridge.close()

    assert record.commands[-4:] == queued_with_kind("suggestion", Ticket.objects.get().number)
    assert Call.objects.get().ivr_path == "main>suggestion" and Ticket.objects.get().kind == "suggestion"
    assert not bridge.store.spool.pending() and not bridge.store.health.down
    assert any("trying a new one" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
