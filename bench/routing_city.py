"""The demo city as the routing benchmarks see it: reference rows, a generated rule book, tickets as typed.

Everything is generated from tickets.demo (departments, districts, the category tree and the
ticket templates) with a seed, so two runs with the same parameters build the same rules and
the same tickets.
"""

import datetime
import random
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bench.routing_common import Progress, say

RULE_NOTE = "bench:routing v2"  # marks the rules these benchmarks write, with their count and seed


# --- the demo city -----------------------------------------------------------------------------


@dataclass
class City:
    """The demo city's reference rows, by code."""

    departments: dict[str, Any]
    districts: dict[str, Any]
    categories: dict[str, Any]

    @property
    def leaves(self) -> list[Any]:
        from tickets.demo import CATEGORIES

        return [leaf for root in CATEGORIES for leaf in root.leaves]


def city_load() -> City:
    """Departments, districts and the category tree of the demo city (tickets.demo), created if missing."""
    from tickets.demo import CATEGORIES, DEPARTMENTS, DISTRICTS
    from tickets.models import Category, Department, District

    departments = {
        d.code: Department.objects.get_or_create(code=d.code, defaults={"name": d.name, "name_en": d.name_en})[0]
        for d in DEPARTMENTS
    }
    districts = {
        d.code: District.objects.get_or_create(code=d.code, defaults={"name": d.name, "name_en": d.name_en})[0]
        for d in DISTRICTS
    }
    categories = {}
    for sort, root in enumerate(CATEGORIES, start=1):
        parent = Category.objects.get_or_create(
            code=root.code, defaults={"name": root.name, "name_en": root.name_en, "sort": sort}
        )[0]
        categories[root.code] = parent
        for leaf_sort, leaf in enumerate(root.leaves, start=1):
            categories[leaf.code] = Category.objects.get_or_create(
                code=leaf.code,
                defaults={"parent": parent, "name": leaf.name, "name_en": leaf.name_en, "sort": leaf_sort},
            )[0]
    return City(departments, districts, categories)


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_PLACEHOLDER = re.compile(r"\{[a-z]+\}")


def _phrases(rng: random.Random, texts: Iterable[str], count: int) -> list[str]:
    """`count` Chinese phrases of 2–4 characters cut from `texts` (runs of CJK characters only)."""
    runs = [run for text in texts for run in _CJK_RUN.findall(_PLACEHOLDER.sub("，", text))]
    phrases: list[str] = []
    for _attempt in range(count * 10):
        if len(phrases) == count or not runs:
            break
        run = rng.choice(runs)
        length = rng.choice((2, 3, 3, 4, 4))
        if len(run) < length:
            continue
        start = rng.randrange(len(run) - length + 1)
        phrase = run[start : start + length]
        if phrase not in phrases:
            phrases.append(phrase)
    return phrases


# Hand-written rules first: what a hotline's rule book starts with (urgent hazards, night noise, repeat complainants).
_URGENT_PHRASES = (
    ("gas", ("燃气泄漏", "煤气味", "漏气", "闻到燃气")),
    ("power", ("停电", "电线掉落", "变压器冒烟")),
    ("water", ("停水", "爆管", "水管破裂")),
    ("fire", ("消防通道", "安全出口被锁", "楼道充电")),
    ("urban", ("路灯不亮", "井盖缺失", "树木倒伏")),
    ("transport", ("路面塌陷", "红绿灯故障")),
    ("police", ("聚众赌博", "打架斗殴")),
)


def rule_specs_generate(city: City, count: int, *, seed: int) -> list[Any]:
    """`count` valid rules over the demo city: hazards, night noise, repeat callers, local matters, phrases.

    Priorities follow what a rule book does: specific rules (hazard phrases, repeat callers, a
    category in one district for one kind) before general ones (a category anywhere).
    """
    from routing.rules import RuleSpec
    from tickets.demo import CATEGORIES, DISTRICTS

    rng = random.Random(seed)
    dep = {code: d.pk for code, d in city.departments.items()}
    cat = {code: c.pk for code, c in city.categories.items()}
    dis = {code: d.pk for code, d in city.districts.items()}
    note = f"{RULE_NOTE} n={count} seed={seed}"
    specs: list[RuleSpec] = []

    def add(**values: Any) -> None:
        specs.append(RuleSpec(note=note, **values))

    for code, phrases in _URGENT_PHRASES:
        # An urgent hazard goes out at once; the same phrases on a ticket not marked urgent wait for an operator.
        add(name=f"紧急：{phrases[0]}（自动派单）", priority=10, keywords=phrases, urgencies=("urgent",),
            lead_department=dep[code], urgency="urgent", limit_hours=2, auto_dispatch=True)  # fmt: skip
        add(name=f"紧急：{phrases[0]}", priority=11, keywords=phrases, lead_department=dep[code], urgency="urgent")
    add(name="夜间噪音扰民", priority=20, keywords=("噪音", "施工", "广场舞"), time_from=datetime.time(22),
        time_to=datetime.time(7), lead_department=dep["police"], assisting_departments=(dep["ecology"],))  # fmt: skip
    add(name="节假日施工噪音", priority=21, categories=(cat["noise"],), day_type="off", lead_department=dep["urban"])
    for root in CATEGORIES:
        lead = dep[root.leaves[0].department]
        add(name=f"重复投诉：{root.name}", priority=30, kinds=("complaint",), categories=(cat[root.code],),
            repeat_count=3, repeat_days=30, lead_department=lead, urgency="urgent")  # fmt: skip
    leaves = [leaf for root in CATEGORIES for leaf in root.leaves]
    # Local matters (属地管理) go to the district's government, with the department assisting.
    for leaf in leaves:
        if not leaf.local:
            continue
        for district in DISTRICTS:
            assisting = (dep[leaf.department],) if dep[leaf.department] != dep[district.government] else ()
            add(name=f"{district.name}{leaf.name}", priority=100, categories=(cat[leaf.code],),
                districts=(dis[district.code],), lead_department=dep[district.government],
                assisting_departments=assisting, auto_dispatch=True)  # fmt: skip
    # Phrase rules per category leaf and kind, some per district: the bulk of a real rule book.
    kinds = ("complaint", "report", "help", "consultation", "suggestion")
    channels = ("phone", "web", "app", "open311", "walk_in")
    number = 0
    while len(specs) < count - len(leaves):
        leaf = leaves[number % len(leaves)]
        number += 1
        texts = [t.title + t.description for t in leaf.templates]
        kind = rng.choice(kinds)
        values: dict[str, Any] = {
            "name": f"{leaf.name}关键词 {number}",
            "priority": 200 + rng.randrange(600),
            "categories": (cat[leaf.code],) if rng.random() < 0.6 else (),
            "keywords": tuple(_phrases(rng, texts, rng.randint(1, 4))),
            "kinds": (kind,) if rng.random() < 0.7 else (),
            "lead_department": dep[leaf.department],
            "auto_dispatch": rng.random() < 0.3,
        }
        if rng.random() < 0.35:
            values["districts"] = tuple(dis[d.code] for d in rng.sample(DISTRICTS, rng.randint(1, 3)))
        if rng.random() < 0.1:
            values["channels"] = tuple(rng.sample(channels, 2))
        if leaf.assist and rng.random() < 0.5:
            values["assisting_departments"] = (dep[leaf.assist],)
        if kind in ("complaint", "report") and rng.random() < 0.3:
            values["limit_working_days"] = rng.choice((3, 5, 10, 15))
        if not values["keywords"]:
            values["keywords"] = (leaf.name,)
        add(**values)
    # The catch-all per leaf: the category alone, tried last. Kept whole when `count` is small (a
    # smoke run), so that every ticket still has a suggestion; the hand-written rules give way first.
    fallbacks = [
        RuleSpec(
            note=note,
            name=f"{leaf.name}（兜底）",
            priority=900,
            categories=(cat[leaf.code],),
            lead_department=dep[leaf.department],
        )
        for leaf in leaves
    ]
    return specs[: max(0, count - len(fallbacks))] + fallbacks[:count]


def rules_install(city: City, count: int, *, seed: int) -> float:
    """Replace the rules with `count` generated ones through routing.actions.rules_apply; seconds taken.

    Kept when the bench rules of this count and seed are already there (a re-run skips the writes).
    """
    from routing.actions import rules_apply
    from routing.models import Rule
    from routing.rules import RuleChange

    note = f"{RULE_NOTE} n={count} seed={seed}"
    if Rule.objects.count() == count and Rule.objects.filter(note=note).count() == count:
        say(f"{count:,} rules already installed")
        return 0.0
    started = time.perf_counter()
    existing = list(Rule.objects.values_list("pk", flat=True))
    if existing:
        rules_apply(RuleChange(delete=existing), actor=None)
    specs = rule_specs_generate(city, count, seed=seed)
    progress = Progress("saving rules through rules_apply", len(specs))
    for offset in range(0, len(specs), 100):
        rules_apply(RuleChange(save=specs[offset : offset + 100]), actor=None)
        progress.update(min(offset + 100, len(specs)))
    return time.perf_counter() - started


# --- tickets as the operators type them ----------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """One ticket as an operator registers it: the fields routing looks at."""

    kind: str
    channel: str
    urgency: str
    title: str
    description: str
    district: str  # code
    category: str  # leaf code
    caller_number: str
    at: datetime.datetime


def bodies_generate(count: int, *, seed: int, now: datetime.datetime) -> list[Body]:
    """`count` tickets from the demo city's templates, spread over districts, channels and the last month."""
    from tickets.demo import CATEGORIES, CHANNEL_WEIGHTS, DISTRICT_WEIGHTS, DISTRICTS_BY_CODE, ESTATES, URGENT_LEAVES

    rng = random.Random(seed + 1)
    pairs = [(leaf, template) for root in CATEGORIES for leaf in root.leaves for template in leaf.templates]
    district_codes, district_weights = zip(*DISTRICT_WEIGHTS.items(), strict=True)
    channel_names, channel_weights = zip(*CHANNEL_WEIGHTS.items(), strict=True)
    bodies = []
    for _number in range(count):
        leaf, template = rng.choice(pairs)
        district = rng.choices(district_codes, district_weights)[0]
        place = {
            "estate": rng.choice(ESTATES),
            "building": str(rng.randint(1, 30)),
            "road": rng.choice(DISTRICTS_BY_CODE[district].roads),
        }
        bodies.append(
            Body(
                kind=template.kind,
                channel=rng.choices(channel_names, channel_weights)[0],
                urgency="urgent" if leaf.code in URGENT_LEAVES and rng.random() < 0.3 else "normal",
                title=template.title,
                description=template.description.format(**place),
                district=district,
                category=leaf.code,
                caller_number=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                at=now - datetime.timedelta(seconds=rng.randrange(30 * 86400)),
            )
        )
    return bodies
