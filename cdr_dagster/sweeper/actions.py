"""The sweeper's actions on files: delete, archive-then-delete, left-truncate
(docs/behaviour-notes.md#sweep-actions).

Every function takes the qualifying :class:`~cdr_dagster.sweeper.scan.Candidate`s of one rule
and the rule's :class:`~cdr_dagster.sweeper.results.RuleOutcome`, records what it did (or, in
test mode, what it would do) and changes nothing in test mode.

- Delete: a folder goes with everything in it (symbolic links inside are removed, never
  followed); a file or link is removed. Errors are messages; the sweep goes on.

Every removal and replacement goes through a :class:`~cdr_dagster.sweeper.remove.RootGuard`,
so a folder swapped for a symbolic link after the scan never leads a removal out of the root.
- Archive: the archive is written and verified first (``archive.ArchiveWriter``); then only
  what it holds is deleted, member by member, and only if the source is still the very file
  that was stored (same inode, size and mtime); a folder is removed only once empty. A file
  that changed or appeared after archiving stays, with a message.
- TruncateArchive / TruncateDelete: for each file larger than ``Smallest`` (K), the archive
  (TruncateArchive) gets the head, the first size - K bytes, and is verified before any file
  is touched; then the tail, the last K bytes (plus anything appended meanwhile), is copied to
  ``<file>.Truncation`` and renamed over the file in one step, so a crash leaves either the
  whole file or its tail, never a half-written one.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cdr_dagster.sweeper.archive import ArchiveError, ArchiveWriter, Member
from cdr_dagster.sweeper.remove import OutsideRootError, RootGuard
from cdr_dagster.sweeper.results import MAX_LISTED, RuleOutcome
from cdr_dagster.sweeper.scan import DIR, LINK, Candidate, CandidateList

BLOCK_SIZE = 1 << 16
TRUNCATION_SUFFIX = ".Truncation"


class SweepFatalError(Exception):
    """An error the legacy treated as fatal: the sweep stops and the failure is mailed."""


@dataclass(frozen=True)
class Hooks:
    """Callbacks at the dangerous moments, for operators' tooling and the crash tests.

    ``before_archive(path)`` runs before each qualifying path is put in an archive;
    ``after_archive(path)`` when an archive is verified and named, before any source is
    deleted; ``before_delete(path)`` before each source path is removed or truncated.
    """

    before_archive: Callable[[str], None] | None = None
    after_archive: Callable[[str], None] | None = None
    before_delete: Callable[[str], None] | None = None


def _before(hooks: Hooks, path: str) -> None:
    if hooks.before_delete is not None:
        hooks.before_delete(path)


def tree_size(path: str) -> tuple[int, int, int]:
    """(files, folders, bytes) below and including folder ``path``; links are not followed."""
    files = folders = size = 0
    stack = [path]
    while stack:
        current = stack.pop()
        folders += 1
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            files += 1
                            size += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return files, folders, size


def _rmtree(path: str, guard: RootGuard) -> list[str]:
    """Remove a folder tree without following links; return the errors."""
    errors: list[str] = []

    def record(function: object, failed: str, exc: object) -> None:
        errors.append(f"{failed}: {exc}")

    try:
        guard.rmtree(path, record)
    except OSError as exc:
        errors.append(str(exc))
    return errors


def _guard(outcome: RuleOutcome, guard: RootGuard | None) -> RootGuard:
    return guard if guard is not None else RootGuard(outcome.rule.root or "/")


def delete(
    candidates: CandidateList,
    outcome: RuleOutcome,
    test_mode: bool,
    hooks: Hooks,
    guard: RootGuard | None = None,
) -> None:
    """Delete each qualifying path (folders recursively); test mode only reports."""
    if test_mode:
        _preview_delete(candidates, outcome)
        return
    guard = _guard(outcome, guard)
    for candidate in candidates:
        path = candidate.path
        if candidate.is_dir and not candidate.is_link:
            files, folders, size = tree_size(path)
            _before(hooks, path)
            errors = _rmtree(path, guard)
            if errors:
                left = tree_size(path) if os.path.lexists(path) else (0, 0, 0)
                outcome.problem(f"Error removing directory {path}: {'; '.join(errors[:5])}")
                outcome.deleted_files += max(files - left[0], 0)
                outcome.bytes_freed += max(size - left[2], 0)
                continue
            outcome.act(f"deleted folder {path} ({files} files, {size} bytes)")
            outcome.deleted_dirs += 1
            outcome.deleted_files += files
            outcome.bytes_freed += size
        else:
            size = 0 if candidate.is_link else candidate.size
            kind = "link" if candidate.is_link else "file"
            _before(hooks, path)
            try:
                guard.unlink(path)
            except OSError as exc:
                outcome.problem(f"Unable to remove file {path}: {exc}")
                continue
            outcome.act(f"deleted {kind} {path} ({size} bytes)")
            outcome.deleted_files += 1
            outcome.bytes_freed += size


def _preview_delete(candidates: CandidateList, outcome: RuleOutcome) -> None:
    """What :func:`delete` would do (a tight loop: a rule may match many thousands)."""
    files = folders = freed = 0
    room = MAX_LISTED - len(outcome.actions)
    for path, size, _mtime, flags in candidates.tuples():
        if flags & DIR and not flags & LINK:
            count, _, size = tree_size(path)
            folders += 1
            files += count
            text = f"would delete folder {path} ({count} files, {size} bytes)" if room > 0 else ""
        else:
            if flags & LINK:
                size = 0
            files += 1
            if room > 0:
                kind = "link" if flags & LINK else "file"
                text = f"would delete {kind} {path} ({size} bytes)"
        freed += size
        if room > 0:
            outcome.act(text)
            room -= 1
        else:
            outcome.actions_not_listed += 1
    outcome.deleted_files += files
    outcome.deleted_dirs += folders
    outcome.bytes_freed += freed


def _preview_archive(candidates: list[Candidate], outcome: RuleOutcome, name: str) -> None:
    outcome.archive = name
    for candidate in candidates:
        if candidate.is_dir and not candidate.is_link:
            files, folders, size = tree_size(candidate.path)
            outcome.act(
                f"would archive and delete folder {candidate.path} ({files} files, {size} bytes)"
            )
            outcome.archive_members += files + folders
            outcome.deleted_files += files
            outcome.deleted_dirs += 1
            outcome.bytes_freed += size
        else:
            size = 0 if candidate.is_link else candidate.size
            outcome.act(f"would archive and delete {candidate.path} ({size} bytes)")
            outcome.archive_members += 1
            outcome.deleted_files += 1
            outcome.bytes_freed += size


def archive(
    candidates: list[Candidate],
    outcome: RuleOutcome,
    name: str,
    test_mode: bool,
    hooks: Hooks,
    guard: RootGuard | None = None,
) -> None:
    """Archive the qualifying paths in ``name``, verify it, then delete what it holds."""
    if not candidates:
        return
    if test_mode:
        _preview_archive(candidates, outcome, name)
        return
    root = outcome.rule.root or "/"
    written = _write_archive(
        name,
        candidates,
        outcome,
        lambda writer, candidate: writer.add(candidate.path, candidate.arcname(root)),
        hooks,
        error_label="Tar error (1)",
        untouched="deleted",
    )
    if written is None:
        return
    writer, final = written
    outcome.act(f"archived {len(writer.members)} members in {final} (verified)")
    for skipped in writer.skipped:
        outcome.problem(skipped)
    if hooks.after_archive is not None:
        hooks.after_archive(final)
    delete_archived(writer.members, outcome, hooks, _guard(outcome, guard))


def _write_archive(
    name: str,
    candidates: Iterable[Candidate],
    outcome: RuleOutcome,
    add: Callable[[ArchiveWriter, Candidate], None],
    hooks: Hooks,
    *,
    error_label: str,
    untouched: str,
) -> tuple[ArchiveWriter, str] | None:
    """Write, close and verify the archive ``name`` of ``candidates`` (``add`` puts one in)
    and record it on ``outcome``; return the writer and the archive's final path.

    A source that vanished or cannot be opened is skipped (``writer.skipped``) and the rule
    goes on, as the legacy skipped it. A member that fails while it is being written (the
    archive stream holds part of it) abandons the rule: the half-made archive is removed and
    the problems say what failed and that nothing was ``untouched``; None is returned. An
    archive that cannot be created or committed stops the sweep (:class:`SweepFatalError`).
    """
    try:
        writer = ArchiveWriter(name)
    except ArchiveError as exc:
        raise SweepFatalError(str(exc)) from exc
    current = ""
    try:
        for candidate in candidates:
            current = candidate.path
            if hooks.before_archive is not None:
                hooks.before_archive(current)
            add(writer, candidate)
    except (OSError, ArchiveError, tarfile.TarError) as exc:
        writer.abort()
        outcome.status = "abandoned"
        outcome.problem(f"{error_label}: {exc}")
        outcome.problem(f"FileName: {current}")
        outcome.problem(f"Abandoning this SweepSpec (nothing was {untouched})")
        return None
    if not writer.members:
        writer.abort()
        for skipped in writer.skipped:
            outcome.problem(skipped)
        outcome.problem(f"nothing could be archived; nothing was {untouched}")
        return None
    try:
        final = writer.commit()
    except ArchiveError as exc:
        raise SweepFatalError(str(exc)) from exc
    outcome.archive = final
    outcome.archive_members = len(writer.members)
    return writer, final


def delete_archived(
    members: Iterable[Member], outcome: RuleOutcome, hooks: Hooks, guard: RootGuard | None = None
) -> None:
    """Delete the sources of verified members that are unchanged; then their empty folders."""
    guard = _guard(outcome, guard)
    folders: list[Member] = []
    for member in members:
        if member.kind == "dir":
            folders.append(member)
            continue
        try:
            info = guard.lstat(member.path)
        except FileNotFoundError:
            outcome.note(f"{member.path} vanished after it was archived")
            continue
        except OSError as exc:
            outcome.problem(f"Unable to remove file {member.path}: {exc}")
            continue
        same = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) == (
            member.dev,
            member.ino,
            member.source_size,
            member.mtime_ns,
        )
        if not same:
            outcome.kept += 1
            outcome.problem(f"{member.path} changed after it was archived; kept")
            continue
        _before(hooks, member.path)
        try:
            guard.unlink(member.path)
        except OSError as exc:
            outcome.problem(f"Unable to remove file {member.path}: {exc}")
            continue
        outcome.deleted_files += 1
        if member.kind == "file":
            outcome.bytes_freed += member.source_size
    folders.sort(key=lambda m: m.path.count("/"), reverse=True)
    for member in folders:
        _before(hooks, member.path)
        try:
            guard.rmdir(member.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            outcome.kept += 1
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                outcome.problem(
                    f"folder {member.path} kept: it holds entries that are not in the archive"
                )
            else:
                outcome.problem(f"Error removing directory {member.path}: {exc}")
            continue
        outcome.deleted_dirs += 1


def _regular_files(candidates: list[Candidate], outcome: RuleOutcome, keep: int) -> list[Candidate]:
    files = []
    for candidate in candidates:
        if candidate.is_link or not candidate.is_file:
            outcome.problem(f"{candidate.path}: not a regular file; not truncated")
        elif candidate.size <= keep:
            outcome.note(f"{candidate.path}: not larger than {keep} bytes; not truncated")
        else:
            files.append(candidate)
    return files


def truncate(
    candidates: list[Candidate],
    outcome: RuleOutcome,
    keep: int,
    archive_name: str | None,
    test_mode: bool,
    hooks: Hooks,
    guard: RootGuard | None = None,
) -> None:
    """Left-truncate each qualifying file to its last ``keep`` bytes (heads archived first)."""
    files = _regular_files(candidates, outcome, keep)
    if not files:
        return
    if test_mode:
        if archive_name:
            outcome.archive = archive_name
            outcome.archive_members = len(files)
        for candidate in files:
            head = candidate.size - keep
            saved = f"; the first {head} bytes archived" if archive_name else ""
            outcome.act(
                f"would truncate {candidate.path} from {candidate.size} to {keep} bytes{saved}"
            )
            outcome.truncated += 1
            outcome.bytes_freed += head
        return
    identities: dict[str, tuple[int, int]] = {}
    if archive_name:
        root = outcome.rule.root or "/"

        def add_head(writer: ArchiveWriter, candidate: Candidate) -> None:
            member = writer.add_head(candidate.path, candidate.arcname(root), candidate.size - keep)
            if member is not None:
                identities[candidate.path] = (member.dev, member.ino)

        written = _write_archive(
            archive_name,
            files,
            outcome,
            add_head,
            hooks,
            error_label="Tar error",
            untouched="truncated",
        )
        if written is None:
            return
        writer, final = written
        outcome.act(f"archived the heads of {len(identities)} files in {final} (verified)")
        for skipped in writer.skipped:
            outcome.problem(f"{skipped}; not truncated")
        if hooks.after_archive is not None:
            hooks.after_archive(final)
    for candidate in files:
        if archive_name and candidate.path not in identities:
            continue  # its head is not in the archive
        _before(hooks, candidate.path)
        keep_tail(candidate, keep, outcome, identities.get(candidate.path), guard)


def keep_tail(
    candidate: Candidate,
    keep: int,
    outcome: RuleOutcome,
    identity: tuple[int, int] | None = None,
    guard: RootGuard | None = None,
) -> bool:
    """Replace the file by its bytes from ``size - keep`` on, atomically. True when done.

    ``identity`` is the (device, inode) whose head was archived: a file replaced since (a
    rotated log) is not truncated, since its head is not in the archive. The file, its
    temporary tail and the swap are reached through the checked folder (``guard``).
    """
    try:
        with _guard(outcome, guard).folder(candidate.path) as (fd, name):
            return _keep_tail_in(fd, name, candidate, keep, outcome, identity)
    except OutsideRootError as exc:
        outcome.problem(f"{exc}; not truncated")
        return False


def _keep_tail_in(
    fd: int | None,
    name: str,
    candidate: Candidate,
    keep: int,
    outcome: RuleOutcome,
    identity: tuple[int, int] | None,
) -> bool:
    """:func:`keep_tail` with ``name`` relative to the open folder ``fd`` (None: a path)."""
    path = candidate.path
    start = candidate.size - keep
    temp = path + TRUNCATION_SUFFIX
    temp_name = name + TRUNCATION_SUFFIX
    try:
        info = os.lstat(temp_name, dir_fd=fd)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(info.st_mode):
            outcome.problem(f'"{temp}" exists and is not a file; {path} not truncated')
            return False
        outcome.note(f'Warning: overwriting old temporary output "{temp}"')
        os.unlink(temp_name, dir_fd=fd)
    copied = 0
    try:
        source = os.open(name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=fd)
        try:
            info = os.fstat(source)
            replaced = identity is not None and identity != (info.st_dev, info.st_ino)
            if replaced or not stat.S_ISREG(info.st_mode) or info.st_size < candidate.size:
                outcome.problem(f"{path} changed since it was examined; not truncated")
                return False
            target = os.open(
                temp_name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                stat.S_IMODE(info.st_mode),
                dir_fd=fd,
            )
            try:
                os.lseek(source, start, os.SEEK_SET)
                while True:
                    block = os.read(source, BLOCK_SIZE)
                    if not block:
                        break
                    os.write(target, block)
                    copied += len(block)
                os.fsync(target)
            finally:
                os.close(target)
            try:
                os.chown(temp_name, info.st_uid, info.st_gid, dir_fd=fd)
            except (OSError, AttributeError, NotImplementedError):
                pass
        finally:
            os.close(source)
    except OSError as exc:
        try:
            os.unlink(temp_name, dir_fd=fd)
        except OSError:
            pass
        outcome.problem(
            f'WARNING: Unable to create truncation of "{outcome.rule.name}::{path}": {exc}; '
            "truncation was aborted"
        )
        return False
    if copied != keep:
        outcome.note(
            f'WARNING: "{temp}" size={copied}, but truncsize={keep}: '
            "input file may have changed during processing"
        )
    try:
        os.replace(temp_name, name, src_dir_fd=fd, dst_dir_fd=fd)
    except OSError as exc:
        raise SweepFatalError(f'Unable to replace original file "{path}": {exc}') from exc
    outcome.truncated += 1
    outcome.bytes_freed += start
    outcome.act(f"truncated {path} from {candidate.size} to {copied} bytes")
    return True
