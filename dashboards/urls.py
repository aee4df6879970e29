"""Page routes: login and logout, home (redirects by role), each role's landing page, the ticket page."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("operator/", views.operator, name="operator"),
    path("supervisor/", views.supervisor, name="supervisor"),
    path("department/", views.department, name="department"),
    path("department/rows/<str:number>/", views.department_row, name="department-row"),
    path("tickets/<str:number>/", views.ticket_detail, name="ticket-page"),
]
