"""Admin for the event outbox: a read-only view of what was published and whether it was relayed."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import OutboxEvent


class RelayedFilter(admin.SimpleListFilter):
    title = _("relayed")
    parameter_name = "relayed"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No, still owed to the sockets"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(relayed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(relayed_at__isnull=True)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "groups", "created_at", "relayed_at")
    list_filter = (RelayedFilter, "type")
    search_fields = ("type",)
    date_hierarchy = "created_at"
    fields = ("id", "type", "payload", "groups", "seqs", "created_at", "relayed_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False
