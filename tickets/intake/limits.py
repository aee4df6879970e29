"""The web intake's rate limits (tickets.ratelimits counts them): submissions per address and phone,
wrong progress-query codes per address and ticket.
"""

import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from tickets import ratelimits
from tickets.ratelimits import Limit

__all__ = ["Limit", "client_ip", "local_time"]


def submits_per_ip() -> Limit:
    return Limit("submit-ip", settings.INTAKE_SUBMITS_PER_IP_HOUR, 3600)


def submits_per_phone() -> Limit:
    return Limit("submit-phone", settings.INTAKE_SUBMITS_PER_PHONE_DAY, 86400)


def query_failures_per_ip() -> Limit:
    return Limit("query-ip", settings.INTAKE_QUERY_FAILURES_PER_IP_HOUR, 3600)


def query_failures_per_ticket() -> Limit:
    return Limit("query-ticket", settings.INTAKE_QUERY_FAILURES_PER_TICKET_DAY, 86400)


def client_ip(request: HttpRequest) -> str:
    """The address the limits count by ("unknown" when the request carries none that parses)."""
    return ratelimits.client_ip(request) or "unknown"


def local_time(moment: datetime.datetime) -> str:
    """A retry time as people read it on the page: HH:MM today, or the date and time."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")
