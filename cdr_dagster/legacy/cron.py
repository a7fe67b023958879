"""APScheduler ``CronTrigger`` fields <-> five-field cron strings, with the same fire times.

The legacy scheduler passed the JSON ``schedule`` of a ``scheduled_job`` row unchanged as keyword
arguments to an APScheduler 3.x ``CronTrigger`` in America/New_York
(docs/behaviour-notes.md#schedule-semantics). Dagster
schedules take a standard five-field cron string (minute, hour, day of month, month, day of week)
with ``execution_timezone="America/New_York"``. This module translates between the two, exactly
or not at all:

- :func:`apscheduler_to_cron` reproduces APScheduler's own parsing: the field order year, month,
  day, week, day_of_week, hour, minute, second; fields before the last given one default to
  ``*``, fields after it to their minimum, except ``week`` and ``day_of_week`` which stay ``*``;
  values are strings or numbers, comma lists of ``*``, ``*/n``, ``a``, ``a-b``, ``a-b/n``,
  ``a/n``, and for ``day_of_week`` and ``month`` names (``mon``..``sun``, ``jan``..``dec``).
  Every field is expanded into the set of values APScheduler would match, and the cron string
  is rendered from those sets, so the result matches by construction; the tests compare both
  against the real APScheduler and Dagster's own cron iterator.
- APScheduler counts ``day_of_week`` from Monday = 0, cron from Sunday = 0. Numbers are
  converted; a step over days of the week is rendered as an explicit list (APScheduler's
  ``*/2`` is Mon, Wed, Fri, Sun = cron ``0-1,3,5``), never as a cron step, which would start
  counting from Sunday.
- What cron cannot express is refused with :class:`CronConversionError`, never approximated:
  ``day: last``, ``1st mon``, ``last fri`` (positions in the month), ``day`` and
  ``day_of_week`` both restricted (APScheduler requires both to match, cron fires when either
  does), a restricted ``week`` or ``year``, seconds other than 0, ``jitter``, ``start_date``,
  ``end_date``, a time zone other than Eastern, a date that never exists (``day: 30,
  month: 2``), and anything APScheduler itself rejects, such as a wrapping range ``fri-mon``.
- Surprising but exact translations come back as warnings: a numeric ``day_of_week`` (Monday
  is 0 there), text APScheduler silently ignores (``mon-fri/2`` is Monday to Friday, because
  the name pattern stops before ``/2``), and fire times between 00:00 and 02:59 (DST, below).

DST (verified in ``test_legacy_cron.py`` against APScheduler 3.11.3, the dev dependency, with
spot checks of 3.10.4, and Dagster 1.13's own cron iterator): the two agree on every fire time
except around the two change days, for schedules that can fire between 00:00 and 02:59 (and do
not fire every hour of every day):

- spring forward (02:00 EST becomes 03:00 EDT), both APScheduler versions:
  - a missing 02:MM time: Dagster runs it once, at 03:00 EDT. APScheduler runs it at 02:MM EST
    = 03:MM EDT when it reaches that hour from an earlier hour of the day, and skips it when it
    steps there from a fire time within 01:00-01:59 (``hour: "1-2"`` runs at 01:00 only);
  - 00:MM on the Monday after the change: APScheduler steps whole days by adding 24 hours, which
    across the 23-hour Sunday lands at 01:00, so it SKIPS that day's 00:MM run (a daily 00:20,
    a weekly Monday 00:05; APScheduler issue #606). Dagster runs it.
- fall back (02:00 EDT becomes 01:00 EST): APScheduler 3.11 runs each 01:MM time twice, in EDT
  and in EST; Dagster runs it once, in EST. APScheduler 3.10.4 ran it once, in EST, like Dagster
  (but dropped some ticks of every-N-minutes schedules in the repeated hour).

The importer repeats this as a warning for schedules that can fire in that window (see
:func:`dst_sensitive`).

:func:`cron_to_apscheduler` is the reverse, for ``cdr-dagster export-schedules``: it accepts
standard cron only (numbers, names, ``*``, ranges, steps, lists, the ``@daily`` family) and
refuses what APScheduler 3.x cannot express (day of month OR day of week, ``L``, ``#``, ``W``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FIELD_ORDER = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
MIN_VALUES = {
    "year": 1970,
    "month": 1,
    "day": 1,
    "week": 1,
    "day_of_week": 0,
    "hour": 0,
    "minute": 0,
    "second": 0,
}
MAX_VALUES = {
    "year": 9999,
    "month": 12,
    "day": 31,
    "week": 53,
    "day_of_week": 6,
    "hour": 23,
    "minute": 59,
    "second": 59,
}
DEFAULT_VALUES: dict[str, str] = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}
OTHER_ARGUMENTS = ("start_date", "end_date", "timezone", "jitter")
EASTERN_ZONES = ("America/New_York", "US/Eastern")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# The patterns of APScheduler 3.x (apscheduler.triggers.cron.expressions), matched the same way:
# re.match from the start; the name patterns and the day-position patterns are not anchored at
# the end, so APScheduler ignores whatever follows them.
_SEPARATOR = re.compile(" *, *")
_ALL = re.compile(r"\*(?:/(?P<step>\d+))?$")
_RANGE = re.compile(r"(?P<first>\d+)(?:-(?P<last>\d+))?(?:/(?P<step>\d+))?$")
_NAME_RANGE = re.compile(r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?", re.IGNORECASE)
_WEEKDAY_POSITION = re.compile(
    r"(?P<option>1st|2nd|3rd|4th|5th|last) +(?P<weekday>(?:\d+|\w+))", re.IGNORECASE
)
_LAST_DAY = re.compile(r"last", re.IGNORECASE)


class CronConversionError(ValueError):
    """A schedule that has no exact equivalent on the other side."""


@dataclass(frozen=True)
class CronConversion:
    """The cron string for an APScheduler schedule, and what an operator should know about it."""

    cron: str
    warnings: tuple[str, ...] = ()


def apscheduler_to_cron(schedule: Mapping[str, Any]) -> CronConversion:
    """Translate APScheduler ``CronTrigger`` keyword arguments into a five-field cron string.

    ``schedule`` is the parsed ``scheduled_job.schedule`` JSON. The result fires at exactly the
    instants APScheduler would in America/New_York (see the module docstring for the DST days).
    Raises :class:`CronConversionError` with the reason when cron cannot express it.
    """
    if not isinstance(schedule, Mapping):
        raise CronConversionError(f"the schedule must be a JSON object, not {schedule!r}")
    unknown = sorted(str(k) for k in schedule if k not in FIELD_ORDER and k not in OTHER_ARGUMENTS)
    if unknown:
        raise CronConversionError(
            f"unknown CronTrigger argument(s) {', '.join(unknown)} (APScheduler rejects the row)"
        )
    _check_other_arguments(schedule)

    given = {name: schedule[name] for name in FIELD_ORDER if schedule.get(name) is not None}
    if not given:
        raise CronConversionError("the schedule has no fields (an unscheduled row)")

    warnings: list[str] = []
    sets: dict[str, set[int]] = {}
    remaining = set(given)
    assign_defaults = False
    for name in FIELD_ORDER:
        if name in given:
            expression = str(given[name])
            remaining.discard(name)
            assign_defaults = not remaining
        elif assign_defaults:
            expression = DEFAULT_VALUES[name]
        else:
            expression = "*"
        sets[name] = _expand_field(name, expression, warnings)

    _require_full(sets, "year", "a restricted year cannot be expressed in cron")
    _require_full(sets, "week", "an ISO week number cannot be expressed in cron")
    if sets["second"] != {0}:
        raise CronConversionError(
            f"it fires at second(s) {_render(sets['second'], 0, 59)}; Dagster schedules fire "
            "on whole minutes"
        )
    day_restricted = sets["day"] != _full("day")
    weekday_restricted = sets["day_of_week"] != _full("day_of_week")
    if day_restricted and weekday_restricted:
        raise CronConversionError(
            "day and day_of_week are both restricted: APScheduler fires when both match, "
            "cron when either matches"
        )
    if not _some_date_exists(sets["month"], sets["day"]):
        raise CronConversionError("no month has such a day, so it never fires")

    cron_weekdays = {(value + 1) % 7 for value in sets["day_of_week"]}
    cron = " ".join(
        [
            _render(sets["minute"], 0, 59),
            _render(sets["hour"], 0, 23),
            _render(sets["day"], 1, 31),
            _render(sets["month"], 1, 12),
            _render(cron_weekdays, 0, 6),
        ]
    )
    if "day_of_week" in given and any(
        _RANGE.match(part) or (_ALL.match(part) and "/" in part)
        for part in _SEPARATOR.split(str(given["day_of_week"]).strip())
    ):
        warnings.append(
            f"day_of_week {str(given['day_of_week'])!r} counts Monday as 0 in APScheduler; "
            f"cron counts Sunday as 0, so it became {_render(cron_weekdays, 0, 6)!r}"
        )
    if dst_sensitive(cron):
        warnings.append(
            "it can fire between 00:00 and 02:59, where the legacy APScheduler and Dagster "
            "differ around the DST changes (spring: Dagster runs a missing 02:MM time at 03:00 "
            "EDT, and runs the Monday 00:MM time APScheduler skipped; autumn: APScheduler 3.11 "
            "ran 01:MM twice, Dagster runs it once, in EST)"
        )
    return CronConversion(cron=cron, warnings=tuple(warnings))


def dst_sensitive(cron: str) -> bool:
    """Can this cron fire where APScheduler and Dagster differ around DST changes?

    True when it can fire between 00:00 and 02:59 local time and does not fire every hour of
    every day (see the module docstring).
    """
    minute, hour, day, month, weekday = _cron_sets(cron)
    every_hour_every_day = hour == _full("hour") and day == _full("day") and len(weekday) == 7
    return bool(hour & {0, 1, 2}) and not every_hour_every_day


def cron_to_apscheduler(cron: str) -> dict[str, str]:
    """Translate a five-field cron string into APScheduler ``CronTrigger`` arguments.

    The result, stored as a ``scheduled_job.schedule``, fires at the same instants (it always
    names ``minute``, so every field it omits defaults to ``*`` and seconds to 0). Raises
    :class:`CronConversionError` for what APScheduler 3.x cannot express.
    """
    text = str(cron).strip()
    text = _CRON_MACROS.get(text.lower(), text)
    parts = text.split()
    if len(parts) != 5:
        raise CronConversionError(f"{cron!r} is not a five-field cron string")
    minute, hour, day, month, weekday = parts
    sets = {
        "minute": _expand_cron_field(minute, 0, 59, None, cron),
        "hour": _expand_cron_field(hour, 0, 23, None, cron),
        "day": _expand_cron_field(day, 1, 31, None, cron),
        "month": _expand_cron_field(month, 1, 12, MONTHS, cron),
        "day_of_week": {
            value % 7 for value in _expand_cron_field(weekday, 0, 7, _CRON_WEEKDAYS, cron)
        },
    }
    if day != "*" and weekday != "*":
        raise CronConversionError(
            f"{cron!r} restricts both day of month and day of week, which cron ORs; "
            "APScheduler can only AND them"
        )
    if not _some_date_exists(sets["month"], sets["day"]):
        raise CronConversionError(f"{cron!r} never fires")

    result: dict[str, str] = {}
    if sets["month"] != _full("month"):
        result["month"] = _render(sets["month"], 1, 12, names=MONTHS, name_base=1, steps=False)
    if sets["day"] != _full("day"):
        result["day"] = _render(sets["day"], 1, 31)
    aps_weekdays = {(value - 1) % 7 for value in sets["day_of_week"]}
    if aps_weekdays != _full("day_of_week"):
        result["day_of_week"] = _render(aps_weekdays, 0, 6, names=WEEKDAYS, steps=False)
    if sets["hour"] != _full("hour"):
        result["hour"] = _render(sets["hour"], 0, 23)
    result["minute"] = _render(sets["minute"], 0, 59)

    back = apscheduler_to_cron(result).cron
    if _cron_sets(back) != _cron_sets(text):
        raise CronConversionError(f"{cron!r} has no exact APScheduler form (got {back!r} back)")
    return result


# --- APScheduler side ------------------------------------------------------------------------


def _check_other_arguments(schedule: Mapping[str, Any]) -> None:
    if schedule.get("jitter"):
        raise CronConversionError(
            f"jitter={schedule['jitter']!r} delays each run by a random amount; cron fires exactly"
        )
    for name in ("start_date", "end_date"):
        if schedule.get(name) is not None:
            raise CronConversionError(
                f"{name}={schedule[name]!r} bounds the schedule in time; cron cannot"
            )
    zone = schedule.get("timezone")
    if zone is not None and str(zone) not in EASTERN_ZONES:
        raise CronConversionError(
            f"timezone={zone!r}: every Dagster schedule here runs in America/New_York"
        )


def _full(name: str) -> set[int]:
    return set(range(MIN_VALUES[name], MAX_VALUES[name] + 1))


def _require_full(sets: Mapping[str, set[int]], name: str, reason: str) -> None:
    if sets[name] != _full(name):
        rendered = _render(sets[name], MIN_VALUES[name], MAX_VALUES[name])
        raise CronConversionError(f"{name} {rendered}: {reason}")


def _expand_field(name: str, expression: str, warnings: list[str]) -> set[int]:
    """The values APScheduler's field ``name`` matches for ``expression``, as a set."""
    values: set[int] = set()
    for part in _SEPARATOR.split(expression.strip()):
        values |= _expand_expression(name, part, warnings)
    return values


def _expand_expression(name: str, part: str, warnings: list[str]) -> set[int]:
    lo, hi = MIN_VALUES[name], MAX_VALUES[name]
    match = _ALL.match(part)
    if match:
        step = _step(match["step"], hi - lo, part, name)
        return set(range(lo, hi + 1, step))
    match = _RANGE.match(part)
    if match:
        first = int(match["first"])
        last = int(match["last"]) if match["last"] is not None else None
        if last is None and match["step"] is None:
            last = first
        if last is not None and first > last:
            raise _rejected(part, name, "the minimum value in a range is higher than the maximum")
        if first < lo:
            raise _rejected(part, name, f"{first} is lower than the minimum {lo}")
        if last is not None and last > hi:
            raise _rejected(part, name, f"{last} is higher than the maximum {hi}")
        step = _step(match["step"], (last if last is not None else hi) - first, part, name)
        return set(range(first, (last if last is not None else hi) + 1, step))
    if name == "day":
        if _WEEKDAY_POSITION.match(part):
            raise CronConversionError(
                f"day {part!r} is a weekday position in the month; cron cannot express it"
            )
        if _LAST_DAY.match(part):
            raise CronConversionError(
                f"day {part!r} is the last day of the month; cron cannot express it"
            )
    if name in ("day_of_week", "month"):
        match = _NAME_RANGE.match(part)
        if match:
            names = WEEKDAYS if name == "day_of_week" else MONTHS
            base = 0 if name == "day_of_week" else 1
            first = _name_index(match["first"], names, part, name) + base
            last = first
            if match["last"]:
                last = _name_index(match["last"], names, part, name) + base
            if first > last:
                raise _rejected(
                    part, name, "the range wraps around (the first value is after the last)"
                )
            ignored = part[match.end() :]
            if ignored:
                warnings.append(
                    f"{name} {part!r}: APScheduler ignores {ignored!r} after a name, so it "
                    f"means {part[: match.end()]!r}"
                )
            return set(range(first, last + 1))
    raise _rejected(part, name, "unrecognized expression")


def _step(text: str | None, value_range: int, part: str, name: str) -> int:
    if text is None:
        return 1
    step = int(text)
    if step == 0:
        raise _rejected(part, name, "the increment must be higher than 0")
    if step > value_range:
        raise _rejected(part, name, f"the step {step} is higher than the range {value_range}")
    return step


def _name_index(text: str, names: tuple[str, ...], part: str, name: str) -> int:
    try:
        return names.index(text.lower())
    except ValueError:
        raise _rejected(part, name, f"{text!r} is not a name APScheduler knows") from None


def _rejected(part: str, name: str, reason: str) -> CronConversionError:
    return CronConversionError(f"APScheduler rejects {name} {part!r}: {reason}")


def _some_date_exists(months: Iterable[int], days: set[int]) -> bool:
    return any(min(days) <= calendar.monthrange(2024, month)[1] for month in months)


# --- rendering -------------------------------------------------------------------------------


def _render(
    values: set[int],
    lo: int,
    hi: int,
    *,
    names: tuple[str, ...] | None = None,
    name_base: int = 0,
    steps: bool = True,
) -> str:
    """A compact expression matching exactly ``values`` (within ``lo``..``hi``).

    ``*`` for everything, ``*/n`` or ``a-b/n`` for arithmetic progressions of three or more,
    otherwise runs ``a-b`` of three or more joined with single values by commas. With ``names``
    the values are written as names (index ``value - name_base``) and steps are not used.
    """
    ordered = sorted(values)
    if ordered == list(range(lo, hi + 1)):
        return "*"

    def word(value: int) -> str:
        return names[value - name_base] if names else str(value)

    if steps and names is None and len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(ordered[0], ordered[-1] + 1, step)):
            if ordered[0] == lo and ordered[-1] + step > hi:
                return f"*/{step}"
            return f"{ordered[0]}-{ordered[-1]}/{step}"
    pieces: list[str] = []
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        if previous - start >= 2:
            pieces.append(f"{word(start)}-{word(previous)}")
        else:
            pieces.extend(word(v) for v in range(start, previous + 1))
        if value is not None:
            start = previous = value
    return ",".join(pieces)


# --- cron side -------------------------------------------------------------------------------

_CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_PART = re.compile(r"(?P<start>\*|\w+)(?:-(?P<end>\w+))?(?:/(?P<step>\d+))?$", re.IGNORECASE)


def _expand_cron_field(
    field: str, lo: int, hi: int, names: tuple[str, ...] | None, cron: str
) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        match = _CRON_PART.match(part)
        if not match:
            raise CronConversionError(f"{cron!r}: {part!r} is not standard cron")
        step = int(match["step"]) if match["step"] else 1
        if step == 0:
            raise CronConversionError(f"{cron!r}: a step of 0 in {part!r}")
        if match["start"] == "*":
            if match["end"]:
                raise CronConversionError(f"{cron!r}: {part!r} is not standard cron")
            first, last = lo, hi
        else:
            first = _cron_value(match["start"], lo, hi, names, cron)
            if match["end"]:
                last = _cron_value(match["end"], lo, hi, names, cron)
            else:
                last = hi if match["step"] else first
        if first > last:
            raise CronConversionError(f"{cron!r}: the range {part!r} wraps around")
        values |= set(range(first, last + 1, step))
    return values


def _cron_value(text: str, lo: int, hi: int, names: tuple[str, ...] | None, cron: str) -> int:
    if text.isdigit():
        value = int(text)
    elif names and text.lower() in names:
        value = names.index(text.lower()) + (1 if names is MONTHS else 0)
    else:
        raise CronConversionError(f"{cron!r}: {text!r} is not standard cron")
    if not lo <= value <= hi:
        raise CronConversionError(f"{cron!r}: {value} is outside {lo}-{hi}")
    return value


def _cron_sets(cron: str) -> tuple[set[int], ...]:
    minute, hour, day, month, weekday = cron.split()
    return (
        _expand_cron_field(minute, 0, 59, None, cron),
        _expand_cron_field(hour, 0, 23, None, cron),
        _expand_cron_field(day, 1, 31, None, cron),
        _expand_cron_field(month, 1, 12, MONTHS, cron),
        {v % 7 for v in _expand_cron_field(weekday, 0, 7, _CRON_WEEKDAYS, cron)},
    )
