"""GeoReport v2 URLs, mounted at /open311/v2/: each resource with a .xml or .json suffix (XML without one)."""

from django.urls import path, re_path, register_converter
from rest_framework.urlpatterns import format_suffix_patterns

from . import views


class CodeConverter:
    """Service codes and tokens: no dot, so that services/001.json reads as code 001 in JSON."""

    regex = r"[A-Za-z0-9_-]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class NumberConverter(CodeConverter):
    """Request ids are ticket numbers: digits, kept as text."""

    regex = r"[0-9]{1,20}"


register_converter(CodeConverter, "open311code")
register_converter(NumberConverter, "open311number")

app_name = "open311"
urlpatterns = format_suffix_patterns(
    [
        path("services", views.ServicesView.as_view(), name="services"),
        path("services/<open311code:code>", views.ServiceDefinitionView.as_view(), name="service"),
        path("requests", views.RequestsView.as_view(), name="requests"),
        path("requests/<open311number:service_request_id>", views.RequestView.as_view(), name="request"),
        path("tokens/<open311code:token>", views.TokenView.as_view(), name="token"),
    ],
    allowed=["json", "xml"],
)
urlpatterns += [re_path(r"^(?P<rest>.*?)(?:\.(?P<format>json|xml))?$", views.UnknownView.as_view(), name="unknown")]
