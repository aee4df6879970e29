"""Reads of routing: suggestions, explanations, simulations, the manual dispatch queue and workflow records."""

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from tickets import clock
from tickets.models import Action, Category, Channel, Department, District, Kind, Status, Ticket, TimelineEntry, Urgency

from .deadlines import Limit, deadline_for
from .models import RETURNS_FLAGGED, AssistInput, ReturnReason
from .rules import (
    Facts,
    RuleChange,
    Ruleset,
    RuleSpec,
    facts_for_ticket,
    facts_prefetch_repeats,
    rule_conditions,
    rule_specs,
    rules_proposed,
    ruleset,
)

__all__ = [
    "Suggestion",
    "dispatch_queue",
    "dispatch_queue_rows",
    "return_reasons",
    "routing_explain",
    "rules_simulate",
    "ticket_assist_inputs",
    "ticket_assist_missing",
    "ticket_accept_by",
    "ticket_suggestion",
]

SIMULATE_DEFAULT = 500
SIMULATE_MAX = 5000
SIMULATE_BATCH = 500  # tickets whose callers' history is fetched in one query


@dataclass(frozen=True)
class Suggestion:
    """Where a ticket should go: the first matching rule, or the department a return named as responsible."""

    source: str = ""  # "rule", "return" or "" (no suggestion: the operator chooses)
    rule: RuleSpec | None = None
    department: Department | None = None
    assisting: list[Department] = field(default_factory=list)
    urgency: str = Urgency.NORMAL
    deadline: datetime.datetime | None = None
    auto_dispatch: bool = False
    close_first_contact: bool = False


def _rule_deadline(rule: RuleSpec | None, *, kind: str, urgency: str, start: datetime.datetime) -> datetime.datetime:
    if rule is not None and (rule.limit_working_days is not None or rule.limit_hours is not None):
        return Limit(working_days=rule.limit_working_days, hours=rule.limit_hours).deadline_from(start)
    return deadline_for(kind=kind, urgency=urgency, start=start)


def _last_returns(tickets: Iterable[Ticket]) -> dict[int, dict]:
    """ticket id -> the data of its latest return (timeline), for the returned ones among `tickets`."""
    returned = [t.pk for t in tickets if t.status == Status.RETURNED]
    if not returned:
        return {}
    entries = TimelineEntry.objects.filter(ticket_id__in=returned, action=Action.RETURN).order_by("at", "id")
    return dict(entries.values_list("ticket_id", "data"))  # later entries overwrite earlier ones


def _named_by_last_return(ticket: Ticket) -> Department | None:
    """The department the last return named as responsible, while the ticket waits for dispatch."""
    named = _last_returns([ticket]).get(ticket.pk, {}).get("responsible")
    department = Department.objects.filter(pk=named, is_active=True).first() if named else None
    return department


def ticket_suggestion(ticket: Ticket, *, start: datetime.datetime | None = None) -> Suggestion:
    """The suggestion for dispatching `ticket` at `start` (default now).

    A returned ticket whose department named the one responsible goes there first; otherwise
    the first matching rule decides; with neither the operator chooses (the manual queue).
    """
    return _ticket_suggestion(ticket, None, start or clock.now(), matched=False)


def _ticket_suggestion(ticket: Ticket, rule: RuleSpec | None, start: datetime.datetime, *, matched: bool) -> Suggestion:
    named = _named_by_last_return(ticket)
    if named is not None:
        deadline = deadline_for(kind=ticket.kind, urgency=ticket.urgency, start=start)
        return Suggestion("return", None, named, [], ticket.urgency, deadline)
    if not matched:
        rule = ruleset().match(facts_for_ticket(ticket))
    if rule is None:
        return Suggestion(urgency=ticket.urgency)
    return _suggestion_from_rule(rule, kind=ticket.kind, urgency=ticket.urgency, start=start)


def _suggestion_from_rule(rule: RuleSpec, *, kind: str, urgency: str, start: datetime.datetime) -> Suggestion:
    ids = [pk for pk in (rule.lead_department, *rule.assisting_departments) if pk is not None]
    departments = Department.objects.in_bulk(ids)
    lead = departments.get(rule.lead_department) if rule.lead_department is not None else None
    urgency = rule.urgency or urgency
    return Suggestion(
        source="rule",
        rule=rule,
        department=lead,
        assisting=[departments[pk] for pk in rule.assisting_departments if pk in departments],
        urgency=urgency,
        deadline=_rule_deadline(rule, kind=kind, urgency=urgency, start=start) if lead is not None else None,
        auto_dispatch=rule.auto_dispatch,
        close_first_contact=rule.close_first_contact,
    )


# --- explain -------------------------------------------------------------------------------------


def _names(rules: Iterable[RuleSpec], facts: Facts) -> dict[str, dict[Any, str]]:
    """Labels for every id and code the rules and the facts mention: one query per table."""
    rules = list(rules)
    categories = {c for r in rules for c in r.categories} | set(facts.categories)
    districts = {d for r in rules for d in r.districts} | ({facts.district} if facts.district else set())
    return {
        "kinds": {value: str(label) for value, label in Kind.choices},
        "urgencies": {value: str(label) for value, label in Urgency.choices},
        "channels": {value: str(label) for value, label in Channel.choices},
        "categories": {c.pk: str(c) for c in Category.objects.filter(pk__in=categories).select_related("parent")},
        "districts": {d.pk: str(d) for d in District.objects.filter(pk__in=districts)},
    }


def _department(department: Department | None) -> dict | None:
    return None if department is None else {"id": department.pk, "code": department.code, "name": str(department)}


def _rule_summary(rule: RuleSpec | None) -> dict | None:
    return None if rule is None else {"id": rule.id, "name": rule.name, "priority": rule.priority}


def _suggestion_out(suggestion: Suggestion) -> dict:
    return {
        "source": suggestion.source or None,
        "lead_department": _department(suggestion.department),
        "assisting_departments": [_department(d) for d in suggestion.assisting],
        "urgency": suggestion.urgency,
        "deadline": suggestion.deadline.isoformat() if suggestion.deadline else None,
        "auto_dispatch": suggestion.auto_dispatch,
        "close_first_contact": suggestion.close_first_contact,
    }


def routing_explain(facts: Facts, *, ticket: Ticket | None = None, every: bool = False) -> dict[str, Any]:
    """Which rule matches `facts`, which of its conditions held and why, and the suggestion it makes.

    With `every`, also each rule tried before it and the conditions that failed: why an
    expected rule did not fire.
    """
    compiled = ruleset()
    rule = compiled.match(facts)
    tried = compiled.rules[: compiled.rules.index(rule) + 1] if rule is not None else compiled.rules
    names = _names(tried if every else ([rule] if rule else []), facts)
    if ticket is not None:
        suggestion = _ticket_suggestion(ticket, rule, clock.now(), matched=True)
    elif rule is not None:
        suggestion = _suggestion_from_rule(rule, kind=facts.kind, urgency=facts.urgency, start=clock.now())
    else:
        suggestion = Suggestion(urgency=facts.urgency)
    result: dict[str, Any] = {
        "matched": rule is not None,
        "rule": _rule_summary(rule),
        "conditions": [vars(c) for c in rule_conditions(rule, facts, names)] if rule else [],
        "suggestion": _suggestion_out(suggestion),
        "queue": "auto" if suggestion.auto_dispatch and suggestion.department else "manual",
        "rules_checked": len(tried),
    }
    if every:
        result["tried"] = [
            {
                **(_rule_summary(r) or {}),
                "matched": r is rule,
                "conditions": [vars(c) for c in rule_conditions(r, facts, names)],
            }
            for r in tried
        ]
    return result


# --- simulate ------------------------------------------------------------------------------------


def _with_facts(tickets: Iterable[Ticket], *, repeat_days: int) -> Iterable[tuple[Ticket, Facts]]:
    """Each ticket with its facts; the callers' recent tickets fetched per batch, not queried per ticket."""
    batch: list[tuple[Ticket, Facts]] = []
    for ticket in tickets:
        batch.append((ticket, facts_for_ticket(ticket)))
        if len(batch) == SIMULATE_BATCH:
            facts_prefetch_repeats([facts for _ticket, facts in batch], days=repeat_days)
            yield from batch
            batch = []
    facts_prefetch_repeats([facts for _ticket, facts in batch], days=repeat_days)
    yield from batch


def rules_simulate(change: RuleChange, *, last: int = SIMULATE_DEFAULT) -> dict[str, Any]:
    """Run the current and the changed ruleset over the last `last` registered tickets and compare.

    Returns the from → to table of lead departments (None: the manual queue) for the tickets
    whose department would change, with a few example numbers. Raises ValidationError for a bad
    change, exactly as saving it would. Nothing is written.
    """
    current_specs = rule_specs()
    proposed_specs, _saved = rules_proposed(current_specs, change)
    current, proposed = Ruleset(current_specs), Ruleset(proposed_specs)
    tickets = (
        Ticket.objects.exclude(status=Status.DRAFT)
        .select_related("category")
        .order_by("-created_at", "-id")[: max(1, min(last, SIMULATE_MAX))]
    )
    moves: Counter[tuple[int | None, int | None]] = Counter()
    examples: dict[tuple[int | None, int | None], list[str]] = {}
    seen = rule_changed = 0
    for ticket, facts in _with_facts(tickets, repeat_days=max(current.repeat_days, proposed.repeat_days)):
        seen += 1
        before, after = current.match(facts), proposed.match(facts)
        key = (before.lead_department if before else None, after.lead_department if after else None)
        if key[0] != key[1]:
            moves[key] += 1
            examples.setdefault(key, [])
            if len(examples[key]) < 5:
                examples[key].append(ticket.number)
        elif (before.id if before else None) != (after.id if after else None):
            rule_changed += 1
    departments = Department.objects.in_bulk({pk for key in moves for pk in key if pk is not None})
    table = [
        {
            "from": _department(departments.get(source)) if source is not None else None,
            "to": _department(departments.get(target)) if target is not None else None,
            "count": count,
            "examples": examples[(source, target)],
        }
        for (source, target), count in moves.most_common()
    ]
    changed = sum(moves.values())
    return {
        "tickets": seen,
        "changed": changed,
        "unchanged": seen - changed,
        "same_department_other_rule": rule_changed,
        "table": table,
    }


# --- the manual dispatch queue and the workflow's records ----------------------------------------


def dispatch_queue() -> QuerySet[Ticket]:
    """Registered and returned tickets without a department: flagged (returned twice), then urgent, then oldest."""
    return (
        Ticket.objects.filter(status__in=(Status.REGISTERED, Status.RETURNED), lead_department__isnull=True)
        .select_related("category__parent", "district")
        .annotate(
            flagged=Case(
                When(return_count__gte=RETURNS_FLAGGED, then=Value(1)), default=Value(0), output_field=IntegerField()
            ),
            urgent=Case(When(urgency=Urgency.URGENT, then=Value(1)), default=Value(0), output_field=IntegerField()),
        )
        .order_by("-flagged", "-urgent", "created_at", "id")
    )


def dispatch_queue_rows(tickets: Iterable[Ticket]) -> list[dict[str, Any]]:
    """One page of the queue with each ticket's suggestion: one ruleset, a few queries for the whole page."""
    tickets = list(tickets)
    compiled = ruleset()
    rules = {ticket.pk: compiled.match(facts_for_ticket(ticket)) for ticket in tickets}
    named = {pk: data["responsible"] for pk, data in _last_returns(tickets).items() if data.get("responsible")}
    wanted = {*named.values(), *(r.lead_department for r in rules.values() if r and r.lead_department)}
    departments = Department.objects.in_bulk(wanted)
    rows = []
    for ticket in tickets:
        rule = rules[ticket.pk]
        department = departments.get(named.get(ticket.pk) or (rule.lead_department if rule else None) or 0)
        source = "return" if ticket.pk in named and department else ("rule" if rule else "")
        if department is not None and not department.is_active:
            department, source = None, ""
        rows.append(
            {
                "number": ticket.number,
                "status": ticket.status,
                "kind": ticket.kind,
                "urgency": ticket.urgency,
                "title": ticket.title,
                "category": str(ticket.category) if ticket.category_id else None,
                "district": str(ticket.district) if ticket.district_id else None,
                "created_at": timezone.localtime(ticket.created_at).isoformat(),  # as the API shows times
                "return_count": ticket.return_count,
                "flagged": ticket.return_count >= RETURNS_FLAGGED,
                "suggestion": {
                    "source": source or None,
                    "rule": _rule_summary(rule) if source == "rule" else None,
                    "lead_department": _department(department),
                    "close_first_contact": bool(rule and rule.close_first_contact and source == "rule"),
                },
            }
        )
    return rows


def return_reasons(*, active_only: bool = True) -> QuerySet[ReturnReason]:
    reasons = ReturnReason.objects.order_by("sort", "code")
    return reasons.filter(is_active=True) if active_only else reasons


def ticket_assist_inputs(ticket: Ticket) -> QuerySet[AssistInput]:
    """The assisting departments' input and the waivers of it, oldest first."""
    return AssistInput.objects.filter(ticket=ticket).select_related("department", "author").order_by("at", "id")


def ticket_assist_missing(ticket: Ticket) -> list[Department]:
    """Assisting departments that have neither given input nor been waived since the ticket was last
    dispatched or reopened (重办 asks every department again)."""
    assisting = list(ticket.assisting_departments.all())
    if not assisting:
        return []
    since = ticket.dispatched_at or ticket.created_at
    reopened = (
        TimelineEntry.objects.filter(ticket=ticket, action=Action.REOPEN, at__gt=since)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    since = reopened or since
    given = set(
        AssistInput.objects.filter(ticket=ticket, at__gte=since).values_list("department_id", flat=True).distinct()
    )
    return [department for department in assisting if department.pk not in given]


def ticket_accept_by(ticket: Ticket) -> datetime.datetime | None:
    """When the lead department must accept (签收) the ticket, while it waits for that; from the timeline."""
    if ticket.status not in (Status.DISPATCHED, Status.REOPENED):
        return None
    entry = (
        TimelineEntry.objects.filter(ticket=ticket, action__in=(Action.DISPATCH, Action.REASSIGN, Action.REOPEN))
        .order_by("-at", "-id")
        .values_list("data", flat=True)
        .first()
    )
    value = (entry or {}).get("accept_by")
    return datetime.datetime.fromisoformat(value) if value else None
