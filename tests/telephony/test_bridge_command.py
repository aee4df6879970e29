"""`manage.py agi_bridge`: serves calls, refuses hosts outside --allow, drains calls in progress on SIGTERM."""

import io
import signal
import socket
import threading
import time

import pytest
from django.core.management import call_command

from telephony.models import Call
from tests.telephony.asterisk_standin import AsteriskStandIn, environment
from tests.telephony.test_bridge_flows import MENU, TO_OPERATOR, default_main_menu
from tests.telephony.test_bridge_outage import Hooked

pytestmark = pytest.mark.django_db(transaction=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "agi_bridge did not start listening"
            time.sleep(0.02)


@pytest.fixture
def bridge_settings(settings, tmp_path):
    default_main_menu()
    settings.AGI_SPOOL_DIR = tmp_path / "spool"
    # No ticket numbers held: the replay loop then writes nothing while the calls run (the in-memory
    # SQLite test database locks whole tables, and a locked table sends a call to the spool).
    settings.AGI_RESERVED_NUMBERS = 0
    return settings


def run_command_with_asterisk(port, asterisk, *arguments):
    """Run agi_bridge in this (the main) thread while `asterisk(sigterm)` places calls from another one.

    SIGTERM goes to the main thread once: from `sigterm()` during a call, or after the calls. A second
    one could arrive after the command restored the default handler, and end the test run.
    """
    out, errors, sent = io.StringIO(), [], threading.Event()

    def sigterm():
        if not sent.is_set():
            sent.set()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    def place_calls():
        try:
            wait_for_port(port)
            asterisk(sigterm)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            sigterm()

    thread = threading.Thread(target=place_calls)
    thread.start()
    call_command("agi_bridge", "--host", "127.0.0.1", "--port", str(port), *arguments, stdout=out)
    thread.join(5)
    assert not errors, errors
    return out.getvalue()


def test_sigterm_stops_accepting_and_lets_the_call_in_progress_finish(bridge_settings):
    port, calls = free_port(), {}

    def asterisk(sigterm):
        calls["first"] = AsteriskStandIn(digits=["2"]).call(("127.0.0.1", port))

        def sigterm_while_the_caller_listens():
            sigterm()
            time.sleep(0.3)  # the menu prompt keeps playing after the signal

        held = Hooked(
            env=environment(uniqueid="1795834593.4"), digits=["1"], hooks={MENU: sigterm_while_the_caller_listens}
        )
        calls["held"] = held.call(("127.0.0.1", port))
        assert not held.hooks, "the held call never reached the menu"

    output = run_command_with_asterisk(port, asterisk, "--allow", "127.0.0.1, 192.0.2.0/24", "--drain-timeout", "5")

    assert f"FastAGI bridge listening on agi://127.0.0.1:{port}/hotline" in output
    assert "allowed Asterisk hosts: 127.0.0.1, 192.0.2.0/24" in output
    assert "Stopping: no new calls; waiting up to 5s for 1 in progress" in output
    assert output.rstrip().endswith("FastAGI bridge stopped")
    assert calls["held"].commands[-1] == TO_OPERATOR and calls["held"].closed_by_server
    assert Call.objects.count() == 2
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the command's handler is gone again


def test_a_host_outside_allow_is_refused(bridge_settings):
    port, calls = free_port(), {}

    def asterisk(_sigterm):
        calls["refused"] = AsteriskStandIn().call(("127.0.0.1", port))

    run_command_with_asterisk(port, asterisk, "--allow", "192.0.2.10")

    assert calls["refused"].commands == [] and not Call.objects.exists()
