"""The README's run command: one process serves pages, API, docs and the FastAGI bridge, whose events reach sockets."""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.telephony.asterisk_standin import AsteriskStandIn

ROOT = Path(__file__).resolve().parents[2]
# Migrates the run's database and signs a supervisor in (the wallboard follows every call); prints the session key.
SETUP = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from tickets.models import Role, User
call_command("migrate", verbosity=0)
user = User.objects.create_user("bz1", password="x", role=Role.SUPERVISOR)
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
print(session.session_key)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def running_platform(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("run")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG")}
    env["SQLITE_PATH"] = str(tmp_path / "run.sqlite3")
    env["HOTLINE_SPOOL_DIR"] = str(tmp_path / "spool")
    setup = [sys.executable, "manage.py", "shell", "-c", SETUP]
    session = subprocess.run(setup, cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True)
    http_port, agi_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runhotline", "--port", str(http_port), "--agi-port", str(agi_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        banner.append(line)
        if "Press Ctrl+C" in line:
            break
    else:
        process.kill()
        pytest.fail("runhotline did not start:\n" + "".join(banner))
    yield http_port, agi_port, "".join(banner), session.stdout.split()[-1]
    process.terminate()
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "FastAGI bridge stopped (drained)" in output


def test_one_process_serves_pages_api_docs_and_the_agi_port(running_platform):
    http_port, agi_port, banner, _session = running_platform
    base = f"http://127.0.0.1:{http_port}"
    assert f"{base}/api/docs/" in banner and f"agi://127.0.0.1:{agi_port}/hotline" in banner
    with urllib.request.urlopen(f"{base}/login/") as response:
        assert response.status == 200
        assert "12345" in response.read().decode()
    with urllib.request.urlopen(f"{base}/api/docs/") as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{base}/api/schema/") as response:
        assert b"openapi" in response.read()


def test_a_call_through_the_embedded_bridge_reaches_the_wallboards_socket_at_once(running_platform):
    http_port, agi_port, _banner, session = running_platform
    events = EventSocket(http_port, cookie=f"sessionid={session}")
    assert events.receive()["type"] == "snapshot"

    record = AsteriskStandIn(digits=["2"]).call(("127.0.0.1", agi_port))
    sent = time.monotonic()

    number = record.variables["HOTLINE_TICKET"]
    assert number.isdigit() and record.variables["HOTLINE_KIND"] == "complaint"
    received = {}
    while "call.ivr" not in received:
        message = events.receive(timeout=5)
        received[message["event"]] = message["payload"]
    # Through daphne's own loop: no waiting for its next timer (about a second) to wake the consumer.
    assert time.monotonic() - sent < 0.5
    assert received["call.open"]["ticket"] == number and received["call.open"]["uniqueid"] == "1795834593.3"
    assert "13800138000" not in json.dumps(received)


class EventSocket:
    """Just enough of a websocket client for /ws/events/: the handshake, then unmasked text frames."""

    def __init__(self, port: int, *, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws/events/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def receive(self, timeout: float = 5.0) -> dict:
        self.sock.settimeout(timeout)
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._take(8))
        assert first & 0x0F == 1, "expected a text frame"
        return json.loads(self._take(length))

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _take(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the websocket")
        self.buffer += chunk
