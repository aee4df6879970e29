"""The one-time rating link: a token signed with SECRET_KEY naming the ticket and the reply it rates.

Nothing is stored for it. It is usable once because it names one reply (`replied_at`): the first
rating closes or reopens the ticket, after which the ticket is no longer waiting for a rating of
that reply, and a later reply (after a reopen) needs a new link. It expires INTAKE_RATING_DAYS
after the reply; after that the hotline's phone callback (回访) remains.

SMS hook: the platform sends no SMS. A deployment with a gateway would send `rating_path(ticket)`,
prefixed with the site's address, to `ticket.caller_number` when the callback is scheduled
(routing/clocks.py publishes callback.due); see docs/intake.md.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from tickets.models import Status, Ticket

SALT = "tickets.intake.rating"


@dataclass(frozen=True)
class RatingToken:
    number: str
    replied_at: datetime.datetime

    @property
    def expires_at(self) -> datetime.datetime:
        return rating_expires_at(self.replied_at)


def rating_expires_at(replied_at: datetime.datetime) -> datetime.datetime:
    return replied_at + datetime.timedelta(days=settings.INTAKE_RATING_DAYS)


def rating_token(ticket: Ticket) -> str:
    """The token for the ticket's current reply; the ticket must be replied."""
    if ticket.status != Status.REPLIED or ticket.replied_at is None:
        raise ValueError(f"ticket {ticket.number} is not waiting for a rating")
    return signing.dumps({"n": ticket.number, "r": ticket.replied_at.isoformat()}, salt=SALT)


def rating_token_read(token: str) -> RatingToken | None:
    """What a token names, or None when it was not made here (or was altered)."""
    try:
        data = signing.loads(token, salt=SALT)
        replied_at = datetime.datetime.fromisoformat(data["r"])
        number = str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if replied_at.tzinfo is None:
        return None
    return RatingToken(number=number, replied_at=replied_at)


def rating_path(ticket: Ticket) -> str:
    """The rating page's path for the ticket's current reply (the SMS hook sends this)."""
    return reverse("intake-rate", args=[rating_token(ticket)])
