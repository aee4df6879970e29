"""Benchmark: routing rule matching in-process, 1,000 rules (issue 4: at least 5,000 tickets a second).

    .venv/bin/python bench/routing_match.py [--quick] [--fresh] [--rules 1000] [--tickets 20000] [--rounds 5]

Installs the rules through routing.actions.rules_apply, compiles them once through
routing.rules.ruleset(), then matches tickets built from the demo city's templates. A third
of the callers have called before (earlier tickets in the database), so the repeat-caller
rules have something to count. Figures: compile time, the cost of the cached ruleset() call
(one single-row query), matching throughput in batches (the callers' history fetched with
one query per batch, as rules_simulate does; no query per rule or per ticket), the per-ticket
path of a registration (repeat-caller count queried live), and that a rule change is picked
up (cache invalidation).
"""

import argparse
import datetime
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a script: the repository root on the path, for `bench.…`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.routing_city import Body, City, bodies_generate, city_load, rules_install  # noqa: E402
from bench.routing_common import (  # noqa: E402
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
    say,
    tables_analyze,
)

if TYPE_CHECKING:
    from routing.rules import Facts, Ruleset

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
    tables_analyze(Ticket)
    meta_set("match.history", key)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=None, help="distinct tickets (default 20,000; quick 2,000)")
    parser.add_argument("--rounds", type=int, default=None, help="passes over the tickets (default 5; quick 2)")
    args = parser.parse_args(argv)
    args.tickets = args.tickets or (2_000 if args.quick else 20_000)
    args.rounds = args.rounds or (2 if args.quick else 5)
    return args


def facts_of(city: City) -> Callable[[Body], "Facts"]:
    """Body -> a fresh Facts each time: text normalisation and the category path are part of the cost."""
    from routing.rules import Facts

    paths = {code: category.path for code, category in city.categories.items()}
    districts = {code: district.pk for code, district in city.districts.items()}

    def facts(body: Body) -> Facts:
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

    return facts


def compiled_once(report: Report, *, calls: int) -> "Ruleset":
    """Compile from cold, then show that ruleset() hands back the same compiled rules at one query a call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from routing.rules import rules_cache_clear, ruleset

    rules_cache_clear()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        compiled = ruleset()
        compile_seconds = time.perf_counter() - started
    report.figure("rules compiled (active)", f"{len(compiled):,}")
    report.figure("first ruleset(): read + compile", f"{compile_seconds * 1000:.1f} ms, {len(queries)} queries")
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        same = all(ruleset() is compiled for _ in range(calls))
        per_call = (time.perf_counter() - started) / calls
    report.figure(
        "cached ruleset() (token check, no recompile)",
        f"{per_call * 1e6:.0f} µs per call, {len(queries) / calls:.0f} query",
    )
    report.check("compiled once and cached", same, f"{calls:,} calls returned the same compiled ruleset")
    return compiled


def matching_in_batches(report: Report, compiled: "Ruleset", bodies: list[Body], facts, *, rounds: int) -> float:
    """What the target measures: tickets matched per second, the callers' history one query per batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from routing.rules import facts_prefetch_repeats

    def match_all() -> list:
        matched = []
        for offset in range(0, len(bodies), BATCH):
            batch = [facts(body) for body in bodies[offset : offset + BATCH]]
            facts_prefetch_repeats(batch, days=compiled.repeat_days)
            matched.extend(compiled.match(one) for one in batch)
        return matched

    rules = match_all()
    share = {
        "matched": sum(rule is not None for rule in rules),
        "auto": sum(bool(rule and rule.auto_dispatch) for rule in rules),
        "repeat": sum(bool(rule and rule.repeat_count) for rule in rules),
    }
    shares = " / ".join(f"{count / len(bodies):.1%}" for count in share.values())
    report.figure("tickets matched / auto-dispatched / by a repeat rule", shares)
    rates = []
    with CaptureQueriesContext(connection) as queries:
        for _round in range(rounds):
            started = time.perf_counter()
            match_all()
            rates.append(len(bodies) / (time.perf_counter() - started))
    median = statistics.median(rates)
    per_batch = len(queries) / (rounds * -(-len(bodies) // BATCH))
    report.figure(f"matching in batches of {BATCH} (median round)", f"{median:,.0f} tickets/s ({max(rates):,.0f} best)")
    report.figure("mean time per ticket", f"{1e6 / median:.0f} µs")
    report.figure("queries while matching", f"{len(queries):,} ({per_batch:.1f} per batch, none per rule)")
    return median


def matching_one_at_a_time(report: Report, bodies: list[Body], facts) -> None:
    """As a registration routes a ticket: the token check, then the repeat-caller count queried live if needed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from routing.rules import ruleset
    from routing.rules.matching import _repeat_count

    sample = bodies[: min(len(bodies), 2_000)]
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        for body in sample:
            ruleset().match(facts(body))
        single = len(sample) / (time.perf_counter() - started)
    report.figure(
        "one at a time: ruleset().match() (registration)",
        f"{single:,.0f} tickets/s, {len(queries) / len(sample):.2f} queries per ticket (no target)",
    )
    # The live count's plan: the caller's number through its index, never the whole table.
    caller = next((f for f in map(facts, bodies) if f.repeats(30) > 1), None)
    if caller is None:
        say("no repeat caller among the tickets: the count's plan is not shown")
        return
    caller._repeats.clear()
    plan = explain_call(lambda: _repeat_count(caller, 30))
    print("   the repeat-caller count at registration, EXPLAIN:")
    print_plan(plan)
    text = "\n".join(plan)
    report.check(
        "repeat-caller count uses the caller index",
        "routing_ticket_caller_created" in text and "Seq Scan on tickets_ticket" not in text,
    )


def invalidated_on_change(report: Report) -> None:
    """A rule switched off through rule_save is out of the very next ruleset(), and back in once switched on."""
    from routing.actions import rule_save
    from routing.rules import rule_specs, ruleset

    before = ruleset()
    spec = next(s for s in rule_specs() if s.is_active)
    rule_save(spec.replace(is_active=False), actor=None)
    started = time.perf_counter()
    after = ruleset()
    recompile = time.perf_counter() - started
    rule_save(spec, actor=None)
    restored = ruleset()
    switched_off = after is not before and len(after) == len(before) - 1 and spec.id not in {r.id for r in after.rules}
    invalidated = switched_off and restored is not after and len(restored) == len(before)
    detail = f"a rule switched off and on again through rule_save: recompiled in {recompile * 1000:.0f} ms"
    report.check("invalidated on change", invalidated, detail)


def run(args: argparse.Namespace) -> Report:
    """The benchmark on the database Django is set up with."""
    from tickets import clock

    print_header(f"Routing rule matching: {args.rules:,} rules, {args.tickets:,} tickets × {args.rounds} rounds")
    report = Report()
    city = city_load()
    installed = rules_install(city, args.rules, seed=args.seed)
    if installed:
        say(f"{args.rules:,} rules saved in {installed:.1f} s")
    # A fixed "now": a re-run finds the same callers' history around the same tickets.
    now = datetime.datetime(2026, 3, 16, 10, 0, tzinfo=datetime.UTC)
    bodies = bodies_generate(args.tickets, seed=args.seed, now=now)
    history_install(city, bodies, seed=args.seed)
    compiled = compiled_once(report, calls=500 if args.quick else 2_000)
    facts = facts_of(city)
    with clock.at(now):
        rate = matching_in_batches(report, compiled, bodies, facts, rounds=args.rounds)
        matching_one_at_a_time(report, bodies, facts)
    invalidated_on_change(report)
    report.target(f"matching with {len(compiled):,} rules", rate, TARGET_PER_SECOND, "tickets/s", higher_is_better=True)
    if args.rules < 1000:
        say(f"only {args.rules} rules: the target is for 1,000")
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    django_setup(database_url(args), fresh=args.fresh)
    return run(args).verdict()


if __name__ == "__main__":
    sys.exit(main())
