"""Archives: their names (legacy ``makeOutFileName``) and how they are written safely.

Naming (docs/behaviour-notes.md#sweep-archive-names): ``OutputFile`` (absolute, or below the output
folder), without a
trailing ``.bz2`` and ``.tar``, plus ``.{oldest}-{youngest}`` (local dates of the oldest and
youngest archived mtimes) for Archive or ``.{today}`` for TruncateArchive, plus ``.tar.bz2``;
when that name exists, ``.01`` to ``.04`` are tried after it, and a sixth name is an error
("Too many output files with base name ..."). The legacy's ``.TEST`` marker is gone because
test mode writes no archive at all.

Writing: :class:`ArchiveWriter` writes a bzip2 tar to a hidden temporary file next to the
final name, records for every member what was stored (type, size, SHA-256 of the content,
and the source's inode, size and mtime), closes and syncs it, reads the whole archive back
comparing every member with that record, and only then links it to its final name (which
fails rather than replace a file that appeared meanwhile). Anything wrong on the way removes
the temporary file, so a crash or an error never leaves a half archive under a real name, and
no source is deleted unless the archive holding it was verified.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import posixpath
import re
import stat
import tarfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from cdr_dagster.sweeper.spec import SweepRule, normalize_path
from cdr_dagster.sweeper.spill import SpillList

MAX_OUTPUT_FILES_WITH_ONE_NAME = 5
BLOCK_SIZE = 1 << 16
#: The temporary name :class:`ArchiveWriter` writes to: ``.{final name}.{12 hex}.partial``.
PARTIAL_NAME = re.compile(r"\.(?P<final>.+\.tar\.bz2(?:\.\d{2})?)\.[0-9a-f]{12}\.partial")


class ArchiveError(Exception):
    """Writing or verifying an archive failed; the rule is abandoned and nothing deleted."""


@dataclass(slots=True)
class Member:
    """One archive member and the state of its source when it was stored."""

    name: str
    path: str
    kind: str  # "file", "dir", "link", "hardlink"
    size: int
    sha256: str | None
    dev: int
    ino: int
    mtime_ns: int
    source_size: int


def archive_base_name(
    rule: SweepRule,
    output_dir: str,
    *,
    oldest: float,
    youngest: float,
    now: float,
    tz: tzinfo,
) -> str:
    """The archive name before the uniqueness suffix (docs/behaviour-notes.md#sweep-archive-names,
    no ``.TEST``)."""
    out = archive_stem(rule, output_dir)
    if rule.action == "Archive":
        out += datetime.fromtimestamp(oldest, tz).strftime(".%Y%m%d")
        out += datetime.fromtimestamp(youngest, tz).strftime("-%Y%m%d")
    else:
        out += datetime.fromtimestamp(now, tz).strftime(".%Y%m%d")
    return normalize_path(out + ".tar.bz2")


def archive_stem(rule: SweepRule, output_dir: str) -> str:
    """The rule's archive path without dates and suffixes: every archive name starts with it."""
    assert rule.output_file is not None
    out = normalize_path(rule.output_file)
    if not (out.startswith("/") or os.path.isabs(out)):
        out = posixpath.join(normalize_path(output_dir), out)
    if out.endswith((".bz2", ".BZ2")):
        out = out[:-4]
    if out.endswith((".tar", ".TAR")):
        out = out[:-4]
    return out


def stale_partials(rule: SweepRule, output_dir: str) -> list[str]:
    """Temporary archives of ``rule`` left by a sweep that was killed while writing one.

    They are this sweeper's own names (:data:`PARTIAL_NAME`, the final name starting with the
    rule's archive stem) and regular files; the sweep lock guarantees no other sweep is
    writing one now.
    """
    stem = archive_stem(rule, output_dir)
    folder, prefix = os.path.split(stem)
    try:
        names = sorted(os.listdir(folder or "."))
    except OSError:
        return []
    found = []
    for name in names:
        matched = PARTIAL_NAME.fullmatch(name)
        if matched is None or not matched.group("final").startswith(prefix + "."):
            continue
        path = os.path.join(folder, name)
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                found.append(path)
        except OSError:
            continue
    return found


def unique_archive_name(base: str, taken: set[str] | frozenset[str] = frozenset()) -> str | None:
    """``base``, or ``base.01`` ... ``base.04``: the first not on disk nor in ``taken``.

    ``taken`` holds names this run already chose (test mode writes nothing, so two rules
    with the same ``OutputFile`` would otherwise be told the same name). None when all five
    are used (the legacy ``makeFileNameUnique`` limit).
    """
    number = 1
    name = base
    while os.path.lexists(name) or name in taken:
        name = f"{base}.{number:02d}"
        number += 1
    if number > MAX_OUTPUT_FILES_WITH_ONE_NAME:
        return None
    return name


class _HashingReader:
    """Reads at most ``limit`` bytes from a file and hashes what was read."""

    def __init__(self, handle: io.BufferedReader, limit: int) -> None:
        self.handle = handle
        self.remaining = limit
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self.handle.read(size)
        self.digest.update(data)
        self.remaining -= len(data)
        return data


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ArchiveWriter:
    """A ``.tar.bz2`` being written to a temporary file; :meth:`commit` verifies and names it.

    ``skipped`` collects sources that were not stored (sockets, devices, files that vanished
    or could not be read before anything of them was written, as the legacy skipped them);
    they are never deleted afterwards because they are not members.
    """

    def __init__(self, final_path: str) -> None:
        self.final_path = final_path
        folder, name = os.path.split(final_path)
        self.temp_path = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.partial")
        self.members = SpillList()
        self.skipped: list[str] = []
        try:
            fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise ArchiveError(f'could not open tarfile "{final_path}" for writing: {exc}') from exc
        self._file = os.fdopen(fd, "wb")
        try:
            self._tar = tarfile.open(fileobj=self._file, mode="w:bz2", format=tarfile.PAX_FORMAT)
        except Exception as exc:
            self._file.close()
            os.unlink(self.temp_path)
            raise ArchiveError(f'could not open tarfile "{final_path}": {exc}') from exc
        self._closed = False

    # -- adding ---------------------------------------------------------------------------

    def _skip(self, path: str, exc: BaseException) -> None:
        """Record a source that vanished or cannot be read; the rest of the rule goes on."""
        if isinstance(exc, FileNotFoundError):
            self.skipped.append(f"{path}: vanished before it was archived; skipped")
        else:
            self.skipped.append(f"{path}: cannot be read ({exc}); not archived, skipped")

    def add(self, path: str, arcname: str) -> None:
        """Store ``path`` as ``arcname``; a folder with everything in it (links not followed).

        A path that vanished or cannot be read is skipped and listed in ``skipped``.
        """
        try:
            info = os.lstat(path)
        except OSError as exc:
            self._skip(path, exc)
            return
        if stat.S_ISDIR(info.st_mode):
            self._add_dir(path, arcname, info)
        elif stat.S_ISLNK(info.st_mode):
            self._add_link(path, arcname, info)
        elif stat.S_ISREG(info.st_mode):
            self._add_file(path, arcname, None)
        else:
            self.skipped.append(f"{path}: not a file, folder or link; not archived")

    def add_head(self, path: str, arcname: str, length: int) -> Member | None:
        """Store the first ``length`` bytes of regular file ``path`` (truncation's head).

        None when the file vanished or cannot be read (it is listed in ``skipped``).
        """
        return self._add_file(path, arcname, length)

    def _add_dir(self, path: str, arcname: str, info: os.stat_result) -> None:
        tarinfo = self._tar.gettarinfo(path, arcname)
        self._tar.addfile(tarinfo)
        self._record(arcname, path, "dir", 0, None, info)
        try:
            with os.scandir(path) as entries:
                children = sorted(entries, key=lambda entry: entry.name)
        except OSError as exc:
            self._skip(f"{path} (its contents)", exc)
            return
        for entry in children:
            child_path = os.path.join(path, entry.name)
            child_name = f"{arcname.rstrip('/')}/{entry.name}"
            try:
                child_info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self._skip(child_path, exc)
                continue
            if stat.S_ISDIR(child_info.st_mode):
                self._add_dir(child_path, child_name, child_info)
            elif stat.S_ISLNK(child_info.st_mode):
                self._add_link(child_path, child_name, child_info)
            elif stat.S_ISREG(child_info.st_mode):
                self._add_file(child_path, child_name, None)
            else:
                self.skipped.append(f"{child_path}: not a file, folder or link; not archived")

    def _add_link(self, path: str, arcname: str, info: os.stat_result) -> None:
        tarinfo = self._tar.gettarinfo(path, arcname)
        self._tar.addfile(tarinfo)
        self._record(arcname, path, "link", 0, None, info)

    def _add_file(self, path: str, arcname: str, length: int | None) -> Member | None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:  # nothing of it is written yet: skip it, keep the rule
            self._skip(path, exc)
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                self.skipped.append(f"{path}: no longer a regular file; not archived, skipped")
                return None
            tarinfo = self._tar.gettarinfo(arcname=arcname, fileobj=handle)
            if tarinfo.type == tarfile.LNKTYPE and length is None:
                self._tar.addfile(tarinfo)
                return self._record(arcname, path, "hardlink", 0, None, info)
            tarinfo.type = tarfile.REGTYPE
            tarinfo.linkname = ""
            size = info.st_size if length is None else length
            if size > info.st_size:
                raise ArchiveError(f"{path} is shorter than the {size} bytes to archive")
            tarinfo.size = size
            reader = _HashingReader(handle, size)
            self._tar.addfile(tarinfo, reader)  # raises OSError when the file shrank
            return self._record(arcname, path, "file", size, reader.digest.hexdigest(), info)

    def _record(
        self,
        name: str,
        path: str,
        kind: str,
        size: int,
        digest: str | None,
        info: os.stat_result,
    ) -> Member:
        member = Member(
            name=name,
            path=path,
            kind=kind,
            size=size,
            sha256=digest,
            dev=info.st_dev,
            ino=info.st_ino,
            mtime_ns=info.st_mtime_ns,
            source_size=info.st_size,
        )
        self.members.append(member)
        return member

    # -- finishing ------------------------------------------------------------------------

    def abort(self) -> None:
        """Close and remove the temporary file (nothing is left under any name)."""
        if not self._closed:
            self._closed = True
            try:
                self._tar.close()
            except Exception:  # noqa: BLE001 - already failing; the file is removed below
                pass
            try:
                self._file.close()
            except OSError:
                pass
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass

    def commit(self, before_rename: Callable[[], None] | None = None) -> str:
        """Close, sync, verify the archive against the record, then give it its final name.

        ``before_rename`` runs after verification (tests use it to fail at that moment).
        Raises :class:`ArchiveError` (after removing the temporary file) when anything fails.
        Returns the final path.
        """
        try:
            self._closed = True
            self._tar.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            verify_archive(self.temp_path, self.members)
            if before_rename is not None:
                before_rename()
            _link_no_clobber(self.temp_path, self.final_path)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, ArchiveError):
                raise
            if isinstance(exc, Exception):
                raise ArchiveError(
                    f'could not complete tarfile "{self.final_path}": {exc}'
                ) from exc
            raise
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass
        _fsync_dir(os.path.dirname(self.final_path) or ".")
        return self.final_path


def _link_no_clobber(temp: str, final: str) -> None:
    """Give ``temp`` the name ``final`` atomically, failing if ``final`` exists."""
    try:
        os.link(temp, final)
    except FileExistsError as exc:
        raise ArchiveError(
            f'"{final}" appeared while the archive was written; not replaced'
        ) from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: rename after a last check.
        if os.path.lexists(final):
            raise ArchiveError(
                f'"{final}" appeared while the archive was written; not replaced'
            ) from exc
        os.rename(temp, final)


def verify_archive(path: str, members: Iterable[Member]) -> None:
    """Read ``path`` back and check it holds exactly ``members`` (names, types, sizes, SHA-256).

    Raises :class:`ArchiveError` naming the first difference.
    """
    expected_members = iter(members)
    try:
        with tarfile.open(path, mode="r:bz2") as tar:
            index = 0
            for info in tar:
                expected = next(expected_members, None)
                if expected is None:
                    raise ArchiveError(f"{path}: unexpected extra member {info.name!r}")
                index += 1
                if info.name != expected.name.rstrip("/"):
                    raise ArchiveError(
                        f"{path}: member {index} is {info.name!r}, expected {expected.name!r}"
                    )
                kind = _kind(info)
                if kind != expected.kind:
                    raise ArchiveError(
                        f"{path}: {info.name!r} is a {kind}, expected {expected.kind}"
                    )
                if kind == "file":
                    if info.size != expected.size:
                        raise ArchiveError(
                            f"{path}: {info.name!r} holds {info.size} bytes, "
                            f"expected {expected.size}"
                        )
                    digest = hashlib.sha256()
                    stream = tar.extractfile(info)
                    assert stream is not None
                    while chunk := stream.read(BLOCK_SIZE):
                        digest.update(chunk)
                    if digest.hexdigest() != expected.sha256:
                        raise ArchiveError(
                            f"{path}: content of {info.name!r} differs from its source"
                        )
            missing = sum(1 for _ in expected_members)
            if missing:
                raise ArchiveError(f"{path}: {missing} member(s) missing")
    except ArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{path} cannot be read back: {exc}") from exc


def _kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "link"
    if info.islnk():
        return "hardlink"
    return "other"
