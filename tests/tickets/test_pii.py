"""Citizens' personal data: ID-number checks, masking, protection at rest and the audited reveal."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation
from stdnum.cn import ric

from dashboards.models import OutboxEvent
from tests.conftest import VALID_ID
from tests.factories import UserFactory
from tickets import actions, clock
from tickets.errors import NotAllowed
from tickets.models import Citizen, PiiAccess, Role
from tickets.pii import id_number_clean, id_number_mask, phone_clean, phone_mask, pii_decrypt, pii_hash


@pytest.fixture(autouse=True)
def _english():
    """The messages are checked in English; the Chinese catalogue is the translators' to test."""
    with translation.override("en"):
        yield


def with_check_digit(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")


DIGIT_ID = with_check_digit("44130219900307123")  # check character 8
X_ID = with_check_digit("44130219900108123")  # check character X: the 441302********123X


# ID numbers ------------------------------------------------------------------------------------


def test_test_numbers_cover_both_kinds_of_check_character():
    assert VALID_ID[-1] == "X" and X_ID[-1] == "X"
    assert DIGIT_ID[-1].isdigit()


# stdnum dates area code 441302 from 1988; people born earlier may still carry it.
BORN_BEFORE_DISTRICT = with_check_digit("44130219800107123")


@pytest.mark.parametrize("number", [VALID_ID, DIGIT_ID, X_ID, BORN_BEFORE_DISTRICT])
def test_valid_id_numbers_are_accepted(number):
    assert id_number_clean(number) == number


def test_id_number_is_normalised_lower_case_x_and_spaces():
    assert id_number_clean(" 110105 19491231 002x ") == VALID_ID


def _refusal(raw: str) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        id_number_clean(raw)
    return refused.value


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        pytest.param(VALID_ID[:-1] + "1", "id_checksum", "check digit", id="wrong-check-digit"),
        pytest.param(DIGIT_ID[:-1] + "X", "id_checksum", "check digit", id="x-instead-of-digit"),
        pytest.param(VALID_ID[:-1], "id_length", "this one has 17", id="17-characters"),
        pytest.param(VALID_ID + "1", "id_length", "this one has 19", id="19-characters"),
        pytest.param("11010519491231", "id_length", "this one has 14", id="too-short"),
        pytest.param("1101051949123100AX", "id_format", "17 digits followed by a digit or X", id="letter-inside"),
        pytest.param(VALID_ID[:-1] + "A", "id_format", "17 digits followed by a digit or X", id="letter-at-end"),
        pytest.param(with_check_digit("11010519490231002"), "id_component", "birth date", id="31-february"),
        pytest.param(with_check_digit("11010520990101002"), "id_component", "birth date", id="born-in-2099"),
        pytest.param(with_check_digit("00000019900101002"), "id_component", "area code", id="unknown-area"),
    ],
)
def test_bad_id_numbers_are_refused_with_a_clear_message(raw, code, words):
    error = _refusal(raw)
    assert error.code == code
    assert words in error.messages[0]


def test_length_message_names_the_expected_length():
    assert "18 characters" in _refusal("123").messages[0]


def test_id_number_is_masked_to_the_first_six_and_last_four():
    assert id_number_mask(X_ID) == "441302********123X"
    assert id_number_mask(VALID_ID) == "110105********002X"


# Phone numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("0752-2345678", "+867522345678"),  # Huizhou landline with its area code
        ("010 12345678", "+861012345678"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, e164):
    assert phone_clean(raw) == e164


@pytest.mark.parametrize("raw", ["", "abc", "12345", "110", "1380013800", "unknown"])
def test_garbage_is_not_a_phone_number(raw):
    with pytest.raises(ValidationError) as refused:
        phone_clean(raw)
    assert "phone number" in refused.value.messages[0]


@pytest.mark.parametrize(
    ("number", "masked"),
    [("+8613800138000", "138****8000"), ("+8613912345678", "139****5678"), ("+867522345678", "075****5678"), ("", "")],
)
def test_phone_numbers_are_shown_masked(number, masked):
    assert phone_mask(number) == masked


# At rest ---------------------------------------------------------------------------------------


def _dump() -> str:
    """Every value of every table, as a database dump would show them."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the schema
            values.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(values)


def test_id_number_cannot_be_read_from_a_database_dump(citizen, make_ticket, supervisor):
    make_ticket(citizen=citizen, caller_number="13800138000")
    actions.citizen_reveal(citizen, user=supervisor, reason="市民要求核对身份")

    dump = _dump()

    assert citizen.id_masked in dump  # the dump is real: the masked form is there
    for secret in (VALID_ID, VALID_ID.lower(), VALID_ID[6:14], VALID_ID[:17]):
        assert secret not in dump


def test_citizen_row_holds_a_keyed_hash_an_encrypted_value_and_the_masked_form(citizen):
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_hash, id_encrypted, id_masked FROM tickets_citizen WHERE id = %s", [citizen.pk])
        id_hash, encrypted, masked = cursor.fetchone()
    assert masked == "110105********002X"
    assert id_hash == pii_hash(VALID_ID) and len(id_hash) == 64
    assert pii_decrypt(encrypted) == VALID_ID


def test_citizen_is_found_by_id_number_through_its_hash(citizen):
    assert Citizen.objects.get(id_hash=pii_hash(id_number_clean("110105 19491231 002x"))) == citizen


def test_the_key_comes_from_settings(citizen, settings):
    hash_with_dev_key = pii_hash(VALID_ID)
    settings.PII_KEY = "another-deployment-key"
    assert pii_hash(VALID_ID) != hash_with_dev_key
    with pytest.raises(ValueError, match="cannot be decrypted"):
        pii_decrypt(Citizen.objects.get(pk=citizen.pk).id_encrypted)


def test_same_id_number_twice_is_refused_on_the_id_number_field(citizen):
    with pytest.raises(ValidationError) as refused:
        actions.citizen_create(name="张三丰", id_number=VALID_ID.lower())
    assert list(refused.value.message_dict) == ["id_number"]
    assert "already registered" in refused.value.message_dict["id_number"][0]
    assert Citizen.objects.count() == 1


def test_bad_id_number_or_phone_is_refused_on_its_field(db):
    with pytest.raises(ValidationError) as refused:
        actions.citizen_create(name="李四", id_number=VALID_ID[:-1] + "1")
    assert list(refused.value.message_dict) == ["id_number"]
    with pytest.raises(ValidationError) as refused:
        actions.citizen_create(name="李四", phones=["12345"])
    assert list(refused.value.message_dict) == ["phones"]
    assert not Citizen.objects.exists()


def test_citizen_phones_are_stored_in_e164_and_shown_masked(citizen):
    actions.citizen_add_phone(citizen, number="0752-2345678", label="家")
    actions.citizen_add_phone(citizen, number="+86 752 234 5678")  # the same number again: harmless
    assert sorted(citizen.phones.values_list("number", flat=True)) == ["+8613800138000", "+867522345678"]
    assert sorted(str(phone) for phone in citizen.phones.all()) == ["075****5678", "138****8000"]


# The audited reveal ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.DEPARTMENT])
def test_reveal_without_the_permission_is_refused_and_writes_nothing(citizen, water, role):
    user = UserFactory(role=role, department=water if role == Role.DEPARTMENT else None)
    with pytest.raises(NotAllowed):
        actions.citizen_reveal(citizen, user=user, reason="想看一下")
    assert not PiiAccess.objects.exists()


def test_reveal_by_an_inactive_supervisor_is_refused(citizen):
    former = UserFactory(role=Role.SUPERVISOR, is_active=False)
    with pytest.raises(NotAllowed):
        actions.citizen_reveal(citizen, user=former, reason="核对身份信息")
    assert not PiiAccess.objects.exists()


def test_reveal_with_the_permission_returns_the_number_and_is_audited(citizen, supervisor):
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    with clock.at(moment):
        revealed = actions.citizen_reveal(citizen, user=supervisor, reason="  市民来电要求核对身份  ")

    assert revealed["id_number"] == VALID_ID
    assert revealed["phones"] == ["+8613800138000"]
    access = PiiAccess.objects.get()
    assert (access.user, access.citizen, access.reason, access.at) == (
        supervisor,
        citizen,
        "市民来电要求核对身份",
        moment,
    )


@pytest.mark.parametrize("reason", ["", "   ", "看"])
def test_reveal_without_a_reason_is_refused(citizen, supervisor, reason):
    with pytest.raises(ValidationError) as refused:
        actions.citizen_reveal(citizen, user=supervisor, reason=reason)
    assert "reason" in refused.value.message_dict
    assert not PiiAccess.objects.exists()


def test_ticket_events_and_timeline_carry_no_personal_data(citizen, make_ticket, operator):
    ticket = make_ticket(citizen=citizen, caller_number="13800138000")
    actions.ticket_update(ticket, actor=operator, version=ticket.version, caller_number="0752-2345678")

    written = [*OutboxEvent.objects.values_list("payload", flat=True), *ticket.timeline.values_list("data", "note")]
    text = str(written)
    for secret in (VALID_ID, "13800138000", "7522345678", citizen.name, citizen.address):
        assert secret not in text
