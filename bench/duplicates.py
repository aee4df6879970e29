"""Benchmark: duplicate suggestions (重复件) on a database of 1,000,000 tickets (issue 6: p95 under 100 ms).

    .venv/bin/python bench/duplicates.py [--quick] [--tickets 1000000] [--queries 400] [--reseed]

Seeds a year of tickets into its own PostgreSQL database (default `dupbench`; `--quick`: 50,000
tickets in `dupbench_quick`) with COPY, from the demo city's templates × districts × streets ×
estates × roads, with the wordings operators vary ("市民反映…" / "市民来电称…", an added sentence)
and the statuses a year leaves (old tickets almost all finished, the last weeks' mostly open);
PostgreSQL computes the stored `search_words` as the rows arrive, and the indexes of migration
tickets.0005 are built afterwards. A seeded database is reused when it holds what the arguments ask
for (`--reseed` rebuilds it). After a warm-up it asks for the suggestions of drafts typed the same
way (a third without an address, a fifth from a number that called before), as the operator
console does (tickets.duplicates.duplicates_for_draft: the candidates' query, the scoring, the
reasons), of saved open tickets (duplicates_for_ticket), and of drafts through the API in process
(POST /api/tickets/duplicates/), and prints the latencies, the load average (`uptime`'s figures:
the machine is shared), the plan of one candidates' query, and PASS / MISS per target; the exit
status is 1 when a target is missed.
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
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/dupbench"
TARGET_P95_MS = 100.0
DAYS = 365
WARM_UP = 50
CITIZENS = 100_000
PHONES = 400_000  # callers' numbers: a tenth of the tickets come from someone who called before

OPENERS = ("市民反映", "市民来电反映", "来电人称", "市民称", "市民来电表示", "市民投诉")
# Sentences operators add; some of them make a second report of the same matter read differently.
ADDITIONS = (
    "",
    "",
    "",
    "情况已持续一周。",
    "希望有关部门尽快处理。",
    "此前已向社区反映过，没有结果。",
    "周边居民意见很大。",
    "请相关部门核实处理。",
    "市民要求回电告知处理结果。",
    "存在安全隐患。",
)
OPEN = ("registered", "dispatched", "accepted", "extension_requested", "returned", "replied", "reopened")
OPEN_RECENT = ("registered", "dispatched", "accepted", "accepted", "accepted", "replied", "returned")
OPEN_OLD = ("replied", "accepted", "extension_requested", "reopened", "dispatched")
CLOSED = ("closed",) * 8 + ("closed_first_contact",) * 2
FINISHED_OTHER = ("merged", "cancelled")


# --- set-up and printing (self-contained: the other benchmarks' helpers change under them) -------------


def say(message: str) -> None:
    print(f"  · {message}", file=sys.stderr, flush=True)


class Progress:
    """`done/total` with rate and elapsed time, at most every two seconds (and at the end), on stderr."""

    def __init__(self, label: str, total: int):
        self.label, self.total = label, total
        self.started = self.last = time.perf_counter()
        self.shown = -1

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if done == self.shown or (done < self.total and now - self.last < 2.0):
            return
        self.last, self.shown = now, done
        elapsed = now - self.started
        say(
            f"{self.label}: {done:,}/{self.total:,} ({100 * done / max(self.total, 1):.0f} %, "
            f"{elapsed:.0f} s, {done / elapsed if elapsed else 0:,.0f}/s)"
        )


def django_setup(database_url: str) -> None:
    """Django on the bench database (created if missing), DEBUG off as in production, migrated."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            say(f"creating database {name}")
            admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("HOTLINE_PII_KEY", "bench-only-pii-key")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")
    warnings.filterwarnings("ignore", "No directory at")  # WhiteNoise: the bench never runs collectstatic
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def rows_insert(model, rows, *, total: int, label: str, batch: int = 50_000) -> int:
    """COPY plain rows (attname -> value) into `model`'s table; columns left out take the field's default."""
    from django.db import connection, transaction

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields}
    names = [f.attname for f in fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    progress = Progress(label, total)
    done = 0
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] if name in row else defaults[name] for name in names])
                done += 1
                if done % batch == 0:
                    progress.update(done)
        progress.update(done)
    return done


def meta_get(key: str) -> str | None:
    """What the seeding left in the bench database (its parameters), so a later run can reuse it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS duplicates_bench_meta (key varchar(100) PRIMARY KEY, value text)")
        cursor.execute("SELECT value FROM duplicates_bench_meta WHERE key = %s", [key])
        row = cursor.fetchone()
    return row[0] if row else None


def meta_set(key: str, value: str) -> None:
    from django.db import connection

    meta_get(key)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO duplicates_bench_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, value],
        )


def machine() -> str:
    from django.db import connection

    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; PostgreSQL {server}"


def load_average() -> str:
    """`uptime`'s three figures: the machine is shared, and other work shows in wall-clock latencies."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the p95 of 400 samples is the 380th smallest."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-int(fraction * len(ordered) * 1000) // 1000)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Place:
    district: str  # code
    street: str
    estate: str
    building: int
    road: str
    number: int


def _place(rng: random.Random) -> Place:
    from tickets.demo import DISTRICT_WEIGHTS, DISTRICTS_BY_CODE, ESTATES

    code = rng.choices(list(DISTRICT_WEIGHTS), weights=list(DISTRICT_WEIGHTS.values()))[0]
    district = DISTRICTS_BY_CODE[code]
    return Place(
        code,
        rng.choice(district.streets),
        rng.choice(ESTATES),
        rng.randint(1, 28),
        rng.choice(district.roads),
        rng.randint(1, 300),
    )


def _wording(rng: random.Random, template, place: Place) -> tuple[str, str]:
    """The description and address an operator types for `template` at `place`."""
    from tickets.demo import DISTRICTS_BY_CODE

    text = template.description.format(estate=place.estate, building=place.building, road=place.road)
    if text.startswith("市民反映"):
        text = rng.choice(OPENERS) + text[len("市民反映") :]
    if template.kind not in ("consultation", "praise"):
        text += rng.choice(ADDITIONS)
    on_road = "{road}" in template.description and "{estate}" not in template.description
    spot = f"{place.road}{place.number}号" if on_road else f"{place.estate}{place.building}栋"
    district = DISTRICTS_BY_CODE[place.district].name
    return text, f"{district}{place.street}{spot}"


def _status(rng: random.Random, age_days: float) -> str:
    if age_days < 20 and rng.random() < 1 - age_days / 20:
        return rng.choice(OPEN_RECENT) if age_days > 0.1 else "registered"
    if rng.random() < 0.01:
        return rng.choice(OPEN_OLD)  # long-running: extensions, reopened, waiting for the callback
    if rng.random() < 0.03:
        return rng.choice(FINISHED_OTHER)
    return rng.choice(CLOSED)


@dataclass
class City:
    departments: dict
    districts: dict
    categories: dict


def city_load() -> City:
    """The demo city's departments, districts and category tree (tickets.demo), created if missing."""
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
    for root in CATEGORIES:
        parent = Category.objects.get_or_create(code=root.code, defaults={"name": root.name})[0]
        for leaf in root.leaves:
            categories[leaf.code] = Category.objects.get_or_create(
                code=leaf.code, defaults={"parent": parent, "name": leaf.name}
            )[0]
    return City(departments, districts, categories)


def _templates() -> list:
    from tickets.demo import CATEGORIES

    return [(leaf, template) for root in CATEGORIES for leaf in root.leaves for template in leaf.templates]


def seed(total: int, *, rng_seed: int, now: datetime.datetime) -> None:
    """`total` tickets over the last year (COPY), with citizens; the trigram indexes built afterwards."""
    import importlib

    from django.db import connection

    from tickets.models import Citizen, Ticket

    city = city_load()
    search = importlib.import_module("tickets.migrations.0005_duplicate_search")
    with connection.cursor() as cursor:
        for name in search.INDEXES:  # built once after the load, as the migration builds them
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("TRUNCATE tickets_ticket_assisting_departments, tickets_timelineentry, tickets_ticket CASCADE")
        cursor.execute("DELETE FROM tickets_citizen")
    rng = random.Random(rng_seed)
    citizen_start = now - datetime.timedelta(days=DAYS + 30)
    rows_insert(
        Citizen,
        ({"name": f"市民{i:06d}", "created_at": citizen_start} for i in range(CITIZENS)),
        total=CITIZENS,
        label="citizens",
    )
    first_citizen = Citizen.objects.order_by("pk").values_list("pk", flat=True).first()
    pairs = _templates()
    phones = [f"+861{rng.choice('3589')}{rng.randrange(10**9):09d}" for _ in range(PHONES)]

    def rows():
        # Oldest first, numbered per day as the hotline numbers them.
        moments = sorted(now - datetime.timedelta(seconds=rng.uniform(60, DAYS * 86400)) for _ in range(total))
        day, sequence = None, 0
        for at in moments:
            local = at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
            if local.date() != day:
                day, sequence = local.date(), 0
            sequence += 1
            leaf, template = rng.choice(pairs)
            place = _place(rng)
            description, address = _wording(rng, template, place)
            age = (now - at).total_seconds() / 86400
            status = _status(rng, age)
            finished = status in ("closed", "closed_first_contact", "merged", "cancelled")
            yield {
                "number": f"{local:%Y%m%d}{sequence:05d}",
                "kind": template.kind,
                "channel": "phone",
                "status": status,
                "citizen_id": first_citizen + rng.randrange(CITIZENS) if rng.random() < 0.3 else None,
                "caller_number": rng.choice(phones) if rng.random() < 0.8 else "",
                "title": template.title,
                "description": description,
                "address": address,
                "district_id": city.districts[place.district].pk,
                "category_id": city.categories[leaf.code].pk,
                "lead_department_id": city.departments[leaf.department].pk if status != "registered" else None,
                "created_at": at,
                "registered_at": at,
                "closed_at": at + datetime.timedelta(days=min(age, rng.uniform(0.1, 12))) if finished else None,
                "updated_at": at,
            }

    rows_insert(Ticket, rows(), total=total, label="tickets", batch=50_000)
    started = time.perf_counter()
    with connection.schema_editor() as editor:
        search.search_create(None, editor)
    say(f"indexes of migration tickets.0005 built ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tickets_ticket")
    say(f"VACUUM ANALYZE ({time.perf_counter() - started:.0f} s)")


@dataclass(frozen=True)
class Draft:
    description: str
    address: str
    district: int
    phone: str


def drafts_generate(count: int, *, rng_seed: int) -> list[Draft]:
    """Drafts as operators type them: a third without an address, a fifth from a number that called before."""
    from django.db import connection

    from tickets.models import District

    rng = random.Random(rng_seed + 1)
    districts = dict(District.objects.values_list("code", "pk"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT caller_number FROM tickets_ticket WHERE caller_number <> '' ORDER BY random() LIMIT %s", [count]
        )
        callers = [row[0] for row in cursor.fetchall()]
    pairs = _templates()
    drafts = []
    for i in range(count):
        _leaf, template = rng.choice(pairs)
        place = _place(rng)
        description, address = _wording(rng, template, place)
        drafts.append(
            Draft(
                description=description,
                address="" if rng.random() < 1 / 3 else address,
                district=districts[place.district],
                phone=callers[i % len(callers)] if callers and rng.random() < 0.2 else "",
            )
        )
    return drafts


def timed(function) -> tuple[object, float]:
    started = time.perf_counter()
    result = function()
    return result, (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 0.5):.1f}  p95 {percentile(samples, 0.95):.1f}  "
        f"p99 {percentile(samples, 0.99):.1f}  max {max(samples):.1f} ms"
    )


# The planner shows tickets_search_words() inlined; the plan reads better with the function's name.
_INLINED = re.compile(
    r"regexp_replace\(regexp_replace\(replace\(.*?translate\(\(?([a-z_.0-9]+)\)?(?:::text)?, "
    r".*?'g'::text\), .*?'g'::text\)"
)


def plan_print(draft: Draft, user) -> None:
    """EXPLAIN ANALYZE of the candidates' query of one draft with an address."""
    from django.db import connection, transaction

    from tickets import duplicates as d

    report = d._Report.of(
        d.DuplicateQuery(description=draft.description, address=draft.address, district=draft.district),
        tuple(d.District.objects.values_list("name", flat=True)),
    )
    seen = []

    def capture(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        d._candidate_ids(report, d.clock.now())
    sql, params = seen[-1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(*seen[-2])
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        for (line,) in cursor.fetchall():
            print("      " + _INLINED.sub(r"tickets_search_words(\1)", line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--quick", action="store_true", help="50,000 tickets and 100 queries (its own seeding)")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded tickets even if present")
    parser.add_argument("--seed-only", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.tickets, args.queries = min(args.tickets, 50_000), min(args.queries, 100)
        if args.database_url == DEFAULT_DATABASE:  # never replace the million-ticket database with a small one
            args.database_url += "_quick"
    django_setup(args.database_url)
    from tickets import clock

    print(f"\n== Duplicate suggestions on {args.tickets:,} tickets")
    print(f"   {machine()}")
    print(f"   load average (uptime) at start: {load_average()}")
    key = f"tickets={args.tickets} seed={args.seed} v3"
    if args.reseed or meta_get("duplicates.seed") != key:
        started = time.perf_counter()
        meta_set("duplicates.seed", "")
        seed(args.tickets, rng_seed=args.seed, now=clock.now())
        meta_set("duplicates.seed", key)
        meta_set("duplicates.seeded_at", clock.now().isoformat())
        say(f"seeded in {time.perf_counter() - started:.0f} s")
    else:
        say(f"reusing the seeded tickets ({key}, seeded {meta_get('duplicates.seeded_at')})")
    if args.seed_only:
        return
    measure(args)


def measure(args) -> None:
    from django.db import connection
    from rest_framework.test import APIClient

    from tickets.duplicates import DuplicateQuery, duplicates_for_draft, duplicates_for_ticket
    from tickets.models import Role, Ticket, User

    user, _created = User.objects.get_or_create(username="dupbench", defaults={"role": Role.SUPERVISOR})
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FILTER (WHERE status = ANY(%s)), count(*) FROM tickets_ticket", [list(OPEN)])
        open_count, total = cursor.fetchone()
    print(f"   {total:,} tickets, {open_count:,} open; {args.queries} drafts and {args.queries // 2} saved tickets")
    drafts = drafts_generate(args.queries + WARM_UP, rng_seed=args.seed)

    def draft_query(draft: Draft):
        query = DuplicateQuery(
            description=draft.description, address=draft.address, district=draft.district, phone=draft.phone
        )
        return duplicates_for_draft(user, query)

    for draft in drafts[:WARM_UP]:  # the open tickets' pages and the indexes into memory, as in service
        draft_query(draft)
    load_before = load_average()
    samples, found = [], []
    for draft in drafts[WARM_UP:]:
        suggestions, ms = timed(lambda draft=draft: draft_query(draft))
        samples.append(ms)
        found.append(len(suggestions))
    ids = list(Ticket.objects.filter(status__in=OPEN).order_by("?").values_list("pk", flat=True)[: args.queries // 2])
    saved = []
    for pk in ids:
        ticket = Ticket.objects.select_related("district").get(pk=pk)
        _suggestions, ms = timed(lambda ticket=ticket: duplicates_for_ticket(user, ticket))
        saved.append(ms)
    api = APIClient()
    api.force_authenticate(user)
    through_api = []
    for draft in drafts[:10]:  # the URL resolver, middleware and serializers warm up on the first requests
        api.post("/api/tickets/duplicates/", {"description": draft.description}, format="json", secure=True)
    for draft in drafts[WARM_UP : WARM_UP + args.queries // 4]:
        body = {"description": draft.description, "address": draft.address, "district": draft.district}
        response, ms = timed(lambda body=body: api.post("/api/tickets/duplicates/", body, format="json", secure=True))
        assert response.status_code == 200, response.content[:300]
        through_api.append(ms)
    load_after = load_average()
    print(f"\n   load average (uptime: 1, 5, 15 min) before {load_before}, after {load_after}")
    print(f"   drafts ({len(samples)}):        {summary(samples)}")
    print(f"   saved tickets ({len(saved)}):  {summary(saved)}")
    print(f"   drafts through the API ({len(through_api)}):  {summary(through_api)}")
    print("     (POST /api/tickets/duplicates/ in process: parsing, the selector, the serializer)")
    print(f"   suggestions per draft: mean {statistics.fmean(found):.1f}, none for {found.count(0)}")
    print("\n   the candidates' query of one draft (EXPLAIN ANALYZE):")
    plan_print(next(d for d in drafts if d.address), user)
    misses = []
    for label, values in (("drafts", samples), ("saved tickets", saved), ("drafts through the API", through_api)):
        p95 = percentile(values, 0.95)
        verdict = "PASS" if p95 < TARGET_P95_MS else "MISS"
        if verdict == "MISS":
            misses.append(label)
        print(f"   {verdict}  {label}: p95 {p95:.1f} ms (target < {TARGET_P95_MS:.0f} ms)")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
