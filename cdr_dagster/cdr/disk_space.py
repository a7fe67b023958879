"""Free disk space of the CDR servers (legacy ``disk_space.Monitor``,
docs/behaviour-notes.md#disk-space).

Each tier's CDR server has a ``df.py`` page that prints one block per drive::

    C DRIVE
      TOTAL:  148202582016 (138.0G)
       USED:  119805886464 (111.6G)
       FREE:   28396695552 (26.4G)

:func:`parse_df` reads it as the legacy monitor did (a line containing ``DRIVE`` starts a drive
named by its first character; a line containing ``FREE`` gives the byte count and the human
size) and is strict where the legacy code crashed or silently said nothing: a malformed line, a
``FREE`` line before any drive, or an answer with no drive at all is a :class:`DfParseError`
naming the line. :func:`drive_problems` compares each drive with its threshold and words the
alert lines exactly as the legacy did (``C: drive on PROD server down to 5368709120 bytes
(5.0G)``). No Dagster here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: The tiers checked, in the legacy order.
TIERS = ("PROD", "STAGE", "QA", "DEV")
GIB = 1024**3
LEGACY_DF_URL = "https://cdr{suffix}.cancer.gov/cgi-bin/cdr/df.py"
#: Legacy thresholds in GiB (options ``cthreshold`` and ``dthreshold``).
DEFAULT_THRESHOLDS_GIB = {"C": 10, "D": 100}
WARNING_SUBJECT = "*** WARNING: CDR DISK SPACE CHECK ***"
FAILURE_SUBJECT = "DISK CHECK FAILURE"
_FIGURE = re.compile(r"^\s*(TOTAL|USED|FREE):\s+(\S+)(?:\s+(\S+))?")


class DfParseError(ValueError):
    """The df.py answer is not what the page prints; the message names the line."""


@dataclass(frozen=True)
class DriveSpace:
    """One drive of one server: free bytes (and the page's human form), total and used."""

    drive: str
    free_bytes: int
    free_human: str
    total_bytes: int | None = None
    used_bytes: int | None = None

    @property
    def free_gib(self) -> float:
        """Free space in GiB."""
        return self.free_bytes / GIB


def default_df_url(tier: str) -> str:
    """The legacy df.py address of ``tier`` (``cdr.cancer.gov`` for PROD, ``cdr-qa...``)."""
    tier = tier.upper()
    return LEGACY_DF_URL.format(suffix="" if tier == "PROD" else f"-{tier.lower()}")


def parse_df(text: str) -> dict[str, DriveSpace]:
    """The drives in a df.py answer, by letter; :class:`DfParseError` when it is malformed."""
    drives: dict[str, DriveSpace] = {}
    figures: dict[str, int] = {}
    drive: str | None = None
    free: tuple[int, str] | None = None

    def close() -> None:
        if drive is None:
            return
        if free is None:
            raise DfParseError(f"drive {drive} has no FREE line")
        drives[drive] = DriveSpace(
            drive, free[0], free[1], figures.get("TOTAL"), figures.get("USED")
        )

    for number, line in enumerate(text.splitlines(), start=1):
        if "DRIVE" in line:
            close()
            letter = line.strip()[:1]
            if not letter.isalpha():
                raise DfParseError(f"line {number} {line.strip()!r} names no drive letter")
            drive, free, figures = letter.upper(), None, {}
            continue
        match = _FIGURE.match(line)
        if match is None:
            if "FREE" in line:
                raise DfParseError(
                    f"line {number} {line.strip()!r} is not 'FREE: <bytes> (<size>)'"
                )
            continue
        label, amount, human = match.groups()
        if drive is None:
            raise DfParseError(f"line {number} {line.strip()!r} comes before any DRIVE line")
        try:
            value = int(amount)
        except ValueError:
            raise DfParseError(
                f"line {number} {line.strip()!r}: {amount!r} is not a number of bytes"
            ) from None
        if value < 0:
            raise DfParseError(f"line {number} {line.strip()!r}: negative byte count")
        if label == "FREE":
            if not human:
                raise DfParseError(f"line {number} {line.strip()!r} has no human-readable size")
            free = (value, human)
        else:
            figures[label] = value
    close()
    if not drives:
        raise DfParseError("no drive in the answer (no 'X DRIVE' block with a FREE line)")
    return drives


def drive_problems(
    tier: str, drives: Mapping[str, DriveSpace], thresholds_gib: Mapping[str, int]
) -> list[str]:
    """Alert lines for the drives of ``tier`` below their threshold, in drive order.

    A drive without a threshold is reported too (the legacy monitor crashed on it).
    """
    problems = []
    for letter in sorted(drives):
        space = drives[letter]
        threshold = thresholds_gib.get(letter)
        if threshold is None:
            problems.append(
                f"{letter}: drive on {tier} server has no threshold configured "
                f"({space.free_bytes} bytes {space.free_human} free)"
            )
        elif space.free_bytes < threshold * GIB:
            problems.append(
                f"{letter}: drive on {tier} server down to {space.free_bytes} bytes "
                f"{space.free_human}"
            )
    return problems


def fetch_df(url: str, timeout: float) -> tuple[int, str]:
    """GET ``url``; the HTTP status and the body. Connection problems raise ``requests`` errors.

    A ``file://`` address is read as the page (status 200; ``OSError`` when unreadable).
    """
    import requests

    from cdr_dagster.cdr.health import local_page

    path = local_page(url)
    if path is not None:
        return 200, path.read_text(encoding="utf-8")
    response = requests.get(url, timeout=timeout)
    return response.status_code, response.text
