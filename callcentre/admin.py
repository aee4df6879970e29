"""The admin site: for the hotline's administrators and supervisors only, whatever is_staff says."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

ADMIN_ROLES = ("admin", "supervisor")


class HotlineAdminSite(admin.AdminSite):
    site_header = _("12345 Government Service Hotline administration")
    site_title = _("12345 hotline administration")
    index_title = _("Reference data and users")

    def has_permission(self, request: HttpRequest) -> bool:
        # Department staff never enter the admin, even if someone ticks is_staff for them: its
        # ticket and citizen pages are not scoped per department and do not shield reporters.
        # The role is the gate, not is_staff: granting someone the supervisor role is one field.
        user = request.user
        return bool(user.is_active and (user.is_superuser or getattr(user, "role", "") in ADMIN_ROLES))


class HotlineAdminConfig(AdminConfig):
    default_site = "callcentre.admin.HotlineAdminSite"
