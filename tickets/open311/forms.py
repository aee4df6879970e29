"""The shape of Open311 input: W3C dates, the GET requests filters, a posted request and its attributes.

Every problem found becomes one {code, description} of a 400 answer, so a client sees all of
them at once. An empty parameter counts as one not sent (the standard's "optional arguments").
"""

import datetime
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.http import QueryDict
from django.utils.translation import gettext as _

from tickets.pii import phone_clean

from .errors import GeoReportError, bad_request
from .models import DESCRIPTION_MAX, LIST_DATATYPES, Datatype, Service, ServiceAttribute

MAX_DAYS = 90  # the standard's widest (and default) window of GET requests
MAX_RESULTS = 1000  # … and its most requests in one answer

# The W3C profile of ISO 8601 the standard names, with the time and the zone both required.
_W3C_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
_DECIMAL = re.compile(r"-?\d{1,12}(\.\d{1,15})?")
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]+)\](\[\])?")
_TICKET_NUMBER = re.compile(r"\d{1,20}")
# Control characters have no place in a citizen's text (tabs and line breaks do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
STATUSES = ("open", "closed")


def w3c_datetime_parse(value: str, name: str) -> datetime.datetime:
    """Parse `value` strictly (2010-01-01T00:00:00Z, 2026-11-28T09:30:00+08:00) or raise a 400."""
    if not _W3C_DATETIME.fullmatch(value):
        hint = ""
        if re.fullmatch(r".*T\d{2}:\d{2}(:\d{2}(\.\d+)?)? \d{2}:\d{2}", value):
            hint = " " + _("A “+” in a URL must be sent as %2B.")
        raise bad_request(
            _("%(name)s must be a W3C date and time with its zone, e.g. 2010-01-01T00:00:00Z; got “%(value)s”.")
            % {"name": name, "value": value}
            + hint
        )
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(_("%(name)s is not a real date and time: “%(value)s”.") % {"name": name, "value": value})


def _param(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _list(data: Mapping[str, Any], name: str) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in _param(data, name).split(",") if part.strip()))


@dataclass
class RequestsQuery:
    """The filters of GET requests. `ids` overrides every other filter, as the standard says."""

    ids: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    statuses: list[str] = field(default_factory=list)


def requests_query_parse(params: Mapping[str, Any], *, now: datetime.datetime) -> RequestsQuery:
    ids = _list(params, "service_request_id")
    if ids:
        wrong = [value for value in ids if not _TICKET_NUMBER.fullmatch(value)]
        if wrong:
            raise bad_request(
                *(_("service_request_id “%(value)s” is not a request number.") % {"value": value} for value in wrong)
            )
        return RequestsQuery(ids=ids[:MAX_RESULTS])
    errors: list[str] = []
    statuses = _list(params, "status")
    errors += [
        _("status must be open or closed, not “%(value)s”.") % {"value": s} for s in statuses if s not in STATUSES
    ]
    start = end = None
    for name in ("start_date", "end_date"):
        raw = _param(params, name)
        if raw:
            try:
                moment = w3c_datetime_parse(raw, name)
            except GeoReportError as exc:  # gathered with the others
                errors.append(str(exc))
                continue
            start, end = (moment, end) if name == "start_date" else (start, moment)
    window = datetime.timedelta(days=MAX_DAYS)
    if start and end:
        if start > end:
            errors.append(_("start_date must not be after end_date."))
        elif end - start > window:
            errors.append(_("start_date and end_date may not span more than %(days)d days.") % {"days": MAX_DAYS})
    if errors:
        raise bad_request(*errors)
    if start is None and end is None:
        start, end = now - window, now
    elif start is None:
        start = end - window
    elif end is None:
        end = start + window
    return RequestsQuery(service_codes=_list(params, "service_code"), start=start, end=end, statuses=statuses)


@dataclass
class RequestInput:
    """A posted request, checked: what becomes the ServiceRequest row."""

    latitude: float | None = None
    longitude: float | None = None
    address_string: str = ""
    address_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    media_url: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    device_id: str = ""
    account_id: str = ""


# Free-text fields and their longest value.
_TEXT_FIELDS = {
    "address_string": 255,
    "address_id": 64,
    "first_name": 100,
    "last_name": 100,
    "device_id": 100,
    "account_id": 100,
    "description": DESCRIPTION_MAX,
}


def request_input_parse(data: QueryDict, service: Service, attributes: list[ServiceAttribute]) -> RequestInput:
    """Check a POST requests body against the standard and the service's definition; raise a 400 listing all."""
    errors: list[str] = []
    values = {name: _CONTROL.sub("", _param(data, name)) for name in _TEXT_FIELDS}
    for name, limit in _TEXT_FIELDS.items():
        if len(values[name]) > limit:
            errors.append(_("%(name)s may be at most %(limit)d characters long.") % {"name": name, "limit": limit})
    found = RequestInput(**values)
    errors += _location(data, found)
    errors += _contact(data, found)
    found.attributes, attribute_errors = _attributes(data, service, attributes)
    errors += attribute_errors
    if errors:
        raise bad_request(*errors)
    return found


def _location(data: QueryDict, found: RequestInput) -> list[str]:
    lat, long = _param(data, "lat"), _param(data, "long")
    if bool(lat) != bool(long):
        return [_("lat and long must be sent together.")]
    if lat:
        errors = []
        for name, raw, bound in (("lat", lat, 90), ("long", long, 180)):
            if not _DECIMAL.fullmatch(raw) or abs(float(raw)) > bound:
                errors.append(
                    _("%(name)s must be a WGS84 coordinate in decimal degrees between -%(bound)d and %(bound)d.")
                    % {"name": name, "bound": bound}
                )
        if errors:
            return errors
        found.latitude, found.longitude = float(lat), float(long)
    if found.latitude is None and not found.address_string and not found.address_id:
        return [_("A location is required: lat and long, address_string or address_id.")]
    return []


def _contact(data: QueryDict, found: RequestInput) -> list[str]:
    errors = []
    email, phone, media_url = _param(data, "email"), _param(data, "phone"), _param(data, "media_url")
    if email:
        try:
            EmailValidator()(email)
            found.email = email
        except ValidationError:
            errors.append(_("email is not an e-mail address: “%(value)s”.") % {"value": email})
    if phone:
        try:
            found.phone = phone_clean(phone)
        except ValidationError:
            errors.append(_("phone is not a valid phone number: “%(value)s”.") % {"value": phone})
    if media_url:
        try:
            if len(media_url) > 1000:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(media_url)
            found.media_url = media_url
        except ValidationError:
            errors.append(_("media_url must be an http or https URL of at most 1000 characters."))
    return errors


def _attributes(
    data: QueryDict, service: Service, definition: list[ServiceAttribute]
) -> tuple[dict[str, Any], list[str]]:
    """attribute[code]=value and attribute[code][]=value… checked against the service definition."""
    given: dict[str, list[str]] = defaultdict(list)
    for key in data:
        match = _ATTRIBUTE.fullmatch(key)
        if match:
            given[match.group(1)] += [value.strip() for value in data.getlist(key) if value.strip()]
    by_code = {attribute.code: attribute for attribute in definition}
    errors = [
        _("attribute[%(code)s] is not an attribute of service %(service)s.") % {"code": code, "service": service.code}
        for code in given
        if code not in by_code
    ]
    answers: dict[str, Any] = {}
    for attribute in definition:
        values = given.get(attribute.code, [])
        if not attribute.variable:
            if values:
                errors.append(
                    _("attribute[%(code)s] is information only and takes no value.") % {"code": attribute.code}
                )
            continue
        if not values:
            if attribute.required:
                errors.append(
                    _("attribute[%(code)s] is required: %(question)s")
                    % {"code": attribute.code, "question": attribute.description}
                )
            continue
        answer, error = _attribute_value(attribute, values)
        if error:
            errors.append(f"attribute[{attribute.code}]: {error}")
        else:
            answers[attribute.code] = answer
    return answers, errors


def _attribute_value(attribute: ServiceAttribute, values: list[str]) -> tuple[Any, str]:
    if attribute.datatype != Datatype.MULTIVALUELIST and len(values) > 1:
        return None, _("takes one value, not %(count)d.") % {"count": len(values)}
    value = values[0]
    if attribute.datatype in LIST_DATATYPES:
        keys = [option.key for option in attribute.values.all()]
        wrong = [v for v in values if v not in keys]
        if wrong:
            return None, _("“%(value)s” is not one of %(keys)s.") % {"value": wrong[0], "keys": ", ".join(keys)}
        return (list(dict.fromkeys(values)) if attribute.datatype == Datatype.MULTIVALUELIST else value), ""
    if attribute.datatype == Datatype.NUMBER and not _DECIMAL.fullmatch(value):
        return None, _("“%(value)s” is not a number.") % {"value": value}
    if attribute.datatype == Datatype.DATETIME:
        try:
            return w3c_datetime_parse(value, f"attribute[{attribute.code}]").isoformat(), ""
        except GeoReportError:
            return None, _("“%(value)s” is not a W3C date and time with its zone.") % {"value": value}
    if attribute.datatype == Datatype.STRING and ("\n" in value or "\r" in value):
        return None, _("must be one line.")
    if len(value) > 1000:
        return None, _("may be at most 1000 characters long.")
    return value, ""
