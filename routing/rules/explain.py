"""Explanation: each condition a rule sets, whether it holds for a ticket and why, in words."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from ..calendar import is_working_day
from ..models import DayType
from .matching import Facts, in_window, minutes
from .spec import RuleSpec, normalize_text

__all__ = ["Condition", "rule_conditions"]

# --- explanation: each condition of one rule, in words ---------------------------------------------


@dataclass(frozen=True)
class Condition:
    code: str  # one of CONDITIONS
    held: bool
    detail: str


def _labels(values: Iterable[Any], names: dict[Any, str]) -> str:
    return "、".join(str(names.get(value, value)) for value in values)


def _is_one_of(code: str, value: Any, allowed: Iterable[Any], names: dict[Any, str]) -> Condition:
    allowed = tuple(allowed)
    held = value in allowed
    params = {
        "value": names.get(value, value) if value not in (None, "") else _("(none)"),
        "allowed": _labels(allowed, names),
    }
    message = _("“%(value)s” is one of: %(allowed)s.") if held else _("“%(value)s” is not one of: %(allowed)s.")
    return Condition(code, held, message % params)


def rule_conditions(rule: RuleSpec, facts: Facts, names: dict[str, dict[Any, str]]) -> list[Condition]:
    """Each condition `rule` sets, whether it holds for `facts` and why; `names` maps ids and codes to labels.

    Evaluated directly from the spec, independently of the compiled masks (the tests compare both).
    """
    result: list[Condition] = []
    if rule.kinds:
        result.append(_is_one_of("kind", facts.kind, rule.kinds, names.get("kinds", {})))
    if rule.categories:
        categories = names.get("categories", {})
        inside = [c for c in rule.categories if c in facts.categories]
        own = categories.get(facts.categories[-1], facts.categories[-1]) if facts.categories else _("(none)")
        if inside:
            detail = _("The category “%(value)s” lies under “%(rule)s”.") % {
                "value": own,
                "rule": categories.get(inside[0], inside[0]),
            }
        else:
            detail = _("The category “%(value)s” lies under none of: %(allowed)s.") % {
                "value": own,
                "allowed": _labels(rule.categories, categories),
            }
        result.append(Condition("category", bool(inside), detail))
    if rule.districts:
        result.append(_is_one_of("district", facts.district, rule.districts, names.get("districts", {})))
    if rule.keywords:
        found = [phrase for phrase in rule.keywords if normalize_text(phrase) in facts.text]
        if found:
            detail = _("Found “%(found)s” in the title or description.") % {"found": "”, “".join(found)}
        else:
            detail = _("None of “%(allowed)s” is in the title or description.") % {
                "allowed": "”, “".join(rule.keywords)
            }
        result.append(Condition("keywords", bool(found), detail))
    if rule.urgencies:
        result.append(_is_one_of("urgency", facts.urgency, rule.urgencies, names.get("urgencies", {})))
    if rule.channels:
        result.append(_is_one_of("channel", facts.channel, rule.channels, names.get("channels", {})))
    if rule.repeat_count is not None and rule.repeat_days is not None:
        count = facts.repeats(rule.repeat_days)
        detail = _("The caller has %(count)d tickets in the last %(days)d days, this one included (%(needed)d needed).")
        params = {"count": count, "days": rule.repeat_days, "needed": rule.repeat_count}
        result.append(Condition("repeat_caller", count >= rule.repeat_count, detail % params))
    local = facts.local_at
    if rule.time_from is not None and rule.time_to is not None:
        window = (minutes(rule.time_from), minutes(rule.time_to))
        held = in_window(local.hour * 60 + local.minute, window)
        params = {"time": f"{local:%H:%M}", "from": f"{rule.time_from:%H:%M}", "to": f"{rule.time_to:%H:%M}"}
        message = (
            _("Received at %(time)s, within %(from)s–%(to)s.")
            if held
            else _("Received at %(time)s, outside %(from)s–%(to)s.")
        )
        result.append(Condition("time_window", held, message % params))
    if rule.day_type:
        working = is_working_day(local.date())
        message = _("%(date)s is a working day.") if working else _("%(date)s is a day off.")
        held = working == (rule.day_type == DayType.WORKING)
        result.append(Condition("days", held, message % {"date": local.date().isoformat()}))
    return result
