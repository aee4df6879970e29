"""Two people changing one ticket at once: no lost write, no impossible state (PostgreSQL row locks)."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from dashboards.models import OutboxEvent
from tests.factories import UserFactory
from tickets import actions, clock
from tickets.errors import InvalidTransition, StaleVersion
from tickets.models import Action, Status, Ticket

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers on PostgreSQL; SQLite lets one writer at a time into the whole file",
    ),
    pytest.mark.django_db(transaction=True),
]

HOLD = 0.3  # seconds the first writer keeps its row lock


@contextlib.contextmanager
def first_writer_holds_its_lock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The first action to read the clock (which happens after it locked the row) pauses there.

    The other writer is then certainly waiting at the same moment: without a lock or a version
    check it would read the old row and both writes would go through.
    """
    real_now, first = clock.now, threading.Lock()

    def slow_once():
        if first.acquire(blocking=False):
            time.sleep(HOLD)
        return real_now()

    with monkeypatch.context() as patch:
        patch.setattr(clock, "now", slow_once)
        yield


def race(*jobs: Callable[[], Any]) -> list[tuple[Any, float]]:
    """Start every job at the same instant in its own thread; return (result or exception, seconds)."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[tuple[Any, float]] = [(None, 0.0)] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            started = time.monotonic()
            try:
                result: Any = job()
            except Exception as exc:
                result = exc
            outcomes[index] = (result, time.monotonic() - started)
        finally:
            connection.close()  # each thread has its own connection; leave none open for the flush

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a writer is stuck"
    return outcomes


def winner_and_loser(outcomes: list[tuple[Any, float]], refusal: type[Exception]) -> tuple[int, int]:
    kinds = [isinstance(result, Ticket) for result, _seconds in outcomes]
    assert sorted(kinds) == [False, True], outcomes
    winner, loser = kinds.index(True), kinds.index(False)
    assert isinstance(outcomes[loser][0], refusal), outcomes[loser][0]
    assert outcomes[loser][1] >= HOLD * 0.8, "the loser did not wait for the winner's lock"
    return winner, loser


def test_two_departments_staff_accept_at_once_exactly_one_wins(make_ticket, water_staff, monkeypatch):
    colleague = UserFactory(username="water_colleague", role="department", department=water_staff.department)
    ticket = make_ticket(Status.DISPATCHED)
    last_entry = ticket.timeline.order_by("-id").first().id

    with first_writer_holds_its_lock(monkeypatch):
        outcomes = race(
            lambda: actions.ticket_accept(Ticket.objects.get(pk=ticket.pk), actor=water_staff),
            lambda: actions.ticket_accept(Ticket.objects.get(pk=ticket.pk), actor=colleague),
        )

    winner, _loser = winner_and_loser(outcomes, InvalidTransition)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.version) == (Status.ACCEPTED, ticket.version + 1)
    entries = list(fresh.timeline.filter(id__gt=last_entry))
    assert [(e.action, e.from_status, e.to_status) for e in entries] == [
        (Action.ACCEPT, Status.DISPATCHED, Status.ACCEPTED)
    ]
    assert entries[0].actor == [water_staff, colleague][winner]
    assert OutboxEvent.objects.filter(type="ticket.accept").count() == 1


@pytest.mark.parametrize(
    ("status", "first", "second"),
    [
        pytest.param(Status.ACCEPTED, "reply", "return", id="reply-vs-return"),
        pytest.param(Status.EXTENSION_REQUESTED, "approve", "deny", id="approve-vs-deny"),
    ],
)
def test_conflicting_moves_at_once_leave_exactly_one_in_the_history(
    make_ticket, water_staff, supervisor, monkeypatch, status, first, second
):
    moves = {
        "reply": lambda t: actions.ticket_reply(t, actor=water_staff, reply="已修复"),
        "return": lambda t: actions.ticket_return(t, actor=water_staff, reason="非本单位职责"),
        "approve": lambda t: actions.ticket_approve_extension(t, actor=supervisor),
        "deny": lambda t: actions.ticket_deny_extension(t, actor=supervisor, note="理由不充分"),
    }
    ticket = make_ticket(status)
    last_entry = ticket.timeline.order_by("-id").first().id

    with first_writer_holds_its_lock(monkeypatch):
        outcomes = race(
            lambda: moves[first](Ticket.objects.get(pk=ticket.pk)),
            lambda: moves[second](Ticket.objects.get(pk=ticket.pk)),
        )

    winner, _loser = winner_and_loser(outcomes, InvalidTransition)
    won: Ticket = outcomes[winner][0]
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.version) == (won.status, ticket.version + 1)
    entries = list(fresh.timeline.filter(id__gt=last_entry).values_list("from_status", "to_status"))
    assert entries == [(status, won.status)]
    if won.status == Status.ACCEPTED:  # approve or deny: the outcome matches the one that won
        assert fresh.deadline == (ticket.extension_until if winner == 0 else ticket.deadline)


def test_two_edits_from_the_same_version_one_wins_one_is_told_to_reload(make_ticket, operator, supervisor, monkeypatch):
    ticket = make_ticket(Status.DISPATCHED)
    seen = ticket.version

    with first_writer_holds_its_lock(monkeypatch):
        outcomes = race(
            lambda: actions.ticket_update(ticket, actor=operator, version=seen, title="话务员的标题"),
            lambda: actions.ticket_update(ticket, actor=supervisor, version=seen, title="班长的标题"),
        )

    winner, _loser = winner_and_loser(outcomes, StaleVersion)
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.title == ["话务员的标题", "班长的标题"][winner]
    assert fresh.version == seen + 1
    assert fresh.timeline.filter(action=Action.EDIT).count() == 1


def test_two_edits_of_different_fields_without_a_version_both_survive(make_ticket, operator, supervisor, monkeypatch):
    ticket = make_ticket(Status.DISPATCHED)

    with first_writer_holds_its_lock(monkeypatch):
        outcomes = race(
            lambda: actions.ticket_update(ticket, actor=operator, version=None, title="新标题"),
            lambda: actions.ticket_update(ticket, actor=supervisor, version=None, address="江北街道2号"),
        )

    assert all(isinstance(result, Ticket) for result, _seconds in outcomes), outcomes
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.title, fresh.address, fresh.version) == ("新标题", "江北街道2号", ticket.version + 2)
    assert fresh.timeline.filter(action=Action.EDIT).count() == 2


def test_tickets_opened_at_once_get_unique_consecutive_numbers(operator):
    outcomes = race(*[lambda i=i: actions.ticket_create(actor=operator, title=f"同时来电{i}") for i in range(8)])

    tickets = [result for result, _seconds in outcomes]
    assert all(isinstance(t, Ticket) for t in tickets), tickets
    numbers = sorted(t.number for t in tickets)
    assert len({n[:8] for n in numbers}) == 1
    assert [int(n[8:]) for n in numbers] == list(range(1, 9))


def test_two_tickets_merged_into_each_other_at_once_leave_one_open(make_ticket, operator, monkeypatch):
    first, second = make_ticket(Status.REGISTERED), make_ticket(Status.REGISTERED)
    with first_writer_holds_its_lock(monkeypatch):
        outcomes = race(
            lambda: actions.ticket_merge(first, actor=operator, into=second),
            lambda: actions.ticket_merge(second, actor=operator, into=first),
        )
    merged = [result for result, _seconds in outcomes if isinstance(result, Ticket)]
    assert len(merged) == 1, outcomes
    statuses = set(Ticket.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True))
    assert statuses == {Status.MERGED, Status.REGISTERED}


def test_events_commit_in_sequence_order(make_ticket, operator, water, monkeypatch):
    """A writer that takes a sequence number first but commits last must not let a later number out first.

    When each event commits, every smaller sequence number must already be committed (visible), or a
    relay could send the later event before the earlier one.
    """
    from django.db import transaction

    from tickets.actions.lifecycle import core

    first, second = make_ticket(Status.REGISTERED), make_ticket(Status.REGISTERED)
    baseline = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    real_publish, paused, seen_at_commit = core.publish, threading.Lock(), {}

    def publish_then_pause_once(event_type, payload, groups):
        event = real_publish(event_type, payload, groups)

        def record_visible_predecessors():
            below = OutboxEvent.objects.filter(id__gt=baseline, id__lt=event.id).values_list("id", flat=True)
            seen_at_commit[event.id] = set(below)

        transaction.on_commit(record_visible_predecessors)
        if paused.acquire(blocking=False):
            time.sleep(HOLD)  # the first writer holds its transaction open after taking its sequence number
        return event

    monkeypatch.setattr(core, "publish", publish_then_pause_once)  # every transition publishes there
    race(
        lambda: actions.ticket_dispatch(first, actor=operator, department=water),
        lambda: actions.ticket_dispatch(second, actor=operator, department=water),
    )
    assert len(seen_at_commit) == 2
    for event_id, visible in seen_at_commit.items():
        expected = set(OutboxEvent.objects.filter(id__gt=baseline, id__lt=event_id).values_list("id", flat=True))
        assert visible == expected, f"event {event_id} committed before {sorted(expected - visible)}"
