"""Deadlines from time limits: defaults, the TimeLimit table, 重办 and 签收, and the deadline stored on dispatch."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from routing.calendar import seed_from_chinese_calendar
from routing.deadlines import (
    Limit,
    deadline_for,
    reopen_deadline_for,
    sign_for_deadline,
    time_limit_for,
)
from routing.models import CalendarDay, CalendarYear, LimitStage, TimeLimit
from tickets import actions
from tickets.models import Status

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def seeded(db):
    seed_from_chinese_calendar(years=[2025, 2026])


# Defaults --------------------------------------------------------------------------------------


def test_a_complaint_dispatched_on_30_september_2026_is_due_after_the_national_day_week(seeded):
    # 8, 9, 10 (make-up Saturday), 12, 13 October.
    assert deadline_for(kind="complaint", urgency="normal", start=at(2026, 9, 30, 15, 0)) == at(2026, 10, 13, 15, 0)


def test_a_help_request_on_the_friday_before_a_make_up_saturday_is_due_that_saturday(seeded):
    assert deadline_for(kind="help", urgency="normal", start=at(2026, 10, 9, 11, 0)) == at(2026, 10, 10, 11, 0)


def test_a_suggestion_across_spring_festival_2026(seeded):
    # 13, 14 (make-up Saturday) February; 15–23 off; 24, 25, 26, 27, 28 (make-up Saturday) February; 2, 3, 4 March.
    assert deadline_for(kind="suggestion", urgency="normal", start=at(2026, 2, 12, 10, 0)) == at(2026, 3, 4, 10, 0)


def test_a_consultation_takes_one_working_day_and_a_report_five(seeded):
    start = at(2026, 11, 23, 9, 0)  # a Monday
    assert deadline_for(kind="consultation", urgency="normal", start=start) == at(2026, 11, 24, 9, 0)
    assert deadline_for(kind="report", urgency="normal", start=start) == at(2026, 11, 30, 9, 0)


def test_urgent_is_two_hours_on_the_wall_clock_even_on_a_holiday(seeded):
    start = datetime.datetime(2026, 10, 1, 15, 0, tzinfo=datetime.UTC)  # 23:00 on National Day in Shanghai
    assert deadline_for(kind="complaint", urgency="urgent", start=start) == at(2026, 10, 2, 1, 0)


def test_a_complaint_from_28_december_2026_runs_into_january_2027(seeded):
    # 2027 is unknown to chinese-calendar and not entered: Friday 1 January counts.
    start = at(2026, 12, 28, 10, 0)
    assert deadline_for(kind="complaint", urgency="normal", start=start) == at(2027, 1, 4, 10, 0)
    year = CalendarYear.objects.create(year=2027)
    CalendarDay.objects.create(year=year, date=datetime.date(2027, 1, 1), is_working_day=False, name="元旦")
    assert deadline_for(kind="complaint", urgency="normal", start=start) == at(2027, 1, 5, 10, 0)


# The TimeLimit table -----------------------------------------------------------------------------


def test_a_configured_limit_overrides_the_default(seeded):
    start = at(2026, 11, 23, 9, 0)
    TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="complaint", urgency="normal", working_days=3)
    assert deadline_for(kind="complaint", urgency="normal", start=start) == at(2026, 11, 26, 9, 0)
    assert deadline_for(kind="report", urgency="normal", start=start) == at(2026, 11, 30, 9, 0)


def test_a_kinds_own_row_wins_over_the_every_kind_row(seeded):
    start = at(2026, 11, 23, 9, 0)
    TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="", urgency="urgent", hours=4)
    TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="help", urgency="urgent", hours=1)
    assert deadline_for(kind="complaint", urgency="urgent", start=start) == at(2026, 11, 23, 13, 0)
    assert deadline_for(kind="help", urgency="urgent", start=start) == at(2026, 11, 23, 10, 0)


def test_changing_a_limit_takes_effect_at_once(seeded):
    start = at(2026, 11, 23, 9, 0)
    assert deadline_for(kind="complaint", urgency="normal", start=start) == at(2026, 11, 30, 9, 0)
    limit = TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="complaint", working_days=2)
    assert deadline_for(kind="complaint", urgency="normal", start=start) == at(2026, 11, 25, 9, 0)
    limit.delete()
    assert deadline_for(kind="complaint", urgency="normal", start=start) == at(2026, 11, 30, 9, 0)


@pytest.mark.parametrize(
    ("working_days", "hours"),
    [(0, None), (61, None), (None, 0), (None, 73), (5, 2), (None, None)],
)
def test_an_impossible_time_limit_is_rejected(db, working_days, hours):
    with pytest.raises(ValidationError):
        TimeLimit(stage=LimitStage.HANDLING, kind="complaint", working_days=working_days, hours=hours).full_clean()
    with pytest.raises(ValidationError):
        Limit(working_days=working_days, hours=hours)
    with pytest.raises(IntegrityError), transaction.atomic():
        TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="complaint", working_days=working_days, hours=hours)


def test_the_sane_maximum_is_accepted(db):
    TimeLimit(stage=LimitStage.HANDLING, kind="suggestion", working_days=60).full_clean()
    TimeLimit(stage=LimitStage.HANDLING, kind="", urgency="urgent", hours=72).full_clean()


def test_one_row_per_stage_kind_and_urgency(db):
    TimeLimit.objects.create(stage=LimitStage.HANDLING, kind="complaint", working_days=3)
    with pytest.raises(ValidationError):
        TimeLimit(stage=LimitStage.HANDLING, kind="complaint", working_days=4).full_clean()


# 重办 and 签收 ------------------------------------------------------------------------------------


def test_a_reopened_complaint_gets_a_shorter_limit(seeded):
    start = at(2026, 11, 23, 9, 0)
    assert time_limit_for(stage=LimitStage.REOPEN, kind="complaint", urgency="normal") == Limit(working_days=3)
    assert reopen_deadline_for(kind="complaint", urgency="normal", start=start) == at(2026, 11, 26, 9, 0)
    assert reopen_deadline_for(kind="complaint", urgency="urgent", start=start) == at(2026, 11, 23, 11, 0)
    TimeLimit.objects.create(stage=LimitStage.REOPEN, kind="complaint", working_days=2)
    assert reopen_deadline_for(kind="complaint", urgency="normal", start=start) == at(2026, 11, 25, 9, 0)


def test_the_sign_for_window_is_one_working_day_and_never_past_the_deadline(seeded):
    assert sign_for_deadline(at(2026, 9, 30, 16, 0)) == at(2026, 10, 8, 16, 0)
    urgent_deadline = deadline_for(kind="help", urgency="urgent", start=at(2026, 9, 30, 16, 0))
    assert sign_for_deadline(at(2026, 9, 30, 16, 0), urgency="urgent", deadline=urgent_deadline) == urgent_deadline
    TimeLimit.objects.create(stage=LimitStage.SIGN_FOR, kind="", urgency="normal", hours=4)
    assert sign_for_deadline(at(2026, 9, 30, 16, 0)) == at(2026, 9, 30, 20, 0)


# The deadline stored on the ticket --------------------------------------------------------------


def test_dispatch_stores_the_working_day_deadline(seeded, make_ticket, operator, water):
    ticket = make_ticket(Status.REGISTERED, kind="complaint")
    with time_machine.travel(at(2026, 9, 30, 15, 0), tick=False):
        ticket = actions.ticket_dispatch(ticket, actor=operator, department=water)
    ticket.refresh_from_db()
    assert ticket.deadline == at(2026, 10, 13, 15, 0)
