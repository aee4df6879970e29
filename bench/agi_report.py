"""The figures of bench/agi_load.py, the targets of issue 3 they are held to, and the printed table."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.agi_servers import ExactlyOnce, pg_connect

if TYPE_CHECKING:
    from bench.agi_load import Plan, Result

MiB = 2**20


@dataclass
class Target:
    """One line of the table: a figure for each server, the target and whether the bridge meets it."""

    figure: str
    noop: str
    bridge: str
    target: str
    met: bool | None  # None: shown for information, no target


@dataclass
class Figures:
    phases: dict[str, tuple[Result, Result]] = field(default_factory=dict)
    bridge_tickets: dict[str, str] = field(default_factory=dict)
    # (phase, xact_commit before the bridge ran it, calls placed on the bridge in it)
    commit_marks: list[tuple[str, int, int]] = field(default_factory=list)
    commits_end: int = 0
    exactly_once: ExactlyOnce | None = None

    def record(self, phase: str, noop: Result, bridge: Result) -> None:
        self.phases[phase] = (noop, bridge)

    def add_tickets(self, which: str, result: Result) -> None:
        if which == "bridge":
            self.bridge_tickets.update(result.tickets)

    def commits_per_call(self) -> dict[str, float]:
        """Per phase and overall; each phase's delta ends where the next one's starts (the bridge idle between)."""
        marks = [*self.commit_marks, ("", self.commits_end, 0)]
        per_phase = {
            phase: (marks[index + 1][1] - before) / placed
            for index, (phase, before, placed) in enumerate(marks[:-1])
            if placed
        }
        placed = sum(mark[2] for mark in self.commit_marks)
        if placed:
            per_phase["all measured phases"] = (self.commits_end - self.commit_marks[0][1]) / placed
        return per_phase

    def targets(self, plan: Plan) -> list[Target]:
        rows: list[Target] = []
        noop, bridge = self.phases["closed loop"]
        share = bridge.rate / noop.rate if noop.rate else 0.0
        rows.append(
            Target(
                f"closed loop, {plan.closed_callers} callers: calls/s",
                f"{noop.rate:.0f}",
                f"{bridge.rate:.0f} ({share:.0%})",
                ">= 20% of no-op",
                share >= 0.2,
            )
        )
        rows.append(_errors("closed loop: errors", noop, bridge))
        rows.append(
            Target(
                "closed loop: server CPU per call",
                f"{noop.cpu_per_call() * 1000:.2f} ms",
                f"{bridge.cpu_per_call() * 1000:.2f} ms",
                "",
                None,
            )
        )
        rows.append(
            Target(
                "closed loop: load generator CPU per call",
                f"{noop.cpu_per_call('client') * 1000:.2f} ms",
                f"{bridge.cpu_per_call('client') * 1000:.2f} ms",
                "",
                None,
            )
        )
        noop, bridge = self.phases["open loop"]
        rows.append(Target(f"open loop, {plan.open_rate:g}/s: p50", _ms(noop, 0.5), _ms(bridge, 0.5), "", None))
        p99_gap = bridge.percentile(0.99) - noop.percentile(0.99)
        rows.append(
            Target(
                f"open loop, {plan.open_rate:g}/s: p99",
                _ms(noop, 0.99),
                _ms(bridge, 0.99),
                "<= no-op p99 + 30 ms",
                p99_gap <= 0.030 and not bridge.errors,
            )
        )
        rows.append(_errors("open loop: errors", noop, bridge))
        noop, bridge = self.phases["held sessions"]
        label = f"held, {plan.held_rate:g}/s, {plan.think:g} s think"
        rows.append(Target(f"{label}: calls open (max)", str(noop.max_open), str(bridge.max_open), "", None))
        rows.append(Target(f"{label}: p50", _ms(noop, 0.5), _ms(bridge, 0.5), "", None))
        rows.append(
            Target(
                f"{label}: p99",
                _ms(noop, 0.99),
                _ms(bridge, 0.99),
                f"<= {plan.think * 1000 + 100:.0f} ms",
                bridge.percentile(0.99) <= plan.think + 0.1,
            )
        )
        rows.append(_errors(f"{label}: errors", noop, bridge))
        growth = bridge.rss_max - bridge.rss_start
        rows.append(
            Target(
                f"{label}: RSS growth",
                f"{(noop.rss_max - noop.rss_start) / MiB:.1f} MiB",
                f"{growth / MiB:.1f} MiB ({bridge.rss_start / MiB:.0f} -> {bridge.rss_max / MiB:.0f})",
                "< 50 MB",
                growth < 50 * 10**6,
            )
        )
        commits = self.commits_per_call()
        for phase, value in commits.items():
            overall = phase == "all measured phases"
            rows.append(
                Target(
                    f"commits per call ({phase})",
                    "-",
                    f"{value:.2f}",
                    "<= 3" if overall else "",
                    value <= 3 if overall else None,
                )
            )
        check = self.exactly_once
        if check is not None:
            detail = f"{check.call_rows} calls, {check.tickets} tickets / {check.placed} placed"
            problems = len(check.missing) + len(check.without_ticket) + len(check.wrong_number) + check.shared_tickets
            if problems or check.spooled_left:
                detail += f"; {problems} wrong, {check.spooled_left} spooled"
            rows.append(Target("one call record + one ticket per uniqueid", "-", detail, "exactly", check.met))
        return rows

    def all_met(self, plan: Plan) -> bool:
        return all(row.met is not False for row in self.targets(plan))


def _ms(result: Result, share: float) -> str:
    return f"{result.percentile(share) * 1000:.1f} ms"


def _errors(label: str, noop: Result, bridge: Result) -> Target:
    return Target(label, str(len(noop.errors)), str(len(bridge.errors)), "0", not bridge.errors)


def print_targets(title: str, columns: tuple[str, str], rows: list[Target], machine: dict[str, str]) -> None:
    """The machine, then the figures beside the ceiling's, with each target and PASS / FAIL, as a text table."""
    header = ("figure", *columns, "target", "")
    cells = [header] + [
        (row.figure, row.noop, row.bridge, row.target, "" if row.met is None else ("PASS" if row.met else "FAIL"))
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    print()
    print(title)
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print()
    for index, line in enumerate(cells):
        print("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def print_table(figures: Figures, plan: Plan, machine: dict[str, str]) -> None:
    rows = figures.targets(plan)
    print_targets("FastAGI bridge benchmark (issue 3)", ("no-op server", "bridge"), rows, machine)
    for phase, (noop, bridge) in figures.phases.items():
        for which, result in (("no-op", noop), ("bridge", bridge)):
            if result.errors:
                print(f"{phase} [{which}]: {len(result.errors)} errors, first: {result.errors[0]}")
    failed = [row.figure for row in rows if row.met is False]
    print()
    print("all targets met" if not failed else f"targets missed: {'; '.join(failed)}")


def machine_summary(database_url: str, redis_url: str) -> dict[str, str]:
    """The machine the figures were measured on: CPU, cores, memory, PostgreSQL, Redis, Python."""
    summary = {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{_memory_total() / 2**30:.1f} GiB",
        "Python": platform.python_version(),
        "kernel": platform.release(),
    }
    try:
        with pg_connect(database_url) as connection:
            summary["PostgreSQL"] = connection.execute("SHOW server_version").fetchone()[0]
            summary["synchronous_commit"] = connection.execute("SHOW synchronous_commit").fetchone()[0]
    except Exception as exc:  # the table is still worth printing
        summary["PostgreSQL"] = f"? ({exc})"
    summary["Redis"] = _redis_version(redis_url)
    return summary


def _cpu_model() -> str:
    lscpu = shutil.which("lscpu")
    try:
        output = subprocess.run([lscpu or "lscpu"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "?"
    fields = dict(line.split(":", 1) for line in output.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    hypervisor = fields.get("Hypervisor vendor", "").strip()
    return f"{model}" + (f" ({hypervisor} guest)" if hypervisor else "")


def _memory_total() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _redis_version(url: str) -> str:
    try:
        import redis

        info: dict[str, Any] = redis.Redis.from_url(url, socket_connect_timeout=2).info("server")
        return str(info.get("redis_version", "?"))
    except Exception as exc:
        return f"? ({exc})"
