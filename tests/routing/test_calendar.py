"""The working calendar: Chinese holidays and make-up days, the Monday–Friday fallback, seeding, warnings."""

import datetime
import importlib
import io
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import translation

from routing import calendar
from routing.calendar import (
    add_working_days,
    calendar_warnings,
    is_working_day,
    missing_calendar_years,
    seed_from_chinese_calendar,
)
from routing.checks import calendar_years_present
from routing.models import CalendarDay, CalendarSource, CalendarYear, LimitStage, TimeLimit

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = datetime.UTC
# Today, in the situation the platform must handle: chinese-calendar stops at 2026.
TODAY = datetime.datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def seeded(db):
    """2025 and 2026 from chinese-calendar (a transactional test elsewhere may have flushed the migration's rows)."""
    seed_from_chinese_calendar(years=[2025, 2026])


def enter_2027(*, complete: bool = True) -> CalendarYear:
    year = CalendarYear.objects.create(year=2027, source=CalendarSource.ENTERED, is_complete=complete)
    CalendarDay.objects.create(year=year, date=datetime.date(2027, 1, 1), is_working_day=False, name="元旦")
    return year


# Days off and make-up days ---------------------------------------------------------------------


def test_national_day_2026_week_is_off_and_its_make_up_weekend_days_are_working(seeded):
    assert [is_working_day(datetime.date(2026, 10, d)) for d in range(1, 8)] == [False] * 7
    assert is_working_day(datetime.date(2026, 9, 20))  # a Sunday, worked for National Day
    assert is_working_day(datetime.date(2026, 10, 10))  # a Saturday, worked for National Day
    assert not is_working_day(datetime.date(2026, 10, 11))  # an ordinary Sunday
    assert is_working_day(datetime.date(2026, 10, 9))


def test_spring_festival_2026_is_off_with_two_make_up_saturdays(seeded):
    assert [is_working_day(datetime.date(2026, 2, d)) for d in range(15, 24)] == [False] * 9
    assert is_working_day(datetime.date(2026, 2, 14)) and is_working_day(datetime.date(2026, 2, 28))


def test_seeded_days_carry_chinese_names(seeded):
    assert CalendarDay.objects.get(date=datetime.date(2026, 10, 1)).name == "国庆节"
    assert CalendarDay.objects.get(date=datetime.date(2026, 10, 10)).name == "国庆节调休上班"


def test_a_year_without_an_entry_counts_monday_to_friday(db):
    assert is_working_day(datetime.date(2027, 1, 1))  # a Friday; New Year is not known yet
    assert not is_working_day(datetime.date(2027, 1, 2))


# Adding working days ---------------------------------------------------------------------------


def test_five_working_days_from_30_september_2026_skip_the_national_day_week(seeded):
    # 8, 9, 10 (make-up Saturday), 12, 13 October.
    assert add_working_days(at(2026, 9, 30, 15, 0), 5) == at(2026, 10, 13, 15, 0)


def test_a_make_up_saturday_counts_as_a_working_day(seeded):
    assert add_working_days(at(2026, 10, 9, 10, 0), 1) == at(2026, 10, 10, 10, 0)


def test_a_start_on_a_day_off_counts_from_the_next_working_days_midnight(seeded):
    # Reported on 3 October: the clock starts at 00:00 on 8 October; one working day ends at 00:00 on 9 October.
    assert add_working_days(at(2026, 10, 3, 10, 0), 1) == at(2026, 10, 9, 0, 0)
    assert add_working_days(at(2026, 10, 3, 10, 0), 0) == at(2026, 10, 8, 0, 0)


def test_a_start_on_a_working_day_with_no_days_is_the_start(seeded):
    assert add_working_days(at(2026, 10, 9, 10, 0), 0) == at(2026, 10, 9, 10, 0)


def test_23_30_on_a_friday_in_shanghai_is_still_friday_whatever_zone_the_start_is_in(seeded):
    friday_late = datetime.datetime(2026, 11, 27, 15, 30, tzinfo=UTC)  # 23:30 Friday in Shanghai
    assert add_working_days(friday_late, 1) == at(2026, 11, 30, 23, 30)
    saturday_early = datetime.datetime(2026, 11, 27, 16, 30, tzinfo=UTC)  # 00:30 Saturday in Shanghai
    assert add_working_days(saturday_early, 1) == at(2026, 12, 1, 0, 0)
    assert add_working_days(friday_late, 1).tzinfo == SHANGHAI


def test_naive_or_negative_input_is_refused(db):
    with pytest.raises(ValueError):
        add_working_days(datetime.datetime(2026, 11, 27, 10, 0), 1)
    with pytest.raises(ValueError):
        add_working_days(at(2026, 11, 27, 10, 0), -1)


def test_late_december_into_a_missing_2027_falls_back_to_monday_to_friday(seeded):
    # 29, 30, 31 December, then Friday 1 January (not known to be a holiday) and Monday 4 January.
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 4, 10, 0)


def test_entering_new_year_2027_moves_the_deadline(seeded):
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 4, 10, 0)
    enter_2027()
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 5, 10, 0)


def test_a_year_is_loaded_once_not_queried_per_day(seeded, django_assert_max_num_queries, django_assert_num_queries):
    with django_assert_max_num_queries(4):  # two years, two small queries each
        assert add_working_days(at(2026, 11, 2, 9, 0), 60).year == 2027
    with django_assert_num_queries(0):
        add_working_days(at(2026, 11, 3, 9, 0), 60)


def test_the_cache_expires_so_other_processes_see_a_change(seeded, monkeypatch):
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 4, 10, 0)
    enter_2027()
    # As another process would: it got no signal, only its cache ages.
    calendar._cache[2027] = (time.monotonic(), {})
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 4, 10, 0)
    monkeypatch.setattr(calendar, "CACHE_SECONDS", 0.0)
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 5, 10, 0)


# Entering a year ---------------------------------------------------------------------------------


def test_a_day_must_fall_in_its_year(db):
    year = CalendarYear.objects.create(year=2027)
    with pytest.raises(ValidationError) as excinfo:
        CalendarDay(year=year, date=datetime.date(2028, 1, 1), is_working_day=False).full_clean()
    assert "date" in excinfo.value.message_dict


def test_an_administrator_enters_2027_in_the_admin_and_deadlines_follow(seeded, client, admin_user):
    client.force_login(admin_user)
    prefix = "days"
    response = client.post(
        reverse("admin:routing_calendaryear_add"),
        {
            "year": "2027",
            "is_complete": "on",
            "note": "国务院办公厅关于2027年部分节假日安排的通知",
            f"{prefix}-TOTAL_FORMS": "2",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-date": "2027-01-01",
            f"{prefix}-0-name": "元旦",
            f"{prefix}-1-date": "2027-01-09",
            f"{prefix}-1-is_working_day": "on",
            f"{prefix}-1-name": "调休上班",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entered = CalendarYear.objects.get(year=2027)
    assert (entered.source, entered.is_complete, entered.days.count()) == (CalendarSource.ENTERED, True, 2)
    assert add_working_days(at(2026, 12, 28, 10, 0), 5) == at(2027, 1, 5, 10, 0)
    assert add_working_days(at(2027, 1, 8, 10, 0), 1) == at(2027, 1, 9, 10, 0)  # the make-up Saturday


def test_the_admin_refuses_a_day_outside_the_year(db, client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:routing_calendaryear_add"),
        {
            "year": "2027",
            "days-TOTAL_FORMS": "1",
            "days-INITIAL_FORMS": "0",
            "days-0-date": "2028-01-01",
        },
    )
    assert response.status_code == 200
    assert "2027" in response.context["inline_admin_formsets"][0].formset.errors[0]["date"][0]
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_the_admin_lists_years_and_time_limits(seeded, client, admin_user):
    client.force_login(admin_user)
    TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="complaint", working_days=3)
    assert client.get(reverse("admin:routing_calendaryear_changelist")).status_code == 200
    assert client.get(reverse("admin:routing_timelimit_changelist")).status_code == 200
    year = CalendarYear.objects.get(year=2026)
    assert client.get(reverse("admin:routing_calendaryear_change", args=[year.pk])).status_code == 200


# Missing years, warnings and the system check ----------------------------------------------------


@time_machine.travel(TODAY, tick=False)
def test_next_year_is_missing_at_the_end_of_november(seeded):
    assert missing_calendar_years() == [2027]


@time_machine.travel(TODAY, tick=False)
def test_an_entered_2027_is_not_missing_unless_marked_incomplete(seeded):
    year = enter_2027()
    assert missing_calendar_years() == []
    year.is_complete = False
    year.save()
    assert missing_calendar_years() == [2027]


def test_in_october_next_year_is_needed_only_when_a_limit_reaches_it(seeded):
    october = datetime.date(2026, 10, 15)
    assert missing_calendar_years(october) == []
    TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="suggestion", working_days=60)
    assert missing_calendar_years(october) == [2027]


def test_this_year_is_missing_too_when_the_table_is_empty(db):
    CalendarYear.objects.all().delete()
    assert missing_calendar_years(datetime.date(2026, 11, 28)) == [2026, 2027]


@time_machine.travel(TODAY, tick=False)
def test_supervisors_are_warned_that_2027_is_missing(seeded):
    with translation.override("en"):
        (message,) = calendar_warnings()
        assert "2027" in message and "Monday to Friday" in message
        enter_2027(complete=False)
        (message,) = calendar_warnings()
        assert "incomplete" in message
    CalendarYear.objects.filter(year=2027).update(is_complete=True)
    assert calendar_warnings() == []


@time_machine.travel(TODAY, tick=False)
def test_the_system_check_warns_while_2027_is_missing(seeded):
    (warning,) = calendar_years_present()
    assert warning.id == "routing.W001" and warning.level == checks.WARNING and "2027" in warning.msg
    assert "routing.W001" in {message.id for message in checks.run_checks()}
    enter_2027()
    assert calendar_years_present() == []


# Seeding -----------------------------------------------------------------------------------------


def test_seeding_twice_adds_nothing_the_second_time(db):
    CalendarYear.objects.all().delete()
    first = seed_from_chinese_calendar()
    assert 2026 in first.years_created and 2027 not in first.years_created
    days = CalendarDay.objects.count()
    assert first.days_created == days > 600

    second = seed_from_chinese_calendar()
    assert (second.years_created, second.days_created, second.differences) == ([], 0, [])
    assert CalendarDay.objects.count() == days


def test_seeding_keeps_corrections_and_reports_where_they_differ(db):
    CalendarYear.objects.all().delete()
    seed_from_chinese_calendar(years=[2026])
    CalendarDay.objects.filter(date=datetime.date(2026, 10, 10)).update(is_working_day=False)
    CalendarDay.objects.filter(date=datetime.date(2026, 10, 1)).delete()  # a Thursday: now a working day
    CalendarDay.objects.filter(date=datetime.date(2026, 10, 3)).delete()  # a Saturday: still a day off

    summary = seed_from_chinese_calendar(years=[2026, 2027])

    assert summary.differences == [datetime.date(2026, 10, 1), datetime.date(2026, 10, 10)]
    assert not CalendarDay.objects.get(date=datetime.date(2026, 10, 10)).is_working_day
    assert not CalendarDay.objects.filter(date__in=[datetime.date(2026, 10, 1), datetime.date(2026, 10, 3)]).exists()
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_seeding_leaves_a_year_entered_by_hand_alone(db):
    CalendarYear.objects.filter(year=2025).delete()
    by_hand = CalendarYear.objects.create(year=2025, source=CalendarSource.ENTERED, is_complete=False)

    summary = seed_from_chinese_calendar(years=[2025])

    assert (summary.years_created, summary.days_created) == ([], 0)
    assert datetime.date(2025, 10, 1) in summary.differences
    by_hand.refresh_from_db()
    assert (by_hand.source, by_hand.is_complete, by_hand.days.count()) == (CalendarSource.ENTERED, False, 0)


def test_seed_calendar_command_prints_progress_and_is_idempotent(db):
    CalendarYear.objects.all().delete()
    out = io.StringIO()
    call_command("seed_calendar", "2026", "2027", stdout=out)
    text = out.getvalue()
    assert "2026: created with" in text and "2027: chinese-calendar" in text
    out = io.StringIO()
    call_command("seed_calendar", "2026", stdout=out)
    assert "0 years and 0 days added" in out.getvalue()


def test_the_data_migration_seeds_what_the_function_seeds(db):
    migration = importlib.import_module("routing.migrations.0002_seed_calendar")

    def table() -> set[tuple]:
        return set(CalendarDay.objects.values_list("year__year", "date", "is_working_day", "name"))

    CalendarYear.objects.all().delete()
    seed_from_chinese_calendar()
    expected = table()
    CalendarYear.objects.all().delete()
    migration.seed(apps, type("Editor", (), {"connection": connection})())
    assert table() == expected
    assert set(CalendarYear.objects.values_list("source", flat=True)) == {CalendarSource.SEEDED}
