"""Every write of routing: rule changes (validated, then applied whole), routing at registration, assisting input,
a supervisor's escalation (督办)."""

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from dashboards.publish import SUPERVISORS, department_group, publish
from tickets import clock
from tickets.actions import ticket_dispatch
from tickets.errors import DomainError, NotAllowed
from tickets.models import WITH_DEPARTMENT, Action, Department, Role, Status, Ticket, TimelineEntry, User

from .models import AssistInput, Escalation, EscalationReason, Rule, RulesetVersion
from .rules import (
    SPEC_FIELDS,
    RuleChange,
    RuleSpec,
    facts_for_ticket,
    rule_specs,
    rules_changed,
    rules_proposed,
    ruleset,
)

__all__ = [
    "AlreadyEscalated",
    "NotWithDepartments",
    "rule_delete",
    "rule_save",
    "rules_apply",
    "rules_reorder",
    "ticket_assist_input",
    "ticket_escalate",
    "ticket_route",
]

logger = logging.getLogger(__name__)

RULE_EDITORS = (Role.SUPERVISOR, Role.ADMIN)
_RELATIONS = ("categories", "districts", "assisting_departments")


class NotWithDepartments(DomainError):
    """Input on a ticket that no department holds now (not dispatched yet, returned, replied, closed)."""

    code = "not_with_departments"
    http_status = 409


class AlreadyEscalated(DomainError):
    """A supervisor's escalation of a ticket that is already escalated by hand for its current deadline."""

    code = "already_escalated"
    http_status = 409


def _may_edit_rules(actor: User | None) -> None:
    if actor is not None and not actor.is_superuser and actor.role not in RULE_EDITORS:
        raise NotAllowed(_("Only supervisors and administrators change routing rules."))


def _write(spec: RuleSpec, *, actor: User | None) -> Rule:
    rule = Rule.objects.get(pk=spec.id) if spec.id is not None else Rule()
    for name in SPEC_FIELDS:
        if name in ("id", "lead_department", *_RELATIONS):
            continue
        value = getattr(spec, name)
        setattr(rule, name, list(value) if isinstance(value, tuple) else value)
    rule.lead_department_id = spec.lead_department
    rule.updated_at = clock.now()
    rule.updated_by = actor
    rule.save()
    for name in _RELATIONS:
        getattr(rule, name).set(getattr(spec, name))
    return rule


def rules_apply(change: RuleChange, *, actor: User | None) -> list[Rule]:
    """Save, delete and reorder rules as one change: all of it, or (ValidationError, NotAllowed) none of it.

    Every saved rule is validated before anything is written; rule changes are serialised on
    the ruleset's version row, so two supervisors' changes never interleave. Returns the saved
    rules in the order given. Publishes routing.rules to the supervisors; every process
    recompiles its ruleset at its next match.
    """
    _may_edit_rules(actor)
    with transaction.atomic():
        rules_lock()
        # Read under the lock: the change is validated against the latest rules, then written whole.
        proposed, saved = rules_proposed(rule_specs(), change)
        result = [_write(spec, actor=actor) for spec in saved]
        if change.delete:
            Rule.objects.filter(pk__in=change.delete).delete()
        if change.order is not None:
            for spec in proposed:
                if spec.id is not None:
                    Rule.objects.filter(pk=spec.id).exclude(priority=spec.priority).update(priority=spec.priority)
        rules_announce(saved=[rule.pk for rule in result], deleted=list(change.delete))
    return result


def rules_lock() -> None:
    """Serialise rule changes on the ruleset's version row, until the caller's transaction ends."""
    if RulesetVersion.objects.select_for_update().filter(pk=1).first() is None:  # the migration made it
        RulesetVersion.objects.get_or_create(pk=1, defaults={"token": ""})


def rules_announce(*, saved: list[int], deleted: list[int]) -> None:
    """Every process recompiles at its next match; the supervisors' screens hear of it (routing.rules)."""
    token = rules_changed()
    publish("routing.rules", {"token": token, "saved": saved, "deleted": deleted}, [SUPERVISORS])


def rule_save(spec: RuleSpec, *, actor: User | None) -> Rule:
    """Create (spec.id None) or replace one rule; see rules_apply."""
    return rules_apply(RuleChange(save=[spec]), actor=actor)[0]


def rule_delete(rule_id: int, *, actor: User | None) -> None:
    rules_apply(RuleChange(delete=[rule_id]), actor=actor)


def rules_reorder(order: list[int], *, actor: User | None) -> None:
    """Give the rules the priorities 10, 20, … in the order of `order`, which lists every rule once."""
    rules_apply(RuleChange(order=list(order)), actor=actor)


def ticket_route(ticket: Ticket) -> Ticket:
    """Route a ticket just registered: a matching auto-dispatch rule dispatches it at once, as the system.

    Runs inside the registering transaction (ticket_register calls it). A dispatch the rule
    cannot make (its department deactivated since the rule was saved) rolls back to a savepoint
    and is logged: the ticket waits on the manual dispatch queue with its suggestion.
    """
    if ticket.status != Status.REGISTERED:
        return ticket
    rule = ruleset().match(facts_for_ticket(ticket))
    if rule is None or not rule.auto_dispatch or rule.lead_department is None:
        return ticket
    try:
        with transaction.atomic():
            note = _("Dispatched automatically by the rule “%(name)s”.") % {"name": rule.name}
            return ticket_dispatch(ticket, actor=None, note=note)
    except (ValidationError, DomainError) as exc:
        logger.warning("rule %s could not dispatch ticket %s: %s", rule.id, ticket.number, exc)
        return ticket


def ticket_assist_input(
    ticket: Ticket, *, actor: User | None, text: str, department: Department | None = None
) -> AssistInput:
    """Record an assisting department's input to a joint ticket (联办), or a supervisor's waiver of it.

    Department staff give their own department's input, only as an assisting department (the
    lead replies instead) and only while the departments hold the ticket. A supervisor or an
    administrator names the assisting `department` whose input is waived, the text saying why.
    The lead's reply waits until every assisting department has given input or been waived.
    Publishes ticket.assist_input to the supervisors and both departments.
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write the input for the lead department.")})
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        assisting = set(locked.assisting_departments.values_list("id", flat=True))
        department, waived = _assist_department(locked, actor, department, assisting)
        if locked.status not in WITH_DEPARTMENT:
            raise NotWithDepartments(
                _("Ticket %(number)s is “%(status)s”: no department is handling it now.")
                % {"number": locked.number, "status": Status(locked.status).label},
                status=locked.status,
            )
        entry = AssistInput.objects.create(
            ticket=locked, department=department, text=text, waived=waived, author=actor, at=clock.now()
        )
        groups = [SUPERVISORS, department_group(department.pk)]
        if locked.lead_department_id:
            groups.append(department_group(locked.lead_department_id))
        payload = {"ticket": locked.number, "id": locked.pk, "department": department.pk, "waived": waived}
        publish("ticket.assist_input", payload, groups)
    return entry


def _assist_department(
    ticket: Ticket, actor: User | None, department: Department | None, assisting: set[int]
) -> tuple[Department, bool]:
    """The department the input is for, and whether it is a waiver; NotAllowed / ValidationError otherwise."""
    if actor is not None and actor.role == Role.DEPARTMENT and not actor.is_superuser:
        if actor.department_id not in assisting:
            if actor.department_id == ticket.lead_department_id:
                raise NotAllowed(_("The lead department replies; only assisting departments give input."))
            raise NotAllowed(_("Only an assisting department of this ticket gives input."))
        if department is not None and department.pk != actor.department_id:
            raise NotAllowed(_("You give input for your own department only."))
        return actor.department, False
    if actor is not None and not actor.is_superuser and actor.role not in RULE_EDITORS:
        raise NotAllowed(_("Only assisting departments give input; a supervisor may waive it."))
    if department is None:
        raise ValidationError({"department": _("Name the assisting department whose input is waived.")})
    if department.pk not in assisting:
        raise ValidationError({"department": _("“%(name)s” is not assisting on this ticket.") % {"name": department}})
    return department, actor is not None


def ticket_escalate(ticket: Ticket, *, actor: User | None, note: str) -> Escalation:
    """Escalate (督办) a ticket by hand: the supervisors press its lead department, with a note saying why.

    Supervisors and administrators only, while a department holds the ticket (its deadline
    running), once per deadline: a second escalation before the deadline moves is refused
    (AlreadyEscalated). The escalation is resolved by the clocks' sweep like an overdue one,
    when the ticket leaves the department or its deadline moves. Writes the ticket's timeline
    entry (escalate, the status unchanged) and publishes ticket.escalated (reason "manual") to
    the supervisors and the lead department.
    """
    if actor is not None and not actor.is_superuser and actor.role not in RULE_EDITORS:
        raise NotAllowed(_("Only supervisors and administrators escalate tickets."))
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _("Say why the ticket is escalated.")})
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status not in WITH_DEPARTMENT:
            raise NotWithDepartments(
                _("Ticket %(number)s is “%(status)s”: only a ticket a department is handling can be escalated.")
                % {"number": locked.number, "status": Status(locked.status).label},
                status=locked.status,
            )
        now = clock.now()
        try:
            with transaction.atomic():
                escalation = Escalation.objects.create(
                    ticket=locked,
                    reason=EscalationReason.MANUAL,
                    deadline=locked.deadline,
                    department_id=locked.lead_department_id,
                    note=note,
                    created_by=actor,
                    created_at=now,
                )
        except IntegrityError:
            raise AlreadyEscalated(
                _("Ticket %(number)s is already escalated for its current deadline.") % {"number": locked.number}
            ) from None
        TimelineEntry.objects.create(
            ticket=locked,
            action=Action.ESCALATE,
            from_status=locked.status,
            to_status=locked.status,
            actor=actor,
            note=note,
            data={"escalation": escalation.pk, "department": locked.lead_department_id},
            at=now,
        )
        payload = {
            "ticket": locked.number,
            "id": locked.pk,
            "department": locked.lead_department_id,
            "escalation": escalation.pk,
            "reason": EscalationReason.MANUAL,
            "deadline": locked.deadline.isoformat() if locked.deadline else None,
            "status": locked.status,
        }
        groups = [SUPERVISORS]
        if locked.lead_department_id:
            groups.append(department_group(locked.lead_department_id))
        publish("ticket.escalated", payload, groups)
    return escalation
