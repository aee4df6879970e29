"""Admin for call records: a read-only log (calls are written by the AGI bridge and the AMI listener)."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tickets.pii import phone_mask

from .models import Call


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("uniqueid", "caller_masked", "dialled_number", "ticket", "operator", "started_at", "ended_at")
    list_filter = (("operator", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("=uniqueid", "=ticket__number")
    search_help_text = _("Asterisk unique id or ticket number.")
    date_hierarchy = "started_at"
    list_select_related = ("ticket", "operator")
    fields = (
        "uniqueid",
        "caller_masked",
        "dialled_number",
        "channel",
        "ticket",
        "operator",
        "started_at",
        "answered_at",
        "ended_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    @admin.display(description=_("caller number"))
    def caller_masked(self, obj: Call) -> str:
        number = obj.caller_number
        # Caller IDs arrive as Asterisk sends them ("+86138…", "13800138000", "anonymous"); mask numbers only.
        return phone_mask(number) if number.lstrip("+").isdigit() else number
