"""End-to-end fixtures: headless Chromium, the whole platform in subprocesses on a database of its own, the stand-ins.

The platform runs as it is started in real life: `manage.py runhotline` (pages, websockets, FastAGI
bridge, periodic jobs) on a freshly migrated database with the demo city loaded. With REDIS_URL the
AMI listener is `manage.py ami_listener` beside it (runhotline --no-ami); without, the in-memory layer
only reaches one process, and runhotline runs the listener itself, as the embedded mode does.
The database: a temporary SQLite file, or with DATABASE_URL (PostgreSQL) a database
`<name>_e2e_<pid>` on that server, created and dropped here. Asterisk is the tests' stand-ins: the AGI
stand-in calls the bridge's port, the listener logs in to the AMI stand-in.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.telephony.ami_standin import AmiStandin, Member

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright's own browsers are never downloaded
START_TIMEOUT = 60.0
DROP_TIMEOUT = 30


def _missing(reason: str) -> None:
    """Skip on a developer's machine; in CI (CI=true), which installs the browser, a missing one is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must have it: .ci/run installs chromium, constraints.txt pins playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    for candidate in (CHROMIUM, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _missing("the end-to-end test needs Chromium: apt-get install chromium")


@pytest.fixture(scope="module")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the end-to-end test needs Playwright: pip install -c constraints.txt -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where the screenshots and the servers' logs go (kept after the run; git ignores the default)."""
    path = Path(os.environ.get("E2E_ARTEFACTS") or ROOT / "test-artifacts" / "e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Hotline:
    url: str
    agi: tuple[str, int]
    ami: AmiStandin
    facts: dict  # what tests/e2e/server.py prepare printed: logins, department, category, the caller
    logs: list[Path] = field(default_factory=list)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) for log in self.logs
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Database:
    """The platform's own database: a SQLite file, or `<name>_e2e_<pid>` beside DATABASE_URL's PostgreSQL one.

    The pid keeps two runs on one server apart. Dropping may wait on a busy server (DROP DATABASE
    waits until every backend has released its files, and a long statement elsewhere delays that):
    after DROP_TIMEOUT the database is left behind with a warning, and the next run drops the
    databases of runs that are gone.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.url = os.environ.get("DATABASE_URL", "")
        self.sqlite = str(tmp_path / "hotline.sqlite3")
        self.name = ""
        if self.url.startswith(("postgres://", "postgresql://")):
            parts = urlsplit(self.url)
            self.prefix = f"{parts.path.lstrip('/') or 'postgres'}_e2e_"
            self.name = f"{self.prefix}{os.getpid()}"
            self.own_url = urlunsplit(parts._replace(path=f"/{self.name}"))
            self.admin_url = urlunsplit(parts._replace(path="/postgres"))

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.own_url} if self.name else {"SQLITE_PATH": self.sqlite}

    def create(self) -> None:
        if not self.name:
            return
        with self._connect() as connection:
            names = connection.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [self.prefix])
            for (name,) in names.fetchall():
                pid = name.removeprefix(self.prefix)
                if name == self.name or (pid.isdigit() and not _running(int(pid))):
                    self._drop(connection, name)
            self._execute(connection, "CREATE DATABASE {}", self.name)

    def drop(self) -> None:
        if not self.name:
            return
        with self._connect() as connection:
            self._drop(connection, self.name)

    def _connect(self):
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True)

    def _drop(self, connection, name: str) -> None:
        import psycopg

        try:
            connection.execute(f"SET statement_timeout = '{DROP_TIMEOUT}s'")
            self._execute(connection, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
        except psycopg.errors.QueryCanceled:
            warnings.warn(f"database {name} not dropped within {DROP_TIMEOUT} s: the next run drops it", stacklevel=2)
        finally:
            connection.execute("RESET statement_timeout")

    @staticmethod
    def _execute(connection, statement: str, name: str) -> None:
        from psycopg import sql

        connection.execute(sql.SQL(statement).format(sql.Identifier(name)))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _platform_env(tmp_path: Path, database: _Database, ami: AmiStandin) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG")}
    env.update(database.env())
    env.update(
        HOTLINE_VAR_DIR=str(tmp_path),
        HOTLINE_SPOOL_DIR=str(tmp_path / "spool"),
        HOTLINE_AMI_HOST="127.0.0.1",
        HOTLINE_AMI_PORT=str(ami.port),
        HOTLINE_AMI_USERNAME=ami.username,
        HOTLINE_AMI_SECRET=ami.secret,
        HOTLINE_AGI_DRAIN_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
        # Pub/sub channels ignore the database number, and a run beside this one (same demo, same ids,
        # same group names) must not reach these sockets: a prefix of this run's own.
        env["HOTLINE_LAYER_PREFIX"] = f"{os.environ.get('HOTLINE_LAYER_PREFIX', 'asgi')}-e2e{os.getpid()}"
    return env


def _wait_until_serving(hotline: Hotline, processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{hotline.log_tail()}")
        try:
            with urllib.request.urlopen(f"{hotline.url}/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # a port that is not open yet gives nothing to wait on but time
    pytest.fail(f"the platform did not answer on {hotline.url} within {START_TIMEOUT:.0f} s:\n{hotline.log_tail()}")


def _stop(processes: dict[str, subprocess.Popen]) -> list[str]:
    """SIGTERM each process (the bridge drains, the listener logs off); say which did not end cleanly."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    problems = []
    for name, process in processes.items():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            problems.append(f"{name} ignored SIGTERM and was killed")
        else:
            if process.returncode != 0:
                problems.append(f"{name} exited with {process.returncode}")
    return problems


def _prepare(env: dict[str, str]) -> dict:
    """Migrate, load the demo city and the routing rule; the facts the test checks."""
    command = [sys.executable, "-m", "tests.e2e.server", "prepare"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        pytest.fail(f"preparing the demo database failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _commands(env: dict[str, str], http_port: int, agi_port: int) -> dict[str, list[str]]:
    ports = ["--port", str(http_port), "--agi-port", str(agi_port)]
    if env.get("REDIS_URL"):
        return {
            "runhotline": [sys.executable, "manage.py", "runhotline", "--no-ami", *ports],
            "ami_listener": [sys.executable, "manage.py", "ami_listener"],
        }
    # The in-memory layer reaches one process's sockets only: runhotline runs the AMI listener itself.
    return {"runhotline": [sys.executable, "manage.py", "runhotline", *ports]}


@pytest.fixture(scope="module")
def hotline(tmp_path_factory, artefacts) -> Iterator[Hotline]:
    tmp_path = tmp_path_factory.mktemp("platform")
    database = _Database(tmp_path)
    processes: dict[str, subprocess.Popen] = {}
    with AmiStandin() as ami:
        # The operator's phone is logged in to the queue: the wallboard counts them once the listener syncs.
        ami.queues["hotline"].members = [Member("PJSIP/8001")]
        env = _platform_env(tmp_path, database, ami)
        database.create()
        try:
            facts = _prepare(env)
            http_port, agi_port = free_port(), free_port()
            hotline = Hotline(f"http://127.0.0.1:{http_port}", ("127.0.0.1", agi_port), ami, facts)
            for name, command in _commands(env, http_port, agi_port).items():
                log = artefacts / f"{name}.log"
                hotline.logs.append(log)
                with log.open("w") as output:
                    processes[name] = subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
                    )
            _wait_until_serving(hotline, processes)
            ami.wait_action("QueueStatus", timeout=START_TIMEOUT)  # the listener logged in and is syncing
            yield hotline
        finally:
            problems = _stop(processes)
            database.drop()
    assert not problems, f"{problems}\n{hotline.log_tail()}"
