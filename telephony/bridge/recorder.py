"""One call's record, written through the actions while the database answers and into the spool once it fails."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telephony.actions import call_hangup, call_ivr_done, call_open
from telephony.models import Call
from tickets import clock

from .calls import CallInfo
from .database import DB_ERRORS, DatabaseHealth, TicketNumberPool
from .replay import replay_file
from .spool import Spool, SpoolError
from .workers import DatabaseWorkers

logger = logging.getLogger(__name__)

# How long a new session for a call waits while the replay loop is writing that call's spooled record.
CLAIM_WAIT = 5.0


@dataclass
class Store:
    """What every call of one bridge shares: the spool, the database breaker, the held ticket numbers and
    the threads that do the database work."""

    spool: Spool
    health: DatabaseHealth
    numbers: TicketNumberPool
    db: DatabaseWorkers


class CallRecorder:
    """Open, IVR result and hang-up of one call: actions first, the spool from the first database failure on.

    Once a call is spooled it stays spooled to its end, so its record is replayed as one whole.
    """

    def __init__(self, store: Store, info: CallInfo) -> None:
        self.store = store
        self.info = info
        self.call: Call | None = None
        self.ticket_number = ""
        self.citizen_known = False
        self.ivr_recorded = False
        self.record: dict[str, Any] | None = None
        # The inbound dialplan passes AGI(…/hotline,${CHANNEL(linkedid)},${HOTLINE_RECORDING}); either may
        # be empty or missing (an older dialplan, a call not recorded).
        self.linkedid, self.recording = (arg.strip() for arg in (*info.args[:2], "", "")[:2])
        self._path = store.spool.path_for("call", info.uniqueid)
        self._claimed = False

    @property
    def spooled(self) -> bool:
        return self.record is not None

    def open(self) -> None:
        """The call record and its draft ticket (or those of an earlier session of this call)."""
        spool = self.store.spool
        self._claimed = spool.claim(self._path, timeout=CLAIM_WAIT)
        if not self._claimed:
            logger.warning("call %s: its spooled record stays busy; going on without it", self.info.uniqueid)
        earlier = spool.load("call", self.info.uniqueid) if self._claimed else None
        if self.store.health.available():
            try:
                if earlier is not None:  # an earlier session of this call was spooled: it comes first
                    # Not inside the step's transaction: the record is deleted only after its own commit.
                    self.store.db.run(replay_file, spool, self._path, atomic=False)
                    earlier = spool.load("call", self.info.uniqueid)
                if earlier is None:
                    opened = self.store.db.run(
                        call_open,
                        uniqueid=self.info.uniqueid,
                        caller=self.info.caller,
                        dialled=self.info.dialled,
                        channel=self.info.channel,
                        language=self.info.language,
                        linkedid=self.linkedid,
                        recording=self.recording,
                    )
                    self.call, self.ticket_number = opened.call, opened.ticket.number
                    self.citizen_known = opened.citizen is not None
                    self.ivr_recorded = opened.call.ivr_ended_at is not None
                    return
            except DB_ERRORS as exc:
                self._database_failed(exc)
        self.record = earlier or {
            "kind": "call",
            "key": self.info.uniqueid,
            "caller": self.info.caller,
            "dialled": self.info.dialled,
            "channel": self.info.channel,
            "language": self.info.language,
            "linkedid": self.linkedid,
            "recording": self.recording,
            "started_at": clock.now().isoformat(),
            "opened": False,
            "number": self.store.numbers.take(),
            "ivr": None,
            "hangup": None,
        }
        self.ticket_number = self.record["number"]
        self.ivr_recorded = self.record["ivr"] is not None
        self._save()

    def ivr_done(self, *, path: str, digits: str, kind: str, self_service: bool = False) -> None:
        """What the caller chose in the IVR (a kind goes onto the draft ticket); `self_service`: they heard
        what they called for (a progress answer), so the call ends in self-service."""
        self.ivr_recorded = True
        if self._try_database():
            try:
                assert self.call is not None
                self.store.db.run(
                    call_ivr_done, self.call, path=path, digits=digits, kind=kind, self_service=self_service
                )
                return
            except DB_ERRORS as exc:
                self._database_failed(exc)
        step = {"path": path, "digits": digits, "kind": kind, "self_service": self_service}
        self._spool_step("ivr", {**step, "at": clock.now().isoformat()})

    def hangup(self, *, cause: str) -> None:
        """Close the call record: the caller hung up (or the IVR ended the call)."""
        if self._try_database():
            try:
                self.store.db.run(call_hangup, self.info.uniqueid, cause=cause)
                return
            except DB_ERRORS as exc:
                self._database_failed(exc)
        self._spool_step("hangup", {"cause": cause, "at": clock.now().isoformat()})

    def close(self) -> None:
        """The session is over: the replay may take this call's record now."""
        if self._claimed:
            self._claimed = False
            self.store.spool.release(self._path)

    def _try_database(self) -> bool:
        return self.record is None and self.store.health.available()

    def _spool_step(self, step: str, data: dict[str, Any]) -> None:
        if self.record is None:
            # The call was opened in the database; only what came after is owed.
            self.record = {
                "kind": "call",
                "key": self.info.uniqueid,
                "caller": self.info.caller,
                "dialled": self.info.dialled,
                "channel": self.info.channel,
                "language": self.info.language,
                "linkedid": self.linkedid,
                "recording": self.recording,
                "started_at": self.call.started_at.isoformat() if self.call else clock.now().isoformat(),
                "opened": True,
                "number": self.ticket_number,
                "ivr": None,
                "hangup": None,
            }
        self.record[step] = data
        self._save()

    def _save(self) -> None:
        assert self.record is not None
        try:
            self.store.spool.save(self.record)
        except SpoolError as exc:
            # Nothing else can keep it: the log line carries what a person needs to re-enter the call.
            logger.error(
                "call %s (ticket %s) lost: neither the database nor the spool took it: %s",
                self.info.uniqueid,
                self.ticket_number or "-",
                exc,
            )

    def _database_failed(self, exc: BaseException) -> None:
        # The worker that met the error has already dropped its connection.
        self.store.health.failed(exc)
