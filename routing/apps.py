"""App configuration for routing."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Routing")

    def ready(self) -> None:
        from . import calendar, checks, deadlines  # noqa: F401  (registers the system checks and cache receivers)
