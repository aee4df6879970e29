"""Load generator for the FastAGI bridge: plays Asterisk against the bridge and a no-op FastAGI server.

Run from the repository root (PostgreSQL and Redis up, see bench/README.md):

    .venv/bin/python bench/agi_load.py            # the full run, about six minutes
    .venv/bin/python bench/agi_load.py --quick    # a smoke run, about a minute

It recreates a bench database, migrates it, seeds citizens, starts `manage.py agi_bridge` on it
(PostgreSQL + Redis, production settings) and a no-op FastAGI server built on the same AGI layer
(telephony.agi: the threaded server and the pyst2 adapter) whose handler sends the same commands
but touches no database. Each phase runs on the no-op server first (the ceiling), then on the bridge:

- closed loop: 50 callers, each placing its next call as soon as the last one ends (calls/s);
- open loop: 20 calls/s on a fixed schedule (latency per call: p50, p99);
- held sessions: 20 calls/s whose caller thinks 8 s before keying the menu choice (~160 calls
  open at once), for 60 s (latency, errors, resident memory of the server);
- commits per call: PostgreSQL's xact_commit of the bench database over the bridge's calls;

then checks that every call placed on the bridge left exactly one call record and one ticket,
with the ticket number the caller was told. The figures and the pass/fail of each target of
issue 3 are printed as a table; docs/telephony.md (Benchmark) has a recorded run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.agi_report import Figures, machine_summary, print_table  # noqa: E402
from bench.agi_servers import Servers, pg_commits, verify_calls  # noqa: E402
from tests.telephony.asterisk_standin import R510, environment, parse_args  # noqa: E402

# What the callers key at the main menu: the five kinds and "0" for an operator.
MENU_KEYS = "123450"
CALL_TIMEOUT = 30.0
# PostgreSQL publishes a backend's counters at most every second, an idle one's after up to 10 s.
STATS_SETTLE = 11.0


@dataclass(frozen=True)
class Plan:
    """How long and how hard each phase runs."""

    closed_seconds: float
    closed_callers: int
    open_seconds: float
    open_rate: float
    held_seconds: float
    held_rate: float
    think: float
    warmup_seconds: float

    @classmethod
    def full(cls) -> Plan:
        return cls(20.0, 50, 30.0, 20.0, 60.0, 20.0, 8.0, 3.0)

    @classmethod
    def quick(cls) -> Plan:
        return cls(3.0, 50, 5.0, 20.0, 6.0, 20.0, 2.0, 1.0)


@dataclass
class Result:
    """The calls of one phase on one server."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tickets: dict[str, str] = field(default_factory=dict)  # uniqueid -> HOTLINE_TICKET as the caller heard it
    placed: int = 0
    elapsed: float = 0.0
    rss_start: int = 0
    rss_max: int = 0
    max_open: int = 0
    server_cpu: float = 0.0  # CPU seconds the server process used in the phase
    client_cpu: float = 0.0  # and the load generator

    def cpu_per_call(self, which: str = "server") -> float:
        seconds = self.server_cpu if which == "server" else self.client_cpu
        return seconds / self.completed if self.completed else float("nan")

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


class AsteriskCall(asyncio.Protocol):
    """One call as Asterisk plays it: the environment block, canned replies, HANGUP when the server closes."""

    def __init__(self, env: bytes, key: str, think: float, done: asyncio.Future[dict[str, str]]) -> None:
        self.env, self.key, self.think, self.done = env, key, think, done
        self.variables: dict[str, str] = {}
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.problem = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.env)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            reply, delay = self.reply(line.decode("utf-8", "replace"))
            if delay:
                asyncio.get_running_loop().call_later(delay, self._write, reply)
            else:
                self._write(reply)

    def eof_received(self) -> bool:
        # The server ended the AGI session: Asterisk sends its last HANGUP line and closes.
        self._write("HANGUP")
        if not self.done.done():
            self.done.set_result(self.variables)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost before the session ended: {exc}"))

    def _write(self, line: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(line.encode() + b"\n")

    def reply(self, line: str) -> tuple[str, float]:
        """Asterisk's reply to one command line (as in the transcripts), and how long the caller takes."""
        argv = parse_args(line)
        words = " ".join(argv[:2]).upper()
        if words == "SET VARIABLE" and len(argv) == 4:
            self.variables[argv[2]] = argv[3]
            return "200 result=1", 0.0
        if words == "GET DATA":
            return f"200 result={self.key}", self.think
        if words == "STREAM FILE":
            return "200 result=0 endpos=8000", 0.0
        if argv[:1] == ["ANSWER"] or words in ("SAY DIGITS", "SAY DATE"):
            return "200 result=0", 0.0
        if words == "GET VARIABLE" and len(argv) == 3:
            value = self.variables.get(argv[2])
            return (f"200 result=1 ({value})" if value is not None else "200 result=0"), 0.0
        self.problem = self.problem or f"unexpected command {line!r}"
        return R510, 0.0


class LoadGenerator:
    """Places calls on one server; every call gets a new uniqueid and a caller ID from the seeded pool."""

    def __init__(self, callers: list[str], *, seed: int = 12345) -> None:
        self.callers = callers
        self.random = random.Random(seed)
        self.epoch = int(time.time())
        self.sequence = 0
        self.progress: Result | None = None
        self.in_flight = 0

    def next_env(self, port: int) -> tuple[str, bytes]:
        self.sequence += 1
        uniqueid = f"{self.epoch}.{self.sequence}"
        caller = self.random.choice(self.callers)
        channel = f"PJSIP/trunk-{self.sequence:08x}"
        env = environment(
            uniqueid=uniqueid,
            callerid=caller,
            calleridname=caller,
            channel=channel,
            request=f"agi://127.0.0.1:{port}/hotline",
            language="zh",
            type="PJSIP",
            dnid="12345",
            threadid=str(140080652281536 + self.sequence),
        )
        return uniqueid, env

    async def call(self, port: int, result: Result, *, think: float, started: float | None = None) -> None:
        """One call; its latency runs from `started` (the scheduled start in an open loop) to the server's close."""
        loop = asyncio.get_running_loop()
        started = loop.time() if started is None else started
        uniqueid, env = self.next_env(port)
        key = self.random.choice(MENU_KEYS)
        result.placed += 1
        self.in_flight += 1
        result.max_open = max(result.max_open, self.in_flight)
        done: asyncio.Future[dict[str, str]] = loop.create_future()
        transport = None
        try:
            transport, protocol = await loop.create_connection(
                lambda: AsteriskCall(env, key, think, done), "127.0.0.1", port
            )
            variables = await asyncio.wait_for(done, CALL_TIMEOUT + think)
            ticket = variables.get("HOTLINE_TICKET", "")
            if protocol.problem or not ticket:
                result.errors.append(protocol.problem or f"{uniqueid}: no HOTLINE_TICKET")
            else:
                result.latencies.append(loop.time() - started)
            result.tickets[uniqueid] = ticket
        except (TimeoutError, OSError) as exc:
            result.errors.append(f"{uniqueid}: {type(exc).__name__}: {exc}")
            result.tickets.setdefault(uniqueid, "")
        finally:
            self.in_flight -= 1
            if transport is not None:
                transport.close()

    async def closed_loop(self, port: int, result: Result, *, callers: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + seconds

        async def caller() -> None:
            while loop.time() < deadline:
                await self.call(port, result, think=0.0)

        await asyncio.gather(*(caller() for _ in range(callers)))
        result.elapsed = loop.time() - start

    async def open_loop(self, port: int, result: Result, *, rate: float, seconds: float, think: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        calls = []
        for number in range(int(rate * seconds)):
            scheduled = start + number / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            calls.append(asyncio.ensure_future(self.call(port, result, think=think, started=scheduled)))
        await asyncio.gather(*calls)
        result.elapsed = loop.time() - start


class Progress:
    """One line a second on stderr while a phase runs."""

    def __init__(self, generator: LoadGenerator, servers: Servers) -> None:
        self.generator = generator
        self.servers = servers
        self.task: asyncio.Task[None] | None = None

    async def watch(self, label: str, result: Result, pid: int) -> None:
        start = time.monotonic()
        result.rss_start = result.rss_max = self.servers.rss(pid)
        try:
            while True:
                await asyncio.sleep(1.0)
                rss = self.servers.rss(pid)
                result.rss_max = max(result.rss_max, rss)
                elapsed = time.monotonic() - start
                rate = result.completed / elapsed
                sys.stderr.write(
                    f"  {label:<26} {elapsed:5.0f}s  {result.completed:6d} calls  {rate:7.1f}/s"
                    f"  open {self.generator.in_flight:4d}  errors {len(result.errors):3d}"
                    f"  rss {rss / 2**20:6.1f} MiB\n"
                )
        except asyncio.CancelledError:
            result.rss_max = max(result.rss_max, self.servers.rss(pid))


Body = Callable[[int, "Result"], Awaitable[None]]


async def run_phase(generator: LoadGenerator, servers: Servers, label: str, which: str, body: Body) -> Result:
    """Run `body(port, result)` against the server `which` ("noop" or "bridge") with progress lines."""
    result = Result(label)
    port, pid = servers.address(which)
    watcher = asyncio.ensure_future(Progress(generator, servers).watch(f"{label} [{which}]", result, pid))
    server_cpu, client_cpu = servers.cpu_seconds(pid), time.process_time()
    try:
        await body(port, result)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    result.server_cpu = servers.cpu_seconds(pid) - server_cpu
    result.client_cpu = time.process_time() - client_cpu
    if which == "bridge":
        servers.bridge_active()
    return result


async def run(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan.full()
    with tempfile.TemporaryDirectory(prefix="agibench-") as scratch:
        servers = Servers(args.database_url, args.redis_url, Path(scratch), log=sys.stderr)
        print(f"Setting up {servers.database_name}: migrate, seed {args.citizens} citizens", file=sys.stderr)
        servers.prepare_database(keep=args.keep_db)
        callers = servers.seed(args.citizens)
        started = time.time()
        servers.start()
        try:
            figures = await measure(plan, LoadGenerator(callers), servers)
        finally:
            servers.stop()
        figures.exactly_once = verify_calls(args.database_url, figures.bridge_tickets, servers.spool_dir, since=started)
    print_table(figures, plan, machine_summary(args.database_url, args.redis_url))
    return 0 if figures.all_met(plan) else 1


async def measure(plan: Plan, generator: LoadGenerator, servers: Servers) -> Figures:
    figures = Figures()

    def closed(port: int, result: Result) -> Awaitable[None]:
        return generator.closed_loop(port, result, callers=plan.closed_callers, seconds=plan.closed_seconds)

    def opened(port: int, result: Result) -> Awaitable[None]:
        return generator.open_loop(port, result, rate=plan.open_rate, seconds=plan.open_seconds, think=0.0)

    def held(port: int, result: Result) -> Awaitable[None]:
        return generator.open_loop(port, result, rate=plan.held_rate, seconds=plan.held_seconds, think=plan.think)

    def warmup(port: int, result: Result) -> Awaitable[None]:
        return generator.closed_loop(port, result, callers=10, seconds=plan.warmup_seconds)

    for which in ("noop", "bridge"):
        warm = await run_phase(generator, servers, "warm-up", which, warmup)
        figures.add_tickets(which, warm)
    for phase, body in (("closed loop", closed), ("open loop", opened), ("held sessions", held)):
        noop = await run_phase(generator, servers, phase, "noop", body)
        await servers.settle(STATS_SETTLE)
        before = pg_commits(servers.database_url)
        bridge = await run_phase(generator, servers, phase, "bridge", body)
        figures.record(phase, noop, bridge)
        figures.add_tickets("bridge", bridge)
        figures.commit_marks.append((phase, before, bridge.placed))
    await servers.settle(STATS_SETTLE)
    figures.commits_end = pg_commits(servers.database_url)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="A short smoke run (seconds per phase, 2 s think time).")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AGIBENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agibench"),
        help="The bench database: dropped, created and migrated at the start (unless --keep-db).",
    )
    parser.add_argument("--redis-url", default=os.environ.get("AGIBENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    parser.add_argument("--citizens", type=int, default=500, help="Seeded citizens whose numbers call in.")
    parser.add_argument("--keep-db", action="store_true", help="Reuse the bench database as it is (migrated).")
    parser.add_argument("--noop-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.noop_server is not None:
        from bench.agi_servers import serve_noop

        return serve_noop(args.noop_server)
    if args.seed is not None:
        from bench.agi_servers import seed_citizens

        return seed_citizens(args.seed)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
