"""The bridge and the database: which errors mean "unavailable", a breaker, and ticket numbers held for outages."""

from __future__ import annotations

import collections
import datetime
import logging
import threading
import time

import psycopg
from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from tickets import clock
from tickets.actions.lifecycle import NUMBER_ZONE, ticket_numbers_reserve

logger = logging.getLogger(__name__)

# "The database is not there" (refused, dropped, locked, closed under us): the call goes on from the
# spool. Anything else (an IntegrityError, a bug) is not an outage and is not spooled.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
# After a failure, calls go straight to the spool for this long instead of each waiting on the
# database; the replay loop ends it early when the database answers again.
COOLDOWN = 5.0


class DatabaseHealth:
    """A breaker shared by every call of one bridge: one warning when the database goes, one line when it is back."""

    def __init__(self, cooldown: float = COOLDOWN) -> None:
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self._down

    def available(self) -> bool:
        """False while the breaker is open: skip the database, spool at once."""
        return time.monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            first, self._down = not self._down, True
            self._retry_at = time.monotonic() + self.cooldown
        if first:
            logger.warning("database unavailable, calls go to the spool: %s: %s", type(exc).__name__, exc)

    def recovered(self) -> None:
        with self._lock:
            was_down, self._down, self._retry_at = self._down, False, 0.0
        if was_down:
            logger.info("database available again")


def discard_connection() -> None:
    """Drop this thread's connection after an error: it may be broken, and the next use must reconnect."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception as exc:  # a dead socket can fail even to close; it is gone either way
            logger.debug("closing a failed database connection: %s", exc)


class TicketNumberPool:
    """Ticket numbers reserved while the database is up, handed out from memory while it is down.

    A caller spooled during an outage is told one of these, and the replay gives their ticket that
    very number. Reserving moves the day's counter, so unused numbers leave gaps in the sequence.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._numbers: collections.deque[str] = collections.deque()
        self._day: datetime.date | None = None

    def __len__(self) -> int:
        return len(self._numbers)

    def take(self) -> str:
        """The next held number, or "" when none is left (the call is still queued, without a number)."""
        with self._lock:
            return self._numbers.popleft() if self._numbers else ""

    def top_up(self) -> int:
        """Reserve more once half the block is used or the day changed; return how many (needs the database)."""
        if self.size < 1:
            return 0
        today = timezone.localdate(clock.now(), NUMBER_ZONE)
        with self._lock:
            same_day, held = self._day == today, len(self._numbers)
        if same_day and held > self.size // 2:
            return 0
        wanted = self.size - held if same_day else self.size
        numbers = ticket_numbers_reserve(wanted)
        with self._lock:
            if self._day != today:
                # Yesterday's numbers are still unique, but a new day's calls get the new day's numbers.
                self._numbers.clear()
                self._day = today
            self._numbers.extend(numbers)
        logger.info("held %d ticket numbers for calls during a database outage: %s-%s", wanted, numbers[0], numbers[-1])
        return wanted
