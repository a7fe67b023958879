"""The PDQ s/FTP server's access logs: parsing, the normalized cumulative log, what it tells.

The s/FTP server (OpenSSH's sftp subsystem) logs through syslog (spec 04 3.2): an optional
4-digit year, ``Mon DD HH:MM:SS host sshd[PID]: message``. Two kinds of line matter:

- *session opened*: ``... sshd[PID]: session opened for local user LOGIN from [ADDRESS]``;
- *open* (a retrieval): ``... sshd[PID]: open "PATH" flags READ mode 0666``.

Everything else (``close``, ``opendir``, ``session closed``, ...) is ignored. A line carrying
one of the two markers that cannot be read (unknown month, impossible date, no PID, no login
or path) is *malformed*: it is reported with its file and line number and skipped, never
fatal.

The normalized cumulative log (``cumulative.log``, spec 04 3.3) holds only the wanted lines,
as ``YYYY-MM-DD HH:MM:SS host sshd[PID]: message``, appended in log order and de-duplicated
by exact text. :func:`top_up_cumulative_log` is the legacy ``sftp_logs.Refresh`` step 3;
:func:`last_accesses` replaces the ``last-pdq-data-partner-accesses.py`` CGI (spec 04 1.4);
:func:`month_requests` is the parse of ``pdq_access_log.Report`` (spec 04 5.4), read from
the normalized log instead of one monthly raw file.

Choices that differ from the legacy code, on purpose:

- a leading year token, when present, is the line's year; only year-less (older) lines get
  the legacy guess from the twelve months ending with the current one;
- a path with spaces is kept whole (the legacy code cut it at the first space);
- text is UTF-8 everywhere; undecodable bytes become U+FFFD instead of stopping the run;
- a partial last line (a run killed while appending) is cut off before new lines go in.

Raw logs are scanned in large binary blocks with ``bytes.find`` for the two markers, so the
lines nobody wants never reach Python code one by one; memory stays flat whatever the size of
the log (see ``benchmarks/log_parsing.py``). No Dagster here (DESIGN 3.1).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO, NamedTuple

#: The file names in the s/FTP server's log folder (spec 04 3.1).
CURRENT_LOG = "pdq.log"
MONTHLY_LOG_PATTERN = re.compile(r"^pdq\.log-(\d{8})\.gz$")
CUMULATIVE_LOG = "cumulative.log"

SESSION = "session"
OPEN = "open"

_SESSION_MARK = "session opened for local user"
_OPEN_MARK = "]: open "
_BLOCK = 1 << 20
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_MONTH_NAMES = {number: name for name, number in _MONTHS.items()}
_FULL_PREFIX = "/pdq/full/"


class LogLineError(ValueError):
    """A line with a session or open marker that cannot be read."""


class LogEvent(NamedTuple):
    """One wanted line: a session opened (``value`` = login) or a file open (``value`` = path).

    ``text`` is the normalized form written to the cumulative log.
    """

    kind: str
    day: date
    time: str
    host: str
    pid: str
    value: str
    text: str


class MalformedLine(NamedTuple):
    """A wanted-looking line that could not be read, where it was and why."""

    source: str
    line_number: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line_number}: {self.reason}: {self.text[:200]}"


# ---------------------------------------------------------------------------------------------
# Reading single lines
# ---------------------------------------------------------------------------------------------


def month_years(today: date) -> dict[int, int]:
    """{month number: year} for the current month and the eleven before it (legacy guess)."""
    years = {}
    year, month = today.year, today.month
    for _ in range(12):
        years[month] = year
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return years


def is_wanted(line: str) -> bool:
    """True for a session-opened or an open line (``opendir`` is not an open)."""
    return _OPEN_MARK in line or _SESSION_MARK in line


def _message(kind: str, tokens: list[str], text: str) -> str:
    """The login of a session line or the path of an open line (``tokens`` from the month)."""
    if kind == SESSION:
        if tokens[5:10] != ["session", "opened", "for", "local", "user"] or len(tokens) < 11:
            raise LogLineError("session line without 'session opened for local user LOGIN'")
        return tokens[10]
    if len(tokens) < 7 or tokens[5] != "open" or not tokens[6].startswith('"'):
        raise LogLineError("open line without a quoted path")
    rest = text[text.index(_OPEN_MARK) + len(_OPEN_MARK) :].strip()
    end = rest.find('" flags')
    if end < 0:
        end = rest.rfind('"')
    if end <= 0:
        raise LogLineError("open line with an unterminated path")
    return rest[1:end]


def parse_raw_line(text: str, years: Mapping[int, int]) -> LogEvent:
    """Read one raw syslog line (with or without a leading year) that :func:`is_wanted`.

    ``years`` (from :func:`month_years`) gives the year of a line without one. Raises
    :class:`LogLineError` saying what is wrong.
    """
    tokens = text.split()
    year = None
    if tokens and tokens[0].isdigit():
        if len(tokens[0]) != 4:
            raise LogLineError(f"leading number {tokens[0]!r} is not a year")
        year = int(tokens[0])
        tokens = tokens[1:]
    if len(tokens) < 6:
        raise LogLineError("too few fields")
    month = _MONTHS.get(tokens[0])
    if month is None:
        raise LogLineError(f"{tokens[0]!r} is not a month abbreviation")
    if year is None:
        year = years[month]
    kind = SESSION if _SESSION_MARK in text else OPEN
    return _event(kind, year, month, tokens[1], tokens, text)


def _event(
    kind: str, year: int, month: int, day_text: str, tokens: list[str], text: str
) -> LogEvent:
    """Check the fields from the day on and build the event (``tokens`` start at the month)."""
    if not day_text.isdigit():
        raise LogLineError(f"day {day_text!r} is not a number")
    try:
        day = date(year, month, int(day_text))
    except ValueError:
        raise LogLineError(f"{year}-{month:02d}-{day_text} is not a date") from None
    clock = tokens[2]
    if (
        len(clock) != 8
        or clock[2] != ":"
        or clock[5] != ":"
        or not clock.replace(":", "").isdigit()
    ):
        raise LogLineError(f"time {clock!r} is not HH:MM:SS")
    process = tokens[4]
    pid = process[5:-2]
    if not (process.startswith("sshd[") and process.endswith("]:") and pid.isdigit()):
        raise LogLineError(f"{process!r} is not sshd[PID]:")
    value = _message(kind, tokens, text)
    normalized = f"{day.isoformat()} {' '.join(tokens[2:])}"
    return LogEvent(kind, day, clock, tokens[3], pid, value, normalized)


def parse_normalized_line(text: str) -> LogEvent:
    """Read one line of the cumulative log (``YYYY-MM-DD HH:MM:SS host sshd[PID]: ...``)."""
    tokens = text.split()
    if len(tokens) < 5:
        raise LogLineError("too few fields")
    stamp = tokens[0]
    if len(stamp) != 10 or stamp[4] != "-" or stamp[7] != "-":
        raise LogLineError(f"{stamp!r} is not YYYY-MM-DD")
    try:
        year, month = int(stamp[:4]), int(stamp[5:7])
    except ValueError:
        raise LogLineError(f"{stamp!r} is not YYYY-MM-DD") from None
    if not 1 <= month <= 12:
        raise LogLineError(f"{stamp!r} is not YYYY-MM-DD")
    if _SESSION_MARK in text:
        kind = SESSION
    elif _OPEN_MARK in text:
        kind = OPEN
    else:
        raise LogLineError("neither a session-opened nor an open line")
    # Same positions as a raw line once the month token stands where the date is.
    return _event(kind, year, month, stamp[8:], [stamp[:7], *tokens], text)


# ---------------------------------------------------------------------------------------------
# Scanning raw log files
# ---------------------------------------------------------------------------------------------


#: What a block of normalized lines looks like when every line is well formed; the date itself
#: is checked when it is computed. A block that does not match is gone through line by line.
_LINE_PATTERN = (
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ sshd\[\d+\]: "
    r'(?:session opened for local user \S+(?: [^\n]*)?|open "[^\n]*"[^\n]*)'
)
_NORMALIZED_LINE = re.compile(_LINE_PATTERN)


def _wanted_in_block(text: str, first_line: int) -> Iterator[tuple[int, str]]:
    """(line number, line) of each line of ``text`` holding a marker, in order.

    ``first_line`` is the number of the block's first line.
    """
    for line_number, line in enumerate(text.split("\n"), first_line):
        if _OPEN_MARK in line or _SESSION_MARK in line:
            yield line_number, line


def iter_blocks(stream: BinaryIO, block_size: int = _BLOCK) -> Iterator[tuple[int, str]]:
    """(number of the first line, text) of consecutive blocks of whole lines of a binary
    stream, decoded as UTF-8 (undecodable bytes become U+FFFD); each block but the last ends
    with a newline."""
    carry = b""
    first_line = 1
    while True:
        block = stream.read(block_size)
        if not block:
            break
        buffer = carry + block if carry else block
        cut = buffer.rfind(b"\n") + 1
        if cut == 0:
            carry = buffer
            continue
        text = buffer[:cut].decode("utf-8", "replace")
        carry = buffer[cut:]
        yield first_line, text
        first_line += text.count("\n")
    if carry:
        yield first_line, carry.decode("utf-8", "replace")


def iter_wanted_lines(stream: BinaryIO, block_size: int = _BLOCK) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of every wanted line of a binary stream, in order."""
    for first_line, text in iter_blocks(stream, block_size):
        yield from _wanted_in_block(text, first_line)


def open_log(path: Path) -> BinaryIO:
    """A binary stream of a log file; ``.gz`` files are decompressed on the fly."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


_HEAD = re.compile(r"(?:(\d{4}) +)?([A-Z][a-z]{2}) +(\d{1,2}) ")
_HEAD_KEY = 12  # "2025 Mar  3 ": the longest usual date head
#: A block of normalized lines, each matching :data:`_LINE_PATTERN`, whose dates were written
#: here (``.{11}`` skips them); the digits are ASCII, a subset of ``\d`` (a line with other
#: digits gets the careful path, which applies :data:`_LINE_PATTERN` itself).
_NORMALIZED_REST_BLOCK = re.compile(
    r"(?:.{11}[0-9][0-9]:[0-9][0-9]:[0-9][0-9] \S+ sshd\[[0-9]+\]: "
    r'(?:session opened for local user \S+(?: [^\n]*)?|open "[^\n]*"[^\n]*)\n)*'
)
_SPLIT_MIN = 1 << 14


class _Normalizer:
    """Normalizes the wanted lines of raw blocks (the hot loop of the s/FTP log asset).

    Per wanted line it only looks up the line's first twelve characters (the date, with or
    without a year) in a cache and puts the ISO date in their place; whether the lines are
    well formed is then checked for the whole block by one regular expression. A block that
    fails the check is halved until its good parts are separated from small parts, which are
    gone through line by line with :func:`parse_raw_line` (that finds and explains the
    malformed lines).
    """

    def __init__(self, today: date) -> None:
        self.years = month_years(today)
        self.heads: dict[str, tuple[str, int] | None] = {}

    def head(self, key: str) -> tuple[str, int] | None:
        """(``YYYY-MM-DD ``, length of the date head) for a line starting with ``key``, or
        None when the line does not start with a date head that fits in the key."""
        match = _HEAD.match(key)
        found = None
        if match:
            year, month, day = match.groups()
            number = _MONTHS.get(month)
            if number is not None:
                try:
                    value = date(int(year) if year else self.years[number], number, int(day))
                except ValueError:
                    value = None
                if value is not None:
                    found = (f"{value.isoformat()} ", match.end())
        self.heads[key] = found
        return found

    def block(self, text: str) -> list[str] | None:
        """The normalized wanted lines of a block, or None if any of them needs a closer look."""
        open_mark, session_mark = _OPEN_MARK, _SESSION_MARK
        # " open" is in both markers (and in opendir lines): one test rejects most lines
        wanted = [
            line
            for line in text.split("\n")
            if " open" in line and (open_mark in line or session_mark in line)
        ]
        if not wanted:
            return []
        heads = self.heads
        try:
            found = [(head := heads[line[:_HEAD_KEY]])[0] + line[head[1] :] for line in wanted]
        except (KeyError, TypeError):  # a head not seen yet, or not a date head (None)
            for line in wanted:
                key = line[:_HEAD_KEY]
                if (heads[key] if key in heads else self.head(key)) is None:
                    return None
            found = [
                (head := heads[line[:_HEAD_KEY]])[0] + line[head[1] :]  # type: ignore[index]
                for line in wanted
            ]
        joined = "\n".join(found) + "\n"
        if _NORMALIZED_REST_BLOCK.match(joined).end() != len(joined):  # type: ignore[union-attr]
            return None
        if "  " in joined or " \n" in joined or "\t" in joined or "\r" in joined:
            return None
        return found

    def split_block(
        self, text: str, first_line: int, source: str
    ) -> Iterator[list[str | MalformedLine]]:
        """A block that :meth:`block` refused, as lists of items in order: it is halved (at a
        line end) until the parts that :meth:`block` takes are separated from small parts read
        by :meth:`careful_block`, so one malformed line does not slow its whole block down."""
        pending = [(first_line, text, True)]
        while pending:
            first, part, refused = pending.pop()
            if not refused:
                lines = self.block(part)
                if lines is not None:
                    yield lines  # type: ignore[misc]
                    continue
            middle = part.rfind("\n", 0, len(part) // 2) + 1 if len(part) > _SPLIT_MIN else 0
            if middle:
                front = part[:middle]
                pending.append((first + front.count("\n"), part[middle:], False))
                pending.append((first, front, False))
                continue
            yield list(self.careful_block(part, first, source))

    def careful_block(
        self, text: str, first_line: int, source: str
    ) -> Iterator[str | MalformedLine]:
        """A block that :meth:`block` refused: lines that pass the fast rules are taken as they
        are, the others are read by :func:`parse_raw_line` (normalized, or malformed with the
        reason and the line number)."""
        heads = self.heads
        line_number = first_line - 1
        for line in text.split("\n"):
            line_number += 1
            if _OPEN_MARK not in line and _SESSION_MARK not in line:
                continue
            key = line[:_HEAD_KEY]
            head = heads[key] if key in heads else self.head(key)
            if head is not None:
                normalized = head[0] + line[head[1] :]
                if (
                    _NORMALIZED_LINE.fullmatch(normalized)
                    and "  " not in normalized
                    and "\t" not in normalized
                    and not normalized[-1:].isspace()
                ):
                    yield normalized
                    continue
            stripped = line.strip()
            try:
                yield parse_raw_line(stripped, self.years).text
            except LogLineError as exc:
                yield MalformedLine(source, line_number, str(exc), stripped)


def _normalized_blocks(
    stream: BinaryIO, source: str, today: date
) -> Iterator[list[str | MalformedLine]]:
    """The items of :func:`normalize_raw_log`, a list per block (or part of a block)."""
    normalizer = _Normalizer(today)
    for first_line, text in iter_blocks(stream):
        lines = normalizer.block(text)
        if lines is not None:
            yield lines  # type: ignore[misc]
        else:
            yield from normalizer.split_block(text, first_line, source)


def normalize_raw_log(stream: BinaryIO, source: str, today: date) -> Iterator[str | MalformedLine]:
    """The normalized text of every wanted line of a raw s/FTP log, in file order, and a
    :class:`MalformedLine` (naming ``source`` and the line number) for each one that cannot
    be read. ``today`` dates the lines without a year (spec 04 3.3)."""
    for items in _normalized_blocks(stream, source, today):
        yield from items


def scan_raw_log(stream: BinaryIO, source: str, today: date) -> Iterator[LogEvent | MalformedLine]:
    """Every wanted line of a raw s/FTP log as a :class:`LogEvent` (or a
    :class:`MalformedLine`), in file order."""
    for item in normalize_raw_log(stream, source, today):
        yield item if isinstance(item, MalformedLine) else parse_normalized_line(item)


def normalize_raw_log_file(path: Path, today: date) -> Iterator[str | MalformedLine]:
    """:func:`normalize_raw_log` of the file at ``path`` (``.gz`` or plain)."""
    with open_log(path) as stream:
        # one generator between the caller and the lists (the per-line cost of the asset)
        for items in _normalized_blocks(stream, path.name, today):
            yield from items


def scan_raw_log_file(path: Path, today: date) -> Iterator[LogEvent | MalformedLine]:
    """:func:`scan_raw_log` of the file at ``path`` (``.gz`` or plain)."""
    with open_log(path) as stream:
        yield from scan_raw_log(stream, path.name, today)


def iter_normalized(path: Path) -> Iterator[LogEvent | MalformedLine]:
    """Every line of a cumulative log, read; unreadable lines as :class:`MalformedLine`."""
    with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
        for line_number, line in enumerate(handle, 1):
            text = line.strip()
            if not text:
                continue
            try:
                yield parse_normalized_line(text)
            except LogLineError as exc:
                yield MalformedLine(path.name, line_number, str(exc), text)


# ---------------------------------------------------------------------------------------------
# The cumulative log (sftp_logs.Refresh, spec 04 4.2 step 3)
# ---------------------------------------------------------------------------------------------


def latest_monthly_log(folder: Path) -> Path | None:
    """The lexically last ``pdq.log-YYYYMMDD.gz`` in ``folder``, or None."""
    names = sorted(p.name for p in folder.iterdir() if MONTHLY_LOG_PATTERN.match(p.name))
    return folder / names[-1] if names else None


def three_months_before(today: date) -> date:
    """``today`` minus three calendar months (the day clipped to the month's length)."""
    year, month = today.year, today.month - 3
    if month < 1:
        year, month = year - 1, month + 12
    for day in range(today.day, 27, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, min(today.day, 28))


@dataclass
class TopUpResult:
    """What one top-up of the cumulative log did."""

    cumulative: Path
    monthly_log: Path
    added_from_monthly: int = 0
    added_from_current: int = 0
    seen_before: int = 0
    lines_read: dict[str, int] = field(default_factory=dict)
    malformed: list[MalformedLine] = field(default_factory=list)
    truncated_partial_line: str | None = None

    @property
    def added(self) -> int:
        """All lines appended."""
        return self.added_from_monthly + self.added_from_current


def _cut_partial_last_line(path: Path) -> str | None:
    """Remove an unterminated last line (a killed append); return what was cut, or None."""
    size = path.stat().st_size
    if size == 0:
        return None
    with open(path, "rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return None
        start = max(0, size - _BLOCK)
        handle.seek(start)
        tail = handle.read()
        cut = tail.rfind(b"\n") + 1
        keep = start + cut if cut else start
        if not cut and start:
            raise ValueError(f"{path}: last line is longer than {_BLOCK} bytes and unterminated")
        handle.truncate(keep)
        return tail[cut:].decode("utf-8", "replace")


def top_up_cumulative_log(folder: Path, today: date, cumulative: Path | None = None) -> TopUpResult:
    """Append the new wanted lines of the latest monthly log, then of ``pdq.log``.

    A line is new when its normalized text is not among the cumulative lines dated after
    :func:`three_months_before` ``today`` (spec 04 4.2: older duplicates are an accepted
    limitation) nor among the lines added before it in this run. Missing ``cumulative.log``,
    monthly log or ``pdq.log`` raise ``FileNotFoundError``; malformed lines are counted and
    skipped.
    """
    cumulative = cumulative or folder / CUMULATIVE_LOG
    if not cumulative.is_file():
        raise FileNotFoundError(f"the cumulative log {cumulative} does not exist")
    monthly = latest_monthly_log(folder)
    if monthly is None:
        raise FileNotFoundError(f"no pdq.log-YYYYMMDD.gz monthly log in {folder}")
    current = folder / CURRENT_LOG
    if not current.is_file():
        raise FileNotFoundError(f"the current log {current} does not exist")
    result = TopUpResult(cumulative=cumulative, monthly_log=monthly)
    result.truncated_partial_line = _cut_partial_last_line(cumulative)
    cutoff = three_months_before(today).isoformat()
    with open(cumulative, encoding="utf-8", errors="replace", newline="\n") as handle:
        seen = {line.strip() for line in handle if line > cutoff}
    result.seen_before = len(seen)
    new_lines: list[str] = []
    for path in (monthly, current):
        added = read = 0
        for item in normalize_raw_log_file(path, today):
            if isinstance(item, MalformedLine):
                result.malformed.append(item)
                continue
            read += 1
            if item not in seen:
                seen.add(item)
                new_lines.append(item)
                added += 1
        result.lines_read[path.name] = read
        if path is monthly:
            result.added_from_monthly = added
        else:
            result.added_from_current = added
    if new_lines:
        with open(cumulative, "a", encoding="utf-8", newline="\n") as handle:
            handle.write("".join(f"{line}\n" for line in new_lines))
            handle.flush()
            os.fsync(handle.fileno())
    return result


# ---------------------------------------------------------------------------------------------
# What the cumulative log tells
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LastAccess:
    """The latest retrieval of one login."""

    login: str
    day: date
    time: str


def last_accesses(events: Iterable[LogEvent | MalformedLine]) -> dict[str, LastAccess]:
    """{lowercased login: latest open} (spec 04 1.4): each open is credited to the login of
    the latest session line with its PID; opens of unknown sessions are not credited."""
    sessions: dict[str, str] = {}
    latest: dict[str, LastAccess] = {}
    for event in events:
        if isinstance(event, MalformedLine):
            continue
        if event.kind == SESSION:
            sessions[event.pid] = event.value.lower()
            continue
        login = sessions.get(event.pid)
        if not login:
            continue
        previous = latest.get(login)
        if previous is None or (event.day, event.time) >= (previous.day, previous.time):
            latest[login] = LastAccess(login, event.day, event.time)
    return latest


@dataclass(frozen=True)
class Request:
    """One retrieval in the monthly access report (a row of the legacy workbook)."""

    login: str
    partner: str
    path: str
    session: int
    day: date
    time: str

    @property
    def date_label(self) -> str:
        """``Feb-03``, as the legacy workbook showed the date."""
        return f"{_MONTH_NAMES[self.day.month]}-{self.day.day:02d}"


@dataclass
class MonthRequests:
    """The retrievals of one month, and how many sessions (logins) each login opened."""

    requests: list[Request]
    logins: dict[str, int]
    dropped_non_partner: int = 0
    malformed: list[MalformedLine] = field(default_factory=list)
    latest_day: date | None = None

    def by_login(self) -> dict[str, list[Request]]:
        """{login: requests in log order}, logins sorted as strings (the empty login first)."""
        grouped: dict[str, list[Request]] = {}
        for request in self.requests:
            grouped.setdefault(request.login, []).append(request)
        return {login: grouped[login] for login in sorted(grouped)}

    def sorted_requests(self) -> list[Request]:
        """The workbook's row order: by login, each login's requests in log order."""
        return [r for group in self.by_login().values() for r in group]


def month_requests(
    events: Iterable[LogEvent | MalformedLine],
    month_start: date,
    partners: Mapping[str, str],
    non_partners: set[str],
) -> MonthRequests:
    """The retrievals dated in the month starting ``month_start`` (spec 04 5.4 step 1).

    Sessions of any date map PIDs to logins (a later session with the same PID wins). The
    path loses its quotes and every ``/pdq/full/``; the partner name comes from ``partners``
    (FTP login -> name, exact case); requests whose login is in ``non_partners`` are dropped.
    """
    sessions: dict[str, str] = {}
    result = MonthRequests(requests=[], logins={})
    for event in events:
        if isinstance(event, MalformedLine):
            result.malformed.append(event)
            continue
        if result.latest_day is None or event.day > result.latest_day:
            result.latest_day = event.day
        in_month = event.day.year == month_start.year and event.day.month == month_start.month
        if event.kind == SESSION:
            sessions[event.pid] = event.value
            if in_month and event.value not in non_partners:
                result.logins[event.value] = result.logins.get(event.value, 0) + 1
            continue
        if not in_month:
            continue
        login = sessions.get(event.pid, "")
        if login in non_partners:
            result.dropped_non_partner += 1
            continue
        result.requests.append(
            Request(
                login=login,
                partner=partners.get(login, "") if login else "",
                path=event.value.replace(_FULL_PREFIX, ""),
                session=int(event.pid),
                day=event.day,
                time=event.time,
            )
        )
    return result


def non_partner_logins(value: str | None) -> set[str]:
    """The ``PDQ/non-partners`` control value as a set: split on commas, not trimmed
    (legacy); absent gives ``{""}``, which drops requests whose login is unknown."""
    return set((value or "").split(","))


def month_bounds(month_start: date) -> tuple[date, date]:
    """(first day, first day of the next month)."""
    first = month_start.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


@dataclass(frozen=True)
class PartnerActivity:
    """One login's month: sessions opened (logins) and files retrieved."""

    login: str
    partner: str
    logins: int
    retrievals: int


def partner_activity(month: MonthRequests) -> list[PartnerActivity]:
    """Logins and retrievals per login, sorted by login (the empty login first)."""
    partners: dict[str, str] = {}
    retrievals: dict[str, int] = {}
    for request in month.requests:
        retrievals[request.login] = retrievals.get(request.login, 0) + 1
        partners.setdefault(request.login, request.partner)
    logins = set(retrievals) | set(month.logins)
    return [
        PartnerActivity(
            login, partners.get(login, ""), month.logins.get(login, 0), retrievals.get(login, 0)
        )
        for login in sorted(logins)
    ]


def write_access_workbook(
    path: Path, month: MonthRequests, label: str, today: date, partners: Mapping[str, str]
) -> Path:
    """Save the legacy ``PDQPartnerDownloads`` workbook (spec 04 5.4 step 2) to ``path``.

    Sheet ``Requests`` is the legacy sheet; sheet ``Partners`` adds each login's logins and
    retrievals for the month. Written to a temporary file first, then renamed into place.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    bold = Font(bold=True, size=12)
    header = Font(bold=True)
    center = Alignment(horizontal="center")
    book = Workbook()
    sheet = book.active
    sheet.title = "Requests"
    sheet["A1"] = today.isoformat()
    sheet["A1"].font = bold
    sheet["A3"] = f"Downloads for {label}"
    sheet["A3"].font = bold
    widths = {"A": 15, "B": 50, "C": 40, "D": 10, "E": 10, "F": 10}
    for column, width in widths.items():
        sheet.column_dimensions[column].width = width
    for number, title in enumerate(("Login", "Partner", "Path", "Session", "Date", "Time"), 1):
        cell = sheet.cell(row=5, column=number, value=title)
        cell.font = header
        cell.alignment = center
    sheet.freeze_panes = "A6"
    for row, request in enumerate(month.sorted_requests(), 6):
        values = (
            request.login,
            request.partner,
            request.path,
            request.session,
            request.date_label,
            request.time,
        )
        for number, value in enumerate(values, 1):
            cell = sheet.cell(row=row, column=number, value=value)
            if number in (5, 6):
                cell.alignment = center
    summary = book.create_sheet("Partners")
    for number, title in enumerate(("Login", "Partner", "Logins", "Retrievals"), 1):
        cell = summary.cell(row=1, column=number, value=title)
        cell.font = header
        cell.alignment = center
    for column, width in {"A": 15, "B": 50, "C": 10, "D": 12}.items():
        summary.column_dimensions[column].width = width
    summary.freeze_panes = "A2"
    for row, activity in enumerate(partner_activity(month), 2):
        partner = activity.partner or (partners.get(activity.login, "") if activity.login else "")
        for number, value in enumerate(
            (activity.login, partner, activity.logins, activity.retrievals), 1
        ):
            summary.cell(row=row, column=number, value=value)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.part")
    book.save(temp)
    os.replace(temp, path)
    return path
