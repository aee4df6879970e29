"""The screen pop: AgentConnect for a bridge-made call pops the draft ticket on that operator's console, masked."""

import asyncio
import datetime
import importlib
import json
import threading
import time

import pytest
from channels.layers import channel_layers, get_channel_layer
from rest_framework.test import APIClient

from dashboards.models import OutboxEvent
from dashboards.publish import MESSAGE_TYPE, operator_group
from telephony import actions
from telephony.agi.server import FastAGIServer
from telephony.ami.client import message_from_lines
from telephony.ami.listener import AmiListener
from telephony.bridge import Bridge
from telephony.models import Call, IvrMenu, IvrOption
from telephony.selectors import call_current_for, call_pop_payload, operator_for_interface
from tests.conftest import VALID_ID
from tests.factories import UserFactory
from tests.telephony import ami_standin as ami
from tests.telephony.ami_standin import AmiStandin, Member
from tests.telephony.asterisk_standin import AsteriskStandIn
from tickets import actions as ticket_actions
from tickets.models import Role, Status

T0 = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.UTC)
UID = "1795834593.3"  # the AGI stand-in's call (transcript 1)
CALLER = "13800138000"
POP_KEYS = {
    "call",
    "uniqueid",
    "linkedid",
    "recording",
    "caller",
    "queue",
    "operator",
    "answered_at",
    "wait_seconds",
    "ticket",
    "tickets",
    "ivr",
    "citizen",
    "history",
    "history_total",
}


@pytest.fixture(autouse=True)
def _fresh_layers():
    """Each test builds its channel layer (in-memory, from conftest) afresh."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def operator(db):
    return UserFactory(username="huawu1", first_name="叶晓婷", extension="8001")


@pytest.fixture
def colleague(db):
    return UserFactory(username="huawu2", extension="8002")


@pytest.fixture
def history(citizen, make_ticket):
    """The citizen's earlier tickets: one closed satisfied after the water department's reply, one dispatched."""
    closed = make_ticket(Status.CLOSED, citizen=citizen, title="小区停水三天")
    dispatched = make_ticket(Status.DISPATCHED, citizen=citizen, title="路灯不亮")
    return [dispatched, closed]


def bridge_call(uniqueid=UID, caller=CALLER, path="main>consultation", digits="1", kind="consultation", at=T0):
    """What the AGI bridge does for a call: the record and draft ticket, then the IVR result."""
    opened = actions.call_open(uniqueid=uniqueid, caller=caller, at=at)
    return actions.call_ivr_done(opened.call, path=path, digits=digits, kind=kind, at=at)


def event(name, fields, *, seconds=0):
    lines = [f"Event: {name}", "Privilege: agent,all", *(f"{key}: {value}" for key, value in fields)]
    return message_from_lines(lines, received_at=T0 + datetime.timedelta(seconds=seconds), seq=seconds + 1)


@pytest.fixture
def answered(operator, citizen, history, django_capture_on_commit_callbacks):
    """A bridge-made call from the citizen, queued and answered on PJSIP/8001 through the AMI listener."""
    call = bridge_call()
    listener = AmiListener(host="127.0.0.1", port=5038, username="hotline", secret="s3cret", db_retry_delay=0)
    for item in (
        event("QueueCallerJoin", ami.caller_join(UID)),
        event("AgentConnect", ami.agent_connect(UID, interface="PJSIP/8001"), seconds=12),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            assert listener.handle(item)
    call.refresh_from_db()
    return call


# --- the payload ----------------------------------------------------------------------------------


def test_the_pop_names_the_draft_ticket_the_ivr_choice_and_the_citizen(answered, operator, citizen, history):
    payload = call_pop_payload(answered)
    assert set(payload) == POP_KEYS
    assert (payload["call"], payload["uniqueid"], payload["operator"]) == (answered.pk, UID, operator.pk)
    assert (payload["linkedid"], payload["recording"]) == (UID, "")  # the linked id from QueueCallerJoin
    assert payload["caller"] == "138****8000"
    assert (payload["queue"], payload["wait_seconds"]) == ("hotline", 12)
    ticket = payload["ticket"]
    assert (ticket["number"], ticket["kind"], ticket["status"]) == (answered.ticket.number, "consultation", "draft")
    assert payload["ivr"] == {
        "path": "main>consultation",
        "digits": "1",
        "choice": "kind",
        "kind": "consultation",
        "kind_display": payload["ivr"]["kind_display"],
        "ended_at": T0.isoformat(),
    }
    assert payload["citizen"]["id"] == citizen.pk and payload["citizen"]["name"] == "张三"
    assert payload["citizen"]["id_masked"] == citizen.id_masked and "*" in citizen.id_masked
    assert payload["citizen"]["phones"] == ["138****8000"]


def test_the_pop_lists_previous_tickets_with_status_department_and_satisfaction(answered, history, water):
    payload = call_pop_payload(answered)
    assert payload["history_total"] == 2
    assert [row["number"] for row in payload["history"]] == [t.number for t in history]
    latest, closed = payload["history"]
    assert (latest["status"], latest["department"], latest["satisfaction"]) == ("dispatched", water.pk, "")
    assert (closed["status"], closed["department_name"], closed["satisfaction"]) == ("closed", "市水务局", "satisfied")
    assert closed["created_at"] and closed["title"] == "小区停水三天"


def test_the_pop_never_carries_an_unmasked_id_number_or_phone(answered):
    text = json.dumps(call_pop_payload(answered), ensure_ascii=False)
    assert VALID_ID not in text and VALID_ID[6:14] not in text  # not even the birth date
    assert CALLER not in text and "+86" not in text


def test_a_caller_who_went_straight_to_an_operator_is_popped_with_that_choice(db, operator):
    call = bridge_call(uniqueid="1.2", caller="13900139000", path="main>operator", digits="0", kind="")
    actions.call_answer("1.2", agent="PJSIP/8001", operator=operator, at=T0)
    payload = call_pop_payload(Call.objects.get(pk=call.pk))
    assert payload["ivr"]["choice"] == "operator" and payload["ivr"]["kind"] == ""
    assert payload["citizen"] is None and payload["history"] == [] and payload["caller"] == "139****9000"


def test_a_call_the_bridge_never_saw_pops_the_caller_looked_up_by_number(db, operator, citizen):
    actions.call_queue_join("9.9", queue="hotline", at=T0, caller=CALLER)
    call = actions.call_answer("9.9", agent="PJSIP/8001", operator=operator, at=T0)
    payload = call_pop_payload(call)
    assert payload["ticket"] is None and payload["ivr"]["path"] == ""
    assert payload["citizen"]["id"] == citizen.pk


# --- the event ------------------------------------------------------------------------------------


def test_agent_connect_publishes_call_pop_to_that_operators_group_only(answered, operator):
    pop = OutboxEvent.objects.get(type="call.pop")
    assert pop.groups == [operator_group(operator.pk)]
    assert pop.payload == call_pop_payload(answered)
    assert answered.operator == operator


def test_the_same_agent_connect_twice_pops_once(answered, operator, django_capture_on_commit_callbacks):
    listener = AmiListener(host="127.0.0.1", port=5038, username="hotline", secret="s3cret", db_retry_delay=0)
    with django_capture_on_commit_callbacks(execute=True):
        listener.handle(event("AgentConnect", ami.agent_connect(UID, interface="PJSIP/8001"), seconds=13))
    assert OutboxEvent.objects.filter(type="call.pop").count() == 1


def test_an_unmapped_interface_pops_nobody(db, operator):
    bridge_call()
    actions.call_answer(UID, agent="PJSIP/8099", operator=operator_for_interface("PJSIP/8099"), at=T0)
    assert not OutboxEvent.objects.filter(type="call.pop").exists()
    assert OutboxEvent.objects.filter(type="call.answer").exists()  # the wallboard still counts it


def test_a_pop_that_cannot_be_built_does_not_cost_the_answer_its_record(db, operator, monkeypatch, caplog):
    bridge_call()

    def broken(call):
        raise RuntimeError("selector bug")

    monkeypatch.setattr(actions, "call_pop_payload", broken)
    call = actions.call_answer(UID, agent="PJSIP/8001", operator=operator, at=T0)
    assert Call.objects.get(pk=call.pk).operator == operator
    assert OutboxEvent.objects.filter(type="call.answer").exists()
    assert not OutboxEvent.objects.filter(type="call.pop").exists()
    assert "the screen pop for operator" in caplog.text


class Seat:
    """One socket's seat in the channel layer: a channel in one group, on its own event loop."""

    def __init__(self, group: str):
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(group, self.channel))

    def _run(self, coroutine, timeout=5.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def messages(self) -> list[dict]:
        """What has arrived so far (the in-memory layer delivers at group_send)."""
        received = []
        while True:
            try:
                received.append(self._run(asyncio.wait_for(self.layer.receive(self.channel), 0.05)))
            except TimeoutError:
                return received

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_the_operators_socket_receives_the_pop_and_a_colleagues_nothing(
    operator, colleague, citizen, history, django_capture_on_commit_callbacks
):
    mine, theirs = Seat(operator_group(operator.pk)), Seat(operator_group(colleague.pk))
    try:
        bridge_call()
        listener = AmiListener(host="127.0.0.1", port=5038, username="hotline", secret="s3cret", db_retry_delay=0)
        with django_capture_on_commit_callbacks(execute=True):
            listener.handle(event("AgentConnect", ami.agent_connect(UID, interface="PJSIP/8001"), seconds=12))
        pops = [m for m in mine.messages() if m["event"] == "call.pop"]
        assert len(pops) == 1 and pops[0]["type"] == MESSAGE_TYPE
        assert pops[0]["payload"]["citizen"]["id_masked"] == citizen.id_masked
        assert pops[0]["payload"]["caller"] == "138****8000"
        assert theirs.messages() == []
    finally:
        mine.close()
        theirs.close()


# --- end to end: the AGI bridge makes the call, the AMI stand-in connects it ---------------------------


DEFAULT_MENU = importlib.import_module("telephony.migrations.0002_default_ivr_menu")


def _main_menu():
    menu, created = IvrMenu.objects.get_or_create(
        code="main",
        defaults={"name": "Main menu", "prompt": "hotline/main-menu", "invalid_prompt": "hotline/invalid"},
    )
    if created:
        IvrOption.objects.bulk_create(
            IvrOption(menu=menu, digit=digit, action=action, kind=kind, label=label)
            for digit, action, kind, label in DEFAULT_MENU.OPTIONS
        )


def _until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_call_through_the_bridge_and_the_queue_pops_on_the_operators_console(tmp_path):
    _main_menu()
    operator = UserFactory(username="huawu1", extension="8001")
    colleague = UserFactory(username="huawu2", extension="8002")
    citizen = ticket_actions.citizen_create(name="张三", id_number=VALID_ID, phones=[CALLER])
    mine, theirs = Seat(operator_group(operator.pk)), Seat(operator_group(colleague.pk))
    bridge = Bridge(spool_dir=tmp_path / "spool", menu_ttl=0)
    server = FastAGIServer(bridge.handle, port=0, read_timeout=2.0)
    server.start()
    try:
        AsteriskStandIn(digits=["1"]).call(server.address)  # a consultation, then the queue
        call = Call.objects.select_related("ticket").get(uniqueid=UID)
        assert call.ticket.citizen == citizen and call.ivr_path == "main>consultation"
        with AmiStandin() as standin:
            standin.queues["hotline"].members += [Member("PJSIP/8001"), Member("PJSIP/8002")]
            listener = AmiListener(
                host="127.0.0.1", port=standin.port, username="hotline", secret="s3cret", poll_interval=0.05
            )
            thread = threading.Thread(target=listener.run, daemon=True)
            thread.start()
            try:
                _until(listener.listening.is_set)
                standin.emit("QueueCallerJoin", ami.caller_join(UID))
                standin.emit("AgentConnect", ami.agent_connect(UID, interface="PJSIP/8001"))
                _until(lambda: listener.stats.applied == 2)
                _until(lambda: OutboxEvent.objects.filter(type="call.pop", relayed_at__isnull=False).exists())
            finally:
                listener.stop()
                thread.join(timeout=5)
        pops = [m for m in mine.messages() if m["event"] == "call.pop"]
        assert len(pops) == 1
        payload = pops[0]["payload"]
        assert payload["ticket"]["number"] == call.ticket.number and payload["ivr"]["kind"] == "consultation"
        assert payload["citizen"]["id_masked"] == citizen.id_masked and payload["caller"] == "138****8000"
        assert VALID_ID not in json.dumps(payload) and CALLER not in json.dumps(payload)
        assert theirs.messages() == []
    finally:
        server.stop(timeout=2)
        bridge.close()  # its database threads keep their connections until then
        mine.close()
        theirs.close()


# --- mapping the queue member to the operator ------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_is_found_by_the_member_name_when_the_interface_names_no_extension():
    operator = UserFactory(username="huawu1", extension="")
    assert operator_for_interface("Local/agent-desk-3@agents/n", member_name="huawu1") == operator
    assert operator_for_interface("PJSIP/desk-3", member_name="Operator desk-3") is None


@pytest.mark.django_db
def test_an_extension_recorded_as_the_whole_interface_still_maps():
    operator = UserFactory(extension="PJSIP/8005")
    assert operator_for_interface("PJSIP/8005") == operator
    assert operator_for_interface("pjsip/8005") == operator


@pytest.mark.django_db
def test_the_member_name_settles_an_extension_shared_by_two_users():
    UserFactory(username="day", extension="8001")
    night = UserFactory(username="night", extension="8001")
    assert operator_for_interface("PJSIP/8001") is None
    assert operator_for_interface("PJSIP/8001", member_name="night") == night


# --- the REST endpoint ----------------------------------------------------------------------------


def pop_url(call) -> str:
    return f"/api/calls/{call.pk}/pop/"


def test_the_operator_fetches_the_pop_of_the_call_they_answered(api, answered, operator):
    response = api.as_user(operator).get(pop_url(answered))
    assert response.status_code == 200, response.content
    assert response.json() == json.loads(json.dumps(call_pop_payload(answered)))


def test_a_console_that_connects_late_fetches_the_current_call(api, answered, operator, colleague):
    response = api.as_user(operator).get("/api/calls/current/pop/")
    assert response.status_code == 200 and response.json()["call"] == answered.pk
    assert api.as_user(colleague).get("/api/calls/current/pop/").status_code == 404
    actions.call_hangup(UID, cause="16")
    assert call_current_for(operator) is None
    assert api.as_user(operator).get("/api/calls/current/pop/").status_code == 404


def test_supervisors_see_any_calls_pop(api, answered, supervisor):
    assert api.as_user(supervisor).get(pop_url(answered)).status_code == 200


def test_another_operator_gets_404_and_department_staff_403(api, answered, colleague, water_staff):
    response = api.as_user(colleague).get(pop_url(answered))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = api.as_user(water_staff).get(pop_url(answered))
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_allowed"
    assert api.as_user(water_staff).get("/api/calls/current/pop/").status_code == 403


def test_an_unknown_call_is_404_and_anonymous_is_401(api, answered, supervisor):
    assert api.as_user(supervisor).get("/api/calls/999999/pop/").status_code == 404
    assert APIClient().get(pop_url(answered)).status_code == 401


def test_administrators_see_any_calls_pop_too(api, answered):
    admin = UserFactory(username="boss", role=Role.ADMIN)
    assert api.as_user(admin).get(pop_url(answered)).status_code == 200


# --- a caller with a second matter: other tickets on the call -------------------------------------


def tickets_url(call) -> str:
    return f"/api/calls/{call.pk}/tickets/"


def test_the_operator_links_a_second_ticket_to_the_call_and_the_pop_lists_both(api, answered, operator, make_ticket):
    second = make_ticket(Status.REGISTERED, title="路灯不亮")
    response = api.as_user(operator).post(tickets_url(answered), {"ticket": second.number}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["tickets"] == [answered.ticket.number, second.number]
    again = api.as_user(operator).post(tickets_url(answered), {"ticket": second.number}, format="json")
    assert again.json()["tickets"] == [answered.ticket.number, second.number]
    assert api.as_user(operator).get(pop_url(answered)).json()["tickets"] == [answered.ticket.number, second.number]
    assert list(second.other_calls.all()) == [answered]


def test_the_bridges_own_draft_is_not_linked_twice(api, answered, operator):
    response = api.as_user(operator).post(tickets_url(answered), {"ticket": answered.ticket.number}, format="json")
    assert response.json()["tickets"] == [answered.ticket.number]
    assert not answered.other_tickets.exists()


def test_only_the_answering_operator_or_a_supervisor_links_and_nothing_changes_otherwise(
    api, answered, colleague, supervisor, water_staff, make_ticket
):
    second = make_ticket(Status.REGISTERED)
    assert (
        api.as_user(colleague).post(tickets_url(answered), {"ticket": second.number}, format="json").status_code == 404
    )
    refused = api.as_user(water_staff).post(tickets_url(answered), {"ticket": second.number}, format="json")
    assert refused.status_code == 403
    unknown = api.as_user(supervisor).post(tickets_url(answered), {"ticket": "2026010100999"}, format="json")
    assert unknown.status_code == 404
    assert api.as_user(supervisor).post(tickets_url(answered), {}, format="json").status_code == 400
    assert not answered.other_tickets.exists()
    assert (
        api.as_user(supervisor).post(tickets_url(answered), {"ticket": second.number}, format="json").status_code == 200
    )
