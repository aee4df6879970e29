"""Citizens' personal data: ID-number validation, keyed hashing, encryption and masking."""

import base64
import functools
import hashlib
import hmac
import re

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric


def id_number_clean(raw: str) -> str:
    """Return the canonical 18-character resident ID number or raise ValidationError.

    The checks are GB 11643's: length, digits, the ISO 7064 MOD 11-2 check character
    (which may be X), a real birth date and a known area code.
    """
    # People type the number in groups ("110105 19491231 002X"); stdnum keeps inner spaces.
    raw = re.sub(r"[\s-]", "", raw or "")
    try:
        # stdnum reports a stray last letter as a wrong check digit, and accepts births to come.
        if len(raw) == 18 and raw[-1] not in "0123456789Xx":
            raise stdnum_errors.InvalidFormat()
        number = ric.compact(raw)
        if len(number) != 18:
            raise stdnum_errors.InvalidLength()
        if not number[:-1].isdigit():
            raise stdnum_errors.InvalidFormat()
        if number[-1] != ric.calc_check_digit(number):
            raise stdnum_errors.InvalidChecksum()
        if ric.get_birth_date(number) > timezone.localdate():
            raise stdnum_errors.InvalidComponent()
        # Not ric.validate(): it also demands that the area code existed in the birth year,
        # which refuses people who moved to a district created after they were born.
        if not _area_code_known(number[:6]):
            raise stdnum_errors.InvalidComponent()
        return number
    except stdnum_errors.InvalidLength:
        raise ValidationError(
            _("A resident ID number has 18 characters; this one has %(count)d.") % {"count": len(ric.compact(raw))},
            code="id_length",
        ) from None
    except stdnum_errors.InvalidChecksum:
        raise ValidationError(
            _("The last character of this ID number does not match its check digit; please check it."),
            code="id_checksum",
        ) from None
    except stdnum_errors.InvalidFormat:
        raise ValidationError(
            _("A resident ID number is 17 digits followed by a digit or X."), code="id_format"
        ) from None
    except stdnum_errors.InvalidComponent:
        raise ValidationError(
            _("This ID number has an impossible birth date or an unknown area code."), code="id_component"
        ) from None


@functools.cache
def _area_code_known(code: str) -> bool:
    from stdnum import numdb

    return any(props for _part, props in numdb.get("cn/loc").info(code))


def id_number_mask(number: str) -> str:
    """Show the first six and last four characters: 441302********123X."""
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def phone_clean(raw: str) -> str:
    """Return a phone number in E.164 (+8613800138000) or raise ValidationError."""
    try:
        parsed = phonenumbers.parse(raw, settings.PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("“%(value)s” is not a phone number.") % {"value": raw}, code="phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(_("“%(value)s” is not a valid phone number.") % {"value": raw}, code="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_lookup_key(raw: str) -> str | None:
    """Normalise a caller ID for lookup; None for withheld, 'unknown' or unparsable numbers."""
    try:
        return phone_clean(raw)
    except ValidationError:
        return None


def phone_national(e164: str) -> str:
    """The number as a local caller would key it (13800138000, 07522345678)."""
    parsed = phonenumbers.parse(e164, settings.PHONE_REGION)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL).replace(" ", "").replace("-", "")


def phone_mask(e164: str) -> str:
    """Mask the middle of a phone number: 138****5678."""
    if not e164:
        return ""
    national = phone_national(e164) if e164.startswith("+") else e164
    if len(national) <= 7:
        return national[:2] + "*" * max(len(national) - 4, 0) + national[-2:]
    return f"{national[:3]}{'*' * (len(national) - 7)}{national[-4:]}"


@functools.cache
def _keys(secret: str) -> tuple[bytes, Fernet]:
    def derive(purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())

    return derive(b"hotline id-number lookup"), Fernet(
        base64.urlsafe_b64encode(derive(b"hotline id-number encryption"))
    )


def pii_hash(value: str) -> str:
    """Keyed hash for equality lookup; without the key it cannot be reversed by brute force."""
    hash_key, _fernet = _keys(settings.PII_KEY)
    return hmac.new(hash_key, value.encode(), hashlib.sha256).hexdigest()


def pii_encrypt(value: str) -> str:
    _hash_key, fernet = _keys(settings.PII_KEY)
    return fernet.encrypt(value.encode()).decode()


def pii_decrypt(token: str) -> str:
    _hash_key, fernet = _keys(settings.PII_KEY)
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("the stored ID number cannot be decrypted with HOTLINE_PII_KEY") from None
