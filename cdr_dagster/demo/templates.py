"""Placeholders in the demo data files: dates relative to the seeding day, and demo folders.

The data files hold dates as ``{{date:EXPR}}`` (``YYYY-MM-DD``) or ``{{datetime:EXPR}}``
(``YYYY-MM-DD HH:MM:SS``), so that whatever day the demo is seeded it has links that just
expired, test accounts about to expire, last week's publishing window and last month's
statistics. ``{{dir:NAME}}`` is the absolute path of a demo folder (``sweep``, ``cdr``, ...).

``EXPR`` is an optional anchor, then offsets, then an optional time of day:

- anchor: ``today`` (the default), ``tm`` (first day of this month), ``lm`` (first day of last
  month), ``fri`` (the last Friday before today, when the weekly publishing job runs);
- offsets: ``+N`` or ``-N`` followed by ``y``, ``m``, ``w``, ``d``, ``h`` or ``min``;
- time: ``@HH:MM`` or ``@HH:MM:SS``; without it a ``today``-based moment keeps the seeding
  time of day (so ``-20min`` is twenty minutes before seeding) and the other anchors mean noon.

Examples: ``-3y+10d``, ``lm+9d@10:30``, ``fri-7d@16:00:02``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta

_PLACEHOLDER = re.compile(r"\{\{(date|datetime|dir):([^{}]*)\}\}")
_EXPRESSION = re.compile(
    r"^(?P<anchor>today|tm|lm|fri)?(?P<offsets>(?:[+-]\d+(?:min|[ymwdh]))*)"
    r"(?:@(?P<time>\d{1,2}:\d{2}(?::\d{2})?))?$"
)
_OFFSET = re.compile(r"([+-])(\d+)(min|[ymwdh])")
_DEFAULT_TIME = time(12, 0, 0)
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class TemplateError(ValueError):
    """A placeholder in a demo data file cannot be expanded; the message names it."""


def _anchor(name: str | None, today: date) -> date:
    if name in (None, "today"):
        return today
    if name == "tm":
        return today.replace(day=1)
    if name == "lm":
        return today.replace(day=1) - relativedelta(months=1)
    # "fri": the last Friday strictly before today (Monday is 0, Friday is 4).
    back = (today.weekday() - 4) % 7 or 7
    return today - timedelta(days=back)


def resolve(expression: str, now: datetime) -> datetime:
    """The moment ``expression`` (see the module docstring) names, seen from ``now``."""
    match = _EXPRESSION.match(expression.strip())
    if not match:
        raise TemplateError(f"bad relative date {expression!r}")
    anchor = match["anchor"]
    clock = now.time() if anchor in (None, "today") else _DEFAULT_TIME
    when = datetime.combine(_anchor(anchor, now.date()), clock)
    if match["time"]:
        parts = [int(p) for p in match["time"].split(":")] + [0]
        when = when.replace(hour=parts[0], minute=parts[1], second=parts[2])
    for sign, amount, unit in _OFFSET.findall(match["offsets"]):
        n = int(amount) * (1 if sign == "+" else -1)
        if unit == "y":
            when += relativedelta(years=n)
        elif unit == "m":
            when += relativedelta(months=n)
        elif unit == "w":
            when += timedelta(weeks=n)
        elif unit == "d":
            when += timedelta(days=n)
        elif unit == "h":
            when += timedelta(hours=n)
        else:
            when += timedelta(minutes=n)
    return when


def expand(text: str, now: datetime, folders: Mapping[str, str]) -> str:
    """Replace every placeholder of ``text``; an unknown folder or bad date raises."""

    def replace(match: re.Match[str]) -> str:
        kind, value = match.group(1), match.group(2)
        if kind == "dir":
            if value not in folders:
                raise TemplateError(f"unknown demo folder {value!r} in {match.group(0)}")
            return folders[value]
        moment = resolve(value, now)
        return moment.strftime("%Y-%m-%d" if kind == "date" else DATETIME_FORMAT)

    return _PLACEHOLDER.sub(replace, text)


def to_datetime(value: str | datetime | None) -> datetime | None:
    """A stored date string (``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``) as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    value = value.strip()
    if not value:
        return None
    if len(value) == 10:
        return datetime.strptime(value, "%Y-%m-%d")
    return datetime.strptime(value, DATETIME_FORMAT)
