"""A ticket with the departments: dispatch, reassign, accept, return, extensions and the reply."""

import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from dashboards.publish import SUPERVISORS, publish
from routing.deadlines import deadline_check, deadline_for, sign_for_deadline
from routing.models import RETURNS_FLAGGED, ReturnReason
from routing.selectors import ticket_assist_missing, ticket_suggestion

from ... import clock
from ...errors import NotAllowed
from ...models import (
    Action,
    Department,
    Role,
    Ticket,
    User,
)
from .core import event_payload, required, transition


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

    return transition(ticket, Action.DISPATCH, actor=actor, note=note, data=data, apply=apply)


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
    rule = suggestion.rule if follows and not deadline else None
    if rule is not None and (rule.limit_hours is not None or rule.limit_working_days is not None):
        # The rule's own limit sets how the window runs, so its reminders fall where they should:
        # hours on the wall clock, working days in working time (without, the kind's limit decides).
        data["wall_clock"] = rule.limit_hours is not None
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
    note = required(note, "note", _("Say why the ticket goes to another department."))
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

    return transition(
        ticket, Action.REASSIGN, actor=actor, note=note, data=data, apply=apply, extra_departments=held_by
    )


def _accept_by(t: Ticket, start: datetime.datetime) -> str:
    """When the lead department must have accepted (签收) the ticket handed to it at `start`, for the timeline."""
    return sign_for_deadline(start, kind=t.kind, urgency=t.urgency, deadline=t.deadline).isoformat()


def ticket_accept(ticket: Ticket, *, actor: User | None, note: str = "") -> Ticket:
    """dispatched | reopened → accepted (签收) by the lead department."""
    return transition(ticket, Action.ACCEPT, actor=actor, note=note)


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
        returned = transition(
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
                **event_payload(returned, Action.RETURN, before["status"], changed),
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
        reason = required(reason, "reason", _("Say why the ticket is returned."))
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
    reason = required(reason, "reason", _("Say why more time is needed."))

    def apply(t: Ticket) -> list[str]:
        if t.deadline and until <= t.deadline:
            raise ValidationError({"until": _("The new date must be later than the current deadline.")})
        # An overdue ticket's deadline is already past: later than it is not enough.
        deadline_check(until, now=clock.now(), field="until")
        t.extension_until = until
        return ["extension_until"]

    return transition(
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
    return transition(ticket, Action.APPROVE_EXTENSION, actor=actor, note=note, data=data, apply=apply)


def ticket_deny_extension(ticket: Ticket, *, actor: User | None, note: str) -> Ticket:
    """extension requested → accepted with the deadline unchanged; the reason is required."""
    note = required(note, "note", _("Say why the extension is denied."))

    def apply(t: Ticket) -> list[str]:
        t.extension_until = None
        return ["extension_until"]

    return transition(ticket, Action.DENY_EXTENSION, actor=actor, note=note, apply=apply)


def ticket_reply(ticket: Ticket, *, actor: User | None, reply: str) -> Ticket:
    """accepted → replied (办结回复) with the department's result; the callback comes next.

    In joint handling (联办) every assisting department must first have given its input since
    the dispatch (routing.actions.ticket_assist_input), or a supervisor must have waived it.
    """
    reply = required(reply, "reply", _("Write the result of the handling."))

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

    return transition(ticket, Action.REPLY, actor=actor, note=reply, apply=apply)
