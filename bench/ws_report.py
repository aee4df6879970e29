"""The figures of bench/ws_load.py, the targets of issue 5 they are held to, and the printed table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.agi_report import Target, print_targets

if TYPE_CHECKING:
    from bench.ws_clients import Connected, Socket, Tally
    from bench.ws_load import Plan

MiB = 2**20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass
class PhaseFigures:
    """One publishing phase on one app."""

    latencies: list[float]
    delivered: int
    expected: int
    lost: int  # never delivered and never covered by a snapshot
    resynced: int  # not delivered, but a resync snapshot covered them
    gaps: int
    snapshots: int
    wallboards: int
    throughput: float  # delivered messages per second, from the first publish to the last arrival
    publisher: dict[str, Any]
    server_cpu: float

    def p(self, share: float) -> float:
        return percentile(self.latencies, share)


@dataclass
class AppFigures:
    app: str
    rss_before: int = 0
    rss_after: int = 0
    rss_end: int = 0
    sockets: int = 0
    connects: list[Connected] = field(default_factory=list)
    connect_errors: list[str] = field(default_factory=list)
    phases: dict[str, PhaseFigures] = field(default_factory=dict)
    dropped: int = 0

    def record(
        self,
        name: str,
        tally: Tally,
        reply: dict[str, Any],
        sockets: list[Socket],
        expected: dict[str, tuple[int, int]],
        *,
        cpu: float,
    ) -> None:
        self.sockets = len(sockets)
        lost = resynced = should = 0
        for socket in sockets:
            missing, repaired = socket.missing(expected)
            lost += missing
            resynced += repaired
            should += sum(last - first + 1 for stream, (first, last) in expected.items() if stream in socket.last)
        span = tally.last_arrival - reply["start"]
        self.phases[name] = PhaseFigures(
            latencies=tally.latencies,
            delivered=tally.messages,
            expected=should,
            lost=lost,
            resynced=resynced,
            gaps=tally.gaps,
            snapshots=tally.snapshots,
            wallboards=tally.wallboards,
            throughput=tally.messages / span if span > 0 else 0.0,
            publisher=reply,
            server_cpu=cpu,
        )

    def per_connection(self) -> float:
        return (self.rss_after - self.rss_before) / self.sockets if self.sockets else float("nan")

    def connect_p(self, share: float, which: str = "open") -> float:
        return percentile([getattr(sample, which) for sample in self.connects], share)


@dataclass
class PopFigures:
    total: list[float] = field(default_factory=list)  # scheduled call start -> call.pop on the operator's socket
    agi: list[float] = field(default_factory=list)  # scheduled call start -> the AGI session ended
    answer_to_pop: list[float] = field(default_factory=list)  # AgentConnect sent -> call.pop arrived
    errors: list[str] = field(default_factory=list)
    placed: int = 0
    elapsed: float = 0.0
    events: int = 0  # the other events the 100 sockets got meanwhile (call.*, ticket.*, queue.*)
    cpu: dict[str, float] = field(default_factory=dict)
    stages: dict[str, list[float]] = field(default_factory=dict)  # ws_load.pop_stages


@dataclass
class Figures:
    plan: Plan
    apps: dict[str, AppFigures]
    pop: PopFigures = field(default_factory=PopFigures)

    def targets(self) -> list[Target]:
        noop, project = self.apps["noop"], self.apps["project"]
        rows: list[Target] = []
        plan = self.plan
        rows.append(
            Target(
                "memory per connection (daphne RSS)",
                f"{noop.per_connection() / 1024:.0f} KiB",
                f"{project.per_connection() / 1024:.0f} KiB",
                "",
                None,
            )
        )
        for app in (noop, project):
            app_rss = f"{app.rss_before / MiB:.0f} -> {app.rss_after / MiB:.0f} -> {app.rss_end / MiB:.0f} MiB"
            rows.append(Target(f"  daphne RSS idle -> 100 sockets -> end ({app.app})", "", "", app_rss, None))
        rows.append(Target("connect: handshake p50", ms(noop.connect_p(0.5)), ms(project.connect_p(0.5)), "", None))
        ratio = project.connect_p(0.99) / noop.connect_p(0.99)
        rows.append(
            Target(
                f"connect with session auth ({len(project.connects)}): handshake p99",
                ms(noop.connect_p(0.99)),
                f"{ms(project.connect_p(0.99))} ({ratio:.1f}x)",
                "<= 3x no-op",
                ratio <= 3 and not project.connect_errors,
            )
        )
        rows.append(
            Target(
                "connect: first message (snapshot) p50 / p99",
                f"{ms(noop.connect_p(0.5, 'first'))} / {ms(noop.connect_p(0.99, 'first'))}",
                f"{ms(project.connect_p(0.5, 'first'))} / {ms(project.connect_p(0.99, 'first'))}",
                "",
                None,
            )
        )
        rows.append(
            Target(
                "connect: errors",
                str(len(noop.connect_errors)),
                str(len(project.connect_errors)),
                "0",
                not project.connect_errors,
            )
        )
        rows += self._steady(noop, project, f"{plan.sockets} sockets, {plan.steady_rate:g} events/s")
        rows += self._burst(noop, project, f"burst of {plan.burst}")
        rows += self._pop(f"screen pop, {plan.pop_rate:g} calls/s")
        rows.append(
            Target("sockets the server closed", str(noop.dropped), str(project.dropped), "0", not project.dropped)
        )
        return rows

    def _steady(self, noop: AppFigures, project: AppFigures, label: str) -> list[Target]:
        a, b = noop.phases["steady"], project.phases["steady"]
        ratio = b.p(0.99) / a.p(0.99)
        return [
            Target(f"{label}: event-to-client p50", ms(a.p(0.5)), ms(b.p(0.5)), "", None),
            Target(
                f"{label}: event-to-client p99",
                ms(a.p(0.99)),
                f"{ms(b.p(0.99))} ({ratio:.1f}x)",
                "<= 2x no-op",
                ratio <= 2,
            ),
            Target(f"{label}: max", ms(a.p(1.0)), ms(b.p(1.0)), "", None),
            Target(f"{label}: delivered", f"{a.delivered}/{a.expected}", f"{b.delivered}/{b.expected}", "", None),
            Target(f"{label}: lost", str(a.lost + a.resynced), str(b.lost + b.resynced), "0", b.lost + b.resynced == 0),
            Target(
                f"{label}: publish() p50 / p99",
                _publish(a),
                _publish(b),
                "",
                None,
            ),
            Target(f"{label}: daphne CPU", f"{a.server_cpu:.1f} s", f"{b.server_cpu:.1f} s", "", None),
        ]

    def _burst(self, noop: AppFigures, project: AppFigures, label: str) -> list[Target]:
        a, b = noop.phases["burst"], project.phases["burst"]
        share = b.throughput / a.throughput if a.throughput else 0.0
        return [
            Target(
                f"{label}: delivered messages/s",
                f"{a.throughput:.0f}",
                f"{b.throughput:.0f} ({share:.0%})",
                ">= 50% of no-op",
                share >= 0.5,
            ),
            Target(f"{label}: publishing took", ms(a.publisher["elapsed"]), ms(b.publisher["elapsed"]), "", None),
            Target(f"{label}: event-to-client p50 / p99", _p50_p99(a), _p50_p99(b), "", None),
            Target(
                f"{label}: delivered / resynced / lost",
                f"{a.delivered} / - / {a.lost}",
                f"{b.delivered} / {b.resynced} / {b.lost}",
                "lost 0",
                b.lost == 0 and b.delivered + b.resynced == b.expected,
            ),
            Target(f"{label}: gaps noticed, snapshots", "-", f"{b.gaps}, {b.snapshots}", "", None),
        ]

    def _pop(self, label: str) -> list[Target]:
        pop = self.pop
        detail = f"{ms(percentile(pop.total, 0.99))} ({len(pop.total)}/{pop.placed} calls)"
        rate = len(pop.total) / pop.elapsed if pop.elapsed else 0.0
        cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in pop.cpu.items())
        return [
            Target(f"{label}: call-to-screen-pop p50", "-", ms(percentile(pop.total, 0.5)), "", None),
            Target(f"{label}: call-to-screen-pop p99", "-", detail, "< 500 ms", percentile(pop.total, 0.99) < 0.5),
            Target(f"{label}: max", "-", ms(percentile(pop.total, 1.0)), "", None),
            Target(f"{label}: AGI session p50 / p99", "-", _pair(pop.agi), "", None),
            Target(f"{label}: AgentConnect to pop p50 / p99", "-", _pair(pop.answer_to_pop), "", None),
            *(
                Target(f"{label}:   {stage} p50 / p99", "-", _pair(values), "", None)
                for stage, values in pop.stages.items()
            ),
            Target(f"{label}: calls popped/s, other events", "-", f"{rate:.1f}, {pop.events}", "", None),
            Target(f"{label}: CPU", "-", cpu, "", None),
            Target(f"{label}: errors", "-", str(len(pop.errors)), "0", not pop.errors and pop.placed > 0),
        ]

    def all_met(self) -> bool:
        return all(row.met is not False for row in self.targets())


def _pair(values: list[float]) -> str:
    return f"{ms(percentile(values, 0.5))} / {ms(percentile(values, 0.99))}"


def _p50_p99(phase: PhaseFigures) -> str:
    return f"{ms(phase.p(0.5))} / {ms(phase.p(0.99))}"


def _publish(phase: PhaseFigures) -> str:
    return f"{ms(phase.publisher['publish_p50'])} / {ms(phase.publisher['publish_p99'])}"


def print_table(figures: Figures, machine: dict[str, str]) -> None:
    rows = figures.targets()
    print_targets("Live dashboards benchmark (issue 5)", ("no-op app", "project"), rows, machine)
    for app in figures.apps.values():
        for error in app.connect_errors[:3]:
            print(f"connect [{app.app}]: {error}")
    for error in figures.pop.errors[:5]:
        print(f"screen pop: {error}")
    failed = [row.figure for row in rows if row.met is False]
    print()
    print("all targets met" if not failed else f"targets missed: {'; '.join(failed)}")
