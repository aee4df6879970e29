"""manage.py make_prompts renders every prompt as Asterisk plays it, and every prompt name in use is defined."""

import array
import importlib
import re
import shutil
import wave
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from telephony.management.commands import make_prompts
from telephony.models import IvrMenu
from telephony.prompts import PROMPTS, STATUS_PROMPTS, status_prompt
from tests.factories import DepartmentFactory

ROOT = Path(__file__).resolve().parents[2]
TOOLS = shutil.which("espeak-ng") and shutil.which("sox")
needs_tools = pytest.mark.skipif(
    not TOOLS, reason="espeak-ng and sox are not installed (apt-get install espeak-ng sox); prompt audio not rendered"
)


def prompt_names_in(source: str) -> set[str]:
    return set(re.findall(r"""["'](hotline/[a-z0-9-]+)["']""", source))


# ---- every prompt name in use is defined --------------------------------------------------------


def test_the_default_menu_plays_only_defined_prompts(db):
    migration = importlib.import_module("telephony.migrations.0002_default_ivr_menu")
    named = prompt_names_in(Path(migration.__file__).read_text(encoding="utf-8"))
    assert {"hotline/main-menu", "hotline/invalid"} <= named
    assert named <= set(PROMPTS), named - set(PROMPTS)
    main = IvrMenu.objects.get(code="main")  # as the migration left it in the database
    assert {main.prompt, main.invalid_prompt} <= set(PROMPTS)
    assert IvrMenu._meta.get_field("invalid_prompt").default in PROMPTS


def test_every_ticket_status_is_spoken_with_a_defined_prompt():
    assert set(STATUS_PROMPTS.values()) <= set(PROMPTS)
    assert status_prompt("no-such-status") in PROMPTS
    # A finished ticket is never told to the caller as "in progress".
    finished = ("closed", "closed_first_contact", "merged", "cancelled")
    assert all(status_prompt(status) != status_prompt("no-such-status") for status in finished)


def test_the_bridge_plays_only_defined_prompts():
    named: set[str] = set()
    for module in (ROOT / "telephony" / "bridge").glob("*.py"):
        named |= prompt_names_in(module.read_text(encoding="utf-8"))
    assert named, "the bridge plays hotline/... prompts"
    assert named <= set(PROMPTS), named - set(PROMPTS)


def test_the_telephony_docs_list_every_prompt():
    docs = (ROOT / "docs" / "telephony.md").read_text(encoding="utf-8")
    missing = [name for name in PROMPTS if f"`{name}`" not in docs]
    assert not missing, f"add to the prompt table in docs/telephony.md: {missing}"


# ---- the command ---------------------------------------------------------------------------------


def test_numbers_are_spoken_digit_by_digit():
    assert make_prompts.spoken("欢迎致电12345热线，请按1") == "欢迎致电1 2 3 4 5热线，请按1"
    assert make_prompts.spoken("the 12345 hotline") == "the 1 2 3 4 5 hotline"


def test_missing_tools_are_named_with_the_install_command(db, monkeypatch, tmp_path):
    monkeypatch.setattr(make_prompts.shutil, "which", lambda name: None if name == "sox" else f"/usr/bin/{name}")
    with pytest.raises(CommandError) as error:
        call_command("make_prompts", out=tmp_path, stdout=StringIO())
    assert "sox not found" in str(error.value) and "apt-get install espeak-ng sox" in str(error.value)
    assert not any(tmp_path.iterdir())


def test_an_unknown_language_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="--lang takes zh, en"):
        call_command("make_prompts", out=tmp_path, lang="zh,fr", stdout=StringIO())


def assert_asterisk_wav(path: Path) -> None:
    """8 kHz mono 16-bit PCM in a RIFF WAVE file (Asterisk's wav format), with some speech in it."""
    assert path.read_bytes()[:4] == b"RIFF" and path.read_bytes()[8:12] == b"WAVE", path
    with wave.open(str(path), "rb") as audio:  # the wave module reads PCM only
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2), path
        frames = audio.readframes(audio.getnframes())
        assert audio.getnframes() / audio.getframerate() >= 0.3, path
    samples = array.array("h", frames)
    assert max(abs(s) for s in samples) > 3000, f"{path} is (nearly) silent"


@needs_tools
def test_every_prompt_and_department_is_rendered_for_both_languages(db, tmp_path):
    DepartmentFactory(code="water", name="市水务局", name_en="Water Affairs Bureau")
    DepartmentFactory(code="grid", name="网格中心", name_en="")
    DepartmentFactory(code="old", name="已撤销局", name_en="Abolished Bureau", is_active=False)
    out, err = StringIO(), StringIO()

    call_command("make_prompts", out=tmp_path, lang="zh,en", stdout=out, stderr=err)

    expected = {f"{lang}/{name}.wav" for lang in ("zh", "en") for name in PROMPTS}
    expected |= {"zh/hotline/dept-water.wav", "en/hotline/dept-water.wav", "zh/hotline/dept-grid.wav"}
    expected |= {f"zh/digits/{n}.wav" for n in range(10)}
    written = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()}
    assert written == expected  # no English prompt for a department without an English name, none for old ones
    for name in sorted(expected):
        assert_asterisk_wav(tmp_path / name)
    assert "grid has no English name" in err.getvalue()
    lines = out.getvalue().splitlines()
    assert f"[1/{len(expected)}]" in lines[1] and f"[{len(expected)}/{len(expected)}]" in lines[-2]
    assert lines[-1] == f"{len(expected)} prompts written to {tmp_path}"


@needs_tools
def test_rendering_again_replaces_the_files_in_place(db, tmp_path):
    call_command("make_prompts", out=tmp_path, lang="en", stdout=StringIO())
    welcome = tmp_path / "en" / "hotline" / "welcome.wav"
    welcome.write_bytes(b"stale")
    call_command("make_prompts", out=tmp_path, lang="en", stdout=StringIO())
    assert_asterisk_wav(welcome)
    assert not list(tmp_path.rglob(".*.part"))
