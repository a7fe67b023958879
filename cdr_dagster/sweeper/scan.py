"""Which paths a rule matches, which of them qualify, and whether the rule triggers.

Spec 03 section 1.6, with the legacy semantics:

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

import glob
import os
import stat
from dataclasses import dataclass, field

from cdr_dagster.sweeper.spec import SweepRule, inside


@dataclass(slots=True)
class Candidate:
    """A matched path: absolute path, name in an archive, and what ``stat`` said."""

    path: str
    arcname: str
    size: int
    mtime: float
    is_dir: bool
    is_link: bool
    is_file: bool


@dataclass
class ScanResult:
    """What a rule's patterns found (spec 03 1.9.4 counters)."""

    matched: int = 0
    qualified: list[Candidate] = field(default_factory=list)
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


def _matches(rule: SweepRule, real_root: str) -> list[tuple[str, str]]:
    """(absolute path, archive name) of every match, each once, sorted per pattern."""
    assert rule.root is not None
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for pattern in rule.patterns:
        if pattern.startswith("/") or os.path.isabs(pattern):
            names = sorted(glob.glob(pattern))
            pairs = [(os.path.normpath(name), name.lstrip("/")) for name in names]
        else:
            names = sorted(glob.glob(pattern, root_dir=rule.root))
            pairs = [
                (os.path.normpath(os.path.join(rule.root, name)), name.replace(os.sep, "/"))
                for name in names
            ]
        for path, arcname in pairs:
            if path not in seen:
                seen.add(path)
                found.append((path, arcname))
    return found


class _Containment:
    """Decides whether a path stays inside the real root, caching each parent folder."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._parents: dict[str, bool] = {}

    def parent_ok(self, path: str) -> bool:
        parent = os.path.dirname(path)
        ok = self._parents.get(parent)
        if ok is None:
            ok = inside(os.path.realpath(parent), self.real_root)
            self._parents[parent] = ok
        return ok

    def target_ok(self, path: str) -> bool:
        return inside(os.path.realpath(path), self.real_root)


def scan_rule(rule: SweepRule) -> ScanResult:
    """Match, stat and qualify the paths of a file rule; decide whether it triggers.

    Raises :class:`RootMissingError` when the root folder is missing (the legacy's
    "Unable to cd to root"). A path that vanishes between the glob and its ``stat`` is
    left out silently (the legacy stopped the whole sweep there).
    """
    assert rule.root is not None
    if not os.path.isdir(rule.root):
        raise RootMissingError(f"root folder {rule.root!r} does not exist or is not a folder")
    guard = _Containment(rule.root)
    result = ScanResult()
    matches = _matches(rule, guard.real_root)
    result.matched = len(matches)
    if not matches:
        result.reason = "no files matched"
        return result
    young, smallest = rule.young, rule.smallest
    for path, arcname in matches:
        if not guard.parent_ok(path):
            result.refused.append(f"{path}: reached through a symbolic link out of the root")
            continue
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            result.matched -= 1
            continue
        is_link = stat.S_ISLNK(info.st_mode)
        if is_link:
            if not guard.target_ok(path):
                target = os.path.realpath(path)
                result.refused.append(
                    f"{path}: symbolic link to {target}, outside the root; left alone"
                )
                continue
            try:
                info_followed = os.stat(path)
            except OSError:
                info_followed = info  # dangling link inside the root: the link itself
        else:
            info_followed = info
        size = info_followed.st_size
        mtime = info_followed.st_mtime
        result.total_bytes += size
        if (young is not None and mtime < young) or (smallest and size > smallest):
            candidate = Candidate(
                path=path,
                arcname=arcname,
                size=size,
                mtime=mtime,
                is_dir=stat.S_ISDIR(info.st_mode),
                is_link=is_link,
                is_file=stat.S_ISREG(info.st_mode),
            )
            result.qualified.append(candidate)
            if result.oldest == 0 or mtime < result.oldest:
                result.oldest = mtime
            if mtime > result.youngest:
                result.youngest = mtime
            if result.smallest == 0 or size < result.smallest:
                result.smallest = size
            if size > result.biggest:
                result.biggest = size
            result.qualified_bytes += size - (smallest or 0)
    if rule.old is not None and result.oldest > rule.old:
        result.reason = f"nothing qualifying is older than {rule.oldest_days} days"
    elif rule.biggest and rule.biggest > result.biggest:
        result.reason = f"nothing qualifying is at least {rule.biggest} bytes"
    elif not result.qualified:
        result.reason = "nothing qualified"
    else:
        result.triggered = True
    return result
