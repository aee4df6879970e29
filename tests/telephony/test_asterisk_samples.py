"""The sample Asterisk configuration in telephony/asterisk/ matches the bridge, the queue state and the AMI listener.

A small parser reads the .conf files the way Asterisk's config loader does for what matters here
(sections, templates, `key = value` and `key => value`, `;` comments), and a walker follows the
dialplan's Goto/GotoIf branches to show that every way out of the bridge ends in the operator queue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from telephony.bridge.flows import FLOWS
from telephony.prompts import PROMPTS
from telephony.selectors import extension_of

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "telephony" / "asterisk"

# Variables the dialplan reads that nobody in these files sets: the callback's call file sets this one.
SET_OUTSIDE = {"HOTLINE_CALLBACK_TICKET"}

_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\](?:\((?P<options>[^)]*)\))?$")
_ENTRY = re.compile(r"^(?P<key>[^=]+?)\s*=>?\s*(?P<value>.*)$")
_COMMENT = re.compile(r"(?<!\\);.*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_APP = re.compile(r"^(?P<app>\w+)(?:\((?P<args>.*)\))?$")
_PRIORITY = re.compile(r"^(?P<number>\d+|n)(?:\((?P<label>[^)]+)\))?$")


@dataclass
class Section:
    name: str
    templates: list[str]
    is_template: bool
    entries: list[tuple[str, str]] = field(default_factory=list)

    def all(self, key: str) -> list[str]:
        return [value for k, value in self.entries if k == key]

    def get(self, key: str) -> str | None:
        values = self.all(key)
        return values[-1] if values else None


def parse_conf(text: str) -> list[Section]:
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if match := _SECTION.match(line):
            options = [o.strip() for o in (match["options"] or "").split(",") if o.strip()]
            sections.append(Section(match["name"], [o for o in options if o != "!"], "!" in options))
            continue
        match = _ENTRY.match(line)
        assert match and sections, f"line {number} is neither a section nor key = value: {raw!r}"
        sections[-1].entries.append((match["key"].strip().lower(), match["value"].strip()))
    return sections


def load(name: str) -> list[Section]:
    return parse_conf((SAMPLES / name).read_text(encoding="utf-8"))


def one(sections: list[Section], name: str) -> Section:
    found = [s for s in sections if s.name == name]
    assert len(found) == 1, f"expected one [{name}], found {len(found)}"
    return found[0]


def resolved(sections: list[Section], section: Section, key: str) -> str | None:
    """A value looked up in the section, then in its templates (as Asterisk's template inheritance does)."""
    value = section.get(key)
    for template in section.templates:
        if value is not None:
            break
        value = resolved(sections, one([s for s in sections if s.is_template], template), key)
    return value


# ---- the dialplan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    number: int
    label: str
    app: str
    args: str


class Dialplan:
    def __init__(self, sections: list[Section]) -> None:
        self.globals = {key.upper(): value for key, value in one(sections, "globals").entries}
        self.contexts: dict[str, dict[str, list[Step]]] = {}
        for section in sections:
            if section.name in ("general", "globals"):
                continue
            extensions: dict[str, list[Step]] = {}
            current: list[Step] | None = None
            for key, value in section.entries:
                if key == "exten":
                    exten, priority, app = (part.strip() for part in value.split(",", 2))
                    current = extensions.setdefault(exten, [])
                elif key == "same":
                    assert current is not None, f"[{section.name}]: same => before any exten =>"
                    priority, app = (part.strip() for part in value.split(",", 1))
                else:
                    continue
                self._append(current, priority, app)
            self.contexts[section.name] = extensions

    @staticmethod
    def _append(steps: list[Step], priority: str, app: str) -> None:
        p, a = _PRIORITY.match(priority), _APP.match(app)
        assert p and a, f"unreadable priority {priority!r} or application {app!r}"
        number = len(steps) + 1 if p["number"] == "n" else int(p["number"])
        assert number == len(steps) + 1, f"priorities out of order at {priority},{app}"
        steps.append(Step(number, p["label"] or "", a["app"], a["args"] or ""))

    def expand(self, text: str) -> str:
        return _VARIABLE.sub(lambda m: self.globals.get(m[1], m[0]), text)

    def steps(self, context: str, exten: str = "s") -> list[Step]:
        return self.contexts[context][exten]

    def all_steps(self) -> list[tuple[str, str, Step]]:
        return [(c, e, step) for c, exts in self.contexts.items() for e, steps in exts.items() for step in steps]

    def target(self, context: str, exten: str, destination: str) -> tuple[str, str, int]:
        """Where `[[context,]exten,]priority` points: (context, exten, index into its steps)."""
        parts = [part.strip() for part in destination.split(",")]
        if len(parts) == 3:
            context, exten, priority = parts
        elif len(parts) == 2:
            exten, priority = parts
        else:
            (priority,) = parts
        steps = self.steps(context, exten)
        if priority.isdigit():
            return context, exten, int(priority) - 1
        labels = [i for i, step in enumerate(steps) if step.label == priority]
        assert labels, f"no label {priority!r} in {context},{exten}"
        return context, exten, labels[0]

    def every_path_queues(self, context: str, exten: str, index: int, seen: frozenset = frozenset()) -> bool:
        """True if every way on from this step reaches Queue() before the call can end."""
        steps = self.steps(context, exten)
        while True:
            if index >= len(steps):
                return False  # falling off the extension hangs up
            where = (context, exten, index)
            if where in seen:
                return False  # a loop that never queues
            seen = seen | {where}
            step = steps[index]
            if step.app == "Queue":
                return True
            if step.app == "Hangup":
                return False
            if step.app == "Goto":
                return self.every_path_queues(*self.target(context, exten, step.args), seen)
            if step.app == "GotoIf":
                _condition, _, branches = step.args.rpartition("?")
                if_true, _, if_false = branches.partition(":")
                return all(
                    self.every_path_queues(*self.target(context, exten, branch), seen)
                    if branch
                    else self.every_path_queues(context, exten, index + 1, seen)
                    for branch in (if_true, if_false)
                )
            index += 1


@pytest.fixture(scope="module")
def dialplan() -> Dialplan:
    return Dialplan(load("extensions.conf"))


def agi_steps(dialplan: Dialplan, context: str) -> list[Step]:
    return [step for step in dialplan.steps(context) if step.app == "AGI"]


@pytest.mark.parametrize(
    ("context", "script"), [("hotline", "hotline"), ("hotline-progress", "progress"), ("hotline-callback", "callback")]
)
def test_each_flow_calls_the_fastagi_bridge_on_port_4573(dialplan, context, script):
    (agi,) = agi_steps(dialplan, context)
    url = dialplan.expand(agi.args).split(",")[0]
    assert re.fullmatch(rf"agi://[A-Za-z0-9.-]+:4573/{script}", url), url


def test_the_main_flow_is_agi_to_the_bridge_s_hotline_script(dialplan):
    (agi,) = agi_steps(dialplan, "hotline")
    assert dialplan.expand(agi.args).split(",")[0] == "agi://10.0.0.20:4573/hotline"


@pytest.mark.parametrize("context", ["hotline", "hotline-progress"])
def test_the_inbound_flows_pass_the_linked_id_and_the_recording_to_the_bridge(dialplan, context):
    """The bridge reads agi_arg_1 as the linked id and agi_arg_2 as the recording (telephony/bridge/recorder.py)."""
    steps = dialplan.steps(context)
    agi_at = next(i for i, step in enumerate(steps) if step.app == "AGI")
    assert steps[agi_at].args.split(",")[1:] == ["${CHANNEL(linkedid)}", "${HOTLINE_RECORDING}"]
    # With HOTLINE_RECORD=yes the file is named and MixMonitor records into it, before the bridge runs.
    before = [step.args for step in steps[:agi_at] if step.app == "ExecIf"]
    assert any('"${HOTLINE_RECORD}" = "yes"' in args and "?Set(HOTLINE_RECORDING=" in args for args in before)
    assert any("?MixMonitor(${HOTLINE_RECORDING})" in args for args in before)
    assert dialplan.globals["HOTLINE_RECORD"] == "no"


def test_the_ami_events_carry_the_recording_for_calls_the_bridge_missed():
    general = one(load("manager.conf"), "general")
    assert "HOTLINE_RECORDING" in [name.strip() for name in (general.get("channelvars") or "").split(",")]


def test_every_agi_script_path_is_a_flow_the_bridge_serves(dialplan):
    scripts = [dialplan.expand(step.args).split(",")[0] for _c, _e, step in dialplan.all_steps() if step.app == "AGI"]
    assert scripts
    for url in scripts:
        assert url.rsplit("/", 1)[1] in FLOWS, url


def test_the_callback_passes_the_ticket_number_as_the_first_agi_argument(dialplan):
    (agi,) = agi_steps(dialplan, "hotline-callback")
    args = agi.args.split(",")
    assert len(args) == 2 and args[1] == "${HOTLINE_CALLBACK_TICKET}"


@pytest.mark.parametrize("context", ["hotline", "hotline-progress", "hotline-callback"])
def test_the_channel_language_is_set_before_the_bridge_runs(dialplan, context):
    steps = dialplan.steps(context)
    agi_at = next(i for i, step in enumerate(steps) if step.app == "AGI")
    assert any(step.app == "Set" and step.args.startswith("CHANNEL(language)=") for step in steps[:agi_at])


@pytest.mark.parametrize("context", ["hotline", "hotline-progress"])
def test_every_way_out_of_the_bridge_reaches_the_operator_queue(dialplan, context):
    steps = dialplan.steps(context)
    agi_at = next(i for i, step in enumerate(steps) if step.app == "AGI")
    assert dialplan.every_path_queues(context, "s", agi_at + 1)


@pytest.mark.parametrize("context", ["hotline", "hotline-progress"])
def test_a_bridge_failure_still_queues_the_caller(dialplan, context):
    """AGISTATUS=FAILURE with no ticket (bridge unreachable): the caller goes to the queue, not to a hang-up."""
    checks = [step for step in dialplan.steps(context) if step.app == "GotoIf" and "${AGISTATUS}" in step.args]
    assert checks, "the dialplan must look at AGISTATUS"
    (check,) = checks
    condition, _, branches = check.args.rpartition("?")
    assert '"${AGISTATUS}" = "FAILURE"' in condition
    on_failure = branches.partition(":")[0]
    assert dialplan.every_path_queues(*dialplan.target(context, "s", on_failure))


def test_the_queue_never_hangs_up_on_a_waiting_caller(dialplan):
    (queue,) = [step for _c, _e, step in dialplan.all_steps() if step.app == "Queue"]
    name, *options = queue.args.split(",")
    # No timeout argument (the 5th): the caller waits until answered or they hang up.
    assert len(options) < 4 or not options[3]
    assert dialplan.expand(name) == "hotline-operators"


def test_the_dialplan_reads_the_variables_the_bridge_sets(dialplan):
    flows_source = (ROOT / "telephony" / "bridge" / "flows.py").read_text(encoding="utf-8")
    set_by_bridge = set(re.findall(r'\.set\(\s*"(HOTLINE_[A-Z_]+)"', flows_source))
    assert {"HOTLINE_TICKET", "HOTLINE_KIND", "HOTLINE_CITIZEN_KNOWN", "HOTLINE_LANG"} <= set_by_bridge
    text = (SAMPLES / "extensions.conf").read_text(encoding="utf-8")
    active = "\n".join(_COMMENT.sub("", line) for line in text.splitlines())
    read = set(_VARIABLE.findall(active))
    set_here = set(dialplan.globals) | set(re.findall(r"Set\(_{0,2}([A-Z_]+)=", active))
    hotline_vars = {name for name in read if name.startswith("HOTLINE_")}
    assert "HOTLINE_TICKET" in hotline_vars
    assert hotline_vars <= set_by_bridge | set_here | SET_OUTSIDE, hotline_vars - set_by_bridge - set_here


def test_every_prompt_the_samples_play_is_one_make_prompts_renders(dialplan):
    played = {step.args for _c, _e, step in dialplan.all_steps() if step.app == "Playback"}
    queue = one(load("queues.conf"), "hotline-operators")
    played |= {queue.get("periodic-announce")}
    hotline = {name for name in played if name.startswith("hotline/")}
    assert hotline and hotline <= set(PROMPTS), hotline - set(PROMPTS)


# ---- the queue and the phones --------------------------------------------------------------------


def test_the_queue_the_dialplan_uses_has_the_operators_phones_as_members(dialplan):
    queues, endpoints = load("queues.conf"), load("pjsip.conf")
    queue = one(queues, dialplan.globals["HOTLINE_QUEUE"])
    members = [value.split(",") for value in queue.all("member")]
    assert members
    operator_phones = {
        s.name for s in endpoints if not s.is_template and resolved(endpoints, s, "type") == "endpoint"
    } - {"carrier"}
    for interface, _penalty, name, *_rest in members:
        # PJSIP/<extension>: the AMI listener finds the operator whose phone extension this is.
        assert re.fullmatch(r"PJSIP/\d+", interface)
        assert extension_of(interface) == interface.split("/")[1] == name
        assert name in operator_phones
        assert re.fullmatch("8...", name), "the operators context dials _8XXX"
    assert {m[0] for m in members} == {f"PJSIP/{phone}" for phone in operator_phones}


def test_callers_join_and_stay_in_the_queue_with_no_operator_logged_in():
    queue = one(load("queues.conf"), "hotline-operators")
    assert queue.get("joinempty") == "yes"
    assert queue.get("leavewhenempty") == "no"
    assert queue.get("maxlen") == "0"


def test_each_operator_phone_has_its_auth_aor_and_the_operators_context(dialplan):
    sections = load("pjsip.conf")
    phones = [s for s in sections if not s.is_template and re.fullmatch(r"\d+", s.name)]
    for number in {s.name for s in phones}:
        types = {resolved(sections, s, "type") for s in phones if s.name == number}
        assert types == {"endpoint", "auth", "aor"}, number
        endpoint = next(s for s in phones if s.name == number and resolved(sections, s, "type") == "endpoint")
        assert endpoint.get("auth") == endpoint.get("aors") == number
        assert resolved(sections, endpoint, "context") == "operators"
    assert "operators" in dialplan.contexts and "_8XXX" in dialplan.contexts["operators"]


def test_the_carrier_delivers_calls_into_the_hotline(dialplan):
    sections = load("pjsip.conf")
    carrier = next(s for s in sections if s.name == "carrier" and s.get("type") == "endpoint")
    context = carrier.get("context")
    assert context in dialplan.contexts
    assert any(step.app == "Goto" and "hotline" in step.args for step in dialplan.steps(context, "12345"))


# ---- the AMI user --------------------------------------------------------------------------------


def classes(value: str | None) -> set[str]:
    return {c.strip().lower() for c in (value or "").split(",") if c.strip()} - {"none"}


def test_the_ami_user_reads_call_and_agent_events_and_may_write_nothing():
    sections = load("manager.conf")
    users = [s for s in sections if s.name != "general"]
    assert [u.name for u in users] == [settings.AMI_USERNAME]
    (user,) = users
    # Hangup is class "call"; the queue and agent events are class "agent". Login, Ping, QueueStatus
    # and Logoff are registered with no class, so the listener needs no write class at all.
    assert classes(user.get("read")) == {"call", "agent"}
    assert user.get("write") is not None and classes(user.get("write")) == set()
    assert "CHANGE-ME" in (user.get("secret") or ""), "never commit a real AMI secret"


def test_the_ami_user_may_log_in_from_the_listener_host_only():
    user = one(load("manager.conf"), settings.AMI_USERNAME)
    acl = [(key, value) for key, value in user.entries if key in ("deny", "permit")]
    assert acl[0] == ("deny", "0.0.0.0/0.0.0.0"), "deny everyone first, then permit the listener"
    permits = [value for key, value in acl[1:]]
    assert permits and all(key == "permit" for key, _value in acl[1:])
    for permit in permits:
        address, _, mask = permit.partition("/")
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address) and mask in ("255.255.255.255", "32"), permit


def test_the_manager_interface_listens_privately_and_stamps_events():
    general = one(load("manager.conf"), "general")
    assert general.get("enabled") == "yes"
    assert general.get("port") == str(settings.AMI_PORT)
    assert general.get("bindaddr") not in (None, "0.0.0.0", "::")  # noqa: S104 (asserting it is NOT all interfaces)
    # The listener times call records by the Timestamp header.
    assert general.get("timestampevents") == "yes"


def test_the_parser_reads_templates_and_comments():
    sections = parse_conf("[t](!)\ntype = aor ; a comment\n[x](t)\nkey => a\\;b\n")
    t, x = sections
    assert t.is_template and x.templates == ["t"]
    assert resolved(sections, x, "type") == "aor"
    assert x.get("key") == "a\\;b"
