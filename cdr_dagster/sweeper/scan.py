"""Which paths a rule matches, which of them qualify, and whether the rule triggers.

docs/behaviour-notes.md#sweep-ages, with the legacy semantics:

- each ``File`` pattern is a glob (``*``, ``?``, ``[...]``, no recursion; names starting with
  a dot only match a pattern that starts with one), relative to the rule's root unless
  absolute; matches may be files or folders;
- a path qualifies when (``Youngest`` is set and its mtime is before ``young``) or
  (``Smallest`` is set and its size is larger than ``Smallest``); sizes and times come from
  ``stat`` (a folder's size is its directory entry's);
- the rule triggers unless nothing matched, or ``Oldest`` is set and no qualifying path is
  older than ``old``, or ``Biggest`` is set and no qualifying path is at least that big.

Safety: the root's real path is taken once; a match whose real path leaves it (a symbolic link
pointing elsewhere, itself or in a folder on the way) is never acted on and is reported. A
match that is a symbolic link inside the root is kept as a link: deleting removes the link,
archiving stores the link, truncation refuses it. Folders on the way are resolved once each,
so a scan costs one ``lstat`` per match.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cdr_dagster.sweeper.spec import SweepRule, inside
from cdr_dagster.sweeper.spill import SpillList

_MAGIC = re.compile(r"[*?[]")
DIR, LINK, FILE, ABSOLUTE = 1, 2, 4, 8
_DIR, _LINK, _FILE, _ABSOLUTE = DIR, LINK, FILE, ABSOLUTE
_TYPE_MASK, _S_IFLNK, _S_IFDIR, _S_IFREG = 0o170000, stat.S_IFLNK, stat.S_IFDIR, stat.S_IFREG


class Candidate:
    """A matched path and what ``stat`` said of it (compact: a sweep may hold many)."""

    __slots__ = ("path", "size", "mtime", "flags")

    def __init__(self, path: str, size: int, mtime: float, flags: int) -> None:
        self.path = path
        self.size = size
        self.mtime = mtime
        self.flags = flags

    @property
    def is_dir(self) -> bool:
        return bool(self.flags & _DIR)

    @property
    def is_link(self) -> bool:
        return bool(self.flags & _LINK)

    @property
    def is_file(self) -> bool:
        return bool(self.flags & _FILE)

    def arcname(self, root: str) -> str:
        """The name in an archive: as matched, relative to the root (legacy ``tar.add``);
        an absolute pattern keeps its whole path without the leading slash."""
        if self.flags & _ABSOLUTE:
            return self.path.lstrip("/")
        return self.path[len(root.rstrip("/")) + 1 :]

    def __repr__(self) -> str:
        return f"Candidate({self.path!r}, size={self.size}, mtime={self.mtime})"


class CandidateList(SpillList):
    """The qualifying candidates of a rule, spilled to a temporary file when there are many."""

    def add(self, path: str, size: int, mtime: float, flags: int) -> None:
        self.append((path, size, mtime, flags))

    def __iter__(self) -> Iterator[Candidate]:  # type: ignore[override]
        for path, size, mtime, flags in super().__iter__():
            yield Candidate(path, size, mtime, flags)

    def tuples(self) -> Iterator[tuple[str, int, float, int]]:
        """(path, size, mtime, flags) of each candidate, for tight loops."""
        return super().__iter__()


@dataclass
class ScanResult:
    """What a rule's patterns found (docs/behaviour-notes.md#sweep-actions counters)."""

    matched: int = 0
    qualified: CandidateList = field(default_factory=CandidateList)
    total_bytes: int = 0
    qualified_bytes: int = 0
    oldest: float = 0.0
    youngest: float = 0.0
    biggest: int = 0
    smallest: int = 0
    triggered: bool = False
    reason: str = ""
    refused: list[str] = field(default_factory=list)


class RootMissingError(OSError):
    """The rule's root folder does not exist or is not a folder."""


def _component_matcher(component: str) -> tuple[bool, Callable[[str], object] | str]:
    """(True, match function) for a glob component, (False, name) for a literal one."""
    if _MAGIC.search(component):
        return True, re.compile(fnmatch.translate(component)).match
    return False, component


class _Matcher:
    """Walks one pattern's components below the root, as ``glob`` would, without leaving it.

    Folders on the way are entered when they are folders (a link to a folder too, as glob
    does) but a link whose target is outside the real root is reported and not entered.
    Names starting with a dot match only a component that starts with one.
    """

    def __init__(self, root: str, real_root: str, refused: list[str]) -> None:
        self.root = root.rstrip("/") or "/"
        self.real_root = real_root
        self.refused = refused

    def link_ok(self, path: str) -> bool:
        target = os.path.realpath(path)
        if inside(target, self.real_root):
            return True
        self.refused.append(f"{path}: symbolic link to {target}, outside the root; left alone")
        return False

    def compile(self, pattern: str) -> list[tuple[bool, bool, Any]]:
        """The pattern relative to the root, as (hidden names ok, magic, test) per component."""
        if pattern.startswith("/"):
            relative = os.path.normpath(pattern)[len(self.root) :].lstrip("/")
        else:
            relative = pattern
        parts = [part for part in relative.split("/") if part and part != "."]
        return [(part.startswith("."), *_component_matcher(part)) for part in parts]

    def lexical_match(self, compiled: list[tuple[bool, bool, Any]], path: str) -> bool:
        """Whether ``path`` (below the root) is one of ``compiled``'s matches, by name alone.

        Used to act once on a path two patterns match, without remembering every path.
        """
        names = path[len(self.root) + 1 :].split("/") if self.root != "/" else path[1:].split("/")
        if len(names) != len(compiled):
            return False
        for name, (hidden_ok, magic, test) in zip(names, compiled, strict=True):
            if magic:
                if (name[0] == "." and not hidden_ok) or not test(name):
                    return False
            elif name != test:
                return False
        return True

    def matches(
        self, pattern: str, compiled: list | None = None
    ) -> Iterator[tuple[str, os.stat_result, int]]:
        """(path, lstat result, flags) of every match of ``pattern``."""
        compiled = compiled if compiled is not None else self.compile(pattern)
        if not compiled:
            return
        flags = _ABSOLUTE if pattern.startswith("/") else 0
        hidden_ok, magic, test = compiled[-1]
        for folder in self._folders(self.root, compiled, 0):
            if not magic:
                path = f"{folder}/{test}" if folder != "/" else f"/{test}"
                try:
                    yield path, os.lstat(path), flags
                except OSError:
                    pass
                continue
            try:
                iterator = os.scandir(folder)
            except OSError:
                continue
            with iterator:
                for entry in iterator:
                    name = entry.name
                    if (name[0] == "." and not hidden_ok) or not test(name):
                        continue
                    try:
                        yield entry.path, entry.stat(follow_symlinks=False), flags
                    except OSError:
                        continue

    def _folders(self, folder: str, compiled: list, index: int) -> Iterator[str]:
        """The folders the last component is matched in (folders on the way, as glob does)."""
        if index == len(compiled) - 1:
            yield folder
            return
        hidden_ok, magic, test = compiled[index]
        if not magic:
            path = f"{folder}/{test}" if folder != "/" else f"/{test}"
            if self._enter(path):
                yield from self._folders(path, compiled, index + 1)
            return
        try:
            iterator = os.scandir(folder)
        except OSError:
            return
        with iterator:
            names = sorted(
                entry.name
                for entry in iterator
                if not (entry.name[0] == "." and not hidden_ok) and test(entry.name)
            )
        for name in names:
            path = f"{folder}/{name}" if folder != "/" else f"/{name}"
            if self._enter(path):
                yield from self._folders(path, compiled, index + 1)

    def _enter(self, path: str) -> bool:
        """A folder on the way: a real folder, or a link to one that stays inside the root."""
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode):
            return True
        if stat.S_ISLNK(mode):
            return os.path.isdir(path) and self.link_ok(path)
        return False


def scan_rule(rule: SweepRule) -> ScanResult:
    """Match, stat and qualify the paths of a file rule; decide whether it triggers.

    Raises :class:`RootMissingError` when the root folder is missing (the legacy's
    "Unable to cd to root"). A path that vanishes between listing and ``stat`` is left out
    silently (the legacy stopped the whole sweep there).
    """
    assert rule.root is not None
    if not os.path.isdir(rule.root):
        raise RootMissingError(f"root folder {rule.root!r} does not exist or is not a folder")
    result = ScanResult()
    matcher = _Matcher(rule.root, os.path.realpath(rule.root), result.refused)
    young, smallest = rule.young, rule.smallest
    qualified = result.qualified
    append = qualified.append
    oldest = youngest = 0.0
    biggest = smallest_size = total = qualified_bytes = matched = 0
    earlier: list[list] = []
    for pattern in rule.patterns:
        compiled = matcher.compile(pattern)
        previous = list(earlier)
        earlier.append(compiled)
        for path, info, flags in matcher.matches(pattern, compiled):
            if previous and any(matcher.lexical_match(c, path) for c in previous):
                continue  # an earlier pattern matched it already
            matched += 1
            kind = info.st_mode & _TYPE_MASK
            if kind == _S_IFLNK:
                if not matcher.link_ok(path):
                    continue
                flags |= _LINK
                try:
                    followed = os.stat(path)
                except OSError:
                    followed = info  # a dangling link inside the root: the link itself
                size, mtime = followed.st_size, followed.st_mtime
            else:
                if kind == _S_IFDIR:
                    flags |= _DIR
                elif kind == _S_IFREG:
                    flags |= _FILE
                size, mtime = info.st_size, info.st_mtime
            total += size
            if (young is not None and mtime < young) or (smallest and size > smallest):
                append((path, size, mtime, flags))
                if oldest == 0 or mtime < oldest:
                    oldest = mtime
                if mtime > youngest:
                    youngest = mtime
                if smallest_size == 0 or size < smallest_size:
                    smallest_size = size
                if size > biggest:
                    biggest = size
                qualified_bytes += size - (smallest or 0)
    result.matched, result.total_bytes, result.qualified_bytes = matched, total, qualified_bytes
    result.oldest, result.youngest = oldest, youngest
    result.biggest, result.smallest = biggest, smallest_size
    if not matched:
        result.reason = "no files matched"
    elif rule.old is not None and oldest > rule.old:
        result.reason = f"nothing qualifying is older than {rule.oldest_days} days"
    elif rule.biggest and rule.biggest > biggest:
        result.reason = f"nothing qualifying is at least {rule.biggest} bytes"
    elif not qualified:
        result.reason = "nothing qualified"
    else:
        result.triggered = True
    return result
