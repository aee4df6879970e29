"""Routing models: the clocks' records — reminders, escalations (督办), callbacks (回访) and reports (定期通报).

Each row's unique key is what makes the sweeps idempotent: a second run (or a second worker)
cannot insert the same reminder, escalation or callback again. Keys carry the deadline (or
reply) they were for, so an extension or a second reply starts a fresh set.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tickets import clock
from tickets.models import Department, Satisfaction, Ticket, User

__all__ = [
    "Callback",
    "Escalation",
    "EscalationReason",
    "Reminder",
    "ReminderKind",
    "ReminderState",
    "Report",
    "ReportPeriod",
    "REPORT_FIGURES",
]


class ReminderKind(models.TextChoices):
    HALF = "half", _("Half of the time limit used")
    # xgettext:no-python-format
    EIGHTY = "eighty", _("80% of the time limit used")
    SIGN_FOR = "sign_for", _("Not accepted within the sign-for window")


class ReminderState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped (the ticket moved on first)")


class Reminder(models.Model):
    """A reminder to the department, planned when a deadline is set and sent once when `due_at` passes.

    Unique per (ticket, kind, deadline): the deadline is the key's version, so an approved
    extension (a new deadline) plans new 50 % and 80 % reminders while the old ones are skipped.
    """

    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(_("kind"), max_length=10, choices=ReminderKind.choices)
    deadline = models.DateTimeField(_("for the deadline"))
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_at = models.DateTimeField(_("due"))
    state = models.CharField(_("state"), max_length=8, choices=ReminderState.choices, default=ReminderState.PENDING)
    sent_at = models.DateTimeField(_("sent or skipped"), null=True, blank=True)
    created_at = models.DateTimeField(_("planned"), default=clock.now, editable=False)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "kind", "deadline"], name="reminder_once_per_deadline"),
        ]
        indexes = [
            # The every-minute sweep reads only what is still pending, so the index stays small.
            models.Index(fields=["due_at"], condition=models.Q(state="pending"), name="reminder_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind} {self.due_at:%Y-%m-%d %H:%M}"


class EscalationReason(models.TextChoices):
    OVERDUE = "overdue", _("Overdue")
    RETURNED_TWICE = "returned_twice", _("Returned twice")
    # By a supervisor's hand (routing.actions.ticket_escalate), with a note.
    MANUAL = "manual", _("Escalated by a supervisor")


class Escalation(models.Model):
    """A ticket brought to the supervisors (督办): overdue at `deadline`, returned twice, or by hand.

    Unique per (ticket, reason, deadline) — and per (ticket, reason) for reasons without a
    deadline, since NULLs never collide in a unique index. `resolved_at` is set by the sweep once
    the ticket no longer is in that situation (replied, returned, deadline extended, re-dispatched).
    A supervisor's escalation (MANUAL) is made for the deadline the department is working to, so
    it is resolved like an overdue one, and a ticket is escalated by hand once per deadline.
    """

    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="escalations")
    reason = models.CharField(_("reason"), max_length=16, choices=EscalationReason.choices)
    deadline = models.DateTimeField(_("missed deadline"), null=True, blank=True)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("escalated"), default=clock.now, editable=False)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(
        User, verbose_name=_("escalated by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "reason", "deadline"],
                condition=models.Q(deadline__isnull=False),
                name="escalation_once_per_deadline",
            ),
            models.UniqueConstraint(
                fields=["ticket", "reason"],
                condition=models.Q(deadline__isnull=True),
                name="escalation_once_without_deadline",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], condition=models.Q(resolved_at__isnull=True), name="escalation_open"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.reason} {self.created_at:%Y-%m-%d %H:%M}"


class Callback(models.Model):
    """The callback (回访) owed to the citizen after a department's reply, due one working day after it.

    Unique per (ticket, replied_at): a reopened ticket replied again owes a new callback.
    """

    ticket = models.ForeignKey(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="callbacks")
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    replied_at = models.DateTimeField(_("reply"))
    deadline = models.DateTimeField(_("deadline at the reply"), null=True, blank=True)
    due_at = models.DateTimeField(_("due"))
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=12, choices=Satisfaction.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    operator = models.ForeignKey(
        User, verbose_name=_("recorded by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("scheduled"), default=clock.now, editable=False)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("callback")
        verbose_name_plural = _("callbacks")
        constraints = [models.UniqueConstraint(fields=["ticket", "replied_at"], name="callback_once_per_reply")]
        indexes = [
            models.Index(fields=["due_at"], condition=models.Q(done_at__isnull=True), name="callback_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class ReportPeriod(models.TextChoices):
    DAY = "day", _("Day")
    WEEK = "week", _("Week")


# The stored counts of a report, in the order the page and the exports show them.
REPORT_FIGURES = (
    "received",
    "accepted",
    "accepted_in_time",
    "replied",
    "replied_on_time",
    "overdue",
    "returned",
    "extensions",
    "reopened",
    "satisfied",
    "basically_satisfied",
    "unsatisfied",
)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Report(models.Model):
    """One department's figures for one day or one week (定期通报); see routing.reports for each definition."""

    period = models.CharField(_("period"), max_length=4, choices=ReportPeriod.choices)
    start = models.DateField(_("first day"))
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.CASCADE, related_name="reports"
    )
    # Labels in the "report figure" context: "replied" or "overdue" mean something else on a ticket.
    received = models.PositiveIntegerField(pgettext_lazy("report figure", "received"), default=0)
    accepted = models.PositiveIntegerField(pgettext_lazy("report figure", "accepted"), default=0)
    accepted_in_time = models.PositiveIntegerField(pgettext_lazy("report figure", "accepted in time"), default=0)
    replied = models.PositiveIntegerField(pgettext_lazy("report figure", "replied"), default=0)
    replied_on_time = models.PositiveIntegerField(pgettext_lazy("report figure", "replied on time"), default=0)
    overdue = models.PositiveIntegerField(pgettext_lazy("report figure", "overdue"), default=0)
    returned = models.PositiveIntegerField(pgettext_lazy("report figure", "returned"), default=0)
    extensions = models.PositiveIntegerField(pgettext_lazy("report figure", "extensions"), default=0)
    reopened = models.PositiveIntegerField(pgettext_lazy("report figure", "reopened"), default=0)
    satisfied = models.PositiveIntegerField(pgettext_lazy("report figure", "satisfied"), default=0)
    basically_satisfied = models.PositiveIntegerField(pgettext_lazy("report figure", "basically satisfied"), default=0)
    unsatisfied = models.PositiveIntegerField(pgettext_lazy("report figure", "unsatisfied"), default=0)
    built_at = models.DateTimeField(_("built"), default=clock.now)

    class Meta:
        ordering = ["period", "-start", "department__code"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        constraints = [
            models.UniqueConstraint(fields=["period", "start", "department"], name="report_once_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.start.isoformat()} {self.department_id}"

    @property
    def rated(self) -> int:
        return self.satisfied + self.basically_satisfied + self.unsatisfied

    @property
    def satisfaction_rate(self) -> float | None:
        """(satisfied + basically satisfied) / rated; None when no callback was recorded."""
        return _rate(self.satisfied + self.basically_satisfied, self.rated)

    @property
    def on_time_rate(self) -> float | None:
        """Replied on time / replied; None when nothing was replied."""
        return _rate(self.replied_on_time, self.replied)

    @property
    def accepted_in_time_rate(self) -> float | None:
        """Accepted in time / accepted; None when nothing was accepted."""
        return _rate(self.accepted_in_time, self.accepted)
