"""App configuration for the Open311 GeoReport v2 API (app label "open311")."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Open311Config(AppConfig):
    name = "tickets.open311"
    label = "open311"
    verbose_name = _("Open311")
    default_auto_field = "django.db.models.BigAutoField"
