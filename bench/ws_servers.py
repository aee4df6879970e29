"""The processes and the data behind bench/ws_load.py: bench database, users and sessions, servers, publisher.

Every process runs the production settings (DEBUG off) on the bench database and Redis db, with a
channel-layer prefix of its own (Redis pub/sub ignores the database number, so without it the
bench and a test run on the same Redis would hear each other's groups).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from bench.agi_servers import free_port, maintenance_url, pg_connect, stop_processes, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LAYER_PREFIX = "wsbench"
AMI_SECRET = "wsbench-ami"  # noqa: S105 - the AMI stand-in's, on loopback
BENCH_DEPARTMENT = "wsbench"
# The periodic relay (Celery beat's dashboards.tasks.relay_outbox in production), run by the publisher.
RELAY_SWEEP_SECONDS = 5.0


def bench_environment(database_url: str, redis_url: str, scratch: Path) -> dict[str, str]:
    """Production settings (DEBUG off) on the bench database and Redis; only bench secrets."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "callcentre.settings",
        "DJANGO_SECRET_KEY": "wsbench-secret-key-" + "x" * 40,
        "HOTLINE_PII_KEY": "wsbench-pii-key",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "HOTLINE_SPOOL_DIR": str(scratch / "spool"),
        "HOTLINE_LAYER_PREFIX": LAYER_PREFIX,
        "HOTLINE_AMI_SECRET": AMI_SECRET,
        "PYTHONUNBUFFERED": "1",
    }


def prepare_database(database_url: str, env: dict[str, str], *, keep: bool) -> None:
    """Drop and create the bench database (unless `keep`), then migrate it."""
    name = urlsplit(database_url).path.lstrip("/")
    if not keep:
        with pg_connect(maintenance_url(database_url)) as connection:
            connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603


def seed(env: dict[str, str], *, operators: int, supervisors: int, staff: int, citizens: int) -> dict[str, Any]:
    """Seed (in a child process with the bench settings) and return the users with their session keys."""
    command = [PYTHON, str(ROOT / "bench" / "ws_load.py"), "--seed-users", f"{operators},{supervisors},{staff}"]
    command += ["--seed-citizens", str(citizens)]
    output = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)  # noqa: S603
    seeded = json.loads(output.stdout.strip().splitlines()[-1])
    with pg_connect(env["DATABASE_URL"]) as connection:
        connection.execute("ANALYZE")  # planner statistics as autovacuum would have them
    return seeded


def seed_users(operators: int, supervisors: int, staff: int, citizens: int) -> int:
    """(In a child process.) Citizens who call in, one department, the users, a session each: JSON on stdout."""
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from bench.agi_servers import seed_citizens
    from tickets.models import Department, Role, User

    seed_citizens(citizens)
    department, _created = Department.objects.get_or_create(code=BENCH_DEPARTMENT, defaults={"name": "压测水务局"})
    plan = [(Role.OPERATOR, f"wsop{n:03d}", f"{8001 + n}", None) for n in range(operators)]
    plan += [(Role.SUPERVISOR, f"wssup{n:03d}", "", None) for n in range(supervisors)]
    plan += [(Role.DEPARTMENT, f"wsdep{n:03d}", "", department) for n in range(staff)]
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    users = []
    for role, username, extension, dept in plan:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username, role=role, extension=extension, department=dept)
        store = store_class()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        users.append(
            {"id": user.pk, "username": username, "role": role, "extension": extension, "session": store.session_key}
        )
    print(json.dumps({"department": department.pk, "users": users}))
    return 0


def vacuum(database_url: str) -> None:
    """What autovacuum would have done by now (it is off on some bench machines): dead rows gone, statistics fresh.

    The outbox's pending-rows index otherwise keeps an entry for every row relayed since the last vacuum,
    and the relay's query, planned from stale statistics, reads them all.
    """
    with pg_connect(database_url) as connection:
        connection.execute("VACUUM ANALYZE")


def postgres_settings(database_url: str) -> dict[str, str]:
    with pg_connect(database_url) as connection:
        return {name: connection.execute(f"SHOW {name}").fetchone()[0] for name in ("autovacuum", "fsync")}


class Processes:
    """The two daphne processes, the AGI bridge, the AMI listener and the publisher."""

    def __init__(
        self, env: dict[str, str], scratch: Path, *, log: IO[str], app: str, profile: frozenset[str] = frozenset()
    ) -> None:
        self.env, self.scratch, self.log, self.app = env, scratch, log, app
        self.profile = profile  # processes run under cProfile (their main thread), written to logs/<name>.prof
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        (scratch / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, ami_port: int) -> None:
        self.ports = {name: free_port() for name in ("project", "noop", "bridge")}
        daphne = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p"]
        commands = {
            "project": [*daphne, str(self.ports["project"]), self.app],
            "noop": [*daphne, str(self.ports["noop"]), "bench.ws_noop:application"],
            "bridge": [PYTHON, "manage.py", "agi_bridge", "--host", "127.0.0.1", "--port", str(self.ports["bridge"])],
            "listener": [PYTHON, "manage.py", "ami_listener", "--host", "127.0.0.1", "--port", str(ami_port)],
        }
        for name, command in commands.items():
            if name in self.profile:
                profile = ["-m", "cProfile", "-o", str(self.scratch / "logs" / f"{name}.prof")]
                command = [command[0], *profile, *command[1:]]
            with open(self.scratch / "logs" / f"{name}.log", "wb") as output:
                self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                    command, cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
                )
        for name, port in self.ports.items():
            wait_for_port(port, self.processes[name])
        pids = ", ".join(f"{name} {process.pid}" for name, process in self.processes.items())
        self.log.write(f"  started: {pids}\n")

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def check(self) -> None:
        """Fail loudly if a server died under load (its log says why)."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.scratch / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        stop_processes(self.processes, self.log)

    def log_text(self, name: str) -> str:
        path = self.scratch / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def rss(pid: int) -> int:
    """Resident set size of `pid` in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time `pid` has used so far, in seconds."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- The publisher ---------------------------------------------------------------------------------


class Publisher:
    """The publisher child process, driven over its stdin/stdout one JSON line per command."""

    def __init__(self, env: dict[str, str], scratch: Path) -> None:
        self.stderr = open(scratch / "logs" / "publisher.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [PYTHON, str(ROOT / "bench" / "ws_load.py"), "--publisher"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.lock = asyncio.Lock()

    async def call(self, **command: Any) -> dict[str, Any]:
        async with self.lock:
            return await asyncio.to_thread(self._call, command)

    def _call(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the publisher exited ({self.process.wait()}): see its log")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the publisher failed: {reply['error']}")
        return reply

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(b'{"op": "quit"}\n')
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def serve_publisher() -> int:
    """(In a child process.) Publish what the parent asks, through the project's publisher or group_send.

    "project": dashboards.publish.publish() outside any transaction (it opens its own, as a
    single-change action does), so each event is one commit and its relay on commit. "noop":
    channel_layer.group_send() on one event loop, with a number per group kept here. The payload is
    a ticket event's shape plus `bench`: its number and time.monotonic() just before publishing.
    """
    import django

    django.setup()
    from bench.ws_publish import BenchPublisher

    publisher = BenchPublisher()
    sweep = threading.Thread(target=publisher.sweep_forever, args=(RELAY_SWEEP_SECONDS,), daemon=True)
    sweep.start()
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "quit":
            break
        try:
            reply = publisher.handle(command)
        except Exception as exc:  # reported to the parent, which stops the run
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    publisher.close()
    return 0
