"""The bridge's database threads: steps in one transaction each, on-commit hooks batched, few connections."""

import threading
import time

import pytest
from django.db import connection, transaction

from telephony.bridge import Bridge
from telephony.bridge.workers import DatabaseWorkers
from telephony.models import Call
from tests.telephony.asterisk_standin import environment
from tests.telephony.test_bridge_flows import MENU, default_main_menu, serving
from tests.telephony.test_bridge_outage import Hooked

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def workers():
    workers = DatabaseWorkers(2, hook_delay=0.05)
    yield workers
    workers.close()


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_the_same_on_commit_hook_of_many_steps_runs_once_after_the_delay(workers):
    runs = []

    def relay():  # as the publisher's relay: registered on every commit, sends whatever is owed
        runs.append(threading.current_thread().name)

    def step():
        transaction.on_commit(relay)
        transaction.on_commit(relay)

    for _ in range(5):
        workers.run(step)
    assert runs == []  # not while the steps run: after them, together

    wait_until(lambda: runs)
    time.sleep(0.1)
    assert len(runs) == 1 and runs[0].startswith("agi db-")


def test_a_failed_step_rolls_back_and_its_hooks_never_run(workers):
    runs = []

    def step():
        Call.objects.create(uniqueid="1.1")
        transaction.on_commit(lambda: runs.append("hook"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        workers.run(step)
    time.sleep(0.15)
    assert runs == [] and not Call.objects.exists()


def test_without_a_delay_the_hooks_run_before_the_step_returns():
    workers = DatabaseWorkers(1, hook_delay=0)
    runs = []
    try:
        workers.run(lambda: transaction.on_commit(lambda: runs.append("hook")))
        assert runs == ["hook"]
    finally:
        workers.close()


def test_closing_runs_the_hooks_still_waiting():
    workers = DatabaseWorkers(1, hook_delay=10.0)
    runs = []
    workers.run(lambda: transaction.on_commit(lambda: runs.append("hook")))
    workers.close()
    assert runs == ["hook"]
    with pytest.raises(RuntimeError):
        workers.run(lambda: None)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts PostgreSQL backends")
def test_calls_waiting_for_the_caller_hold_no_database_connection(tmp_path):
    """Ten callers think at the menu at once: the bridge still has only its two connections open."""
    default_main_menu()
    bridge = Bridge(spool_dir=tmp_path / "spool", menu_ttl=0, db_connections=2)
    thinking = threading.Barrier(11, timeout=10)
    counted = threading.Event()

    def think():
        thinking.wait()
        counted.wait(10)

    def backends():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    with serving(bridge.handle) as start:
        server = start()
        callers = [
            Hooked(env=environment(uniqueid=f"1795834593.{n}"), digits=["1"], hooks={MENU: think}, timeout=15)
            for n in range(10)
        ]
        threads = [threading.Thread(target=caller.call, args=(server.address,)) for caller in callers]
        for thread in threads:
            thread.start()
        thinking.wait()
        held = backends()
        counted.set()
        for thread in threads:
            thread.join(15)
    bridge.close()

    assert held <= 2
    assert Call.objects.filter(ivr_path="main>consultation").count() == 10
