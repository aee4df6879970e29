"""Replaying spooled calls into the database once it is back: through the actions, each in one transaction, once."""

from __future__ import annotations

import contextlib
import datetime
import logging
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from routing.callbacks import callback_record
from telephony.actions import call_hangup, call_ivr_done, call_open
from tickets.actions.lifecycle import ticket_number_preassigned
from tickets.errors import InvalidTransition
from tickets.models import Satisfaction, Ticket

from .database import DB_ERRORS, DatabaseHealth, discard_connection
from .spool import Spool

logger = logging.getLogger(__name__)


def spool_replay(spool: Spool, health: DatabaseHealth) -> int:
    """Replay every spooled record not held by a call in progress; stop at the first database failure.

    A record is deleted only after its transaction committed. Should the process die between the
    commit and the delete, the next replay finds the call by its uniqueid and changes nothing.
    """
    replayed = 0
    for path in spool.pending():
        if not spool.claim(path):
            continue  # its call is still going on (or another replay has it)
        try:
            if not path.exists():
                continue
            replay_file(spool, path)
        except DB_ERRORS as exc:
            health.failed(exc)
            discard_connection()
            break
        else:
            replayed += 1
            health.recovered()
        finally:
            spool.release(path)
    if replayed:
        logger.info("replayed %d spooled call(s) into the database", replayed)
    return replayed


def replay_file(spool: Spool, path: Path) -> None:
    """Replay one record and delete it; a record the domain refuses is quarantined, never retried."""
    try:
        record = spool.read(path)
        with transaction.atomic():
            REPLAYERS[record["kind"]](record)
    except DB_ERRORS:
        raise
    except Exception:
        target = spool.quarantine(path)
        logger.exception("spooled record %s cannot be replayed; moved to %s", path.name, target)
        return
    spool.remove(path)


def replay_call(record: dict[str, Any]) -> None:
    """Open the call and its ticket (with the number the caller was told), then its IVR result and hang-up."""
    number = "" if record.get("opened") else record.get("number") or ""
    with ticket_number_preassigned(number) if number else contextlib.nullcontext():
        opened = call_open(
            uniqueid=record["key"],
            caller=record.get("caller", ""),
            dialled=record.get("dialled", ""),
            channel=record.get("channel", ""),
            language=record.get("language", ""),
            linkedid=record.get("linkedid", ""),
            recording=record.get("recording", ""),
            at=_time(record.get("started_at")),
        )
    if number and opened.ticket.number != number:
        # The open committed before the connection broke and its reply was lost: the ticket kept its first number.
        logger.warning(
            "call %s: caller was told ticket %s, the ticket is %s", record["key"], number, opened.ticket.number
        )
    ivr = record.get("ivr")
    if ivr and opened.call.ivr_ended_at is None:
        call_ivr_done(
            opened.call,
            path=ivr["path"],
            digits=ivr["digits"],
            kind=ivr["kind"],
            self_service=ivr.get("self_service", False),
            at=_time(ivr["at"]),
        )
    hangup = record.get("hangup")
    if hangup:
        call_hangup(record["key"], cause=hangup["cause"], at=_time(hangup["at"]))


def replay_rating(record: dict[str, Any]) -> None:
    """Record the citizen's rating as the callback of the replied ticket, as an operator would (callback_record):
    satisfied or basically satisfied closes it, unsatisfied reopens it; the callback row, the timeline
    and the events come with it. A ticket no longer awaiting its callback is left as it is.

    The live callback call runs this too (not only the spool's replay).
    """
    number, satisfaction = record["ticket"], record["satisfaction"]
    ticket = Ticket.objects.filter(number=number).first()
    if satisfaction == Satisfaction.UNSATISFIED:
        note = _("Unsatisfied: keyed in by the citizen during the callback call.")
    else:
        note = _("Keyed in by the citizen during the callback call.")
    try:
        if ticket is None:
            raise _NotAwaiting("no such ticket")
        # actor=None: the system records it; callback_record checks the ticket is replied, under its lock.
        callback_record(ticket, actor=None, result=satisfaction, note=note)
    except (_NotAwaiting, InvalidTransition) as exc:  # rated twice, or handled by a person meanwhile
        logger.warning(
            "callback %s: ticket %s is not awaiting a callback (%s); rating %s ignored",
            record["key"],
            number,
            exc,
            satisfaction,
        )


class _NotAwaiting(Exception):
    pass


REPLAYERS = {"call": replay_call, "rating": replay_rating}


def _time(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None
