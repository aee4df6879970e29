"""The bridge's pieces that need no database: reading the AGI environment, and the spool's files."""

import json
import os
import stat

import pytest

from telephony.bridge.calls import CallInfo
from telephony.bridge.spool import Spool


def test_the_environment_is_read_with_withheld_ids_query_and_arguments():
    env = {
        "agi_uniqueid": "1795834593.3",
        "agi_callerid": '"O\'Brien, J" <+8613800138000>',
        "agi_dnid": "12345",
        "agi_network_script": "/Hotline?lang=zh&x=1",
        "agi_language": "en_US",
        "agi_arg_2": "second arg",
        "agi_arg_1": "first",
        "agi_arg_10": "tenth",
    }
    info = CallInfo.from_env(env)
    assert (info.caller, info.dialled, info.script, info.language) == ("+8613800138000", "12345", "hotline", "zh")
    assert info.args == ("first", "second arg", "tenth") and info.query == {"lang": "zh", "x": "1"}


@pytest.mark.parametrize("raw", ["unknown", "Anonymous", "", " ", "<unknown>", "Restricted"])
def test_withheld_caller_ids_are_nobody(raw):
    assert CallInfo.from_env({"agi_callerid": raw}).caller == ""


def test_a_language_without_prompts_falls_back_to_chinese():
    assert CallInfo.from_env({"agi_language": "fr"}).language == "zh"
    assert CallInfo.from_env({"agi_language": "en_GB"}).language == "en"


def test_a_spool_write_replaces_the_record_atomically_and_leaves_no_temporary_file(tmp_path):
    spool = Spool(tmp_path / "spool")
    path = spool.save({"kind": "call", "key": "17/9.3", "number": "2026"})
    spool.save({"kind": "call", "key": "17/9.3", "number": "2027"})

    assert [p.name for p in spool.directory.iterdir()] == [path.name] == ["call-17%2F9.3.json"]
    assert spool.read(path)["number"] == "2027" and spool.load("call", "17/9.3")["key"] == "17/9.3"
    assert spool.pending() == [path]
    spool.remove(path)
    assert spool.pending() == [] and spool.load("call", "17/9.3") is None


def test_a_record_of_another_format_is_refused(tmp_path):
    spool = Spool(tmp_path)
    (tmp_path / "call-x.json").write_text(json.dumps({"key": "x", "version": 99}))

    with pytest.raises(ValueError):
        spool.read(tmp_path / "call-x.json")


def test_a_claimed_record_is_not_claimed_twice(tmp_path):
    spool = Spool(tmp_path)
    path = spool.path_for("call", "1.1")

    assert spool.claim(path) and not spool.claim(path)
    spool.release(path)
    assert spool.claim(path)


@pytest.fixture
def usual_umask():
    """The umask most services run with (0o022): files 0o644 and directories 0o755 unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_spooled_calls_are_readable_by_the_bridges_user_only(tmp_path, usual_umask):
    spool = Spool(tmp_path / "var" / "spool")

    path = spool.save({"kind": "call", "key": "1795834593.3", "caller": "13800138000"})
    spool.save({"kind": "call", "key": "1795834593.3", "caller": "13800138000", "number": "2026"})
    failed = spool.quarantine(path)

    assert mode(spool.directory) == 0o700
    assert mode(failed) == 0o600 and mode(failed.parent) == 0o700
    assert mode(spool.save({"kind": "rating", "key": "cb.1", "ticket": "2026"})) == 0o600


def test_an_existing_spool_directory_open_to_others_is_closed(tmp_path, usual_umask):
    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)

    Spool(directory).save({"kind": "call", "key": "1.1"})

    assert mode(directory) == 0o700
