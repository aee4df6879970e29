"""The websocket endpoint: session auth, origin check, and per-department groups."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections

from callcentre.asgi import application
from tickets import actions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    """Overrides the suite's in-memory default: with REDIS_URL set, sockets run on the production layer."""
    if settings.REDIS_URL:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
            }
        }
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
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


async def connect(user=None, origin=b"http://localhost"):
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, _code = await communicator.connect()
    return communicator, connected


async def test_anonymous_socket_is_refused():
    communicator, connected = await connect()
    assert not connected
    await communicator.disconnect()


async def test_socket_from_a_foreign_origin_is_refused(operator):
    communicator, connected = await connect(operator, origin=b"http://evil.example")
    assert not connected
    await communicator.disconnect()


async def test_department_socket_gets_its_own_ticket_events_and_not_others(make_ticket, water_staff, housing_staff):
    water_socket, ok_water = await connect(water_staff)
    housing_socket, ok_housing = await connect(housing_staff)
    assert ok_water and ok_housing
    assert (await water_socket.receive_json_from())["type"] == "hello"
    assert (await housing_socket.receive_json_from())["type"] == "hello"

    ticket = await sync_to_async(make_ticket)("dispatched")

    message = await water_socket.receive_json_from(timeout=2)
    assert message["event"] == "ticket.dispatch"
    assert message["payload"]["ticket"] == ticket.number
    assert isinstance(message["seq"], int)
    assert await housing_socket.receive_nothing(timeout=0.3)
    await water_socket.disconnect()
    await housing_socket.disconnect()


async def test_supervisor_socket_sees_every_change_in_sequence(supervisor, operator, water):
    socket, connected = await connect(supervisor)
    assert connected
    await socket.receive_json_from()
    ticket = await sync_to_async(actions.ticket_create)(
        actor=operator, kind="consultation", description="公积金怎么提取"
    )
    await sync_to_async(actions.ticket_dispatch)(ticket, actor=operator, department=water)
    events = [await socket.receive_json_from(timeout=2) for _ in range(3)]
    assert [e["event"] for e in events] == ["ticket.create", "ticket.register", "ticket.dispatch"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    await socket.disconnect()
