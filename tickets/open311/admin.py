"""Admin for Open311: services over categories with their attributes, API keys, requests and the request log.

A key is issued by adding it (the secret is shown once, on the page after saving, and only its
hash is kept) and revoked with the list's action; keys are never deleted, so the log and the
requests keep their holder. Requests and the log are read-only, phone numbers and e-mail masked.
"""

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tickets.admin import ReadOnlyAdminMixin

from .actions import api_key_issue, api_key_revoke
from .models import ApiKey, AttributeValue, RequestLog, Service, ServiceAttribute, ServiceRequest


class ServiceAttributeInline(admin.TabularInline):
    model = ServiceAttribute
    fields = ("order", "code", "description", "datatype", "variable", "required", "datatype_description")
    extra = 0
    show_change_link = True  # the values of a list attribute are edited on its own page


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    """Which categories Open311 offers, under which code; the group is the parent category's name."""

    list_display = ("code", "category", "kind", "type", "is_active", "attribute_count", "sort")
    list_filter = ("is_active", "type", "kind")
    list_editable = ("is_active", "sort")
    search_fields = ("code", "category__name", "category__name_en", "keywords")
    autocomplete_fields = ("category",)
    fields = ("category", "code", "description", "keywords", "kind", "type", "notice", "is_active", "sort")
    inlines = [ServiceAttributeInline]
    list_select_related = ("category__parent",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Service]:
        return super().get_queryset(request).annotate(attribute_total=Count("attributes"))

    @admin.display(description=_("attributes"), ordering="attribute_total")
    def attribute_count(self, obj: Service) -> int:
        return obj.attribute_total


class AttributeValueInline(admin.TabularInline):
    model = AttributeValue
    fields = ("sort", "key", "name")
    extra = 2


@admin.register(ServiceAttribute)
class ServiceAttributeAdmin(admin.ModelAdmin):
    list_display = ("service", "order", "code", "datatype", "variable", "required")
    list_filter = ("datatype", "required", "variable")
    search_fields = ("code", "description", "service__code")
    autocomplete_fields = ("service",)
    inlines = [AttributeValueInline]
    list_select_related = ("service",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "contact", "requests_per_minute", "created_at", "last_used_at", "state")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "contact", "prefix")
    fields = ("name", "contact", "requests_per_minute", "note")
    readonly_fields = ("prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by")
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return self.fields if obj is None else (*self.fields, *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the log and the requests keep naming the holder

    @admin.display(description=_("state"), boolean=False)
    def state(self, obj: ApiKey) -> str:
        return str(_("active")) if obj.is_active else str(_("revoked"))

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            request._open311_secret = api_key_issue(obj, actor=request.user)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """Show the new key once, on this page only: it is stored nowhere and not put in a message."""
        secret = getattr(request, "_open311_secret", "")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "key": obj,
            "secret": secret,
            "title": _("API key issued"),
            "changelist_url": reverse("admin:open311_apikey_changelist"),
        }
        response = TemplateResponse(request, "admin/open311/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(api_key_revoke(key, actor=request.user) for key in queryset)
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", revoked) % {"count": revoked},
            messages.SUCCESS,
        )


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("submitted_at", "ticket_link", "service", "api_key", "token", "attempts", "error")
    list_filter = ("service", "api_key", ("ticket", admin.EmptyFieldListFilter))
    search_fields = ("token", "ticket__number")
    date_hierarchy = "submitted_at"
    list_select_related = ("ticket", "service__category", "api_key")
    fields = (
        "token",
        "ticket_link",
        "service",
        "api_key",
        "submitted_at",
        "description",
        "latitude",
        "longitude",
        "address_string",
        "address_id",
        "attributes",
        "media_url",
        "first_name",
        "last_name",
        "email_masked",
        "phone_masked",
        "device_id",
        "account_id",
        "attempts",
        "error",
    )
    readonly_fields = fields

    @admin.display(description=_("ticket"), ordering="ticket__number")
    def ticket_link(self, obj: ServiceRequest) -> str:
        if not obj.ticket_id:
            return str(_("(waiting)"))
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:tickets_ticket_change", args=[obj.ticket_id]), obj.ticket.number
        )

    @admin.display(description=_("phone number"))
    def phone_masked(self, obj: ServiceRequest) -> str:
        return obj.phone_masked

    @admin.display(description=_("email"))
    def email_masked(self, obj: ServiceRequest) -> str:
        local, _at, domain = obj.email.partition("@")
        return f"{local[:1]}***@{domain}" if obj.email else ""


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "api_key", "method", "path", "format", "status", "error", "client_ip", "duration_ms")
    list_filter = ("status", "endpoint", "method", "format", "api_key")
    search_fields = ("path", "service_request_id", "error", "client_ip")
    date_hierarchy = "at"
    list_select_related = ("api_key",)
    fields = list_display + ("endpoint", "service_request_id")
    readonly_fields = fields
