"""Ticket numbers: today's sequence in the hotline's zone, and numbers reserved ahead for the AGI bridge."""

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from ... import clock
from ...models import (
    TicketNumberCounter,
)

# Ticket numbers carry the hotline's own date, whatever time zone a request has activated.
NUMBER_ZONE = ZoneInfo("Asia/Shanghai")


def _next_number() -> str:
    """YYYYMMDD + a five-digit daily sequence: digits only, so callers can key it in."""
    return _take_numbers(1)[0]


def _take_numbers(count: int) -> list[str]:
    # Runs inside the caller's transaction: the counter row stays locked until it commits. One upsert
    # (PostgreSQL, SQLite 3.35+) rather than a locking read and a save: it runs for every ticket.
    day = timezone.localdate(clock.now(), NUMBER_ZONE)
    day_field = TicketNumberCounter._meta.get_field("day")
    with connection.cursor() as cursor:
        cursor.execute(_counter_upsert(connection.vendor), [day_field.get_db_prep_value(day, connection), count])
        last = cursor.fetchone()[0]
    first = last - count + 1
    return [f"{day:%Y%m%d}{seq:05d}" for seq in range(first, first + count)]


@functools.cache
def _counter_upsert(_vendor: str) -> str:
    quote = connection.ops.quote_name
    meta = TicketNumberCounter._meta
    table, day, last = (
        quote(name) for name in (meta.db_table, meta.get_field("day").column, meta.get_field("last").column)
    )
    # Only the model's own table and column names are interpolated; the values are parameters.
    return (
        f"INSERT INTO {table} ({day}, {last}) VALUES (%s, %s) "  # noqa: S608
        f"ON CONFLICT ({day}) DO UPDATE SET {last} = {table}.{last} + EXCLUDED.{last} RETURNING {last}"
    )


def ticket_numbers_reserve(count: int) -> list[str]:
    """Take `count` consecutive numbers of today's sequence in one transaction, for later use.

    The AGI bridge holds a block so that, while the database is down, it can still tell a caller
    the number their spooled ticket will get (see `ticket_number_preassigned`). Numbers never used
    leave a gap in the day's sequence.
    """
    if count < 1:
        raise ValueError("reserve at least one ticket number")
    with transaction.atomic():
        return _take_numbers(count)


# One reserved number waiting for the next ticket_create in this context (thread or task).
_preassigned: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("preassigned_number", default=None)


@contextlib.contextmanager
def ticket_number_preassigned(number: str) -> Iterator[None]:
    """Make the next ticket_create inside this block use `number` (one from ticket_numbers_reserve).

    For callers that reach ticket_create through another action (the bridge's spool replay goes
    through telephony's call_open, which does not pass a number).
    """
    token = _preassigned.set([number] if number else [])
    try:
        yield
    finally:
        _preassigned.reset(token)
