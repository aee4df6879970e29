"""The FastAGI load generator speaks what the servers expect: a few calls, not a benchmark (bench/README.md)."""

import asyncio

import pytest

from bench.agi_load import LoadGenerator, Result
from bench.agi_servers import caller_numbers, noop_handler
from telephony.agi.server import FastAGIServer
from telephony.bridge import Bridge
from telephony.models import Call
from tests.telephony.test_bridge_flows import default_main_menu


def test_the_load_generator_completes_calls_on_the_noop_server():
    server = FastAGIServer(noop_handler, port=0, close_linger=0.2)
    server.start()
    result = Result("closed")
    try:
        asyncio.run(LoadGenerator(caller_numbers(3)).closed_loop(server.address[1], result, callers=5, seconds=0.3))
    finally:
        server.stop(timeout=2)
    assert result.completed > 5 and not result.errors
    assert len(set(result.tickets)) == result.placed  # a new uniqueid for every call


@pytest.mark.django_db(transaction=True)
def test_every_call_the_load_generator_places_on_the_bridge_leaves_one_call_and_its_ticket(tmp_path):
    default_main_menu()
    bridge = Bridge(spool_dir=tmp_path / "spool", menu_ttl=0)
    server = FastAGIServer(bridge.handle, port=0, close_linger=0.2)
    server.start()
    result = Result("open")
    try:
        generator = LoadGenerator(caller_numbers(3))
        asyncio.run(generator.open_loop(server.address[1], result, rate=50, seconds=0.2, think=0.0))
    finally:
        server.stop(timeout=2)
        bridge.close()
    assert result.completed == result.placed == 10 and not result.errors
    stored = dict(Call.objects.values_list("uniqueid", "ticket__number"))
    assert stored == result.tickets
