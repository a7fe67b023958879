"""The media check itself (docs/behaviour-notes.md#media-check): compare, optionally fix, optionally
rsync, unlock.

1. Lock (rename ``media`` to ``media.locked``) unless ``nolock`` without ``fix``; with ``fix``,
   clone ``media.locked`` to ``media-{STAMP}`` (STAMP per run) and work in the clone.
2. For each published (id, version), in id order: each expected file on disk with other bytes
   is ``modified``, each one missing is ``added``, each other file of that id is ``dropped``;
   then every file of an id that is no longer published (or that names no id) is ``dropped``.
   With ``fix`` the clone is corrected as it goes (files are replaced, never written into).
3. rsync runs when ``force``, or when there are changes and both ``rsync`` and ``fix``;
   ``rsync`` with changes but without ``fix`` is the error "Ignoring rsync request for
   mismatched files".
4. With ``fix`` and changes, the clone is promoted (``media.locked`` -> ``media.old``, clone ->
   ``media``); with ``fix`` and no changes the clone is removed and ``media`` unlocked; a lock
   without ``fix`` is simply undone.

Any failure is recorded as an error, the table of changes is dropped (as the legacy did), and
the folders are put back: a promotion is undone, the clone removed (the legacy left it), and
``media.locked`` renamed back to ``media`` if this run locked it, never if another job did.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdr_dagster.media.expected import MediaFile
from cdr_dagster.media.folders import MediaFolders, catalogue

_LOG = logging.getLogger(__name__)

Loader = Callable[[int, int], list[MediaFile]]
Action = Callable[[Path], None]

IGNORED_RSYNC = "Ignoring rsync request for mismatched files"


@dataclass(frozen=True)
class CheckOptions:
    """The legacy options, typed (docs/behaviour-notes.md#media-check)."""

    fix: bool = False
    nolock: bool = False
    rsync: bool = False
    force: bool = False
    debug: bool = False

    @property
    def lock(self) -> bool:
        """Fixing always locks; otherwise lock unless ``nolock``."""
        return self.fix or not self.nolock


@dataclass
class CheckResult:
    """What the check found and did."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    directory: str = ""
    rsync_ran: bool = False
    promoted: bool = False
    documents: int = 0
    files_compared: int = 0
    bytes_compared: int = 0
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Rows per action."""
        counts = {"added": 0, "modified": 0, "dropped": 0}
        for _, what in self.rows:
            counts[what] += 1
        return counts


def _replace(directory: Path, relative: str, data: bytes) -> None:
    """Write ``data`` as ``relative`` by replacing the file (never writing into it)."""
    target = directory / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def compare(
    docs: Iterable[tuple[int, int]],
    load: Loader,
    directory: Path,
    *,
    fix: bool,
    result: CheckResult,
    log: Any = None,
    debug: bool = False,
) -> None:
    """Compare the expected files with ``directory``; with ``fix``, correct it."""
    logger = log or _LOG
    found, unmatched = catalogue(directory)
    logger.info(f"Cataloged files for {len(found)} docs in {directory}")
    published: set[int] = set()
    for doc_id, version in docs:
        if debug:
            logger.debug(f"Checking CDR{doc_id} version {version}")
        published.add(doc_id)
        result.documents += 1
        on_disk = found.get(doc_id, set())
        expected_paths = set()
        for media_file in load(doc_id, version):
            expected_paths.add(media_file.path)
            path = directory / media_file.path
            if media_file.path in on_disk:
                result.files_compared += 1
                same = path.stat().st_size == len(media_file.data)
                if same:
                    result.bytes_compared += len(media_file.data)
                    same = path.read_bytes() == media_file.data
                if not same:
                    result.rows.append((media_file.path, "modified"))
                    logger.info(f"{media_file.path} changed")
                    if fix:
                        _replace(directory, media_file.path, media_file.data)
            else:
                result.rows.append((media_file.path, "added"))
                logger.info(f"{media_file.path} added")
                if fix:
                    _replace(directory, media_file.path, media_file.data)
        for extra in sorted(on_disk - expected_paths):
            result.rows.append((extra, "dropped"))
            logger.info(f"{extra} dropped")
            if fix:
                (directory / extra).unlink()
    for doc_id in sorted(found):
        if doc_id in published:
            continue
        logger.info(f"CDR{doc_id} no longer published")
        for extra in sorted(found[doc_id]):
            result.rows.append((extra, "dropped"))
            if fix:
                (directory / extra).unlink()
    for extra in unmatched:
        logger.info(f"{extra} names no CDR document")
        result.rows.append((extra, "dropped"))
        if fix:
            (directory / extra).unlink()


def listing(directory: Path) -> str:
    """A recursive listing (the legacy's ``dir /s`` for ``debug``)."""
    lines = []
    for folder, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            lines.append(f"{path.stat().st_size:>12} {path.relative_to(directory)}")
    return "\n".join(lines)


def run_check(
    docs: Callable[[], Iterable[tuple[int, int]]],
    load: Loader,
    folders: MediaFolders,
    options: CheckOptions,
    *,
    stamp: str,
    rsync: Action | None = None,
    fix_permissions: Action | None = None,
    log: Any = None,
) -> CheckResult:
    """The whole check; never raises for a failure of the check itself (it is an error row).

    ``docs`` returns the published (id, version) pairs; ``load`` the expected files of one;
    ``rsync`` pushes a folder to Akamai; ``fix_permissions`` runs the CDR's permission fixer
    on a folder (both may be None: rsync is then an error when it is needed).
    """
    logger = log or _LOG
    started = time.monotonic()
    result = CheckResult(directory=str(folders.media))
    locked = False
    clone: Path | None = None
    promoted_clone: Path | None = None
    try:
        if options.debug:
            logger.debug(f"Akamai directory\n{listing(folders.media)}")
        if options.lock:
            folders.lock()
            locked = True
            result.directory = str(folders.locked)
        elif not folders.media.is_dir():
            raise FileNotFoundError("The media directory does not exist")
        if options.fix:
            clone = folders.clone(stamp, hard_links=fix_permissions is None)
            result.directory = str(clone)
            if fix_permissions is not None:
                fix_permissions(clone)
        published = list(docs())
        logger.info(f"Repository has {len(published)} media docs")
        compare(
            published,
            load,
            Path(result.directory),
            fix=options.fix,
            result=result,
            log=logger,
            debug=options.debug,
        )
        run_rsync = options.force
        if not run_rsync and result.rows and options.rsync:
            if options.fix:
                run_rsync = True
            else:
                logger.warning(IGNORED_RSYNC)
                result.errors.append(IGNORED_RSYNC)
        if run_rsync:
            if rsync is None:
                raise RuntimeError("rsync to Akamai is needed but no rsync target is configured")
            logger.info(f"Running rsync from {result.directory}")
            rsync(Path(result.directory))
            result.rsync_ran = True
        if options.fix:
            assert clone is not None
            if result.rows:
                folders.promote(clone)
                promoted_clone, clone, locked = clone, None, False
                result.promoted = True
                if fix_permissions is not None:
                    fix_permissions(folders.media)
            else:
                folders.remove_clone(clone)
                clone = None
                folders.unlock()
                locked = False
        elif locked:
            folders.unlock()
            locked = False
    except BaseException as exc:
        if isinstance(exc, Exception):
            logger.error(f"media check failure: {exc}")
            result.errors.append(str(exc))
            result.rows = []
        if promoted_clone is not None:
            try:
                folders.demote(promoted_clone)
                clone, locked = promoted_clone, True
                result.promoted = False
            except OSError as undo:
                result.errors.append(f"Unable to undo the promotion of {promoted_clone}: {undo}")
        if clone is not None and os.path.lexists(clone):
            try:
                folders.remove_clone(clone)
            except OSError as undo:
                result.errors.append(f"Unable to remove {clone}: {undo}")
        if locked:
            try:
                folders.unlock()
            except Exception as undo:  # noqa: BLE001 - reported in the mail
                logger.error(f"Unlock failure: {undo}")
                result.errors.append(str(undo))
        if not isinstance(exc, Exception):
            raise
    result.seconds = time.monotonic() - started
    logger.info(f"Elapsed: {result.seconds:.1f} s")
    return result
