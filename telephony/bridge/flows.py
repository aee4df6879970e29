"""The bridge's flows, one per AGI script path: /hotline (the menu), /progress (a progress query), /callback.

Every inbound call first gets its call record and draft ticket and the channel variables the
dialplan queues on (HOTLINE_TICKET, HOTLINE_CITIZEN_KNOWN, HOTLINE_LANG, then HOTLINE_KIND),
whatever the caller or the database does next. A flow returns when the caller should go on to the
operator queue; the self-service endings hang up themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.db.models import Prefetch

from telephony.agi.protocol import AGIError, AGIHangup, AGISessionCut
from telephony.agi.pyst2_adapter import FastAGISession
from telephony.models import IvrMenu, IvrOption, OptionAction
from tickets.models import WITH_DEPARTMENT, Satisfaction, Status, Ticket

from . import ivr
from .calls import CallInfo
from .database import DB_ERRORS, DatabaseHealth, TicketNumberPool, discard_connection
from .recorder import CallRecorder, Store
from .replay import replay_rating, spool_replay
from .spool import Spool, SpoolError
from .workers import HOOK_DELAY, DatabaseWorkers

logger = logging.getLogger(__name__)

# Admin edits to the menu reach calls within this many seconds.
MENU_TTL = 10.0
# Asking Asterisk for HANGUPCAUSE after a hang-up must not hold the socket open for long.
HANGUP_CAUSE_TIMEOUT = 1.0
CALLER_HUNG_UP = "caller hung up"
SELF_SERVICE_DONE = "self-service done"
# The IVR step of a call this bridge cut while stopping: Asterisk takes the caller on to the queue.
BRIDGE_STOPPED = "bridge-stopped"
RATINGS = {"1": Satisfaction.SATISFIED, "2": Satisfaction.BASICALLY, "3": Satisfaction.UNSATISFIED}
CALLBACK_ATTEMPTS = 3
# Database connections of one bridge (its worker threads) on PostgreSQL; SQLite takes one writer at a time.
DB_CONNECTIONS = 4


class Bridge:
    """Everything between an AGI session and the domain, shared by every call one server handles."""

    def __init__(
        self,
        *,
        spool_dir: Path | str,
        reserved_numbers: int = 100,
        menu_ttl: float = MENU_TTL,
        db_connections: int | None = None,
        hook_delay: float = 0.0,
    ) -> None:
        """`db_connections`: worker threads, each with its own connection (default: 4); always 1 on SQLite,
        which lets one writer at a time into the whole file.

        `hook_delay`: how long the on-commit hooks (event relays) of calls wait to run together; 0 runs
        each step's hooks before the step returns (tests); the services use HOOK_DELAY.
        """
        if connection.vendor == "sqlite":
            db_connections = 1
        elif db_connections is None:
            db_connections = DB_CONNECTIONS
        workers = DatabaseWorkers(db_connections, hook_delay=hook_delay)
        self.store = Store(Spool(spool_dir), DatabaseHealth(), TicketNumberPool(reserved_numbers), workers)
        self.menu_ttl = menu_ttl
        self._menus: tuple[float, dict[str, ivr.Menu]] | None = None
        self._menus_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> Bridge:
        return cls(
            spool_dir=settings.AGI_SPOOL_DIR,
            reserved_numbers=settings.AGI_RESERVED_NUMBERS,
            db_connections=settings.AGI_DB_CONNECTIONS,
            hook_delay=HOOK_DELAY,
        )

    def close(self) -> None:
        """Run the event relays still waiting and close the database connections (after the last call)."""
        self.store.db.close()

    def __call__(self, session: FastAGISession) -> None:
        self.handle(session)

    def handle(self, session: FastAGISession) -> None:
        """The FastAGI server's handler: pick the flow by script path and run it in this call's thread."""
        try:
            info = CallInfo.from_env(session.env)
            flow = FLOWS.get(info.script)
            if flow is None:
                # Asterisk sees a clean end of the AGI session (SUCCESS) and the dialplan carries on.
                logger.warning(
                    "AGI call %s from %s: unknown script %r, session ended", info.uniqueid, session.peer, info.script
                )
                return
            if not info.uniqueid:
                logger.warning("AGI call from %s: no agi_uniqueid in the environment, session ended", session.peer)
                return
            flow(self, session, info)
        finally:
            _close_connections()

    def maintain(self) -> None:
        """Replay the spool and keep ticket numbers held; the service's loop calls this every few seconds."""
        self.store.db.run(self._maintain, atomic=False)

    def _maintain(self) -> None:
        store = self.store
        try:
            if store.spool.pending():
                spool_replay(store.spool, store.health)
            elif store.health.down:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                store.health.recovered()
            if not store.health.down:
                store.numbers.top_up()
        except DB_ERRORS as exc:
            store.health.failed(exc)
            discard_connection()

    def menus(self) -> dict[str, ivr.Menu] | None:
        """The IVR menus, re-read every menu_ttl seconds; the last ones (or None) while the database is down."""
        with self._menus_lock:
            cached = self._menus
            if cached and time.monotonic() - cached[0] < self.menu_ttl:
                return cached[1]
            if not self.store.health.available():
                return cached[1] if cached else None
            try:
                menus = self.store.db.run(_load_menus)
            except DB_ERRORS as exc:
                self.store.health.failed(exc)
                return cached[1] if cached else None
            self._menus = (time.monotonic(), menus)
            return menus


def _load_menus() -> dict[str, ivr.Menu]:
    options = Prefetch("options", queryset=IvrOption.objects.select_related("submenu"))
    return {
        menu.code: ivr.Menu(
            code=menu.code,
            prompt=menu.prompt,
            invalid_prompt=menu.invalid_prompt,
            timeout_ms=menu.timeout_ms,
            max_attempts=menu.max_attempts,
            options={
                option.digit: ivr.Option(option.action, option.kind, option.submenu.code if option.submenu else "")
                for option in menu.options.all()
            },
        )
        for menu in IvrMenu.objects.prefetch_related(options)
    }


def lookup_progress(number: str) -> ivr.TicketProgress | None:
    """What the phone may say about ticket `number`: status, department, running deadline. None if unknown."""
    ticket = (
        Ticket.objects.select_related("lead_department", "merged_into__lead_department").filter(number=number).first()
    )
    if ticket is None:
        return None
    if ticket.status == Status.MERGED and ticket.merged_into:
        ticket = ticket.merged_into  # the main ticket carries on for both
    return ivr.TicketProgress(
        status=ticket.status,
        department=ticket.lead_department.code if ticket.lead_department else "",
        deadline=ticket.deadline if ticket.status in WITH_DEPARTMENT else None,
    )


@dataclass
class CallFlow:
    """One inbound call going through a flow."""

    bridge: Bridge
    info: CallInfo
    caller: ivr.Caller
    recorder: CallRecorder
    trail: ivr.Trail = field(default_factory=ivr.Trail)
    kind: str = ""

    def to_queue(self, *, prompt: str = "hotline/to-operator") -> None:
        """Leave the IVR for the operator queue: the kind for the dialplan, the IVR result, then the prompts."""
        self.caller.set("HOTLINE_KIND", self.kind)
        self.recorder.ivr_done(path=self.trail.path, digits=self.trail.digits, kind=self.kind)
        number = self.recorder.ticket_number
        if self.kind and number:
            self.caller.play("hotline/your-ticket-number")
            self.caller.say_digits(number)
        self.caller.play(prompt)
        logger.info(
            "AGI call %s: ticket %s, %s, to the operator queue%s",
            self.info.uniqueid,
            number or "-",
            self.trail.path,
            " (spooled)" if self.recorder.spooled else "",
        )

    def progress(self) -> None:
        """The progress query; a found ticket ends the call here, otherwise the caller goes to an operator."""
        health = self.bridge.store.health
        if self.recorder.spooled or not health.available():
            self.trail.steps.append("operator")
            self.to_queue(prompt="hotline/service-busy")
            return
        try:
            found = ivr.query_progress(self.caller, lambda number: self.bridge.store.db.run(lookup_progress, number))
        except DB_ERRORS as exc:
            health.failed(exc)
            self.trail.steps.append("operator")
            self.to_queue(prompt="hotline/service-busy")
            return
        if not found:
            self.trail.steps.append("operator")
            self.to_queue()
            return
        # Before the goodbye: whoever closes the call next (this hang-up, or the AMI listener's Hangup
        # event, which can come first) finds it finished in self-service, however the caller leaves now.
        self.recorder.ivr_done(path=self.trail.path, digits=self.trail.digits, kind="", self_service=True)
        self.caller.play("hotline/goodbye")
        self.caller.hangup()
        self.recorder.hangup(cause=SELF_SERVICE_DONE)
        logger.info("AGI call %s: progress query answered, call ended", self.info.uniqueid)

    def caller_hung_up(self, exc: AGIHangup) -> AGIHangup:
        """Close the call record with its cause and keep the draft; the server logs the one line."""
        if self.trail.chose_something and not self.recorder.ivr_recorded:
            self.recorder.ivr_done(path=self.trail.path, digits=self.trail.digits, kind=self.kind)
        cause = self._hangup_cause() or CALLER_HUNG_UP
        self.recorder.hangup(cause=cause)
        number = self.recorder.ticket_number or "-"
        spooled = ", spooled" if self.recorder.spooled else ""
        return AGIHangup(f"{exc}; call closed ({cause}), draft ticket {number} kept{spooled}")

    def cut_off(self, exc: AGISessionCut) -> AGISessionCut:
        """The bridge cut this session while stopping: no hang-up. Asterisk returns to the dialplan, which
        queues the caller with HOTLINE_TICKET, so the call record stays open for the AMI listener to close."""
        if not self.recorder.ivr_recorded:
            self.trail.steps += [BRIDGE_STOPPED, "operator"]
            self.recorder.ivr_done(path=self.trail.path, digits=self.trail.digits, kind=self.kind)
        number = self.recorder.ticket_number or "-"
        return AGISessionCut(f"{exc}; call left open for the queue, draft ticket {number}")

    def _hangup_cause(self) -> str:
        # GET VARIABLE still works on a dead channel; over a closed socket it fails at once.
        session = self.caller.session
        session.read_timeout = min(session.read_timeout, HANGUP_CAUSE_TIMEOUT)
        try:
            return self.caller.get("HANGUPCAUSE")
        except AGIError:
            return ""


def _inbound(body: Callable[[CallFlow], None]) -> Callable[[Bridge, FastAGISession, CallInfo], None]:
    """An inbound flow: open the call and set the variables, run `body`, close the call record on a hang-up."""

    def flow(bridge: Bridge, session: FastAGISession, info: CallInfo) -> None:
        call = CallFlow(bridge, info, ivr.Caller(session, language=info.language), CallRecorder(bridge.store, info))
        try:
            call.recorder.open()
            call.caller.set("HOTLINE_TICKET", call.recorder.ticket_number)
            call.caller.set("HOTLINE_CITIZEN_KNOWN", "1" if call.recorder.citizen_known else "0")
            call.caller.set("HOTLINE_LANG", info.language)
            call.caller.answer()
            body(call)
        except AGIHangup as exc:
            raise call.caller_hung_up(exc) from None
        except AGISessionCut as exc:
            raise call.cut_off(exc) from None
        finally:
            call.recorder.close()

    return flow


@_inbound
def hotline_flow(call: CallFlow) -> None:
    menus = None if call.recorder.spooled else call.bridge.menus()
    if menus is None:  # the database is down: straight to an operator, with the variables from the fallback
        call.trail.steps += ["outage", "operator"]
        call.to_queue(prompt="hotline/service-busy")
        return
    call.caller.play("hotline/welcome")
    choice = ivr.run_menu(call.caller, menus, call.trail)
    call.kind = choice.kind
    if choice.action == OptionAction.PROGRESS:
        call.progress()
    else:
        call.to_queue()


@_inbound
def progress_flow(call: CallFlow) -> None:
    call.trail.steps.append("progress")
    call.progress()


def callback_flow(bridge: Bridge, session: FastAGISession, info: CallInfo) -> None:
    """The callback (回访): the citizen rates the department's reply to ticket agi_arg_1 with 1, 2 or 3."""
    number = info.args[0].strip() if info.args else ""
    if not number:
        logger.warning("AGI call %s: /callback without a ticket number (agi_arg_1), session ended", info.uniqueid)
        return
    caller = ivr.Caller(session)
    caller.answer()
    rating = ""
    for attempt in range(CALLBACK_ATTEMPTS):
        if attempt:
            caller.play("hotline/invalid")
        rating = RATINGS.get(caller.ask("hotline/callback-intro", timeout_ms=5000, max_digits=1), "")
        if rating:
            break
    caller.set("HOTLINE_SATISFACTION", rating)
    if not rating:
        logger.info("AGI call %s: callback for ticket %s, no rating keyed", info.uniqueid, number)
        caller.play("hotline/goodbye")
        return
    record = {"kind": "rating", "key": info.uniqueid, "ticket": number, "satisfaction": rating}
    _rate(bridge.store, record)
    caller.play("hotline/thank-you")
    caller.hangup()


def _rate(store: Store, record: dict[str, str]) -> None:
    if store.health.available():
        try:
            store.db.run(replay_rating, record)
            logger.info("AGI call %s: ticket %s rated %s", record["key"], record["ticket"], record["satisfaction"])
            return
        except DB_ERRORS as exc:
            store.health.failed(exc)
    try:
        store.spool.save(record)
        logger.info("AGI call %s: rating of ticket %s spooled", record["key"], record["ticket"])
    except SpoolError as exc:
        logger.error(
            "AGI call %s: rating %s of ticket %s lost: %s", record["key"], record["satisfaction"], record["ticket"], exc
        )


FLOWS: dict[str, Callable[[Bridge, FastAGISession, CallInfo], None]] = {
    "hotline": hotline_flow,
    "progress": progress_flow,
    "callback": callback_flow,
}


def _close_connections() -> None:
    # Call threads leave the database to the workers; should one have opened a connection anyway, it would
    # leak with the short-lived thread.
    try:
        connections.close_all()
    except Exception as exc:  # a connection broken by an outage can fail to close; it is gone anyway
        logger.debug("closing database connections: %s", exc)


_default_bridge: Bridge | None = None
_default_lock = threading.Lock()


def default_bridge() -> Bridge:
    """The process's bridge, built from settings on first use."""
    global _default_bridge
    with _default_lock:
        if _default_bridge is None:
            _default_bridge = Bridge.from_settings()
        return _default_bridge


def handle_session(session: FastAGISession) -> None:
    """The FastAGI handler with the process's bridge (from settings)."""
    default_bridge().handle(session)
