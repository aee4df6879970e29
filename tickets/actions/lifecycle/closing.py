"""The end of a ticket: close after the callback, reopen, merge a duplicate, cancel."""

import functools
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from routing.deadlines import reopen_deadline_for

from ... import clock
from ...models import (
    Action,
    Satisfaction,
    Status,
    Ticket,
    TimelineEntry,
    User,
)
from .core import required, transition
from .handling import _accept_by

logger = logging.getLogger(__name__)

# What a duplicate may be merged into: a ticket still being handled.
MERGE_TARGETS = (
    Status.REGISTERED,
    Status.DISPATCHED,
    Status.ACCEPTED,
    Status.EXTENSION_REQUESTED,
    Status.RETURNED,
    Status.REPLIED,
    Status.REOPENED,
)


def ticket_close(ticket: Ticket, *, actor: User | None, satisfaction: str, note: str = "") -> Ticket:
    """replied → closed after the callback (回访办结), recording a satisfied result."""
    if satisfaction not in (Satisfaction.SATISFIED, Satisfaction.BASICALLY):
        raise ValidationError(
            {
                "satisfaction": _(
                    "Close with “satisfied” or “basically satisfied”; an unsatisfied citizen reopens the ticket."
                )
            }
        )

    def apply(t: Ticket) -> list[str]:
        t.satisfaction = satisfaction
        t.closed_at = clock.now()
        return ["satisfaction", "closed_at"]

    return transition(ticket, Action.CLOSE, actor=actor, note=note, data={"satisfaction": satisfaction}, apply=apply)


def ticket_reopen(ticket: Ticket, *, actor: User | None, note: str) -> Ticket:
    """replied → reopened (重办) to the same department after an unsatisfied callback."""
    note = required(note, "note", _("Record what the citizen is unsatisfied with."))

    def apply(t: Ticket) -> list[str]:
        t.satisfaction = Satisfaction.UNSATISFIED
        t.deadline = reopen_deadline_for(kind=t.kind, urgency=t.urgency, start=clock.now())
        t.reply = ""
        t.replied_at = None
        data["accept_by"] = _accept_by(t, clock.now())  # the department accepts the reopened ticket again
        data["deadline"] = t.deadline.isoformat()
        return ["satisfaction", "deadline", "reply", "replied_at"]

    data = {"satisfaction": Satisfaction.UNSATISFIED}
    return transition(ticket, Action.REOPEN, actor=actor, note=note, data=data, apply=apply)


def ticket_merge(ticket: Ticket, *, actor: User | None, into: Ticket, note: str = "") -> Ticket:
    """Merge a duplicate (重复件合并) into the main ticket, which carries on for both.

    The main ticket must be open (registered to reopened): not the duplicate itself, not a draft,
    not finished, merged or cancelled (ValidationError on `into`; nothing changes). The duplicate's
    caller is told through the main ticket: the duplicate points at it (`merged_into`, which the
    progress query follows to show the main ticket's progress), the main ticket's timeline records
    the duplicate (a `merge` entry with its status unchanged, `data.merged`), and after the commit
    the SMS hook point (merge_notice_send) gets the duplicate. Publishes ticket.merge, naming the
    main ticket (`into`), to the supervisors, the operators and the duplicate's departments.
    """
    if into.pk == ticket.pk:
        raise ValidationError({"into": _("A ticket cannot be merged into itself.")})

    def apply(t: Ticket) -> list[str]:
        # The main ticket's current status, not the caller's copy: it may have been merged meanwhile.
        main = Ticket.objects.get(pk=into.pk)
        if main.status not in MERGE_TARGETS:
            raise ValidationError(
                {
                    "into": _("Ticket %(number)s is “%(status)s”: merge into a ticket that is still open.")
                    % {"number": main.number, "status": Status(main.status).label}
                }
            )
        t.merged_into = main
        t.closed_at = clock.now()
        return ["merged_into", "closed_at"]

    with transaction.atomic():
        # Lock both tickets in id order: merging A into B while B merges into A must not leave both merged.
        list(Ticket.objects.select_for_update().filter(pk__in=[ticket.pk, into.pk]).order_by("pk"))
        merged = transition(
            ticket,
            Action.MERGE,
            actor=actor,
            note=note,
            data={"into": into.number},
            apply=apply,
            event={"into": into.number},
        )
        main = merged.merged_into
        # Not a move of the main ticket (its status stays): its history says a second report joined it.
        TimelineEntry.objects.create(
            ticket=main,
            action=Action.MERGE,
            from_status=main.status,
            to_status=main.status,
            actor=actor,
            note=note,
            data={"merged": merged.number},
            at=merged.updated_at,
        )
        transaction.on_commit(functools.partial(merge_notice_send, merged.pk))
    return merged


def merge_notice_send(ticket_id: int) -> None:
    """The SMS hook point: tell a merged ticket's caller which ticket now carries their matter.

    Runs after the merge commits. Nothing is sent unless HOTLINE_MERGE_NOTIFIER names a callable
    (a dotted path), called as notifier(ticket=<the merged ticket>, into=<the main ticket>,
    phone=<E.164 number or "">); a deployment with an SMS gateway points it at a function that
    queues the message (a Celery task, so that a slow gateway never holds up a request). A failing
    notifier is logged; the merge stands. Without one the caller learns it from the progress query
    (their ticket number shows the main ticket's progress) and from the main ticket's callback.
    """
    path = settings.HOTLINE_MERGE_NOTIFIER
    if not path:
        return
    ticket = Ticket.objects.select_related("merged_into", "citizen").get(pk=ticket_id)
    if ticket.status != Status.MERGED or ticket.merged_into is None:
        return
    phone = ticket.caller_number
    if not phone and ticket.citizen_id:
        phone = ticket.citizen.phones.values_list("number", flat=True).first() or ""
    try:
        import_string(path)(ticket=ticket, into=ticket.merged_into, phone=phone)
    except Exception:
        logger.exception("merge notice for ticket %s failed", ticket.number)


def ticket_cancel(ticket: Ticket, *, actor: User | None, reason: str) -> Ticket:
    """draft | registered | returned → cancelled (a hang-up with nothing to record, a test call)."""
    reason = required(reason, "reason", _("Say why the ticket is cancelled."))

    def apply(t: Ticket) -> list[str]:
        t.closed_at = clock.now()
        return ["closed_at"]

    return transition(ticket, Action.CANCEL, actor=actor, note=reason, apply=apply)
