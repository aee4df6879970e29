"""The dashboards benchmark's pieces still work: a check, not a benchmark (bench/README.md)."""

import asyncio

import pytest
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator

from bench.ws_clients import Hub, Socket
from bench.ws_load import interleave

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY
    channel_layers.backends.clear()
    yield get_channel_layer()
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)  # channels closes stale database connections on each message
async def test_the_noop_app_joins_its_group_and_forwards_its_events(in_memory_layer):
    from bench.ws_noop import application

    communicator = WebsocketCommunicator(application, "/ws/noop/?group=noop.operators")
    connected, _subprotocol = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"type": "hello", "stream": "noop.operators"}
    message = {"id": 7, "stream": "noop.operators", "seq": 1, "event": "ticket.edit", "payload": {"id": 3}}
    await in_memory_layer.group_send("noop.operators", {"type": "hotline.event", **message})
    assert await communicator.receive_json_from() == {"type": "event", **message}
    await communicator.disconnect()


class FakeWebsocket:
    def __init__(self):
        self.sent = []

    async def send(self, text):
        self.sent.append(text)


async def test_a_client_counts_what_it_got_and_resyncs_on_a_gap_as_live_js_does():
    hub = Hub("project")
    socket = Socket(hub, "ws://unused", None, "test")
    socket.websocket = FakeWebsocket()
    socket.last = {"operators": 5, "operator.1": 0}
    tally = hub.begin("steady")

    def event(seq):
        payload = {"id": seq, "bench": {"n": seq, "t": 100.0}}
        return {
            "type": "event",
            "stream": "operators",
            "seq": seq,
            "id": seq,
            "event": "ticket.edit",
            "payload": payload,
        }

    socket._handle(event(6), 100.01)
    socket._handle(event(8), 100.02)  # 7 is missing: ask for a snapshot
    socket._handle(event(9), 100.03)  # one resync is enough
    socket._handle({"type": "snapshot", "streams": {"operators": 9, "operator.1": 0}}, 100.5)
    socket._handle(event(9), 100.6)  # already in the snapshot: ignored by the protocol
    await asyncio.sleep(0)  # the resync is sent by a task

    assert tally.gaps == 1 and tally.snapshots == 1 and tally.messages == 4
    assert [round(latency, 3) for latency in tally.latencies[:3]] == [0.01, 0.02, 0.03]
    assert len(socket.websocket.sent) == 1
    assert socket.missing({"operators": (6, 10)}) == (1, 1)  # 7 repaired by the snapshot, 10 never came
    assert socket.caught_up({"operators": (6, 9)}) and not socket.caught_up({"operators": (6, 10)})


async def test_a_heartbeat_the_stream_did_not_catch_up_with_by_the_next_one_asks_for_a_snapshot():
    hub = Hub("project")
    socket = Socket(hub, "ws://unused", None, "test")
    socket.websocket = FakeWebsocket()
    socket.last = {"supervisors": 3}
    socket._handle({"type": "heartbeat", "streams": {"supervisors": 4}}, 1.0)  # 4 may still be on its way
    await asyncio.sleep(0)
    assert socket.websocket.sent == []
    socket._handle({"type": "heartbeat", "streams": {"supervisors": 4}}, 26.0)
    await asyncio.sleep(0)
    assert len(socket.websocket.sent) == 1


def test_users_are_interleaved_so_that_every_run_of_them_has_the_whole_mix():
    users = [{"role": "operator", "n": n} for n in range(6)] + [{"role": "supervisor", "n": 0}]
    users += [{"role": "department", "n": n} for n in range(3)]
    ordered = interleave(users)
    assert sorted(map(id, ordered)) == sorted(map(id, users))
    assert [user["role"] for user in ordered[:3]] == ["operator", "department", "operator"]
    assert {user["role"] for user in ordered[:6]} == {"operator", "supervisor", "department"}
