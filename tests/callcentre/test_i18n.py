"""The translation catalogs: complete, never fuzzy, compiled, and covering every string in the code.

The UI defaults to Simplified Chinese, so an untranslated msgid shows English to every user.
Refresh the catalogs with (see locale/README.md):

    .venv/bin/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=staticfiles
    # translate the new empty msgstr entries in locale/zh_Hans/LC_MESSAGES/django.po
    .venv/bin/python manage.py compilemessages --ignore=.venv
"""

import ast
import gettext
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

LOCALE = Path(settings.BASE_DIR) / "locale"
CATALOG = "LC_MESSAGES/django.po"
LANGUAGES = ("zh_Hans", "en")
# Directories of the checkout that hold no source of ours.
NOT_SOURCE = {".venv", ".git", "staticfiles", "locale", "var", "node_modules", "test-artifacts", "__pycache__"}


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)


def parse_po(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete `#~` entries are comments and are skipped)."""
    entries: list[Entry] = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        entry, current = Entry(), None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#") or not line.strip():
                continue
            elif match := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$', line):
                keyword, index, text = match.groups()
                current = (keyword.split("[")[0], int(index or 0))
                _append(entry, current, ast.literal_eval(text))
            else:
                _append(entry, current, ast.literal_eval(line.strip()))
        if current is not None:
            entries.append(entry)
    return entries


def _append(entry: Entry, current: tuple[str, int], text: str) -> None:
    keyword, index = current
    if keyword == "msgstr":
        entry.msgstr[index] = entry.msgstr.get(index, "") + text
    else:
        setattr(entry, keyword, (getattr(entry, keyword) or "") + text)


def messages(language: str) -> list[Entry]:
    return [entry for entry in parse_po(LOCALE / language / CATALOG) if entry.msgid]


def test_catalogs_exist_for_both_languages():
    for language in LANGUAGES:
        assert (LOCALE / language / CATALOG).is_file(), language
        assert (LOCALE / language / CATALOG).with_suffix(".mo").is_file(), language


def test_chinese_catalog_translates_every_msgid():
    untranslated = [entry.msgid for entry in messages("zh_Hans") if not entry.msgstr or not all(entry.msgstr.values())]
    assert untranslated == [], "untranslated msgids in zh_Hans: " + "; ".join(untranslated)


def test_no_fuzzy_entries():
    for language in LANGUAGES:
        fuzzy = [entry.msgid or "(header)" for entry in parse_po(LOCALE / language / CATALOG) if "fuzzy" in entry.flags]
        assert fuzzy == [], f"fuzzy entries in {language}: {fuzzy}"


def test_chinese_translations_keep_the_placeholders():
    placeholder = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]*\}")
    for entry in messages("zh_Hans"):
        expected = sorted(placeholder.findall(entry.msgid_plural or entry.msgid))
        for translation in entry.msgstr.values():
            assert sorted(placeholder.findall(translation)) == expected, entry.msgid


def test_chinese_catalog_declares_its_plural_forms_and_charset():
    header = next(entry for entry in parse_po(LOCALE / "zh_Hans" / CATALOG) if not entry.msgid).msgstr[0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header
    assert "charset=UTF-8" in header
    assert "Language: zh_Hans" in header


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_is_up_to_date_with_the_po(language):
    """The .mo holds exactly the .po's translations: it was compiled after the last edit of the .po.

    (Compared by content, not by file times: a fresh checkout writes both files in no set order.)
    """
    with open(LOCALE / language / "LC_MESSAGES" / "django.mo", "rb") as mo_file:
        compiled = gettext.GNUTranslations(mo_file)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for entry in messages(language):
        if not entry.msgstr or not all(entry.msgstr.values()) or "fuzzy" in entry.flags:
            continue  # msgfmt leaves untranslated and fuzzy entries out
        msgid = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt is not None else entry.msgid
        if entry.msgid_plural is None:
            expected[msgid] = entry.msgstr[0]
        else:
            expected.update({(msgid, index): text for index, text in entry.msgstr.items()})
    compiled = {key: value for key, value in compiled.items() if key != ""}
    assert compiled == expected, f"locale/{language}: run compilemessages"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext tools are not installed")
def test_catalog_covers_every_string_in_the_code(tmp_path, monkeypatch, settings):
    """makemessages over a copy of the source finds no msgid that the committed catalog lacks."""
    root = Path(settings.BASE_DIR)
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in NOT_SOURCE and not d.startswith(".")]
        for name in files:
            if name.endswith((".py", ".html", ".txt")):
                source = Path(directory) / name
                target = tmp_path / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    monkeypatch.chdir(tmp_path)
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)

    in_code = {entry.key: entry.msgid for entry in parse_po(tmp_path / "locale" / "zh_Hans" / CATALOG) if entry.msgid}
    in_catalog = {entry.key for entry in messages("zh_Hans")}
    missing = sorted(msgid for key, msgid in in_code.items() if key not in in_catalog)
    assert missing == [], "new strings not in locale/zh_Hans (run makemessages, translate, compilemessages): " + (
        "; ".join(missing)
    )
