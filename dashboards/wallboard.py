"""The supervisor wallboard's figures (班长大屏): one JSON-ready snapshot from a fixed number of aggregate queries.

`wallboard_snapshot(now=None)` returns every figure the wallboard shows; each one is defined
in docs/dashboards.md ("Wallboard figures"). It holds counts and labels only: no citizen,
phone number, ID number or operator name, so it may go to any supervisor's socket as it is.
Labels are in the active language, so build it inside the socket's `translation.override`.

Keeping a wallboard live (for the websocket consumer; this module never touches the layer):

* as a part of the supervisor view's snapshot, from an app's snapshots module::

      snapshot_part("supervisor", "wallboard")(lambda user: wallboard_snapshot())

* then, while the socket is open, refresh it when an event that moves a figure arrives,
  at most once a second per socket and never leaving the last change unsent::

      self.wallboard = WallboardThrottle()               # in connect()
      delay = self.wallboard.event(message["event"])     # for each event forwarded to the socket
      if delay is not None:                              # None: irrelevant, or a refresh is planned
          asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self._send_wallboard()))

      async def _send_wallboard(self):
          self.wallboard.sent()
          data = await database_sync_to_async(wallboard_cached)()   # inside the socket's language
          await self.send_json({"type": "wallboard", "data": data})

  `wallboard_cached()` shares one computation a second between the sockets of a process (per
  language), so a hundred open wallboards cost one set of queries a second, not a hundred. The
  refresh replaces the whole `wallboard` part; it is not a delta and carries no stream number.
"""

import datetime
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    When,
)
from django.db.models import Value as V
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from routing.calendar import SHANGHAI
from routing.models import ReportPeriod
from routing.reports import WALKED, period_bounds, period_start, ticket_facts
from telephony.models import Call, Outcome, QueueCaller, QueueMember
from telephony.selectors import AVAILABLE, ON_CALL, PAUSED, RINGING
from tickets import clock
from tickets.models import WITH_DEPARTMENT, Action, Channel, Kind, Satisfaction, Ticket, TimelineEntry, localized_name

__all__ = [
    "FIGURE_LABELS",
    "WALLBOARD_EVENT_PREFIXES",
    "WallboardThrottle",
    "service_level_seconds",
    "wallboard_affected_by",
    "wallboard_cached",
    "wallboard_snapshot",
]

# Hot topics: a category or district is hot when it had at least HOT_MIN_COUNT registered tickets
# in the last HOT_WINDOW and (that count + 1) / (the count a week earlier + 1) >= HOT_MIN_RATIO.
HOT_WINDOW = datetime.timedelta(hours=1)
HOT_BASELINE_OFFSET = datetime.timedelta(days=7)
HOT_MIN_COUNT = 3
HOT_MIN_RATIO = 2
HOT_TOP = 5

# Events that can move a figure: call records and queue state (the live block) and every ticket
# event (counts, open and overdue, rates, hot topics; escalations and callbacks end in ticket.*).
WALLBOARD_EVENT_PREFIXES = ("queue.", "call.", "ticket.")
REFRESH_INTERVAL = 1.0

FIGURE_LABELS = {
    "waiting": _("Calls waiting"),
    "longest_wait": _("Longest wait (s)"),
    "logged_in": _("Operators logged in"),
    "available": _("Available"),
    "on_call": _("On a call"),
    "paused": _("Paused"),
    "ringing": _("Ringing"),
    "calls_today": _("Calls today"),
    "answered": _("Answered"),
    "abandoned": _("Abandoned"),
    "abandoned_ivr": _("Abandoned in IVR"),
    "abandoned_queue": _("Abandoned in queue"),
    "self_service": _("Self-service"),
    "in_progress": _("In progress"),
    "service_level": _("Service level"),
    "average_speed_of_answer": _("Average speed of answer (s)"),
    "average_handle_time": _("Average handle time (s)"),
    "tickets_today": _("Tickets today"),
    "by_kind": _("Tickets today by kind"),
    "by_channel": _("Tickets today by channel"),
    "departments": _("Open and overdue by department"),
    "open": _("Open"),
    "overdue": _("Overdue"),
    "on_time_rate": _("On-time rate"),
    "satisfaction_rate": _("Satisfaction rate"),
    "today": _("Today"),
    "week": _("This week"),
    "hot_categories": _("Hot topics: categories"),
    "hot_districts": _("Hot topics: districts"),
    "hot_count": _("Last hour"),
    "hot_previous": _("Same hour last week"),
}


def service_level_seconds() -> int:
    """The service-level threshold in seconds (setting HOTLINE_SERVICE_LEVEL_SECONDS, default 20)."""
    return int(getattr(settings, "HOTLINE_SERVICE_LEVEL_SECONDS", 20))


def wallboard_snapshot(now: datetime.datetime | None = None) -> dict[str, Any]:
    """Every wallboard figure at `now` (default: the clock), JSON-ready, labels in the active language."""
    now = now or clock.now()
    today = now.astimezone(SHANGHAI).date()
    day_begin, _end = period_bounds(ReportPeriod.DAY, today)
    monday = period_start(ReportPeriod.WEEK, today)
    week_begin, _end = period_bounds(ReportPeriod.WEEK, monday)
    return {
        "now": _iso(now),
        "day": today.isoformat(),
        "week_start": monday.isoformat(),
        "queue": _queue(now),
        "calls": _calls(day_begin, now),
        "tickets": _tickets(day_begin, now),
        "departments": _departments(now),
        "rates": _rates(day_begin, week_begin, now),
        "hot_topics": {"categories": _hot(now, "category"), "districts": _hot(now, "district")},
        "labels": {key: str(label) for key, label in FIGURE_LABELS.items()},
    }


def _iso(moment: datetime.datetime) -> str:
    """As event payloads carry times: ISO 8601 in UTC."""
    return moment.astimezone(datetime.UTC).isoformat()


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _tenths(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _label(name: str | None, name_en: str | None) -> str:
    return localized_name(SimpleNamespace(name=name or "", name_en=name_en or ""))  # type: ignore[arg-type]


# Queue and operators -----------------------------------------------------------------------------

# Every logged-in member row is in exactly one of these (telephony.selectors); an operator in several
# queues takes the best state any of their rows shows: on a call anywhere, else ringing, else free in
# some queue, else paused in all of them.
_OPERATOR_STATES = (("on_call", ON_CALL), ("ringing", RINGING), ("available", AVAILABLE), ("paused", PAUSED))


def _queue(now: datetime.datetime) -> dict[str, Any]:
    """Callers waiting and operators by state, over every queue and Asterisk server."""
    callers = QueueCaller.objects.aggregate(waiting=Count("uniqueid", distinct=True), oldest=Min("joined_at"))
    oldest = callers["oldest"]
    ranks = {name: len(_OPERATOR_STATES) - index for index, (name, _q) in enumerate(_OPERATOR_STATES)}
    rank = Case(*(When(condition, then=V(ranks[name])) for name, condition in _OPERATOR_STATES), default=V(0))
    # One row per operator: the user when the listener mapped the interface to one, else the interface.
    interface = Case(When(operator__isnull=True, then=F("interface")), default=V(""), output_field=CharField())
    per_operator = (
        QueueMember.objects.order_by()
        .annotate(unmapped=interface)
        .values("operator", "unmapped")
        .annotate(state=Max(rank))
    )
    operators = per_operator.aggregate(
        logged_in=Count("state", filter=Q(state__gt=0)),
        **{name: Count("state", filter=Q(state=ranks[name])) for name, _q in _OPERATOR_STATES},
    )
    return {
        "waiting": callers["waiting"],
        "longest_wait": max(0, int((now - oldest).total_seconds())) if oldest else 0,
        "oldest_since": _iso(oldest) if oldest else None,
        "operators": operators,
    }


# Calls today -------------------------------------------------------------------------------------


def _calls(day_begin: datetime.datetime, now: datetime.datetime) -> dict[str, Any]:
    """Today's calls by outcome, the service level, the average speed of answer and talk time."""
    threshold = service_level_seconds()
    queued_answer = Q(outcome=Outcome.ANSWERED, wait_seconds__isnull=False)
    late_abandon = Q(outcome=Outcome.ABANDONED_QUEUE, wait_seconds__gt=threshold)
    row = Call.objects.filter(started_at__gte=day_begin, started_at__lte=now).aggregate(
        total=Count("id"),
        **{outcome: Count("id", filter=Q(outcome=outcome)) for outcome in Outcome.values},
        answered_within=Count("id", filter=queued_answer & Q(wait_seconds__lte=threshold)),
        answered_queued=Count("id", filter=queued_answer),
        abandoned_after=Count("id", filter=late_abandon),
        asa=Avg("wait_seconds", filter=queued_answer),
        aht=Avg("talk_seconds", filter=Q(outcome=Outcome.ANSWERED, talk_seconds__isnull=False)),
    )
    base = row["answered_queued"] + row["abandoned_after"]
    return {
        "total": row["total"],
        "answered": row[Outcome.ANSWERED],
        "abandoned": row[Outcome.ABANDONED_IVR] + row[Outcome.ABANDONED_QUEUE],
        "abandoned_ivr": row[Outcome.ABANDONED_IVR],
        "abandoned_queue": row[Outcome.ABANDONED_QUEUE],
        "self_service": row[Outcome.SELF_SERVICE],
        "in_progress": row[Outcome.IN_PROGRESS],
        "service_level": {
            "threshold_seconds": threshold,
            "answered_within": row["answered_within"],
            "answered": row["answered_queued"],
            "abandoned_after": row["abandoned_after"],
            "rate": _ratio(row["answered_within"], base),
        },
        "average_speed_of_answer": _tenths(row["asa"]),
        "average_handle_time": _tenths(row["aht"]),
    }


# Tickets -----------------------------------------------------------------------------------------


def _registered_since(begin: datetime.datetime, now: datetime.datetime) -> QuerySet[Ticket]:
    """Registered tickets whose contact arrived in [begin, now]; drafts (calls being written up) are not tickets yet."""
    return Ticket.objects.order_by().filter(created_at__gte=begin, created_at__lte=now, registered_at__isnull=False)


def _tickets(day_begin: datetime.datetime, now: datetime.datetime) -> dict[str, Any]:
    """Today's tickets by kind and by channel, every kind and channel listed (zeros too) in their own order."""
    by_kind: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    rows = _registered_since(day_begin, now).values_list("kind", "channel").annotate(n=Count("id"))
    for kind, channel, count in rows:
        by_kind[kind] += count
        by_channel[channel] += count
    return {
        "total": sum(by_kind.values()),
        "by_kind": [{"key": k.value, "label": str(k.label), "count": by_kind[k.value]} for k in Kind],
        "by_channel": [{"key": c.value, "label": str(c.label), "count": by_channel[c.value]} for c in Channel],
    }


def _departments(now: datetime.datetime) -> list[dict[str, Any]]:
    """Tickets each lead department holds (its deadline running) and how many of them are overdue."""
    rows = (
        Ticket.objects.order_by()
        .filter(status__in=WITH_DEPARTMENT, lead_department__isnull=False)
        .values("lead_department", "lead_department__code", "lead_department__name", "lead_department__name_en")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(deadline__lt=now)))
    )
    departments = [
        {
            "id": row["lead_department"],
            "code": row["lead_department__code"],
            "label": _label(row["lead_department__name"], row["lead_department__name_en"]),
            "open": row["open"],
            "overdue": row["overdue"],
        }
        for row in rows
    ]
    return sorted(departments, key=lambda d: (-d["overdue"], -d["open"], d["code"]))


# On-time and satisfaction rates ------------------------------------------------------------------


def _rates(day_begin: datetime.datetime, week_begin: datetime.datetime, now: datetime.datetime) -> dict[str, Any]:
    """On-time and satisfaction rates of today and this week, counted as routing.reports counts them.

    The reports' facts, for the whole hotline: a reply (办结回复) is on time when made no later
    than its handling window's deadline; each callback result counts once, when recorded. A reply
    in the ticket's current window is checked against the ticket's deadline in SQL; a ticket
    reopened since the week began may have replied in an earlier window, so its replies are
    counted by `routing.reports.ticket_facts` itself (two more queries, only when there are any).
    """
    # One hashed set per query on PostgreSQL, not a correlated lookup per entry.
    reopened = Q(
        ticket_id__in=TimelineEntry.objects.filter(action=Action.REOPEN, at__gte=week_begin).values("ticket_id")
    )
    entries = TimelineEntry.objects.order_by().filter(
        at__gte=week_begin, at__lte=now, action__in=[Action.REPLY, Action.CLOSE, Action.REOPEN]
    )
    current = Q(action=Action.REPLY) & ~reopened
    figures: dict[str, Q] = {
        "replied": current,
        "replied_on_time": current & Q(at__lte=F("ticket__deadline")),
        "satisfied": Q(action=Action.CLOSE, data__satisfaction=Satisfaction.SATISFIED),
        "basically_satisfied": Q(action=Action.CLOSE, data__satisfaction=Satisfaction.BASICALLY),
        "unsatisfied": Q(action=Action.REOPEN),
    }
    periods = {"today": Q(at__gte=day_begin), "week": Q()}
    row = entries.aggregate(
        earlier_windows=Count("id", filter=Q(action=Action.REPLY) & reopened),
        **{f"{p}_{f}": Count("id", filter=when & q) for p, when in periods.items() for f, q in figures.items()},
    )
    counts = {p: {f: row[f"{p}_{f}"] for f in figures} for p in periods}
    if row["earlier_windows"]:
        ids = entries.filter(reopened, action=Action.REPLY).values("ticket_id")
        for fact in _reply_facts(ids, now):
            if week_begin <= fact.at <= now:
                counts["week"][fact.figure] += 1
                if fact.at >= day_begin:
                    counts["today"][fact.figure] += 1
    return {period: _rates_of(figures_of) for period, figures_of in counts.items()}


def _reply_facts(ticket_ids: QuerySet, now: datetime.datetime) -> list[Any]:
    """The reports' reply facts (replied, replied on time) of the tickets `ticket_ids` selects."""
    tickets = Ticket.objects.only("pk", "kind", "urgency", "deadline").filter(pk__in=ticket_ids).in_bulk()
    timelines: dict[int, list[TimelineEntry]] = {pk: [] for pk in tickets}
    entries = TimelineEntry.objects.filter(ticket_id__in=ticket_ids, action__in=WALKED).only(
        "ticket_id", "action", "at", "data"
    )
    for entry in entries.order_by("ticket_id", "at", "id"):
        timelines[entry.ticket_id].append(entry)
    return [
        fact
        for pk, timeline in timelines.items()
        for fact in ticket_facts(tickets[pk], timeline, now=now)
        if fact.figure in ("replied", "replied_on_time") and fact.department_id is not None
    ]


def _rates_of(figures: dict[str, int]) -> dict[str, Any]:
    """The Report model's two rates from summed figures; None when the base is 0."""
    rated = figures["satisfied"] + figures["basically_satisfied"] + figures["unsatisfied"]
    return {
        "on_time": {
            "replied": figures["replied"],
            "on_time": figures["replied_on_time"],
            "rate": _ratio(figures["replied_on_time"], figures["replied"]),
        },
        "satisfaction": {
            "rated": rated,
            "satisfied": figures["satisfied"],
            "basically_satisfied": figures["basically_satisfied"],
            "unsatisfied": figures["unsatisfied"],
            "rate": _ratio(figures["satisfied"] + figures["basically_satisfied"], rated),
        },
    }


# Hot topics --------------------------------------------------------------------------------------


def _hot(now: datetime.datetime, field: str) -> list[dict[str, Any]]:
    """The categories or districts whose last hour spikes against the same hour a week earlier, hottest first."""
    recent = Q(created_at__gt=now - HOT_WINDOW)
    before = Q(created_at__lte=now - HOT_BASELINE_OFFSET, created_at__gt=now - HOT_BASELINE_OFFSET - HOT_WINDOW)
    baseline = now - HOT_BASELINE_OFFSET - HOT_WINDOW
    names = [f"{field}__name", f"{field}__name_en"]
    if field == "category":
        names += ["category__parent__name", "category__parent__name_en"]
    rows = (
        _registered_since(baseline, now)
        .filter(recent | before, **{f"{field}__isnull": False})
        .values(field, *names)
        .annotate(count=Count("id", filter=recent), previous=Count("id", filter=before))
        .filter(count__gte=HOT_MIN_COUNT)
        .filter(GreaterThanOrEqual(F("count") + 1, HOT_MIN_RATIO * (F("previous") + 1)))
        .annotate(ratio=Cast(F("count") + 1, FloatField()) / Cast(F("previous") + 1, FloatField()))
        .order_by("-ratio", "-count", field)[:HOT_TOP]
    )
    hot = []
    for row in rows:
        label = _label(row[f"{field}__name"], row[f"{field}__name_en"])
        if row.get("category__parent__name"):
            label = f"{_label(row['category__parent__name'], row['category__parent__name_en'])} / {label}"
        hot.append(
            {
                "id": row[field],
                "label": label,
                "count": row["count"],
                "previous": row["previous"],
                "ratio": round(row["ratio"], 2),
            }
        )
    return hot


# Keeping it live ---------------------------------------------------------------------------------


def wallboard_affected_by(event_type: str) -> bool:
    """Whether a published event (its type, e.g. "call.answer") can change a wallboard figure."""
    return event_type.startswith(WALLBOARD_EVENT_PREFIXES)


class WallboardThrottle:
    """When one socket should refresh its wallboard: at most once per `interval`, the last change always sent.

    `event(type)` returns None when nothing is to be done (the event moves no figure, or a refresh
    is already planned), else the seconds to wait before refreshing (0: now). Call `sent()` when the
    refresh goes out. Not thread-safe: one per socket, used from its event loop.
    """

    def __init__(self, interval: float = REFRESH_INTERVAL, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._monotonic = monotonic
        self._last_sent: float | None = None
        self._planned = False

    def event(self, event_type: str) -> float | None:
        if self._planned or not wallboard_affected_by(event_type):
            return None
        self._planned = True
        if self._last_sent is None:
            return 0.0
        return max(0.0, self._last_sent + self.interval - self._monotonic())

    def sent(self) -> None:
        self._last_sent = self._monotonic()
        self._planned = False


_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def wallboard_cached(*, max_age: float = REFRESH_INTERVAL, since: float | None = None) -> dict[str, Any]:
    """`wallboard_snapshot()` in the active language, computed at most once per `max_age` seconds per process.

    With `since` (a time.monotonic() value), only a computation that began at or after it will do: one
    that shows every change committed before then.
    """
    language = get_language() or ""
    with _cache_lock:
        hit = _cache.get(language)
        if hit is None or time.monotonic() - hit[0] >= max_age or (since is not None and hit[0] < since):
            hit = _cache[language] = (time.monotonic(), wallboard_snapshot())
    return dict(hit[1])  # a new top level, so a caller adding keys leaves the shared one alone
