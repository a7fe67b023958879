"""The legacy sweep lock: the file ``LOGDIR/FileSweeper.lockfile``
(docs/behaviour-notes.md#sweep-lock).

Its existence means "a sweep is running". It is created exclusively (``O_CREAT|O_EXCL``), so
two sweeps can never both take it; it holds who took it (run id, host, process, time) for the
operator who wonders whether it is stale, and for ``break_lock``: :meth:`SweepLock.holder`
reads it back. The CDR admin page "Clear FileSweeper Lock File" deletes the same path, so it
keeps working. A lock found in place is left there (the legacy rule); an operator breaks a
stale one with that admin page, with ``rm``, or with the job's ``break_lock`` option, which
the job honours whenever no live run holds the lock. The lock is released only by the run
that took it, and only if the file is still its own.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cdr_dagster.processes import ProcessRecord

LOCK_FILE_NAME = "FileSweeper.lockfile"


class LockHeldError(Exception):
    """The lock file exists: another sweep appears to be running."""


def lock_path(log_dir: str | os.PathLike[str]) -> Path:
    """``LOGDIR/FileSweeper.lockfile``."""
    return Path(log_dir) / LOCK_FILE_NAME


def held_message(path: Path) -> str:
    """The legacy explanation, naming the file to remove."""
    return (
        "It appears that another copy of FileSweeper is currently running.\n\n"
        "Only one copy may run at a time.\n\n"
        "If you are _certain_ that no other copy is running, then manually\n"
        f'remove the file "{path}" to enable FileSweeper to run\n'
        "(or launch sweep_files once with break_lock: true)."
    )


@dataclass(frozen=True)
class LockHolder:
    """Who the lock file says took it: the owner text (``dagster run <id>``), the run id when
    it names one, and the process (None for a file without one, as the legacy wrote it)."""

    owner: str
    run_id: str | None
    process: ProcessRecord | None


def parse_holder(content: str) -> LockHolder:
    """The holder a lock file's ``content`` names (lines ``key value``)."""
    fields: dict[str, str] = {}
    for line in content.splitlines():
        key, _, value = line.partition(" ")
        fields.setdefault(key, value.strip())
    owner = fields.get("owner", "")
    run_id = (
        owner.removeprefix("dagster run ").strip() if owner.startswith("dagster run ") else None
    )
    process = None
    try:
        process = ProcessRecord(
            host=fields["host"], pid=int(fields["pid"]), seen_at=float(fields["since"])
        )
    except (KeyError, ValueError):
        pass
    return LockHolder(owner=owner, run_id=run_id or None, process=process)


class SweepLock:
    """The lock file, taken with :meth:`acquire` and given back with :meth:`release`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.token = uuid.uuid4().hex
        self.held = False

    def acquire(self, owner: str = "") -> None:
        """Create the lock file or raise :class:`LockHeldError` (the file is left alone)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LockHeldError(held_message(self.path)) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(
                f"token {self.token}\nowner {owner}\nhost {socket.gethostname()}\n"
                f"pid {os.getpid()}\ntaken {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                f"since {time.time():.3f}\n"
            )
        self.held = True

    def release(self) -> bool:
        """Remove the lock file if this object took it and it is still its own."""
        if not self.held:
            return False
        self.held = False
        try:
            content = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        if f"token {self.token}\n" not in content:
            return False  # broken and taken by someone else meanwhile: not ours to remove
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def read_owner(self) -> str:
        """What the present lock file says about its owner ('' when absent or empty)."""
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def holder(self) -> LockHolder | None:
        """Who holds the lock, as its file says; None when there is no lock file."""
        try:
            return parse_holder(self.path.read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            return None

    def break_lock(self) -> bool:
        """Remove a lock file left behind; True when there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
