"""The live socket: session auth, origin check, views by role, snapshot then numbered deltas, resync.

Every test drives the real ASGI application (origin validator, session middleware, router). With
REDIS_URL set the sockets run on the production pub/sub layer, otherwise on the in-memory one.
"""

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.layers import channel_layers, get_channel_layer
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from django.urls import path
from django.utils import timezone

from callcentre.asgi import application
from dashboards.consumers import EventsConsumer
from dashboards.models import OutboxEvent, Stream
from dashboards.publish import OPERATORS, SUPERVISORS, department_group, operator_group, publish
from tests.conftest import VALID_ID
from tests.factories import UserFactory
from tickets import actions
from tickets.models import Role, Status

pytestmark = pytest.mark.django_db(transaction=True)

# The citizen fixture's phone, its E.164 form, and the ID number: none may reach a socket.
UNMASKED = (VALID_ID, "13800138000", "+8613800138000")


def _pubsub(prefix: str) -> dict:
    return {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # A prefix of its own: pub/sub channels are shared by every database of the server.
        "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": prefix},
    }


@pytest.fixture(autouse=True)
def _layer(settings):
    """Overrides the suite's in-memory default: with REDIS_URL set, sockets run on the production layer."""
    if settings.REDIS_URL:
        settings.CHANNEL_LAYERS = {"default": _pubsub(f"test-{uuid.uuid4().hex[:8]}")}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
async def _close_thread_connections(transactional_db):
    """Sync code called from these async tests opens a connection in asgiref's worker thread; close it
    so PostgreSQL can drop the test database afterwards."""
    yield
    await sync_to_async(connections.close_all)()


def session_cookie(user) -> bytes:
    """The cookie a browser holds after signing in."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


class Socket:
    """A browser's socket to /ws/events/, reading JSON messages."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator

    async def receive(self, timeout: float = 2.0) -> dict:
        return await self.communicator.receive_json_from(timeout=timeout)

    async def send(self, message: dict) -> None:
        await self.communicator.send_json_to(message)

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close_code(self) -> int:
        output = await self.communicator.receive_output(timeout=2)
        assert output["type"] == "websocket.close", output
        return output["code"]

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(user=None, *, view=None, origin=b"http://localhost", app=application, headers=()):
    """Open a socket the way a page does; returns (socket, accepted)."""
    all_headers = [(b"host", b"localhost"), *headers]
    if origin is not None:
        all_headers.append((b"origin", origin))
    if user is not None:
        all_headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    url = "/ws/events/" + (f"?view={view}" if view else "")
    communicator = WebsocketCommunicator(app, url, headers=all_headers)
    connected, _subprotocol = await communicator.connect()
    return Socket(communicator), connected


async def live(user, view=None, **kwargs) -> tuple[Socket, dict]:
    """A socket that was accepted, and its first message (the snapshot)."""
    socket, connected = await open_socket(user, view=view, **kwargs)
    assert connected
    snapshot = await socket.receive()
    assert snapshot["type"] == "snapshot", snapshot
    return socket, snapshot


def lose_an_event(group: str) -> OutboxEvent:
    """An event of `group` that never reaches the sockets, as if the layer had dropped it."""
    with transaction.atomic():
        event = publish("ticket.lost", {"ticket": "lost"}, [group])
        OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=timezone.now())
    return event


# Who may connect -----------------------------------------------------------------------------------


async def test_anonymous_socket_is_closed_with_4401():
    socket, accepted = await open_socket()
    # Accepted only to be closed with a code the page can read: "signed out", do not retry.
    assert accepted
    assert await socket.close_code() == 4401


async def test_socket_from_a_foreign_origin_is_refused(operator):
    socket, accepted = await open_socket(operator, origin=b"http://evil.example")
    assert not accepted
    await socket.close()


async def test_socket_without_an_origin_is_refused(operator):
    socket, accepted = await open_socket(operator, origin=None)
    assert not accepted
    await socket.close()


@pytest.mark.parametrize(
    ("user_fixture", "view"),
    [
        ("operator", "supervisor"),
        ("operator", "department"),
        ("supervisor", "operator"),
        ("supervisor", "department"),
        ("water_staff", "operator"),
        ("water_staff", "supervisor"),
        ("admin_user", "department"),
    ],
)
async def test_a_view_the_role_may_not_see_is_closed_with_4403(request, user_fixture, view):
    user = await sync_to_async(request.getfixturevalue)(user_fixture)
    socket, accepted = await open_socket(user, view=view)
    assert accepted
    assert await socket.close_code() == 4403


async def test_an_unknown_view_is_closed_with_4400(supervisor):
    socket, _accepted = await open_socket(supervisor, view="wallboard-of-doom")
    assert await socket.close_code() == 4400


@pytest.mark.parametrize(
    ("user_fixture", "view", "streams"),
    [
        ("supervisor", "supervisor", lambda user: [SUPERVISORS]),
        ("admin_user", "supervisor", lambda user: [SUPERVISORS]),
        ("operator", "operator", lambda user: [OPERATORS, operator_group(user.pk)]),
        ("water_staff", "department", lambda user: [department_group(user.department_id)]),
    ],
)
async def test_without_a_view_the_socket_gets_the_landing_page_of_the_role(request, user_fixture, view, streams):
    user = await sync_to_async(request.getfixturevalue)(user_fixture)
    socket, snapshot = await live(user)
    assert snapshot["view"] == view
    assert sorted(snapshot["streams"]) == sorted(streams(user))
    assert snapshot["user"] == {"id": user.pk, "username": user.username}
    await socket.close()


# Snapshot, then deltas ---------------------------------------------------------------------------


async def test_snapshot_then_deltas_numbered_one_by_one_in_the_stream(supervisor, operator, water, make_ticket):
    await sync_to_async(make_ticket)(Status.DISPATCHED, title="早先的工单")
    socket, snapshot = await live(supervisor, "supervisor")
    start = snapshot["streams"][SUPERVISORS]
    assert start == await sync_to_async(lambda: Stream.objects.get(name=SUPERVISORS).seq)()
    assert snapshot["data"]["tickets"]["status_counts"][Status.DISPATCHED] == 1
    assert snapshot["heartbeat"] == settings.LIVE_HEARTBEAT_SECONDS

    ticket = await sync_to_async(actions.ticket_create)(
        actor=operator, kind="consultation", description="公积金怎么提取"
    )
    await sync_to_async(actions.ticket_dispatch)(ticket, actor=operator, department=water)

    events = [await socket.receive() for _ in range(3)]
    assert [e["type"] for e in events] == ["event"] * 3
    assert [e["event"] for e in events] == ["ticket.create", "ticket.register", "ticket.dispatch"]
    assert [e["stream"] for e in events] == [SUPERVISORS] * 3
    assert [e["seq"] for e in events] == [start + 1, start + 2, start + 3]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # the global id orders them too
    assert events[-1]["payload"]["ticket"] == ticket.number
    assert events[-1]["payload"]["from"] == Status.REGISTERED and events[-1]["payload"]["status"] == Status.DISPATCHED
    await socket.close()


async def test_department_stream_has_no_gaps_although_the_global_ids_do(water_staff, housing, operator, make_ticket):
    socket, snapshot = await live(water_staff, "department")
    stream = department_group(water_staff.department_id)
    first = await sync_to_async(make_ticket)(Status.DISPATCHED)
    await sync_to_async(make_ticket)(Status.REGISTERED)  # events for supervisors and operators only
    second = await sync_to_async(make_ticket)(Status.DISPATCHED)

    events = [await socket.receive() for _ in range(2)]
    assert [e["payload"]["ticket"] for e in events] == [first.number, second.number]
    assert [e["seq"] for e in events] == [snapshot["streams"][stream] + 1, snapshot["streams"][stream] + 2]
    assert events[1]["id"] - events[0]["id"] > 1  # the global sequence moved on meanwhile
    assert await socket.nothing()
    await socket.close()


async def test_department_snapshot_lists_only_the_departments_open_tickets(
    water_staff, housing_staff, housing, operator, make_ticket
):
    own = await sync_to_async(make_ticket)(Status.ACCEPTED, title="本单位工单")
    other = await sync_to_async(make_ticket)(Status.REGISTERED)
    await sync_to_async(actions.ticket_dispatch)(other, actor=operator, department=housing)

    _socket, snapshot = await live(water_staff, "department")
    inbox = snapshot["data"]["inbox"]
    assert inbox["department"]["id"] == water_staff.department_id
    assert [row["number"] for row in inbox["rows"]] == [own.number]
    row = inbox["rows"][0]
    assert row["is_lead"] is True and row["status"] == Status.ACCEPTED and row["title"] == "本单位工单"
    assert "citizen" not in row and "caller_number" not in row
    await _socket.close()


async def test_a_department_socket_never_receives_another_departments_event(
    water_staff, housing_staff, housing, operator, make_ticket
):
    water_socket, _ = await live(water_staff, "department")
    housing_socket, housing_snapshot = await live(housing_staff, "department")

    ticket = await sync_to_async(make_ticket)(Status.ACCEPTED)  # dispatched to water, then accepted
    for expected in ("ticket.dispatch", "ticket.accept"):
        message = await water_socket.receive()
        assert message["event"] == expected and message["payload"]["ticket"] == ticket.number
    assert await housing_socket.nothing()
    assert housing_snapshot["data"]["inbox"]["rows"] == []

    # A message labelled with the other department's stream that reached this one's group anyway
    # (a wrongly addressed publish) is not forwarded.
    await get_channel_layer().group_send(
        department_group(housing.pk),
        {"type": "hotline.event", "id": 10**9, "stream": department_group(ticket.lead_department_id), "seq": 10**6,
         "event": "ticket.accept", "payload": {"ticket": ticket.number}},
    )  # fmt: skip
    assert await housing_socket.nothing()
    await water_socket.close()
    await housing_socket.close()


async def test_an_operator_never_receives_an_unmasked_id_number(operator, citizen, water, make_ticket):
    await sync_to_async(make_ticket)(Status.REGISTERED, citizen=citizen, caller_number="13800138000")
    socket, snapshot = await live(operator, "operator")
    [row] = snapshot["data"]["tickets"]["registered"]
    assert row["citizen"]["id_masked"] == "110105********002X"
    assert row["caller_number"] == "138****8000"

    ticket = await sync_to_async(actions.ticket_create)(
        actor=operator, citizen=citizen, caller_number="13800138000", kind="complaint", description="停水"
    )
    await sync_to_async(actions.ticket_dispatch)(ticket, actor=operator, department=water)
    deltas = [await socket.receive() for _ in range(3)]
    await socket.send({"type": "resync"})
    again = await socket.receive()

    text = json.dumps([snapshot, deltas, again], ensure_ascii=False)
    for secret in UNMASKED:
        assert secret not in text
    assert "110105********002X" in text
    await socket.close()


async def test_an_event_with_an_unmasked_id_number_is_never_published(operator):
    def publish_one():
        with transaction.atomic():
            publish("call.answer", {"citizen": {"id_number": VALID_ID}}, [operator_group(operator.pk)])

    with pytest.raises(ValueError, match="unmasked resident ID number"):
        await sync_to_async(publish_one)()
    assert not await sync_to_async(OutboxEvent.objects.exists)()


async def test_an_event_for_one_operator_reaches_only_that_operators_socket(operator, db):
    other = await sync_to_async(UserFactory)(role=Role.OPERATOR)
    mine, snapshot = await live(operator, "operator")
    theirs, _ = await live(other, "operator")

    def screen_pop():
        with transaction.atomic():
            publish("call.answer", {"call": 1, "ticket": "2024010100001"}, [operator_group(operator.pk)])

    await sync_to_async(screen_pop)()
    message = await mine.receive()
    assert message["event"] == "call.answer" and message["stream"] == operator_group(operator.pk)
    assert message["seq"] == snapshot["streams"][operator_group(operator.pk)] + 1
    assert await theirs.nothing()
    await mine.close()
    await theirs.close()


async def test_an_event_for_two_of_the_sockets_streams_comes_once_per_stream_with_one_id(operator):
    socket, snapshot = await live(operator, "operator")

    def both():
        with transaction.atomic():
            publish("callback.due", {"ticket": "2024010100001"}, [OPERATORS, operator_group(operator.pk)])

    await sync_to_async(both)()
    copies = [await socket.receive() for _ in range(2)]
    assert {c["stream"] for c in copies} == {OPERATORS, operator_group(operator.pk)}
    assert copies[0]["id"] == copies[1]["id"]  # the client applies it once (live.js: by id)
    for copy in copies:
        assert copy["seq"] == snapshot["streams"][copy["stream"]] + 1
    await socket.close()


# Gaps and resync -----------------------------------------------------------------------------------


async def test_after_a_lost_event_the_client_sees_the_gap_and_resyncs(water_staff, make_ticket):
    socket, snapshot = await live(water_staff, "department")
    stream = department_group(water_staff.department_id)
    last = snapshot["streams"][stream]

    await sync_to_async(lose_an_event)(stream)
    ticket = await sync_to_async(make_ticket)(Status.DISPATCHED)

    message = await socket.receive()
    assert message["seq"] == last + 2  # last + 1 never came: a gap
    await socket.send({"type": "resync"})
    fresh = await socket.receive()
    assert fresh["type"] == "snapshot"
    assert fresh["streams"][stream] == message["seq"]
    assert [row["number"] for row in fresh["data"]["inbox"]["rows"]] == [ticket.number]

    again = await sync_to_async(make_ticket)(Status.DISPATCHED)
    message = await socket.receive()
    assert message["seq"] == fresh["streams"][stream] + 1 and message["payload"]["ticket"] == again.number
    await socket.close()


async def test_events_already_in_the_snapshot_are_not_sent_again(supervisor, make_ticket):
    socket, snapshot = await live(supervisor, "supervisor")
    await sync_to_async(make_ticket)(Status.REGISTERED)
    received = [await socket.receive() for _ in range(2)]
    # A relay that failed halfway sends the same events again: the socket drops them.
    for message in received:
        await get_channel_layer().group_send(SUPERVISORS, {**message, "type": "hotline.event"})
    assert await socket.nothing()
    await socket.close()


async def test_heartbeats_carry_the_streams_last_numbers(settings, water_staff, make_ticket):
    settings.LIVE_HEARTBEAT_SECONDS = 0.2
    stream = department_group(water_staff.department_id)
    socket, snapshot = await live(water_staff, "department")
    assert snapshot["heartbeat"] == 0.2
    await sync_to_async(lose_an_event)(stream)  # a quiet stream whose last event was lost

    heartbeat = await socket.receive(timeout=3)
    assert heartbeat == {"type": "heartbeat", "streams": {stream: snapshot["streams"][stream] + 1}}
    await socket.close()


async def test_unknown_and_malformed_messages_are_answered_not_fatal(supervisor):
    socket, _ = await live(supervisor)
    await socket.send({"type": "subscribe", "view": "operator"})
    assert (await socket.receive())["type"] == "error"
    await socket.communicator.send_to(text_data="not json")
    assert (await socket.receive())["type"] == "error"
    await socket.send({"type": "resync"})
    assert (await socket.receive())["type"] == "snapshot"
    await socket.close()


async def test_snapshot_labels_follow_the_language_of_the_pages(water_staff, make_ticket):
    await sync_to_async(make_ticket)(Status.DISPATCHED, kind="complaint")
    socket, chinese = await live(water_staff, "department")
    await socket.close()
    socket, english = await live(water_staff, "department", headers=[(b"accept-language", b"en")])
    await socket.close()
    assert chinese["data"]["inbox"]["rows"][0]["kind_display"] == "投诉"
    assert english["data"]["inbox"]["rows"][0]["kind_display"] == "Complaint"


# Several processes on one Redis ------------------------------------------------------------------


class SecondProcessConsumer(EventsConsumer):
    """The same consumer on a channel layer instance of its own: another daphne process."""

    channel_layer_alias = "second"


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")
async def test_two_processes_on_one_redis_both_deliver_a_group_event(settings, water_staff, make_ticket):
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {"default": _pubsub(prefix), "second": _pubsub(prefix)}
    channel_layers.backends.clear()
    second_process = AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter([path("ws/events/", SecondProcessConsumer.as_asgi())]))
    )
    first, first_snapshot = await live(water_staff, "department")
    second, second_snapshot = await live(water_staff, "department", app=second_process)
    assert channel_layers["default"] is not channel_layers["second"]
    assert first_snapshot["streams"] == second_snapshot["streams"]

    ticket = await sync_to_async(make_ticket)(Status.DISPATCHED)  # relayed by a third: this test's own

    on_first, on_second = await first.receive(), await second.receive()
    assert on_first == on_second
    assert on_first["payload"]["ticket"] == ticket.number
    stream = department_group(water_staff.department_id)
    assert on_first["seq"] == first_snapshot["streams"][stream] + 1
    await first.close()
    await second.close()


async def test_resyncs_are_answered_at_most_once_a_second(supervisor, monkeypatch):
    from dashboards import consumers

    monkeypatch.setattr(consumers, "RESYNC_MIN_INTERVAL", 0.5)
    socket, _ = await live(supervisor)
    started = asyncio.get_running_loop().time()
    await socket.send({"type": "resync"})
    await socket.send({"type": "resync"})
    assert (await socket.receive())["type"] == "snapshot"
    assert (await socket.receive())["type"] == "snapshot"
    assert asyncio.get_running_loop().time() - started >= 0.9
    await socket.close()
