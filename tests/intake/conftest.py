"""Fixtures of the web intake tests: a private cache and media folder per test, the form filled as a citizen would."""

import io
import re
import uuid

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import ExifTags, Image

from tickets.intake.challenge import SALT as CHALLENGE_SALT
from tickets.models import Ticket

PHONE = "13800138000"


@pytest.fixture
def client():
    """A citizen's browser asking for English, so messages read as in the code (Chinese is the default)."""
    return Client(headers={"Accept-Language": "en"})


@pytest.fixture(autouse=True)
def _private_cache_and_media(settings, tmp_path):
    """Rate-limit counters and photos of one test never meet another's (nor an earlier run's in Redis)."""
    cache = dict(django_settings.CACHES["default"])
    cache["KEY_PREFIX"] = f"intake-test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": cache}
    settings.MEDIA_ROOT = tmp_path / "media"
    # The minimum fill time has its own tests; elsewhere the form is "filled" at once.
    settings.INTAKE_MIN_FILL_SECONDS = 0


def challenge_token(html: str) -> str:
    match = re.search(r'name="challenge" value="([^"]+)"', html)
    assert match, "the form carries no challenge"
    return match.group(1)


def challenge_answer(token: str) -> str:
    data = signing.loads(token, salt=CHALLENGE_SALT)
    return str(data["a"] + data["b"])


def jpeg(size=(40, 30), *, gps: bool = True) -> bytes:
    """A small JPEG photo with a camera name and a GPS position in its EXIF."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (22.0, 48.0, 0.0), 3: "E", 4: (114.0, 25.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(size=(20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 120, 0, 128)).save(out, "PNG")
    return out.getvalue()


def upload(content: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def form_data(db, category_tree, district):
    """form_data(**overrides): a complete, valid complaint with its challenge answered."""

    def make(client, **overrides):
        token = challenge_token(client.get("/public/").content.decode())
        data = {
            "kind": "complaint",
            "category": category_tree["water_cut"].pk,
            "description": "小区停水三天了，没有任何通知",
            "district": district.pk,
            "address": "惠城区江北街道1号",
            "contact_name": "李四",
            "phone": PHONE,
            "challenge": token,
            "answer": challenge_answer(token),
            "website": "",
        }
        data.update(overrides)
        return {key: value for key, value in data.items() if value is not None}

    return make


@pytest.fixture
def submit(client, form_data):
    """submit(**overrides) -> the response to posting the form (a field set to None is left out)."""

    def post(**overrides):
        return client.post("/public/", form_data(client, **overrides))

    return post


def stored_files() -> list:
    root = django_settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def web_tickets():
    return Ticket.objects.filter(channel="web")


@pytest.fixture
def web_ticket(db, category_tree, district, operator, water_staff, supervisor):
    """web_ticket(status, **fields) -> (ticket, query code): a web request walked to `status` by the real actions."""
    from tests.factories import advance
    from tickets.actions.intake import ticket_submit_web

    def make(status: str = "registered", **fields):
        fields.setdefault("kind", "complaint")
        fields.setdefault("category", category_tree["water_cut"])
        fields.setdefault("description", "小区停水三天了，没有任何通知")
        fields.setdefault("address", "惠城区江北街道1号")
        fields.setdefault("district", district)
        fields.setdefault("contact_name", "李四")
        fields.setdefault("phone", "+8613800138000")
        ticket, code = ticket_submit_web(**fields)
        ticket = advance(ticket, status, hotline=operator, department_user=water_staff, supervisor=supervisor)
        return ticket, code

    return make
