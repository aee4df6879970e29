"""Matching: the facts a rule looks at, the compiled ruleset (bit masks + Aho–Corasick) and the process's cache."""

import datetime
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from tickets import clock
from tickets.models import Category, Channel, Kind, Status, Ticket, Urgency
from tickets.pii import phone_lookup_key

from ..calendar import SHANGHAI, is_working_day
from ..models import DayType, RulesetVersion
from .spec import RuleSpec, normalize_text, rule_specs

__all__ = [
    "Facts",
    "Ruleset",
    "facts_for_body",
    "facts_for_ticket",
    "facts_prefetch_repeats",
    "in_window",
    "minutes",
    "rules_cache_clear",
    "rules_changed",
    "ruleset",
]

# --- facts: what the conditions look at ----------------------------------------------------------


# A draft is a call still open and a cancelled ticket was nothing to record: neither makes a repeat caller.
_NOT_COUNTED = (Status.DRAFT, Status.CANCELLED)


def _repeat_count(facts: "Facts", days: int) -> int:
    """The caller's tickets within `days` before the facts' time, this one included.

    One query; the (caller_number, created_at) index (routing migration 0006) and the citizen
    foreign key's index keep it short whatever the size of the ticket table.
    """
    identity = Q()
    if facts.citizen_id:
        identity |= Q(citizen_id=facts.citizen_id)
    if facts.caller_number:
        identity |= Q(caller_number=facts.caller_number)
    if not identity:
        return 1  # an anonymous caller cannot be recognised
    earlier = Ticket.objects.filter(identity, created_at__gte=facts.at - datetime.timedelta(days=days))
    earlier = earlier.filter(created_at__lte=facts.at).exclude(status__in=_NOT_COUNTED)
    if facts.ticket_id is not None:
        earlier = earlier.exclude(pk=facts.ticket_id)
    return earlier.count() + 1


def facts_prefetch_repeats(facts: list["Facts"], *, days: int) -> None:
    """Give every one of `facts` its callers' tickets of the last `days` days from one query.

    For bulk matching (simulate, the benchmark): afterwards no repeat-caller condition of up to
    `days` days queries the database. Counts exactly as the per-ticket query does.
    """
    citizens = {f.citizen_id for f in facts if f.citizen_id}
    callers = {f.caller_number for f in facts if f.caller_number}
    if days <= 0 or not facts or not (citizens or callers):
        return
    identity = Q()
    if citizens:
        identity |= Q(citizen_id__in=citizens)
    if callers:
        identity |= Q(caller_number__in=callers)
    since = min(f.at for f in facts) - datetime.timedelta(days=days)
    # Unordered and fetched whole: a batch's callers have a few rows each. Through a server-side cursor
    # (iterator()) PostgreSQL plans for the first rows and, to skip the Meta ordering's sort, walks every
    # ticket of the window by created_at instead of the caller-number index: ten times slower at 200,000.
    rows = (
        Ticket.objects.filter(identity, created_at__gte=since, created_at__lte=max(f.at for f in facts))
        .exclude(status__in=_NOT_COUNTED)
        .order_by()
        .values_list("pk", "citizen_id", "caller_number", "created_at")
    )
    by_citizen: dict[int, list[tuple[int, datetime.datetime]]] = {}
    by_caller: dict[str, list[tuple[int, datetime.datetime]]] = {}
    for pk, citizen, caller, created in rows:
        if citizen in citizens:
            by_citizen.setdefault(citizen, []).append((pk, created))
        if caller in callers:
            by_caller.setdefault(caller, []).append((pk, created))

    def count(one: Facts, window: int) -> int:
        if window > days:
            return _repeat_count(one, window)  # beyond what was fetched
        if not (one.citizen_id or one.caller_number):
            return 1
        start = one.at - datetime.timedelta(days=window)
        history = by_citizen.get(one.citizen_id, []) + by_caller.get(one.caller_number, [])
        return len({pk for pk, created in history if start <= created <= one.at and pk != one.ticket_id}) + 1

    for one in facts:
        one.count_repeats = count


@dataclass
class Facts:
    """What the rules look at, from a ticket or a draft body; the repeat count is queried only if a rule asks."""

    kind: str = Kind.CONSULTATION
    urgency: str = Urgency.NORMAL
    channel: str = Channel.PHONE
    district: int | None = None
    category_path: str = ""
    title: str = ""
    description: str = ""
    at: datetime.datetime = field(default_factory=clock.now)
    ticket_id: int | None = None
    citizen_id: int | None = None
    caller_number: str = ""
    count_repeats: Callable[["Facts", int], int] = _repeat_count
    _repeats: dict[int, int] = field(default_factory=dict, repr=False)
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        if self._text is None:
            # A separator no phrase can contain: a phrase never spans the title and the description.
            self._text = normalize_text(self.title) + "\x00" + normalize_text(self.description)
        return self._text

    @property
    def categories(self) -> tuple[int, ...]:
        """The ticket's category and every ancestor, from the materialised path."""
        return tuple(int(part) for part in self.category_path.strip("/").split("/") if part)

    @property
    def local_at(self) -> datetime.datetime:
        return timezone.localtime(self.at, SHANGHAI)

    def repeats(self, days: int) -> int:
        if days not in self._repeats:
            self._repeats[days] = self.count_repeats(self, days)
        return self._repeats[days]


def facts_for_ticket(ticket: Ticket) -> Facts:
    """The facts of a saved ticket, at the time it was received."""
    return Facts(
        kind=ticket.kind,
        urgency=ticket.urgency,
        channel=ticket.channel,
        district=ticket.district_id,
        category_path=ticket.category.path if ticket.category_id else "",
        title=ticket.title,
        description=ticket.description,
        at=ticket.created_at,
        ticket_id=ticket.pk,
        citizen_id=ticket.citizen_id,
        caller_number=ticket.caller_number,
    )


def facts_for_body(body: dict[str, Any]) -> Facts:
    """The facts of a ticket not yet saved (the operator's form), received now."""
    category = body.get("category")
    district = body.get("district")
    citizen = body.get("citizen")
    caller = body.get("caller_number") or ""
    return Facts(
        kind=body.get("kind") or Kind.CONSULTATION,
        urgency=body.get("urgency") or Urgency.NORMAL,
        channel=body.get("channel") or Channel.PHONE,
        district=getattr(district, "pk", district),
        category_path=category.path if isinstance(category, Category) else "",
        title=body.get("title") or "",
        description=body.get("description") or "",
        citizen_id=getattr(citizen, "pk", citizen),
        caller_number=(phone_lookup_key(caller) or caller[:20]) if caller else "",
    )


# --- compiled ruleset ------------------------------------------------------------------------------


class _Automaton:
    """Aho–Corasick over normalised phrases: every phrase found in one pass, overlapping ones included."""

    def __init__(self, phrases: list[str]):
        self.goto: list[dict[str, int]] = [{}]
        fail = [0]
        self.out: list[tuple[int, ...]] = [()]
        for index, phrase in enumerate(phrases):
            state = 0
            for char in phrase:
                nxt = self.goto[state].get(char)
                if nxt is None:
                    self.goto.append({})
                    fail.append(0)
                    self.out.append(())
                    nxt = len(self.goto) - 1
                    self.goto[state][char] = nxt
                state = nxt
            self.out[state] += (index,)
        queue = deque(self.goto[0].values())
        while queue:
            state = queue.popleft()
            for char, nxt in self.goto[state].items():
                queue.append(nxt)
                back = fail[state]
                while back and char not in self.goto[back]:
                    back = fail[back]
                fail[nxt] = self.goto[back].get(char, 0) if state else 0
                self.out[nxt] += self.out[fail[nxt]]
        self.fail = fail

    def find(self, text: str) -> set[int]:
        goto, fail, out = self.goto, self.fail, self.out
        found: set[int] = set()
        state = 0
        for char in text:
            while state and char not in goto[state]:
                state = fail[state]
            state = goto[state].get(char, 0)
            if out[state]:
                found.update(out[state])
        return found


def _index(values_per_rule: list[Iterable[Any]]) -> tuple[int, dict[Any, int]]:
    """(mask of rules without this condition, value -> mask of rules that accept it)."""
    any_mask = 0
    by_value: dict[Any, int] = {}
    for position, values in enumerate(values_per_rule):
        bit = 1 << position
        values = tuple(values)
        if not values:
            any_mask |= bit
        for value in values:
            by_value[value] = by_value.get(value, 0) | bit
    return any_mask, by_value


def minutes(value: datetime.time) -> int:
    return value.hour * 60 + value.minute


class Ruleset:
    """The active rules compiled for matching; immutable, so one instance can be shared by threads."""

    def __init__(self, specs: Iterable[RuleSpec], token: str = ""):
        self.token = token
        self.rules: list[RuleSpec] = sorted((s for s in specs if s.is_active), key=lambda s: s.sort_key)
        rules = self.rules
        self._all = (1 << len(rules)) - 1
        self._kinds = _index([r.kinds for r in rules])
        self._urgencies = _index([r.urgencies for r in rules])
        self._channels = _index([r.channels for r in rules])
        self._districts = _index([r.districts for r in rules])
        self._categories = _index([r.categories for r in rules])
        self._category_masks: dict[str, int] = {}
        phrases: dict[str, int] = {}
        for position, rule in enumerate(rules):
            for phrase in rule.keywords:
                key = normalize_text(phrase)
                phrases[key] = phrases.get(key, 0) | (1 << position)
        self._phrase_masks = list(phrases.values())
        self._automaton = _Automaton(list(phrases))
        self._keyword_any = _index([r.keywords for r in rules])[0]
        self._keyword_rules = self._all & ~self._keyword_any
        # Per rule: the conditions a mask cannot hold, or None.
        self._extra = [self._extra_checks(rule) for rule in rules]
        # The longest repeat-caller window any rule looks back over (0: none), for facts_prefetch_repeats.
        self.repeat_days = max((r.repeat_days or 0 for r in rules if r.repeat_count), default=0)

    @staticmethod
    def _extra_checks(rule: RuleSpec) -> tuple | None:
        window = None
        if rule.time_from is not None and rule.time_to is not None:
            window = (minutes(rule.time_from), minutes(rule.time_to))
        repeat = (rule.repeat_count, rule.repeat_days) if rule.repeat_count and rule.repeat_days else None
        if window is None and not rule.day_type and repeat is None:
            return None
        return window, rule.day_type, repeat

    def __len__(self) -> int:
        return len(self.rules)

    def _category_mask(self, path: str, ancestors: Callable[[], tuple[int, ...]]) -> int:
        mask = self._category_masks.get(path)
        if mask is None:
            any_mask, by_value = self._categories
            mask = any_mask
            for category in ancestors():
                mask |= by_value.get(category, 0)
            self._category_masks[path] = mask
        return mask

    def candidates(self, facts: Facts) -> int:
        """The rules whose discrete conditions (everything but time, days and repeat caller) hold, as a mask."""
        mask = self._all
        for (any_mask, by_value), value in (
            (self._kinds, facts.kind),
            (self._urgencies, facts.urgency),
            (self._channels, facts.channel),
            (self._districts, facts.district),
        ):
            mask &= any_mask | by_value.get(value, 0)
            if not mask:
                return 0
        mask &= self._category_mask(facts.category_path, lambda: facts.categories)
        if mask & self._keyword_rules:
            keyword_mask = self._keyword_any
            for phrase in self._automaton.find(facts.text):
                keyword_mask |= self._phrase_masks[phrase]
            mask &= keyword_mask
        return mask

    def match(self, facts: Facts) -> RuleSpec | None:
        """The first rule, in priority order, whose every condition holds for `facts`; None: manual dispatch."""
        mask = self.candidates(facts)
        while mask:
            lowest = mask & -mask
            position = lowest.bit_length() - 1
            extra = self._extra[position]
            if extra is None or _extra_holds(extra, facts):
                return self.rules[position]
            mask ^= lowest
        return None


def in_window(minute: int, window: tuple[int, int]) -> bool:
    start, end = window
    return start <= minute < end if start < end else minute >= start or minute < end


def _extra_holds(extra: tuple, facts: Facts) -> bool:
    window, day_type, repeat = extra
    if window is not None or day_type:
        local = facts.local_at
        if window is not None and not in_window(local.hour * 60 + local.minute, window):
            return False
        if day_type and is_working_day(local.date()) != (day_type == DayType.WORKING):
            return False
    if repeat is not None:
        count, days = repeat
        return facts.repeats(days) >= count
    return True


# --- the process's compiled ruleset ----------------------------------------------------------------

_compiled: Ruleset | None = None


def rules_cache_clear() -> None:
    """Forget the compiled ruleset in this process (the next `ruleset()` reads the rules again)."""
    global _compiled
    _compiled = None


def _current_token() -> str:
    # Plain SQL: this runs before every match (each registration, each suggestion), and the ORM's
    # query building costs several times the round trip itself.
    table = connection.ops.quote_name(RulesetVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {table} WHERE id = %s", [1])  # noqa: S608 (a model's table name)
        row = cursor.fetchone()
    return (row[0] if row else "") or ""


def ruleset() -> Ruleset:
    """The compiled active rules: one single-row query to see whether they changed, rebuilt only when they did."""
    global _compiled
    token = _current_token()
    compiled = _compiled
    if compiled is None or compiled.token != token:
        # Token first, rules second: a save in between makes the next call rebuild again, never keep stale rules.
        compiled = Ruleset(rule_specs(), token)
        _compiled = compiled
    return compiled


def rules_changed() -> str:
    """Give the ruleset a new token (inside the saving transaction), so every process recompiles; return it."""
    token = uuid.uuid4().hex
    updated = RulesetVersion.objects.filter(pk=1).update(token=token, changed_at=clock.now())
    if not updated:
        RulesetVersion.objects.create(pk=1, token=token)
    rules_cache_clear()
    transaction.on_commit(rules_cache_clear)
    return token
