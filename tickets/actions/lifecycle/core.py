"""Shared by every move of a ticket: who may act, the event it publishes, the locked transition."""

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from dashboards.publish import OPERATORS, SUPERVISORS, department_group, publish

from ... import clock
from ...errors import InvalidTransition, NotAllowed
from ...models import (
    TRANSITIONS,
    Action,
    Role,
    Ticket,
    TimelineEntry,
    User,
)
from ...pii import phone_mask

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


HOTLINE_ROLES = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)


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


def authorize(actor: User | None, ticket: Ticket | None, action: str) -> None:
    """Check the actor's role, and with a ticket also that a department actor's department leads it."""
    if actor is None or actor.is_superuser:  # None: the system itself (bridge, periodic tasks)
        return
    if actor.role not in ACTION_ROLES[action]:
        raise NotAllowed(_("Your role may not “%(action)s” a ticket.") % {"action": Action(action).label})
    if ticket is not None and actor.role == Role.DEPARTMENT and ticket.lead_department_id != actor.department_id:
        raise NotAllowed(_("Only the lead department may do this."))


def event_groups(ticket: Ticket, *extra_departments: int | None) -> list[str]:
    departments = {ticket.lead_department_id, *extra_departments}
    departments.update(ticket.assisting_departments.values_list("id", flat=True))
    return [SUPERVISORS, OPERATORS, *(department_group(d) for d in departments if d)]


def event_payload(ticket: Ticket, action: str, from_status: str, changed: Iterable[str]) -> dict[str, Any]:
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


def transition(
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
        authorize(actor, None, action)
        # The status before the department: when a colleague has just returned the ticket, "it is
        # returned now" tells the person more than "only the lead department may do this".
        if locked.status not in sources:
            raise InvalidTransition(number=locked.number, status=locked.status, action=action)
        authorize(actor, locked, action)
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
        payload = {**event_payload(locked, action, from_status, changed), **(event or {})}
        publish(f"ticket.{action}", payload, event_groups(locked, *extra_departments))
    return locked


def redact(diff: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Personal data never enters the timeline's change list in clear."""
    if "caller_number" in diff:
        diff["caller_number"] = [phone_mask(v or "") for v in diff["caller_number"]]
    return diff


def required(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value
