"""The IVR dialogue: prompts, keyed digits, channel variables, the data-driven menu and the progress answer.

Everything here talks AGI through the session and reads nothing from the database itself: menus
arrive as snapshots and tickets as TicketProgress, so a database outage cannot fail a prompt.
Hang-ups surface as AGIHangup from the session; a missing prompt file (`result=-1` on a live
channel) is not one, and the dialogue goes on.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from telephony.agi.protocol import Reply
from telephony.agi.pyst2_adapter import FastAGISession
from telephony.prompts import department_prompt, status_prompt

_KEYS = re.compile(r"[0-9*#]*")
# A menu leading back into itself must not hold the caller forever.
MAX_MENU_DEPTH = 8
# Ticket numbers are YYYYMMDD + a five-digit sequence; a little room for longer days.
TICKET_NUMBER_DIGITS = 20
TICKET_NUMBER_TIMEOUT_MS = 10000
PROGRESS_ATTEMPTS = 3
# SAY DATETIME speaks the time in the zone it is given (without one, in the Asterisk host's zone), and
# Asterisk's format letters (voicemail.conf): A weekday, B month name, d day of the month, Y year.
# A zh channel reads year, month, day, weekday; an en channel "Tuesday, December first, 2026".
SAY_ZONE = "Asia/Shanghai"
DATE_FORMATS = {"zh": "YBdA", "en": "ABdY"}


class Caller:
    """The caller's side of the dialogue: each method is one AGI command, sent byte for byte as documented."""

    def __init__(self, session: FastAGISession, *, language: str = "zh") -> None:
        self.session = session
        self.language = language

    def answer(self) -> None:
        self.session.command("ANSWER")

    def play(self, prompt: str) -> Reply:
        """STREAM FILE without interrupt keys; a missing file (`result=-1`) is skipped."""
        return self.session.command("STREAM FILE", prompt, "")

    def ask(self, prompt: str, *, timeout_ms: int, max_digits: int) -> str:
        """GET DATA: play `prompt` and return the digits keyed ("" for none, # ends input early)."""
        reply = self.session.command("GET DATA", prompt, timeout_ms, max_digits)
        result = reply.result or ""
        return result if _KEYS.fullmatch(result) else ""

    def say_digits(self, digits: str) -> None:
        self.session.command("SAY DIGITS", digits, "")

    def say_date(self, when: datetime.datetime) -> None:
        """The date of `when` in Shanghai, whatever the Asterisk host's zone: SAY DATETIME with the zone.

        (SAY DATE takes no zone and speaks the host's date: a deadline of 07:00 in Shanghai would be
        read as the day before on a host running in UTC.)
        """
        date_format = DATE_FORMATS.get(self.language, DATE_FORMATS["zh"])
        self.session.command("SAY DATETIME", int(when.timestamp()), "", date_format, SAY_ZONE)

    def set(self, name: str, value: str) -> None:
        """SET VARIABLE for the dialplan (also on a hung-up channel: the h extension sees it)."""
        self.session.command("SET VARIABLE", name, value)

    def get(self, name: str) -> str:
        return self.session.command("GET VARIABLE", name).data or ""

    def hangup(self) -> None:
        self.session.hangup()


@dataclass(frozen=True)
class Option:
    action: str
    kind: str = ""
    submenu: str = ""


@dataclass(frozen=True)
class Menu:
    """A snapshot of one IvrMenu and its options, by key."""

    code: str
    prompt: str
    invalid_prompt: str
    timeout_ms: int
    max_attempts: int
    options: dict[str, Option] = field(default_factory=dict)


@dataclass
class Trail:
    """Where the caller went (`main>complaint`) and the menu keys they pressed, kept as they go."""

    steps: list[str] = field(default_factory=list)
    digits: str = ""

    @property
    def path(self) -> str:
        return ">".join(self.steps)

    @property
    def chose_something(self) -> bool:
        return len(self.steps) > 1 or bool(self.digits)


@dataclass(frozen=True)
class Choice:
    """How the menu ended: `kind` (with the kind), `progress`, or `operator`."""

    action: str
    kind: str = ""


OPERATOR = Choice("operator")


def run_menu(caller: Caller, menus: dict[str, Menu], trail: Trail, *, start: str = "main") -> Choice:
    """Play the menu from `start` until a choice; invalid or no input replays it, then an operator."""
    menu = menus.get(start)
    for _depth in range(MAX_MENU_DEPTH):
        if menu is None:
            trail.steps += ["no-menu", "operator"]
            return OPERATOR
        trail.steps.append(menu.code)
        option = _choose(caller, menu, trail)
        if option is None:
            trail.steps += ["no-choice", "operator"]
            return OPERATOR
        if option.action != "submenu":
            trail.steps.append(option.kind or option.action)
            return Choice(option.action, option.kind)
        menu = menus.get(option.submenu)
    trail.steps += ["too-deep", "operator"]
    return OPERATOR


def _choose(caller: Caller, menu: Menu, trail: Trail) -> Option | None:
    for attempt in range(max(menu.max_attempts, 1)):
        if attempt:
            caller.play(menu.invalid_prompt)
        keyed = caller.ask(menu.prompt, timeout_ms=menu.timeout_ms, max_digits=1)
        trail.digits += keyed
        if keyed in menu.options:
            return menu.options[keyed]
    return None


@dataclass(frozen=True)
class TicketProgress:
    """What may be said about a ticket on the phone: no name, no address, no content."""

    status: str
    department: str = ""
    deadline: datetime.datetime | None = None


def query_progress(caller: Caller, lookup: Callable[[str], TicketProgress | None]) -> bool:
    """Ask for a ticket number and speak its progress; an unknown number gets an apology and a retry.

    Returns False when no number was found within the attempts (the caller then goes to an operator).
    `lookup` may raise the database's errors; they pass through.
    """
    for _attempt in range(PROGRESS_ATTEMPTS):
        number = caller.ask(
            "hotline/enter-ticket-number", timeout_ms=TICKET_NUMBER_TIMEOUT_MS, max_digits=TICKET_NUMBER_DIGITS
        )
        if not number:
            continue
        progress = lookup(number)
        if progress is None:
            caller.play("hotline/ticket-not-found")
            continue
        speak_progress(caller, progress)
        return True
    return False


def speak_progress(caller: Caller, progress: TicketProgress) -> None:
    caller.play("hotline/ticket-status-is")
    caller.play(status_prompt(progress.status))
    if progress.department:
        caller.play("hotline/handled-by")
        # A department without a recording gives result=-1 and is skipped, never spelled out.
        caller.play(department_prompt(progress.department))
    if progress.deadline:
        caller.play("hotline/deadline-is")
        caller.say_date(progress.deadline)
