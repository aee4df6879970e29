"""The progress page: number and query code or the phone's last four digits; wrong tries limited; nothing private."""

import datetime
import time

import pytest
import time_machine

from tickets import actions
from tickets.models import Status

pytestmark = pytest.mark.django_db

WRONG = "The ticket number and the code do not match."
# What the progress page must never show: timeline notes and the return reason, staff, the citizen's own data.
NOTES = ("内部派单说明A1", "内部延期理由B2", "内部驳回理由C3", "非本单位职责")
STAFF = ("王话务", "赵班长", "钱承办", "water_staff", "operator", "supervisor")
CITIZEN = ("李四", "13800138000", "138****8000", "+8613800138000", "惠城区江北街道1号", "小区停水三天")
TOO_MANY = "Too many wrong attempts."


@pytest.fixture
def query(client):
    def post(number: str, secret: str, ip: str = "203.0.113.7"):
        return client.post("/public/progress/", {"number": number, "secret": secret}, REMOTE_ADDR=ip)

    return post


def test_the_query_code_shows_the_status(query, web_ticket):
    ticket, code = web_ticket()

    response = query(ticket.number, code)

    html = response.content.decode()
    assert response.status_code == 200
    assert ticket.number in html and "Received: waiting to be assigned to a department" in html
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{dashed}", " {spaced} "])
def test_the_query_code_may_be_typed_loosely(query, web_ticket, typed):
    ticket, code = web_ticket()
    variants = {
        "code": code,
        "lower": code.lower(),
        "dashed": f"{code[:5]}-{code[5:]}",
        "spaced": f"{code[:5]} {code[5:]}",
    }

    assert query(ticket.number, typed.format(**variants)).status_code == 200


def test_the_last_four_digits_of_the_phone_show_the_status(query, web_ticket):
    ticket, _code = web_ticket()

    assert query(ticket.number, "8000").status_code == 200


def test_full_width_characters_from_a_chinese_input_method_are_read_as_ascii(query, web_ticket):
    ticket, code = web_ticket()
    full_width = str.maketrans(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ",
    )

    assert query(ticket.number.translate(full_width), "８０００").status_code == 200
    assert query(ticket.number, code.translate(full_width)).status_code == 200
    assert query(ticket.number, "٨٠٠٠").status_code == 400  # other scripts' digits are not a phone's


def test_a_phone_ticket_can_be_followed_by_the_last_four_digits_of_the_caller(query, operator, category_tree):
    ticket = actions.ticket_create(
        actor=operator, kind="consultation", description="咨询社保", caller_number="13912345678"
    )

    assert query(ticket.number, "5678").status_code == 200
    assert query(ticket.number, "ABCDEFGHJK").status_code == 400


@pytest.mark.parametrize("secret", ["ABCDEFGHJK", "0000", "8001", "", "80000"])
def test_a_wrong_code_is_refused_with_one_message(query, web_ticket, secret):
    ticket, _code = web_ticket()

    response = query(ticket.number, secret)

    assert response.status_code == 400
    if secret:
        assert WRONG in response.content.decode()
    assert "Status" not in response.content.decode()


def test_an_unknown_number_reads_like_a_wrong_code(query, web_ticket):
    _ticket, code = web_ticket()

    for number in ("2099010100001", "not-a-number", "1"):
        response = query(number, code)
        assert response.status_code == 400 and WRONG in response.content.decode()


def test_a_draft_is_not_found(query, operator):
    draft = actions.ticket_create(actor=operator, register=False, caller_number="13912345678")

    assert WRONG in query(draft.number, "5678").content.decode()


def test_a_ticket_without_a_phone_has_no_last_four_digits(query, web_ticket):
    ticket, code = web_ticket(phone="")

    assert query(ticket.number, "0000").status_code == 400
    assert query(ticket.number, code).status_code == 200


# What is shown -----------------------------------------------------------------------------------


def test_a_dispatched_ticket_shows_its_department_and_deadline(query, web_ticket, water):
    ticket, code = web_ticket(Status.DISPATCHED)

    html = query(ticket.number, code).content.decode()

    assert "Assigned to a department" in html and water.name_en in html
    assert ticket.deadline.astimezone(time_zone()).strftime("%Y-%m-%d %H:%M") in html


def test_the_reply_is_shown_once_the_department_has_replied(query, web_ticket):
    ticket, code = web_ticket(Status.REPLIED)

    html = query(ticket.number, code).content.decode()

    assert "The department has replied" in html and "已处理" in html


def test_the_page_shows_no_internal_notes_staff_or_personal_data(
    query, web_ticket, operator, supervisor, water_staff, water
):
    for user, name in ((operator, "王话务"), (supervisor, "赵班长"), (water_staff, "钱承办")):
        user.first_name = name
        user.save()
    ticket, code = web_ticket(Status.RETURNED)
    actions.ticket_dispatch(ticket, actor=operator, department=water, note="内部派单说明A1")
    actions.ticket_accept(ticket, actor=water_staff)
    ticket.refresh_from_db()
    actions.ticket_request_extension(
        ticket, actor=water_staff, until=ticket.deadline + datetime.timedelta(days=5), reason="内部延期理由B2"
    )
    actions.ticket_deny_extension(ticket, actor=supervisor, note="内部驳回理由C3")
    other, _other_code = web_ticket(description="另一位市民的诉求D4", contact_name="周五", phone="13700137000")

    html = query(ticket.number, code).content.decode()
    html_by_phone = query(ticket.number, "8000").content.decode()

    for page in (html, html_by_phone):
        assert "Being handled by the department" in page
        for secret in (*NOTES, *STAFF, *CITIZEN, other.number, "另一位市民的诉求D4", "周五"):
            assert secret not in page, secret


def test_the_rating_link_is_offered_to_the_holder_of_the_query_code_only(query, web_ticket):
    ticket, code = web_ticket(Status.REPLIED)

    assert "/public/rate/" in query(ticket.number, code).content.decode()
    assert "/public/rate/" not in query(ticket.number, "8000").content.decode()


# Wrong tries are limited -------------------------------------------------------------------------


def test_after_too_many_wrong_tries_on_a_ticket_the_phone_digits_are_refused_but_the_code_works(
    query, web_ticket, settings
):
    settings.INTAKE_QUERY_FAILURES_PER_TICKET_DAY = 3
    ticket, code = web_ticket()
    for n, ip in enumerate(("198.51.100.1", "198.51.100.2", "198.51.100.3")):
        assert query(ticket.number, f"000{n}", ip=ip).status_code == 400

    refused = query(ticket.number, "8000", ip="198.51.100.4")

    assert refused.status_code == 429 and TOO_MANY in refused.content.decode()
    assert query(ticket.number, code, ip="198.51.100.5").status_code == 200
    with time_machine.travel(time.time() + 86400, tick=False):
        assert query(ticket.number, "8000", ip="198.51.100.6").status_code == 200


def test_after_too_many_wrong_tries_from_one_address_every_query_from_it_is_refused(query, web_ticket, settings):
    settings.INTAKE_QUERY_FAILURES_PER_IP_HOUR = 3
    ticket, code = web_ticket()
    for n in range(3):
        query(f"20990101{n:05d}", code, ip="192.0.2.9")

    refused = query(ticket.number, code, ip="192.0.2.9")

    assert refused.status_code == 429 and TOO_MANY in refused.content.decode()
    assert query(ticket.number, code, ip="192.0.2.10").status_code == 200
    with time_machine.travel(time.time() + 3600, tick=False):
        assert query(ticket.number, code, ip="192.0.2.9").status_code == 200


def test_right_answers_do_not_count_against_the_limits(query, web_ticket, settings):
    settings.INTAKE_QUERY_FAILURES_PER_TICKET_DAY = 2
    settings.INTAKE_QUERY_FAILURES_PER_IP_HOUR = 2
    ticket, code = web_ticket()

    for _ in range(5):
        assert query(ticket.number, "8000").status_code == 200


def test_a_bad_form_says_what_is_missing(client):
    response = client.post("/public/progress/", {"number": "", "secret": ""})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def time_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
