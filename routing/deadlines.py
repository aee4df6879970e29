"""Time limits and the deadlines they give: handling (办理), reopened (重办) and sign-for (签收).

A limit is either working days or wall-clock hours. Working days follow routing.calendar (same
Shanghai time of day on the n-th working day after the start; a start on a day off counts from
the next working day's 00:00). Hours run on the wall clock, nights and holidays included: an
urgent matter is due two hours after dispatch even on National Day.

Limits come from the TimeLimit table, most specific row first (stage + kind + urgency, then
stage + urgency for every kind), then from the defaults below.
"""

import datetime
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext as _

from .calendar import SHANGHAI, add_working_days
from .models import LimitStage, TimeLimit, validate_time_limit

# The furthest a deadline typed in by hand (at dispatch, in an extension) may lie ahead. Beyond
# it a date is a typing error, and a year-9999 deadline would break every later date computation.
FURTHEST_DEADLINE = datetime.timedelta(days=366)

__all__ = [
    "DEFAULT_LIMIT_DAYS",
    "DEFAULT_REOPEN_DAYS",
    "DEFAULT_SIGN_FOR_DAYS",
    "URGENT_LIMIT",
    "Limit",
    "add_working_days",
    "deadline_check",
    "deadline_for",
    "longest_working_days",
    "reopen_deadline_for",
    "sign_for_deadline",
    "time_limit_for",
    "time_limits_cache_clear",
]

URGENT = "urgent"
# Handling limits in working days for normal urgency; urgent tickets get URGENT_LIMIT, whatever their kind.
DEFAULT_LIMIT_DAYS = {
    "consultation": 1,
    "help": 1,
    "complaint": 5,
    "report": 5,
    "suggestion": 10,
    "praise": 5,
}
# 重办: about half the handling limit, never more; the department already knows the matter.
DEFAULT_REOPEN_DAYS = {
    "consultation": 1,
    "help": 1,
    "complaint": 3,
    "report": 3,
    "suggestion": 5,
    "praise": 3,
}
DEFAULT_SIGN_FOR_DAYS = 1
URGENT_LIMIT = datetime.timedelta(hours=2)
_FALLBACK_DAYS = 5  # a kind added to tickets.Kind before anyone sets its limit


@dataclass(frozen=True)
class Limit:
    """A time limit: exactly one of working_days and hours, within the sane maximum (else ValidationError)."""

    working_days: int | None = None
    hours: int | None = None

    def __post_init__(self) -> None:
        validate_time_limit(working_days=self.working_days, hours=self.hours)

    def deadline_from(self, start: datetime.datetime) -> datetime.datetime:
        """The deadline for a clock started at `start`, as an aware Asia/Shanghai datetime."""
        if self.hours is not None:
            return (start + datetime.timedelta(hours=self.hours)).astimezone(SHANGHAI)
        assert self.working_days is not None
        return add_working_days(start, self.working_days)


def _default(stage: str, kind: str, urgency: str) -> Limit:
    if stage == LimitStage.SIGN_FOR:
        return Limit(working_days=DEFAULT_SIGN_FOR_DAYS)
    if urgency == URGENT:
        return Limit(hours=int(URGENT_LIMIT.total_seconds() // 3600))
    table = DEFAULT_REOPEN_DAYS if stage == LimitStage.REOPEN else DEFAULT_LIMIT_DAYS
    return Limit(working_days=table.get(kind, _FALLBACK_DAYS))


# The TimeLimit table is tiny and rarely edited: read whole, kept CACHE_SECONDS in each process,
# dropped at once in the process that saves a row (same policy as routing.calendar).
CACHE_SECONDS = 60.0
_rows: tuple[float, dict[tuple[str, str, str], Limit]] | None = None


def time_limits_cache_clear() -> None:
    """Forget the loaded TimeLimit rows in this process."""
    global _rows
    _rows = None


def _configured() -> dict[tuple[str, str, str], Limit]:
    global _rows
    now = time.monotonic()
    if _rows is None or now - _rows[0] >= CACHE_SECONDS:
        rows = TimeLimit.objects.values_list("stage", "kind", "urgency", "working_days", "hours")
        _rows = (now, {(s, k, u): Limit(working_days=d, hours=h) for s, k, u, d, h in rows})
    return _rows[1]


def time_limit_for(*, stage: str, kind: str, urgency: str) -> Limit:
    """The limit for a stage, kind and urgency: the kind's row, else the every-kind row, else the default."""
    configured = _configured()
    return (
        configured.get((stage, kind, urgency)) or configured.get((stage, "", urgency)) or _default(stage, kind, urgency)
    )


def longest_working_days() -> int:
    """The longest limit in working days any stage could give (defaults and table), to see how far deadlines reach."""
    defaults = [*DEFAULT_LIMIT_DAYS.values(), *DEFAULT_REOPEN_DAYS.values(), DEFAULT_SIGN_FOR_DAYS, _FALLBACK_DAYS]
    configured = [limit.working_days for limit in _configured().values() if limit.working_days is not None]
    return max(defaults + configured)


def deadline_check(value: datetime.datetime, *, now: datetime.datetime, field: str = "deadline") -> None:
    """Refuse a deadline typed in by hand that is not in the future or more than a year ahead."""
    if value <= now:
        raise ValidationError({field: _("The deadline must be in the future.")})
    if value > now + FURTHEST_DEADLINE:
        raise ValidationError({field: _("A deadline can be at most one year ahead.")})


def deadline_for(*, kind: str, urgency: str, start: datetime.datetime) -> datetime.datetime:
    """The handling deadline (办理时限) for a ticket dispatched at `start`."""
    return time_limit_for(stage=LimitStage.HANDLING, kind=kind, urgency=urgency).deadline_from(start)


def reopen_deadline_for(*, kind: str, urgency: str, start: datetime.datetime) -> datetime.datetime:
    """The deadline for a ticket reopened (重办) at `start` after an unsatisfied callback: a shorter limit."""
    return time_limit_for(stage=LimitStage.REOPEN, kind=kind, urgency=urgency).deadline_from(start)


def sign_for_deadline(
    start: datetime.datetime,
    *,
    kind: str = "",
    urgency: str = "normal",
    deadline: datetime.datetime | None = None,
) -> datetime.datetime:
    """When the department must have accepted (签收) a ticket dispatched at `start`: one working day by default.

    Never later than the handling `deadline` when given: an urgent ticket due in two hours
    cannot wait a working day to be accepted.
    """
    due = time_limit_for(stage=LimitStage.SIGN_FOR, kind=kind, urgency=urgency).deadline_from(start)
    return min(due, deadline.astimezone(SHANGHAI)) if deadline is not None else due


@receiver([post_save, post_delete], sender=TimeLimit, dispatch_uid="routing_time_limit_changed")
def _time_limit_changed(**kwargs) -> None:
    # Only a cache is dropped here, now and again once the change is visible to new reads.
    time_limits_cache_clear()
    transaction.on_commit(time_limits_cache_clear)
