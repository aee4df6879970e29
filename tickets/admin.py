"""Admin for reference data and users; citizens, tickets and the timeline are read-only or go through actions.

The admin never bypasses the state machine: statuses, departments and deadlines are read-only
here, content edits go through `ticket_update` (so the timeline records them), and timeline
entries and personal-data audits can be looked at but never changed or deleted, not even by a
superuser. ID numbers and phone numbers appear masked only.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import actions
from .actions.knowledge import ARTICLE_FIELDS
from .actions.lifecycle import EDITABLE_FIELDS
from .errors import DomainError
from .models import (
    Article,
    Category,
    Citizen,
    CitizenPhone,
    Department,
    District,
    PiiAccess,
    Role,
    Ticket,
    TimelineEntry,
    User,
    WebIntake,
)
from .pii import id_number_clean, phone_mask, pii_hash
from .selectors import citizens_by_phone, tickets_visible_to


class ReadOnlyAdminMixin:
    """View-only for everyone, superusers included: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# Reference data -------------------------------------------------------------------------------


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en", "phone", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name", "name_en")


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "name_en")
    search_fields = ("code", "name", "name_en")


class CategoryAdminForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("parent", "code", "name", "name_en", "sort", "is_active")

    def clean_parent(self) -> Category | None:
        parent = self.cleaned_data.get("parent")
        node = self.instance
        # A node under itself or under one of its descendants would make the tree a loop.
        if parent and node.pk and (parent.pk == node.pk or parent.path.startswith(node.path)):
            raise ValidationError(_("A category cannot be placed under itself or one of its subcategories."))
        return parent


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ("tree_name", "code", "parent", "path", "sort", "is_active")
    list_filter = ("is_active", ("parent", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "name_en", "code")
    readonly_fields = ("path",)
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)

    @admin.display(description=_("name"), ordering="path")
    def tree_name(self, obj: Category) -> str:
        depth = max(obj.path.count("/") - 2, 0)
        return format_html("{}{}", "\u2003" * depth + ("└ " if depth else ""), obj.name)


# Knowledge base -------------------------------------------------------------------------------


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    """Knowledge-base articles, kept by supervisors; saves go through article_create / article_update."""

    fields = (*ARTICLE_FIELDS, "use_count", "view_count", "updated_by", "updated_at", "created_at")
    readonly_fields = ("use_count", "view_count", "updated_by", "updated_at", "created_at")
    list_display = ("title", "category", "is_published", "use_count", "view_count", "updated_at", "updated_by")
    list_filter = ("is_published", ("category", admin.RelatedOnlyFieldListFilter))
    # search_text holds title, question, answer and keywords: one substring match, Chinese or not.
    search_fields = ("search_text",)
    search_help_text = _("Words or a phrase from the title, question, answer or keywords.")
    list_select_related = ("category__parent", "updated_by")
    autocomplete_fields = ("category",)
    actions = ("publish", "unpublish")

    def save_model(self, request: HttpRequest, obj: Article, form: forms.ModelForm, change: bool) -> None:
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in ARTICLE_FIELDS}
            saved = actions.article_update(obj, actor=request.user, **changes)
        else:
            saved = actions.article_create(actor=request.user, **{f: form.cleaned_data[f] for f in ARTICLE_FIELDS})
        obj.pk = saved.pk  # the admin's redirect and log entry need it

    @admin.action(description=_("Publish the selected articles"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        for article in queryset:
            actions.article_update(article, actor=request.user, is_published=True)

    @admin.action(description=_("Unpublish the selected articles"), permissions=["change"])
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        for article in queryset:
            actions.article_update(article, actor=request.user, is_published=False)


# Users ----------------------------------------------------------------------------------------


class _RoleDepartmentMixin:
    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("role") == Role.DEPARTMENT and not cleaned.get("department"):
            self.add_error("department", _("Department staff need a department: it decides which tickets they see."))
        return cleaned


class HotlineUserChangeForm(_RoleDepartmentMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


class HotlineUserCreationForm(_RoleDepartmentMixin, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = HotlineUserChangeForm
    add_form = HotlineUserCreationForm
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:2],
        (_("Hotline"), {"fields": ("role", "department", "extension")}),
        *DjangoUserAdmin.fieldsets[2:],
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        (_("Hotline"), {"classes": ("wide",), "fields": ("role", "department", "extension")}),
    )
    list_display = ("username", "get_full_name", "role", "department", "extension", "is_staff", "is_active")
    list_filter = ("role", ("department", admin.RelatedOnlyFieldListFilter), "is_staff", "is_superuser", "is_active")
    list_select_related = ("department",)
    search_fields = ("username", "first_name", "last_name", "email", "extension")

    @admin.display(description=_("name"))
    def get_full_name(self, obj: User) -> str:
        return obj.get_full_name()


# Citizens and personal data -------------------------------------------------------------------


class CitizenPhoneInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CitizenPhone
    fields = ("masked", "label", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description=_("phone number"))
    def masked(self, obj: CitizenPhone) -> str:
        return obj.masked


@admin.register(Citizen)
class CitizenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Citizens are created by operators (console or API) through `citizen_create`, never here."""

    fieldsets = (
        (
            None,
            {
                "fields": ("name", "id_masked", "address", "district", "created_at"),
                "description": _(
                    "Citizens are created by operators through the console or the API. ID numbers are stored "
                    "hashed and encrypted and are shown masked here; an unmasked view needs a reason and is "
                    "audited (see personal data accesses)."
                ),
            },
        ),
    )
    readonly_fields = ("name", "id_masked", "address", "district", "created_at")
    list_display = ("__str__", "id_masked", "phones_masked", "district", "created_at")
    list_filter = ("district",)
    search_fields = ("name",)
    search_help_text = _("Name, a full ID number or a phone number.")
    inlines = [CitizenPhoneInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Citizen]:
        return super().get_queryset(request).select_related("district").prefetch_related("phones")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            # Exact lookups through the keyed hash and the normalised phone: nothing is searched in clear.
            try:
                results |= queryset.filter(id_hash=pii_hash(id_number_clean(term)))
            except ValidationError:
                pass
            results |= queryset.filter(pk__in=citizens_by_phone(term).values("pk"))
        return results, may_have_duplicates

    @admin.display(description=_("phone numbers"))
    def phones_masked(self, obj: Citizen) -> str:
        return ", ".join(phone.masked for phone in obj.phones.all())


@admin.register(PiiAccess)
class PiiAccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit of unmasked reveals: who looked at whose personal data, when and why."""

    list_display = ("at", "user", "citizen", "fields", "reason")
    list_filter = (("user", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("reason", "user__username")
    date_hierarchy = "at"
    list_select_related = ("user", "citizen")
    fields = ("at", "user", "citizen", "fields", "reason")
    readonly_fields = fields


# Tickets and their timeline ------------------------------------------------------------------

TIMELINE_FIELDS = ("at", "action", "from_status", "to_status", "actor", "note", "data")


class TimelineInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The ticket's history, read-only: the timeline is never edited or deleted through any interface."""

    model = TimelineEntry
    fields = TIMELINE_FIELDS
    readonly_fields = TIMELINE_FIELDS
    extra = 0
    can_delete = False


class WebIntakeInline(ReadOnlyAdminMixin, admin.StackedInline):
    """What a citizen gave on the web form (docs/intake.md): the name, and whether a photo came with it.

    The photo itself is opened from the staff ticket page (intake/<number>/photo/), which checks who may.
    """

    model = WebIntake
    fields = ("contact_name", "photo_type", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("web form")


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("ticket", "at", "action", "from_status", "to_status", "actor")
    list_filter = ("action",)
    search_fields = ("=ticket__number",)
    search_help_text = _("Ticket number.")
    date_hierarchy = "at"
    list_select_related = ("ticket", "actor")
    fields = ("ticket", *TIMELINE_FIELDS)
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimelineEntry]:
        return super().get_queryset(request).filter(ticket__in=tickets_visible_to(request.user).values("pk"))


CONTENT_FIELDS = ("kind", "channel", "urgency", "title", "description", "address", "district", "category")
assert set(CONTENT_FIELDS) <= set(EDITABLE_FIELDS)  # save_model passes them to ticket_update


class TicketAdminForm(forms.ModelForm):
    # The version the editor loaded, so a concurrent change is refused instead of overwritten.
    seen_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Ticket
        fields = CONTENT_FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["seen_version"].initial = self.instance.version

    def clean(self) -> dict:
        cleaned = super().clean()
        seen = cleaned.get("seen_version")
        current = Ticket.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
        if seen is not None and current is not None and seen != current:
            raise ValidationError(_("Someone else changed this ticket since you opened it; reload the page."))
        return cleaned


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Tickets: content fields editable through `ticket_update`; everything the lifecycle owns read-only."""

    form = TicketAdminForm
    list_display = ("number", "kind", "status", "lead_department", "deadline", "overdue", "created_at")
    list_filter = (
        "status",
        "kind",
        "channel",
        "urgency",
        ("lead_department", admin.RelatedOnlyFieldListFilter),
        ("district", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("=number",)
    search_help_text = _("Ticket number.")
    date_hierarchy = "created_at"
    list_select_related = ("lead_department",)
    readonly_fields = (
        "number",
        "status",
        "citizen_masked",
        "caller_masked",
        "lead_department",
        "assisting",
        "deadline",
        "extension_until",
        "answer",
        "article",
        "reply",
        "satisfaction",
        "return_count",
        "merged_into",
        "external_ref",
        "version",
        "created_by",
        "created_at",
        "registered_at",
        "dispatched_at",
        "replied_at",
        "closed_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("number", "status", "seen_version")}),
        (
            _("Content"),
            {
                "fields": CONTENT_FIELDS,
                "description": _("Changes are recorded in the ticket's timeline. The status moves only by actions."),
            },
        ),
        (_("Citizen"), {"fields": ("citizen_masked", "caller_masked")}),
        (
            _("Handling"),
            {
                "fields": (
                    "lead_department",
                    "assisting",
                    "deadline",
                    "extension_until",
                    "answer",
                    "article",
                    "reply",
                    "satisfaction",
                    "return_count",
                    "merged_into",
                    "external_ref",
                )
            },
        ),
        (
            _("History"),
            {
                "classes": ("collapse",),
                "fields": (
                    "created_by",
                    "created_at",
                    "registered_at",
                    "dispatched_at",
                    "replied_at",
                    "closed_at",
                    "updated_at",
                    "version",
                ),
            },
        ),
    )
    inlines = [WebIntakeInline, TimelineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Ticket]:
        return tickets_visible_to(request.user)

    def get_fieldsets(self, request: HttpRequest, obj: Ticket | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and self.has_change_permission(request, obj):
            return fieldsets
        # Read-only views have no form to protect from a stale save.
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "seen_version"]}) for name, opts in fieldsets
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tickets are opened by operators, the IVR and the API, which number and register them

    def has_delete_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Ticket | None = None) -> bool:
        user = request.user
        if not (user.is_superuser or user.is_hotline_staff):
            return False
        if obj is not None and obj.is_terminal:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Ticket, form: TicketAdminForm, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in CONTENT_FIELDS}
        if changes:
            actions.ticket_update(obj, actor=request.user, version=form.cleaned_data["seen_version"], **changes)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None) -> HttpResponse:
        # The action may still refuse (a change that raced past the form's version check, a ticket
        # closed meanwhile); the admin's transaction rolls back and the editor sees why.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    @admin.display(boolean=True, description=_("overdue"))
    def overdue(self, obj: Ticket) -> bool:
        return obj.is_overdue()

    @admin.display(description=_("citizen"))
    def citizen_masked(self, obj: Ticket) -> str:
        if obj.citizen_id is None:
            return "—"
        citizen = obj.citizen
        return format_html("{} {}", citizen.name or gettext("(no name)"), citizen.id_masked)

    @admin.display(description=_("caller number"))
    def caller_masked(self, obj: Ticket) -> str:
        return phone_mask(obj.caller_number) or "—"

    @admin.display(description=_("assisting departments"))
    def assisting(self, obj: Ticket) -> str:
        departments = obj.assisting_departments.all()
        return format_html_join(", ", "{}", ((d.name,) for d in departments)) or "—"
