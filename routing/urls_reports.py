"""Routes of routing's pages and API: the reports (定期通报) and their exports, the callbacks (回访).

Included at the site root by callcentre/urls.py: the pages live under reports/, the API under
api/ beside the tickets router (whose ticket routes have no `callback`, so nothing is shadowed).
"""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import callbacks_api, report_views

router = SimpleRouter()
router.register("callbacks", callbacks_api.CallbackViewSet, basename="callback")

urlpatterns = [
    path("reports/", report_views.reports_page, name="reports"),
    path("reports/export.csv", report_views.reports_export_csv, name="reports-csv"),
    path("reports/export.xlsx", report_views.reports_export_xlsx, name="reports-xlsx"),
    path("api/tickets/<str:number>/callback/", callbacks_api.TicketCallbackView.as_view(), name="ticket-callback"),
    path("api/", include(router.urls)),
]
