"""Open311's background work: batch tickets created once (task or sweep), the request log and its pruning."""

import datetime

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError

from callcentre.celery import app as celery_app
from tickets.models import Channel, Ticket
from tickets.open311 import tasks
from tickets.open311.actions import MAX_ATTEMPTS
from tickets.open311.models import RequestLog, ServiceRequest

from .helpers import BASE, errors_of, post_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(client, batch_service, key):
    """pending(): post a batch request whose task never ran (no commit in a test transaction); its row."""

    def post() -> ServiceRequest:
        body = {"api_key": key.secret, "service_code": "power", "address_string": "江北", "description": "停电了"}
        assert post_form(client, f"{BASE}/requests.json", body).status_code == 202
        return ServiceRequest.objects.order_by("-id").first()

    return post


def test_the_task_creates_the_ticket_once(pending):
    request = pending()

    assert tasks.create_ticket(request.pk) is True
    assert tasks.create_ticket(request.pk) is True

    request.refresh_from_db()
    assert Ticket.objects.get() == request.ticket
    assert request.ticket.channel == Channel.OPEN311


def test_the_sweep_creates_tickets_whose_task_was_lost_and_leaves_fresh_ones_to_theirs(pending):
    now = datetime.datetime.now(datetime.UTC)
    with time_machine.travel(now - datetime.timedelta(minutes=5), tick=False):
        lost = pending()
    with time_machine.travel(now, tick=False):
        fresh = pending()
        assert tasks.sweep() == 1
        assert tasks.sweep() == 0

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.ticket is not None and fresh.ticket is None


def test_a_request_that_cannot_become_a_ticket_is_tried_a_few_times_then_left(pending, monkeypatch):
    def refuse(**fields):
        raise ValidationError({"category": "inactive"})

    monkeypatch.setattr("tickets.open311.actions.ticket_create", refuse)
    request = pending()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)

    with time_machine.travel(later, tick=False):
        for _ in range(MAX_ATTEMPTS + 2):
            tasks.sweep()

    request.refresh_from_db()
    assert (request.attempts, request.ticket) == (MAX_ATTEMPTS, None)
    assert "inactive" in request.error


def test_every_endpoint_is_logged_without_the_key_in_the_path(client, services, key):
    client.get(f"{BASE}/services.json", {"api_key": key.secret})
    client.get(f"{BASE}/services/LIGHT-01.xml")
    client.get(f"{BASE}/requests.json")
    client.get(f"{BASE}/requests/2026010100001.json")
    client.get(f"{BASE}/tokens/abc.json")
    client.get(f"{BASE}/elsewhere.json")

    rows = list(RequestLog.objects.order_by("id").values_list("endpoint", "status", "format", "api_key"))
    assert rows == [
        ("services", 200, "json", key.pk),
        ("service_definition", 200, "xml", None),
        ("requests", 200, "json", None),
        ("request", 404, "json", None),
        ("token", 404, "json", None),
        ("", 404, "json", None),
    ]
    assert not RequestLog.objects.filter(path__contains=key.secret).exists()
    assert RequestLog.objects.get(endpoint="request").error == "service_request_id “2026010100001” was not found."


def test_pruning_deletes_log_entries_older_than_the_retention(client, services, settings):
    settings.OPEN311_LOG_DAYS = 30
    now = datetime.datetime.now(datetime.UTC)
    with time_machine.travel(now - datetime.timedelta(days=31), tick=False):
        client.get(f"{BASE}/services.json")
    with time_machine.travel(now - datetime.timedelta(days=29), tick=False):
        client.get(f"{BASE}/services.json")

    with time_machine.travel(now, tick=False):
        assert tasks.prune_log() == 1

    assert RequestLog.objects.count() == 1


def test_the_periodic_tasks_are_scheduled_and_registered():
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {"open311.tasks.sweep", "open311.tasks.prune_log"} <= schedule
    celery_app.loader.import_default_modules()
    assert {"open311.tasks.sweep", "open311.tasks.prune_log", "open311.tasks.create_ticket"} <= set(celery_app.tasks)


def test_a_server_error_is_answered_in_the_standards_shape(client, services, monkeypatch):
    def broken():
        raise RuntimeError("database on fire")

    monkeypatch.setattr("tickets.open311.views.services_offered", broken)

    response = client.get(f"{BASE}/services.xml")

    assert response.status_code == 500
    assert errors_of(response)[0]["code"] == 500
    assert "fire" not in response.content.decode()
