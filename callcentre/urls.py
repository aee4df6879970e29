"""URL map: pages, the REST API under /api/, the admin, language switching."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/routing/", include("routing.urls")),  # rules, explain, simulate, dispatch queue, return reasons
    path("api/calls/", include("telephony.urls")),  # the screen pop of a call
    path("api/", include("tickets.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("open311/v2/", include("tickets.open311.urls")),  # GeoReport v2: services, requests, tokens
    path("", include("tickets.intake.urls")),  # public/ (citizens' form, progress, rating), intake/<number>/photo/
    path("", include("routing.urls_reports")),  # reports/ pages, api/callbacks/, api/tickets/<number>/callback/
    path("", include("dashboards.urls")),
]
