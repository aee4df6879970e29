"""API routes under /api/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from . import duplicates, knowledge, views

router = DefaultRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("citizens", views.CitizenViewSet, basename="citizen")
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("districts", views.DistrictViewSet, basename="district")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("knowledge", knowledge.ArticleViewSet, basename="article")

urlpatterns = [
    # Before the router: its ticket routes take digits only, these two come first for clarity.
    path("tickets/duplicates/", duplicates.DraftDuplicatesView.as_view(), name="ticket-duplicates-draft"),
    path("tickets/<str:number>/duplicates/", duplicates.TicketDuplicatesView.as_view(), name="ticket-duplicates"),
    path("", include(router.urls)),
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
