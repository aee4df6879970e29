"""Open311's errors: a list of {code, description} with the HTTP status the standard gives each case."""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from rest_framework import exceptions


@dataclass(frozen=True)
class ErrorItem:
    code: int
    description: str


class GeoReportError(Exception):
    """An answer of the standard's error shape: 400 bad input, 403 key, 404 unknown resource, 429 too many."""

    def __init__(self, status: int, *descriptions: str, retry_after: int | None = None) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.errors = [ErrorItem(status, str(description)) for description in descriptions]
        self.retry_after = retry_after


def bad_request(*descriptions: str) -> GeoReportError:
    return GeoReportError(400, *descriptions)


def not_found(description: str) -> GeoReportError:
    return GeoReportError(404, description)


def from_drf(exc: exceptions.APIException, *, method: str) -> GeoReportError:
    """DRF's own exceptions (a malformed body, a wrong method) in the standard's shape."""
    if isinstance(exc, exceptions.MethodNotAllowed):
        return GeoReportError(405, _("Method “%(method)s” is not allowed here.") % {"method": method})
    if isinstance(exc, exceptions.NotAcceptable):
        return GeoReportError(406, _("Only the xml and json formats are served."))
    if isinstance(exc, exceptions.NotFound):
        return not_found(str(exc.detail))
    # "basically 400 for any other error where the request can not be fulfilled as expected"
    return bad_request(str(exc.detail) if isinstance(exc.detail, str) else _("The request could not be read."))
