"""The media folders under ``BASEDIR/akamai`` and the rename lock (cdrpub ``Control.Media``).

- ``media``: the rsync source, as the last push or fix left it;
- ``media.locked``: ``media`` while a push or a check holds it (the lock is the rename: a
  second locker finds ``media.locked`` and fails with "The media directory is already
  locked"; the publishing push does exactly the same);
- ``media.old``: the set replaced by the last promotion;
- ``media-{STAMP}``: a working clone that is corrected and then promoted.

Messages are the legacy's. :meth:`MediaFolders.promote` undoes its own renames when the last
one fails, and :meth:`MediaFolders.demote` reverses a promotion, so a failure at any point can
put ``media`` back as it was. The clone is made of hard links where the file system allows
(every change to the clone replaces a file, never writes into one, so ``media.locked`` is
never touched through a shared inode) and of copies otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

#: Globs of the legacy catalogue, as (folder, suffix).
PATTERNS = (("audio", "mp3"), ("images", "jpg"))
_NAME = re.compile(r"(\d+)(-\d+)?\.(mp3|jpg)")


class MediaFolderError(Exception):
    """A lock, clone, promotion or unlock step failed (legacy message)."""


@dataclass(frozen=True)
class MediaFolders:
    """The folders of one Akamai area (``BASEDIR/akamai``)."""

    akamai: Path

    @property
    def media(self) -> Path:
        return self.akamai / "media"

    @property
    def locked(self) -> Path:
        return self.akamai / "media.locked"

    @property
    def old(self) -> Path:
        return self.akamai / "media.old"

    def clone_path(self, stamp: str) -> Path:
        return self.akamai / f"media-{stamp}"

    def lock(self) -> None:
        """Rename ``media`` to ``media.locked``."""
        if os.path.lexists(self.locked):
            raise MediaFolderError("The media directory is already locked")
        if not self.media.is_dir():
            raise MediaFolderError("The media directory does not exist")
        try:
            os.rename(self.media, self.locked)
        except OSError as exc:
            raise MediaFolderError(f"Unable to rename {self.media}: {exc}") from exc

    def unlock(self) -> None:
        """Rename ``media.locked`` back to ``media``."""
        if os.path.lexists(self.media):
            raise MediaFolderError("The media directory is already unlocked")
        if not self.locked.is_dir():
            raise MediaFolderError("The media lock directory does not exist")
        try:
            os.rename(self.locked, self.media)
        except OSError as exc:
            raise MediaFolderError(f"Unable to rename {self.locked}: {exc}") from exc

    def clone(self, stamp: str, *, hard_links: bool = True) -> Path:
        """Copy ``media.locked`` to ``media-{stamp}``; a half-made clone is removed."""
        if not self.locked.is_dir():
            raise MediaFolderError("Locked media not found")
        path = self.clone_path(stamp)
        if os.path.lexists(path):
            raise MediaFolderError(f"The working folder {path} already exists")

        def link_or_copy(source: str, target: str) -> None:
            if hard_links:
                try:
                    os.link(source, target)
                    return
                except OSError:
                    pass
            shutil.copy2(source, target)

        try:
            shutil.copytree(self.locked, path, symlinks=True, copy_function=link_or_copy)
        except (OSError, shutil.Error) as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise MediaFolderError(f"Unable to copy {self.locked} to {path}: {exc}") from exc
        return path

    def remove_clone(self, path: Path) -> None:
        """Remove a working clone (never one of the three named folders)."""
        if path in (self.media, self.locked, self.old):
            raise MediaFolderError(f"refusing to remove {path}")
        shutil.rmtree(path)

    def promote(self, clone: Path) -> None:
        """``media.old`` goes, ``media.locked`` becomes ``media.old``, the clone ``media``."""
        if not self.locked.is_dir():
            raise MediaFolderError("The media lock directory does not exist")
        if os.path.lexists(self.old):
            try:
                shutil.rmtree(self.old)
            except OSError as exc:
                raise MediaFolderError(f"Unable to remove {self.old}: {exc}") from exc
        try:
            os.rename(self.locked, self.old)
        except OSError as exc:
            raise MediaFolderError(f"Unable to move {self.locked} to {self.old}: {exc}") from exc
        try:
            os.rename(clone, self.media)
        except OSError as exc:
            os.rename(self.old, self.locked)  # back to the locked state
            raise MediaFolderError(f"Unable to move {clone} to {self.media}: {exc}") from exc

    def demote(self, clone: Path) -> None:
        """Undo :meth:`promote`: ``media`` back to the clone, ``media.old`` to ``media.locked``."""
        os.rename(self.media, clone)
        os.rename(self.old, self.locked)


def catalogue(directory: Path) -> tuple[dict[int, set[str]], list[str]]:
    """Media files in ``directory``: {id: relative paths}, and paths that name no id.

    As the legacy glob ``audio/*.mp3`` and ``images/*.jpg`` (dot files excluded); the id is the
    number a name starts with (``123.jpg``, ``123-571.jpg``).
    """
    found: dict[int, set[str]] = {}
    unmatched: list[str] = []
    for folder, suffix in PATTERNS:
        base = directory / folder
        if not base.is_dir():
            continue
        with os.scandir(base) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith("."))
        for name in names:
            if not name.endswith(f".{suffix}"):
                continue
            relative = f"{folder}/{name}"
            match = _NAME.fullmatch(name)
            if match is None or match.group(3) != suffix:
                unmatched.append(relative)
                continue
            found.setdefault(int(match.group(1)), set()).add(relative)
    return found, unmatched
