"""The PDQ s/FTP server's access logs: parsing, the normalized cumulative log, what it tells.

The s/FTP server (OpenSSH's sftp subsystem) logs through syslog
(docs/behaviour-notes.md#sftp-log-format): an optional
4-digit year, ``Mon DD HH:MM:SS host sshd[PID]: message``. Two kinds of line matter:

- *session opened*: ``... sshd[PID]: session opened for local user LOGIN from [ADDRESS]``;
- *open* (a retrieval): ``... sshd[PID]: open "PATH" flags READ mode 0666``.

Everything else (``close``, ``opendir``, ``session closed``, ...) is ignored. A line carrying
one of the two markers that cannot be read (unknown month, impossible date, no PID, no login
or path) is *malformed*: it is reported with its file and line number and skipped, never
fatal.

The normalized cumulative log (``cumulative.log``, docs/behaviour-notes.md#sftp-log-format) holds
only the wanted lines,
as ``YYYY-MM-DD HH:MM:SS host sshd[PID]: message``, appended in log order and de-duplicated
by exact text. :func:`top_up_cumulative_log` is the legacy ``sftp_logs.Refresh`` step 3;
:func:`last_accesses` replaces the ``last-pdq-data-partner-accesses.py`` CGI
(docs/behaviour-notes.md#last-accesses);
:func:`month_requests` is the parse of ``pdq_access_log.Report``, read from the month's own
raw logs (:func:`month_logs`) as the legacy read them, so every line counts (the cumulative
log's de-duplication is its own rule) and any month whose raw logs exist can be rebuilt.

Choices that differ from the legacy code, on purpose:

- a leading year token, when present, is the line's year; only year-less (older) lines get
  the legacy guess from the twelve months ending with the current one (for a rotated monthly
  log read by the access report, the twelve months ending with its rotation);
- a path with spaces is kept whole (the legacy code cut it at the first space);
- text is UTF-8 everywhere; undecodable bytes become U+FFFD instead of stopping the run;
- a partial last line (a run killed while appending) is cut off before new lines go in.

Raw logs are read 64 KB of lines at a time by the text layer's own line reader; one
comprehension keeps the wanted lines and puts their cached ISO dates in place, and the block's
distinct line shapes (digits made 9) are checked by one regular expression, so a line nobody
wants costs a substring test or two and a well-formed wanted line a dictionary lookup and a
concatenation; memory stays flat whatever the size of the log (see
``benchmarks/log_parsing.py``). No Dagster here (docs/architecture.md#layers).
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO, NamedTuple

#: The file names in the s/FTP server's log folder (docs/behaviour-notes.md#sftp-log-format).
CURRENT_LOG = "pdq.log"
MONTHLY_LOG_PATTERN = re.compile(r"^pdq\.log-(\d{8})\.gz$")
CUMULATIVE_LOG = "cumulative.log"

SESSION = "session"
OPEN = "open"

_SESSION_MARK = "session opened for local user"
_OPEN_MARK = "]: open "
_BLOCK = 1 << 20
#: Lines read per block by the raw-log normalizer: a block this size stays in the CPU cache
#: while the block is filtered and checked (1 MB blocks ran a third slower).
_LINES_BLOCK = 1 << 16
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


#: The rest of a well-formed wanted line after its date, exactly as :func:`parse_raw_line`
#: writes it: printable ASCII tokens separated by single spaces (no tab, no run of spaces, no
#: trailing space), a session opened for a login or an open of a quoted path without spaces.
#: Any other wanted line (a path with spaces, non-ASCII text, odd spacing) is read by
#: :func:`parse_raw_line` itself.
_CLEAN_REST = (
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} [!-~]+ sshd\[[0-9]+\]: "
    r'(?:session opened for local user [!-~]+|open "[!-~]*")(?: [!-~]+)*'
)
_LINE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2} " + _CLEAN_REST
#: Clean normalized lines, each ending with a newline: one match checks a whole block, and
#: stops at the start of the first line that is not clean.
_NORMALIZED_BLOCK = re.compile(rf"(?:{_LINE_PATTERN}\n)*")
#: One clean normalized line, as bytes, for checking line shapes (see :class:`_Shapes`).
_CLEAN_SHAPE = re.compile(_LINE_PATTERN.encode("ascii"))
#: Every ASCII digit becomes 9: a line is clean exactly when its shape is, because the
#: pattern's literal text holds no digit and each of its classes takes all ten digits or none.
_DIGITS_TO_NINE = bytes.maketrans(b"0123456789", b"9999999999")
#: How many known-clean shapes are kept between blocks.
_MAX_SHAPES = 1 << 14


class _Shapes:
    """Checks a block of normalized lines by their distinct shapes (digits made 9).

    A log repeats few shapes (the same hosts, logins and paths with other numbers), so the
    careful regular expression runs once per new shape instead of once per line; the shapes
    come from C-level work over the whole block (encode, translate, split, set).
    """

    def __init__(self) -> None:
        self.clean: set[bytes] = set()

    def all_clean(self, joined: str) -> bool:
        """True when every line of ``joined`` (lines joined by newlines) is clean and holds
        exactly one marker."""
        shapes = set(joined.encode("utf-8").translate(_DIGITS_TO_NINE).split(b"\n"))
        new = shapes - self.clean
        if not new:
            return True
        for shape in new:
            markers = shape.count(b"]: open ") + shape.count(b"session opened for local user")
            if markers != 1 or not _CLEAN_SHAPE.fullmatch(shape):
                return False
        if len(self.clean) + len(new) > _MAX_SHAPES:
            self.clean.clear()
        self.clean |= new
        return True


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


_HEAD = re.compile(r"(?:([0-9]{4}) +)?([A-Z][a-z]{2}) +([0-9]{1,2}) ")
#: How many characters of a line key the date cache: "2025 Mar  3 " is twelve; a year-less
#: head ("Mar  3 ") is shorter, so its key also holds the start of the time.
_HEAD_KEY = 12
#: What the date cache gives for a line that does not start with a date: the block check
#: never passes it, so the line is read by :func:`parse_raw_line`.
_NO_DATE = "?"
#: The date cache is emptied when it holds this many keys (year-less logs make one per minute).
_MAX_HEADS = 1 << 16


class _Heads(dict):
    """{first twelve characters of a line: their normalized form}: the date of the line's
    head as ``YYYY-MM-DD `` followed by whatever follows the head in the key, or
    :data:`_NO_DATE`. Filled on demand; a lookup that hits costs a plain dict lookup."""

    def __init__(self, years: Mapping[int, int]) -> None:
        super().__init__()
        self.years = years

    def __missing__(self, key: str) -> str:
        match = None if "\n" in key else _HEAD.match(key)
        found = _NO_DATE
        if match:
            year, month, day = match.groups()
            number = _MONTHS.get(month)
            if number is not None:
                try:
                    value = date(int(year) if year else self.years[number], number, int(day))
                except ValueError:
                    pass
                else:
                    found = f"{value.isoformat()} {key[match.end() :]}"
        if len(self) >= _MAX_HEADS:
            self.clear()
        self[key] = found
        return found


class _Normalizer:
    """Normalizes the wanted lines of raw blocks (the hot loop of the s/FTP log asset).

    Per line, one comprehension only tests for the two markers and, for a wanted line, puts
    the cached normalized form of its first twelve characters in their place. The block is
    then checked at once, by its distinct shapes (:class:`_Shapes`): every line clean
    (:data:`_CLEAN_REST`) and holding one marker. A block that fails is checked line by line:
    one regular expression over the block says where the first unclean line is, one count
    that no line holds both markers (or one twice); where the check stops, that one line is
    read by :func:`parse_raw_line`, the reference reading
    (normalized text, or malformed with the reason and the line number), and the check goes
    on after it; so a malformed line costs little more than itself.
    """

    def __init__(self, today: date) -> None:
        self.years = month_years(today)
        self.heads = _Heads(self.years)
        self.shapes = _Shapes()

    def block(self, lines: list[str], first_line: int, source: str) -> list[str | MalformedLine]:
        """The normalized wanted lines of consecutive ``lines`` (each ending with a newline
        but perhaps the last of the file), and the malformed ones; ``first_line`` is the
        number of the first line and ``source`` names the file."""
        if lines and lines[-1][-1:] != "\n":
            lines[-1] += "\n"
        open_mark, session_mark, heads = _OPEN_MARK, _SESSION_MARK, self.heads
        # " open" is in both markers (and in opendir lines): one test rejects most lines
        found: list[str | MalformedLine] = [
            heads[line[:_HEAD_KEY]] + line[_HEAD_KEY:-1]
            for line in lines
            if " open" in line and (open_mark in line or session_mark in line)
        ]
        if not found:
            return found
        joined = "\n".join(found)  # type: ignore[arg-type]
        if self.shapes.all_clean(joined):
            return found
        joined += "\n"
        clean = _NORMALIZED_BLOCK.match(joined).end()  # type: ignore[union-attr]
        single = joined.count(open_mark) + joined.count(session_mark) == len(found)
        if clean == len(joined) and single:
            return found
        return self._checked(found, joined, clean, single, lines, first_line, source)

    def _checked(
        self,
        found: list[str | MalformedLine],
        joined: str,
        clean: int,
        single: bool,
        lines: list[str],
        first_line: int,
        source: str,
    ) -> list[str | MalformedLine]:
        """``found`` with every line the block check did not pass read by
        :func:`parse_raw_line` instead (``clean``: where the check stopped; ``single``: every
        line holds one marker)."""
        open_mark, session_mark = _OPEN_MARK, _SESSION_MARK
        numbered = [
            (number, line)
            for number, line in enumerate(lines, first_line)
            if " open" in line and (open_mark in line or session_mark in line)
        ]
        items: list[str | MalformedLine] = []
        start = index = 0
        while True:
            good = index + joined.count("\n", start, clean)
            for at in range(index, good):
                line = found[at]
                if single or line.count(open_mark) + line.count(session_mark) == 1:  # type: ignore[union-attr]
                    items.append(line)
                else:
                    items.append(self._read(*numbered[at], source))
            if good == len(found):
                return items
            items.append(self._read(*numbered[good], source))
            index = good + 1
            start = joined.index("\n", clean) + 1
            clean = _NORMALIZED_BLOCK.match(joined, start).end()  # type: ignore[union-attr]

    def _read(self, line_number: int, line: str, source: str) -> str | MalformedLine:
        """One wanted line read by :func:`parse_raw_line`."""
        stripped = line.strip()
        try:
            return parse_raw_line(stripped, self.years).text
        except LogLineError as exc:
            return MalformedLine(source, line_number, str(exc), stripped)


def _normalized_blocks(
    stream: BinaryIO, source: str, today: date
) -> Iterator[list[str | MalformedLine]]:
    """The items of :func:`normalize_raw_log`, a list per block of lines.

    The lines come from the text layer's own line reader (UTF-8, undecodable bytes as U+FFFD,
    lines ended by ``\\n`` only), about a megabyte of them at a time.
    """
    normalizer = _Normalizer(today)
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="\n")
    try:
        first_line = 1
        while lines := text.readlines(_LINES_BLOCK):
            yield normalizer.block(lines, first_line, source)
            first_line += len(lines)
    finally:
        text.detach()


def normalize_raw_log(stream: BinaryIO, source: str, today: date) -> Iterator[str | MalformedLine]:
    """The normalized text of every wanted line of a raw s/FTP log, in file order, and a
    :class:`MalformedLine` (naming ``source`` and the line number) for each one that cannot
    be read. ``today`` dates the lines without a year (docs/behaviour-notes.md#sftp-log-format)."""
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
# The cumulative log (sftp_logs.Refresh, docs/behaviour-notes.md#sftp-log-refresh)
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
    :func:`three_months_before` ``today`` (docs/behaviour-notes.md#sftp-log-refresh: older
    duplicates are an accepted
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
    """{lowercased login: latest open} (docs/behaviour-notes.md#last-accesses): each open is
    credited to the login of
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
    """The retrievals dated in the month starting ``month_start``
    (docs/behaviour-notes.md#pdq-access-report).

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


def log_stamp(path: Path) -> date:
    """The rotation date in a ``pdq.log-YYYYMMDD.gz`` name."""
    matched = MONTHLY_LOG_PATTERN.match(path.name)
    if matched is None:
        raise ValueError(f"{path.name!r} is not a pdq.log-YYYYMMDD.gz name")
    stamp = matched.group(1)
    return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))


@dataclass(frozen=True)
class MonthLogs:
    """The raw logs that hold one month's lines, in log order.

    ``rotated_past_end``: rotated logs cover the whole month without a gap, so every line of
    the month is in a log that no longer grows. ``current_continues``: the current
    ``pdq.log`` is read and carries on where the rotated logs read stop (or none exists), so
    the month is complete once the current log reaches past its end.
    """

    paths: tuple[Path, ...]
    rotated_past_end: bool
    current_continues: bool = False

    def expected_name(self, following: date) -> str:
        """The monthly log that closes the month (for messages)."""
        return f"pdq.log-{following:%Y%m%d}.gz"


def month_logs(folder: Path, first: date, following: date) -> MonthLogs:
    """The raw logs of the month ``[first, following)`` in ``folder``, oldest first.

    The server rotates ``pdq.log`` monthly, so a log stamped S holds (about) the month before
    S: the logs read are those stamped from the month's first day to a month after its end.
    They cover the month when, taken in order, each starts (a month before its stamp) where
    the one before it stopped. While no rotated log reaches the month's end, the current
    ``pdq.log`` holds the rest and is read too.
    """
    from cdr_dagster.cdr.dis_links import shift_months

    monthly = sorted(
        (log_stamp(path), path)
        for path in (folder.iterdir() if folder.is_dir() else ())
        if MONTHLY_LOG_PATTERN.match(path.name)
    )
    limit = shift_months(following, 1)
    paths: list[Path] = []
    covered = first
    for stamp, path in monthly:
        if not first <= stamp < limit:
            continue
        paths.append(path)
        if shift_months(stamp, -1) <= covered:
            covered = max(covered, stamp)
    if covered >= following:
        return MonthLogs(tuple(paths), True)
    current = folder / CURRENT_LOG
    last_rotation = monthly[-1][0] if monthly else None
    if not current.is_file() or (last_rotation is not None and last_rotation >= following):
        return MonthLogs(tuple(paths), False)
    continues = last_rotation is None or covered >= last_rotation
    return MonthLogs((*paths, current), False, continues)


def scan_month_logs(logs: MonthLogs, today: date) -> Iterator[LogEvent | MalformedLine]:
    """Every wanted line of ``logs`` in order, each line counted (nothing de-duplicated).

    Lines without a year are dated from a monthly log's rotation date (the log holds the
    months before it), from ``today`` for the current log.
    """
    for path in logs.paths:
        stamped = log_stamp(path) if MONTHLY_LOG_PATTERN.match(path.name) else today
        yield from scan_raw_log_file(path, stamped)


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
    """Save the legacy ``PDQPartnerDownloads`` workbook (docs/behaviour-notes.md#pdq-access-report)
    to ``path``.

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
