"""The bridge's flows over real TCP, driven by the Asterisk stand-in: every IVR branch, hang-ups, duplicates."""

import contextlib
import datetime
import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext

from routing.models import Callback
from telephony import actions
from telephony.agi.server import FastAGIServer
from telephony.bridge import Bridge
from telephony.models import Call, IvrMenu, IvrOption, Outcome
from telephony.selectors import call_pop_payload
from tests.telephony.asterisk_standin import AsteriskStandIn, environment
from tickets.models import Action, Satisfaction, Status, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

DEFAULT_MENU = importlib.import_module("telephony.migrations.0002_default_ivr_menu")
UNIQUEID = "1795834593.3"  # the transcripts' call
WELCOME = 'STREAM FILE hotline/welcome ""'
MENU = "GET DATA hotline/main-menu 5000 1"
INVALID = 'STREAM FILE hotline/invalid ""'
TO_OPERATOR = 'STREAM FILE hotline/to-operator ""'
ENTER_NUMBER = "GET DATA hotline/enter-ticket-number 10000 20"
NOT_FOUND = 'STREAM FILE hotline/ticket-not-found ""'
KINDS = {"1": "consultation", "2": "complaint", "3": "suggestion", "4": "help", "5": "report"}


def default_main_menu():
    """The default menu of migration 0002 (a transactional test's flush removes migration data)."""
    menu, created = IvrMenu.objects.get_or_create(
        code="main",
        defaults={"name": "Main menu", "prompt": "hotline/main-menu", "invalid_prompt": "hotline/invalid"},
    )
    if created:
        IvrOption.objects.bulk_create(
            IvrOption(menu=menu, digit=digit, action=action, kind=kind, label=label)
            for digit, action, kind, label in DEFAULT_MENU.OPTIONS
        )
    return menu


@contextlib.contextmanager
def serving(handler, **options):
    """FastAGI servers on loopback ports with `handler`; `start(**options)` adds one, all stop at the end."""
    servers = []

    def start(**more):
        server = FastAGIServer(handler, port=0, read_timeout=2.0, close_linger=0.5, **{**options, **more})
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop(timeout=2)


@pytest.fixture
def main_menu(transactional_db):
    return default_main_menu()


@pytest.fixture
def bridge(tmp_path, main_menu):
    bridge = Bridge(spool_dir=tmp_path / "spool", reserved_numbers=5, menu_ttl=0)
    yield bridge
    bridge.close()


@pytest.fixture
def serve(bridge):
    with serving(bridge.handle) as start:
        yield start


@pytest.fixture
def server(serve):
    return serve()


@dataclass
class HangupCause(AsteriskStandIn):
    """A stand-in whose channel has HANGUPCAUSE set, as Asterisk sets it when the caller hangs up."""

    cause: str = "16"

    def _channel_variables(self):
        return {**super()._channel_variables(), "HANGUPCAUSE": self.cause}


def opening(number, *, known="0", lang="en"):
    return [
        f"SET VARIABLE HOTLINE_TICKET {number}",
        f"SET VARIABLE HOTLINE_CITIZEN_KNOWN {known}",
        f"SET VARIABLE HOTLINE_LANG {lang}",
        "ANSWER",
    ]


def queued_with_kind(kind, number):
    return [
        f"SET VARIABLE HOTLINE_KIND {kind}",
        'STREAM FILE hotline/your-ticket-number ""',
        f'SAY DIGITS {number} ""',
        TO_OPERATOR,
    ]


def queued_to_operator():
    return ['SET VARIABLE HOTLINE_KIND ""', TO_OPERATOR]


def the_call(uniqueid=UNIQUEID):
    return Call.objects.select_related("ticket").get(uniqueid=uniqueid)


def problems(caplog):
    """Log records that would page someone: warnings, errors, tracebacks."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_a_new_caller_gets_a_call_record_a_draft_ticket_and_the_channel_variables(server, caplog):
    caplog.set_level(logging.INFO)
    record = AsteriskStandIn(digits=["2"]).call(server.address)

    call = the_call()
    number = call.ticket.number
    expected = [*opening(number), WELCOME, MENU, *queued_with_kind("complaint", number)]
    assert record.commands == expected
    assert bytes(record.received) == "".join(f"{line}\n" for line in expected).encode()
    assert record.variables["HOTLINE_TICKET"] == number
    assert record.variables["HOTLINE_KIND"] == "complaint"
    assert record.variables["HOTLINE_CITIZEN_KNOWN"] == "0"
    assert record.variables["HOTLINE_LANG"] == "en"
    assert call.caller_number == "+8613800138000" and call.channel == "Local/13800138000@hotline-00000001;2"
    assert call.language == "en" and call.dialled_number == ""  # agi_dnid "unknown"
    assert (call.ivr_path, call.ivr_digits) == ("main>complaint", "2") and call.ivr_ended_at
    assert call.ended_at is None and call.outcome == Outcome.IN_PROGRESS  # queued: the AMI side closes it
    assert call.ticket.status == Status.DRAFT and call.ticket.kind == "complaint" and call.ticket.citizen is None
    assert record.closed_by_server and not problems(caplog)


def test_a_known_caller_is_recognised_from_the_caller_id(server, citizen):
    record = AsteriskStandIn(digits=["0"]).call(server.address)

    call = the_call()
    assert record.variables["HOTLINE_CITIZEN_KNOWN"] == "1"
    assert call.ticket.citizen == citizen
    assert record.commands == [*opening(call.ticket.number, known="1"), WELCOME, MENU, *queued_to_operator()]


def test_a_withheld_caller_id_is_nobody_and_still_gets_a_ticket(server, citizen):
    for caller in ("unknown", "anonymous", ""):
        env = environment(uniqueid=f"1795834593.{len(caller)}", callerid=caller, language="zh")
        record = AsteriskStandIn(env=env, digits=["1"]).call(server.address)

        call = the_call(f"1795834593.{len(caller)}")
        assert record.variables["HOTLINE_CITIZEN_KNOWN"] == "0" and record.variables["HOTLINE_LANG"] == "zh"
        assert call.ticket.citizen is None and call.ticket.caller_number == "" and call.caller_number == ""
        assert record.variables["HOTLINE_TICKET"] == call.ticket.number


def test_each_kind_key_sets_the_kind_for_the_queue_and_on_the_draft(server):
    for digit, kind in KINDS.items():
        uniqueid = f"1795834593.{digit}0"
        record = AsteriskStandIn(env=environment(uniqueid=uniqueid), digits=[digit]).call(server.address)
        call = the_call(uniqueid)
        assert record.commands[-4:] == queued_with_kind(kind, call.ticket.number)
        assert record.variables["HOTLINE_KIND"] == kind
        assert call.ticket.kind == kind and call.ivr_path == f"main>{kind}"


def test_zero_goes_straight_to_an_operator(server):
    record = AsteriskStandIn(digits=["0"]).call(server.address)

    call = the_call()
    assert record.commands[-3:] == [MENU, *queued_to_operator()]
    assert record.variables["HOTLINE_KIND"] == ""
    assert call.ivr_path == "main>operator" and call.ivr_digits == "0"


def test_an_invalid_key_replays_the_invalid_prompt_and_the_menu(server):
    record = AsteriskStandIn(digits=["9", "3"]).call(server.address)

    call = the_call()
    assert record.commands[4:] == [WELCOME, MENU, INVALID, MENU, *queued_with_kind("suggestion", call.ticket.number)]
    assert call.ivr_digits == "93" and call.ticket.kind == "suggestion"


def test_no_input_goes_to_an_operator_after_the_menus_attempts(server, main_menu):
    main_menu.max_attempts = 2
    main_menu.save()

    record = AsteriskStandIn(digits=[]).call(server.address)

    call = the_call()
    assert record.commands[4:] == [WELCOME, MENU, INVALID, MENU, *queued_to_operator()]
    assert call.ivr_path == "main>no-choice>operator" and call.ivr_digits == ""


def test_the_menu_is_data_a_submenu_and_a_changed_option_take_effect(server, main_menu):
    help_menu = IvrMenu.objects.create(code="help", name="Help", prompt="hotline/help-menu", timeout_ms=3000)
    IvrOption.objects.create(menu=help_menu, digit="1", action="kind", kind="help", label="Help")
    IvrOption.objects.filter(menu=main_menu, digit="4").update(action="submenu", kind="", submenu=help_menu)

    record = AsteriskStandIn(digits=["4", "1"]).call(server.address)

    call = the_call()
    assert record.commands[5:7] == [MENU, "GET DATA hotline/help-menu 3000 1"]
    assert call.ivr_path == "main>help>help" and call.ticket.kind == "help"


def test_a_missing_prompt_file_is_not_a_hang_up(server):
    # result=-1 on a live channel (no sound file): the call goes on; only HANGUP/511 end it.
    stand_in = AsteriskStandIn(digits=["2"], missing_files=frozenset({"hotline/welcome", "hotline/your-ticket-number"}))
    record = stand_in.call(server.address)

    call = the_call()
    assert "200 result=-1 endpos=0" in record.sent.decode()
    assert record.commands[-4:] == queued_with_kind("complaint", call.ticket.number)
    assert call.ended_at is None and call.ticket.kind == "complaint"


def test_a_missing_menu_prompt_counts_as_no_input_and_ends_with_an_operator(server):
    record = AsteriskStandIn(digits=[], missing_files=frozenset({"hotline/main-menu"})).call(server.address)

    assert record.commands[4:] == [WELCOME, MENU, INVALID, MENU, INVALID, MENU, *queued_to_operator()]


def progress_said(ticket, *, date_format="ABdY"):
    said = ['STREAM FILE hotline/ticket-status-is ""', f'STREAM FILE hotline/status-{ticket.status} ""']
    if ticket.lead_department:
        said += ['STREAM FILE hotline/handled-by ""', f'STREAM FILE hotline/dept-{ticket.lead_department.code} ""']
    if ticket.deadline:
        deadline = int(ticket.deadline.timestamp())
        said += ['STREAM FILE hotline/deadline-is ""', f'SAY DATETIME {deadline} "" {date_format} Asia/Shanghai']
    return said


def test_a_progress_query_speaks_status_department_and_deadline_only(server, make_ticket, citizen):
    ticket = make_ticket(Status.DISPATCHED, citizen=citizen, caller_number="13800138000", title="小区停水")

    record = AsteriskStandIn(digits=["8", f"{ticket.number}#"]).call(server.address)

    call = the_call()
    assert record.commands[4:] == [
        WELCOME,
        MENU,
        ENTER_NUMBER,
        *progress_said(ticket),
        'STREAM FILE hotline/goodbye ""',
        "HANGUP",
    ]
    assert 'STREAM FILE hotline/dept-water ""' in record.commands and ticket.deadline
    sent = bytes(record.received).decode()
    for personal in (citizen.name, citizen.address, "13800138000", ticket.title, ticket.description):
        assert personal not in sent
    assert call.ivr_path == "main>progress" and call.outcome == Outcome.SELF_SERVICE
    assert call.ended_at and call.hangup_cause == "self-service done"


def test_an_unknown_ticket_number_gets_an_apology_and_another_try(server, make_ticket):
    ticket = make_ticket(Status.REGISTERED)

    record = AsteriskStandIn(digits=["8", "2020010100001#", f"{ticket.number}#"]).call(server.address)

    assert record.commands[5:11] == [
        MENU,
        ENTER_NUMBER,
        NOT_FOUND,
        ENTER_NUMBER,
        'STREAM FILE hotline/ticket-status-is ""',
        'STREAM FILE hotline/status-registered ""',
    ]
    assert record.commands[-2:] == ['STREAM FILE hotline/goodbye ""', "HANGUP"]


def test_unknown_numbers_three_times_go_to_an_operator(server):
    record = AsteriskStandIn(digits=["8", "1#", "", "3#"]).call(server.address)

    call = the_call()
    assert record.commands[5:] == [
        MENU,
        ENTER_NUMBER,
        NOT_FOUND,
        ENTER_NUMBER,  # no input: the prompt again, no apology
        ENTER_NUMBER,
        NOT_FOUND,
        *queued_to_operator(),
    ]
    assert call.ivr_path == "main>progress>operator" and call.ended_at is None


def test_the_progress_script_path_skips_the_menu(server, make_ticket):
    ticket = make_ticket(Status.REGISTERED)
    env = environment(network_script="progress?lang=zh", language="en")

    record = AsteriskStandIn(env=env, digits=[f"{ticket.number}#"]).call(server.address)

    call = the_call()
    assert record.commands == [
        *opening(call.ticket.number, lang="zh"),
        ENTER_NUMBER,
        *progress_said(ticket),
        'STREAM FILE hotline/goodbye ""',
        "HANGUP",
    ]
    assert call.ivr_path == "progress" and call.outcome == Outcome.SELF_SERVICE


def test_the_deadline_is_said_as_its_date_in_shanghai_whatever_the_asterisk_hosts_zone(server, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)
    # 07:00 on 1 December in Shanghai is still 30 November on a host running in UTC.
    deadline = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    Ticket.objects.filter(pk=ticket.pk).update(deadline=deadline)

    for language, date_format in (("en", "ABdY"), ("zh", "YBdA")):
        env = environment(uniqueid=f"deadline.{language}", language=language)
        stand_in = AsteriskStandIn(env=env, digits=["8", f"{ticket.number}#"], host_zone="UTC")
        record = stand_in.call(server.address)

        assert record.said_dates == [datetime.date(2026, 12, 1)], language
        assert f'SAY DATETIME {int(deadline.timestamp())} "" {date_format} Asia/Shanghai' in record.commands


# Where a progress call (key 8, then a found ticket) is: the opening 4, welcome, menu, then these.
PROGRESS_STEPS = {"ENTER_NUMBER": 7, "STATUS_IS": 8, "GOODBYE": 14}


@pytest.mark.parametrize(
    ("step", "outcome"),
    [
        ("ENTER_NUMBER", Outcome.ABANDONED_IVR),  # keying the ticket number
        ("STATUS_IS", Outcome.ABANDONED_IVR),  # before the answer was said in full
        ("GOODBYE", Outcome.SELF_SERVICE),  # heard the whole answer, left during the goodbye
    ],
)
def test_a_progress_query_is_self_service_only_once_the_caller_heard_the_answer(server, make_ticket, step, outcome):
    ticket = make_ticket(Status.DISPATCHED)
    stand_in = AsteriskStandIn(digits=["8", f"{ticket.number}#"], hangup_at=PROGRESS_STEPS[step])

    record = stand_in.call(server.address)

    call = the_call()
    said = {"ENTER_NUMBER": ENTER_NUMBER, "STATUS_IS": 'STREAM FILE hotline/ticket-status-is ""'}
    assert record.commands[PROGRESS_STEPS[step] - 1] == said.get(step, 'STREAM FILE hotline/goodbye ""')
    assert call.ivr_path == "main>progress" and call.ended_at
    assert call.outcome == outcome


# The complaint call: 4 opening commands, welcome, menu, kind, your number, digits, to operator.
COMPLAINT_CALL_LENGTH = 10


def test_a_hang_up_at_any_step_closes_the_call_keeps_the_draft_and_logs_one_line(server, caplog):
    caplog.set_level(logging.INFO)
    for step in range(COMPLAINT_CALL_LENGTH + 1):
        caplog.clear()
        uniqueid = f"1795834700.{step}"
        record = AsteriskStandIn(env=environment(uniqueid=uniqueid), digits=["2"], hangup_at=step).call(server.address)

        call = the_call(uniqueid)
        assert call.ended_at and call.hangup_cause == "caller hung up", step
        assert call.ticket.status == Status.DRAFT and Ticket.objects.filter(pk=call.ticket_id).exists()
        assert record.variables["HOTLINE_TICKET"] == call.ticket.number  # set even on a dead channel
        assert record.commands[-1] == "GET VARIABLE HANGUPCAUSE", step
        assert record.closed_by_server and record.close_delay < 0.5
        lines = [r for r in caplog.records if r.levelno >= logging.INFO and "hung up" in r.getMessage()]
        assert len(lines) == 1 and not problems(caplog), (step, caplog.text)
        if step >= 7:  # hung up after the menu: the choice is on the record, outcome abandoned in IVR
            assert call.ivr_path == "main>complaint" and call.outcome == Outcome.ABANDONED_IVR
    assert Call.objects.count() == Ticket.objects.count() == COMPLAINT_CALL_LENGTH + 1


def test_the_hang_up_cause_comes_from_the_channel(server):
    HangupCause(digits=["2"], hangup_at=6).call(server.address)

    call = the_call()
    assert call.hangup_cause == "16" and call.ivr_path == "" and call.outcome == Outcome.ABANDONED_IVR


def test_every_way_asterisk_reports_a_hang_up_closes_the_call(serve, caplog):
    caplog.set_level(logging.INFO)
    ways = {
        "hangup-before-reply": {"hangup_before_reply": True},
        "agiexitonhangup": {"exit_on_hangup": True},  # Asterisk closes the socket itself
        "agisighup-no": {"agisighup": False},  # no HANGUP lines: only 200 result=-1, then 511
    }
    for way, options in ways.items():
        server = serve()
        AsteriskStandIn(env=environment(uniqueid=way), digits=["2"], hangup_at=6, **options).call(server.address)
        server.stop(timeout=2)  # with AGIEXITONHANGUP the stand-in leaves first: wait for the bridge to finish

        call = the_call(way)
        assert call.ended_at and call.hangup_cause == "caller hung up", way
        assert call.ticket.status == Status.DRAFT and not problems(caplog), way


def test_a_second_session_for_the_same_call_reuses_call_and_ticket(server):
    first = AsteriskStandIn(digits=["2"]).call(server.address)
    again = AsteriskStandIn(digits=["0"]).call(server.address)

    assert Call.objects.count() == 1 and Ticket.objects.count() == 1
    assert first.variables["HOTLINE_TICKET"] == again.variables["HOTLINE_TICKET"] == the_call().ticket.number
    assert the_call().ivr_path == "main>operator"


def test_an_unknown_script_path_ends_the_session_cleanly(server, caplog):
    caplog.set_level(logging.INFO)
    record = AsteriskStandIn(env=environment(network_script="nonsense/path")).call(server.address)

    assert record.commands == [] and record.closed_by_server
    assert not Call.objects.exists()
    messages = [r.getMessage() for r in problems(caplog)]
    assert len(messages) == 1 and messages[0].startswith(f"AGI call {UNIQUEID} from 127.0.0.1:")
    assert messages[0].endswith("unknown script 'nonsense/path', session ended")
    assert not any(r.exc_info for r in caplog.records)


def test_the_allowlist_refuses_other_hosts(serve, caplog):
    caplog.set_level(logging.INFO)
    server = serve(allowed_hosts=["192.0.2.10"])

    record = AsteriskStandIn().call(server.address)

    assert record.commands == [] and not Call.objects.exists()
    assert any("refused: not in the allowed Asterisk hosts" in r.getMessage() for r in caplog.records)


def test_the_callback_rating_closes_or_reopens_the_replied_ticket(server, make_ticket):
    satisfied, unsatisfied = make_ticket(Status.REPLIED), make_ticket(Status.REPLIED)

    for ticket, key in ((satisfied, "1"), (unsatisfied, "3")):
        env = environment(network_script="callback", uniqueid=f"cb.{key}", args=[ticket.number])
        record = AsteriskStandIn(env=env, digits=["7", key]).call(server.address)
        rating = {"1": "satisfied", "3": "unsatisfied"}[key]
        assert record.commands == [
            "ANSWER",
            "GET DATA hotline/callback-intro 5000 1",
            INVALID,
            "GET DATA hotline/callback-intro 5000 1",
            f"SET VARIABLE HOTLINE_SATISFACTION {rating}",
            'STREAM FILE hotline/thank-you ""',
            "HANGUP",
        ]

    satisfied.refresh_from_db()
    unsatisfied.refresh_from_db()
    assert satisfied.status == Status.CLOSED and satisfied.satisfaction == Satisfaction.SATISFIED
    assert unsatisfied.status == Status.REOPENED and unsatisfied.satisfaction == Satisfaction.UNSATISFIED
    assert not Call.objects.exists()  # an outbound callback is no inbound call and opens no draft


@dataclass
class WaitsAt(AsteriskStandIn):
    """A stand-in that gives no reply to `line` (the caller thinking at the menu) and says when it got there."""

    line: str = MENU
    reached: threading.Event = field(default_factory=threading.Event)

    def _respond(self, line):
        if line == self.line:
            self.reached.set()
            return ""
        return super()._respond(line)


def test_a_call_cut_by_the_bridge_stopping_is_left_open_for_the_queue_not_recorded_as_a_hang_up(serve, caplog):
    caplog.set_level(logging.INFO)
    server = serve()
    stand_in = WaitsAt(digits=["2"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        placed = pool.submit(stand_in.call, server.address)
        assert stand_in.reached.wait(5)
        assert server.stop(timeout=0.1) is False  # the drain ran out: the bridge cuts the session
        record = placed.result()

    call = the_call()
    # Asterisk returns to the dialplan, which queues the caller with the ticket the bridge set first.
    assert record.closed_by_server and record.variables["HOTLINE_TICKET"] == call.ticket.number
    assert "GET VARIABLE HANGUPCAUSE" not in record.commands
    assert call.ended_at is None and call.hangup_cause == "" and call.outcome == Outcome.IN_PROGRESS
    assert call.ivr_path == "main>bridge-stopped>operator" and call.ivr_ended_at
    assert not [r for r in caplog.records if "hung up" in r.getMessage()]
    assert any("cut by the drain" in r.getMessage() for r in caplog.records)

    # The AMI listener then closes it by what happened in the queue, as for any queued call.
    now = call.ivr_ended_at
    actions.call_queue_join(UNIQUEID, queue="hotline", at=now)
    actions.call_hangup(UNIQUEID, cause="16", at=now + datetime.timedelta(seconds=30))
    assert the_call().outcome == Outcome.ABANDONED_QUEUE


def test_the_linked_id_and_recording_the_dialplan_passes_are_on_the_call_record(server):
    recording = "hotline/20261128/1795834593.3.wav"
    env = environment(args=["1795834590.1", recording])

    AsteriskStandIn(env=env, digits=["2"]).call(server.address)

    call = the_call()
    assert (call.linkedid, call.recording) == ("1795834590.1", recording)
    payload = call_pop_payload(call)
    assert (payload["linkedid"], payload["recording"]) == ("1795834590.1", recording)


def test_a_dialplan_that_passes_no_arguments_leaves_them_empty(server):
    AsteriskStandIn(env=environment(args=["1795834593.3", ""]), digits=["0"]).call(server.address)
    AsteriskStandIn(env=environment(uniqueid="1795834593.4"), digits=["0"]).call(server.address)

    assert (the_call().linkedid, the_call().recording) == ("1795834593.3", "")
    assert (the_call("1795834593.4").linkedid, the_call("1795834593.4").recording) == ("", "")


def test_a_rating_keyed_by_phone_records_the_callback_as_an_operator_would(server, make_ticket):
    satisfied, unsatisfied = make_ticket(Status.REPLIED), make_ticket(Status.REPLIED)

    for ticket, key in ((satisfied, "2"), (unsatisfied, "3")):
        env = environment(network_script="callback", uniqueid=f"cb.{key}", args=[ticket.number])
        AsteriskStandIn(env=env, digits=[key]).call(server.address)

    closed = Callback.objects.get(ticket=satisfied)
    assert (closed.result, closed.operator) == (Satisfaction.BASICALLY, None) and closed.done_at
    assert closed.note == gettext("Keyed in by the citizen during the callback call.")
    reopened = Callback.objects.get(ticket=unsatisfied)
    assert reopened.result == Satisfaction.UNSATISFIED and reopened.done_at
    assert reopened.note == gettext("Unsatisfied: keyed in by the citizen during the callback call.")
    entry = satisfied.timeline.order_by("-id").first()
    assert (entry.action, entry.actor, entry.data) == (Action.CLOSE, None, {"satisfaction": "basically"})
    assert unsatisfied.timeline.order_by("-id").first().action == Action.REOPEN


def test_a_rating_for_a_ticket_no_longer_awaiting_its_callback_changes_nothing(server, make_ticket, caplog):
    ticket = make_ticket(Status.DISPATCHED)
    env = environment(network_script="callback", uniqueid="cb.late", args=[ticket.number])

    record = AsteriskStandIn(env=env, digits=["1"]).call(server.address)

    assert record.variables["HOTLINE_SATISFACTION"] == "satisfied"
    assert Ticket.objects.get(pk=ticket.pk).status == Status.DISPATCHED and not Callback.objects.exists()
    assert any("not awaiting a callback" in r.getMessage() for r in caplog.records)
