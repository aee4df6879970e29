"""Routing models: the working calendar (years and their exception days) and the time limits."""

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tickets.models import Kind, Urgency

__all__ = [
    "MAX_LIMIT_HOURS",
    "MAX_LIMIT_WORKING_DAYS",
    "CalendarDay",
    "CalendarSource",
    "CalendarYear",
    "LimitStage",
    "TimeLimit",
    "validate_time_limit",
]

# A limit beyond these is a typo (days for hours, a year for a month), not a policy.
MAX_LIMIT_WORKING_DAYS = 60
MAX_LIMIT_HOURS = 72


class CalendarSource(models.TextChoices):
    SEEDED = "seeded", _("Seeded from chinese-calendar")
    ENTERED = "entered", _("Entered by hand")


class CalendarYear(models.Model):
    """One year of the working calendar; a year without a row counts Monday to Friday and raises a warning."""

    year = models.PositiveSmallIntegerField(
        _("year"), unique=True, validators=[MinValueValidator(2000), MaxValueValidator(2100)]
    )
    source = models.CharField(
        _("source"), max_length=10, choices=CalendarSource.choices, default=CalendarSource.ENTERED
    )
    is_complete = models.BooleanField(
        _("complete"),
        default=True,
        help_text=_(
            "Tick once every holiday and make-up working day of the State Council's schedule for this year is "
            "entered. Until then supervisors are warned that the calendar is missing."
        ),
    )
    note = models.TextField(_("note"), blank=True, help_text=_("For example the State Council notice it follows."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-year"]
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A day that differs from Monday–Friday: a holiday on a weekday or a make-up working day (调休) on a weekend.

    Rows that agree with Monday–Friday (a holiday falling on a Sunday) are allowed, so a holiday
    can be entered as the notice lists it.
    """

    year = models.ForeignKey(CalendarYear, on_delete=models.CASCADE, related_name="days", verbose_name=_("year"))
    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(
        _("working day"),
        default=False,
        help_text=_("Ticked: a make-up working day (调休上班). Unticked: a day off (holiday)."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("For example 国庆节 or 国庆节调休上班."))

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}".strip()

    def clean(self) -> None:
        try:
            year = self.year  # in an admin inline, the (possibly unsaved) year being edited
        except CalendarYear.DoesNotExist:
            return
        if isinstance(self.date, datetime.date) and self.date.year != year.year:
            raise ValidationError({"date": _("The date must fall in %(year)s.") % {"year": year.year}})


class LimitStage(models.TextChoices):
    HANDLING = "handling", _("Handling (办理)")
    REOPEN = "reopen", _("Reopened (重办)")
    SIGN_FOR = "sign_for", _("Sign-for (签收)")


def validate_time_limit(*, working_days: int | None, hours: int | None) -> None:
    """Raise ValidationError unless exactly one of working_days and hours is set, positive and within the maximum."""
    if (working_days is None) == (hours is None):
        raise ValidationError(_("Give the time limit either in working days or in hours, not both."))
    if working_days is not None and not 1 <= working_days <= MAX_LIMIT_WORKING_DAYS:
        raise ValidationError(
            {
                "working_days": _("A time limit must be between 1 and %(max)d working days.")
                % {"max": MAX_LIMIT_WORKING_DAYS}
            }
        )
    if hours is not None and not 1 <= hours <= MAX_LIMIT_HOURS:
        raise ValidationError(
            {"hours": _("A time limit must be between 1 and %(max)d hours.") % {"max": MAX_LIMIT_HOURS}}
        )


class TimeLimit(models.Model):
    """A configured time limit; without a matching row the defaults in routing.deadlines apply.

    A row with no kind applies to every kind of that urgency; a row naming the kind wins over it.
    """

    stage = models.CharField(_("stage"), max_length=10, choices=LimitStage.choices, default=LimitStage.HANDLING)
    kind = models.CharField(
        _("kind"), max_length=20, choices=Kind.choices, blank=True, help_text=_("Leave empty for every kind.")
    )
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    working_days = models.PositiveSmallIntegerField(
        _("working days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LIMIT_WORKING_DAYS)],
    )
    hours = models.PositiveSmallIntegerField(
        _("hours"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LIMIT_HOURS)],
        help_text=_("Counted on the wall clock, holidays included; for urgent matters."),
    )

    class Meta:
        ordering = ["stage", "urgency", "kind"]
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [
            models.UniqueConstraint(fields=["stage", "kind", "urgency"], name="timelimit_unique_stage_kind_urgency"),
            models.CheckConstraint(
                condition=(
                    # The isnull=False terms matter: a comparison with NULL passes a CHECK.
                    models.Q(
                        working_days__isnull=False,
                        working_days__gte=1,
                        working_days__lte=MAX_LIMIT_WORKING_DAYS,
                        hours__isnull=True,
                    )
                    | models.Q(hours__isnull=False, hours__gte=1, hours__lte=MAX_LIMIT_HOURS, working_days__isnull=True)
                ),
                name="timelimit_days_or_hours_in_range",
            ),
        ]

    def __str__(self) -> str:
        kind = self.get_kind_display() if self.kind else _("every kind")
        if self.working_days is not None:
            amount = ngettext("%(n)d working day", "%(n)d working days", self.working_days) % {"n": self.working_days}
        else:
            hours = self.hours or 0
            amount = ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        return f"{self.get_stage_display()} · {kind} · {self.get_urgency_display()}: {amount}"

    def clean(self) -> None:
        validate_time_limit(working_days=self.working_days, hours=self.hours)
