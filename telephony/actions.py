"""Every write on call records. The AGI bridge and the AMI listener call these, and the operator's
console links the other tickets it opens on a call (call_ticket_link).

Each function is idempotent on Asterisk's uniqueid: a retried AGI session, an AMI event seen
twice, or a replay from the bridge's spool changes nothing the second time.
"""

import dataclasses
import datetime
import functools
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Field
from django.utils.translation import gettext as _

from dashboards.publish import SUPERVISORS, operator_group, publish
from tickets import actions as ticket_actions
from tickets import clock
from tickets.actions.lifecycle import ticket_create_draft
from tickets.errors import NotAllowed
from tickets.models import Citizen, Role, Status, Ticket, User
from tickets.pii import phone_lookup_key

from .models import Call, Outcome
from .selectors import call_pop_payload

logger = logging.getLogger(__name__)


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


def _citizen_for(number: str) -> Citizen | None:
    """The citizen who uses this (E.164) number; with several (a family phone), the one who called last."""
    # One query on the phone index, without the phones that citizens_by_phone prefetches for screens.
    # It runs on every call: the ORM's SQL for it is built once (building it took a third of its time).
    sql, columns = _citizen_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [number])
        row = cursor.fetchone()
    return None if row is None else Citizen.from_db(connection.alias, columns, row)


_NUMBER = "+00000000000"  # stands for the number while the query is built; never sent


@functools.cache
def _citizen_sql(_vendor: str) -> tuple[str, list[str]]:
    query = Citizen.objects.filter(phones__number=_NUMBER).order_by("-tickets__created_at", "-id")[:1].query
    sql, params = query.sql_with_params()
    if list(params) != [_NUMBER]:  # a Django upgrade changed the query's shape: fail loudly, not wrongly
        raise AssertionError(f"unexpected parameters of the citizen lookup: {params!r}")
    return sql, [field.attname for field in Citizen._meta.concrete_fields]


def call_open(
    *,
    uniqueid: str,
    caller: str = "",
    dialled: str = "",
    channel: str = "",
    linkedid: str = "",
    language: str = "",
    recording: str = "",
    at: datetime.datetime | None = None,
) -> OpenedCall:
    """Open the call record and its draft ticket, or return the ones this uniqueid already has.

    The caller is looked up by phone number (withheld and "unknown" numbers find nobody). `linkedid`
    and `recording` are Asterisk's linked id and the MixMonitor file name, as the dialplan passes them.
    Publishes call.open (and the ticket's own ticket.create). One transaction, whatever the outcome.
    """
    number = phone_lookup_key(caller) or ""
    call = Call(
        uniqueid=uniqueid,
        caller_number=number or caller[:32],
        dialled_number=dialled[:32],
        channel=channel[:128],
        linkedid=linkedid[:64],
        language=language[:8],
        recording=recording[:255],
        started_at=at or clock.now(),
    )
    # No savepoint: nothing here recovers from an error half-way, and the bridge runs this inside its
    # own transaction, where each savepoint would only cost two more round trips.
    with transaction.atomic(savepoint=False):
        if not _insert_new(call):
            # An earlier session of this call, or a concurrent one (its insert committed first), or the
            # AMI listener (a call that reached the queue without the bridge) has the row: lock it.
            call = Call.objects.select_for_update().get(uniqueid=uniqueid)
            _fill_blanks(call.pk, linkedid=linkedid[:64], recording=recording[:255])
            call.linkedid, call.recording = call.linkedid or linkedid[:64], call.recording or recording[:255]
            if call.ticket_id:
                return OpenedCall(call, call.ticket, call.ticket.citizen, False)
        citizen = _citizen_for(number) if number else None
        ticket = ticket_create_draft(citizen=citizen, caller_number=number)
        call.ticket = ticket
        _update_call(call.pk, ticket=ticket.pk)
        publish("call.open", _event(call, citizen_known=citizen is not None), [SUPERVISORS])
    return OpenedCall(call, ticket, citizen, True)


def _insert_new(call: Call) -> bool:
    """Insert `call` unless a row has its uniqueid; True (and `call.pk` set) if this inserted it.

    One INSERT … ON CONFLICT (uniqueid) DO NOTHING RETURNING id (PostgreSQL, SQLite 3.35+). A
    concurrent insert of the same uniqueid makes it wait until that one commits, then do nothing;
    a row this transaction inserted stays locked to it until commit. The bridge opens a call on
    every call, so this is one statement where the ORM takes two (bulk_create cannot tell which
    rows it inserted).
    """
    fields, sql = _insert_sql(connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(call, add=True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    call.pk = row[0]
    call._state.adding = False
    return True


def call_ivr_done(
    call: Call,
    *,
    path: str,
    digits: str,
    kind: str = "",
    self_service: bool = False,
    at: datetime.datetime | None = None,
) -> Call:
    """Record what the caller did in the IVR; a chosen kind goes onto the still-draft ticket. Publishes call.ivr.

    `self_service`: the caller got what they called for from the IVR (a progress answer spoken in
    full), so the call's outcome is self-service from now on, whoever closes it and however the
    caller leaves. Updates and returns `call`, whose ticket (already loaded, as from call_open) gives
    the number; ticket_choose_kind reads and locks the ticket itself.
    """
    ended = at or clock.now()
    values: dict[str, Any] = {"ivr_path": path[:255], "ivr_digits": digits[:64], "ivr_ended_at": ended}
    if self_service:
        values["outcome"] = Outcome.SELF_SERVICE
    with transaction.atomic(savepoint=False):  # as in call_open
        outcome, queue, ticket_id = _update_call(call.pk, ("outcome", "queue", "ticket"), **values)
        call.ivr_path, call.ivr_digits, call.ivr_ended_at = path[:255], digits[:64], ended
        call.outcome, call.queue, call.ticket_id = outcome, queue, ticket_id
        if kind and call.ticket_id and call.ticket.status == Status.DRAFT and call.ticket.kind != kind:
            call.ticket = ticket_actions.ticket_choose_kind(call.ticket, kind=kind)
        publish("call.ivr", _event(call, path=call.ivr_path), [SUPERVISORS])
    return call


def _update_call(pk: int, returning: tuple[str, ...] = (), **values: Any) -> tuple[Any, ...]:
    """UPDATE one call row by id with `values` (by field name), returning the fields named in `returning`.

    The bridge's two updates on every call; a QuerySet.update then a read would be two statements.
    """
    quote = connection.ops.quote_name
    meta = Call._meta
    fields = [meta.get_field(name) for name in values]
    # Only the model's own table and column names are interpolated; the values are parameters.
    sql = "UPDATE {table} SET {assignments} WHERE {pk} = %s{returning}".format(  # noqa: S608
        table=quote(meta.db_table),
        assignments=", ".join(f"{quote(field.column)} = %s" for field in fields),
        pk=quote(meta.pk.column),
        returning=f" RETURNING {', '.join(quote(meta.get_field(name).column) for name in returning)}"
        if returning
        else "",
    )
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
        row = cursor.fetchone() if returning else ()
    if row is None:
        raise Call.DoesNotExist(f"no call with id {pk}")
    return tuple(row)


@functools.cache
def _insert_sql(_vendor: str) -> tuple[list[Field], str]:
    fields = [field for field in Call._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    # Only the model's own table and column names are interpolated; the values are parameters.
    sql = "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO NOTHING RETURNING {pk}".format(  # noqa: S608
        table=quote(Call._meta.db_table),
        columns=", ".join(quote(field.column) for field in fields),
        values=", ".join(["%s"] * len(fields)),
        key=quote(Call._meta.get_field("uniqueid").column),
        pk=quote(Call._meta.pk.column),
    )
    return fields, sql


def _ensure(uniqueid: str, *, at: datetime.datetime, **fields: Any) -> Call:
    """The call record for an AMI event, created if the bridge never saw this call (direct to queue)."""
    call, _created = Call.objects.get_or_create(uniqueid=uniqueid, defaults={"started_at": at, **fields})
    return call


def _fill_blanks(pk: int, **values: str) -> None:
    """Set the fields still empty on the call (what the bridge already stored stays)."""
    for name, value in values.items():
        if value:
            Call.objects.filter(pk=pk, **{name: ""}).update(**{name: value})


def call_queue_join(
    uniqueid: str, *, queue: str, at: datetime.datetime, caller: str = "", linkedid: str = "", recording: str = ""
) -> Call:
    """The caller entered an operator queue (QueueCallerJoin). Publishes call.queue.

    `linkedid` and `recording` (the event's Linkedid and HOTLINE_RECORDING) fill those fields if the
    bridge did not, e.g. for a call that reached the queue while the bridge was down.
    """
    with transaction.atomic():
        call = _ensure(uniqueid, at=at, caller_number=phone_lookup_key(caller) or caller[:32])
        Call.objects.filter(pk=call.pk, queue_joined_at__isnull=True).update(queue=queue[:64], queue_joined_at=at)
        _fill_blanks(call.pk, linkedid=linkedid[:64], recording=recording[:255])
        call.refresh_from_db()
        publish("call.queue", _event(call), [SUPERVISORS])
    return call


def call_answer(
    uniqueid: str,
    *,
    agent: str,
    operator: User | None,
    at: datetime.datetime,
    linkedid: str = "",
    recording: str = "",
) -> Call:
    """An operator answered (AgentConnect): record who and when, once; `linkedid` and `recording` as in
    call_queue_join.

    Publishes call.answer (supervisors and the operator) and, with a known operator, call.pop to
    that operator's group alone: the screen pop (telephony.selectors.call_pop_payload).
    """
    with transaction.atomic():
        call = _ensure(uniqueid, at=at)
        updated = Call.objects.filter(pk=call.pk, answered_at__isnull=True).update(
            agent=agent[:128], operator=operator, answered_at=at, outcome=Outcome.ANSWERED
        )
        _fill_blanks(call.pk, linkedid=linkedid[:64], recording=recording[:255])
        call.refresh_from_db()
        if updated:
            if call.queue_joined_at:
                call.wait_seconds = max(0, int((at - call.queue_joined_at).total_seconds()))
                Call.objects.filter(pk=call.pk).update(wait_seconds=call.wait_seconds)
            groups = [SUPERVISORS, *([operator_group(operator.pk)] if operator else [])]
            publish("call.answer", _event(call, operator=operator.pk if operator else None), groups)
            if operator is not None:
                _publish_pop(call, operator)
    return call


def _publish_pop(call: Call, operator: User) -> None:
    # In a savepoint: a screen pop that cannot be built must not cost the answer its record (the
    # wallboard's figures); the console can still fetch the pop from /api/calls/current/pop/.
    try:
        with transaction.atomic():
            publish("call.pop", call_pop_payload(call), [operator_group(operator.pk)])
    except Exception:
        logger.exception("call %s: the screen pop for operator %s failed", call.uniqueid, operator.pk)


def call_hangup(uniqueid: str, *, cause: str = "", at: datetime.datetime | None = None) -> Call | None:
    """Close the call record once, with its cause, outcome, wait and talk time. Publishes call.hangup.

    The outcome: answered if an operator answered, abandoned in the queue if it queued, self-service
    if the IVR recorded its answer (call_ivr_done), else abandoned in the IVR.
    """
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
        elif call.outcome != Outcome.SELF_SERVICE:  # self-service: set when the IVR gave its answer
            call.outcome = Outcome.ABANDONED_IVR
        call.save(update_fields=["ended_at", "hangup_cause", "outcome", "talk_seconds", "wait_seconds"])
        # The console of the operator who answered marks the call ended; no other console shows it.
        groups = [SUPERVISORS, *([operator_group(call.operator_id)] if call.operator_id else [])]
        publish("call.hangup", _event(call, cause=call.hangup_cause), groups)
    return call


def call_ticket_link(call: Call, ticket: Ticket, *, actor: User) -> Call:
    """Record `ticket` as opened on `call` too (a caller with a second matter); linking twice changes nothing.

    The operator who answered the call, a supervisor or an administrator may; the bridge's own draft
    is the call's ticket already and is not linked again, and a call the bridge never saw (no draft)
    takes the first ticket linked as its ticket.
    """
    if not (actor.is_superuser or actor.role in (Role.SUPERVISOR, Role.ADMIN) or call.operator_id == actor.pk):
        raise NotAllowed(_("Only the operator who answered the call, or a supervisor, links tickets to it."))
    if ticket.status == Status.CANCELLED:
        raise ValidationError({"ticket": _("Ticket %(number)s is cancelled.") % {"number": ticket.number}})
    if call.ticket_id is None:  # the bridge never saw the call (it was down): this is its ticket
        Call.objects.filter(pk=call.pk, ticket__isnull=True).update(ticket=ticket)
        call.refresh_from_db(fields=["ticket"])
    if ticket.pk != call.ticket_id:
        call.other_tickets.add(ticket)
    return call
