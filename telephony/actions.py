"""Every write on call records. The AGI bridge and the AMI listener call these, nothing else.

Each function is idempotent on Asterisk's uniqueid: a retried AGI session, an AMI event seen
twice, or a replay from the bridge's spool changes nothing the second time.
"""

import dataclasses
import datetime
from typing import Any

from django.db import IntegrityError, transaction

from dashboards.publish import OPERATORS, SUPERVISORS, operator_group, publish
from tickets import actions as ticket_actions
from tickets import clock
from tickets.models import Channel, Citizen, Status, Ticket, User
from tickets.pii import phone_lookup_key
from tickets.selectors import citizens_by_phone

from .models import Call, Outcome


@dataclasses.dataclass(frozen=True)
class OpenedCall:
    call: Call
    ticket: Ticket
    citizen: Citizen | None
    created: bool


def _event(call: Call, **extra: Any) -> dict[str, Any]:
    """Call events carry ids and states only: never the caller's number."""
    return {
        "call": call.pk,
        "uniqueid": call.uniqueid,
        "ticket": call.ticket.number if call.ticket_id else None,
        "outcome": call.outcome,
        "queue": call.queue,
        **extra,
    }


def _citizen_for(caller: str) -> Citizen | None:
    """The citizen who uses this number; with several (a family phone), the one who called last."""
    return citizens_by_phone(caller).order_by("-tickets__created_at", "-id").first()


def call_open(
    *,
    uniqueid: str,
    caller: str = "",
    dialled: str = "",
    channel: str = "",
    linkedid: str = "",
    language: str = "",
    at: datetime.datetime | None = None,
) -> OpenedCall:
    """Open the call record and its draft ticket, or return the ones this uniqueid already has.

    The caller is looked up by phone number (withheld and "unknown" numbers find nobody).
    Publishes call.open (and the ticket's own ticket.create).
    """
    existing = Call.objects.select_related("ticket", "ticket__citizen").filter(uniqueid=uniqueid).first()
    if existing is not None and existing.ticket_id:
        return OpenedCall(existing, existing.ticket, existing.ticket.citizen, False)
    number = phone_lookup_key(caller) or ""
    with transaction.atomic():
        call = _lock_or_create(
            uniqueid,
            caller_number=number or caller[:32],
            dialled_number=dialled[:32],
            channel=channel[:128],
            linkedid=linkedid[:64],
            language=language[:8],
            started_at=at or clock.now(),
        )
        if call.ticket_id:  # another session for this call got the lock first
            return OpenedCall(call, call.ticket, call.ticket.citizen, False)
        citizen = _citizen_for(caller) if number else None
        ticket = ticket_actions.ticket_create(
            actor=None, register=False, channel=Channel.PHONE, citizen=citizen, caller_number=number
        )
        call.ticket = ticket
        call.save(update_fields=["ticket"])
        publish("call.open", _event(call, citizen_known=citizen is not None), [SUPERVISORS, OPERATORS])
    return OpenedCall(call, ticket, citizen, True)


def _lock_or_create(uniqueid: str, **fields: Any) -> Call:
    """The call row, locked for this transaction; sessions for the same uniqueid queue up here."""
    call = Call.objects.select_for_update().filter(uniqueid=uniqueid).first()
    if call is not None:
        return call
    try:
        with transaction.atomic():
            return Call.objects.create(uniqueid=uniqueid, **fields)
    except IntegrityError:  # created meanwhile by a concurrent session, which now holds it
        return Call.objects.select_for_update().get(uniqueid=uniqueid)


def call_ivr_done(call: Call, *, path: str, digits: str, kind: str = "", at: datetime.datetime | None = None) -> Call:
    """Record what the caller did in the IVR; a chosen kind goes onto the still-draft ticket."""
    with transaction.atomic():
        Call.objects.filter(pk=call.pk).update(
            ivr_path=path[:255], ivr_digits=digits[:64], ivr_ended_at=at or clock.now()
        )
        call.refresh_from_db()
        if kind and call.ticket_id and call.ticket.status == Status.DRAFT and call.ticket.kind != kind:
            call.ticket = ticket_actions.ticket_update(call.ticket, actor=None, version=None, kind=kind)
        publish("call.ivr", _event(call, path=call.ivr_path), [SUPERVISORS, OPERATORS])
    return call


def _ensure(uniqueid: str, *, at: datetime.datetime, **fields: Any) -> Call:
    """The call record for an AMI event, created if the bridge never saw this call (direct to queue)."""
    call, _created = Call.objects.get_or_create(uniqueid=uniqueid, defaults={"started_at": at, **fields})
    return call


def call_queue_join(uniqueid: str, *, queue: str, at: datetime.datetime, caller: str = "") -> Call:
    """The caller entered an operator queue (QueueCallerJoin). Publishes call.queue."""
    with transaction.atomic():
        call = _ensure(uniqueid, at=at, caller_number=phone_lookup_key(caller) or caller[:32])
        Call.objects.filter(pk=call.pk, queue_joined_at__isnull=True).update(queue=queue[:64], queue_joined_at=at)
        call.refresh_from_db()
        publish("call.queue", _event(call), [SUPERVISORS, OPERATORS])
    return call


def call_answer(uniqueid: str, *, agent: str, operator: User | None, at: datetime.datetime) -> Call:
    """An operator answered (AgentConnect). Publishes call.answer to the operator's own socket: the screen pop."""
    with transaction.atomic():
        call = _ensure(uniqueid, at=at)
        updated = Call.objects.filter(pk=call.pk, answered_at__isnull=True).update(
            agent=agent[:128], operator=operator, answered_at=at, outcome=Outcome.ANSWERED
        )
        call.refresh_from_db()
        if updated:
            if call.queue_joined_at:
                Call.objects.filter(pk=call.pk).update(
                    wait_seconds=max(0, int((at - call.queue_joined_at).total_seconds()))
                )
            groups = [SUPERVISORS, *([operator_group(operator.pk)] if operator else [])]
            publish("call.answer", _event(call, operator=operator.pk if operator else None), groups)
    return call


def call_hangup(uniqueid: str, *, cause: str = "", at: datetime.datetime | None = None) -> Call | None:
    """Close the call record once, with its cause, outcome, wait and talk time. Publishes call.hangup."""
    at = at or clock.now()
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(uniqueid=uniqueid).first()
        if call is None or call.ended_at is not None:
            return call
        call.ended_at = at
        call.hangup_cause = str(cause)[:64]
        if call.answered_at:
            call.outcome = Outcome.ANSWERED
            call.talk_seconds = max(0, int((at - call.answered_at).total_seconds()))
        elif call.queue_joined_at:
            call.outcome = Outcome.ABANDONED_QUEUE
            call.wait_seconds = max(0, int((at - call.queue_joined_at).total_seconds()))
        elif call.ivr_path.endswith("progress"):
            call.outcome = Outcome.SELF_SERVICE
        else:
            call.outcome = Outcome.ABANDONED_IVR
        call.save(update_fields=["ended_at", "hangup_cause", "outcome", "talk_seconds", "wait_seconds"])
        publish("call.hangup", _event(call, cause=call.hangup_cause), [SUPERVISORS, OPERATORS])
    return call
