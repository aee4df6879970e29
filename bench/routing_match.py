"""Benchmark: routing rule matching in-process, 1,000 rules (issue 4: at least 5,000 tickets a second).

    .venv/bin/python bench/routing_match.py [--quick] [--rules 1000] [--tickets 20000]

Installs the rules through routing.actions.rules_apply, compiles them once through
routing.rules.ruleset(), then matches tickets built from the demo city's templates. A third
of the callers have called before (earlier tickets in the database), so the repeat-caller
rules have something to count. Figures: compile time, the cost of the cached ruleset() call
(one single-row query), matching throughput in batches (the callers' history fetched with
one query per batch, as rules_simulate does; no query per rule or per ticket), the per-ticket
path of a registration (repeat-caller count queried live), and that a rule change is picked
up (cache invalidation).
"""

import datetime
import random
import statistics
import time

from routing_common import (
    Body,
    City,
    Report,
    arguments,
    bodies_generate,
    city_load,
    django_setup,
    explain_call,
    meta_get,
    meta_set,
    print_header,
    print_plan,
    rows_insert,
    rules_install,
    say,
)

TARGET_PER_SECOND = 5_000
BATCH = 500  # tickets matched per history query
HISTORY_PREFIX = "8"  # numbers of the callers' earlier tickets written by this benchmark


def history_install(city: City, bodies: list[Body], *, seed: int) -> None:
    """Earlier tickets of a third of the callers (1–4 each, in the month before their call)."""
    from django.db import connection

    from tickets.models import Ticket

    key = f"{len(bodies)} seed={seed}"
    if meta_get("match.history") == key:
        say("callers' earlier tickets already there")
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tickets_ticket WHERE number LIKE %s", [HISTORY_PREFIX + "%"])
    rng = random.Random(seed + 2)
    plan = [(body, rng.randint(1, 4)) for body in bodies if rng.random() < 1 / 3]
    total = sum(count for _body, count in plan)

    def rows():
        number = 0
        for body, count in plan:
            for _earlier in range(count):
                number += 1
                created = body.at - datetime.timedelta(seconds=rng.randrange(1, 30 * 86400))
                yield {
                    "number": f"{HISTORY_PREFIX}{number:013d}",
                    "kind": body.kind,
                    "channel": body.channel,
                    "status": "closed",
                    "caller_number": body.caller_number,
                    "title": body.title,
                    "description": body.description,
                    "district_id": city.districts[body.district].pk,
                    "category_id": city.categories[body.category].pk,
                    "created_at": created,
                    "updated_at": created,
                }

    rows_insert(Ticket, rows(), total=total, label="callers' earlier tickets")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tickets_ticket")
    meta_set("match.history", key)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=None, help="distinct tickets (default 20,000; quick 2,000)")
    parser.add_argument("--rounds", type=int, default=None, help="passes over the tickets (default 5; quick 2)")
    args = parser.parse_args()
    tickets = args.tickets or (2_000 if args.quick else 20_000)
    rounds = args.rounds or (2 if args.quick else 5)
    django_setup(args.database_url)

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from routing.actions import rule_save
    from routing.rules import Facts, facts_prefetch_repeats, rule_specs, rules_cache_clear, rules_changed, ruleset
    from routing.rules.matching import _repeat_count
    from tickets import clock

    print_header(f"Routing rule matching: {args.rules:,} rules, {tickets:,} tickets × {rounds} rounds")
    report = Report()
    city = city_load()
    installed = rules_install(city, args.rules, seed=args.seed)
    if installed:
        say(f"{args.rules:,} rules saved in {installed:.1f} s")
    # A fixed "now": a re-run finds the same callers' history around the same tickets.
    now = datetime.datetime(2026, 3, 16, 10, 0, tzinfo=datetime.UTC)
    bodies = bodies_generate(tickets, seed=args.seed, now=now)
    history_install(city, bodies, seed=args.seed)

    rules_cache_clear()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        compiled = ruleset()
        compile_seconds = time.perf_counter() - started
    report.figure("rules compiled (active)", f"{len(compiled):,}")
    report.figure("first ruleset(): read + compile", f"{compile_seconds * 1000:.1f} ms, {len(queries)} queries")

    calls = 500 if args.quick else 2_000
    started = time.perf_counter()
    same = all(ruleset() is compiled for _ in range(calls))
    per_call = (time.perf_counter() - started) / calls
    report.figure("cached ruleset() (token check, no recompile)", f"{per_call * 1e6:.0f} µs per call, 1 query")
    report.check("compiled once and cached", same, f"{calls:,} calls returned the same compiled ruleset")

    paths = {code: category.path for code, category in city.categories.items()}
    districts = {code: district.pk for code, district in city.districts.items()}

    def facts(body: Body) -> Facts:
        # A fresh Facts each time: text normalisation and the category path are part of the cost.
        return Facts(
            kind=body.kind,
            urgency=body.urgency,
            channel=body.channel,
            district=districts[body.district],
            category_path=paths[body.category],
            title=body.title,
            description=body.description,
            at=body.at,
            caller_number=body.caller_number,
        )

    def match_all() -> list:
        matched = []
        for offset in range(0, len(bodies), BATCH):
            batch = [facts(body) for body in bodies[offset : offset + BATCH]]
            facts_prefetch_repeats(batch, days=compiled.repeat_days)
            matched.extend(compiled.match(one) for one in batch)
        return matched

    with clock.at(now):
        rules = match_all()
        matched = sum(rule is not None for rule in rules) / tickets
        auto = sum(bool(rule and rule.auto_dispatch) for rule in rules) / tickets
        repeat = sum(bool(rule and rule.repeat_count) for rule in rules) / tickets
        report.figure(
            "tickets matched / auto-dispatched / by a repeat rule", f"{matched:.1%} / {auto:.1%} / {repeat:.1%}"
        )

        rates = []
        with CaptureQueriesContext(connection) as queries:
            for _round in range(rounds):
                started = time.perf_counter()
                match_all()
                rates.append(tickets / (time.perf_counter() - started))
        median, best = statistics.median(rates), max(rates)
        per_batch = len(queries) / (rounds * -(-tickets // BATCH))
        report.figure(f"matching in batches of {BATCH} (median round)", f"{median:,.0f} tickets/s ({best:,.0f} best)")
        report.figure("mean time per ticket", f"{1e6 / median:.0f} µs")
        report.figure("queries while matching", f"{len(queries):,} ({per_batch:.1f} per batch, none per rule)")

        # One ticket at a time, as a registration routes it: token check + live repeat-caller count.
        sample = bodies[: min(len(bodies), 2_000)]
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            for body in sample:
                ruleset().match(facts(body))
            single = len(sample) / (time.perf_counter() - started)
        report.figure(
            "one at a time: ruleset().match() (registration)",
            f"{single:,.0f} tickets/s, {len(queries) / len(sample):.2f} queries per ticket",
        )

        # The live count's plan: the caller's number and the citizen through their indexes, never the table.
        caller = next(f for f in map(facts, bodies) if f.repeats(30) > 1)
        caller._repeats.clear()
        plan = explain_call(lambda: _repeat_count(caller, 30))
        print("   the repeat-caller count at registration, EXPLAIN:")
        print_plan(plan)
        text = "\n".join(plan)
        report.check(
            "repeat-caller count uses the caller index",
            "routing_ticket_caller_created" in text and "Seq Scan on tickets_ticket" not in text,
        )

    # Invalidation: a saved change gives a new token; every process recompiles at its next call.
    spec = next(s for s in rule_specs() if s.is_active)
    with transaction.atomic():
        rules_changed()
    fresh = ruleset()
    rule_save(spec.replace(is_active=False), actor=None)
    started = time.perf_counter()
    after = ruleset()
    recompile = time.perf_counter() - started
    rule_save(spec, actor=None)
    restored = ruleset()
    invalidated = fresh is not compiled and len(after) == len(compiled) - 1 and len(restored) == len(compiled)
    detail = f"a rule switched off and on again: recompiled in {recompile * 1000:.0f} ms"
    report.check("invalidated on change", invalidated, detail)

    report.target(
        f"matching with {len(compiled):,} rules", median, TARGET_PER_SECOND, "tickets/s", higher_is_better=True
    )
    if args.rules < 1000:
        say(f"only {args.rules} rules: the target is for 1,000")
    report.exit()


if __name__ == "__main__":
    main()
