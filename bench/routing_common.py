"""Shared machinery of the routing benchmarks: Django on a bench database, progress, verdicts, bulk rows.

The benchmarks are scripts, not tests: each one prints its figures and a PASS / MISS line per
target of issue 4, and exits 1 when a target is missed. Each has `main()` (set up Django on its
own database, then `run()`) and `run(args)` (Django already set up: tests/bench runs it on the
test database). See bench/README.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
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


# --- Django against a bench database ----------------------------------------------------------


def arguments(description: str, *, database: str = DEFAULT_DATABASE) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run with small numbers")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help=f"the bench database, created if missing and reused as it is (default {database}; "
        "with --quick the same name ending in _quick, so a smoke run leaves the full run's data alone)",
    )
    parser.set_defaults(default_database=database)
    parser.add_argument(
        "--fresh", action="store_true", help="drop the bench database first (otherwise its seeded rows are reused)"
    )
    parser.add_argument("--seed", type=int, default=12345)
    return parser


def database_url(args: argparse.Namespace) -> str:
    """The bench database of this run: --database-url, else the default (its _quick twin for --quick)."""
    if args.database_url:
        return args.database_url
    return args.default_database + ("_quick" if args.quick else "")


def _postgres_database(url: str, *, fresh: bool) -> None:
    """Create the bench database if missing (after dropping it, with `fresh`)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        if fresh:
            say(f"dropping database {name}")
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            say(f"creating database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def django_setup(database_url: str, *, redis_url: str | None = None, fresh: bool = False) -> None:
    """Configure Django on the bench database, as a deployment runs, and migrate it.

    DEBUG off (no query log kept per request, the production security settings); requests
    then come "from the proxy" over HTTPS. Without `redis_url` the in-memory channel layer.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("HOTLINE_PII_KEY", "bench-only-pii-key")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")
    if database_url.startswith(("postgres://", "postgresql://")):
        _postgres_database(database_url, fresh=fresh)
    import django

    # Benchmarks never run collectstatic; WhiteNoise warns once per process that the directory is missing.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    django.setup()
    from django.core.management import call_command

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
    ram = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name"))
        total = next(line for line in _lines("/proc/meminfo") if line.startswith("MemTotal"))
        ram = f"{int(total.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
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


def _lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes): other processes' work shows in wall-clock figures."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def print_header(title: str) -> None:
    info = machine()
    print(f"\n== {title}")
    print(f"   {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; Python {info['python']}; {info['database']}")
    print(f"   load average at start (1 / 5 / 15 min): {load_average()}", flush=True)


@dataclass
class Report:
    """The figures of one run and the verdict on each target and check."""

    results: dict[str, bool] = field(default_factory=dict)

    def figure(self, label: str, value: str) -> None:
        print(f"   {label:<52} {value}", flush=True)

    def target(self, label: str, value: float, target: float, unit: str, *, higher_is_better: bool) -> bool:
        met = value >= target if higher_is_better else value < target
        relation = "≥" if higher_is_better else "<"
        print(
            f"   {'PASS' if met else 'MISS'}  {label}: {value:,.1f} {unit} (target {relation} {target:,.0f} {unit})",
            flush=True,
        )
        self.results[label] = met
        return met

    def check(self, label: str, ok: bool, detail: str = "") -> bool:
        print(f"   {'PASS' if ok else 'MISS'}  {label}{': ' + detail if detail else ''}", flush=True)
        self.results[label] = ok
        return ok

    def verdict(self) -> int:
        """Print the summary line; 0 when every target and check passed, else 1."""
        missed = [label for label, ok in self.results.items() if not ok]
        print(f"\n   {'all targets met' if not missed else 'MISSED: ' + '; '.join(missed)}", flush=True)
        print(f"   load average at the end (1 / 5 / 15 min): {load_average()}", flush=True)
        return 1 if missed else 0


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


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


# --- bulk rows ------------------------------------------------------------------------------------


def _prepared_defaults(model: Any) -> dict[str, Any]:
    """attname -> the field's default as the driver takes it, for every column but the primary key."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    return {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields}


def rows_insert(model: Any, rows: Iterable[dict[str, Any]], *, total: int, label: str, batch: int = 20_000) -> int:
    """Insert plain rows (attname -> value) into `model`'s table: COPY on PostgreSQL, bulk_create elsewhere.

    Every column a row leaves out gets the field's default, so the benchmarks keep working
    when the model gains a column. Values must be what the driver takes as is (str, int, aware
    datetime, None). `rows` must not query the database while it yields: on PostgreSQL the COPY
    holds the connection until the last row, and a query meanwhile waits for it forever.
    Progress every two seconds. Returns the number of rows inserted.
    """
    from django.db import connection, transaction

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
    defaults = _prepared_defaults(model)
    names = list(defaults)
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in names)
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
        say(f"{label}: copied, committing (the table's indexes are updated now)")
    say(f"{label}: committed ({time.perf_counter() - progress.started:.1f} s)")
    return done


def rows_insert_select(
    model: Any, expressions: dict[str, str | tuple[str, list[Any]]], source: str, params: list[Any]
) -> int:
    """`INSERT INTO <model's table> (…) SELECT <expressions> FROM <source>`: rows made in the database.

    `expressions` maps attnames to SQL over `source` (or to (SQL, its parameters)); every other
    column gets the field's default, so a new column on the model does not break the benchmark.
    `params` are those of `source`. Returns the number of rows inserted.
    """
    from django.db import connection

    quote = connection.ops.quote_name
    defaults = _prepared_defaults(model)
    values, select_params = [], []
    for name, default in defaults.items():
        expression = expressions.get(name, ("%s", [default]))
        sql, own = (expression, []) if isinstance(expression, str) else expression
        values.append(sql)
        select_params.extend(own)
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in defaults)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT {', '.join(values)} FROM {source}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, select_params + list(params))
        return cursor.rowcount


def table_empty(*models: Any) -> None:
    """Empty the models' tables: TRUNCATE on PostgreSQL (a million rows in a moment), DELETE elsewhere."""
    from django.db import connection

    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a model's table name)


def tables_analyze(*models: Any) -> None:
    """What autovacuum does on a live table (it may be off on a bench machine): statistics and the visibility map.

    PostgreSQL only. VACUUM cannot run inside a transaction (the test run of a benchmark), so
    there only ANALYZE runs; without the visibility map an index-only scan still reads the table.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")
    say(f"{command} {', '.join(model._meta.db_table for model in models)} ({time.perf_counter() - started:.1f} s)")


# --- what the set-up left in the bench database ---------------------------------------------------------


def meta_get(key: str) -> str | None:
    """A value the set-up left in the bench database (what was generated, with which parameters)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS routing_bench_meta (key varchar(100) PRIMARY KEY, value text)")
        cursor.execute("SELECT value FROM routing_bench_meta WHERE key = %s", [key])
        row = cursor.fetchone()
    return row[0] if row else None


def meta_set(key: str, value: str | None) -> None:
    """Remember (or with None forget) what the set-up generated, so a re-run with the same parameters reuses it."""
    from django.db import connection

    meta_get(key)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM routing_bench_meta WHERE key = %s", [key])
        if value is not None:
            cursor.execute("INSERT INTO routing_bench_meta (key, value) VALUES (%s, %s)", [key, value])


# --- query plans ------------------------------------------------------------------------------------


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
