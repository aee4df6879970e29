"""The GeoReport v2 endpoints under /open311/v2/: parse, call one selector or action, answer in XML or JSON.

Every call goes through GeoReportView: the api_key (required to post, optional otherwise), the
rate limit of the key (or of the address without one), the jurisdiction, errors in the
standard's shape, and one line in the request log.
"""

import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets import clock, ratelimits

from .actions import request_log_write, service_request_submit
from .errors import GeoReportError, bad_request, from_drf, not_found
from .forms import request_input_parse, requests_query_parse
from .models import ApiKey, ServiceRequest
from .ratelimit import rate_limit_hit
from .renderers import GeoReportJSONRenderer, GeoReportResponse, GeoReportXMLRenderer
from .selectors import (
    api_key_find,
    service_attributes,
    service_offered_get,
    service_request_by_token,
    service_request_get,
    service_requests_search,
    services_offered,
)
from .serializers import created_row, request_row, service_definition, service_row, token_row

logger = logging.getLogger(__name__)


def _param(request: Request, name: str) -> str:
    """A parameter from the query string or, for a POST, the form body (which wins)."""
    value = request.data.get(name) if request.method == "POST" else None
    value = value if isinstance(value, str) and value.strip() else request.query_params.get(name, "")
    return value.strip()


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the request log stores it (None when there is none that parses)."""
    return ratelimits.client_ip(request) or None


class GeoReportView(APIView):
    authentication_classes: list[Any] = []  # the api_key is checked here, in the standard's way
    permission_classes: list[Any] = []
    renderer_classes = [GeoReportXMLRenderer, GeoReportJSONRenderer]  # XML first: the standard's required format
    parser_classes = [FormParser, MultiPartParser]
    metadata_class = None
    schema = None  # not part of the OpenAPI document of /api/
    endpoint = ""
    posts_need_key = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        started = time.monotonic()
        self.api_key: ApiKey | None = None
        self.logged_id = ""
        response = super().dispatch(request, *args, **kwargs)
        try:
            request_log_write(
                api_key=self.api_key,
                method=request.method or "",
                endpoint=self.endpoint,
                path=request.path[:255],
                format=getattr(getattr(self.request, "accepted_renderer", None), "format", "") or "",
                status=response.status_code,
                error=self._first_error(response)[:255],
                client_ip=client_ip(request),
                service_request_id=self.logged_id,
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        except Exception:  # the answer is already decided; a lost log line must not change it
            logger.exception("open311 request log entry not written")
        return response

    @staticmethod
    def _first_error(response: Response) -> str:
        data = getattr(response, "data", None)
        if response.status_code >= 400 and isinstance(data, list) and data and isinstance(data[0], dict):
            return str(data[0].get("description", ""))
        return ""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        try:
            self.api_key = self._authenticate(request)
        except GeoReportError:
            if self.api_key is None:  # an unknown key counts against the address: guessing keys is throttled too
                self._rate_limit(request)
            raise
        self._rate_limit(request)
        ours, given = settings.OPEN311_JURISDICTION_ID, _param(request, "jurisdiction_id")
        if ours and given and given != ours:
            raise not_found(
                _("jurisdiction_id “%(given)s” was not found: this endpoint serves %(ours)s.")
                % {"given": given, "ours": ours}
            )

    def _authenticate(self, request: Request) -> ApiKey | None:
        raw = _param(request, "api_key")
        if not raw:
            if request.method == "POST" and self.posts_need_key:
                raise GeoReportError(403, _("An api_key is required to post a service request."))
            return None
        key = api_key_find(raw)
        if key is None:
            raise GeoReportError(403, _("Invalid api_key received."))
        self.api_key = key  # logged with the refusal below, too
        if not key.is_active:
            raise GeoReportError(403, _("This api_key has been revoked."))
        return key

    def _rate_limit(self, request: Request) -> None:
        if self.api_key is not None:
            client, limit = f"key:{self.api_key.pk}", self.api_key.requests_per_minute or settings.OPEN311_RATE_LIMIT
            message = _("Too many requests: this api_key may make %(limit)d a minute. Try again in %(wait)d s.")
        else:
            # tickets.ratelimits keys the cache by a keyed hash of the address, not the address.
            client, limit = f"ip:{client_ip(request._request) or 'unknown'}", settings.OPEN311_ANON_RATE_LIMIT
            message = _("Too many requests without an api_key: %(limit)d a minute. Try again in %(wait)d s.")
        if limit <= 0:  # 0 turns the limit off
            return
        wait = rate_limit_hit(client, limit=limit)
        if wait is not None:
            raise GeoReportError(429, message % {"limit": limit, "wait": wait}, retry_after=wait)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, GeoReportError):
            error = exc
        elif isinstance(exc, APIException):
            error = from_drf(exc, method=self.request.method)
        elif isinstance(exc, Http404):
            error = not_found(str(exc) or _("Not found."))
        elif isinstance(exc, ValidationError):
            error = bad_request(*exc.messages)
        else:
            logger.exception("open311 %s failed", self.endpoint)
            error = GeoReportError(500, _("General service error: the request could not be processed."))
        rows = [{"code": item.code, "description": item.description} for item in error.errors]
        response = GeoReportResponse(rows, root="errors", item="error", status=error.status)
        if error.retry_after:
            response["Retry-After"] = str(error.retry_after)
        response.exception = True
        return response


class ServicesView(GeoReportView):
    """GET services: the categories offered as Open311 services."""

    endpoint = "services"

    def get(self, request: Request, format: str | None = None) -> Response:
        rows = [service_row(service) for service in services_offered()]
        return GeoReportResponse(rows, root="services", item="service")


class ServiceDefinitionView(GeoReportView):
    """GET services/{service_code}: the attributes a request for the service answers."""

    endpoint = "service_definition"

    def get(self, request: Request, code: str, format: str | None = None) -> Response:
        service = service_offered_get(code)
        return GeoReportResponse(service_definition(service, service_attributes(service)), root="service_definition")


class RequestsView(GeoReportView):
    """GET requests (public, filtered) and POST requests (with an api_key: a new ticket, or a token)."""

    endpoint = "requests"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.endpoint = "create_request" if request.method == "POST" else "requests"
        super().initial(request, *args, **kwargs)

    def get(self, request: Request, format: str | None = None) -> Response:
        query = requests_query_parse(request.query_params, now=clock.now())
        rows = [request_row(found) for found in service_requests_search(query)]
        return GeoReportResponse(rows, root="service_requests", item="request")

    def post(self, request: Request, format: str | None = None) -> Response:
        code = _param(request, "service_code")
        if not code:
            raise bad_request(_("service_code is required."))
        service = service_offered_get(code)
        found = request_input_parse(request.data, service, service_attributes(service))
        assert self.api_key is not None  # initial() refused a POST without one
        created: ServiceRequest = service_request_submit(service=service, api_key=self.api_key, found=found)
        self.logged_id = created.ticket.number if created.ticket_id else created.token
        status = 201 if created.ticket_id else 202  # 202: accepted, the ticket follows (GET tokens/{token})
        return GeoReportResponse([created_row(created)], root="service_requests", item="request", status=status)


class RequestView(GeoReportView):
    """GET requests/{service_request_id}: one request, by its ticket's number."""

    endpoint = "request"

    def get(self, request: Request, service_request_id: str, format: str | None = None) -> Response:
        # The kwarg has the standard's name, not `number`: this public resource is no staff ticket page.
        self.logged_id = service_request_id
        found = service_request_get(service_request_id)
        return GeoReportResponse([request_row(found)], root="service_requests", item="request")


class TokenView(GeoReportView):
    """GET tokens/{token}: the number of the ticket a batch request became (empty while it waits)."""

    endpoint = "token"

    def get(self, request: Request, token: str, format: str | None = None) -> Response:
        self.logged_id = token
        return GeoReportResponse([token_row(service_request_by_token(token))], root="service_requests", item="request")


class UnknownView(GeoReportView):
    """Anything else under /open311/v2/: the standard's 404, in the format the path asks for."""

    endpoint = ""
    posts_need_key = False

    def _unknown(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise not_found(_("There is no such resource: %(path)s") % {"path": request.path})

    get = post = put = patch = delete = _unknown
