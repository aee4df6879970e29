"""The shape of Open311 answers: services, a service definition, requests, a created request, a token.

Field order follows the standard's examples. Times are W3C (ISO 8601) in Asia/Shanghai with the
offset; free text is masked (masking.py); no answer carries contact details or citizen data.
"""

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from tickets.models import TERMINAL, Kind, Status, Ticket

from .masking import contact_names, public_text
from .models import LIST_DATATYPES, Service, ServiceAttribute, ServiceRequest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def w3c(moment: datetime.datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds") if moment else None


def service_row(service: Service) -> dict[str, Any]:
    has_attributes = getattr(service, "has_attributes", None)
    if has_attributes is None:
        has_attributes = service.attributes.exists()
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description or None,
        "metadata": bool(has_attributes),
        "type": service.type,
        "keywords": service.keywords or None,
        "group": service.group,
    }


def service_definition(service: Service, attributes: list[ServiceAttribute]) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "attributes": [
            {
                "variable": attribute.variable,
                "code": attribute.code,
                "datatype": attribute.datatype,
                "required": attribute.required,
                "datatype_description": attribute.datatype_description or None,
                "order": attribute.order,
                "description": attribute.description,
                "values": [{"key": value.key, "name": value.name} for value in attribute.values.all()]
                if attribute.datatype in LIST_DATATYPES
                else [],
            }
            for attribute in attributes
        ],
    }


def request_row(request: ServiceRequest) -> dict[str, Any]:
    """One request as GET requests shows it to anyone: status and public text, never the person."""
    ticket = request.ticket
    assert ticket is not None  # only requests that became tickets are published
    names = contact_names(request.first_name, request.last_name, ticket.citizen.name if ticket.citizen_id else "")
    closed = ticket.status in TERMINAL
    # A report (举报) is confidential: what it reports is not published, nor the answer to it.
    confidential = ticket.kind == Kind.REPORT
    return {
        "service_request_id": ticket.number,
        "status": "closed" if closed else "open",
        "status_notes": _status_notes(ticket, names, confidential=confidential),
        "service_name": request.service.name,
        "service_code": request.service.code,
        "description": None if confidential else public_text(request.description, names=names) or None,
        "agency_responsible": str(ticket.lead_department) if ticket.lead_department_id else None,
        "service_notice": request.service.notice or None,
        "requested_datetime": w3c(request.submitted_at),
        "updated_datetime": w3c(ticket.closed_at if closed and ticket.closed_at else ticket.updated_at),
        "expected_datetime": w3c(ticket.deadline),
        "address": public_text(request.address_string, names=names) or None,
        "address_id": request.address_id or None,
        "zipcode": None,
        "lat": request.latitude,
        "long": request.longitude,
        "media_url": request.media_url or None,
    }


def _status_notes(ticket: Ticket, names: list[str], *, confidential: bool) -> str | None:
    if ticket.status == Status.MERGED and ticket.merged_into_id:
        return _("Merged into request %(number)s, which deals with the same matter.") % {
            "number": ticket.merged_into.number
        }
    answer = {Status.CLOSED_FIRST_CONTACT: ticket.answer, Status.REPLIED: ticket.reply, Status.CLOSED: ticket.reply}
    text = answer.get(ticket.status, "")
    if text and not confidential:
        return public_text(text, names=names)
    return str(Status(ticket.status).label)


def created_row(request: ServiceRequest) -> dict[str, Any]:
    """POST requests' answer: the number of the ticket (realtime) or a token (batch), never both."""
    key = ("service_request_id", request.ticket.number) if request.ticket_id else ("token", request.token)
    return {
        key[0]: key[1],
        "service_notice": request.service.notice or None,
        "account_id": request.account_id or None,
    }


def token_row(request: ServiceRequest) -> dict[str, Any]:
    """GET tokens/{token}: the ticket's number once the request became one, else an empty one."""
    return {"service_request_id": request.ticket.number if request.ticket_id else None, "token": request.token}
