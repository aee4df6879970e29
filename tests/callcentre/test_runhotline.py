"""The README's run command: one process serves pages, API, docs and the AGI port."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def running_platform(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG")}
    env["SQLITE_PATH"] = str(tmp_path / "run.sqlite3")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
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
    yield http_port, agi_port, "".join(banner)
    process.terminate()
    process.wait(timeout=15)


def test_one_process_serves_pages_api_docs_and_the_agi_port(running_platform):
    http_port, agi_port, banner = running_platform
    base = f"http://127.0.0.1:{http_port}"
    assert f"{base}/api/docs/" in banner and f"agi://127.0.0.1:{agi_port}/hotline" in banner
    with urllib.request.urlopen(f"{base}/login/") as response:
        assert response.status == 200
        assert "12345" in response.read().decode()
    with urllib.request.urlopen(f"{base}/api/docs/") as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{base}/api/schema/") as response:
        assert b"openapi" in response.read()
    # The AGI port reads an AGI environment block and ends the session cleanly.
    with socket.create_connection(("127.0.0.1", agi_port), timeout=5) as agi:
        agi.sendall(b"agi_network: yes\nagi_uniqueid: 1795834593.3\nagi_callerid: 13800138000\n\n")
        assert agi.recv(1024) == b""
