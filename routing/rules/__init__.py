"""Routing rules as plain Python: the rule spec and its validation, the compiled ruleset and matching, explanation.

Matching design (the benchmark asks for 1,000 rules at 5,000 tickets a second in one process):

- Rules are read once into `RuleSpec`s (five queries, whatever the number of rules) and
  compiled into a `Ruleset`. Each process keeps the compiled ruleset until the token in the
  one-row RulesetVersion table changes; every save sets a new random token (never a counter,
  which a rolled-back save could hand out twice for different rules). `ruleset()` reads that
  token (one single-row query) and recompiles only when it changed; bulk callers (simulate,
  the benchmark) hold one Ruleset and call `match()` without any query.
- Rule i is bit i of a Python int, in priority order. For each discrete condition (kind,
  urgency, channel, district, category subtree, keywords) the ruleset holds a mask of the rules
  that accept a value, plus the mask of rules without that condition. A ticket's candidates
  are the AND of its masks; the first set bit that also passes the remaining conditions (time
  window, day type, repeat caller: per rule, repeat caller queried lazily) is the match.
  Bulk callers fetch the callers' recent tickets for a whole batch in one query first
  (`facts_prefetch_repeats`), so matching itself queries nothing.
- Keywords: one Aho–Corasick automaton over every phrase of every rule finds all phrases in
  one pass over the text, overlapping ones included. Chinese needs no word segmentation for
  this: a phrase is found wherever its characters appear in a row (NFKC, case-folded,
  whitespace removed on both sides). Segmentation would only add a dictionary to maintain.
"""

from .explain import Condition, rule_conditions
from .matching import (
    Facts,
    Ruleset,
    facts_for_body,
    facts_for_ticket,
    facts_prefetch_repeats,
    rules_cache_clear,
    rules_changed,
    ruleset,
)
from .spec import (
    CONDITIONS,
    SPEC_FIELDS,
    RuleChange,
    RuleSpec,
    normalize_text,
    rule_specs,
    rules_proposed,
    rules_validate,
)

__all__ = [
    "CONDITIONS",
    "SPEC_FIELDS",
    "Condition",
    "Facts",
    "RuleChange",
    "RuleSpec",
    "Ruleset",
    "facts_for_body",
    "facts_for_ticket",
    "facts_prefetch_repeats",
    "normalize_text",
    "rule_conditions",
    "rule_specs",
    "rules_cache_clear",
    "rules_changed",
    "rules_proposed",
    "rules_validate",
    "ruleset",
]
