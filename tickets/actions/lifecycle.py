"""The ticket lifecycle: creation, edits and every transition of the state machine.

Each transition locks the row, checks the TRANSITIONS table, writes the ticket and one
timeline entry, and publishes an event on commit. Nothing else sets `Ticket.status`.
"""

import contextlib
import contextvars
import datetime
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from dashboards.publish import OPERATORS, SUPERVISORS, department_group, publish
from routing.deadlines import deadline_check, deadline_for, reopen_deadline_for, sign_for_deadline
from routing.models import RETURNS_FLAGGED, ReturnReason
from routing.selectors import ticket_assist_missing, ticket_suggestion

from .. import clock
from ..errors import InvalidTransition, NotAllowed, StaleVersion
from ..models import (
    TRANSITIONS,
    WITH_DEPARTMENT,
    Action,
    Article,
    Citizen,
    Department,
    Kind,
    Role,
    Satisfaction,
    Status,
    Ticket,
    TicketNumberCounter,
    TimelineEntry,
    User,
)
from ..pii import phone_lookup_key, phone_mask
from .knowledge import article_used

EDITABLE_FIELDS = (
    "kind",
    "channel",
    "title",
    "description",
    "address",
    "district",
    "category",
    "urgency",
    "citizen",
    "caller_number",
)
logger = logging.getLogger(__name__)
HOTLINE_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)
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
# Ticket numbers carry the hotline's own date, whatever time zone a request has activated.
NUMBER_ZONE = ZoneInfo("Asia/Shanghai")
# Who may perform each action; department actions are also limited to the ticket's lead department.
ACTION_ROLES: dict[str, tuple[str, ...]] = {
    Action.REGISTER: HOTLINE_ROLES,
    Action.CLOSE_FIRST_CONTACT: HOTLINE_ROLES,
    Action.DISPATCH: HOTLINE_ROLES,
    Action.ACCEPT: (Role.DEPARTMENT, Role.ADMIN),
    Action.RETURN: (Role.DEPARTMENT, Role.ADMIN),
    Action.REQUEST_EXTENSION: (Role.DEPARTMENT, Role.ADMIN),
    Action.APPROVE_EXTENSION: (Role.SUPERVISOR, Role.ADMIN),
    Action.DENY_EXTENSION: (Role.SUPERVISOR, Role.ADMIN),
    Action.REPLY: (Role.DEPARTMENT, Role.ADMIN),
    Action.CLOSE: HOTLINE_ROLES,
    Action.REOPEN: HOTLINE_ROLES,
    Action.MERGE: (Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN),
    Action.CANCEL: (Role.SUPERVISOR, Role.ADMIN),
    Action.EDIT: HOTLINE_ROLES,
    Action.REASSIGN: (Role.SUPERVISOR, Role.ADMIN),
}


def _authorize(actor: User | None, ticket: Ticket | None, action: str) -> None:
    """Check the actor's role, and with a ticket also that a department actor's department leads it."""
    if actor is None or actor.is_superuser:  # None: the system itself (bridge, periodic tasks)
        return
    if actor.role not in ACTION_ROLES[action]:
        raise NotAllowed(_("Your role may not “%(action)s” a ticket.") % {"action": Action(action).label})
    if ticket is not None and actor.role == Role.DEPARTMENT and ticket.lead_department_id != actor.department_id:
        raise NotAllowed(_("Only the lead department may do this."))


def _groups(ticket: Ticket, *extra_departments: int | None) -> list[str]:
    departments = {ticket.lead_department_id, *extra_departments}
    departments.update(ticket.assisting_departments.values_list("id", flat=True))
    return [SUPERVISORS, OPERATORS, *(department_group(d) for d in departments if d)]


def _event(ticket: Ticket, action: str, from_status: str, changed: Iterable[str]) -> dict[str, Any]:
    return {
        "ticket": ticket.number,
        "id": ticket.pk,
        "action": action,
        "from": from_status,
        "status": ticket.status,
        "kind": ticket.kind,
        "department": ticket.lead_department_id,
        "deadline": ticket.deadline.isoformat() if ticket.deadline else None,
        "changed": sorted(changed),
    }


def _next_number() -> str:
    """YYYYMMDD + a five-digit daily sequence: digits only, so callers can key it in."""
    return _take_numbers(1)[0]


def _take_numbers(count: int) -> list[str]:
    # Runs inside the caller's transaction: the counter row stays locked until it commits. One upsert
    # (PostgreSQL, SQLite 3.35+) rather than a locking read and a save: it runs for every ticket.
    day = timezone.localdate(clock.now(), NUMBER_ZONE)
    day_field = TicketNumberCounter._meta.get_field("day")
    with connection.cursor() as cursor:
        cursor.execute(_counter_upsert(connection.vendor), [day_field.get_db_prep_value(day, connection), count])
        last = cursor.fetchone()[0]
    first = last - count + 1
    return [f"{day:%Y%m%d}{seq:05d}" for seq in range(first, first + count)]


@functools.cache
def _counter_upsert(_vendor: str) -> str:
    quote = connection.ops.quote_name
    meta = TicketNumberCounter._meta
    table, day, last = (
        quote(name) for name in (meta.db_table, meta.get_field("day").column, meta.get_field("last").column)
    )
    # Only the model's own table and column names are interpolated; the values are parameters.
    return (
        f"INSERT INTO {table} ({day}, {last}) VALUES (%s, %s) "  # noqa: S608
        f"ON CONFLICT ({day}) DO UPDATE SET {last} = {table}.{last} + EXCLUDED.{last} RETURNING {last}"
    )


def ticket_numbers_reserve(count: int) -> list[str]:
    """Take `count` consecutive numbers of today's sequence in one transaction, for later use.

    The AGI bridge holds a block so that, while the database is down, it can still tell a caller
    the number their spooled ticket will get (see `ticket_number_preassigned`). Numbers never used
    leave a gap in the day's sequence.
    """
    if count < 1:
        raise ValueError("reserve at least one ticket number")
    with transaction.atomic():
        return _take_numbers(count)


# One reserved number waiting for the next ticket_create in this context (thread or task).
_preassigned: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("preassigned_number", default=None)


@contextlib.contextmanager
def ticket_number_preassigned(number: str) -> Iterator[None]:
    """Make the next ticket_create inside this block use `number` (one from ticket_numbers_reserve).

    For callers that reach ticket_create through another action (the bridge's spool replay goes
    through telephony's call_open, which does not pass a number).
    """
    token = _preassigned.set([number] if number else [])
    try:
        yield
    finally:
        _preassigned.reset(token)


def _transition(
    ticket: Ticket,
    action: str,
    *,
    actor: User | None,
    note: str = "",
    data: dict[str, Any] | None = None,
    apply: Callable[[Ticket], list[str]] | None = None,
    extra_departments: Iterable[int | None] = (),
    event: dict[str, Any] | None = None,
) -> Ticket:
    """Move `ticket` by `action` under a row lock; `apply` sets the action's own fields, `event` adds to the payload."""
    sources, target = TRANSITIONS[action]
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        _authorize(actor, None, action)
        # The status before the department: when a colleague has just returned the ticket, "it is
        # returned now" tells the person more than "only the lead department may do this".
        if locked.status not in sources:
            raise InvalidTransition(number=locked.number, status=locked.status, action=action)
        _authorize(actor, locked, action)
        from_status = locked.status
        now = clock.now()
        changed = apply(locked) if apply else []
        locked.status = target
        locked.version += 1
        locked.updated_at = now
        locked.save(update_fields=[*changed, "status", "version", "updated_at"])
        TimelineEntry.objects.create(
            ticket=locked,
            action=action,
            from_status=from_status,
            to_status=target,
            actor=actor,
            note=note,
            data=data or {},
            at=now,
        )
        payload = {**_event(locked, action, from_status, changed), **(event or {})}
        publish(f"ticket.{action}", payload, _groups(locked, *extra_departments))
    return locked


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
        publish("ticket.create", _event(ticket, Action.CREATE, "", []), [SUPERVISORS, OPERATORS])
        if register:
            ticket = ticket_register(ticket, actor=actor)
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
        ticket = _transition(ticket, Action.REGISTER, actor=actor, note=note, apply=apply)
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
    answer = _required(
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
        closed = _transition(ticket, Action.CLOSE_FIRST_CONTACT, actor=actor, note=answer, data=data, apply=apply)
        if article is not None:
            article_used(article)
    return closed


def ticket_dispatch(
    ticket: Ticket,
    *,
    actor: User | None,
    department: Department | None = None,
    assisting: Iterable[Department] | None = None,
    deadline: datetime.datetime | None = None,
    note: str = "",
) -> Ticket:
    """registered | returned → dispatched (派单) to a lead department, with a deadline.

    What is not given comes from the routing suggestion (routing.selectors.ticket_suggestion):
    without a department the suggested one (none suggested: ValidationError); when the lead is
    the suggested department, also its assisting departments, the rule's urgency and its time
    limit (the timeline entry names the rule). Otherwise the time limit for the ticket's kind and
    urgency applies. The timeline entry records the sign-for time (签收时限, `accept_by`). A
    ticket returned twice is dispatched only by a supervisor. Publishes ticket.dispatch to the
    departments' groups.
    """
    now = clock.now()
    if deadline is not None:
        deadline_check(deadline, now=now)
    data: dict[str, Any] = {}

    def apply(t: Ticket) -> list[str]:
        operator = actor is not None and actor.role == Role.OPERATOR and not actor.is_superuser
        if t.return_count >= RETURNS_FLAGGED and operator:
            raise NotAllowed(
                _("Ticket %(number)s was returned %(count)d times: a supervisor decides where it goes now.")
                % {"number": t.number, "count": t.return_count}
            )
        return _hand_to(t, department=department, assisting=assisting, deadline=deadline, now=now, data=data)

    return _transition(ticket, Action.DISPATCH, actor=actor, note=note, data=data, apply=apply)


def _hand_to(
    t: Ticket,
    *,
    department: Department | None,
    assisting: Iterable[Department] | None,
    deadline: datetime.datetime | None,
    now: datetime.datetime,
    data: dict[str, Any],
) -> list[str]:
    """Give the locked ticket a lead department and a fresh handling window (a dispatch or a reassignment).

    What is not given comes from the routing suggestion, as ticket_dispatch describes; `data` gets
    what the timeline entry records of the window (department, assisting, accept_by, deadline).
    """
    suggestion = ticket_suggestion(t, start=now)
    lead = department or suggestion.department
    if lead is None:
        raise ValidationError({"department": _("No rule suggests a department for this ticket: choose one.")})
    follows = suggestion.department is not None and suggestion.department.pk == lead.pk
    helpers = list(assisting) if assisting is not None else suggestion.assisting if follows else []
    helpers = [d for d in dict.fromkeys(helpers) if d.pk != lead.pk]
    if not lead.is_active or any(not d.is_active for d in helpers):
        raise ValidationError({"department": _("Tickets can only be dispatched to active departments.")})
    changed = ["lead_department", "deadline", "dispatched_at"]
    if follows:
        if suggestion.urgency != t.urgency:
            data["urgency"] = [t.urgency, suggestion.urgency]
            t.urgency = suggestion.urgency
            changed.append("urgency")
        if suggestion.rule is not None:
            data["rule"] = suggestion.rule.id
    t.lead_department = lead
    t.deadline = (
        deadline
        or (suggestion.deadline if follows else None)
        or deadline_for(kind=t.kind, urgency=t.urgency, start=now)
    )
    t.dispatched_at = now
    t.assisting_departments.set(helpers)
    data.update(
        department=lead.pk,
        assisting=[d.pk for d in helpers],
        accept_by=_accept_by(t, now),
        deadline=t.deadline.isoformat(),  # the reports judge this handling window by it
    )
    return changed


def ticket_reassign(
    ticket: Ticket,
    *,
    actor: User | None,
    department: Department,
    note: str,
    deadline: datetime.datetime | None = None,
) -> Ticket:
    """dispatched | accepted | reopened → dispatched to another lead department (改派), by a supervisor.

    The ticket leaves its lead department (and its assisting ones) and starts a new handling
    window at the new lead, as a dispatch would: the deadline given, else the rule's when the
    new lead is the suggested department (with its assisting departments), else the time limit
    for the ticket's kind and urgency. `note` (why) is required. An extension request must be
    decided first. The timeline entry records the window like a dispatch's, plus `from_department`.
    Publishes ticket.reassign to the supervisors, the operators and every department that held
    the ticket or holds it now.
    """
    note = _required(note, "note", _("Say why the ticket goes to another department."))
    now = clock.now()
    if deadline is not None:
        deadline_check(deadline, now=now)
    data: dict[str, Any] = {}
    held_by: list[int | None] = []

    def apply(t: Ticket) -> list[str]:
        if department.pk == t.lead_department_id:
            raise ValidationError({"department": _("The ticket is already with this department: choose another.")})
        data["from_department"] = t.lead_department_id
        held_by.extend([t.lead_department_id, *t.assisting_departments.values_list("id", flat=True)])
        return _hand_to(t, department=department, assisting=None, deadline=deadline, now=now, data=data)

    return _transition(
        ticket, Action.REASSIGN, actor=actor, note=note, data=data, apply=apply, extra_departments=held_by
    )


def _accept_by(t: Ticket, start: datetime.datetime) -> str:
    """When the lead department must have accepted (签收) the ticket handed to it at `start`, for the timeline."""
    return sign_for_deadline(start, kind=t.kind, urgency=t.urgency, deadline=t.deadline).isoformat()


def ticket_accept(ticket: Ticket, *, actor: User | None, note: str = "") -> Ticket:
    """dispatched | reopened → accepted (签收) by the lead department."""
    return _transition(ticket, Action.ACCEPT, actor=actor, note=note)


OTHER_RETURN_REASON = "other"


def ticket_return(
    ticket: Ticket,
    *,
    actor: User | None,
    reason: str = "",
    note: str = "",
    code: str = "",
    responsible: Department | None = None,
) -> Ticket:
    """dispatched | accepted | reopened → returned (退单): back to the dispatch queue.

    `code` picks the reason from the configurable list (routing.models.ReturnReason); a reason
    that names the department must give the `responsible` one (it becomes the next dispatch's
    suggestion), one that needs a note a `note`. Without a code the free-text `reason` is
    required and counts as “other” (the timeline entry then has no `code`). The department
    loses the ticket; the returned event still reaches it so its inbox drops the row.
    The second return flags the ticket for the supervisors (ticket.return_flagged): from then on
    only a supervisor dispatches it.
    """
    text, note = _return_reason(code=code, reason=reason, note=note, responsible=responsible)
    data: dict[str, Any] = {"reason": text}
    if code:
        data["code"] = code
    if responsible is not None:
        data["responsible"] = responsible.pk
    # Read from the locked row: every department that held the ticket hears it is gone.
    held_by: list[int | None] = []
    before: dict[str, str] = {}

    def apply(t: Ticket) -> list[str]:
        before["status"] = t.status
        if responsible is not None and responsible.pk == t.lead_department_id:
            raise ValidationError({"responsible": _("Name the department responsible, not your own.")})
        data["department"] = t.lead_department_id
        held_by.extend([t.lead_department_id, *t.assisting_departments.values_list("id", flat=True)])
        t.lead_department = None
        t.deadline = None
        t.return_count += 1
        if t.return_count >= RETURNS_FLAGGED:
            data["flagged"] = True
        t.assisting_departments.clear()
        return ["lead_department", "deadline", "return_count"]

    with transaction.atomic():
        returned = _transition(
            ticket,
            Action.RETURN,
            actor=actor,
            note=note or text,
            data=data,
            apply=apply,
            extra_departments=held_by,
        )
        if data.get("flagged"):
            changed = ["lead_department", "deadline", "return_count"]
            payload = {
                **_event(returned, Action.RETURN, before["status"], changed),
                "return_count": returned.return_count,
            }
            publish("ticket.return_flagged", payload, [SUPERVISORS])
    return returned


def _return_reason(*, code: str, reason: str, note: str, responsible: Department | None) -> tuple[str, str]:
    """(the reason's words for the timeline, the note): ValidationError naming the field at fault."""
    reason, note = (reason or "").strip(), (note or "").strip()
    if code:
        chosen = ReturnReason.objects.filter(code=code, is_active=True).first()
        if chosen is None:
            codes = ", ".join(ReturnReason.objects.filter(is_active=True).values_list("code", flat=True))
            raise ValidationError(
                {
                    "code": _("“%(code)s” is not a return reason; choose one of: %(codes)s.")
                    % {"code": code, "codes": codes}
                }
            )
    else:
        reason = _required(reason, "reason", _("Say why the ticket is returned."))
        chosen = ReturnReason.objects.filter(code=OTHER_RETURN_REASON).first()
    if chosen is not None and chosen.needs_note and not (note or reason):
        raise ValidationError({"note": _("Explain the return in a note: “%(reason)s” needs one.") % {"reason": chosen}})
    if chosen is not None and chosen.names_department and responsible is None:
        raise ValidationError(
            {"responsible": _("Name the department that is responsible (“%(reason)s”).") % {"reason": chosen}}
        )
    if responsible is not None and not responsible.is_active:
        raise ValidationError({"responsible": _("The department named as responsible is inactive.")})
    return reason or (chosen.name if chosen is not None else ""), note


def ticket_request_extension(ticket: Ticket, *, actor: User | None, until: datetime.datetime, reason: str) -> Ticket:
    """accepted → extension requested (延期申请); the deadline moves only on approval."""
    reason = _required(reason, "reason", _("Say why more time is needed."))

    def apply(t: Ticket) -> list[str]:
        if t.deadline and until <= t.deadline:
            raise ValidationError({"until": _("The new date must be later than the current deadline.")})
        # An overdue ticket's deadline is already past: later than it is not enough.
        deadline_check(until, now=clock.now(), field="until")
        t.extension_until = until
        return ["extension_until"]

    return _transition(
        ticket, Action.REQUEST_EXTENSION, actor=actor, note=reason, data={"until": until.isoformat()}, apply=apply
    )


def ticket_approve_extension(ticket: Ticket, *, actor: User | None, note: str = "") -> Ticket:
    """extension requested → accepted, with the requested date as the new deadline."""

    def apply(t: Ticket) -> list[str]:
        previous, t.deadline, t.extension_until = t.deadline, t.extension_until, None
        data["previous_deadline"] = previous.isoformat() if previous else None
        data["deadline"] = t.deadline.isoformat() if t.deadline else None
        return ["deadline", "extension_until"]

    data: dict[str, Any] = {}
    return _transition(ticket, Action.APPROVE_EXTENSION, actor=actor, note=note, data=data, apply=apply)


def ticket_deny_extension(ticket: Ticket, *, actor: User | None, note: str) -> Ticket:
    """extension requested → accepted with the deadline unchanged; the reason is required."""
    note = _required(note, "note", _("Say why the extension is denied."))

    def apply(t: Ticket) -> list[str]:
        t.extension_until = None
        return ["extension_until"]

    return _transition(ticket, Action.DENY_EXTENSION, actor=actor, note=note, apply=apply)


def ticket_reply(ticket: Ticket, *, actor: User | None, reply: str) -> Ticket:
    """accepted → replied (办结回复) with the department's result; the callback comes next.

    In joint handling (联办) every assisting department must first have given its input since
    the dispatch (routing.actions.ticket_assist_input), or a supervisor must have waived it.
    """
    reply = _required(reply, "reply", _("Write the result of the handling."))

    def apply(t: Ticket) -> list[str]:
        missing = ticket_assist_missing(t)
        if missing:
            names = "、".join(str(d) for d in missing)
            raise ValidationError(
                {
                    "assisting": _(
                        "Waiting for the input of the assisting departments: %(names)s. A supervisor may waive it."
                    )
                    % {"names": names}
                }
            )
        t.reply = reply
        t.replied_at = clock.now()
        return ["reply", "replied_at"]

    return _transition(ticket, Action.REPLY, actor=actor, note=reply, apply=apply)


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

    return _transition(ticket, Action.CLOSE, actor=actor, note=note, data={"satisfaction": satisfaction}, apply=apply)


def ticket_reopen(ticket: Ticket, *, actor: User | None, note: str) -> Ticket:
    """replied → reopened (重办) to the same department after an unsatisfied callback."""
    note = _required(note, "note", _("Record what the citizen is unsatisfied with."))

    def apply(t: Ticket) -> list[str]:
        t.satisfaction = Satisfaction.UNSATISFIED
        t.deadline = reopen_deadline_for(kind=t.kind, urgency=t.urgency, start=clock.now())
        t.reply = ""
        t.replied_at = None
        data["accept_by"] = _accept_by(t, clock.now())  # the department accepts the reopened ticket again
        data["deadline"] = t.deadline.isoformat()
        return ["satisfaction", "deadline", "reply", "replied_at"]

    data = {"satisfaction": Satisfaction.UNSATISFIED}
    return _transition(ticket, Action.REOPEN, actor=actor, note=note, data=data, apply=apply)


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
        merged = _transition(
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
    reason = _required(reason, "reason", _("Say why the ticket is cancelled."))

    def apply(t: Ticket) -> list[str]:
        t.closed_at = clock.now()
        return ["closed_at"]

    return _transition(ticket, Action.CANCEL, actor=actor, note=reason, apply=apply)


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
        _authorize(actor, locked, Action.EDIT)
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
            data={"changed": _redact(diff)},
            at=locked.updated_at,
        )
        publish("ticket.edit", _event(locked, Action.EDIT, locked.status, diff), _groups(locked))
    return locked


def ticket_choose_kind(ticket: Ticket, *, kind: str) -> Ticket:
    """The caller chose `kind` in the phone menu: set it on the ticket while it is still a draft.

    The bridge's edit on every call, so a lean one: the row locked, no form validation beyond the
    kind itself. A ticket that is no longer a draft (an operator took it over), or already of that
    kind, is returned unchanged. Writes the edit's timeline entry and publishes ticket.edit.
    """
    if kind not in Kind.values:
        raise ValidationError({"kind": _("Choose one of the ticket kinds.")})
    with transaction.atomic(savepoint=False):  # nothing to recover half-way; callers run it in their transaction
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != Status.DRAFT or locked.kind == kind:
            return locked
        diff = {"kind": [locked.kind, kind]}
        locked.kind = kind
        locked.version += 1
        locked.updated_at = clock.now()
        locked.save(update_fields=["kind", "version", "updated_at"])
        TimelineEntry.objects.create(
            ticket=locked,
            action=Action.EDIT,
            from_status=locked.status,
            to_status=locked.status,
            actor=None,
            data={"changed": diff},
            at=locked.updated_at,
        )
        # A draft has no assisting departments (they come with the dispatch): no query for them.
        groups = [
            SUPERVISORS,
            OPERATORS,
            *([department_group(locked.lead_department_id)] if locked.lead_department_id else []),
        ]
        publish("ticket.edit", _event(locked, Action.EDIT, locked.status, diff), groups)
    return locked


def _redact(diff: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Personal data never enters the timeline's change list in clear."""
    if "caller_number" in diff:
        diff["caller_number"] = [phone_mask(v or "") for v in diff["caller_number"]]
    return diff


def _required(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value
