"""Working-day arithmetic over the working calendar (Chinese holidays and make-up days), in Asia/Shanghai.

Semantics, the same everywhere a deadline is computed:

- A day is a working day if the calendar table says so; a date without a row follows
  Monday–Friday. A year with no CalendarYear row at all is "missing": it counts Monday–Friday
  (no holidays, no make-up Saturdays) and `missing_calendar_years` / `calendar_warnings` / the
  system check routing.W001 say so, so that supervisors enter it before deadlines reach it.
- `add_working_days(start, n)` is the same Shanghai wall-clock time on the n-th working day after
  the start's Shanghai date. A complaint dispatched on Wednesday 30 September 2026 at 15:00 with
  five working days skips the National Day holiday (1–7 October): 8, 9, 10 (a make-up working
  Saturday), 12 and 13 October, so it is due on Tuesday 13 October at 15:00.
- A start on a non-working day starts the clock at 00:00 of the next working day: a complaint
  reported on Saturday is due n working days after Monday 00:00, i.e. at 00:00 the day after
  the n-th working day counting Monday as the first (shown as "Tuesday 00:00" for n = 1, the end of Monday).
- The time of day is Shanghai time: 23:30 on a Friday in Shanghai is Friday even though it is
  15:30 UTC; the start's own zone never matters.

Each year's exceptions are loaded at once (two small queries, never one per day) and kept in
this process for CACHE_SECONDS (and dropped at once in the process that saves a calendar row):
the calendar changes about once a year, while the reminder sweep may compute thousands of
deadlines a minute. A change made in one process reaches the others within CACHE_SECONDS.
"""

import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar.constants import Holiday
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import CalendarDay, CalendarSource, CalendarYear

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CACHE_SECONDS = 60.0
# A year with no working day at all is a data-entry mistake; stop instead of looping forever.
_MAX_SEARCH_DAYS = 370


# year -> (loaded at, {date: is_working_day}) for the days that have a row.
_cache: dict[int, tuple[float, Mapping[datetime.date, bool]]] = {}
_warned_missing: set[int] = set()


def calendar_cache_clear() -> None:
    """Forget the loaded calendar years in this process (tests call it around each test: a rollback sends no signal)."""
    _cache.clear()
    _warned_missing.clear()


def _load_year(year: int) -> Mapping[datetime.date, bool]:
    if not CalendarYear.objects.filter(year=year).exists() and year not in _warned_missing:
        _warned_missing.add(year)
        logger.warning("No working calendar for %s: counting Monday to Friday; enter the year in the admin", year)
    days = CalendarDay.objects.filter(date__gte=datetime.date(year, 1, 1), date__lt=datetime.date(year + 1, 1, 1))
    return dict(days.values_list("date", "is_working_day"))


def _year(year: int) -> Mapping[datetime.date, bool]:
    now = time.monotonic()
    cached = _cache.get(year)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    loaded = _load_year(year)
    _cache[year] = (now, loaded)
    return loaded


def is_working_day(day: datetime.date) -> bool:
    """True if `day` is a working day: the calendar's exception if it has one, else Monday to Friday."""
    listed = _year(day.year).get(day)
    return listed if listed is not None else day.weekday() < 5


def next_working_day(day: datetime.date) -> datetime.date:
    """The first working day strictly after `day`."""
    for _step in range(_MAX_SEARCH_DAYS):
        day += datetime.timedelta(days=1)
        if is_working_day(day):
            return day
    raise ValueError(f"no working day within {_MAX_SEARCH_DAYS} days after {day}: check the working calendar")


def add_working_days(start: datetime.datetime, days: int) -> datetime.datetime:
    """The same Shanghai time of day on the `days`-th working day after `start`'s Shanghai date.

    A start on a non-working day counts from 00:00 of the next working day. Returns an aware
    datetime in Asia/Shanghai. `days` = 0 gives the start itself (or that next working day's 00:00).
    """
    if timezone.is_naive(start):
        raise ValueError("add_working_days() needs an aware datetime")
    if days < 0:
        raise ValueError("add_working_days() counts forward only")
    local = start.astimezone(SHANGHAI)
    day, time_of_day = local.date(), local.time()
    if not is_working_day(day):
        day, time_of_day = next_working_day(day), datetime.time(0, 0)
    for _step in range(days):
        day = next_working_day(day)
    return datetime.datetime.combine(day, time_of_day, tzinfo=SHANGHAI)


# Missing years and the warnings about them -----------------------------------------------------


def shanghai_today() -> datetime.date:
    return timezone.localdate(timezone.now(), SHANGHAI)


def years_needed(today: datetime.date | None = None) -> list[int]:
    """This year, plus next year from November on or as soon as the longest time limit started today reaches it."""
    from .deadlines import longest_working_days  # deadlines builds on this module

    today = today or shanghai_today()
    years = {today.year}
    if today.month >= 11:
        years.add(today.year + 1)
    start = datetime.datetime.combine(today, datetime.time(12, 0), tzinfo=SHANGHAI)
    years.add(add_working_days(start, longest_working_days()).year)
    return sorted(years)


def _entered_years(years: Iterable[int]) -> dict[int, bool]:
    """{year: is_complete} for the years that have a row, read fresh from the database (not the cache)."""
    return dict(CalendarYear.objects.filter(year__in=list(years)).values_list("year", "is_complete"))


def missing_calendar_years(today: datetime.date | None = None) -> list[int]:
    """The needed years (see `years_needed`) that have no complete working calendar."""
    needed = years_needed(today)
    entered = _entered_years(needed)
    return [year for year in needed if not entered.get(year, False)]


def calendar_warnings(today: datetime.date | None = None) -> list[str]:
    """Messages for the supervisors' page, in the active language; empty when the calendar is in order."""
    needed = years_needed(today)
    entered = _entered_years(needed)
    messages = []
    for year in needed:
        if year not in entered:
            messages.append(
                _(
                    "The working calendar for %(year)d has not been entered: deadlines falling in %(year)d count "
                    "Monday to Friday only, without the statutory holidays and make-up working days. Enter the "
                    "State Council's holiday schedule for %(year)d in the admin (Routing › Calendar years)."
                )
                % {"year": year}
            )
        elif not entered[year]:
            messages.append(
                _(
                    "The working calendar for %(year)d is marked incomplete: days not yet entered count Monday "
                    "to Friday. Finish entering the State Council's holiday schedule for %(year)d in the admin "
                    "and tick “complete”."
                )
                % {"year": year}
            )
    return messages


# Seeding from chinese-calendar ------------------------------------------------------------------


def chinese_calendar_years() -> list[int]:
    """The years the installed chinese-calendar package knows."""
    return sorted({day.year for day in chinese_calendar.holidays})


def _chinese_name(english: str) -> str:
    try:
        return Holiday(english).chinese
    except ValueError:
        return english


def chinese_calendar_days(year: int) -> dict[datetime.date, tuple[bool, str]]:
    """{date: (is_working_day, name)} for `year` from chinese-calendar: every day off it lists, and make-up days."""
    days: dict[datetime.date, tuple[bool, str]] = {}
    for day, english in chinese_calendar.holidays.items():
        if day.year == year:
            days[day] = (False, _chinese_name(english))
    for day, english in chinese_calendar.workdays.items():
        if day.year == year:
            days[day] = (True, f"{_chinese_name(english)}调休上班")
    return dict(sorted(days.items()))


@dataclass
class SeedSummary:
    years_created: list[int] = field(default_factory=list)
    days_created: int = 0
    # Dates where the table disagrees with chinese-calendar; seeding never overwrites a row.
    differences: list[datetime.date] = field(default_factory=list)


def seed_from_chinese_calendar(
    *, years: Iterable[int] | None = None, progress: Callable[[str], None] | None = None
) -> SeedSummary:
    """Create each year chinese-calendar knows and the table lacks, with its days; idempotent.

    A year already in the table is left exactly as it is, whether seeded or entered by hand:
    the table is the truth once it has a year, so a correction made in the admin survives
    re-seeding. Where it disagrees with the package, the dates are reported instead.
    """
    say = progress or (lambda message: None)
    known = chinese_calendar_years()
    summary = SeedSummary()
    for year in sorted(set(years) if years is not None else known):
        if year not in known:
            say(f"{year}: chinese-calendar {chinese_calendar.__version__} does not know it; enter it in the admin")
            continue
        package = chinese_calendar_days(year)
        with transaction.atomic():
            row, created = CalendarYear.objects.get_or_create(
                year=year,
                defaults={
                    "source": CalendarSource.SEEDED,
                    "is_complete": True,
                    "note": f"chinese-calendar {chinese_calendar.__version__}",
                },
            )
            if created:
                CalendarDay.objects.bulk_create(
                    CalendarDay(year=row, date=day, is_working_day=working, name=name)
                    for day, (working, name) in package.items()
                )
                summary.years_created.append(year)
                summary.days_created += len(package)
                say(f"{year}: created with {len(package)} days")
                continue
        # A date without a row follows Monday–Friday, so that is what the table says about it.
        table = dict(row.days.values_list("date", "is_working_day"))
        differences = [d for d, (working, _name) in package.items() if table.get(d, d.weekday() < 5) != working]
        summary.differences.extend(differences)
        say(
            f"{year}: already in the table, left as it is"
            + (f"; {len(differences)} days differ" if differences else "")
        )
    # bulk_create sends no post_save.
    transaction.on_commit(calendar_cache_clear)
    return summary


@receiver([post_save, post_delete], sender=CalendarYear, dispatch_uid="routing_calendar_year_changed")
@receiver([post_save, post_delete], sender=CalendarDay, dispatch_uid="routing_calendar_day_changed")
def _calendar_changed(**kwargs) -> None:
    # Only a cache is dropped here, now and again once the change is visible to new reads.
    calendar_cache_clear()
    transaction.on_commit(calendar_cache_clear)
