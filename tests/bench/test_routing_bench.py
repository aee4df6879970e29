"""The routing benchmarks still run end to end, tiny, on the test database: not a benchmark (bench/README.md)."""

import pytest

from bench import routing_dispatch, routing_match, routing_overdue
from routing.rules import rules_cache_clear

# Fewer than the 42 catch-all rules of the demo city's leaves would leave tickets without a suggestion.
RULES = "60"


@pytest.fixture(autouse=True)
def _fresh_rules():
    # A rolled-back test leaves its compiled rules in this process; the next test must not see them.
    rules_cache_clear()
    yield
    rules_cache_clear()


def test_the_matching_benchmark_compiles_once_matches_and_sees_a_change(db, capsys):
    args = routing_match.parse(["--quick", "--rules", RULES, "--tickets", "300", "--rounds", "1"])

    report = routing_match.run(args)

    printed = capsys.readouterr().out
    assert report.results["compiled once and cached"], printed
    assert report.results["invalidated on change"], printed
    assert report.results["repeat-caller count uses the caller index"], printed
    assert f"matching with {RULES} rules" in printed


def test_the_dispatch_benchmark_dispatches_every_ticket_through_the_api(db, capsys):
    args = routing_dispatch.parse(["--quick", "--rules", RULES, "--dispatches", "4", "--warm-up", "1"])

    report = routing_dispatch.run(args)

    printed = capsys.readouterr().out
    assert report.results["every dispatch answered 200 and the ticket is dispatched"], printed
    assert "p99 of 4 dispatches" in printed


def test_the_overdue_benchmark_escalates_each_newly_due_ticket_once(db, capsys):
    args = routing_overdue.parse(["--quick", "--tickets", "400", "--new-due", "5"])

    report = routing_overdue.run(args)

    printed = capsys.readouterr().out
    assert report.results["each newly due ticket escalated once"], printed
    assert "past their deadline / escalated before               20 / 15" in printed
