"""Opening a ticket: create, register, close at first contact, and the edits of its content."""

import copy
import datetime
import functools
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from dashboards.publish import SUPERVISORS, department_group, operator_group, publish

from ... import clock
from ...errors import InvalidTransition, NotAllowed, StaleVersion
from ...models import (
    WITH_DEPARTMENT,
    Action,
    Article,
    Channel,
    Citizen,
    Kind,
    Status,
    Ticket,
    TimelineEntry,
    User,
)
from ...pii import phone_lookup_key
from ..knowledge import article_used
from .core import EDITABLE_FIELDS, HOTLINE_ROLES, authorize, event_groups, event_payload, redact, required, transition
from .numbers import _next_number, _preassigned


def ticket_create(
    *,
    actor: User | None,
    register: bool = True,
    citizen: Citizen | None = None,
    caller_number: str = "",
    number: str | None = None,
    **fields: Any,
) -> Ticket:
    """Open a ticket with a new number: a draft (a call in progress) or, by default, registered.

    `number` is one reserved earlier with ticket_numbers_reserve (a number already given to the
    caller); by default the next of today's sequence. Publishes ticket.create (and ticket.register).
    A registered ticket needs a description.
    """
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"external_ref"}
    if unknown:
        raise TypeError(f"unknown ticket fields: {sorted(unknown)}")
    if actor is not None and not actor.is_superuser and actor.role not in HOTLINE_ROLES:
        raise NotAllowed(_("Only hotline staff may open tickets."))
    if caller_number:
        caller_number = phone_lookup_key(caller_number) or caller_number[:20]
    pending = _preassigned.get()
    if number is None and pending:
        number = pending.pop()
    with transaction.atomic():
        now = clock.now()
        ticket = Ticket(
            number=number or _next_number(),
            citizen=citizen,
            caller_number=caller_number,
            created_by=actor,
            created_at=now,
            updated_at=now,
            **fields,
        )
        ticket.full_clean(exclude=["number"])
        ticket.save()
        TimelineEntry.objects.create(ticket=ticket, action=Action.CREATE, to_status=Status.DRAFT, actor=actor, at=now)
        # Consoles follow only their operator's tickets: the creator's (the bridge's draft has none yet).
        groups = [SUPERVISORS, *([operator_group(actor.pk)] if actor is not None else [])]
        publish("ticket.create", event_payload(ticket, Action.CREATE, "", []), groups)
        if register:
            ticket = ticket_register(ticket, actor=actor)
    return ticket


def ticket_create_draft(*, citizen: Citizen | None, caller_number: str = "") -> Ticket:
    """Open the phone draft of a new call (the AGI bridge, on every call): a lean ticket_create.

    The values are known-good: channel phone, the citizen the caller's number found in this very
    transaction, `caller_number` already a lookup key (E.164) or "". So no form validation (its
    foreign-key check is a query) and no savepoint (nothing recovers half-way; the caller's
    transaction is the unit); otherwise as ticket_create(actor=None, register=False): the number
    reserved with ticket_number_preassigned or the next of today's, the timeline entry, and
    ticket.create to the supervisors (no console follows a draft nobody has taken).
    """
    pending = _preassigned.get()
    with transaction.atomic(savepoint=False):
        now = clock.now()
        ticket = Ticket(
            number=(pending.pop() if pending else "") or _next_number(),
            channel=Channel.PHONE,
            citizen=citizen,
            caller_number=caller_number[:20],
            created_at=now,
            updated_at=now,
        )
        ticket.save(force_insert=True)
        TimelineEntry.objects.create(ticket=ticket, action=Action.CREATE, to_status=Status.DRAFT, actor=None, at=now)
        publish("ticket.create", event_payload(ticket, Action.CREATE, "", []), [SUPERVISORS])
    return ticket


def ticket_register(ticket: Ticket, *, actor: User | None, note: str = "") -> Ticket:
    """draft → registered (受理): the operator has the matter in writing.

    Then routing, in the same transaction: a matching auto-dispatch rule dispatches the ticket
    at once (ticket.dispatch follows ticket.register); otherwise it waits on the dispatch queue.
    """

    def apply(t: Ticket) -> list[str]:
        if not (t.description.strip() or t.title.strip()):
            raise ValidationError({"description": _("Describe the citizen's request before registering it.")})
        t.registered_at = clock.now()
        return ["registered_at"]

    with transaction.atomic():
        ticket = transition(ticket, Action.REGISTER, actor=actor, note=note, apply=apply)
        from routing.actions import ticket_route  # imported here: routing.actions imports this module

        return ticket_route(ticket)


def ticket_close_first_contact(
    ticket: Ticket, *, actor: User | None, answer: str = "", article: Article | None = None
) -> Ticket:
    """registered → closed at first contact (直接办结): the operator answered it on the call.

    With a knowledge-base `article` (it must be published) the ticket records it, the timeline entry
    names it and the article's use count goes up; without an `answer`, the article's answer is the
    one recorded. Publishes ticket.close_first_contact.
    """
    answer = required(
        answer or (article.answer if article else ""), "answer", _("Write the answer given to the citizen.")
    )
    data: dict[str, Any] = {"article": article.pk, "article_title": article.title} if article else {}

    def apply(t: Ticket) -> list[str]:
        # Checked under the ticket's lock, in the closing transaction: not a stale read from the form.
        if article is not None and not Article.objects.filter(pk=article.pk, is_published=True).exists():
            raise ValidationError({"article": _("This knowledge article is not published; choose a published one.")})
        t.answer = answer
        t.article = article
        t.closed_at = clock.now()
        return ["answer", "article", "closed_at"] if article else ["answer", "closed_at"]

    with transaction.atomic():
        closed = transition(ticket, Action.CLOSE_FIRST_CONTACT, actor=actor, note=answer, data=data, apply=apply)
        if article is not None:
            article_used(article)
    return closed


def ticket_update(ticket: Ticket, *, actor: User | None, version: int | None, **changes: Any) -> Ticket:
    """Edit a ticket's content; refused on a closed ticket and when `version` is stale.

    Writes one timeline entry listing the changed fields (old and new values, ids for
    relations) and publishes ticket.edit.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        authorize(actor, locked, Action.EDIT)
        if version is not None and version != locked.version:
            raise StaleVersion(number=locked.number, expected=version, current=locked.version)
        if locked.is_terminal:
            raise InvalidTransition(number=locked.number, status=locked.status, action=Action.EDIT)
        if "caller_number" in changes and changes["caller_number"]:
            changes["caller_number"] = phone_lookup_key(changes["caller_number"]) or changes["caller_number"]
        diff: dict[str, list[Any]] = {}
        for field, value in changes.items():
            old = getattr(locked, f"{field}_id" if field in ("district", "category", "citizen") else field)
            new = getattr(value, "pk", value)
            if old != new:
                diff[field] = [old, new]
                setattr(locked, field, value)
        if not diff:
            return locked
        if "kind" in diff and locked.status in WITH_DEPARTMENT:
            # The kind decides the time limit and whether the reporter is shielded (举报): while a
            # department holds the ticket, changing it would move the deadline or unmask the reporter.
            raise ValidationError({"kind": _("The kind cannot change while a department is handling the ticket.")})
        locked.full_clean(exclude=["number"])
        locked.version += 1
        locked.updated_at = clock.now()
        locked.save(update_fields=[*diff, "version", "updated_at"])
        TimelineEntry.objects.create(
            ticket=locked,
            action=Action.EDIT,
            from_status=locked.status,
            to_status=locked.status,
            actor=actor,
            data={"changed": redact(diff)},
            at=locked.updated_at,
        )
        publish("ticket.edit", event_payload(locked, Action.EDIT, locked.status, diff), event_groups(locked))
    return locked


def ticket_choose_kind(ticket: Ticket, *, kind: str) -> Ticket:
    """The caller chose `kind` in the phone menu: set it on the ticket while it is still a draft.

    The bridge's edit on every call, so a lean one: no form validation beyond the kind itself, and,
    when the row is still the draft `ticket` was read as (same version), one conditional update
    instead of a locked read and a save. A ticket that is no longer a draft (an operator took it
    over), or already of that kind, is returned unchanged. Writes the edit's timeline entry and
    publishes ticket.edit.
    """
    if kind not in Kind.values:
        raise ValidationError({"kind": _("Choose one of the ticket kinds.")})
    with transaction.atomic(savepoint=False):  # nothing to recover half-way; callers run it in their transaction
        old, now = ticket.kind, clock.now()
        locked = _draft_kind_set(ticket, kind, at=now)
        if locked is None:  # changed since it was read (or not a draft as read): lock it and look
            locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
            if locked.status != Status.DRAFT or locked.kind == kind:
                return locked
            old = locked.kind
            locked.kind = kind
            locked.version += 1
            locked.updated_at = now
            locked.save(update_fields=["kind", "version", "updated_at"])
        diff = {"kind": [old, kind]}
        TimelineEntry.objects.create(
            ticket=locked,
            action=Action.EDIT,
            from_status=locked.status,
            to_status=locked.status,
            actor=None,
            data={"changed": diff},
            at=now,
        )
        # A draft has no assisting departments (they come with the dispatch): no query for them.
        # Still in the phone menu: no operator has taken the draft, so no console follows it yet.
        groups = [SUPERVISORS, *([department_group(locked.lead_department_id)] if locked.lead_department_id else [])]
        publish("ticket.edit", event_payload(locked, Action.EDIT, locked.status, diff), groups)
    return locked


def _draft_kind_set(ticket: Ticket, kind: str, *, at: datetime.datetime) -> Ticket | None:
    """Set `kind` with one UPDATE … WHERE the row is still the draft `ticket` was read as; None if it is not.

    Every write bumps a ticket's version, so a row with `ticket`'s version is `ticket`: the copy
    returned is the row as updated, without reading it again.
    """
    if ticket.pk is None or ticket.status != Status.DRAFT or ticket.kind == kind:
        return None
    field = Ticket._meta.get_field("updated_at")
    with connection.cursor() as cursor:
        cursor.execute(
            _kind_update_sql(connection.vendor),
            [kind, field.get_db_prep_save(at, connection), ticket.pk, ticket.version, Status.DRAFT],
        )
        if cursor.rowcount != 1:
            return None
    updated = copy.copy(ticket)
    updated.kind, updated.version, updated.updated_at = kind, ticket.version + 1, at
    return updated


@functools.cache
def _kind_update_sql(_vendor: str) -> str:
    quote = connection.ops.quote_name
    names = ("id", "kind", "version", "updated_at", "status")
    column = {name: quote(Ticket._meta.get_field(name).column) for name in names}
    # Only the model's own table and column names are interpolated; the values are parameters.
    return (
        f"UPDATE {quote(Ticket._meta.db_table)} "  # noqa: S608
        f"SET {column['kind']} = %s, {column['version']} = {column['version']} + 1, {column['updated_at']} = %s "
        f"WHERE {column['id']} = %s AND {column['version']} = %s AND {column['status']} = %s"
    )
