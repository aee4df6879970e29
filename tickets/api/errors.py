"""Every API error as JSON a person can read: {"error": {"code", "message", "fields"?, ...}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError

logger = logging.getLogger(__name__)


class VersionRequired(exceptions.APIException):
    """An edit without the version it was based on could silently undo someone else's."""

    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_code = "version_required"
    default_detail = gettext_lazy("Send the version of the ticket you read, so that no one's changes are lost.")


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [str(item) if not isinstance(item, dict | list) else _flatten(item) for item in detail]
    return str(detail)


def _first_message(fields: dict[str, Any]) -> str:
    for name, messages in fields.items():
        first = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(first, dict):
            return _first_message(first)
        return str(first) if name in ("non_field_errors", "__all__") else f"{name}: {first}"
    return _("The request is not valid.")


def _body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(_body(exc.code, exc.message, **exc.detail), status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        return Response(_body("not_found", _("Not found.")), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        # A bug, or a database that went away: log the traceback, answer JSON like every other error.
        view = context.get("view")
        logger.error("unhandled error in %s", type(view).__name__ if view else "API", exc_info=exc)
        return Response(
            _body("server_error", _("Something went wrong on our side; the error was logged. Please try again.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
        response.data = _body("invalid", _first_message(fields), fields=fields)
    elif isinstance(exc, exceptions.APIException):
        response.data = _body(exc.get_codes() if isinstance(exc.get_codes(), str) else "error", str(exc.detail))
    return response
