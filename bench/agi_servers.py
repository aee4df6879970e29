"""The processes and the database behind bench/agi_load.py: bench database, seeded citizens, the two servers."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STARTUP_TIMEOUT = 60.0
# The bridge drains calls in progress on SIGTERM; the bench stops it only once its calls are over.
STOP_TIMEOUT = 40.0
KINDS = {"1": "consultation", "2": "complaint", "3": "suggestion", "4": "help", "5": "report"}


def caller_numbers(count: int) -> list[str]:
    """The seeded citizens' mobile numbers as Asterisk shows them (national format, no +86)."""
    return [f"139{(index * 7919) % 10**8:08d}" for index in range(count)]


def maintenance_url(database_url: str) -> str:
    """The same server's `postgres` database: for CREATE/DROP and for reading the bench database's counters."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


def pg_connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def pg_commits(database_url: str) -> int:
    """The bench database's xact_commit, read from another database so the reading does not count."""
    name = urlsplit(database_url).path.lstrip("/")
    with pg_connect(maintenance_url(database_url)) as connection:
        row = connection.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", [name]).fetchone()
    return int(row[0]) if row else 0


class Servers:
    """The bench database, the bridge (`manage.py agi_bridge`) and the no-op FastAGI server, as processes."""

    def __init__(self, database_url: str, redis_url: str, scratch: Path, *, log: IO[str]) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.database_name = urlsplit(database_url).path.lstrip("/")
        self.scratch = scratch
        self.spool_dir = scratch / "spool"
        self.log = log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.bridge_idle_since = time.monotonic()

    def environment(self) -> dict[str, str]:
        """Production settings (DEBUG off) on the bench database and Redis db; only bench secrets."""
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "agibench-secret-key-" + "x" * 40,
            "HOTLINE_PII_KEY": "agibench-pii-key",
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "HOTLINE_SPOOL_DIR": str(self.spool_dir),
            "PYTHONUNBUFFERED": "1",
        }

    def prepare_database(self, *, keep: bool) -> None:
        if not keep:
            with pg_connect(maintenance_url(self.database_url)) as connection:
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [self.database_name]
                )
                connection.execute(f'DROP DATABASE IF EXISTS "{self.database_name}"')
                connection.execute(f'CREATE DATABASE "{self.database_name}"')
        self._manage("migrate", "--no-input", "-v", "0")

    def seed(self, count: int) -> list[str]:
        subprocess.run(  # noqa: S603 - our own interpreter and script
            [PYTHON, str(ROOT / "bench" / "agi_load.py"), "--seed", str(count)],
            cwd=ROOT,
            env=self.environment(),
            check=True,
        )
        # Planner statistics as autovacuum would have them on a database in use.
        with pg_connect(self.database_url) as connection:
            connection.execute("ANALYZE")
        return caller_numbers(count)

    def start(self) -> None:
        self.ports = {"noop": free_port(), "bridge": free_port()}
        logs = self.scratch / "logs"
        logs.mkdir(exist_ok=True)
        commands = {
            "noop": [PYTHON, str(ROOT / "bench" / "agi_load.py"), "--noop-server", str(self.ports["noop"])],
            "bridge": [PYTHON, "manage.py", "agi_bridge", "--host", "127.0.0.1", "--port", str(self.ports["bridge"])],
        }
        for name, command in commands.items():
            with open(logs / f"{name}.log", "wb") as output:
                self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
                    command, cwd=ROOT, env=self.environment(), stdout=output, stderr=subprocess.STDOUT
                )
        for name, port in self.ports.items():
            wait_for_port(port, self.processes[name])
        self.log.write(f"  no-op server pid {self.processes['noop'].pid}, bridge pid {self.processes['bridge'].pid}\n")

    def stop(self) -> None:
        stop_processes(self.processes, self.log)

    def bridge_log(self) -> Path:
        return self.scratch / "logs" / "bridge.log"

    def address(self, which: str) -> tuple[int, int]:
        return self.ports[which], self.processes[which].pid

    def rss(self, pid: int) -> int:
        """Resident set size of `pid` in bytes (0 once it is gone)."""
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def cpu_seconds(self, pid: int) -> float:
        """User + system CPU time `pid` has used so far, in seconds."""
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def bridge_active(self) -> None:
        self.bridge_idle_since = time.monotonic()

    async def settle(self, seconds: float) -> None:
        """Wait until the bridge has been idle `seconds`, so PostgreSQL has published its backends' counters."""
        left = self.bridge_idle_since + seconds - time.monotonic()
        if left > 0:
            self.log.write(f"  waiting {left:.0f}s for PostgreSQL's statistics to settle\n")
            await asyncio.sleep(left)

    def _manage(self, *arguments: str) -> None:
        subprocess.run([PYTHON, "manage.py", *arguments], cwd=ROOT, env=self.environment(), check=True)  # noqa: S603


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes: dict[str, subprocess.Popen[bytes]], log: IO[str]) -> None:
    """SIGTERM every server still running, wait for each (they drain), kill the ones that do not stop."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.write(f"  {name} did not stop within {STOP_TIMEOUT:g}s: killed\n")
            process.kill()
            process.wait()


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, process.args))} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} after {STARTUP_TIMEOUT:g}s") from None
            time.sleep(0.1)


def seed_citizens(count: int) -> int:
    """(In a child process with the bench settings.) Create the citizens whose numbers call in."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
    import django

    django.setup()
    from tickets.actions import citizen_create
    from tickets.models import CitizenPhone
    from tickets.pii import phone_clean

    known = set(CitizenPhone.objects.values_list("number", flat=True))
    for index, number in enumerate(caller_numbers(count)):
        if phone_clean(number) not in known:
            citizen_create(name=f"市民{index:04d}", phones=[number], address=f"惠城区测试路{index}号")
    return 0


def serve_noop(port: int) -> int:
    """(In a child process.) The ceiling: the bridge's AGI exchange on the same server and adapter, no database."""
    from telephony.agi.server import FastAGIServer

    stop = False

    def handle_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handle_signal)
    signal.signal(signal.SIGINT, handle_signal)
    server = FastAGIServer(noop_handler, host="127.0.0.1", port=port)
    server.start()
    while not stop:
        time.sleep(0.2)
    server.stop(timeout=STOP_TIMEOUT - 5)
    return 0


_numbers = itertools.count(1)


def noop_handler(session: object) -> None:
    """The commands the bridge's /hotline flow sends for a caller who keys a kind or 0, without the ORM."""
    command = session.command  # type: ignore[attr-defined]
    language = (session.env.get("agi_language", "") or "zh")[:2]  # type: ignore[attr-defined]
    number = f"20261128{next(_numbers):05d}"
    command("SET VARIABLE", "HOTLINE_TICKET", number)
    command("SET VARIABLE", "HOTLINE_CITIZEN_KNOWN", "1")
    command("SET VARIABLE", "HOTLINE_LANG", language)
    command("ANSWER")
    command("STREAM FILE", "hotline/welcome", "")
    kind = KINDS.get(command("GET DATA", "hotline/main-menu", 5000, 1).result or "", "")
    command("SET VARIABLE", "HOTLINE_KIND", kind)
    if kind:
        command("STREAM FILE", "hotline/your-ticket-number", "")
        command("SAY DIGITS", number, "")
    command("STREAM FILE", "hotline/to-operator", "")


@dataclass
class ExactlyOnce:
    """What the bench database holds for the calls placed on the bridge."""

    placed: int = 0
    call_rows: int = 0
    tickets: int = 0
    missing: list[str] = field(default_factory=list)
    without_ticket: list[str] = field(default_factory=list)
    wrong_number: list[str] = field(default_factory=list)
    shared_tickets: int = 0
    spooled_left: int = 0

    @property
    def met(self) -> bool:
        return (
            self.placed > 0
            and self.call_rows == self.placed == self.tickets
            and not (self.missing or self.without_ticket or self.wrong_number or self.shared_tickets)
            and not self.spooled_left
        )


def verify_calls(database_url: str, told: dict[str, str], spool_dir: Path, *, since: float) -> ExactlyOnce:
    """Exactly one call record and one ticket per uniqueid placed, with the number the caller was told.

    Only this run's calls count (a kept database has older ones); a ticket created since `since` (epoch
    seconds) that no call of this run links is a ticket too many.
    """
    with pg_connect(database_url) as connection:
        rows = connection.execute(
            "SELECT c.uniqueid, t.number, c.ticket_id FROM telephony_call c "
            "LEFT JOIN tickets_ticket t ON t.id = c.ticket_id WHERE c.uniqueid = ANY(%s)",
            [list(told)],
        ).fetchall()
        new_tickets = connection.execute(
            "SELECT count(*) FROM tickets_ticket WHERE created_at >= to_timestamp(%s)", [since]
        ).fetchone()[0]
    stored = {uniqueid: number for uniqueid, number, _ticket in rows}
    linked = [ticket for _uniqueid, _number, ticket in rows if ticket is not None]
    check = ExactlyOnce(
        placed=len(told),
        call_rows=len(rows),
        tickets=max(new_tickets, len(set(linked))),
        shared_tickets=len(linked) - len(set(linked)),
    )
    for uniqueid, number in told.items():
        if uniqueid not in stored:
            check.missing.append(uniqueid)
        elif stored[uniqueid] is None:
            check.without_ticket.append(uniqueid)
        elif number and stored[uniqueid] != number:
            check.wrong_number.append(uniqueid)
    check.spooled_left = len(list(spool_dir.glob("*.json"))) if spool_dir.exists() else 0
    return check
