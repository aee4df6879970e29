"""Reads of the public pages: finding a ticket by number and secret, and the few facts a citizen may see.

The progress page is given a `PublicProgress`, never the ticket: what is not copied into it
(timeline notes, staff, the citizen's own data, other tickets) cannot reach the page.
"""

import datetime
import hmac
import unicodedata
from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ..models import WITH_DEPARTMENT, Status, Ticket, User, WebIntake
from ..selectors import reporter_hidden_from
from .codes import query_code_matches
from .tokens import rating_expires_at, rating_token

# The citizen's view of the lifecycle: internal moves (returns, extensions asked) are not their concern.
PUBLIC_STATUS = {
    Status.REGISTERED: _("Received: waiting to be assigned to a department"),
    Status.RETURNED: _("Received: waiting to be assigned to a department"),
    Status.DISPATCHED: _("Assigned to a department"),
    Status.ACCEPTED: _("Being handled by the department"),
    Status.EXTENSION_REQUESTED: _("Being handled by the department"),
    Status.REOPENED: _("Being handled again by the department"),
    Status.REPLIED: _("The department has replied"),
    Status.CLOSED: _("Closed"),
    Status.CLOSED_FIRST_CONTACT: _("Answered and closed by the hotline"),
    Status.MERGED: _("Merged with another request about the same matter"),
    Status.CANCELLED: _("Cancelled"),
}
# Ticket numbers are digits only (YYYYMMDD + five digits); anything else is not looked up at all.
NUMBER_MAX = 20


@dataclass(frozen=True)
class PublicProgress:
    number: str
    kind: str
    category: str
    received_at: datetime.datetime
    status: str
    status_label: str
    department: str
    deadline: datetime.datetime | None
    reply: str
    replied_at: datetime.datetime | None
    closed_at: datetime.datetime | None
    rating_token: str
    rating_until: datetime.datetime | None


def ticket_number_normalise(raw: str) -> str:
    """Without spaces, full-width digits (typed with a Chinese input method) made ASCII."""
    return "".join(unicodedata.normalize("NFKC", raw or "").split())[:NUMBER_MAX]


def _last_four(ticket: Ticket) -> str:
    digits = "".join(ch for ch in ticket.caller_number if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else ""


def progress_find(number: str, secret: str, *, allow_last_four: bool = True) -> tuple[Ticket | None, str]:
    """The ticket whose number and secret match, and how it was proven ("code" or "phone"); (None, "") otherwise.

    The secret is the query code the web form gave, or the last four digits of the phone the
    ticket was registered with (any channel). An unknown number, a draft and a wrong secret give
    the same answer. `allow_last_four=False` when the ticket has had too many wrong attempts.
    """
    number = ticket_number_normalise(number)
    secret = "".join(unicodedata.normalize("NFKC", secret or "").split())
    ticket = (
        Ticket.objects.select_related("lead_department", "category__parent")
        .exclude(status=Status.DRAFT)
        .filter(number=number)
        .first()
        if number.isascii() and number.isdigit()
        else None
    )
    if len(secret) == 4 and secret.isascii() and secret.isdigit():
        expected = _last_four(ticket) if ticket is not None and allow_last_four else ""
        # Compare in constant time even when there is nothing to compare with.
        matched = hmac.compare_digest(secret, expected or "----") and bool(expected)
        return (ticket, "phone") if matched else (None, "")
    intake = WebIntake.objects.filter(ticket=ticket).first() if ticket is not None else None
    if query_code_matches(intake, secret):
        return ticket, "code"
    return None, ""


def progress_public(ticket: Ticket, *, proof: str, now: datetime.datetime) -> PublicProgress:
    """What the citizen sees of their ticket. The rating link only for the query code's holder (docs/intake.md)."""
    with_department = ticket.status in WITH_DEPARTMENT or ticket.status in (Status.REPLIED, Status.CLOSED)
    reply = ""
    if ticket.status in (Status.REPLIED, Status.CLOSED):
        reply = ticket.reply
    elif ticket.status == Status.CLOSED_FIRST_CONTACT:
        reply = ticket.answer
    token, until = "", None
    if proof == "code" and ticket.status == Status.REPLIED and ticket.replied_at is not None:
        until = rating_expires_at(ticket.replied_at)
        if now <= until:
            token = rating_token(ticket)
        else:
            until = None
    return PublicProgress(
        number=ticket.number,
        kind=ticket.get_kind_display(),
        category=str(ticket.category) if ticket.category_id else "",
        received_at=ticket.created_at,
        status=ticket.status,
        status_label=str(PUBLIC_STATUS.get(ticket.status, "")),
        department=str(ticket.lead_department) if with_department and ticket.lead_department_id else "",
        deadline=ticket.deadline if ticket.status in WITH_DEPARTMENT else None,
        reply=reply,
        replied_at=ticket.replied_at if reply and ticket.status != Status.CLOSED_FIRST_CONTACT else None,
        closed_at=ticket.closed_at if ticket.status in (Status.CLOSED, Status.CLOSED_FIRST_CONTACT) else None,
        rating_token=token,
        rating_until=until,
    )


@dataclass(frozen=True)
class StaffWebIntake:
    contact_name: str
    photo_url: str


def web_intake_for_staff(user: User, ticket: Ticket) -> StaffWebIntake | None:
    """What the web form added to a ticket the user may already see, for its staff page (None: not a web ticket).

    The name the citizen gave is hidden from a department for a report (举报), as the reporter is.
    """
    intake = WebIntake.objects.filter(ticket=ticket).first()
    if intake is None:
        return None
    name = "" if reporter_hidden_from(user, ticket) else intake.contact_name
    photo_url = reverse("intake-photo", args=[ticket.number]) if intake.photo else ""
    return StaffWebIntake(contact_name=name, photo_url=photo_url)
