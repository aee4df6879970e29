"""Admin for telephony: the IVR menus (edited here, read by the AGI bridge) and the read-only call log."""

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from tickets.models import Department, Kind
from tickets.pii import phone_mask

from .models import Call, IvrMenu, IvrOption, OptionAction, QueueCaller, QueueMember
from .prompts import PROMPTS, department_prompt

MAIN_MENU = "main"
PROMPT_NAMES = sorted(PROMPTS)
PROMPT_HINT = format_lazy(
    "{} {} {}",
    _("The sound file's name without extension, as manage.py make_prompts renders it. Known prompts:"),
    ", ".join(PROMPT_NAMES),
    _("(and hotline/dept-<code> for each department). Any other name needs its own recording on Asterisk."),
)


def known_prompts() -> set[str]:
    departments = Department.objects.filter(is_active=True).values_list("code", flat=True)
    return set(PROMPT_NAMES) | {department_prompt(code) for code in departments}


class PromptNameInput(forms.TextInput):
    """A text input that suggests the known prompt names (an HTML datalist) while leaving any name possible."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        attrs = dict(attrs or {})
        datalist_id = f"{attrs.get('id') or name}-prompts"
        attrs["list"] = datalist_id
        options = format_html_join("", '<option value="{}"></option>', ((prompt,) for prompt in PROMPT_NAMES))
        return format_html(
            '{}<datalist id="{}">{}</datalist>', super().render(name, value, attrs, renderer), datalist_id, options
        )


class IvrMenuForm(forms.ModelForm):
    class Meta:
        model = IvrMenu
        fields = ("code", "name", "prompt", "invalid_prompt", "timeout_ms", "max_attempts")
        widgets = {"prompt": PromptNameInput, "invalid_prompt": PromptNameInput}
        help_texts = {"prompt": PROMPT_HINT, "invalid_prompt": PROMPT_HINT}


class IvrOptionForm(forms.ModelForm):
    """One key of a menu; IvrOption.clean (run by the model form) checks the kind and the submenu."""

    kind = forms.ChoiceField(
        label=_("ticket kind"),
        choices=[("", "---------"), *Kind.choices],
        required=False,
        help_text=_("For “choose the ticket kind”: the kind chosen."),
    )

    class Meta:
        model = IvrOption
        fields = ("digit", "action", "kind", "submenu", "label")


class IvrOptionFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        menu = self.instance
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            submenu = data.get("submenu")
            if data.get("action") == OptionAction.SUBMENU and submenu is not None and submenu.pk == menu.pk:
                form.add_error("submenu", _("A menu cannot lead to itself."))


class IvrOptionInline(admin.TabularInline):
    model = IvrOption
    form = IvrOptionForm
    formset = IvrOptionFormSet
    fk_name = "menu"
    extra = 1
    ordering = ("digit",)


@admin.register(IvrMenu)
class IvrMenuAdmin(admin.ModelAdmin):
    """The bridge reads menus afresh every few seconds: an edit here reaches calls without a restart."""

    form = IvrMenuForm
    inlines = [IvrOptionInline]
    list_display = ("code", "name", "prompt", "keys", "timeout_ms", "max_attempts")
    search_fields = ("code", "name", "prompt")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("options")

    def get_readonly_fields(self, request: HttpRequest, obj: IvrMenu | None = None) -> tuple[str, ...]:
        # The bridge starts every call at the menu coded "main": renaming it would silence the IVR.
        return ("code",) if obj is not None and obj.code == MAIN_MENU else ()

    def has_delete_permission(self, request: HttpRequest, obj: IvrMenu | None = None) -> bool:
        if obj is not None and obj.code == MAIN_MENU:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("keys"))
    def keys(self, obj: IvrMenu) -> str:
        return " ".join(option.digit for option in obj.options.all())

    def save_model(self, request: HttpRequest, obj: IvrMenu, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        known = known_prompts()
        for name in dict.fromkeys((obj.prompt, obj.invalid_prompt)):
            if name not in known:
                messages.warning(
                    request,
                    _(
                        "“%(name)s” is not a prompt manage.py make_prompts renders: put its recording in every "
                        "language directory on the Asterisk servers, or callers hear nothing."
                    )
                    % {"name": name},
                )


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """A read-only log: calls are written by the AGI bridge and the AMI listener."""

    list_display = (
        "uniqueid",
        "caller_masked",
        "ticket",
        "outcome",
        "queue",
        "operator",
        "started_at",
        "wait_seconds",
        "talk_seconds",
    )
    list_filter = ("outcome", "queue", ("operator", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=uniqueid", "=linkedid", "=ticket__number")
    search_help_text = _("Asterisk unique id, linked id or ticket number.")
    date_hierarchy = "started_at"
    list_select_related = ("ticket", "operator")
    fields = (
        "uniqueid",
        "linkedid",
        "caller_masked",
        "dialled_number",
        "channel",
        "language",
        "ticket",
        "other_ticket_numbers",
        "ivr_path",
        "ivr_digits",
        "queue",
        "agent",
        "operator",
        "outcome",
        "started_at",
        "ivr_ended_at",
        "queue_joined_at",
        "answered_at",
        "ended_at",
        "hangup_cause",
        "wait_seconds",
        "talk_seconds",
        "recording",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    @admin.display(description=_("other tickets"))
    def other_ticket_numbers(self, obj: Call) -> str:
        return ", ".join(obj.other_tickets.order_by("created_at", "id").values_list("number", flat=True)) or "—"

    @admin.display(description=_("caller number"))
    def caller_masked(self, obj: Call) -> str:
        number = obj.caller_number
        # Caller IDs arrive as Asterisk sends them ("+86138…", "13800138000", "anonymous"); mask numbers only.
        return phone_mask(number) if number.lstrip("+").isdigit() else number


class LiveStateAdmin(admin.ModelAdmin):
    """The AMI listener's live queue state: read-only, rebuilt from Asterisk on every (re)connect."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(QueueMember)
class QueueMemberAdmin(LiveStateAdmin):
    list_display = ("queue", "interface", "member_name", "operator", "status", "paused", "in_call", "updated_at")
    list_filter = ("queue", "paused", "in_call", "server")
    search_fields = ("interface", "member_name", "operator__username")
    list_select_related = ("operator",)


@admin.register(QueueCaller)
class QueueCallerAdmin(LiveStateAdmin):
    list_display = ("queue", "position", "uniqueid", "joined_at", "server")
    list_filter = ("queue", "server")
    ordering = ("queue", "position")
