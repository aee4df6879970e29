"""The bridge's durable spool: one JSON file per call that could not reach the database, until it is replayed.

Each file holds the whole state of one call still owed to the database (its environment, the ticket
number given to the caller, the IVR result, the hang-up). It is rewritten at each step by writing a
temporary file, fsync, rename over the old one and fsync of the directory, so after a crash or a power
cut the file is either the previous state or the new one, never a torn mix. The replay (replay.py)
deletes a file only after its transaction committed; replaying the same state twice changes nothing.

No Django here: the spool must work exactly when the database does not.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Spooled calls hold citizens' phone numbers: only the bridge's own user may read them.
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
# Files that could not be replayed (corrupt, or refused by the domain) are moved here for a person to read.
FAILED_DIR = "failed"


class SpoolError(Exception):
    """The spool could not store a call (disk full, permissions): the call goes on, its record is lost."""


class Spool:
    """A directory of spooled records, one per call, with claims so a call and the replay never race."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._lock = threading.Condition()
        self._claimed: set[str] = set()
        self._warned: set[Path] = set()

    def path_for(self, kind: str, key: str) -> Path:
        # Asterisk uniqueids are `1795834593.3`; anything else is percent-encoded into a safe file name.
        return self.directory / f"{kind}-{quote(key, safe='')}.json"

    def load(self, kind: str, key: str) -> dict[str, Any] | None:
        path = self.path_for(kind, key)
        try:
            return self.read(path)
        except FileNotFoundError:
            return None

    def read(self, path: Path) -> dict[str, Any]:
        """One spooled record; ValueError when it is not one of ours (quarantine it)."""
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("version") != FORMAT_VERSION or not record.get("key"):
            raise ValueError(f"not a version {FORMAT_VERSION} spool record")
        return record

    def save(self, record: dict[str, Any]) -> Path:
        """Write `record` (with `kind` and `key`) durably, replacing its previous state."""
        record = {**record, "version": FORMAT_VERSION}
        path = self.path_for(record["kind"], record["key"])
        data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self._private_directory(self.directory)
            # Created with its mode (never readable by others, whatever the umask), then fchmod in case a
            # stale temporary file of the same name survived a crash with other permissions.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with open(descriptor, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            self._sync_directory()
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise SpoolError(f"cannot write {path}: {exc}") from exc
        return path

    def remove(self, path: Path) -> None:
        """Forget a replayed record (after its transaction committed)."""
        path.unlink(missing_ok=True)
        self._sync_directory()

    def quarantine(self, path: Path) -> Path:
        """Move a record the replay cannot use out of the way, keeping it for a person to look at."""
        target = self.directory / FAILED_DIR / path.name
        self._private_directory(target.parent)
        os.replace(path, target)
        self._sync_directory()
        return target

    def pending(self) -> list[Path]:
        """Every spooled record, oldest first (temporary files and the failed ones excluded)."""
        found: list[tuple[int, str, Path]] = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            try:
                if entry.is_file():
                    found.append((entry.stat().st_mtime_ns, entry.name, Path(entry.path)))
            except FileNotFoundError:  # replayed and removed meanwhile
                continue
        return [path for _mtime, _name, path in sorted(found)]

    def claim(self, path: Path, *, timeout: float = 0.0) -> bool:
        """Take the record at `path` for this thread (a call in progress, or the replay); False if busy."""
        with self._lock:
            if not self._lock.wait_for(lambda: path.name not in self._claimed, timeout):
                return False
            self._claimed.add(path.name)
            return True

    def release(self, path: Path) -> None:
        with self._lock:
            self._claimed.discard(path.name)
            self._lock.notify_all()

    def _private_directory(self, directory: Path) -> None:
        """Create `directory` (and its parents) if missing; make it 0o700 if it is not."""
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        mode = directory.stat().st_mode & 0o777
        if mode == DIRECTORY_MODE:
            return
        try:
            os.chmod(directory, DIRECTORY_MODE)
        except OSError as exc:
            # Not ours to change (another owner): the files in it are 0o600 all the same, so the call is
            # still spooled rather than lost; say so once.
            if directory not in self._warned:
                self._warned.add(directory)
                logger.warning(
                    "spool directory %s is %o and cannot be made %o: %s", directory, mode, DIRECTORY_MODE, exc
                )

    def _sync_directory(self) -> None:
        # The rename or unlink is durable only once the directory entry itself is on disk.
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
