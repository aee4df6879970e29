"""The public request form: a valid request becomes a routed web ticket; every bad input changes nothing."""

import importlib
import io
import re
import time

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.hashers import identify_hasher
from PIL import ExifTags, Image

from dashboards.models import OutboxEvent
from routing.actions import rule_save
from routing.rules import RuleSpec
from tests.intake.conftest import PHONE, challenge_token, jpeg, png, stored_files, upload, web_tickets
from tickets.models import Action, Citizen, Status, TimelineEntry, WebIntake

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def return_reasons(db):
    importlib.import_module("routing.migrations.0005_seed_return_reasons").seed(apps, None)


@pytest.fixture
def water_rule(water, category_tree):
    """Water cuts go to the water department at once, as an operator's ticket would."""
    return rule_save(
        RuleSpec(
            name="停水自动派单",
            lead_department=water.pk,
            categories=(category_tree["utilities"].pk,),
            auto_dispatch=True,
        ),
        actor=None,
    )


def _later(*, seconds: float):
    return time_machine.travel(time.time() + seconds, tick=False)


def nothing_stored():
    return not web_tickets().exists() and not WebIntake.objects.exists() and stored_files() == []


# Success ---------------------------------------------------------------------------------------


def test_a_valid_request_becomes_a_registered_web_ticket_dispatched_by_the_rules(submit, water_rule, water):
    response = submit()

    assert response.status_code == 200
    ticket = web_tickets().get()
    assert (ticket.channel, ticket.kind, ticket.status, ticket.lead_department) == (
        "web",
        "complaint",
        Status.DISPATCHED,
        water,
    )
    assert ticket.caller_number == "+8613800138000" and ticket.created_by is None
    assert ticket.description == "小区停水三天了，没有任何通知" and ticket.title.startswith("小区停水")
    actions = list(TimelineEntry.objects.filter(ticket=ticket).values_list("action", flat=True))
    assert actions == [Action.CREATE, Action.REGISTER, Action.DISPATCH]
    events = list(OutboxEvent.objects.filter(payload__ticket=ticket.number).values_list("type", flat=True))
    assert events == ["ticket.create", "ticket.register", "ticket.dispatch"]
    html = response.content.decode()
    assert ticket.number in html
    assert response["Cache-Control"].count("no-store") == 1


def test_without_a_matching_rule_the_ticket_waits_on_the_dispatch_queue(submit):
    submit(kind="suggestion", address="", district="")

    ticket = web_tickets().get()
    assert (ticket.status, ticket.lead_department) == (Status.REGISTERED, None)
    assert ticket.address == "" and ticket.district is None


def test_the_query_code_is_shown_once_and_only_its_hash_is_stored(submit):
    response = submit()

    html = response.content.decode()
    shown = html.split('id="query-code">')[1].split("<")[0]
    code = shown.replace("-", "")
    assert len(code) == 10
    intake = WebIntake.objects.get()
    assert code not in intake.query_code_hash and identify_hasher(intake.query_code_hash)
    assert intake.contact_name == "李四"


def test_a_known_phone_does_not_link_the_ticket_to_that_citizen_nor_reveal_anything(client, form_data, citizen):
    """A stranger typing someone's phone gets exactly what anyone gets; the ticket stays unlinked."""
    first = client.post("/public/", form_data(client, phone=PHONE)).content.decode()
    second = client.post("/public/", form_data(client, phone="13912345678")).content.decode()

    assert web_tickets().filter(citizen__isnull=False).count() == 0
    assert Citizen.objects.count() == 1
    for html in (first, second):
        assert "张三" not in html and citizen.address not in html and "138****8000" not in html
    assert _without_secrets(first) == _without_secrets(second)


def _without_secrets(html: str) -> str:
    """The page less what differs on every request: the CSRF token, the ticket number, the query code."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'id="(ticket-number|query-code)">[^<]*<', "", html)


def test_the_phone_is_optional(submit):
    response = submit(phone="", contact_name="")

    assert response.status_code == 200
    assert web_tickets().get().caller_number == ""


def test_a_consultation_needs_no_address(submit):
    assert submit(kind="consultation", address="", district="").status_code == 200


def test_the_phone_is_normalised_from_any_local_format(submit):
    submit(phone="138 0013 8000")
    assert web_tickets().get().caller_number == "+8613800138000"


# Bad input: a clear message, nothing stored ------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": None}, "This field is required."),
        ({"kind": "gossip"}, "Select a valid choice."),
        ({"category": None}, "This field is required."),
        ({"category": "999999"}, "Select a valid choice."),
        ({"description": None}, "This field is required."),
        ({"description": "停水"}, "Ensure this value has at least 5 characters"),
        ({"address": ""}, "Give the address: it is required for a complaint."),
        ({"district": ""}, "Choose the district: it is required for a complaint."),
        ({"phone": "12345"}, "“12345” is not a phone number we can call."),
        ({"phone": "call me"}, "“call me” is not a phone number we can call."),
        ({"answer": "999"}, "That is not the right answer."),
        ({"answer": ""}, "This field is required."),
        ({"challenge": "forged"}, "Please answer the new question"),
        ({"website": "http://spam.example"}, "Please answer the new question"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_stored(submit, overrides, message):
    response = submit(**overrides, photo=upload(jpeg()))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert nothing_stored()


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (upload(b"this is not a picture at all", "photo.jpg"), "This file is not a photo we can read."),
        (upload(b"<?php system($_GET['c']); ?>", "shell.png", "image/png"), "This file is not a photo we can read."),
        (upload(jpeg()[:200], "cut.jpg"), "This file is not a photo we can read."),
        (upload(b"GIF89a" + b"\x00" * 64, "anim.gif", "image/gif"), "This file is not a photo we can read."),
        (upload(b"", "empty.jpg"), "The submitted file is empty."),
    ],
    ids=["text", "script-as-png", "truncated-jpeg", "gif", "empty"],
)
def test_a_file_that_is_not_an_image_is_refused(submit, photo, message):
    response = submit(photo=photo)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert nothing_stored()


def test_an_oversized_photo_is_refused_with_its_size_and_the_limit(submit, settings):
    settings.INTAKE_PHOTO_MAX_BYTES = 1024 * 1024
    big = upload(b"\xff\xd8" + b"\x00" * (1024 * 1024 + 10))

    response = submit(photo=big)

    assert response.status_code == 400
    assert "The photo is 1.0 MB; photos up to 1.0 MB are accepted." in response.content.decode()
    assert nothing_stored()


def test_a_photo_with_too_many_pixels_is_refused_before_it_is_decoded(submit, settings):
    settings.INTAKE_PHOTO_MAX_PIXELS = 1000

    response = submit(photo=upload(jpeg(size=(100, 100))))

    assert response.status_code == 400
    assert "100 × 100 pixels" in response.content.decode()
    assert nothing_stored()


def test_a_redisplayed_form_keeps_what_was_typed_and_asks_for_the_photo_again(submit):
    html = submit(phone="12345", photo=upload(jpeg())).content.decode()

    assert "小区停水三天了" in html
    assert "please choose it again" in html
    assert 'aria-invalid="true"' in html and 'href="#id_phone"' in html


def test_a_wrong_answer_gets_a_new_question(client, form_data):
    data = form_data(client, answer="999")
    html = client.post("/public/", data).content.decode()

    assert challenge_token(html) != data["challenge"]


def test_a_right_answer_is_kept_when_another_field_is_wrong(client, form_data):
    data = form_data(client, phone="12345")
    html = client.post("/public/", data).content.decode()

    assert challenge_token(html) == data["challenge"]
    assert f'value="{data["answer"]}"' in html


def test_a_form_sent_faster_than_a_person_can_type_is_refused(client, form_data, settings):
    settings.INTAKE_MIN_FILL_SECONDS = 3
    data = form_data(client)

    response = client.post("/public/", data)

    assert response.status_code == 400
    assert "That was very quick." in response.content.decode()
    assert nothing_stored()
    with _later(seconds=5):
        assert client.post("/public/", data).status_code == 200


def test_an_expired_question_is_refused(client, form_data, settings):
    data = form_data(client)
    with _later(seconds=settings.INTAKE_CHALLENGE_MAX_AGE + 1):
        response = client.post("/public/", data)

    assert response.status_code == 400
    assert "The form was open for a long time." in response.content.decode()
    assert nothing_stored()


def test_a_solved_question_cannot_be_replayed_to_send_more_requests(client, form_data):
    data = form_data(client)
    assert client.post("/public/", data).status_code == 200

    again = client.post("/public/", data)

    assert again.status_code == 400
    assert "This form has already been sent." in again.content.decode()
    assert web_tickets().count() == 1


# The photo ------------------------------------------------------------------------------------


def test_a_photo_is_stored_under_media_root_with_a_random_name_and_no_metadata(submit, settings):
    submit(photo=upload(jpeg(size=(64, 48)), "IMG_0001.jpg"))

    intake = WebIntake.objects.get()
    [path] = stored_files()
    assert path.is_relative_to(settings.MEDIA_ROOT / "intake")
    assert "IMG_0001" not in path.name and len(path.stem) >= 32
    assert intake.photo.name == str(path.relative_to(settings.MEDIA_ROOT)) and intake.photo_type == "image/jpeg"
    with Image.open(path) as image:
        assert (image.format, image.size) == ("JPEG", (64, 48))
        exif = image.getexif()
        assert not exif.get_ifd(ExifTags.IFD.GPSInfo) and ExifTags.Base.Make not in exif
    assert b"TestCam" not in path.read_bytes()


def test_a_png_stays_a_png(submit):
    submit(photo=upload(png(), "shot.png", "image/png"))

    assert WebIntake.objects.get().photo_type == "image/png"
    [path] = stored_files()
    assert path.suffix == ".png"


def test_the_photo_is_turned_upright_before_its_orientation_tag_is_dropped(submit):
    image = Image.new("RGB", (60, 20), (0, 0, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # taken holding the phone upright: display rotated 90°
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    submit(photo=upload(out.getvalue()))

    [path] = stored_files()
    with Image.open(path) as stored:
        assert stored.size == (20, 60)


def test_a_ticket_that_fails_to_be_created_leaves_no_photo_behind(submit, monkeypatch):
    import tickets.actions.intake as intake_actions

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(intake_actions, "ticket_create", broken)
    with pytest.raises(RuntimeError):
        submit(photo=upload(jpeg()))

    assert nothing_stored()


def test_staff_who_see_the_ticket_get_the_photo_and_nobody_else_does(
    client, submit, operator, water_staff, housing_staff, water_rule
):
    submit(photo=upload(jpeg()))
    ticket = web_tickets().get()
    url = f"/intake/{ticket.number}/photo/"

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]

    for user, status in ((operator, 200), (water_staff, 200), (housing_staff, 404)):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == status, user
        if status == 200:
            assert response["Content-Type"] == "image/jpeg"
            assert "no-store" in response["Cache-Control"]
            assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    client.logout()


def test_photos_have_no_public_address(client, submit):
    submit(photo=upload(jpeg()))
    name = WebIntake.objects.get().photo.name

    for prefix in ("/media/", "/", "/static/"):
        assert client.get(prefix + name).status_code == 404


def test_the_staff_page_gets_the_name_and_photo_link_but_a_department_not_a_reporters_name(
    web_ticket, operator, water_staff
):
    from tests.intake.conftest import jpeg as make_jpeg
    from tickets.intake.photos import photo_prepare
    from tickets.intake.selectors import web_intake_for_staff

    complaint, _code = web_ticket("dispatched", photo=photo_prepare(upload(make_jpeg())))
    report, _code = web_ticket("dispatched", kind="report")

    seen = web_intake_for_staff(operator, complaint)
    assert (seen.contact_name, seen.photo_url) == ("李四", f"/intake/{complaint.number}/photo/")
    assert web_intake_for_staff(water_staff, complaint).contact_name == "李四"
    assert web_intake_for_staff(operator, report).contact_name == "李四"
    assert web_intake_for_staff(water_staff, report).contact_name == ""
    assert web_intake_for_staff(water_staff, report).photo_url == ""


def test_the_ticket_page_shows_a_department_the_name_and_the_photo_link_of_a_web_complaint(
    client, web_ticket, water_staff
):
    from tests.intake.conftest import jpeg as make_jpeg
    from tickets.intake.photos import photo_prepare

    complaint, _code = web_ticket("dispatched", photo=photo_prepare(upload(make_jpeg())))
    report, _code = web_ticket("dispatched", kind="report")
    client.force_login(water_staff)

    page = client.get(f"/tickets/{complaint.number}/").content.decode()
    assert "李四" in page and f'href="/intake/{complaint.number}/photo/"' in page
    assert "李四" not in client.get(f"/tickets/{report.number}/").content.decode()  # a reporter stays hidden
