"""The dashboards' periodic tasks: relaying what is owed, pruning the outbox's relayed events."""

import datetime

import pytest
import time_machine
from django.conf import settings

from callcentre.celery import app
from dashboards import publish as publisher
from dashboards.models import OutboxEvent, Stream
from dashboards.publish import SUPERVISORS, department_group, outbox_prune, publish, relay_pending
from dashboards.tasks import prune_outbox

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=datetime.UTC)


def relayed_at(moment: datetime.datetime, event_type: str, groups=(SUPERVISORS,)) -> OutboxEvent:
    """An event published and relayed at `moment`."""
    with time_machine.travel(moment, tick=False):
        event = publish(event_type, {"id": 1}, groups)
        relay_pending()
    event.refresh_from_db()
    assert event.relayed_at == moment
    return event


def owed_since(moment: datetime.datetime, event_type: str) -> OutboxEvent:
    """An event published at `moment` that never reached the channel layer (Redis down since)."""
    with time_machine.travel(moment, tick=False):
        event = publish(event_type, {"id": 1}, [SUPERVISORS])
    OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=None)
    return event


def test_pruning_deletes_events_relayed_before_the_retention_and_keeps_the_rest(settings):
    settings.OUTBOX_RETENTION_HOURS = 72
    relayed_at(NOW - datetime.timedelta(days=5), "ticket.old", [SUPERVISORS, department_group(3)])
    kept = relayed_at(NOW - datetime.timedelta(hours=71), "ticket.recent")
    owed = owed_since(NOW - datetime.timedelta(days=5), "ticket.owed")

    with time_machine.travel(NOW, tick=False):
        assert prune_outbox.apply(throw=True).get() == 1

    assert set(OutboxEvent.objects.values_list("type", flat=True)) == {"ticket.recent", "ticket.owed"}
    assert OutboxEvent.objects.get(pk=owed.pk).relayed_at is None  # still owed: never pruned, however old
    assert kept.pk in OutboxEvent.objects.values_list("pk", flat=True)


def test_pruning_leaves_the_stream_numbers_so_sockets_see_no_gap(settings):
    settings.OUTBOX_RETENTION_HOURS = 1
    for _ in range(3):
        relayed_at(NOW - datetime.timedelta(days=1), "ticket.old")

    with time_machine.travel(NOW, tick=False):
        prune_outbox.apply(throw=True)
        after = publish("ticket.new", {"id": 2}, [SUPERVISORS])

    assert not OutboxEvent.objects.exclude(pk=after.pk).exists()
    assert dict(Stream.objects.values_list("name", "seq")) == {SUPERVISORS: 4}
    assert after.seqs == {SUPERVISORS: 4}  # the next number after the pruned ones, as the sockets expect


def test_a_retention_of_zero_keeps_every_event(settings):
    settings.OUTBOX_RETENTION_HOURS = 0
    relayed_at(NOW - datetime.timedelta(days=400), "ticket.ancient")

    with time_machine.travel(NOW, tick=False):
        assert prune_outbox.apply(throw=True).get() == 0

    assert OutboxEvent.objects.count() == 1


def test_a_large_outbox_is_pruned_in_batches_oldest_first(monkeypatch):
    batches = []
    real = OutboxEvent.objects.filter

    def spy(*args, **kwargs):
        if "id__in" in kwargs:
            batches.append(list(kwargs["id__in"]))
        return real(*args, **kwargs)

    events = [
        relayed_at(NOW - datetime.timedelta(days=2) + datetime.timedelta(minutes=n), f"ticket.{n}") for n in range(5)
    ]
    monkeypatch.setattr(OutboxEvent.objects, "filter", spy)

    assert outbox_prune(relayed_before=NOW, batch=2) == 5

    assert batches == [[events[0].pk, events[1].pk], [events[2].pk, events[3].pk], [events[4].pk]]
    assert publisher.PRUNE_BATCH >= 1000  # a real batch keeps each transaction short, not tiny


def test_the_prune_runs_hourly_on_the_beat_schedule():
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["dashboards.tasks.prune_outbox"]["schedule"] == 3600.0
    assert "dashboards.tasks.relay_outbox" in schedule
    app.loader.import_default_modules()
    assert {"dashboards.tasks.prune_outbox", "dashboards.tasks.relay_outbox"} <= set(app.tasks)
