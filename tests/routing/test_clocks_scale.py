"""The sweeps at scale: batches, one scan when a batch is not full, and the index-only overdue scan."""

import datetime
import importlib
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from routing import clocks
from routing.clocks import callbacks_schedule, escalations_overdue, overdue_tickets, reminders_plan
from routing.models import Callback, Escalation, Reminder
from tickets.models import WITH_DEPARTMENT, Status

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday of a week with no holiday: 23–27 November 2026 are working days.
MONDAY = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
LATER = datetime.datetime(2026, 12, 10, 9, 0, tzinfo=SHANGHAI)  # every ticket made on MONDAY is overdue

pytestmark = pytest.mark.django_db


def scans(queries: CaptureQueriesContext, marker: str) -> int:
    """How many of the captured queries were a sweep's scan (recognised by a fragment of its SQL)."""
    return sum(1 for query in queries.captured_queries if query["sql"].startswith("SELECT") and marker in query["sql"])


@pytest.fixture
def accepted(make_ticket):
    def make(count: int) -> list:
        with time_machine.travel(MONDAY, tick=False):
            return [make_ticket(Status.ACCEPTED) for _ in range(count)]

    return make


def test_the_overdue_sweep_escalates_every_ticket_across_several_batches(accepted, monkeypatch):
    tickets = accepted(5)
    monkeypatch.setattr(clocks, "BATCH", 2)

    assert escalations_overdue(now=LATER) == 5
    assert escalations_overdue(now=LATER) == 0
    assert sorted(Escalation.objects.values_list("ticket_id", flat=True)) == sorted(t.pk for t in tickets)


def test_the_overdue_sweep_scans_each_status_once_when_a_batch_is_not_full(accepted):
    accepted(3)

    with CaptureQueriesContext(connection) as queries:
        assert escalations_overdue(now=LATER) == 3

    assert scans(queries, "NOT EXISTS") == len(WITH_DEPARTMENT)


def test_planning_reminders_and_scheduling_callbacks_stop_after_a_short_batch(accepted, make_ticket):
    accepted(2)
    with time_machine.travel(MONDAY, tick=False):
        make_ticket(Status.REPLIED)

    with CaptureQueriesContext(connection) as queries:
        assert reminders_plan(now=LATER) == 2  # the replied ticket is no longer held by a department
        assert callbacks_schedule(now=LATER) == 1

    assert scans(queries, "NOT EXISTS") == 2
    assert Reminder.objects.exists() and Callback.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans (no partial index on SQLite)")
@pytest.mark.parametrize("status", sorted(WITH_DEPARTMENT))
def test_the_overdue_scan_reads_only_the_open_tickets_index(accepted, status):
    accepted(1)
    # The first batch's scan exactly as escalations_overdue runs it, for each status it sweeps.
    query = overdue_tickets(LATER, status).values_list("pk", flat=True)[: clocks.BATCH]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        # A test table is tiny and PostgreSQL would rightly read it whole: rule that out, and see which index
        # it prefers (bench/routing_overdue.py shows it choosing the same by itself over a million tickets).
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Only Scan Backward using routing_open_ticket_status_deadline on tickets_ticket" in plan, plan
    assert "escalation_once_per_deadline on routing_escalation" in plan, plan  # the anti-join, through its key
    assert "Sort" not in plan and "Seq Scan" not in plan, plan


def test_the_open_tickets_index_covers_every_status_a_department_holds():
    # Migration 0007 lists the statuses by value; a new one in WITH_DEPARTMENT needs a new index migration,
    # or the sweep for it falls back to the (status, deadline) index and reads the table for every id.
    migration = importlib.import_module("routing.migrations.0007_open_ticket_deadline_index")

    assert set(migration.OPEN) == set(WITH_DEPARTMENT)
