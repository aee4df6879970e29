"""Callbacks (回访): satisfied closes, unsatisfied reopens (重办), bad input changes nothing; the API."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from dashboards.models import OutboxEvent
from routing.callbacks import callback_record
from routing.clocks import clocks_sweep
from routing.deadlines import deadline_for, reopen_deadline_for
from routing.models import Callback
from tickets import actions
from tickets.errors import InvalidTransition, NotAllowed
from tickets.models import Action, Status, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPLIED_AT = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)  # a Tuesday
CALLED_AT = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=SHANGHAI)

pytestmark = pytest.mark.django_db


@pytest.fixture
def replied(make_ticket):
    """A complaint the water department replied to on Tuesday morning; the clock then stands at 15:00."""
    with time_machine.travel(REPLIED_AT, tick=False):
        ticket = make_ticket(Status.REPLIED)
    with time_machine.travel(CALLED_AT, tick=False):
        yield ticket


def callback_state(ticket: Ticket) -> dict:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return {
        "status": fresh.status,
        "version": fresh.version,
        "satisfaction": fresh.satisfaction,
        "deadline": fresh.deadline,
        "timeline": fresh.timeline.count(),
        "callbacks done": Callback.objects.filter(ticket=ticket, done_at__isnull=False).count(),
        "events": OutboxEvent.objects.count(),
    }


# The action ------------------------------------------------------------------------------------


@pytest.mark.parametrize("satisfaction", ["satisfied", "basically"])
def test_a_satisfied_callback_closes_the_ticket(replied, operator, satisfaction):
    callback = callback_record(replied, actor=operator, result=satisfaction, note="市民表示满意")

    ticket = Ticket.objects.get(pk=replied.pk)
    assert (ticket.status, ticket.satisfaction, ticket.closed_at) == (Status.CLOSED, satisfaction, CALLED_AT)
    assert (callback.done_at, callback.result, callback.operator) == (CALLED_AT, satisfaction, operator)
    assert callback.replied_at == ticket.replied_at and callback.note == "市民表示满意"
    entry = ticket.timeline.order_by("-id").first()
    assert (entry.action, entry.actor, entry.data) == (Action.CLOSE, operator, {"satisfaction": satisfaction})
    assert OutboxEvent.objects.filter(type="ticket.close").count() == 1


def test_an_unsatisfied_callback_reopens_to_the_same_department_with_the_shorter_limit(replied, operator, water):
    callback_record(replied, actor=operator, result="unsatisfied", note="问题仍未解决")

    ticket = Ticket.objects.get(pk=replied.pk)
    assert ticket.deadline == reopen_deadline_for(kind=ticket.kind, urgency=ticket.urgency, start=CALLED_AT)
    assert ticket.deadline < deadline_for(kind=ticket.kind, urgency=ticket.urgency, start=CALLED_AT)


def test_an_unsatisfied_callback_reopens_the_ticket_to_the_same_department(replied, operator, water):
    callback = callback_record(replied, actor=operator, result="unsatisfied", note="问题仍未解决")

    ticket = Ticket.objects.get(pk=replied.pk)
    assert (ticket.status, ticket.lead_department, ticket.satisfaction) == (Status.REOPENED, water, "unsatisfied")
    assert ticket.deadline > CALLED_AT and ticket.replied_at is None
    assert (callback.result, callback.note, callback.done_at) == ("unsatisfied", "问题仍未解决", CALLED_AT)
    entry = ticket.timeline.order_by("-id").first()
    assert (entry.action, entry.note) == (Action.REOPEN, "问题仍未解决")
    [event] = OutboxEvent.objects.filter(type="ticket.reopen")
    assert event.payload["department"] == water.pk


@pytest.mark.parametrize("bad", ["happy", "", "SATISFIED", None])
def test_an_unknown_result_is_refused_and_changes_nothing(replied, operator, bad):
    before = callback_state(replied)

    with pytest.raises(ValidationError) as refused:
        callback_record(replied, actor=operator, result=bad, note="")

    assert "result" in refused.value.message_dict
    assert callback_state(replied) == before


def test_unsatisfied_without_a_note_is_refused_and_changes_nothing(replied, operator):
    before = callback_state(replied)

    with pytest.raises(ValidationError) as refused:
        callback_record(replied, actor=operator, result="unsatisfied", note="  ")

    assert "note" in refused.value.message_dict
    assert callback_state(replied) == before
    assert not Callback.objects.exists()  # the row made on the way was rolled back too


def test_only_a_replied_ticket_takes_a_callback(make_ticket, operator):
    ticket = make_ticket(Status.ACCEPTED)
    before = callback_state(ticket)

    with pytest.raises(InvalidTransition):
        callback_record(ticket, actor=operator, result="satisfied")

    assert callback_state(ticket) == before


def test_department_staff_do_not_record_callbacks(replied, water_staff):
    before = callback_state(replied)

    with pytest.raises(NotAllowed):
        callback_record(replied, actor=water_staff, result="satisfied")

    assert callback_state(replied) == before


def test_the_system_may_record_a_callback_for_a_later_automated_call(replied):
    callback = callback_record(replied, actor=None, result="basically")

    assert callback.operator is None and Ticket.objects.get(pk=replied.pk).status == Status.CLOSED


def test_recording_completes_the_callback_the_sweep_scheduled(replied, operator):
    clocks_sweep()
    scheduled = Callback.objects.get()

    callback = callback_record(replied, actor=operator, result="satisfied")

    assert callback.pk == scheduled.pk and Callback.objects.count() == 1
    assert not clocks_sweep().callbacks  # nothing owed any more


def test_a_ticket_replied_again_after_reopening_owes_a_new_callback(replied, operator, water_staff):
    clocks_sweep()
    callback_record(replied, actor=operator, result="unsatisfied", note="问题仍未解决")
    ticket = actions.ticket_accept(Ticket.objects.get(pk=replied.pk), actor=water_staff)
    actions.ticket_reply(ticket, actor=water_staff, reply="已再次处理")

    assert clocks_sweep().callbacks == 1
    assert Callback.objects.filter(ticket=replied).count() == 2
    assert Callback.objects.filter(ticket=replied, done_at__isnull=True).count() == 1


def test_a_ticket_closed_through_the_ticket_api_settles_its_callback(replied, operator, api):
    clocks_sweep()

    response = api.as_user(operator).post(
        f"/api/tickets/{replied.number}/close/", {"satisfaction": "basically"}, format="json"
    )

    assert response.status_code == 200
    assert clocks_sweep().callbacks_settled == 1
    callback = Callback.objects.get()
    assert (callback.done_at, callback.result) == (CALLED_AT, "basically")


# The API ---------------------------------------------------------------------------------------


def test_an_operator_records_a_callback_through_the_api(api, replied, operator):
    response = api.as_user(operator).post(
        f"/api/tickets/{replied.number}/callback/", {"result": "satisfied", "note": "满意"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["ticket"], body["ticket_status"], body["result"]) == (replied.number, "closed", "satisfied")
    assert body["operator"] == operator.pk and body["done_at"]
    assert Ticket.objects.get(pk=replied.pk).status == Status.CLOSED


def test_the_api_refuses_an_unknown_result_and_changes_nothing(api, replied, operator):
    before = callback_state(replied)

    response = api.as_user(operator).post(
        f"/api/tickets/{replied.number}/callback/", {"result": "happy"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["result"]
    assert callback_state(replied) == before


def test_the_api_answers_409_for_a_ticket_not_waiting_for_a_callback(api, make_ticket, operator):
    ticket = make_ticket(Status.ACCEPTED)

    response = api.as_user(operator).post(
        f"/api/tickets/{ticket.number}/callback/", {"result": "satisfied"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_department_staff_get_403_on_their_own_ticket_and_404_on_another(api, replied, water_staff, housing_staff):
    before = callback_state(replied)
    url = f"/api/tickets/{replied.number}/callback/"

    own = api.as_user(water_staff).post(url, {"result": "satisfied"}, format="json")
    other = api.as_user(housing_staff).post(url, {"result": "satisfied"}, format="json")

    assert own.status_code == 403 and own.json()["error"]["code"] == "not_allowed"
    assert other.status_code == 404 and replied.number not in other.content.decode()
    assert callback_state(replied) == before


def test_the_callback_list_shows_what_is_owed_to_hotline_staff_only(api, replied, operator, water_staff):
    clocks_sweep()

    owed = api.as_user(operator).get("/api/callbacks/", {"pending": "true"})
    done = api.as_user(operator).get("/api/callbacks/", {"pending": "false"})
    department = api.as_user(water_staff).get("/api/callbacks/")

    assert owed.status_code == 200
    [row] = owed.json()["results"]
    assert (row["ticket"], row["done_at"], row["overdue"]) == (replied.number, None, False)
    assert row["due_at"] and done.json()["results"] == []
    assert department.status_code == 200 and department.json()["results"] == []
