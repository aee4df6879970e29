"""App configuration for dashboards."""

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = _("Dashboards")

    def ready(self) -> None:
        # Each app's snapshots.py registers its parts of the live views (dashboards/snapshots.py).
        autodiscover_modules("snapshots")
