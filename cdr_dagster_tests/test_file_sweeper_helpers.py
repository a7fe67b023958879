"""Helpers for the file sweeper tests (no tests here): rule XML, aged trees, full listings."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from cdr_dagster.sweeper.spec import reference_time

TZ = ZoneInfo("America/New_York")
#: 2024-05-13 23:30 in New York (03:30 UTC on the 14th): a run "after 20:00 local time".
NOW = datetime(2024, 5, 13, 23, 30, tzinfo=TZ).timestamp()
REF = reference_time(NOW, TZ)
DAY = 86400


def age(days: float) -> float:
    """An mtime ``days`` days before the reference time, an hour earlier to be clear of it."""
    return REF - days * DAY - 3600


def day_of(stamp: float) -> str:
    """YYYYMMDD of an epoch time in New York (archive name dates)."""
    return datetime.fromtimestamp(stamp, TZ).strftime("%Y%m%d")


def make_file(path: Path, days: float, size: int = 100, data: bytes | None = None) -> Path:
    """A file of ``size`` bytes (distinct content) aged ``days`` days."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        pattern = f"{path.name}:".encode()
        data = (pattern * (size // len(pattern) + 1))[:size]
    path.write_bytes(data)
    set_age(path, days)
    return path


def set_age(path: Path, days: float) -> None:
    stamp = age(days)
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def make_dir(path: Path, days: float, files: dict[str, int] | None = None) -> Path:
    """A folder aged ``days`` days holding files (name -> size) of the same age."""
    path.mkdir(parents=True, exist_ok=True)
    for name, size in (files or {}).items():
        make_file(path / name, days, size)
    set_age(path, days)
    return path


def listing(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """Every entry below ``root``: relative path -> (kind, size, mtime_ns, content or link)."""
    result: dict[str, tuple[str, int, int, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, root)
            if stat.S_ISLNK(info.st_mode):
                result[relative] = ("link", info.st_size, info.st_mtime_ns, os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                result[relative] = ("dir", 0, info.st_mtime_ns, "")
            else:
                digest = Path(path).read_bytes()[:64].hex() if stat.S_ISREG(info.st_mode) else ""
                result[relative] = ("file", info.st_size, info.st_mtime_ns, digest)
    return result


def rule_xml(
    name: str,
    action: str,
    root: str | Path | None,
    files: list[str] = (),  # type: ignore[assignment]
    *,
    output: str | Path | None = None,
    tiers: str | None = None,
    custom: str | None = None,
    **numbers: int | str,
) -> str:
    """One ``SweepSpec`` element; ``numbers`` are Oldest, Youngest, Biggest, Smallest."""
    attrs = f' Tiers="{tiers}"' if tiers is not None else ""
    parts = [f"<SweepSpec{attrs}>", f"<Name>{escape(name)}</Name>", f"<Action>{action}</Action>"]
    if custom:
        parts.append(f"<CustomProc>{custom}</CustomProc>")
    if root is not None:
        parts.append(f"<InputRoot>{escape(str(root))}</InputRoot>")
    if files:
        parts.append("<InputFiles>")
        parts += [f"<File>{escape(f)}</File>" for f in files]
        parts.append("</InputFiles>")
    if output is not None:
        parts.append(f"<OutputFile>{escape(str(output))}</OutputFile>")
    for key in ("Oldest", "Youngest", "Biggest", "Smallest"):
        if key in numbers:
            parts.append(f"<{key}>{numbers[key]}</{key}>")
    parts.append("</SweepSpec>")
    return "\n".join(parts)


def document(*rules: str) -> str:
    """A whole ``SweepSpecifications`` document, one element per line."""
    body = "\n".join(rules)
    return (
        "<SweepSpecifications>\n<Info><Title>Test sweep rules</Title></Info>\n"
        f"{body}\n</SweepSpecifications>\n"
    )
