"""Rules as plain values: the spec, reading it from the database, validating it, and a change of the ruleset."""

import dataclasses
import datetime
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from tickets.models import Category, Channel, Department, District, Kind, Urgency

from ..models import DayType, Rule, validate_time_limit

__all__ = [
    "CONDITIONS",
    "SPEC_FIELDS",
    "RuleChange",
    "RuleSpec",
    "normalize_text",
    "rule_specs",
    "rules_proposed",
    "rules_validate",
]

MAX_KEYWORDS = 200
MAX_KEYWORD_LENGTH = 50
MAX_REPEAT_DAYS = 366
MAX_REPEAT_TICKETS = 1000
# The conditions in the order explain lists them; each is one "code" in its output.
CONDITIONS = ("kind", "category", "district", "keywords", "urgency", "channel", "repeat_caller", "time_window", "days")


@dataclass(frozen=True)
class RuleSpec:
    """A rule as plain values (ids for relations): what is validated, compiled, simulated and saved."""

    id: int | None = None
    name: str = ""
    priority: int = 100
    is_active: bool = True
    note: str = ""
    kinds: tuple[str, ...] = ()
    categories: tuple[int, ...] = ()
    districts: tuple[int, ...] = ()
    keywords: tuple[str, ...] = ()
    urgencies: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    repeat_count: int | None = None
    repeat_days: int | None = None
    time_from: datetime.time | None = None
    time_to: datetime.time | None = None
    day_type: str = ""
    lead_department: int | None = None
    assisting_departments: tuple[int, ...] = ()
    urgency: str = ""
    limit_working_days: int | None = None
    limit_hours: int | None = None
    auto_dispatch: bool = False
    close_first_contact: bool = False

    @property
    def has_conditions(self) -> bool:
        return bool(
            self.kinds
            or self.categories
            or self.districts
            or self.keywords
            or self.urgencies
            or self.channels
            or self.repeat_count is not None
            or self.repeat_days is not None
            or self.time_from is not None
            or self.time_to is not None
            or self.day_type
        )

    @property
    def sort_key(self) -> tuple[int, float]:
        # Ties go to the older rule; an unsaved rule (simulation) comes after saved ones of its priority.
        return (self.priority, self.id if self.id is not None else float("inf"))

    def replace(self, **changes: Any) -> "RuleSpec":
        return dataclasses.replace(self, **changes)


SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(RuleSpec))
_M2M = {"categories": "category_id", "districts": "district_id", "assisting_departments": "department_id"}


def rule_specs() -> list[RuleSpec]:
    """Every rule, active or not, in priority order: one query for the rules and one per relation."""
    related: dict[str, dict[int, list[int]]] = {}
    for name, column in _M2M.items():
        through = getattr(Rule, name).through
        by_rule: dict[int, list[int]] = {}
        for rule_id, other in through.objects.order_by("id").values_list("rule_id", column):
            by_rule.setdefault(rule_id, []).append(other)
        related[name] = by_rule
    plain = [f for f in SPEC_FIELDS if f not in _M2M and f not in ("id", "lead_department")]
    specs = []
    for row in Rule.objects.order_by("priority", "id").values("id", "lead_department_id", *plain):
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in row.items() if k in plain}
        specs.append(
            RuleSpec(
                id=row["id"],
                lead_department=row["lead_department_id"],
                **values,
                **{name: tuple(related[name].get(row["id"], ())) for name in _M2M},
            )
        )
    return specs


# --- validation ------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """The form both phrases and ticket text are compared in: NFKC (full-width → ASCII), case-folded, no spaces."""
    return "".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def _clean_keywords(keywords: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    cleaned: list[str] = []
    errors: list[str] = []
    seen: set[str] = set()
    for raw in keywords:
        phrase = " ".join(str(raw).split())
        if not phrase:
            continue
        if len(phrase) > MAX_KEYWORD_LENGTH:
            errors.append(
                _("“%(phrase)s…” is longer than %(max)d characters.")
                % {"phrase": phrase[:10], "max": MAX_KEYWORD_LENGTH}
            )
            continue
        key = normalize_text(phrase)
        if not key.isprintable():
            errors.append(_("“%(phrase)s” contains control characters.") % {"phrase": phrase})
        elif key not in seen:
            seen.add(key)
            cleaned.append(phrase)
    if len(cleaned) > MAX_KEYWORDS:
        errors.append(_("At most %(max)d keywords per rule.") % {"max": MAX_KEYWORDS})
    return tuple(cleaned), errors


@dataclass
class _Known:
    """The reference data a batch of specs may name, loaded in one query per table."""

    departments: dict[int, Department]
    categories: set[int]
    districts: set[int]

    @classmethod
    def load(cls, specs: Iterable[RuleSpec]) -> "_Known":
        specs = list(specs)
        departments = {d for s in specs for d in (s.lead_department, *s.assisting_departments) if d is not None}
        return cls(
            departments=Department.objects.in_bulk(departments),
            categories=set(
                Category.objects.filter(pk__in={c for s in specs for c in s.categories}).values_list("pk", flat=True)
            ),
            districts=set(
                District.objects.filter(pk__in={d for s in specs for d in s.districts}).values_list("pk", flat=True)
            ),
        )


def _unknown(values: Iterable[Any], allowed: Iterable[str], message: str) -> list[str]:
    allowed = set(allowed)
    return [message % {"value": value} for value in values if value not in allowed]


def _check(spec: RuleSpec, known: _Known) -> tuple[RuleSpec, dict[str, list[str]]]:
    """The spec cleaned (keywords tidied, assisting deduplicated) and its errors by field."""
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not spec.name.strip():
        add("name", _("Give the rule a name."))
    if not 0 <= spec.priority <= 1_000_000:
        add("priority", _("The priority must be between 0 and 1000000."))
    for key, values, choices, message in (
        ("kinds", spec.kinds, Kind.values, _("Unknown ticket kind “%(value)s”.")),
        ("urgencies", spec.urgencies, Urgency.values, _("Unknown urgency “%(value)s”.")),
        ("channels", spec.channels, Channel.values, _("Unknown channel “%(value)s”.")),
    ):
        for problem in _unknown(values, choices, message):
            add(key, problem)
    for problem in _unknown(spec.categories, known.categories, _("Unknown category %(value)s.")):
        add("categories", problem)
    for problem in _unknown(spec.districts, known.districts, _("Unknown district %(value)s.")):
        add("districts", problem)
    keywords, keyword_errors = _clean_keywords(spec.keywords)
    for problem in keyword_errors:
        add("keywords", problem)
    spec = spec.replace(keywords=keywords)  # blank phrases are no condition
    if (spec.repeat_count is None) != (spec.repeat_days is None):
        add("repeat_count", _("A repeat caller needs both a number of tickets and a number of days."))
    elif spec.repeat_count is not None and spec.repeat_days is not None:
        if spec.repeat_count < 2:
            add("repeat_count", _("A repeat caller has at least 2 tickets (this one included)."))
        elif spec.repeat_count > MAX_REPEAT_TICKETS:
            add(
                "repeat_count",
                _("Count at most %(max)d tickets for a repeat caller.") % {"max": MAX_REPEAT_TICKETS},
            )
        if not 1 <= spec.repeat_days <= MAX_REPEAT_DAYS:
            add("repeat_days", _("Count a repeat caller's tickets over 1 to %(max)d days.") % {"max": MAX_REPEAT_DAYS})
    if (spec.time_from is None) != (spec.time_to is None):
        add("time_from", _("A time window needs both a start and an end."))
    elif spec.time_from is not None and spec.time_from == spec.time_to:
        add("time_to", _("The time window is empty: it starts and ends at the same time."))
    if spec.day_type not in DayType.values:
        add("day_type", _("Unknown day type “%(value)s”.") % {"value": spec.day_type})
    if not spec.has_conditions:
        add(
            "conditions",
            _("A rule needs at least one condition: a rule that matches every ticket would hide every rule after it."),
        )
    _check_actions(spec, known, add)
    assisting = tuple(dict.fromkeys(spec.assisting_departments))
    return spec.replace(assisting_departments=assisting), errors


def _check_actions(spec: RuleSpec, known: _Known, add: Callable[[str, str], None]) -> None:
    for key, ids in (
        ("lead_department", [spec.lead_department]),
        ("assisting_departments", spec.assisting_departments),
    ):
        for pk in ids:
            if pk is None:
                continue
            department = known.departments.get(pk)
            if department is None:
                add(key, _("Unknown department %(id)s.") % {"id": pk})
            elif not department.is_active:
                add(
                    key,
                    _("The department “%(name)s” is inactive: nothing can be dispatched to it.")
                    % {"name": department.name},
                )
    if spec.lead_department is not None and spec.lead_department in spec.assisting_departments:
        add("assisting_departments", _("The lead department cannot also be an assisting department."))
    if spec.assisting_departments and spec.lead_department is None:
        add("assisting_departments", _("Assisting departments need a lead department."))
    if spec.urgency not in ("", *Urgency.values):
        add("urgency", _("Unknown urgency “%(value)s”.") % {"value": spec.urgency})
    if spec.limit_working_days is not None or spec.limit_hours is not None:
        try:
            validate_time_limit(working_days=spec.limit_working_days, hours=spec.limit_hours)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for key, messages in exc.message_dict.items():
                    for message in messages:
                        add(f"limit_{key}", message)
            else:
                for message in exc.messages:
                    add("time_limit", message)
        if spec.lead_department is None:
            add("time_limit", _("A time limit needs a lead department to apply to."))
    if spec.close_first_contact:
        if tuple(spec.kinds) != (Kind.CONSULTATION,):
            add(
                "close_first_contact",
                _("Closing at first contact is for consultations: limit the rule to the kind “%(kind)s”.")
                % {"kind": Kind.CONSULTATION.label},
            )
        if spec.auto_dispatch:
            add("auto_dispatch", _("A rule cannot both dispatch automatically and close at first contact."))
    elif spec.lead_department is None:
        add("lead_department", _("Choose the lead department (or close consultations at first contact)."))
    if spec.auto_dispatch and spec.lead_department is None and not spec.close_first_contact:
        add("auto_dispatch", _("Automatic dispatch needs a lead department."))


def rules_validate(specs: Iterable[RuleSpec]) -> list[RuleSpec]:
    """The specs cleaned, or ValidationError naming each bad field (one rule: by field; several: by position)."""
    specs = list(specs)
    known = _Known.load(specs)
    cleaned, problems = [], {}
    for index, spec in enumerate(specs):
        spec, errors = _check(spec, known)
        cleaned.append(spec)
        if errors:
            problems[index] = errors
    if problems:
        if len(specs) == 1:
            raise ValidationError(problems[0])
        raise ValidationError(
            {f"save.{index}.{key}": messages for index, errors in problems.items() for key, messages in errors.items()}
        )
    return cleaned


@dataclass
class RuleChange:
    """A change of the ruleset, applied (routing.actions.rules_apply) or tried out (simulate) as one."""

    save: list[RuleSpec] = field(default_factory=list)  # id None: a new rule
    delete: list[int] = field(default_factory=list)
    order: list[int] | None = None  # every remaining saved rule's id, first to last

    @property
    def is_empty(self) -> bool:
        return not (self.save or self.delete or self.order)


def rules_proposed(current: list[RuleSpec], change: RuleChange) -> tuple[list[RuleSpec], list[RuleSpec]]:
    """(the ruleset `change` would leave in priority order, the saved specs cleaned in the order given).

    ValidationError when any part of the change is wrong: then nothing of it may be applied.
    """
    if change.is_empty:
        raise ValidationError({"save": _("Nothing to change: send rules to save, delete or reorder.")})
    by_id = {spec.id: spec for spec in current}
    errors: dict[str, list[str]] = {}
    for pk in [spec.id for spec in change.save if spec.id is not None] + list(change.delete):
        if pk not in by_id:
            errors.setdefault("rules", []).append(_("Unknown rule %(id)s.") % {"id": pk})
    both = {spec.id for spec in change.save} & set(change.delete)
    if both:
        errors.setdefault("delete", []).append(_("A rule cannot be saved and deleted at once."))
    if errors:
        raise ValidationError(errors)
    saved = rules_validate(change.save) if change.save else []
    result = {spec.id: spec for spec in current if spec.id not in change.delete}
    result.update({spec.id: spec for spec in saved if spec.id is not None})
    proposed = list(result.values()) + [spec for spec in saved if spec.id is None]
    if change.order is not None:
        remaining = set(result)
        if sorted(change.order) != sorted(remaining) or len(set(change.order)) != len(change.order):
            raise ValidationError(
                {"order": _("List every rule exactly once: %(ids)s.") % {"ids": ", ".join(map(str, sorted(remaining)))}}
            )
        priority = {pk: (position + 1) * 10 for position, pk in enumerate(change.order)}
        proposed = [spec.replace(priority=priority[spec.id]) if spec.id in priority else spec for spec in proposed]
        saved = [spec.replace(priority=priority[spec.id]) if spec.id in priority else spec for spec in saved]
    return sorted(proposed, key=lambda spec: spec.sort_key), saved
