"""Benchmark: the overdue scan over 1,000,000 open tickets on PostgreSQL (issue 4: under 2 s, through an index).

    .venv/bin/python bench/routing_overdue.py [--quick] [--fresh] [--tickets 1000000] [--overdue 0.05] [--new-due 100]

Set-up (kept between runs with the same parameters): `--tickets` tickets held by departments
(accepted, dispatched, extension requested, reopened) written with COPY, a fraction
`--overdue` of them past their deadline. All but `--new-due` of those were escalated by
earlier sweeps (their escalation rows exist); the `--new-due` fell due in the ten minutes
before the sweep, as after a worker's short outage. The sweep runs at a fixed moment, so a
re-run finds the same work (escalations a previous run made are removed first).

Figures: EXPLAIN ANALYZE of the scan query for each status (it must read the
(status, deadline) index and the escalation's unique index, never the whole table), the real
routing.clocks.escalations_overdue — escalating the newly due tickets and publishing their
events — and the same sweep again with nothing left to do (the every-minute steady state).
"""

import argparse
import datetime
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root on the path, for `bench.…`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.routing_city import city_load  # noqa: E402
from bench.routing_common import (  # noqa: E402
    DEFAULT_REDIS,
    Report,
    arguments,
    database_url,
    django_setup,
    explain_call,
    meta_get,
    meta_set,
    print_header,
    print_plan,
    rows_insert,
    rows_insert_select,
    say,
    table_empty,
    tables_analyze,
)

TARGET_SECONDS = 2.0
PREFIX = "6"  # numbers of the tickets written by this benchmark
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
# The sweep's moment: a Monday morning. Fixed, so the data set and a re-run agree on what is due.
NOW = datetime.datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI)
FRESH = datetime.timedelta(minutes=10)  # the newly due fell due this long before the sweep at most
STATUS_SHARE = {"accepted": 57, "dispatched": 27, "extension_requested": 10, "reopened": 6}
LIMIT_DAYS = {"consultation": 1, "help": 1, "complaint": 5, "report": 5, "suggestion": 10, "praise": 5}
KIND_SHARE = {"complaint": 40, "help": 20, "consultation": 15, "report": 12, "suggestion": 8, "praise": 5}
INDEX = "routing_open_ticket_status_deadline"  # routing migration 0007


def _db_time(moment: datetime.datetime):
    """A datetime as a raw query's parameter (SQLite stores naive UTC text; PostgreSQL takes it as is)."""
    from django.db import connection

    return connection.ops.adapt_datetimefield_value(moment)


def _ticket_rows(count: int, *, overdue: float, new_due: int, seed: int) -> Iterator[dict[str, Any]]:
    """The open tickets' rows: a fraction `overdue` past the deadline, `new_due` of them only just.

    Reads the city first, then yields without touching the database: the rows feed a COPY,
    which holds the connection until the last row (a query meanwhile would wait forever).
    """
    from tickets.demo import CATEGORIES, DISTRICTS

    city = city_load()
    rng = random.Random(seed)
    leaves = [
        (city.categories[leaf.code].pk, city.departments[leaf.department].pk)
        for root in CATEGORIES
        for leaf in root.leaves
    ]
    districts = [city.districts[d.code].pk for d in DISTRICTS]
    late = set(rng.sample(range(count), round(count * overdue)))
    fresh = set(rng.sample(sorted(late), min(new_due, len(late))))
    return _rows(count, rng, leaves, districts, late, fresh)


def _rows(
    count: int, rng: random.Random, leaves: list[tuple[int, int]], districts: list[int], late: set[int], fresh: set[int]
) -> Iterator[dict[str, Any]]:
    statuses, status_weights = zip(*STATUS_SHARE.items(), strict=True)
    kinds, kind_weights = zip(*KIND_SHARE.items(), strict=True)
    for number in range(count):
        kind = rng.choices(kinds, kind_weights)[0]
        category, department = rng.choice(leaves)
        if number in fresh:
            deadline = NOW - datetime.timedelta(seconds=rng.uniform(1, FRESH.total_seconds()))
        elif number in late:
            deadline = NOW - datetime.timedelta(seconds=rng.uniform(FRESH.total_seconds(), 10 * 86400))
        else:
            deadline = NOW + datetime.timedelta(seconds=rng.uniform(60, LIMIT_DAYS[kind] * 1.4 * 86400))
        dispatched = deadline - datetime.timedelta(days=LIMIT_DAYS[kind] * 1.4)
        created = dispatched - datetime.timedelta(seconds=rng.uniform(60, 7200))
        yield {
            "number": f"{PREFIX}{number:013d}",
            "kind": kind,
            "status": rng.choices(statuses, status_weights)[0],
            "caller_number": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            "title": "诉求",
            "description": "市民反映的问题",
            "district_id": rng.choice(districts),
            "category_id": category,
            "lead_department_id": department,
            "deadline": deadline,
            "created_at": created,
            "registered_at": created,
            "dispatched_at": dispatched,
            "updated_at": dispatched,
        }


def tickets_install(count: int, *, overdue: float, new_due: int, seed: int) -> None:
    """The open tickets and the escalations earlier sweeps made; kept when already there with these parameters."""
    from django.db import connection

    from routing.models import Callback, Escalation, Reminder
    from tickets.models import Ticket

    key = f"n={count} overdue={overdue} new_due={new_due} seed={seed} now={NOW.isoformat()}"
    if meta_get("overdue.setup") == key:
        say(f"{count:,} open tickets already there (--fresh to start over)")
        return
    meta_set("overdue.setup", None)
    meta_set("overdue.reminders", None)
    table_empty(Escalation, Reminder, Callback)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tickets_ticket WHERE number LIKE %s", [PREFIX + "%"])
        if cursor.rowcount:
            say(f"{cursor.rowcount:,} tickets of an earlier set-up deleted ({time.perf_counter() - started:.1f} s)")
    rows = _ticket_rows(count, overdue=overdue, new_due=new_due, seed=seed)
    rows_insert(Ticket, rows, total=count, label="open tickets (COPY)", batch=50_000)
    started = time.perf_counter()
    # What earlier sweeps left: one overdue escalation per past deadline, except the newly due ones.
    escalated = rows_insert_select(
        Escalation,
        {
            "ticket_id": "id",
            "reason": "'overdue'",
            "deadline": "deadline",
            "department_id": "lead_department_id",
            "created_at": "deadline",
        },
        "tickets_ticket WHERE number LIKE %s AND deadline < %s",
        [PREFIX + "%", _db_time(NOW - FRESH)],
    )
    say(f"{escalated:,} earlier escalations written ({time.perf_counter() - started:.1f} s)")
    tables_analyze(Ticket, Escalation)
    meta_set("overdue.setup", key)


def reminders_install(key: str) -> None:
    """The reminders earlier sweeps planned (PostgreSQL): 50 % and 80 % for every ticket, sign-for while unaccepted.

    Those due more than ten minutes before the sweep were sent; the rest are pending.
    """
    from routing.models import Reminder

    if meta_get("overdue.reminders") == key:
        say("planned reminders already there")
        return
    started = time.perf_counter()
    table_empty(Reminder)
    sent_by = _db_time(NOW - FRESH)
    for kind, fraction, statuses in (
        ("half", 0.5, tuple(STATUS_SHARE)),
        ("eighty", 0.8, tuple(STATUS_SHARE)),
        ("sign_for", 0.2, ("dispatched", "reopened")),
    ):
        due = f"dispatched_at + (deadline - dispatched_at) * {fraction}"
        planned = rows_insert_select(
            Reminder,
            {
                "ticket_id": "id",
                "kind": f"'{kind}'",
                "deadline": "deadline",
                "department_id": "lead_department_id",
                "due_at": due,
                "state": (f"CASE WHEN {due} < %s THEN 'sent' ELSE 'pending' END", [sent_by]),
                "sent_at": (f"CASE WHEN {due} < %s THEN {due} END", [sent_by]),
                "created_at": "dispatched_at",
            },
            "tickets_ticket WHERE number LIKE %s AND status = ANY(%s)",
            [PREFIX + "%", list(statuses)],
        )
        say(f"{planned:,} {kind} reminders planned ({time.perf_counter() - started:.1f} s)")
    tables_analyze(Reminder)
    meta_set("overdue.reminders", key)


def scan_plans(report: Report) -> None:
    """EXPLAIN ANALYZE of the sweep's scan for each status: the open tickets' index, index-only, no table scan."""
    from django.db import connection

    from routing.clocks import BATCH, overdue_tickets
    from tickets.models import WITH_DEPARTMENT

    index = INDEX if connection.vendor == "postgresql" else "ticket_status_deadline"
    all_indexed = True
    for status in sorted(WITH_DEPARTMENT):
        # The sweep's scan as escalations_overdue runs it: the ids of the first batch.
        query = overdue_tickets(NOW, status).values_list("pk", flat=True)[:BATCH]
        plan = explain_call(lambda query=query: list(query))
        text = "\n".join(plan)
        scan = next(
            (line.strip() for line in plan if "on tickets_ticket" in line or "tickets_ticket USING" in line), ""
        )
        indexed = index in scan and "Seq Scan on tickets_ticket" not in text and "SCAN tickets_ticket" not in text
        all_indexed &= indexed
        how = "index-only scan" if ("Index Only Scan" in scan or "COVERING INDEX" in scan) else "index scan"
        fetches = next((line.strip() for line in plan if "Heap Fetches" in line), "")
        runtime = next((line.split(":")[1].strip() for line in plan if line.startswith("Execution Time")), "")
        detail = ", ".join(part for part in (runtime, how if indexed else "NOT THE INDEX", fetches) if part)
        report.figure(f"scan query, {status}", detail)
        if status == "accepted" or not indexed:
            print(f"   EXPLAIN (ANALYZE, BUFFERS) of the scan for '{status}':")
            print_plan(plan)
    report.check(f"the scan reads the index {index}, no table scan", all_indexed)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = arguments(__doc__.splitlines()[0], database="postgres://postgres@127.0.0.1:5432/routebench_overdue")
    parser.add_argument("--tickets", type=int, default=None, help="open tickets (default 1,000,000; quick 50,000)")
    parser.add_argument("--overdue", type=float, default=0.05, help="fraction past the deadline (default 0.05)")
    parser.add_argument("--new-due", type=int, default=100, help="past due and not escalated yet (default 100)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="in-memory channel layer instead of Redis")
    parser.add_argument(
        "--full-sweep",
        action="store_true",
        help="also time the whole every-minute clocks_sweep (PostgreSQL; plans reminders for every ticket first)",
    )
    args = parser.parse_args(argv)
    args.tickets = args.tickets or (50_000 if args.quick else 1_000_000)
    return args


def run(args: argparse.Namespace) -> Report:
    """The benchmark on the database Django is set up with."""
    from django.db import connection

    from routing.clocks import clocks_sweep, escalations_overdue
    from routing.models import Escalation, Reminder
    from tickets.models import WITH_DEPARTMENT, Ticket

    title = f"Overdue scan: {args.tickets:,} open tickets, {args.overdue:.0%} past due, {args.new_due} newly due"
    print_header(title)
    report = Report()
    if connection.vendor != "postgresql":
        say("the target is for PostgreSQL; this run is on " + connection.vendor)
    tickets_install(args.tickets, overdue=args.overdue, new_due=args.new_due, seed=args.seed)
    removed, _by_model = Escalation.objects.filter(created_at__gte=NOW).delete()
    if removed:
        say(f"{removed:,} escalations of a previous run removed")
    past = Ticket.objects.filter(status__in=WITH_DEPARTMENT, deadline__lt=NOW).count()
    report.figure(
        "open tickets (held by a department)", f"{Ticket.objects.filter(status__in=WITH_DEPARTMENT).count():,}"
    )
    report.figure("past their deadline / escalated before", f"{past:,} / {Escalation.objects.count():,}")
    scan_plans(report)

    started = time.perf_counter()
    escalated = escalations_overdue(now=NOW)
    first = time.perf_counter() - started
    report.figure("escalations_overdue(): newly due escalated", f"{escalated:,} in {first:.3f} s")
    started = time.perf_counter()
    again = escalations_overdue(now=NOW)
    steady = time.perf_counter() - started
    report.figure("escalations_overdue() again: nothing new", f"{again:,} in {steady:.3f} s")
    if args.full_sweep and connection.vendor == "postgresql":
        reminders_install(meta_get("overdue.setup") or "")
        Reminder.objects.filter(sent_at=NOW).update(state="pending", sent_at=None)  # what a previous run sent
        started = time.perf_counter()
        result = clocks_sweep(now=NOW)
        report.figure("clocks_sweep(), every clock (no target)", f"{time.perf_counter() - started:.3f} s: {result}")
    expected = min(args.new_due, round(args.tickets * args.overdue))
    report.check("each newly due ticket escalated once", escalated == expected and again == 0)
    label = f"overdue sweep over {args.tickets:,} open tickets"
    report.target(label, max(first, steady), TARGET_SECONDS, "s", higher_is_better=False)
    if args.tickets < 1_000_000:
        say("fewer than 1,000,000 tickets: the target is for 1,000,000")
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    django_setup(database_url(args), redis_url=None if args.no_redis else args.redis_url, fresh=args.fresh)
    return run(args).verdict()


if __name__ == "__main__":
    sys.exit(main())
