"""Writes on citizens: create with a protected ID number, add phones, audited reveal."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ..errors import NotAllowed
from ..models import Citizen, CitizenPhone, District, PiiAccess, User
from ..pii import id_number_clean, id_number_mask, phone_clean, pii_decrypt, pii_encrypt, pii_hash


def citizen_create(
    *,
    name: str = "",
    id_number: str = "",
    phones: list[str] = (),  # type: ignore[assignment]
    address: str = "",
    district: District | None = None,
) -> Citizen:
    """Create a citizen; the ID number is validated, hashed for lookup and encrypted.

    Raises ValidationError for a bad ID number or phone, or when the ID number is already
    registered (the unified identity allows one record per person).
    """
    fields: dict[str, str] = {}
    if id_number:
        try:
            number = id_number_clean(id_number)
        except ValidationError as exc:
            raise ValidationError({"id_number": exc.messages}) from None
        fields = {"id_hash": pii_hash(number), "id_encrypted": pii_encrypt(number), "id_masked": id_number_mask(number)}
    try:
        cleaned_phones = list(dict.fromkeys(phone_clean(phone) for phone in phones))
    except ValidationError as exc:
        raise ValidationError({"phones": exc.messages}) from None
    try:
        with transaction.atomic():
            citizen = Citizen.objects.create(name=name, address=address, district=district, **fields)
            CitizenPhone.objects.bulk_create(CitizenPhone(citizen=citizen, number=p) for p in cleaned_phones)
    except IntegrityError:
        raise ValidationError(
            {"id_number": _("A citizen with this ID number is already registered.")}, code="duplicate"
        ) from None
    return citizen


def citizen_add_phone(citizen: Citizen, *, number: str, label: str = "") -> CitizenPhone:
    """Attach a phone number (normalised to E.164); adding a known number again is harmless."""
    phone, _created = CitizenPhone.objects.get_or_create(
        citizen=citizen, number=phone_clean(number), defaults={"label": label}
    )
    return phone


def citizen_reveal(citizen: Citizen, *, user: User, reason: str) -> dict[str, object]:
    """Return the unmasked ID number and phones, writing the audit entry first.

    Needs the tickets.view_citizen_pii permission and a reason a reviewer can read.
    """
    if not user.has_perm("tickets.view_citizen_pii"):
        raise NotAllowed(_("You are not allowed to see unmasked personal data."))
    reason = reason.strip()
    if len(reason) < 4:
        raise ValidationError({"reason": _("Say why you need to see this citizen's personal data.")})
    PiiAccess.objects.create(user=user, citizen=citizen, fields="id_number,phones", reason=reason)
    return {
        "id": citizen.pk,
        "name": citizen.name,
        "id_number": pii_decrypt(citizen.id_encrypted) if citizen.id_encrypted else "",
        "phones": [phone.number for phone in citizen.phones.all()],
    }
