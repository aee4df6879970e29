"""The one event publisher: outbox rows in the change's transaction, relayed after commit, Redis or not."""

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from dashboards.models import OutboxEvent, Stream
from dashboards.publish import MESSAGE_TYPE, SUPERVISORS, department_group, publish, relay_pending, stream_seqs
from dashboards.tasks import relay_outbox
from tests.conftest import VALID_ID
from tickets import actions
from tickets.models import Status, Ticket

REDIS = "redis://127.0.0.1:6379/15"
EVENT_KEYS = {"ticket", "id", "action", "from", "status", "kind", "department", "deadline", "changed"}


@pytest.fixture(autouse=True)
def _fresh_layers():
    """Each test builds its channel layer from its own settings."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


class Subscriber:
    """A websocket's seat in the channel layer: one channel in some groups, on its own event loop."""

    def __init__(self, *groups: str):
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channel = self._run(self.layer.new_channel())
        for group in groups:
            self._run(self.layer.group_add(group, self.channel))
        self.groups = groups

    def _run(self, coroutine, timeout: float = 5.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def ready(self) -> "Subscriber":
        """Wait until the subscription is live (Redis confirms SUBSCRIBE asynchronously)."""
        probe = {"type": "probe"}
        for _attempt in range(50):
            self._run(self.layer.group_send(self.groups[0], probe))
            try:
                if self.receive(timeout=0.1) == probe:
                    return self
            except TimeoutError:
                pass
        raise AssertionError("the subscription never became live")

    def receive(self, timeout: float = 2.0) -> dict[str, Any]:
        return self._run(asyncio.wait_for(self.layer.receive(self.channel), timeout), timeout + 2)

    def receive_all(self, quiet: float | None = None) -> list[dict[str, Any]]:
        """Everything that arrives until the channel stays quiet (the in-memory layer delivers at once)."""
        if quiet is None:
            quiet = 0.05 if isinstance(self.layer, InMemoryChannelLayer) else 0.3
        messages = []
        while True:
            try:
                messages.append(self.receive(timeout=quiet))
            except TimeoutError:
                return messages

    def close(self) -> None:
        if hasattr(self.layer, "flush"):
            self._run(self.layer.flush())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture
def subscribe():
    subscribers: list[Subscriber] = []

    def make(*groups: str) -> Subscriber:
        subscribers.append(Subscriber(*groups))
        return subscribers[-1]

    yield make
    for subscriber in subscribers:
        subscriber.close()


# Written with the change ------------------------------------------------------------------------


def test_publish_writes_outbox_rows_with_increasing_sequence_inside_the_transaction(
    db, subscribe, django_capture_on_commit_callbacks
):
    supervisors = subscribe(SUPERVISORS)
    with django_capture_on_commit_callbacks(execute=True) as relays:
        with transaction.atomic():
            first = publish("ticket.dispatch", {"id": 1}, [SUPERVISORS, "department.3", SUPERVISORS])
            second = publish("ticket.accept", {"id": 1}, [SUPERVISORS])
            assert list(OutboxEvent.objects.values_list("id", "type")) == [
                (first.id, "ticket.dispatch"),
                (second.id, "ticket.accept"),
            ]
        assert second.id > first.id
        assert first.groups == ["department.3", SUPERVISORS]
        # Numbered in each stream: a socket of department.3 sees 1, then whatever comes next there.
        assert first.seqs == {"department.3": 1, SUPERVISORS: 1} and second.seqs == {SUPERVISORS: 2}
        assert supervisors.receive_all() == []  # nothing leaves before the commit

    assert relays  # the relay waits for the commit
    received = supervisors.receive_all()
    assert [(m["id"], m["stream"], m["seq"]) for m in received] == [
        (first.id, SUPERVISORS, 1),
        (second.id, SUPERVISORS, 2),
    ]
    assert dict(Stream.objects.values_list("name", "seq")) == {"department.3": 1, SUPERVISORS: 2}
    assert stream_seqs(["department.3", SUPERVISORS, "department.4"]) == {
        "department.3": 1,
        SUPERVISORS: 2,
        "department.4": 0,
    }


def test_publish_outside_a_transaction_numbers_and_relays_at_once(transactional_db, subscribe):
    supervisors = subscribe(SUPERVISORS)
    event = publish("queue.state", {"queue": "hotline"}, [SUPERVISORS])
    assert event.seqs == {SUPERVISORS: 1}
    assert [(m["id"], m["seq"]) for m in supervisors.receive_all()] == [(event.id, 1)]


def test_a_rolled_back_change_leaves_no_event_and_sends_nothing(
    operator, subscribe, django_capture_on_commit_callbacks
):
    supervisors = subscribe(SUPERVISORS)
    with django_capture_on_commit_callbacks(execute=True) as relays:
        # Creating succeeds and publishes ticket.create; registering then fails, so all is undone.
        with pytest.raises(ValidationError, match="description"):
            actions.ticket_create(actor=operator, kind="complaint")

    assert relays == []
    assert not Ticket.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not Stream.objects.exists()  # the numbers are rolled back too: no gap for the sockets
    assert supervisors.receive_all() == []


def test_after_commit_each_group_receives_its_events_in_order(
    make_ticket, water, housing, subscribe, django_capture_on_commit_callbacks
):
    supervisors, water_inbox, housing_inbox = (
        subscribe(SUPERVISORS),
        subscribe(department_group(water.pk)),
        subscribe(department_group(housing.pk)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(Status.ACCEPTED)

    events = list(OutboxEvent.objects.order_by("id"))
    assert [e.type for e in events] == ["ticket.create", "ticket.register", "ticket.dispatch", "ticket.accept"]
    assert all(e.relayed_at is not None for e in events)
    received = supervisors.receive_all()
    assert [m["type"] for m in received] == [MESSAGE_TYPE] * 4
    assert [(m["id"], m["event"], m["payload"]) for m in received] == [(e.id, e.type, e.payload) for e in events]
    assert [m["seq"] for m in received] == [1, 2, 3, 4]
    water_events = water_inbox.receive_all()
    assert [(m["event"], m["stream"], m["seq"]) for m in water_events] == [
        ("ticket.dispatch", department_group(water.pk), 1),
        ("ticket.accept", department_group(water.pk), 2),
    ]
    assert housing_inbox.receive_all() == []  # never another department's tickets
    assert received[-1]["payload"]["ticket"] == ticket.number


def test_events_carry_ids_and_changed_fields_never_personal_data(citizen, make_ticket, operator):
    ticket = make_ticket(Status.REPLIED, citizen=citizen, caller_number="13800138000", address=citizen.address)
    actions.ticket_update(ticket, actor=operator, version=None, caller_number="0752-2345678", address="江北街道9号")

    assert OutboxEvent.objects.count() == 6
    for event in OutboxEvent.objects.all():
        assert set(event.payload) == EVENT_KEYS
        text = json.dumps(event.payload, ensure_ascii=False)
        for secret in (VALID_ID, "13800138000", "7522345678", citizen.name, citizen.address, "江北街道9号"):
            assert secret not in text, (event.type, secret)
    edit = OutboxEvent.objects.get(type="ticket.edit")
    assert edit.payload["changed"] == ["address", "caller_number"]
    assert edit.payload["id"] == ticket.pk


# Redis down, then back ---------------------------------------------------------------------------


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


def _pubsub(address: str, **options) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # A prefix of its own: pub/sub channels are shared by every database of the server.
            "CONFIG": {"hosts": [{"address": address, **options}], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        }
    }


@pytest.mark.skipif(not _redis_reachable(), reason="needs Redis on 127.0.0.1:6379")
def test_saving_works_while_redis_is_down_and_the_relay_catches_up_when_it_returns(
    api, operator, water, settings, subscribe, django_capture_on_commit_callbacks, caplog
):
    settings.CHANNEL_LAYERS = _pubsub("redis://127.0.0.1:1/0", socket_connect_timeout=1)  # nothing listens there
    api.as_user(operator)

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/tickets/", {"kind": "complaint", "description": "小区停水"}, format="json")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    with django_capture_on_commit_callbacks(execute=True):
        dispatched = api.post(f"/api/tickets/{number}/dispatch/", {"department": water.pk}, format="json")
    assert dispatched.status_code == 200, dispatched.content
    assert time.monotonic() - started < 2
    owed = list(OutboxEvent.objects.filter(relayed_at__isnull=True).order_by("id"))
    assert [e.type for e in owed] == ["ticket.create", "ticket.register", "ticket.dispatch"]
    assert "event relay paused" in caplog.text

    settings.CHANNEL_LAYERS = _pubsub(REDIS)  # Redis is back
    supervisors = subscribe(SUPERVISORS).ready()

    assert relay_outbox.apply().get() == 3

    assert [(m["id"], m["event"]) for m in supervisors.receive_all()] == [(e.id, e.type) for e in owed]
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()
    assert relay_pending() == 0  # nothing is sent twice
    assert supervisors.receive_all(quiet=0.2) == []


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of the test's own, to stop and start again on the same port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server on the PATH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running: list[subprocess.Popen] = []

    def start() -> None:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
        running.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))  # noqa: S603 - fixed arguments
        for _attempt in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop() -> None:
        server = running.pop()
        server.terminate()
        server.wait(timeout=5)

    yield SimpleNamespace(url=f"redis://127.0.0.1:{port}/0", start=start, stop=stop)
    while running:
        stop()


def test_when_the_same_redis_returns_owed_events_go_out_and_saves_relay_again(
    own_redis, operator, settings, subscribe, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = _pubsub(own_redis.url, socket_connect_timeout=1)
    with django_capture_on_commit_callbacks(execute=True):
        first = actions.ticket_create(actor=operator, title="停电")  # Redis is not running yet
    owed = list(OutboxEvent.objects.filter(relayed_at__isnull=True).values_list("id", flat=True))
    assert len(owed) == 2

    own_redis.start()
    supervisors = subscribe(SUPERVISORS).ready()
    assert relay_outbox.apply().get() == 2
    with django_capture_on_commit_callbacks(execute=True):
        second = actions.ticket_create(actor=operator, title="停气")  # relayed on commit again

    received = supervisors.receive_all()
    assert [m["id"] for m in received] == sorted(OutboxEvent.objects.values_list("id", flat=True))
    assert [m["seq"] for m in received] == [1, 2, 3, 4]  # nothing lost while Redis was down
    assert [m["payload"]["ticket"] for m in received] == [first.number] * 2 + [second.number] * 2
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()


def test_after_a_failure_saves_leave_the_relay_to_the_periodic_task(
    operator, settings, django_capture_on_commit_callbacks
):
    """A hung Redis answers nothing until socket_timeout: one save may wait for it, not every save."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen()  # accepts connections, never answers
    try:
        settings.CHANNEL_LAYERS = _pubsub(f"redis://127.0.0.1:{hung.getsockname()[1]}/0", socket_timeout=0.5)
        timings = []
        for title in ("第一单", "第二单", "第三单"):
            started = time.monotonic()
            with django_capture_on_commit_callbacks(execute=True):
                actions.ticket_create(actor=operator, title=title)
            timings.append(time.monotonic() - started)
    finally:
        hung.close()

    assert timings[0] >= 0.5  # the first save found out
    assert max(timings[1:]) < 0.4  # the next ones did not wait again
    assert OutboxEvent.objects.filter(relayed_at__isnull=True).count() == 6


@pytest.mark.skipif(not _redis_reachable(), reason="needs Redis on 127.0.0.1:6379")
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent relays need concurrent writers")
@pytest.mark.django_db(transaction=True)
def test_relays_running_at_once_send_each_event_once_and_in_order(settings, subscribe):
    settings.CHANNEL_LAYERS = _pubsub(REDIS)
    with transaction.atomic():
        for i in range(60):
            publish("ticket.test", {"id": i}, [SUPERVISORS])
    OutboxEvent.objects.update(relayed_at=None)  # as if every on-commit relay had failed
    supervisors = subscribe(SUPERVISORS).ready()
    barrier = threading.Barrier(3)

    def relay(wait: bool) -> None:
        try:
            barrier.wait(timeout=5)
            relay_pending(limit=7, wait=wait)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay, args=(wait,)) for wait in (True, True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    received = supervisors.receive_all()
    assert [m["id"] for m in received] == sorted(OutboxEvent.objects.values_list("id", flat=True))
    assert [m["seq"] for m in received] == list(range(1, 61))
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()


def test_a_save_after_an_outage_sends_one_batch_and_leaves_the_backlog_to_the_periodic_task(
    make_ticket, operator, django_capture_on_commit_callbacks, monkeypatch
):
    from dashboards import publish as publisher
    from dashboards.tasks import relay_outbox

    monkeypatch.setattr(publisher, "RELAY_BATCH", 3)
    for _ in range(3):
        make_ticket(Status.REGISTERED)  # six events owed, as if Redis had been down
    OutboxEvent.objects.update(relayed_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        actions.ticket_create(actor=operator, description="停电")  # two more events, two relays
    owed = OutboxEvent.objects.filter(relayed_at__isnull=True).count()
    assert owed == 8 - 2 * 3, "each after-commit relay must stop after one batch"
    relay_outbox()
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()


def test_a_transaction_that_published_several_events_relays_them_in_one_go(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    from dashboards import publish as publisher

    runs = []
    real = publisher.relay_pending

    def relay(*args, **kwargs):
        runs.append(real(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(publisher, "relay_pending", relay)
    with django_capture_on_commit_callbacks(execute=True) as hooks, transaction.atomic():
        for i in range(3):
            publish("ticket.test", {"id": i}, [SUPERVISORS])
    assert len(hooks) == 3  # one per event, as registered
    assert runs == [3]  # the first sent all three; the others saw theirs sent
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()


def test_a_relay_after_a_save_also_sends_what_was_committed_while_it_sent(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    """Another writer's relay that found this one busy left its event to it: it must not wait for the periodic task."""
    from dashboards import publish as publisher

    batches = []
    real = publisher._send_batch

    def send(layer, batch):
        batches.append([event.type for event in batch])
        if len(batches) == 1:  # committed meanwhile by another writer (here: in the relay's own transaction)
            OutboxEvent.objects.create(type="ticket.late", payload={}, groups=[SUPERVISORS], seqs={})
        return real(layer, batch)

    monkeypatch.setattr(publisher, "_send_batch", send)
    with django_capture_on_commit_callbacks(execute=True):
        publish("ticket.first", {}, [SUPERVISORS])
    assert batches == [["ticket.first"], ["ticket.late"]]
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()


def test_relays_outside_an_event_loop_share_one_loop_per_process():
    from dashboards import publish as publisher

    loop = publisher._relay_loop()
    assert publisher._relay_loop() is loop
    assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, result="ran"), loop).result(timeout=5) == "ran"
