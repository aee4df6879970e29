"""Routing models: the rules, and the departments' workflow (return reasons, assisting input in joint handling).

A rule's conditions are all optional and combine with AND; a list means any of its values.
Rules are compiled into plain Python structures by routing.rules, which rebuilds them when
the ruleset token changes (every save through routing.actions or the admin sets a new one).
Returns and sign-for times are recorded in the ticket's timeline (tickets.actions.lifecycle.handling),
the one history the reports and the clocks read.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets import clock
from tickets.models import Category, Department, District, Ticket, User, localized_name

__all__ = [
    "RETURNS_FLAGGED",
    "AssistInput",
    "DayType",
    "ReturnReason",
    "Rule",
    "RulesetVersion",
]

# A ticket returned this many times waits for a supervisor: operators no longer re-dispatch it.
RETURNS_FLAGGED = 2


class DayType(models.TextChoices):
    ANY = "", _("Any day")
    WORKING = "working", _("Working days")
    OFF = "off", _("Days off (weekends and holidays)")


class Rule(models.Model):
    """One routing rule: conditions on a ticket, and what to do with the first ticket they all hold for."""

    name = models.CharField(_("name"), max_length=100)
    priority = models.PositiveIntegerField(
        _("priority"), default=100, db_index=True, help_text=_("Lower numbers are tried first; the first match wins.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    note = models.TextField(_("note"), blank=True, help_text=_("Why the rule exists, for whoever edits it next."))

    # Conditions. An empty list or an empty value is "any".
    kinds = models.JSONField(_("kinds"), default=list, blank=True)
    categories = models.ManyToManyField(
        Category,
        verbose_name=_("categories"),
        blank=True,
        related_name="routing_rules",
        help_text=_("A category matches its whole subtree."),
    )
    districts = models.ManyToManyField(District, verbose_name=_("districts"), blank=True, related_name="routing_rules")
    keywords = models.JSONField(
        _("keywords or phrases"),
        default=list,
        blank=True,
        help_text=_("Found anywhere in the title or description, without word segmentation; any one is enough."),
    )
    urgencies = models.JSONField(_("urgencies"), default=list, blank=True)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    repeat_count = models.PositiveSmallIntegerField(
        _("repeat caller: tickets"),
        null=True,
        blank=True,
        help_text=_("The caller has at least this many tickets (this one included) within the days below."),
    )
    repeat_days = models.PositiveSmallIntegerField(_("repeat caller: days"), null=True, blank=True)
    time_from = models.TimeField(_("from (time of day)"), null=True, blank=True)
    time_to = models.TimeField(
        _("until (time of day)"),
        null=True,
        blank=True,
        help_text=_("Asia/Shanghai time; a window such as 18:00–08:00 runs over midnight."),
    )
    day_type = models.CharField(_("days"), max_length=8, choices=DayType.choices, blank=True, default=DayType.ANY)

    # Actions.
    lead_department = models.ForeignKey(
        Department,
        verbose_name=_("lead department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routing_rules_led",
    )
    assisting_departments = models.ManyToManyField(
        Department, verbose_name=_("assisting departments"), blank=True, related_name="routing_rules_assisting"
    )
    urgency = models.CharField(
        _("set urgency"),
        max_length=8,
        choices=[("", _("Keep the ticket's")), ("normal", _("Normal")), ("urgent", _("Urgent"))],
        blank=True,
        default="",
    )
    limit_working_days = models.PositiveSmallIntegerField(_("time limit (working days)"), null=True, blank=True)
    limit_hours = models.PositiveSmallIntegerField(_("time limit (hours)"), null=True, blank=True)
    auto_dispatch = models.BooleanField(
        _("dispatch automatically"), default=False, help_text=_("Dispatch at registration, without an operator.")
    )
    close_first_contact = models.BooleanField(
        _("close at first contact"),
        default=False,
        help_text=_("For consultations the operator answers on the call (直接办结) instead of dispatching."),
    )

    updated_at = models.DateTimeField(_("updated"), default=clock.now, editable=False)
    updated_by = models.ForeignKey(
        User, verbose_name=_("updated by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        return f"{self.priority} · {self.name}"


class RulesetVersion(models.Model):
    """One row whose token changes with every change of the rules, so each process knows when to recompile."""

    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = _("ruleset version")

    def __str__(self) -> str:
        return self.token


class ReturnReason(models.Model):
    """A reason a department may give for returning a ticket (退单); the list is edited in the admin."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    needs_note = models.BooleanField(_("needs a note"), default=False)
    names_department = models.BooleanField(
        _("names the responsible department"),
        default=False,
        help_text=_("The returning department must name the department it believes is responsible."),
    )
    sort = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sort", "code"]
        verbose_name = _("return reason")
        verbose_name_plural = _("return reasons")

    def __str__(self) -> str:
        return localized_name(self)  # type: ignore[arg-type]


class AssistInput(models.Model):
    """An assisting department's input to a joint ticket (联办), or a supervisor's waiver of it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="assist_inputs")
    department = models.ForeignKey(Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("input"))
    waived = models.BooleanField(
        _("waived by a supervisor"), default=False, help_text=_("The lead may reply without this department's input.")
    )
    author = models.ForeignKey(User, verbose_name=_("by"), null=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("time"), default=clock.now)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("assisting input")
        verbose_name_plural = _("assisting inputs")
        indexes = [models.Index(fields=["ticket", "department", "at"], name="assist_ticket_department_at")]

    def __str__(self) -> str:
        return f"{self.ticket_id} · {self.department_id}"
