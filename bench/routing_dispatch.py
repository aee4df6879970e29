"""Benchmark: dispatching one ticket through the API on PostgreSQL (issue 4: p99 under 50 ms).

    .venv/bin/python bench/routing_dispatch.py [--quick] [--fresh] [--dispatches 500] [--no-redis] [--breakdown]
        [--no-heap-freeze]

Production settings (DEBUG off, token authentication, the request arriving over HTTPS from the
proxy), 1,000 routing rules, a ticket table with a history behind it, and the Redis channel
layer (db 6) receiving the events on commit. Registered tickets are created through the real
actions (those an auto-dispatch rule sends at once are set aside); then each one is dispatched
with POST /api/tickets/{number}/dispatch/ through Django's full request stack (the test
client: URL routing, middleware, DRF, the action, the event outbox and its relay), timed one
request at a time. Most take the rule's suggestion; some name another department, as an
operator overriding the suggestion does; a few go through a supervisor. Before the first
request the heap is frozen (callcentre.heap.heap_freeze), as every server process does at start;
`--no-heap-freeze` leaves that out.
"""

import argparse
import datetime
import functools
import gc
import json
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root on the path, for `bench.…`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.routing_city import City, bodies_generate, city_load, rules_install  # noqa: E402
from bench.routing_common import (  # noqa: E402
    DEFAULT_REDIS,
    Progress,
    Report,
    arguments,
    database_url,
    django_setup,
    latency_summary,
    meta_get,
    meta_set,
    print_header,
    rows_insert,
    say,
    tables_analyze,
)

TARGET_P99_MS = 50.0
BACKGROUND_PREFIX = "7"  # numbers of the history tickets written by this benchmark


def background_install(city: City, count: int, *, seed: int) -> None:
    """`count` closed tickets of the last year, so the ticket table and its indexes are not toy-sized."""
    from django.db import connection

    from tickets.models import Ticket

    key = f"{count} seed={seed}"
    if meta_get("dispatch.background") == key:
        say(f"{count:,} history tickets already there")
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tickets_ticket WHERE number LIKE %s", [BACKGROUND_PREFIX + "%"])
    now = datetime.datetime.now(datetime.UTC)
    bodies = bodies_generate(min(count, 5_000), seed=seed + 7, now=now)
    departments = [d.pk for d in city.departments.values()]
    rng = random.Random(seed + 3)

    def rows():
        for number in range(count):
            body = bodies[number % len(bodies)]
            created = now - datetime.timedelta(seconds=rng.randrange(365 * 86400))
            yield {
                "number": f"{BACKGROUND_PREFIX}{number:013d}",
                "kind": body.kind,
                "channel": body.channel,
                "status": "closed",
                "caller_number": body.caller_number,
                "title": body.title,
                "description": body.description,
                "district_id": city.districts[body.district].pk,
                "category_id": city.categories[body.category].pk,
                "lead_department_id": rng.choice(departments),
                "created_at": created,
                "registered_at": created,
                "dispatched_at": created,
                "deadline": created + datetime.timedelta(days=5),
                "closed_at": created + datetime.timedelta(days=3),
                "updated_at": created + datetime.timedelta(days=3),
            }

    rows_insert(Ticket, rows(), total=count, label="history tickets")
    tables_analyze(Ticket)
    meta_set("dispatch.background", key)


def users() -> tuple[object, object, str, str]:
    """The operator and the supervisor who dispatch, with their API tokens."""
    from rest_framework.authtoken.models import Token

    from tickets.models import Role, User

    operator, _created = User.objects.get_or_create(
        username="bench_operator", defaults={"role": Role.OPERATOR, "first_name": "叶晓婷"}
    )
    supervisor, _created = User.objects.get_or_create(
        username="bench_supervisor", defaults={"role": Role.SUPERVISOR, "first_name": "陈志强"}
    )
    return (
        operator,
        supervisor,
        Token.objects.get_or_create(user=operator)[0].key,
        Token.objects.get_or_create(user=supervisor)[0].key,
    )


def registered_tickets(city: City, operator, count: int, *, seed: int) -> list:
    """`count` tickets left registered after routing (an auto-dispatch rule takes the others)."""
    from tickets import actions
    from tickets.models import Status

    waiting, made = [], 0
    progress = Progress("registering tickets through ticket_create (auto-dispatched ones set aside)", count)
    # New bodies each run (the seed moves with the time): a re-run on the same database registers new tickets.
    for round_ in range(20):
        bodies = bodies_generate(
            count * 4, seed=seed + round_ + int(time.time()), now=datetime.datetime.now(datetime.UTC)
        )
        for body in bodies:
            ticket = actions.ticket_create(
                actor=operator,
                kind=body.kind,
                channel=body.channel,
                urgency=body.urgency,
                title=body.title,
                description=body.description,
                district=city.districts[body.district],
                category=city.categories[body.category],
                caller_number=body.caller_number,
            )
            made += 1
            if ticket.status == Status.REGISTERED:
                waiting.append(ticket)
                progress.update(len(waiting))
                if len(waiting) == count:
                    say(f"{made:,} tickets registered, {made - count:,} of them dispatched at once by a rule")
                    return waiting
    raise RuntimeError(f"only {len(waiting)} of {made} tickets stayed registered: the rules dispatch nearly all")


def breakdown_install() -> dict[str, list[float]]:
    """Time the parts of a dispatch request (wall clock, ms per call); for --breakdown only."""
    import dashboards.publish
    import tickets.actions.lifecycle.handling
    import tickets.api.views

    spent: dict[str, list[float]] = {}

    def wrap(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent.setdefault(label, []).append((time.perf_counter() - started) * 1000)

        setattr(owner, name, timed)

    wrap(tickets.api.views, "ticket_get_for", "view: read the ticket (7 joins + prefetch)")
    # Dispatch and accept are the handling module's; its transitions run core.transition as imported there.
    wrap(tickets.actions.lifecycle.handling, "transition", "action: lock, write, timeline, outbox, commit")
    wrap(tickets.actions.lifecycle.handling, "ticket_suggestion", "  of which routing: rule match + suggestion")
    wrap(tickets.actions.lifecycle.handling, "_accept_by", "  of which routing: sign-for deadline")
    wrap(dashboards.publish, "_relay_after_commit", "  of which the relay to the channel layer")
    wrap(tickets.api.views.TicketViewSet, "_out", "view: read back and serialise")
    return spent


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--dispatches", type=int, default=None, help="timed dispatches (default 500; quick 50)")
    parser.add_argument("--warm-up", type=int, default=None, help="untimed dispatches first (default 30; quick 10)")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument(
        "--background", type=int, default=None, help="closed history tickets (default 200,000; quick 0)"
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="in-memory channel layer instead of Redis")
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of each request")
    parser.add_argument(
        "--no-heap-freeze", action="store_true", help="leave out callcentre.heap.heap_freeze() (the servers call it)"
    )
    args = parser.parse_args(argv)
    args.dispatches = args.dispatches or (50 if args.quick else 500)
    args.warm_up = args.warm_up if args.warm_up is not None else (10 if args.quick else 30)
    args.background = args.background if args.background is not None else (0 if args.quick else 200_000)
    return args


class Dispatcher:
    """POST …/dispatch/ through the test client: most take the suggestion, some override it, a few by a supervisor."""

    def __init__(self, city: City, *, seed: int):
        from django.test import Client

        operator, supervisor, self.operator_token, self.supervisor_token = users()
        self.operator = operator
        self.departments = [d.pk for d in city.departments.values()]
        self.rng = random.Random(seed)
        self.client = Client()

    def __call__(self, ticket) -> tuple[float, float, int, bytes]:
        """(wall ms, this process's CPU ms, HTTP status, body) of one dispatch."""
        choice = self.rng.random()
        token = self.supervisor_token if choice < 0.1 else self.operator_token
        body: dict = {}
        if choice > 0.8:  # the operator overrides the suggestion
            body = {"department": self.rng.choice(self.departments), "note": "根据诉求内容改派至该单位办理。"}
        started, cpu = time.perf_counter(), time.process_time()
        response = self.client.post(
            f"/api/tickets/{ticket.number}/dispatch/",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
            HTTP_X_FORWARDED_PROTO="https",
        )
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, (time.process_time() - cpu) * 1000, response.status_code, response.content


class GcWatch:
    """The full (generation 2) garbage collections while timing, and how long each stopped the world."""

    def __init__(self):
        self.pauses: list[float] = []
        self._started = 0.0

    def __enter__(self) -> "GcWatch":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info.get("generation") == 2:
            if phase == "start":
                self._started = time.perf_counter()
            else:
                self.pauses.append((time.perf_counter() - self._started) * 1000)


def timed_dispatches(report: Report, dispatch: Dispatcher, tickets: list, *, breakdown: bool) -> list[float]:
    """Dispatch `tickets` one request at a time; print the latency figures and return the samples (ms)."""
    spent = breakdown_install() if breakdown else {}
    samples, cpu_samples, failures = [], [], []
    progress = Progress("dispatching", len(tickets))
    with GcWatch() as collections:
        for number, ticket in enumerate(tickets, start=1):
            elapsed, cpu, code, content = dispatch(ticket)
            samples.append(elapsed)
            cpu_samples.append(cpu)
            if code != 200:
                failures.append((ticket.number, code, content[:300]))
            progress.update(number)
    figures, cpu = latency_summary(samples), latency_summary(cpu_samples)
    report.figure("latency mean / p50 / p90", f"{figures['mean']:.1f} / {figures['p50']:.1f} / {figures['p90']:.1f} ms")
    report.figure("latency p99 / max", f"{figures['p99']:.1f} / {figures['max']:.1f} ms")
    report.figure("CPU of this process per request p50 / p99", f"{cpu['p50']:.1f} / {cpu['p99']:.1f} ms")
    report.figure("one client, back to back", f"{1000 * len(samples) / sum(samples):.0f} dispatches/s")
    longest = f", longest {max(collections.pauses):.1f} ms" if collections.pauses else ""
    report.figure("full garbage collections while timing", f"{len(collections.pauses)}{longest}")
    for label, values in spent.items():
        report.figure(label, f"{sum(values) / len(samples):.1f} ms per request")
    for number, code, content in failures[:3]:
        say(f"ticket {number}: HTTP {code} {content!r}")
    return samples if not failures else []


def run(args: argparse.Namespace) -> Report:
    """The benchmark on the database Django is set up with."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from callcentre.heap import heap_freeze
    from tickets.models import Status, Ticket

    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    print_header(f"Dispatch through the API: {args.dispatches:,} dispatches, {args.rules:,} rules, {layer}")
    report = Report()
    city = city_load()
    rules_install(city, args.rules, seed=args.seed)
    if args.background:
        background_install(city, args.background, seed=args.seed)
    dispatch = Dispatcher(city, seed=args.seed)
    probe = min(10, args.dispatches)  # dispatched once more, counting their queries
    tickets = registered_tickets(city, dispatch.operator, args.warm_up + args.dispatches + probe, seed=args.seed)
    report.figure("tickets in the table", f"{Ticket.objects.count():,}")
    # As callcentre.asgi does when a server process starts: the long-lived start-up objects (Django's,
    # and the benchmark's set-up) leave the full collections; what requests build (the ruleset) stays in.
    if not args.no_heap_freeze:
        heap_freeze()
    try:
        for ticket in tickets[: args.warm_up]:
            dispatch(ticket)
        timed = tickets[args.warm_up : args.warm_up + args.dispatches]
        samples = timed_dispatches(report, dispatch, timed, breakdown=args.breakdown)
        with CaptureQueriesContext(connection) as queries:
            for ticket in tickets[args.warm_up + args.dispatches :]:
                dispatch(ticket)
    finally:
        gc.unfreeze()  # a no-op for the script; the test run's process gets its heap back
    report.figure("queries per dispatch (request to response)", f"{len(queries) / probe:.0f}")
    done = Ticket.objects.filter(pk__in=[t.pk for t in tickets[args.warm_up :]], status=Status.DISPATCHED).count()
    report.check(
        "every dispatch answered 200 and the ticket is dispatched",
        bool(samples) and done == len(timed) + probe,
        f"{done} of {len(timed) + probe} dispatched",
    )
    p99 = latency_summary(samples)["p99"] if samples else float("inf")
    report.target(f"p99 of {len(timed)} dispatches", p99, TARGET_P99_MS, "ms", higher_is_better=False)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    django_setup(database_url(args), redis_url=None if args.no_redis else args.redis_url, fresh=args.fresh)
    return run(args).verdict()


if __name__ == "__main__":
    sys.exit(main())
