"""Admin for routing: the working calendar and time limits, the clocks' records, rules and return reasons."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tickets import clock
from tickets.admin import ReadOnlyAdminMixin
from tickets.models import Channel, Kind, Role, Urgency

from .actions import rules_announce, rules_lock
from .models import (
    AssistInput,
    CalendarDay,
    CalendarYear,
    Callback,
    Escalation,
    Reminder,
    Report,
    ReturnReason,
    Rule,
    TimeLimit,
)
from .rules import RuleSpec, rules_validate

# Working calendar and time limits -----------------------------------------------------------------


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    fields = ("date", "is_working_day", "name")
    extra = 3
    ordering = ("date",)


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    """Enter next year by hand from the State Council's notice: each day off and each make-up working day."""

    list_display = ("year", "source", "is_complete", "days_off", "make_up_days", "note")
    list_filter = ("source", "is_complete")
    fields = ("year", "source", "is_complete", "note")
    inlines = [CalendarDayInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalendarYear]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                off_count=Count("days", filter=Q(days__is_working_day=False)),
                working_count=Count("days", filter=Q(days__is_working_day=True)),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: CalendarYear | None = None) -> tuple[str, ...]:
        # Whether a year came from chinese-calendar is a fact, not a choice; a new year is entered by hand.
        return ("source",)

    @admin.display(description=_("days off"), ordering="off_count")
    def days_off(self, obj: CalendarYear) -> int:
        return obj.off_count  # type: ignore[attr-defined]

    @admin.display(description=_("make-up working days"), ordering="working_count")
    def make_up_days(self, obj: CalendarYear) -> int:
        return obj.working_count  # type: ignore[attr-defined]


@admin.register(TimeLimit)
class TimeLimitAdmin(admin.ModelAdmin):
    list_display = ("stage", "kind_or_every", "urgency", "working_days", "hours")
    list_filter = ("stage", "urgency", "kind")
    fields = ("stage", "kind", "urgency", "working_days", "hours")

    @admin.display(description=_("kind"), ordering="kind")
    def kind_or_every(self, obj: TimeLimit) -> str:
        return obj.get_kind_display() if obj.kind else str(_("every kind"))


# End of the working calendar and time limits ------------------------------------------------------


# Clocks: reminders, escalations, callbacks and reports (written by the sweeps; read-only here) -----


class ReadOnlyAdmin(admin.ModelAdmin):
    """The sweeps and the callback action write these rows; the admin only shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("ticket", "kind", "state", "due_at", "sent_at", "department", "deadline")
    list_filter = ("state", "kind")
    search_fields = ("ticket__number",)
    list_select_related = ("ticket", "department")
    date_hierarchy = "due_at"


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ("ticket", "reason", "deadline", "department", "created_at", "resolved_at")
    list_filter = ("reason", ("resolved_at", admin.EmptyFieldListFilter), "department")
    search_fields = ("ticket__number",)
    list_select_related = ("ticket", "department")
    date_hierarchy = "created_at"


@admin.register(Callback)
class CallbackAdmin(ReadOnlyAdmin):
    list_display = ("ticket", "department", "replied_at", "due_at", "done_at", "result", "operator")
    list_filter = ("result", ("done_at", admin.EmptyFieldListFilter), "department")
    search_fields = ("ticket__number",)
    list_select_related = ("ticket", "department", "operator")
    date_hierarchy = "due_at"


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = (
        "start",
        "period",
        "department",
        "received",
        "accepted_in_time",
        "replied_on_time",
        "overdue",
        "returned",
        "extensions",
        "reopened",
        "satisfaction_percent",
        "built_at",
    )
    list_filter = ("period", "department")
    list_select_related = ("department",)
    date_hierarchy = "start"

    @admin.display(description=_("satisfaction rate"))
    def satisfaction_percent(self, obj: Report) -> str:
        rate = obj.satisfaction_rate
        return "—" if rate is None else f"{rate:.1%}"


# End of the clocks ---------------------------------------------------------------------------------


# Routing rules, return reasons and assisting input ----------------------------------------------------


RULE_EDITORS = (Role.SUPERVISOR, Role.ADMIN)
_RULE_RELATIONS = ("categories", "districts", "assisting_departments")
_RULE_PLAIN = (
    "name",
    "priority",
    "is_active",
    "note",
    "kinds",
    "keywords",
    "urgencies",
    "channels",
    "repeat_count",
    "repeat_days",
    "time_from",
    "time_to",
    "day_type",
    "urgency",
    "limit_working_days",
    "limit_hours",
    "auto_dispatch",
    "close_first_contact",
)
_NULLABLE = ("repeat_count", "repeat_days", "time_from", "time_to", "limit_working_days", "limit_hours")


class SupervisorsEdit:
    """Supervisors and administrators change routing by their role, without per-model permissions."""

    def _editor(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_superuser or getattr(user, "role", "") in RULE_EDITORS))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._editor(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._editor(request)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._editor(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._editor(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._editor(request)


class RuleAdminForm(forms.ModelForm):
    """The rule's lists as checkboxes and lines; checked by routing.rules, as the API checks them."""

    kinds = forms.MultipleChoiceField(
        label=_("kinds"), choices=Kind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    urgencies = forms.MultipleChoiceField(
        label=_("urgencies"), choices=Urgency.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    channels = forms.MultipleChoiceField(
        label=_("channels"), choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    keywords = forms.CharField(
        label=_("keywords or phrases"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line; any one found in the title or description is enough. No word segmentation needed."),
    )

    class Meta:
        model = Rule
        fields = (*_RULE_PLAIN, "lead_department", *_RULE_RELATIONS)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["keywords"] = "\n".join(self.instance.keywords)

    def clean_keywords(self) -> list[str]:
        return [line.strip() for line in (self.cleaned_data.get("keywords") or "").splitlines() if line.strip()]

    def clean(self) -> dict:
        data = super().clean()
        ids = {name: tuple(obj.pk for obj in data.get(name) or ()) for name in _RULE_RELATIONS}
        plain = {name: data.get(name) for name in _RULE_PLAIN if name in data}
        lead = data.get("lead_department")
        spec = RuleSpec(id=self.instance.pk, lead_department=lead.pk if lead else None, **ids).replace(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in plain.items() if v is not None or k in _NULLABLE}
        )
        try:
            (cleaned,) = rules_validate([spec])
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(key if key in self.fields else None, message)
            return data
        data["keywords"] = list(cleaned.keywords)
        return data


@admin.register(Rule)
class RuleAdmin(SupervisorsEdit, admin.ModelAdmin):
    """Routing rules, tried by priority (lower first); the first whose every condition holds decides."""

    form = RuleAdminForm
    list_display = (
        "priority",
        "name",
        "is_active",
        "lead_department",
        "auto_dispatch",
        "close_first_contact",
        "updated_at",
        "updated_by",
    )
    list_display_links = ("name",)
    list_filter = ("is_active", "auto_dispatch", "close_first_contact", "lead_department")
    search_fields = ("name", "note")
    ordering = ("priority", "id")
    filter_horizontal = ("categories", "districts", "assisting_departments")
    readonly_fields = ("updated_at", "updated_by")
    fieldsets = (
        (None, {"fields": ("name", "priority", "is_active", "note")}),
        (
            _("Conditions: all must hold; in a list, any one value"),
            {
                "fields": (
                    "kinds",
                    "categories",
                    "districts",
                    "keywords",
                    "urgencies",
                    "channels",
                    ("repeat_count", "repeat_days"),
                    ("time_from", "time_to"),
                    "day_type",
                )
            },
        ),
        (
            _("Actions"),
            {
                "fields": (
                    "lead_department",
                    "assisting_departments",
                    "urgency",
                    ("limit_working_days", "limit_hours"),
                    "auto_dispatch",
                    "close_first_contact",
                )
            },
        ),
        (None, {"fields": ("updated_at", "updated_by")}),
    )

    # The admin's views run in one transaction: the ruleset lock taken first is held to the commit,
    # as in routing.actions.rules_apply, so an admin save never interleaves with an API change.

    def save_model(self, request: HttpRequest, obj: Rule, form: forms.ModelForm, change: bool) -> None:
        rules_lock()
        obj.updated_by = request.user  # type: ignore[assignment]
        obj.updated_at = clock.now()
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets, change: bool) -> None:
        # After the relations, so processes recompile the whole rule.
        super().save_related(request, form, formsets, change)
        rules_announce(saved=[form.instance.pk], deleted=[])

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        rules_lock()
        pk = obj.pk
        super().delete_model(request, obj)
        rules_announce(saved=[], deleted=[pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        rules_lock()
        deleted = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        rules_announce(saved=[], deleted=deleted)


@admin.register(ReturnReason)
class ReturnReasonAdmin(SupervisorsEdit, admin.ModelAdmin):
    """The reasons departments choose from when they return a ticket; deactivate rather than delete."""

    list_display = ("code", "name", "name_en", "needs_note", "names_department", "sort", "is_active")
    list_editable = ("sort", "is_active")
    fields = ("code", "name", "name_en", "needs_note", "names_department", "sort", "is_active")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # past returns name the code in their timeline entries

    def get_readonly_fields(self, request: HttpRequest, obj: ReturnReason | None = None) -> tuple[str, ...]:
        return ("code",) if obj is not None else ()


@admin.register(AssistInput)
class AssistInputAdmin(ReadOnlyAdminMixin, SupervisorsEdit, admin.ModelAdmin):
    list_display = ("at", "ticket", "department", "waived", "author")
    list_filter = ("waived", "department")
    search_fields = ("ticket__number", "text")
    list_select_related = ("ticket", "department", "author")


# End of routing rules ---------------------------------------------------------------------------------
