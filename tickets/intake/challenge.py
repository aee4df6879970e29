"""The public form's spam check without outside services: a signed sum, a minimum fill time, one use.

The question ("3 + 4") travels in the form as a token signed with SECRET_KEY, with the time it
was asked and a nonce; the answer is checked against the token, so nothing is stored per visitor.
A nonce is spent (in the cache) only when a ticket is created, so a solved question cannot be
replayed by a script to create many tickets; rate limits (limits.py) bound the rest.
"""

import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache

SALT = "tickets.intake.challenge"


class ChallengeError(Exception):
    """The challenge was not met; `code` says why: wrong, expired, too_fast, used, invalid."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Challenge:
    a: int
    b: int
    issued: float
    nonce: str

    @property
    def token(self) -> str:
        return signing.dumps({"a": self.a, "b": self.b, "t": self.issued, "n": self.nonce}, salt=SALT)


def challenge_new() -> Challenge:
    """A fresh question: the sum of two numbers from 1 to 9."""
    return Challenge(
        a=secrets.randbelow(9) + 1, b=secrets.randbelow(9) + 1, issued=time.time(), nonce=secrets.token_urlsafe(12)
    )


def challenge_read(token: str) -> Challenge:
    """The challenge a form carried; ChallengeError("expired" | "invalid") when it cannot be trusted."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.INTAKE_CHALLENGE_MAX_AGE)
        return Challenge(a=int(data["a"]), b=int(data["b"]), issued=float(data["t"]), nonce=str(data["n"]))
    except signing.SignatureExpired:
        raise ChallengeError("expired") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ChallengeError("invalid") from None


def challenge_check(challenge: Challenge, answer: str) -> None:
    """Raise ChallengeError unless `answer` is the sum and the form was open long enough to be filled by hand."""
    if time.time() - challenge.issued < settings.INTAKE_MIN_FILL_SECONDS:
        raise ChallengeError("too_fast")
    try:
        given = int((answer or "").strip().translate(FULL_WIDTH_DIGITS))
    except ValueError:
        raise ChallengeError("wrong") from None
    if given != challenge.a + challenge.b:
        raise ChallengeError("wrong")


def challenge_spend(challenge: Challenge) -> None:
    """Mark the challenge used (once a ticket is about to be created); ChallengeError("used") the second time."""
    if not cache.add(f"intake:challenge:{challenge.nonce}", 1, timeout=settings.INTAKE_CHALLENGE_MAX_AGE + 60):
        raise ChallengeError("used")


# Chinese input methods often type full-width digits (７).
FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
