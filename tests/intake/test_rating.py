"""The one-time rating link: recorded as the callback (回访), usable once, expiring, refused in any other state."""

import datetime
import re

import pytest
import time_machine
from django.core import signing

from dashboards.models import OutboxEvent
from routing.callbacks import callback_record
from routing.models import Callback
from tickets import actions
from tickets.intake.tokens import SALT, rating_path
from tickets.models import Action, Status, Ticket

pytestmark = pytest.mark.django_db

REPLIED_AT = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
def replied(web_ticket):
    """A web complaint replied to on 24 November; the clock then stands a day later."""
    with time_machine.travel(REPLIED_AT, tick=False):
        ticket, code = web_ticket(Status.REPLIED)
    with time_machine.travel(REPLIED_AT + datetime.timedelta(days=1), tick=False):
        yield ticket, code


def link_from_progress_page(client, ticket, code) -> str:
    html = client.post("/public/progress/", {"number": ticket.number, "secret": code}).content.decode()
    match = re.search(r'href="(/public/rate/[^"]+/)"', html)
    assert match, "no rating link on the progress page"
    return match.group(1)


def state(ticket: Ticket) -> dict:
    fresh = Ticket.objects.get(pk=ticket.pk)
    return {
        "status": fresh.status,
        "satisfaction": fresh.satisfaction,
        "version": fresh.version,
        "timeline": fresh.timeline.count(),
        "callbacks done": Callback.objects.filter(ticket=ticket, done_at__isnull=False).count(),
        "events": OutboxEvent.objects.count(),
    }


def test_a_satisfied_rating_is_recorded_as_the_callback_and_closes_the_ticket(client, replied):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)

    page = client.get(link)
    assert page.status_code == 200 and "已处理" in page.content.decode()  # the reply being rated
    response = client.post(link, {"result": "satisfied", "comment": "很快就修好了"})

    assert response.status_code == 200 and "Your rating is recorded" in response.content.decode()
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.satisfaction) == (Status.CLOSED, "satisfied")
    callback = Callback.objects.get(ticket=ticket)
    assert (callback.result, callback.operator, callback.replied_at) == ("satisfied", None, ticket.replied_at)
    assert callback.done_at is not None and "很快就修好了" in callback.note
    entry = fresh.timeline.order_by("-id").first()
    assert (entry.action, entry.actor, entry.data) == (Action.CLOSE, None, {"satisfaction": "satisfied"})
    assert "很快就修好了" in entry.note
    assert OutboxEvent.objects.filter(type="ticket.close", payload__ticket=ticket.number).count() == 1


def test_the_link_works_once(client, replied):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)
    client.post(link, {"result": "basically"})
    before = state(ticket)

    again = client.post(link, {"result": "unsatisfied", "comment": "其实没修好"})

    assert again.status_code == 409 and "is not waiting for a rating" in again.content.decode()
    assert state(ticket) == before
    assert client.get(link).status_code == 409


def test_an_unsatisfied_rating_reopens_the_ticket_to_the_same_department(client, replied, water):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)

    response = client.post(link, {"result": "unsatisfied", "comment": "水还是停着"})

    assert response.status_code == 200 and "handled again" in response.content.decode()
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.lead_department, fresh.satisfaction) == (Status.REOPENED, water, "unsatisfied")
    entry = fresh.timeline.order_by("-id").first()
    assert entry.action == Action.REOPEN and "水还是停着" in entry.note
    assert Callback.objects.get(ticket=ticket).result == "unsatisfied"


def test_an_unsatisfied_rating_needs_a_comment_and_changes_nothing_without_one(client, replied):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)
    before = state(ticket)

    response = client.post(link, {"result": "unsatisfied", "comment": "  "})

    assert response.status_code == 400 and "Tell us what is still not resolved." in response.content.decode()
    assert state(ticket) == before


def test_a_rating_without_a_choice_changes_nothing(client, replied):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)
    before = state(ticket)

    assert client.post(link, {"result": "delighted"}).status_code == 400
    assert state(ticket) == before


def test_the_link_expires(client, replied, settings):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)
    before = state(ticket)

    with time_machine.travel(REPLIED_AT + datetime.timedelta(days=settings.INTAKE_RATING_DAYS, seconds=1), tick=False):
        response = client.post(link, {"result": "satisfied"})
        page = client.post("/public/progress/", {"number": ticket.number, "secret": code}).content.decode()

    assert response.status_code == 410 and "expired" in response.content.decode()
    assert state(ticket) == before
    assert "/public/rate/" not in page and "The hotline will call you" in page


def test_after_the_operators_callback_the_link_is_refused(client, replied, operator):
    ticket, code = replied
    link = link_from_progress_page(client, ticket, code)
    callback_record(ticket, actor=operator, result="satisfied", note="电话回访满意")
    before = state(ticket)

    response = client.post(link, {"result": "unsatisfied", "comment": "不满意"})

    assert response.status_code == 409
    assert state(ticket) == before


def test_a_link_for_an_earlier_reply_cannot_rate_a_later_one(client, replied, operator, water_staff):
    ticket, code = replied
    old_link = link_from_progress_page(client, ticket, code)
    callback_record(ticket, actor=operator, result="unsatisfied", note="电话回访不满意")
    actions.ticket_accept(ticket, actor=water_staff)
    actions.ticket_reply(ticket, actor=water_staff, reply="第二次答复")
    before = state(ticket)

    response = client.post(old_link, {"result": "satisfied"})

    assert response.status_code == 409 and state(ticket) == before
    new_link = link_from_progress_page(client, ticket, code)
    assert new_link != old_link
    assert client.post(new_link, {"result": "satisfied"}).status_code == 200


@pytest.mark.parametrize("status", [Status.DISPATCHED, Status.ACCEPTED, Status.CLOSED, Status.REOPENED])
def test_a_ticket_that_is_not_replied_cannot_be_rated(client, web_ticket, status):
    ticket, _code = web_ticket(status)
    forged = signing.dumps({"n": ticket.number, "r": datetime.datetime.now(datetime.UTC).isoformat()}, salt=SALT)
    before = state(ticket)

    response = client.post(f"/public/rate/{forged}/", {"result": "satisfied"})

    assert response.status_code in (409, 410)
    assert state(ticket) == before


@pytest.mark.parametrize("token", ["nonsense", "eyJuIjoiMSJ9:abc:def"])
def test_a_link_not_made_here_is_refused(client, replied, token):
    ticket, _code = replied
    before = state(ticket)

    response = client.post(f"/public/rate/{token}/", {"result": "satisfied"})

    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert state(ticket) == before


def test_a_token_signed_for_another_purpose_is_refused(client, replied):
    ticket, _code = replied
    token = signing.dumps({"n": ticket.number, "r": ticket.replied_at.isoformat()}, salt="something-else")

    assert client.post(f"/public/rate/{token}/", {"result": "satisfied"}).status_code == 404


def test_the_sms_hook_builds_the_same_link(client, replied):
    ticket, code = replied

    assert rating_path(ticket) == link_from_progress_page(client, ticket, code)
