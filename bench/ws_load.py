"""Load generator for the live dashboards: the project's websockets beside a no-op Channels app.

Run from the repository root (PostgreSQL and Redis up, see bench/README.md):

    .venv/bin/python bench/ws_load.py            # the full run, about four minutes
    .venv/bin/python bench/ws_load.py --quick    # a smoke run, about a minute and a half

It recreates a bench database, migrates it, seeds citizens, a department and 100 users (60
operators, 10 supervisors, 30 department staff) with a Django session each, and starts, all with
the production settings on PostgreSQL and Redis (the pub/sub channel layer):

- daphne serving the project (callcentre.asgi: origin check, session auth, snapshot, streams);
- daphne serving the no-op app (bench/ws_noop.py: accept, join one group, forward) on the same
  layer and settings: the ceiling;
- the FastAGI bridge (manage.py agi_bridge) and the AMI listener (manage.py ami_listener) logged in
  to an AMI stand-in run here, for the screen pop;
- a publisher process: dashboards.publish.publish() for the project (relay on commit, plus the
  periodic relay that Celery beat runs in production), group_send for the no-op.

Phases, each on the no-op app first, then on the project, in one run:

- memory: resident memory of the daphne process before and after the 100 sockets connect;
- connect: one socket at a time opened, at 20 a second (a socket per seeded user in turn), with
  the other 100 connected: until the handshake completes (the project: origin check, session and
  user read, groups joined) and until the first message (the project: its snapshot);
- steady: 10 events a second for all 100 sockets (a ticket event goes to the supervisors, the
  operators and its department): event-to-client latency, events lost (per-stream numbers);
- burst: 300 events published back to back: messages delivered per second, every message delivered
  or its gap noticed and repaired by a snapshot;
- screen pop (project only): calls through the bridge at 20 a second (the AGI load generator of
  bench/agi_load.py), each answered (QueueCallerJoin, AgentCalled, QueueCallerLeave, AgentConnect
  from the AMI stand-in) by an operator in turn, until that operator's socket has the call.pop
  with the call's draft ticket.

The figures and the pass/fail of each target of issue 5 are printed as a table; docs/dashboards.md
(Benchmark) has a recorded run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.agi_load import LoadGenerator  # noqa: E402
from bench.agi_load import Result as CallResult  # noqa: E402
from bench.agi_report import machine_summary  # noqa: E402
from bench.agi_servers import caller_numbers, pg_connect  # noqa: E402
from bench.ws_clients import Connected, Hub, Socket, Tally, connect_once  # noqa: E402
from bench.ws_report import AppFigures, Figures, print_table  # noqa: E402
from bench.ws_servers import (  # noqa: E402
    Processes,
    Publisher,
    bench_environment,
    cpu_seconds,
    postgres_settings,
    prepare_database,
    rss,
    seed,
    vacuum,
)
from tests.telephony import ami_standin  # noqa: E402

APPS = ("noop", "project")
CONNECT_CONCURRENCY = 10
DRAIN_QUIET = 3.0  # a phase is over when every socket caught up, or nothing arrived for this long
DRAIN_CAP = 60.0
POP_TIMEOUT = 10.0
HANG_UP_AFTER = 1.0  # seconds an answered call lasts before AgentComplete and Hangup


@dataclass(frozen=True)
class Plan:
    operators: int
    supervisors: int
    staff: int
    connects: int
    connect_rate: float
    steady_seconds: float
    steady_rate: float
    burst: int
    pop_seconds: float
    pop_rate: float

    @classmethod
    def full(cls) -> Plan:
        return cls(60, 10, 30, 300, 20.0, 60.0, 10.0, 300, 30.0, 20.0)

    @classmethod
    def quick(cls) -> Plan:
        return cls(60, 10, 30, 60, 20.0, 8.0, 10.0, 300, 5.0, 20.0)

    @property
    def sockets(self) -> int:
        return self.operators + self.supervisors + self.staff


class Bench:
    """The running servers, the sockets of both apps, and the phases that drive them."""

    def __init__(self, plan: Plan, processes: Processes, publisher: Publisher, seeded: dict, standin) -> None:
        self.plan, self.processes, self.publisher, self.standin = plan, processes, publisher, standin
        self.users = interleave(seeded["users"])
        self.database_url = seeded["database_url"]
        self.department = seeded["department"]
        self.hubs = {app: Hub(app) for app in APPS}
        self.figures = Figures(plan=plan, apps={app: AppFigures(app) for app in APPS})
        self.groups = {
            "project": ["supervisors", "operators", f"department.{self.department}"],
            "noop": ["noop.supervisors", "noop.operators", f"noop.department.{self.department}"],
        }

    def endpoint(self, app: str, user: dict) -> tuple[str, str | None]:
        """The URL and session cookie of `user`'s dashboard socket on `app`."""
        if app == "project":
            view = {"operator": "operator", "supervisor": "supervisor", "department": "department"}[user["role"]]
            return f"ws://127.0.0.1:{self.processes.ports['project']}/ws/events/?view={view}", user["session"]
        group = {
            "operator": "noop.operators",
            "supervisor": "noop.supervisors",
            "department": f"noop.department.{self.department}",
        }[user["role"]]
        return f"ws://127.0.0.1:{self.processes.ports['noop']}/ws/noop/?group={group}", None

    # --- phases ---------------------------------------------------------------------------------

    async def open_sockets(self, app: str) -> None:
        """Connect the 100 dashboard sockets of `app`; resident memory of its daphne before and after."""
        figures, pid = self.figures.apps[app], self.processes.pid(app)
        # Warm-up: lazy imports, first queries, connection pools; a round at once too, so that the
        # process's database threads (and their connections) are there before memory is measured.
        for user in self.users[:5]:
            await connect_once(*self.endpoint(app, user))
        await asyncio.gather(*(connect_once(*self.endpoint(app, user)) for user in self.users[:CONNECT_CONCURRENCY]))
        await asyncio.sleep(1.0)
        figures.rss_before = rss(pid)
        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(user: dict) -> Connected:
            async with semaphore:
                url, cookie = self.endpoint(app, user)
                return await Socket(self.hubs[app], url, cookie, f"{app}:{user['username']}").open()

        await asyncio.gather(*(open_one(user) for user in self.users))
        await asyncio.sleep(2.0)  # snapshots sent, their memory settled
        figures.rss_after = rss(pid)
        say(
            f"  {app}: {len(self.hubs[app].sockets)} sockets, rss {mib(figures.rss_before)} -> {mib(figures.rss_after)}"
        )

    async def connects(self, app: str) -> None:
        """One connection at a time on a fixed schedule, each closed after its first message."""
        plan, samples = self.plan, self.figures.apps[app].connects
        errors = self.figures.apps[app].connect_errors
        start = time.monotonic()

        async def one(index: int) -> None:
            try:
                samples.append(await connect_once(*self.endpoint(app, self.users[index % len(self.users)])))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        tasks = []
        with self.progress(app, "connect", lambda: f"{len(samples):5d} connects  errors {len(errors)}"):
            for index in range(plan.connects):
                await asyncio.sleep(max(0.0, start + index / plan.connect_rate - time.monotonic()))
                tasks.append(asyncio.ensure_future(one(index)))
            await asyncio.gather(*tasks)

    async def publish_phase(self, app: str, name: str, **command) -> None:
        """`steady` or `burst`: publish, wait until the sockets have everything, count what they got."""
        hub = self.hubs[app]
        tally = hub.begin(name)
        cpu = cpu_seconds(self.processes.pid(app))
        with self.progress(app, name, lambda: tally_line(tally)):
            reply = await self.publisher.call(
                op=name, target=app, groups=self.groups[app], department=self.department, **command
            )
            expected = {group: (reply["first"][group], reply["last"][group]) for group in reply["first"]}
            await self.drain(hub, tally, expected)
        self.figures.apps[app].record(
            name, tally, reply, hub.sockets, expected, cpu=cpu_seconds(self.processes.pid(app)) - cpu
        )
        self.processes.check()

    async def drain(self, hub: Hub, tally: Tally, expected: dict[str, tuple[int, int]]) -> None:
        started = time.monotonic()
        while time.monotonic() - started < DRAIN_CAP:
            if all(socket.caught_up(expected) for socket in hub.sockets) and not any(
                socket.resync_pending for socket in hub.sockets
            ):
                return
            if time.monotonic() - max(tally.last_arrival, started) > DRAIN_QUIET:
                return
            await asyncio.sleep(0.05)

    async def screen_pops(self, callers: list[str]) -> None:
        """Calls through the bridge at pop_rate, each answered by the next operator, until the pop arrives."""
        plan, hub, pops = self.plan, self.hubs["project"], self.figures.pop
        operators = [user for user in self.users if user["role"] == "operator"]
        generator = LoadGenerator(callers, seed=5)
        tally = hub.begin("screen pop")
        loop = asyncio.get_running_loop()
        start = loop.time()
        cpu = {name: cpu_seconds(self.processes.pid(name)) for name in ("project", "bridge", "listener")}

        async def call(index: int, scheduled: float) -> None:
            result = CallResult("pop")
            await generator.call(self.processes.ports["bridge"], result, think=0.0, started=scheduled)
            if result.errors or not result.tickets:
                pops.errors.extend(result.errors or ["no call placed"])
                return
            uniqueid, ticket = next(iter(result.tickets.items()))
            agi_done = loop.time()
            interface = f"PJSIP/{operators[index % len(operators)]['extension']}"
            waiter: asyncio.Future[tuple[float, str]] = loop.create_future()
            hub.pops[uniqueid] = waiter
            answered = loop.time()
            await asyncio.to_thread(self.answer, uniqueid, interface)
            try:
                arrived, number = await asyncio.wait_for(waiter, POP_TIMEOUT)
            except TimeoutError:
                pops.errors.append(f"{uniqueid}: no call.pop within {POP_TIMEOUT:g}s")
                return
            finally:
                hub.pops.pop(uniqueid, None)
                loop.call_later(HANG_UP_AFTER, self.hang_up, uniqueid, interface)
            if number != ticket:
                pops.errors.append(f"{uniqueid}: popped ticket {number!r}, the bridge said {ticket!r}")
                return
            # loop.time() and time.monotonic() are one clock (asyncio's default).
            pops.total.append(arrived - scheduled)
            pops.agi.append(agi_done - scheduled)
            pops.answer_to_pop.append(arrived - answered)
            answers[uniqueid] = (answered + wall, arrived + wall)

        wall = time.time() - time.monotonic()  # to place the sockets' arrivals beside the outbox's timestamps
        answers: dict[str, tuple[float, float]] = {}  # uniqueid -> wall clock of AgentConnect sent, of the pop

        tasks = []
        with self.progress("project", "screen pop", lambda: f"{len(pops.total):5d} pops  errors {len(pops.errors)}"):
            for index in range(int(plan.pop_rate * plan.pop_seconds)):
                scheduled = start + index / plan.pop_rate
                await asyncio.sleep(max(0.0, scheduled - loop.time()))
                tasks.append(asyncio.ensure_future(call(index, scheduled)))
            await asyncio.gather(*tasks)
            await asyncio.sleep(HANG_UP_AFTER + 0.5)
        pops.placed = len(tasks)
        pops.elapsed = loop.time() - start
        pops.events = tally.other
        pops.cpu = {name: cpu_seconds(self.processes.pid(name)) - before for name, before in cpu.items()}
        pops.stages = await asyncio.to_thread(pop_stages, self.database_url, answers)
        self.processes.check()

    def answer(self, uniqueid: str, interface: str) -> None:
        """What Asterisk's app_queue says when an operator picks the caller up."""
        emit = self.standin.emit
        emit("QueueCallerJoin", ami_standin.caller_join(uniqueid, caller="13900000000"))
        emit("AgentCalled", ami_standin.agent_called(uniqueid, interface))
        emit("QueueCallerLeave", ami_standin.caller_leave(uniqueid))
        emit("AgentConnect", ami_standin.agent_connect(uniqueid, interface, hold=0, ring=1))

    def hang_up(self, uniqueid: str, interface: str) -> None:
        self.standin.emit("AgentComplete", ami_standin.agent_complete(uniqueid, interface, talk=1))
        self.standin.emit("Hangup", ami_standin.hangup(uniqueid))

    async def close(self) -> None:
        for hub in self.hubs.values():
            await asyncio.gather(*(socket.close() for socket in hub.sockets), return_exceptions=True)
            dropped = [socket.label for socket in hub.sockets if socket.closed_by_server]
            self.figures.apps[hub.app].dropped = len(dropped)

    def progress(self, app: str, phase: str, line) -> Progress:
        return Progress(f"{phase} [{app}]", self.processes.pid(app), line)


class Progress:
    """One line a second on stderr while a phase runs: what it did so far and the server's memory and CPU."""

    def __init__(self, label: str, pid: int, line) -> None:
        self.label, self.pid, self.line = label, pid, line
        self.task: asyncio.Task[None] | None = None

    def __enter__(self) -> Progress:
        self.task = asyncio.ensure_future(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _watch(self) -> None:
        start = time.monotonic()
        cpu = cpu_seconds(self.pid)
        while True:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - start
            busy = (cpu_seconds(self.pid) - cpu) / elapsed
            say(f"  {self.label:<22} {elapsed:4.0f}s  {self.line()}  daphne cpu {busy:4.0%} rss {mib(rss(self.pid))}")


def pop_stages(database_url: str, answers: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """Where each screen pop's time went, from the call.pop outbox row's timestamps (one clock: the machine's).

    listener: AgentConnect sent -> the row inserted (the AMI listener's queue and its transaction);
    relay: inserted -> marked relayed (commit, relay); delivery: relayed -> on the operator's socket (daphne).
    """
    with pg_connect(database_url) as connection:
        rows = connection.execute(
            "SELECT payload->>'uniqueid', extract(epoch FROM created_at), extract(epoch FROM relayed_at) "
            "FROM dashboards_outboxevent WHERE type = 'call.pop' AND payload->>'uniqueid' = ANY(%s)",
            [list(answers)],
        ).fetchall()
    stages: dict[str, list[float]] = {"listener": [], "relay": [], "delivery": []}
    for uniqueid, created, relayed in rows:
        if relayed is None:
            continue
        answered, arrived = answers[uniqueid]
        stages["listener"].append(float(created) - answered)
        stages["relay"].append(float(relayed) - float(created))
        stages["delivery"].append(arrived - float(relayed))
    return stages


def interleave(users: list[dict]) -> list[dict]:
    """The users with their roles mixed evenly, so that every run of them has the whole mix."""
    counts = Counter(user["role"] for user in users)
    seen: Counter[str] = Counter()
    keyed = []
    for user in users:
        keyed.append(((seen[user["role"]] + 0.5) / counts[user["role"]], user["role"], user))
        seen[user["role"]] += 1
    return [user for _share, _role, user in sorted(keyed, key=lambda item: item[:2])]


def tally_line(tally: Tally) -> str:
    rate = tally.messages / max(1e-9, time.monotonic() - tally.started)
    return f"{tally.messages:7d} messages {rate:7.0f}/s  gaps {tally.gaps:3d}"


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def measure(bench: Bench, callers: list[str]) -> None:
    plan = bench.plan

    async def next_phase(title: str) -> None:
        await asyncio.to_thread(vacuum, bench.database_url)
        say(title)

    await next_phase(f"memory: {plan.sockets} sockets per app")
    for app in APPS:
        await bench.open_sockets(app)
    await next_phase(f"connect: {plan.connects} at {plan.connect_rate:g}/s")
    for app in APPS:
        await bench.connects(app)
    await next_phase(f"steady: {plan.steady_rate:g} events/s for {plan.steady_seconds:g}s")
    for app in APPS:
        await bench.publish_phase(app, "steady", rate=plan.steady_rate, seconds=plan.steady_seconds)
    await next_phase(f"burst: {plan.burst} events")
    for app in APPS:
        await bench.publish_phase(app, "burst", count=plan.burst)
    await next_phase(f"screen pop: {plan.pop_rate:g} calls/s for {plan.pop_seconds:g}s")
    await bench.screen_pops(callers)
    for app in APPS:
        bench.figures.apps[app].rss_end = rss(bench.processes.pid(app))
    await bench.close()


async def run(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan.full()
    if args.pop_rate:
        plan = dataclasses.replace(plan, pop_rate=args.pop_rate)
    with tempfile.TemporaryDirectory(prefix="wsbench-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = bench_environment(args.database_url, args.redis_url, scratch)
        say(f"Setting up the bench database: migrate, seed {args.citizens} citizens and {plan.sockets} users")
        prepare_database(args.database_url, env, keep=args.keep_db)
        seeded = seed(
            env, operators=plan.operators, supervisors=plan.supervisors, staff=plan.staff, citizens=args.citizens
        )
        seeded["database_url"] = args.database_url
        operators = [user["extension"] for user in seeded["users"] if user["role"] == "operator"]
        with ami_standin.AmiStandin(secret=env["HOTLINE_AMI_SECRET"]) as standin:
            standin.queues["hotline"].members = [ami_standin.Member(f"PJSIP/{ext}") for ext in operators]
            profile = frozenset(filter(None, (args.profile or "").split(",")))
            processes = Processes(env, scratch, log=sys.stderr, app=args.project_app, profile=profile)
            publisher = Publisher(env, scratch)
            try:
                processes.start(standin.port)
                await publisher.call(op="ping")
                standin.wait_logins(1, timeout=30)
                bench = Bench(plan, processes, publisher, seeded, standin)
                await measure(bench, caller_numbers(args.citizens))
            finally:
                publisher.stop()
                processes.stop()
                if args.keep_logs:
                    for name in (*processes.processes, "publisher"):
                        text = (scratch / "logs" / f"{name}.log").read_text(errors="replace")
                        (Path(args.keep_logs) / f"{name}.log").write_text(text)
                    for path in (scratch / "logs").glob("*.prof"):
                        (Path(args.keep_logs) / path.name).write_bytes(path.read_bytes())
    machine = machine_summary(args.database_url, args.redis_url)
    machine.update(postgres_settings(args.database_url))
    print_table(bench.figures, machine)
    return 0 if bench.figures.all_met() else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="A short smoke run (seconds per phase).")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("WSBENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wsbench"),
        help="The bench database: dropped, created and migrated at the start (unless --keep-db).",
    )
    parser.add_argument("--redis-url", default=os.environ.get("WSBENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--citizens", type=int, default=500, help="Seeded citizens whose numbers call in.")
    parser.add_argument("--pop-rate", type=float, metavar="N", help="Calls/s of the screen-pop phase (default 20).")
    parser.add_argument("--keep-db", action="store_true", help="Reuse the bench database as it is (migrated).")
    parser.add_argument("--keep-logs", metavar="DIR", help="Copy the servers' logs to DIR at the end.")
    parser.add_argument(
        "--project-app",
        default="callcentre.asgi:application",
        metavar="MODULE:ATTR",
        help="The project's ASGI application for daphne (to measure a candidate change beside the real one).",
    )
    parser.add_argument(
        "--profile",
        metavar="NAMES",
        help="Run these processes (comma-separated: project, noop, bridge, listener) under cProfile; with"
        " --keep-logs the profiles (main thread only) are copied there as NAME.prof.",
    )
    parser.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed-users", metavar="O,S,D", help=argparse.SUPPRESS)
    parser.add_argument("--seed-citizens", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publisher:
        from bench.ws_servers import serve_publisher

        return serve_publisher()
    if args.seed_users:
        from bench.ws_servers import seed_users

        operators, supervisors, staff = (int(part) for part in args.seed_users.split(","))
        return seed_users(operators, supervisors, staff, args.seed_citizens)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
