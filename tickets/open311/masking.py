"""Masking of personal data inside public text: the standard publishes descriptions, not phone numbers.

Citizens write their phone number, ID number or e-mail into the description, and departments
address them by name in a reply. What Open311 answers shows such text with ID numbers as
441302********123X, phone numbers as 138****8000 and e-mail addresses as z***@example.com; the
names of the submitter and of the citizen the ticket belongs to are starred too.
"""

import re
from collections.abc import Iterable

from tickets.pii import id_number_mask

# Resident ID numbers: 18 characters (the last may be X) or the old 15 digits.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
# Phone-like digit runs: 7 digits or more, maybe +86, maybe grouped 3-4-4 or 0752-2345678.
_PHONE = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?(?:1\d{2}[ -]\d{4}[ -]\d{4}|0\d{2,3}[ -]\d{7,8}|\d{7,})(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _star_digits(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) >= 11:
        return f"{digits[-11:][:3]}{'*' * 4}{digits[-4:]}"
    return f"{'*' * (len(digits) - 2)}{digits[-2:]}"


def _star_email(match: re.Match[str]) -> str:
    local, _at, domain = match.group(0).partition("@")
    return f"{local[:1]}***@{domain}"


def _star_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1)


def public_text(text: str | None, *, names: Iterable[str] = ()) -> str | None:
    """`text` with ID numbers, phone numbers, e-mail addresses and the given names masked."""
    if not text:
        return text
    text = _ID_NUMBER.sub(lambda match: id_number_mask(match.group(0).upper()), text)
    text = _EMAIL.sub(_star_email, text)
    text = _PHONE.sub(_star_digits, text)
    # Longest first, so "张三丰" is starred whole rather than as "张三" plus "丰". A one-character
    # name part is a common word too often to be starred on its own.
    for name in sorted({name.strip() for name in names if len(name.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, _star_name(name))
    return text


def contact_names(first_name: str, last_name: str, *more: str) -> list[str]:
    """The forms a person's name takes in text: 张三 (family name first), John Smith, Smith John."""
    first_name, last_name = first_name.strip(), last_name.strip()
    forms = [first_name, last_name, *more]
    if first_name and last_name:
        forms += [f"{last_name}{first_name}", f"{first_name} {last_name}", f"{last_name} {first_name}"]
    return [form for form in forms if form]
