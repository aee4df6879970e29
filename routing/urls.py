"""API routes of routing, mounted under /api/routing/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

app_name = "routing"

router = SimpleRouter()
router.register("rules", api.RuleViewSet, basename="rule")
router.register("return-reasons", api.ReturnReasonViewSet, basename="return-reason")

urlpatterns = [
    path("", include(router.urls)),
    path("explain/", api.ExplainView.as_view(), name="explain"),
    path("simulate/", api.SimulateView.as_view(), name="simulate"),
    path("queue/", api.DispatchQueueView.as_view(), name="queue"),
    path("tickets/<str:number>/escalate/", api.TicketEscalateView.as_view(), name="ticket-escalate"),
    path("supervision/", api.SupervisionView.as_view(), name="supervision"),
]
