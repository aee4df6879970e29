"""What the bridge reads from one AGI session's environment: the call, the flow asked for, its arguments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

# Languages the prompts are recorded in; Asterisk's CHANNEL(language) picks the files.
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
# Caller IDs that name nobody: Asterisk sends "unknown", trunks "anonymous", "Restricted", ...
WITHHELD = frozenset({"", "unknown", "anonymous", "restricted", "private", "withheld", "unavailable"})
_ARG_KEY = re.compile(r"agi_arg_(\d+)")
_ANGLE_NUMBER = re.compile(r"<([^>]*)>")


@dataclass(frozen=True)
class CallInfo:
    """One AGI session's call: Asterisk's ids, the caller as sent ("" when withheld), the flow and its arguments."""

    uniqueid: str
    caller: str
    dialled: str
    channel: str
    language: str
    script: str
    query: dict[str, str]
    args: tuple[str, ...]

    @classmethod
    def from_env(cls, env: dict[str, str]) -> CallInfo:
        script, _sep, query = env.get("agi_network_script", "").partition("?")
        params = dict(parse_qsl(query, keep_blank_values=True))
        numbered = sorted((int(match[1]), value) for key, value in env.items() if (match := _ARG_KEY.fullmatch(key)))
        return cls(
            uniqueid=env.get("agi_uniqueid", "").strip(),
            caller=caller_number(env.get("agi_callerid", "")),
            dialled=_known(env.get("agi_dnid", "")),
            channel=env.get("agi_channel", "").strip(),
            language=language(params.get("lang") or env.get("agi_language", "")),
            script=script.strip().strip("/").lower(),
            query=params,
            args=tuple(value for _number, value in numbered),
        )


def caller_number(raw: str) -> str:
    """The number from a caller ID (`13800138000`, `"Name" <+8613800138000>`); "" when withheld."""
    match = _ANGLE_NUMBER.search(raw)
    number = (match[1] if match else raw).strip()
    return "" if number.lower() in WITHHELD else number


def language(raw: str) -> str:
    """Asterisk's language (`zh`, `zh_CN`, `en_US`) as one of the prompt languages."""
    code = raw.strip().lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def _known(value: str) -> str:
    value = value.strip()
    return "" if value.lower() in WITHHELD else value
