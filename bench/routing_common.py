"""Shared set-up of the routing benchmarks: Django against a bench database, demo-city data, rules, reporting.

The benchmarks are scripts, not tests: each one prints its figures and a PASS / FAIL line per
target from issue 4, and exits 1 when a target is missed. See bench/README.md.
"""

import argparse
import datetime
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/routebench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/6"
RULE_NOTE = "bench:routing"  # marks the rules these benchmarks write, with their count and seed


# --- Django against a bench database ----------------------------------------------------------


def arguments(description: str, *, database: str = DEFAULT_DATABASE) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run with small numbers")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", database),
        help=f"the bench database, created if missing; its data is replaced (default {database})",
    )
    parser.add_argument("--seed", type=int, default=12345)
    return parser


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            say(f"creating database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def django_setup(
    database_url: str, *, redis_url: str | None = None, production: bool = True, options: dict | None = None
) -> None:
    """Configure Django for the bench database and migrate it.

    `production` runs with DEBUG off, as a deployment does: no query log kept per request, the
    production security middleware settings. Requests then come "from the proxy" over HTTPS.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    if production:
        os.environ["DJANGO_DEBUG"] = "0"
        os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
        os.environ.setdefault("HOTLINE_PII_KEY", "bench-only-pii-key")
        os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")
    if database_url.startswith(("postgres://", "postgresql://")):
        _ensure_postgres_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    if options:  # database OPTIONS to try out (e.g. server_side_binding), before the first connection
        connections["default"].close()
        connections["default"].settings_dict.setdefault("OPTIONS", {}).update(options)

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    say(f"database migrated ({time.perf_counter() - started:.1f} s)")


# --- printing --------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"  · {message}", flush=True)


class Progress:
    """`done/total` with rate and time, printed at most every `every` seconds (and at the end)."""

    def __init__(self, label: str, total: int, *, every: float = 2.0):
        self.label, self.total, self.every = label, total, every
        self.started = self.last = time.perf_counter()
        self.shown = -1

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if done == self.shown or (done < self.total and now - self.last < self.every):
            return
        self.last, self.shown = now, done
        elapsed = now - self.started
        rate = done / elapsed if elapsed else 0.0
        print(
            f"  · {self.label}: {done:,}/{self.total:,} ({100 * done / max(self.total, 1):.0f} %, "
            f"{elapsed:.1f} s, {rate:,.0f}/s)",
            flush=True,
        )


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python, and the database server's version."""
    from django.db import connection

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
        else:
            database = f"{connection.vendor} {connection.Database.sqlite_version}"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "python": platform.python_version(),
        "database": database,
    }


def load_average() -> str:
    """The machine's 1-minute load average: other processes' work shows in wall-clock latencies."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def print_header(title: str) -> None:
    info = machine()
    print(f"\n== {title}")
    print(f"   {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; Python {info['python']}; {info['database']}")
    print(f"   load average at start: {load_average()}")


@dataclass
class Report:
    """The figures of one run and the verdict on each target."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def figure(self, label: str, value: str) -> None:
        print(f"   {label:<52} {value}", flush=True)

    def target(self, label: str, value: float, target: float, unit: str, *, higher_is_better: bool) -> bool:
        met = value >= target if higher_is_better else value < target
        relation = "≥" if higher_is_better else "<"
        verdict = "PASS" if met else "FAIL"
        print(f"   {verdict}  {label}: {value:,.1f} {unit} (target {relation} {target:,.0f} {unit})", flush=True)
        self.results.append((label, met))
        return met

    def check(self, label: str, ok: bool, detail: str = "") -> bool:
        print(f"   {'PASS' if ok else 'FAIL'}  {label}{': ' + detail if detail else ''}", flush=True)
        self.results.append((label, ok))
        return ok

    def exit(self) -> None:
        failed = [label for label, ok in self.results if not ok]
        print(f"\n   {'all targets met' if not failed else 'MISSED: ' + '; '.join(failed)}", flush=True)
        sys.exit(1 if failed else 0)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 500 samples is the 495th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def latency_summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(samples_ms),
        "p50": percentile(samples_ms, 0.50),
        "p90": percentile(samples_ms, 0.90),
        "p99": percentile(samples_ms, 0.99),
        "max": max(samples_ms),
    }


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
        add(name=f"紧急：{phrases[0]}", priority=10, keywords=phrases, lead_department=dep[code], urgency="urgent")
        add(name=f"紧急：{phrases[0]}（自动派单）", priority=11, keywords=phrases, urgencies=("urgent",),
            lead_department=dep[code], urgency="urgent", limit_hours=2, auto_dispatch=True)  # fmt: skip
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
    # The catch-all per leaf: the category alone, tried last.
    for leaf in leaves:
        add(
            name=f"{leaf.name}（兜底）",
            priority=900,
            categories=(cat[leaf.code],),
            lead_department=dep[leaf.department],
        )
    return specs[:count]


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


# --- bulk rows ------------------------------------------------------------------------------------


def rows_insert(model: Any, rows: Iterable[dict[str, Any]], *, total: int, label: str, batch: int = 20_000) -> int:
    """Insert plain rows (attname -> value) into `model`'s table: COPY on PostgreSQL, bulk_create elsewhere.

    Every column the row leaves out gets the field's default, so the benchmarks keep working
    when the model gains a column. Values must be what the driver takes as is (str, int, aware
    datetime, None). Returns the number of rows inserted.
    """
    from django.db import connection, transaction

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields}
    progress = Progress(label, total)
    done = 0
    if connection.vendor != "postgresql":
        chunk: list[Any] = []
        for row in rows:
            chunk.append(model(**row))
            if len(chunk) == batch:
                model.objects.bulk_create(chunk)
                done += len(chunk)
                chunk = []
                progress.update(done)
        model.objects.bulk_create(chunk)
        progress.update(done + len(chunk))
        return done + len(chunk)
    names = [f.attname for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] if name in row else defaults[name] for name in names])
                done += 1
                if done % batch == 0:
                    progress.update(done)
        progress.update(done)
    say(f"{label}: committed ({time.perf_counter() - progress.started:.1f} s)")
    return done


def meta_get(key: str) -> str | None:
    """A value the set-up left in the bench database (what was generated, with which parameters)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS routing_bench_meta (key varchar(100) PRIMARY KEY, value text)")
        cursor.execute("SELECT value FROM routing_bench_meta WHERE key = %s", [key])
        row = cursor.fetchone()
    return row[0] if row else None


def meta_set(key: str, value: str) -> None:
    from django.db import connection

    meta_get(key)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM routing_bench_meta WHERE key = %s", [key])
        cursor.execute("INSERT INTO routing_bench_meta (key, value) VALUES (%s, %s)", [key, value])


def explain_call(function: Callable[[], Any], *, analyze: bool = True) -> list[str]:
    """Run `function` and return the plan of the last query it ran (EXPLAIN ANALYZE on PostgreSQL)."""
    from django.db import connection

    seen: list[tuple[str, Any]] = []

    def capture(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        function()
    sql, params = seen[-1]
    if connection.vendor == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN"
    else:
        prefix = "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{prefix} {sql}", params)
        return [str(row[-1]) for row in cursor.fetchall()]


def print_plan(lines: list[str]) -> None:
    for line in lines:
        print(f"      {line}")


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started
