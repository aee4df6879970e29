"""Render the IVR prompts to Asterisk sound files: <out>/<lang>/<name>.wav, 8 kHz mono 16-bit PCM.

Texts come from telephony.prompts.PROMPTS, plus hotline/dept-<code> for every active department
(its name in Chinese, its English name in English) and, for Chinese, the digits SAY DIGITS speaks.
espeak-ng speaks each text and sox turns it into the WAV that Asterisk's format_wav plays.
Generated audio is installed, never committed: run this at install time and after adding departments.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telephony.prompts import PROMPTS, department_prompt
from tickets.models import Department

LANGUAGES = ("zh", "en")
INSTALL_HINT = "apt-get install espeak-ng sox"
# espeak-ng voices by preference. Debian 12's espeak-ng 1.51 reads many characters with "cmn" as
# English-pronounced pinyin ("您" comes out as "nin two"); "cmn-latn-pinyin" reads that pinyin as Mandarin.
VOICES = {"zh": ("cmn-latn-pinyin", "cmn"), "en": ("en",)}
# Asterisk ships no Mandarin core sounds, so SAY DIGITS on a zh channel would fall back to English digits.
ZH_DIGITS = {f"digits/{n}": word for n, word in enumerate("零一二三四五六七八九")}
SAMPLE_RATE = 8000
RENDER_TIMEOUT = 60
# Numbers such as "12345" are read digit by digit, the way the hotline's name is said.
_DIGIT_RUN = re.compile(r"\d{2,}")


@dataclass(frozen=True)
class Job:
    lang: str
    name: str
    text: str

    def path(self, out: Path) -> Path:
        return out / self.lang / f"{self.name}.wav"


def spoken(text: str) -> str:
    return _DIGIT_RUN.sub(lambda match: " ".join(match.group()), text)


def prompt_jobs(languages: list[str]) -> tuple[list[Job], list[str]]:
    """Every sound to render, and notes on departments left out (no English name)."""
    jobs: list[Job] = []
    notes: list[str] = []
    departments = list(Department.objects.filter(is_active=True).order_by("code"))
    for lang in languages:
        jobs += [Job(lang, prompt.name, getattr(prompt, lang)) for prompt in PROMPTS.values()]
        for department in departments:
            name = department.name if lang == "zh" else department.name_en
            if name.strip():
                jobs.append(Job(lang, department_prompt(department.code), name))
            else:
                # The bridge skips a department without a recording rather than spelling it out.
                notes.append(f"{lang}: department {department.code} has no English name, no prompt rendered")
        if lang == "zh":
            jobs += [Job(lang, name, word) for name, word in ZH_DIGITS.items()]
    return jobs, notes


def find_tools() -> tuple[str, str]:
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    missing = [name for name, path in (("espeak-ng", espeak), ("sox", sox)) if path is None]
    if espeak is None or sox is None:
        raise CommandError(
            f"{' and '.join(missing)} not found: the prompts are rendered with both. Install them: {INSTALL_HINT}"
        )
    return espeak, sox


def pick_voice(espeak: str, lang: str) -> str:
    """The first of VOICES[lang] that this espeak-ng has (it exits non-zero on an unknown voice)."""
    for voice in VOICES[lang]:
        probe = subprocess.run([espeak, "-q", "-v", voice, "a"], capture_output=True, timeout=RENDER_TIMEOUT)  # noqa: S603
        if probe.returncode == 0:
            return voice
    raise CommandError(f"espeak-ng has no voice for {lang} (tried {', '.join(VOICES[lang])}). Install {INSTALL_HINT}")


def render(job: Job, out: Path, *, voice: str, espeak: str, sox: str) -> Path:
    """Speak `job` into its WAV file; the file appears whole or not at all (Asterisk may be playing it)."""
    target = job.path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    # The text goes on stdin: a department name starting with "-" must not become an option.
    speech = _run(
        [espeak, "-v", voice, "-b", "1", "--stdin", "--stdout"], stdin=spoken(job.text).encode(), what=job.name
    )
    # Normalised to -3 dBFS so resampling does not clip; Asterisk's wav format is 8 kHz signed linear.
    convert = ["-t", "wav", "-", "-t", "wav", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
    try:
        _run([sox, "-V1", *convert, str(partial), "gain", "-n", "-3"], stdin=speech, what=job.name)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)  # only left behind by a failed conversion
    return target


def _run(argv: list[str], *, what: str, stdin: bytes | None = None) -> bytes:
    try:
        # A fixed argv of the two tools found on PATH; no shell, and the text only on stdin.
        result = subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=RENDER_TIMEOUT)  # noqa: S603
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip()
        raise CommandError(f"{Path(argv[0]).name} failed on {what} (exit {exc.returncode}): {detail}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(f"{Path(argv[0]).name} took over {RENDER_TIMEOUT}s on {what}") from exc
    return result.stdout


class Command(BaseCommand):
    help = (
        "Render the IVR prompts (and department names) to <out>/<lang>/<name>.wav for Asterisk "
        f"with espeak-ng and sox ({INSTALL_HINT})."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            type=Path,
            default=Path(settings.VAR_DIR) / "sounds",
            help="Asterisk's sounds directory, e.g. /var/lib/asterisk/sounds (default: var/sounds).",
        )
        parser.add_argument("--lang", default=",".join(LANGUAGES), help="Comma-separated languages (default: zh,en).")
        parser.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="Prompts rendered at once.")

    def handle(self, *args, **options):
        languages = self._languages(options["lang"])
        out: Path = options["out"]
        espeak, sox = find_tools()
        voices = {lang: pick_voice(espeak, lang) for lang in languages}
        jobs, notes = prompt_jobs(languages)
        for note in notes:
            self.stderr.write(note)
        self.stdout.write(
            f"Rendering {len(jobs)} prompts into {out} with espeak-ng ("
            + ", ".join(f"{lang}: {voice}" for lang, voice in voices.items())
            + ")"
        )
        with ThreadPoolExecutor(max_workers=max(1, options["jobs"])) as pool:
            futures = [pool.submit(render, job, out, voice=voices[job.lang], espeak=espeak, sox=sox) for job in jobs]
            for done, (job, future) in enumerate(zip(jobs, futures, strict=True), start=1):
                future.result()  # a CommandError from any job stops the run with its message
                if options["verbosity"] >= 1:
                    self.stdout.write(f"[{done}/{len(jobs)}] {job.lang}/{job.name}.wav")
        self.stdout.write(self.style.SUCCESS(f"{len(jobs)} prompts written to {out}"))

    def _languages(self, raw: str) -> list[str]:
        languages = [lang.strip() for lang in raw.split(",") if lang.strip()]
        unknown = [lang for lang in languages if lang not in LANGUAGES]
        if unknown or not languages:
            raise CommandError(f"--lang takes {', '.join(LANGUAGES)} (comma-separated), not {raw!r}")
        return list(dict.fromkeys(languages))
