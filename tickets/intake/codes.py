"""The query code (查询码) a web citizen gets once: made, normalised, checked against its stored hash."""

import secrets
import unicodedata

from django.contrib.auth.hashers import check_password, make_password

from ..models import WebIntake

# Letters and digits that cannot be mistaken for each other (no 0/O, 1/I/L): 31 symbols, 10 of
# them are about 50 bits, far beyond what the rate limits let anyone try.
QUERY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
QUERY_CODE_LENGTH = 10


def query_code_new() -> str:
    """A fresh query code, shown to the citizen once in groups of five (ABCDE-FGHJK)."""
    return "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(QUERY_CODE_LENGTH))


def query_code_display(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def query_code_normalise(raw: str) -> str:
    """What the citizen typed, as stored: upper case, without spaces or dashes, full-width letters made ASCII."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", raw or "").upper() if ch.isalnum())


def query_code_hash(code: str) -> str:
    """A salted password hash (Django's hasher): the code itself is never stored."""
    return make_password(query_code_normalise(code))


def query_code_matches(intake: WebIntake | None, raw: str) -> bool:
    """Check a typed query code against the stored hash (a dummy hash when there is none, to take the same time)."""
    code = query_code_normalise(raw)
    if intake is None or not intake.query_code_hash:
        make_password(code)
        return False
    return check_password(code, intake.query_code_hash)
