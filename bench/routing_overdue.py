"""Benchmark: the overdue scan over 1,000,000 open tickets on PostgreSQL (issue 4: under 2 s, through an index).

    .venv/bin/python bench/routing_overdue.py [--quick] [--tickets 1000000] [--overdue 0.05] [--new-due 100]

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

import datetime
import random
import time

from routing_common import (
    DEFAULT_REDIS,
    Report,
    arguments,
    city_load,
    django_setup,
    explain_call,
    load_average,
    meta_get,
    meta_set,
    print_header,
    print_plan,
    rows_insert,
    say,
)

TARGET_SECONDS = 2.0
PREFIX = "6"  # numbers of the tickets written by this benchmark
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
# The sweep's moment: a Monday morning. Fixed, so the data set and a re-run agree on what is due.
NOW = datetime.datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI)
STATUS_SHARE = {"accepted": 57, "dispatched": 27, "extension_requested": 10, "reopened": 6}
LIMIT_DAYS = {"consultation": 1, "help": 1, "complaint": 5, "report": 5, "suggestion": 10, "praise": 5}
KIND_SHARE = {"complaint": 40, "help": 20, "consultation": 15, "report": 12, "suggestion": 8, "praise": 5}


def tickets_install(count: int, *, overdue: float, new_due: int, seed: int) -> None:
    """The open tickets and the escalations earlier sweeps made; skipped when already there."""
    from django.db import connection

    from tickets.demo import CATEGORIES, DISTRICTS
    from tickets.models import Ticket

    key = f"n={count} overdue={overdue} new_due={new_due} seed={seed} now={NOW.isoformat()}"
    if meta_get("overdue.setup") == key:
        say(f"{count:,} open tickets already there")
        return
    city = city_load()
    with connection.cursor() as cursor:
        say("emptying the tickets table")
        cursor.execute("TRUNCATE routing_escalation, routing_reminder, routing_callback")
        cursor.execute("DELETE FROM tickets_ticket WHERE number LIKE %s", [PREFIX + "%"])
    rng = random.Random(seed)
    leaves = [
        (city.categories[leaf.code].pk, city.departments[leaf.department].pk)
        for root in CATEGORIES
        for leaf in root.leaves
    ]
    districts = [city.districts[d.code].pk for d in DISTRICTS]
    statuses, status_weights = zip(*STATUS_SHARE.items(), strict=True)
    kinds, kind_weights = zip(*KIND_SHARE.items(), strict=True)
    past_due = round(count * overdue)
    late = set(rng.sample(range(count), past_due))
    fresh = set(rng.sample(sorted(late), min(new_due, past_due)))

    def rows():
        for number in range(count):
            kind = rng.choices(kinds, kind_weights)[0]
            category, department = rng.choice(leaves)
            if number in fresh:
                deadline = NOW - datetime.timedelta(seconds=rng.uniform(1, 600))
            elif number in late:
                deadline = NOW - datetime.timedelta(seconds=rng.uniform(600, 10 * 86400))
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

    rows_insert(Ticket, rows(), total=count, label="open tickets (COPY)", batch=50_000)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # What earlier sweeps left: one overdue escalation per past deadline, except the newly due ones.
        cursor.execute(
            """
            INSERT INTO routing_escalation (ticket_id, reason, deadline, department_id, created_at, resolved_at)
            SELECT id, 'overdue', deadline, lead_department_id, deadline + interval '1 minute', NULL
            FROM tickets_ticket
            WHERE number LIKE %s AND deadline < %s
            """,
            [PREFIX + "%", NOW - datetime.timedelta(seconds=600)],
        )
        escalated = cursor.rowcount
    say(f"{escalated:,} earlier escalations written ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Autovacuum would have done this on a live table: statistics and the visibility map.
        cursor.execute("VACUUM ANALYZE tickets_ticket")
        cursor.execute("VACUUM ANALYZE routing_escalation")
    say(f"VACUUM ANALYZE ({time.perf_counter() - started:.1f} s)")
    meta_set("overdue.setup", key)


def reminders_install(key: str) -> None:
    """The reminders earlier sweeps planned: 50 % and 80 % for every ticket, sign-for while unaccepted.

    Those due more than ten minutes before the sweep were sent; the rest are pending.
    """
    from django.db import connection

    if meta_get("overdue.reminders") == key:
        say("planned reminders already there")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE routing_reminder")
        for kind, fraction, statuses in (
            ("half", 0.5, tuple(STATUS_SHARE)),
            ("eighty", 0.8, tuple(STATUS_SHARE)),
            ("sign_for", 0.2, ("dispatched", "reopened")),
        ):
            cursor.execute(
                """
                INSERT INTO routing_reminder
                    (ticket_id, kind, deadline, department_id, due_at, state, sent_at, created_at)
                SELECT id, %s, deadline, lead_department_id, due, CASE WHEN due < %s THEN 'sent' ELSE 'pending' END,
                       CASE WHEN due < %s THEN due END, dispatched_at
                FROM (SELECT *, dispatched_at + (deadline - dispatched_at) * %s AS due FROM tickets_ticket
                      WHERE number LIKE %s AND status = ANY(%s)) AS t
                """,
                [kind, NOW - datetime.timedelta(minutes=10), NOW - datetime.timedelta(minutes=10), fraction]
                + [PREFIX + "%", list(statuses)],
            )
            say(f"{cursor.rowcount:,} {kind} reminders planned ({time.perf_counter() - started:.1f} s)")
        cursor.execute("VACUUM ANALYZE routing_reminder")
    meta_set("overdue.reminders", key)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], database="postgres://postgres@127.0.0.1:5432/routebench_overdue")
    parser.add_argument("--tickets", type=int, default=None, help="open tickets (default 1,000,000; quick 50,000)")
    parser.add_argument("--overdue", type=float, default=0.05, help="fraction past the deadline (default 0.05)")
    parser.add_argument("--new-due", type=int, default=100, help="past due and not escalated yet (default 100)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--no-redis", action="store_true", help="in-memory channel layer instead of Redis")
    parser.add_argument(
        "--full-sweep",
        action="store_true",
        help="also time the whole every-minute clocks_sweep (plans reminders for every ticket first)",
    )
    args = parser.parse_args()
    count = args.tickets or (50_000 if args.quick else 1_000_000)
    django_setup(args.database_url, redis_url=None if args.no_redis else args.redis_url)

    from django.db import connection

    from routing.clocks import BATCH, clocks_sweep, escalations_overdue, overdue_tickets
    from routing.models import Escalation, Reminder
    from tickets.models import WITH_DEPARTMENT, Ticket

    print_header(f"Overdue scan: {count:,} open tickets, {args.overdue:.0%} past due, {args.new_due} newly due")
    report = Report()
    if connection.vendor != "postgresql":
        say("the target is for PostgreSQL; this run is on " + connection.vendor)
    tickets_install(count, overdue=args.overdue, new_due=args.new_due, seed=args.seed)
    removed, _by_model = Escalation.objects.filter(created_at__gte=NOW).delete()
    if removed:
        say(f"{removed:,} escalations of a previous run removed")

    open_count = Ticket.objects.filter(status__in=WITH_DEPARTMENT).count()
    past = Ticket.objects.filter(status__in=WITH_DEPARTMENT, deadline__lt=NOW).count()
    report.figure("open tickets (held by a department)", f"{open_count:,}")
    report.figure("past their deadline / escalated before", f"{past:,} / {Escalation.objects.count():,}")

    all_indexed = True
    for status in sorted(WITH_DEPARTMENT):
        # The sweep's scan as escalations_overdue runs it: the ids of the first batch.
        query = overdue_tickets(NOW, status).values_list("pk", flat=True)[:BATCH]
        plan = explain_call(lambda query=query: list(query))
        text = "\n".join(plan)
        indexed = "ticket_status_deadline" in text and "Seq Scan on tickets_ticket" not in text
        all_indexed &= indexed
        ticket_scan = next((line for line in plan if "on tickets_ticket" in line), "")
        how = "index-only scan" if "Index Only Scan" in ticket_scan else "index scan"
        runtime = next((line.split(":")[1].strip() for line in plan if line.startswith("Execution Time")), "?")
        report.figure(f"scan query, {status}", f"{runtime} ({how if indexed else 'NO INDEX'})")
        if status == "accepted":
            print("   EXPLAIN (ANALYZE, BUFFERS) of the scan for 'accepted', the largest status:")
            print_plan(plan)
    report.check("the scan reads the (status, deadline) index, no table scan", all_indexed)

    started = time.perf_counter()
    escalated = escalations_overdue(now=NOW)
    first = time.perf_counter() - started
    report.figure("escalations_overdue(): newly due escalated", f"{escalated:,} in {first:.3f} s")
    started = time.perf_counter()
    again = escalations_overdue(now=NOW)
    steady = time.perf_counter() - started
    report.figure("escalations_overdue() again: nothing new", f"{again:,} in {steady:.3f} s")
    if args.full_sweep:
        reminders_install(meta_get("overdue.setup") or "")
        Reminder.objects.filter(sent_at=NOW).update(state="pending", sent_at=None)  # what a previous run sent
        started = time.perf_counter()
        result = clocks_sweep(now=NOW)
        whole = time.perf_counter() - started
        report.figure("clocks_sweep(), every clock (no target)", f"{whole:.3f} s: {result}")
    report.figure("load average at the end", load_average())
    expected = min(args.new_due, round(count * args.overdue))
    report.check("each newly due ticket escalated once", escalated == expected and again == 0)
    report.target(f"overdue sweep over {open_count:,} open tickets", first, TARGET_SECONDS, "s", higher_is_better=False)
    if count < 1_000_000:
        say("fewer than 1,000,000 tickets: the target is for 1,000,000")
    report.exit()


if __name__ == "__main__":
    main()
