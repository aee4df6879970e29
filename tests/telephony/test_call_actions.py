"""Call-record actions: idempotent on uniqueid, outcomes and times, events without phone numbers."""

import datetime
import threading

import pytest
from django.db import connection

from dashboards.models import OutboxEvent
from telephony import actions
from telephony.models import Call, Outcome
from tickets.actions import ticket_create, ticket_register, ticket_update
from tickets.models import Status, Ticket

T0 = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=datetime.UTC)


def test_a_new_caller_gets_a_call_record_and_a_draft_ticket(db):
    opened = actions.call_open(uniqueid="1795834593.3", caller="13800138000", channel="PJSIP/trunk-0001", at=T0)
    assert opened.created and opened.citizen is None
    assert opened.ticket.status == Status.DRAFT and opened.ticket.channel == "phone"
    assert opened.ticket.caller_number == "+8613800138000"
    assert opened.call.ticket == opened.ticket and opened.call.started_at == T0


def test_a_known_caller_is_found_by_any_format_of_their_number(citizen):
    opened = actions.call_open(uniqueid="1.1", caller="+86 138 0013 8000")
    assert opened.citizen == citizen and opened.ticket.citizen == citizen


@pytest.mark.parametrize("caller", ["", "unknown", "anonymous", "Restricted", "0"])
def test_withheld_caller_ids_find_nobody_and_still_open_a_ticket(db, caller):
    opened = actions.call_open(uniqueid="1.2", caller=caller)
    assert opened.citizen is None and opened.ticket.caller_number == ""


def test_a_second_session_for_the_same_call_reuses_call_and_ticket(db):
    first = actions.call_open(uniqueid="1.3", caller="13800138000")
    again = actions.call_open(uniqueid="1.3", caller="13800138000")
    assert not again.created and again.ticket == first.ticket
    assert Call.objects.count() == 1 and Ticket.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent sessions need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_sessions_for_one_call_at_the_same_instant_make_one_ticket():
    barrier, results = threading.Barrier(4), []

    def session():
        try:
            barrier.wait(timeout=5)
            results.append(actions.call_open(uniqueid="1795834593.9", caller="13800138000").ticket.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=session) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(results) == 4 and len(set(results)) == 1
    assert Call.objects.count() == 1 and Ticket.objects.count() == 1


def test_choosing_a_kind_in_the_ivr_sets_it_on_the_draft(db):
    opened = actions.call_open(uniqueid="1.4", caller="13800138000")
    call = actions.call_ivr_done(opened.call, path="main>complaint", digits="2", kind="complaint")
    assert call.ivr_path == "main>complaint" and call.ivr_digits == "2" and call.ivr_ended_at
    assert Ticket.objects.get(pk=opened.ticket.pk).kind == "complaint"


def test_the_kind_and_its_timeline_entry_and_event_match_an_edit(db):
    opened = actions.call_open(uniqueid="1.41", caller="13800138000")
    actions.call_ivr_done(opened.call, path="main>complaint", digits="2", kind="complaint")
    ticket = Ticket.objects.get(pk=opened.ticket.pk)
    assert (ticket.kind, ticket.version, ticket.status) == ("complaint", 2, Status.DRAFT)
    entry = ticket.timeline.get(action="edit")
    assert entry.data == {"changed": {"kind": ["consultation", "complaint"]}} and entry.at == ticket.updated_at
    event = OutboxEvent.objects.get(type="ticket.edit")
    assert event.payload["kind"] == "complaint" and event.payload["changed"] == ["kind"]


def test_a_kind_chosen_after_an_operator_edited_the_draft_keeps_the_operators_edit(db, operator):
    opened = actions.call_open(uniqueid="1.42", caller="13800138000")
    ticket_update(opened.ticket, actor=operator, version=None, description="Water off since morning")
    call = actions.call_ivr_done(opened.call, path="main>help", digits="4", kind="help")
    ticket = Ticket.objects.get(pk=opened.ticket.pk)
    assert (ticket.kind, ticket.description, ticket.version) == ("help", "Water off since morning", 3)
    assert call.ticket.description == "Water off since morning" and call.ticket.version == 3
    assert ticket.timeline.filter(action="edit").count() == 2


def test_a_kind_chosen_after_an_operator_registered_the_ticket_changes_nothing(db, operator):
    opened = actions.call_open(uniqueid="1.43", caller="13800138000")
    ticket_update(opened.ticket, actor=operator, version=None, description="Water off since morning")
    ticket_register(Ticket.objects.get(pk=opened.ticket.pk), actor=operator)
    actions.call_ivr_done(opened.call, path="main>complaint", digits="2", kind="complaint")
    ticket = Ticket.objects.get(pk=opened.ticket.pk)
    assert ticket.kind == "consultation" and ticket.status != Status.DRAFT
    assert not OutboxEvent.objects.filter(type="ticket.edit", payload__kind="complaint").exists()


def test_the_bridges_draft_is_the_draft_ticket_create_makes(citizen):
    opened = actions.call_open(uniqueid="1.44", caller="13800138000")
    made = ticket_create(actor=None, register=False, channel="phone", citizen=citizen, caller_number="13800138000")
    fields = ("kind", "channel", "status", "citizen_id", "caller_number", "urgency", "version", "created_by_id")
    assert [getattr(opened.ticket, name) for name in fields] == [getattr(made, name) for name in fields]
    assert [getattr(Ticket.objects.get(pk=opened.ticket.pk), name) for name in fields] == [
        getattr(made, name) for name in fields
    ]
    created = OutboxEvent.objects.filter(type="ticket.create").order_by("id")
    assert [event.groups for event in created] == [["supervisors"], ["supervisors"]]
    assert opened.ticket.timeline.get().action == "create"


def test_answered_call_has_wait_and_talk_time_and_pops_the_operators_screen(db, operator):
    opened = actions.call_open(uniqueid="1.5", caller="13800138000", at=T0)
    actions.call_queue_join("1.5", queue="hotline", at=T0 + datetime.timedelta(seconds=30))
    actions.call_answer("1.5", agent="PJSIP/8001", operator=operator, at=T0 + datetime.timedelta(seconds=42))
    call = actions.call_hangup("1.5", cause="16", at=T0 + datetime.timedelta(seconds=342))
    assert (call.outcome, call.wait_seconds, call.talk_seconds, call.hangup_cause) == (Outcome.ANSWERED, 12, 300, "16")
    answer = OutboxEvent.objects.get(type="call.answer")
    assert f"operator.{operator.pk}" in answer.groups
    assert answer.payload["ticket"] == opened.ticket.number


def test_hang_up_in_queue_is_abandoned_with_its_wait(db):
    actions.call_open(uniqueid="1.6", caller="13800138000", at=T0)
    actions.call_queue_join("1.6", queue="hotline", at=T0 + datetime.timedelta(seconds=10))
    call = actions.call_hangup("1.6", cause="16", at=T0 + datetime.timedelta(seconds=70))
    assert call.outcome == Outcome.ABANDONED_QUEUE and call.wait_seconds == 60


def test_hang_up_in_the_ivr_keeps_the_draft_ticket(db):
    opened = actions.call_open(uniqueid="1.7", caller="13800138000")
    call = actions.call_hangup("1.7", cause="caller hung up")
    assert call.outcome == Outcome.ABANDONED_IVR
    assert Ticket.objects.get(pk=opened.ticket.pk).status == Status.DRAFT


def test_hang_up_is_recorded_once(db):
    actions.call_open(uniqueid="1.8", caller="13800138000", at=T0)
    first = actions.call_hangup("1.8", cause="16", at=T0 + datetime.timedelta(seconds=5))
    second = actions.call_hangup("1.8", cause="17", at=T0 + datetime.timedelta(seconds=9))
    assert second.ended_at == first.ended_at and second.hangup_cause == "16"
    assert OutboxEvent.objects.filter(type="call.hangup").count() == 1


def test_queue_events_for_a_call_the_bridge_never_saw_still_make_a_record(db):
    call = actions.call_queue_join("9.9", queue="hotline", at=T0, caller="13900139000")
    assert call.caller_number == "+8613900139000" and call.ticket is None


def test_call_events_carry_no_phone_number(db):
    actions.call_open(uniqueid="2.1", caller="13800138000")
    actions.call_hangup("2.1", cause="16")
    for event in OutboxEvent.objects.filter(type__startswith="call."):
        assert "138" not in str(event.payload)


def test_a_hang_up_in_the_middle_of_a_progress_query_is_abandoned_in_the_ivr(db):
    opened = actions.call_open(uniqueid="3.1", caller="13800138000", at=T0)
    actions.call_ivr_done(opened.call, path="main>progress", digits="8", at=T0)  # no answer was given

    call = actions.call_hangup("3.1", cause="caller hung up", at=T0 + datetime.timedelta(seconds=20))

    assert call.outcome == Outcome.ABANDONED_IVR


def test_a_progress_answer_is_self_service_whoever_closes_the_call(db):
    opened = actions.call_open(uniqueid="3.2", caller="13800138000", at=T0)
    call = actions.call_ivr_done(opened.call, path="main>progress", digits="8", self_service=True, at=T0)
    assert call.outcome == Outcome.SELF_SERVICE and call.ended_at is None

    # The AMI listener's Hangup can come before the bridge's own hang-up: the outcome stays.
    actions.call_hangup("3.2", cause="16", at=T0 + datetime.timedelta(seconds=40))
    call = actions.call_hangup("3.2", cause="self-service done", at=T0 + datetime.timedelta(seconds=41))
    assert (call.outcome, call.hangup_cause) == (Outcome.SELF_SERVICE, "16")


def test_the_queue_join_fills_the_linked_id_and_recording_the_bridge_did_not_store(db):
    actions.call_open(uniqueid="3.3", caller="13800138000", linkedid="3.0", recording="a.wav", at=T0)

    kept = actions.call_queue_join("3.3", queue="hotline", at=T0, linkedid="9.9", recording="b.wav")
    unseen = actions.call_queue_join("3.4", queue="hotline", at=T0, linkedid="3.0", recording="c.wav")

    assert (kept.linkedid, kept.recording) == ("3.0", "a.wav")
    assert (unseen.linkedid, unseen.recording) == ("3.0", "c.wav")


def test_the_bridge_fills_the_linked_id_and_recording_of_a_call_the_listener_saw_first(db):
    actions.call_queue_join("3.5", queue="hotline", at=T0)

    opened = actions.call_open(uniqueid="3.5", caller="13800138000", linkedid="3.0", recording="d.wav")

    call = Call.objects.get(uniqueid="3.5")
    assert (call.linkedid, call.recording) == ("3.0", "d.wav") == (opened.call.linkedid, opened.call.recording)
