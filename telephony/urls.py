"""API routes of telephony, mounted under /api/calls/."""

from django.urls import path

from . import api

app_name = "telephony"

urlpatterns = [
    path("current/pop/", api.CurrentCallPopView.as_view(), name="current-call-pop"),
    path("<int:pk>/pop/", api.CallPopView.as_view(), name="call-pop"),
    path("<int:pk>/tickets/", api.CallTicketsView.as_view(), name="call-tickets"),
]
