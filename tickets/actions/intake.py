"""Writes of the web intake: a citizen's request from the public form, and their rating of the reply.

Kept out of tickets/actions/__init__.py on purpose: it imports routing.callbacks, which imports
tickets.actions; import it as `from tickets.actions.intake import …`.
"""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from routing.callbacks import callback_record
from routing.models import Callback

from ..errors import DomainError
from ..intake.codes import query_code_hash, query_code_new
from ..intake.photos import PreparedPhoto, photo_delete, photo_store
from ..models import Category, Channel, District, Satisfaction, Status, Ticket, WebIntake
from .lifecycle import ticket_create

TITLE_LENGTH = 40


class RatingUnavailable(DomainError):
    """The rating link's reply is not waiting for a rating any more (rated, called back, replied again)."""

    code = "rating_unavailable"
    http_status = 409


def _title(description: str) -> str:
    first_line = description.strip().splitlines()[0] if description.strip() else ""
    return first_line if len(first_line) <= TITLE_LENGTH else first_line[: TITLE_LENGTH - 1] + "…"


def ticket_submit_web(
    *,
    kind: str,
    category: Category,
    description: str,
    address: str = "",
    district: District | None = None,
    contact_name: str = "",
    phone: str = "",
    photo: PreparedPhoto | None = None,
) -> tuple[Ticket, str]:
    """Register a citizen's request from the public form (channel web); return it with its query code.

    Preconditions (the form's): the input is validated, `phone` already normalised to E.164 or
    empty, the photo checked and re-encoded. The ticket is opened and registered by the system
    (actor None) through ticket_create, so routing dispatches it as it would an operator's:
    ticket.create, ticket.register and, when an auto-dispatch rule matches, ticket.dispatch are
    published. The phone goes to `caller_number` only: it is unverified, so no citizen record is
    looked up, linked or created by it. The query code is returned once and stored as a hash. The
    photo is written before the transaction and removed again if the ticket is not created.
    """
    code = query_code_new()
    stored = photo_store(photo) if photo is not None else ""
    try:
        with transaction.atomic():
            ticket = ticket_create(
                actor=None,
                kind=kind,
                channel=Channel.WEB,
                category=category,
                title=_title(description),
                description=description.strip(),
                address=address.strip(),
                district=district,
                caller_number=phone,
            )
            WebIntake.objects.create(
                ticket=ticket,
                contact_name=contact_name.strip(),
                query_code_hash=query_code_hash(code),
                photo=stored,
                photo_type=photo.content_type if photo is not None else "",
            )
    except BaseException:
        photo_delete(stored)
        raise
    return ticket, code


def ticket_rate_web(ticket: Ticket, *, replied_at: datetime.datetime, result: str, comment: str = "") -> Callback:
    """Record the citizen's own rating of the reply given at `replied_at`, as the callback (回访) would.

    The ticket must still be replied with that very reply (RatingUnavailable otherwise: rated
    already, called back by an operator, or reopened and replied again since). Goes through
    routing.callbacks.callback_record as the system (actor None), so the callback row, the
    timeline entry, the ticket.close / ticket.reopen event and the reports are those of an
    operator's callback. The note, in the hotline's language, says the citizen rated on the web;
    an unsatisfied rating needs the citizen's comment (it tells the department what is wrong).
    """
    comment = (comment or "").strip()
    if result == Satisfaction.UNSATISFIED and not comment:
        raise ValidationError({"comment": _("Tell us what is still not resolved.")})
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != Status.REPLIED or locked.replied_at != replied_at:
            raise RatingUnavailable(_("This ticket is not waiting for your rating any more."))
        with translation.override(settings.LANGUAGE_CODE):
            note = (
                _("Rated by the citizen on the web: %(comment)s") % {"comment": comment}
                if comment
                else _("Rated by the citizen on the web.")
            )
        return callback_record(locked, actor=None, result=result, note=note)
