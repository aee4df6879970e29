"""Callbacks (回访): recording what the citizen said about the department's reply; it closes or reopens the ticket."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from tickets import clock
from tickets.actions import ticket_close, ticket_reopen
from tickets.errors import InvalidTransition, NotAllowed
from tickets.models import Action, Satisfaction, Status, Ticket, User

from .clocks import callback_due_at
from .models import Callback

__all__ = ["callback_may_record", "callback_record"]


def callback_may_record(actor: User | None) -> bool:
    """Hotline staff (operators, supervisors, administrators) and the system itself record callbacks."""
    return actor is None or actor.is_hotline_staff


def callback_record(ticket: Ticket, *, actor: User | None, result: str, note: str = "") -> Callback:
    """Record the callback of a replied ticket: satisfied or basically satisfied closes it; unsatisfied reopens it.

    Reopening (重办) goes back to the same department with the reopen time limit, through
    tickets.actions.ticket_reopen, and needs a note saying what the citizen is unsatisfied with.
    Only hotline staff record callbacks; `actor=None` is the system (a later automated call).
    The ticket must be replied. Creates the callback row if the sweep has not scheduled it yet.
    Publishes ticket.close or ticket.reopen (from the lifecycle action). An unknown result or a
    refused transition changes nothing.
    """
    if not callback_may_record(actor):
        raise NotAllowed(_("Only hotline staff record callbacks."))
    if result not in Satisfaction.values:
        choices = ", ".join(f"“{choice.label}”" for choice in Satisfaction)
        raise ValidationError({"result": _("Record one of %(choices)s.") % {"choices": choices}})
    note = (note or "").strip()
    action = Action.REOPEN if result == Satisfaction.UNSATISFIED else Action.CLOSE
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != Status.REPLIED or locked.replied_at is None:
            raise InvalidTransition(number=locked.number, status=locked.status, action=action)
        callback, _created = Callback.objects.select_for_update().get_or_create(
            ticket=locked,
            replied_at=locked.replied_at,
            defaults={
                "department_id": locked.lead_department_id,
                "deadline": locked.deadline,
                "due_at": callback_due_at(locked.replied_at),
            },
        )
        if action == Action.REOPEN:
            ticket_reopen(locked, actor=actor, note=note)
        else:
            ticket_close(locked, actor=actor, satisfaction=result, note=note)
        callback.done_at = clock.now()
        callback.result = result
        callback.note = note
        callback.operator = actor
        callback.save(update_fields=["done_at", "result", "note", "operator"])
    return callback
