"""Routes of the web intake: the citizens' pages under public/ (no login) and the staff-only photo."""

from django.urls import path

from . import views

urlpatterns = [
    path("public/", views.submit, name="intake-submit"),
    path("public/progress/", views.progress, name="intake-progress"),
    path("public/rate/<str:token>/", views.rate, name="intake-rate"),
    path("intake/<str:number>/photo/", views.photo, name="intake-photo"),
]
