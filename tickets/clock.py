"""The clock the ticket actions read, which the demo loader can set to a past moment."""

import contextlib
import contextvars
import datetime
from collections.abc import Iterator

from django.utils import timezone

_override: contextvars.ContextVar[datetime.datetime | None] = contextvars.ContextVar("clock_override", default=None)


def now() -> datetime.datetime:
    """Return the current aware time, or the moment set by `at()`."""
    return _override.get() or timezone.now()


@contextlib.contextmanager
def at(moment: datetime.datetime) -> Iterator[None]:
    """Record everything inside the block as happening at `moment` (for historical loads)."""
    if timezone.is_naive(moment):
        raise ValueError("clock.at() needs an aware datetime")
    token = _override.set(moment)
    try:
        yield
    finally:
        _override.reset(token)
