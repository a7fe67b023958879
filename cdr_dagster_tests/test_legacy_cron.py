"""APScheduler cron fields -> five-field cron, checked against the real APScheduler and Dagster.

For each schedule dict the fire times of ``apscheduler.triggers.cron.CronTrigger(**fields,
timezone="America/New_York")`` (APScheduler 3.x, what the legacy scheduler ran) are compared
with those of Dagster's own cron iterator (``schedule_execution_time_iterator``, which the
daemon uses through ``RemoteSchedule.execution_time_iterator``) for the converted string in
America/New_York:

- over a period without a DST change (2025-03-10 to 2025-11-01), up to 300 fire times: equal;
- across the autumn 2025 and spring 2026 changes, and over the 300 fire times from October 2025:
  equal, except for schedules that can fire between 00:00 and 02:59 (``dst_sensitive``), where
  the schedulers differ around the change. Those differences are confined to the change night
  here and asserted exactly in ``test_dst_differences_*``; the module docstring of
  ``cdr_dagster/legacy/cron.py`` documents them:
  - spring forward: Dagster runs a missing 02:MM time at 03:00 EDT; APScheduler runs it at
    03:MM EDT, or skips it when the previous fire time was within 01:00-01:59 that night; and
    APScheduler skips 00:MM on the Monday after the change (its day step lands at 01:00,
    APScheduler issue #606), which Dagster runs;
  - fall back: APScheduler 3.11 runs each 01:MM time twice (EDT, then EST), 3.10.4 once in EST
    like Dagster.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import apscheduler
import pytest
from apscheduler.triggers.cron import CronTrigger
from dagster._utils.schedules import is_valid_cron_string, schedule_execution_time_iterator

from cdr_dagster.legacy.cron import (
    CronConversionError,
    apscheduler_to_cron,
    cron_to_apscheduler,
    dst_sensitive,
)

TZ_NAME = "America/New_York"
TZ = ZoneInfo(TZ_NAME)
UTC = ZoneInfo("UTC")

# The legacy schedule examples (docs/behaviour-notes.md#schedule-semantics), the README's
# schedules, and the forms the brief lists.
SPEC_EXAMPLES = [
    {"hour": "1", "minute": "15"},
    {"minute": "*/2"},
    {"day_of_week": "fri", "hour": "16"},
    {"day": "1", "hour": "2"},
    {"hour": "3", "minute": "59"},
    {"minute": "*/5"},
    {"minute": "0"},
    {"hour": "16", "minute": "30", "day_of_week": "fri"},
    {"hour": "2", "day": "1"},
]
README_SCHEDULES = [
    {"minute": "*/2"},  # batch job queue, every 2 minutes
    {"minute": "*/3"},  # publishing queue, "every few minutes"
    {"day_of_week": "fri", "hour": "16", "minute": "0"},  # weekly publishing, Friday afternoon
    {"day_of_week": "mon-thu", "hour": "19"},  # nightly publishing, Mon-Thu evening
    {"minute": "*"},  # health check, every minute
    {"minute": "0"},  # disk space, hourly
    {"hour": "21", "minute": "30"},  # dictionary loaders, nightly
    {"hour": "22"},  # trial info, nightly
    {"hour": "23", "minute": "10"},  # glossifier, nightly
    {"day_of_week": "mon", "hour": "7"},  # govdelivery, weekly
    {"hour": "22", "minute": "30"},  # hoover, nightly
    {"day_of_week": "mon", "hour": "15", "minute": "0"},  # data partners, Mondays 15:00
    {"day": "1", "hour": "8"},  # PCIB, start of month
    {"day": "1", "hour": "6", "minute": "30"},  # PDQ access report, 1st of month
    {"day": "2", "hour": "9"},  # partner list, monthly
    {"hour": "4", "minute": "45"},  # recent trials, daily
    {"day_of_week": "sun", "hour": "3"},  # sitemap, weekly
    {"hour": "0", "minute": "20"},  # s/FTP logs, daily
    {"day_of_week": "tue", "hour": "6"},  # translation, weekly
]
FORMS = [
    {"day_of_week": "mon-fri", "hour": "8"},
    {"day_of_week": "MON-FRI", "hour": "8", "minute": "30"},
    *({"day_of_week": str(number), "hour": "9"} for number in range(7)),
    {"day_of_week": "0-4", "hour": "9"},
    {"day_of_week": "5,6", "hour": "10"},
    {"day_of_week": "*/2", "hour": "11"},
    {"day_of_week": "1-5/2", "hour": "12"},
    {"day_of_week": "sat,sun", "hour": "7"},
    {"day_of_week": "mon-wed,fri", "minute": "5"},
    {"day_of_week": "mon-fri/2", "hour": "6"},  # APScheduler ignores the /2
    {"day": "1,15", "hour": "6"},
    {"day": "1-7", "hour": "5"},
    {"day": "*/10", "hour": "4"},
    {"day": "31", "hour": "12"},
    {"month": "jan-mar", "day": "10"},
    {"month": "*/3", "day": "1", "hour": "0"},
    {"month": "jul"},
    {"hour": "8-17", "minute": "0,30"},
    {"hour": "9-17/2", "minute": "15"},
    {"hour": "*/6"},
    {"minute": "5/10"},
    {"minute": "10-50/20"},
    {"minute": 7, "hour": 5},  # numbers, as rows written straight to the database may hold
    {"week": "*", "hour": "5"},
    {"second": "0"},
    {"minute": "0", "second": "0"},
    {"hour": "20", "timezone": "America/New_York"},
    {"hour": "20", "jitter": None},
]
CASES = [*SPEC_EXAMPLES, *README_SCHEDULES, *FORMS]
# Sparse or DST-relevant schedules compared over the long window only.
LONG_ONLY = [
    {"year": "*"},
    {"hour": "0", "minute": "20"},
    {"day_of_week": "mon", "hour": "0", "minute": "5"},
    {"hour": "0-3", "minute": "10"},
    {"hour": "1-2"},
]
APSCHEDULER_3_10 = apscheduler.__version__.startswith("3.10.")


def _change(day: date) -> int:
    """+1 if DST starts on this local day, -1 if it ends, 0 otherwise."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=TZ)
    after = (midnight + timedelta(days=1)).replace(hour=0)
    before_offset, after_offset = midnight.utcoffset(), after.utcoffset()
    assert before_offset is not None and after_offset is not None
    return (after_offset > before_offset) - (after_offset < before_offset)


def _in_dst_window(ts: float) -> bool:
    """Is this instant where the documented DST differences may occur (any year)?"""
    local = datetime.fromtimestamp(ts, TZ)
    spring_night = _change(local.date()) == 1 and 1 <= local.hour <= 3
    spring_monday = _change(local.date() - timedelta(days=1)) == 1 and local.hour == 0
    fall_night = _change(local.date()) == -1 and local.hour == 1
    return spring_night or spring_monday or fall_night


def _id(fields: Mapping[str, object]) -> str:
    return ",".join(f"{key}={value}" for key, value in fields.items())


def apscheduler_times(
    fields: Mapping[str, object], start: datetime, end: datetime, limit: int = 100_000
) -> list[float]:
    """The first ``limit`` fire times (UTC timestamps) of the real APScheduler trigger in
    [start, end)."""
    kwargs = {key: value for key, value in fields.items() if key != "timezone"}
    trigger = CronTrigger(**kwargs, timezone=TZ_NAME)
    times: list[float] = []
    previous, now = None, start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire >= end or len(times) >= limit:
            return times
        times.append(fire.timestamp())
        previous = now = fire


def dagster_times(cron: str, start: datetime, end: datetime, limit: int = 100_000) -> list[float]:
    """The first ``limit`` fire times (UTC timestamps) of Dagster's schedule iterator in
    [start, end)."""
    times: list[float] = []
    for fire in schedule_execution_time_iterator(start.timestamp(), cron, TZ_NAME):
        if fire >= end or len(times) >= limit:
            return times
        times.append(fire.timestamp())
    return times


def _local(timestamps: set[float]) -> list[str]:
    return sorted(datetime.fromtimestamp(ts, TZ).isoformat() for ts in timestamps)


@pytest.mark.parametrize("fields", CASES, ids=_id)
def test_same_fire_times_without_dst_change(fields: Mapping[str, object]) -> None:
    """Up to 300 fire times between the 2025 DST changes are identical."""
    cron = apscheduler_to_cron(fields).cron
    assert is_valid_cron_string(cron)
    start, end = datetime(2025, 3, 10, tzinfo=TZ), datetime(2025, 11, 1, tzinfo=TZ)
    expected = apscheduler_times(fields, start, end, 300)
    actual = dagster_times(cron, start, end, 300)
    assert expected, "the window must contain fire times"
    assert actual == expected, f"{fields} -> {cron!r}"


@pytest.mark.skipif(
    APSCHEDULER_3_10,
    reason="APScheduler 3.10 (pytz) adds bugs of its own: every-N-minutes schedules lose ticks "
    "in the repeated autumn hour, and offsets after 2037 are wrong; compare with 3.11",
)
@pytest.mark.parametrize("fields", [*CASES, *LONG_ONLY], ids=_id)
def test_same_fire_times_across_dst_changes(fields: Mapping[str, object]) -> None:
    """Around both DST changes, and over the 300 fire times from October 2025, they agree.

    Schedules that can fire between 00:00 and 02:59 may differ, only on the change night (and
    the Monday 00:MM after the spring change); the exact differences are asserted below.
    """
    cron = apscheduler_to_cron(fields).cron
    sensitive = dst_sensitive(cron)
    windows = [
        (datetime(2025, 11, 1, tzinfo=TZ), datetime(2025, 11, 4, tzinfo=TZ)),  # fall back
        (datetime(2026, 3, 7, tzinfo=TZ), datetime(2026, 3, 10, tzinfo=TZ)),  # spring forward
        (datetime(2025, 10, 1, tzinfo=TZ), datetime(2046, 1, 1, tzinfo=TZ)),  # 300 fire times
    ]
    for start, end in windows:
        expected = set(apscheduler_times(fields, start, end, 300))
        actual = set(dagster_times(cron, start, end, 300))
        if len(expected) == 300:  # a truncated window: compare up to the earlier last time
            last = min(max(expected), max(actual))
            expected = {ts for ts in expected if ts <= last}
            actual = {ts for ts in actual if ts <= last}
        assert expected or end - start < timedelta(days=7), f"{fields}: no fire times"
        differences = expected ^ actual
        if not sensitive:
            assert _local(actual) == _local(expected), f"{fields} -> {cron!r}"
        else:
            outside = [ts for ts in differences if not _in_dst_window(ts)]
            assert not outside, f"{fields}: differences outside the DST night: {_local(outside)}"


def test_leap_day() -> None:
    """29 February fires in leap years only, in both."""
    fields = {"day": "29", "month": "2", "hour": "12"}
    cron = apscheduler_to_cron(fields).cron
    assert cron == "0 12 29 2 *"
    start, end = datetime(2024, 1, 1, tzinfo=TZ), datetime(2041, 1, 1, tzinfo=TZ)
    expected = apscheduler_times(fields, start, end)
    assert [datetime.fromtimestamp(ts, TZ).year for ts in expected] == [
        2024,
        2028,
        2032,
        2036,
        2040,
    ]
    assert dagster_times(cron, start, end) == expected


def _differences(
    fields: dict[str, str], start: datetime, end: datetime
) -> tuple[list[str], list[str]]:
    """(fire times only APScheduler has, fire times only Dagster has), as local ISO strings."""
    cron = apscheduler_to_cron(fields).cron
    aps = set(apscheduler_times(fields, start, end))
    dag = set(dagster_times(cron, start, end))
    return _local(aps - dag), _local(dag - aps)


def test_dst_differences_spring_forward() -> None:
    """2026-03-08, 02:00 EST -> 03:00 EDT: the missing hour, and the Monday after."""
    start, end = datetime(2026, 3, 7, tzinfo=TZ), datetime(2026, 3, 10, tzinfo=TZ)
    # 02:30 does not exist: APScheduler runs at 03:30 EDT, Dagster at 03:00 EDT.
    assert _differences({"hour": "2", "minute": "30"}, start, end) == (
        ["2026-03-08T03:30:00-04:00"],
        ["2026-03-08T03:00:00-04:00"],
    )
    # After firing at 01:00 APScheduler skips 02:00 entirely; Dagster runs it at 03:00 EDT.
    assert _differences({"hour": "1-2"}, start, end) == ([], ["2026-03-08T03:00:00-04:00"])
    assert _differences({"hour": "0-3", "minute": "10"}, start, end) == (
        [],
        ["2026-03-08T03:00:00-04:00"],
    )
    # 02:00 reached from an earlier hour: both run it at 03:00 EDT.
    assert _differences({"hour": "2"}, start, end) == ([], [])
    assert _differences({"hour": "*/2"}, start, end) == ([], [])
    assert _differences({"hour": "2", "minute": "*/30"}, start, end) == ([], [])
    # APScheduler steps from Sunday 00:20 EST by 24 real hours to Monday 01:00 EDT and so
    # skips Monday's 00:20 run (APScheduler issue #606); Dagster runs it.
    assert _differences({"hour": "0", "minute": "20"}, start, end) == (
        [],
        ["2026-03-09T00:20:00-04:00"],
    )
    assert _differences({"day_of_week": "mon-wed,fri", "minute": "5"}, start, end) == (
        [],
        ["2026-03-09T00:05:00-04:00"],
    )
    # A weekly Monday 00:05 job: APScheduler skips that whole week's run.
    weekly = {"day_of_week": "mon", "hour": "0", "minute": "5"}
    monday_before = datetime(2026, 3, 2, 0, 5, 1, tzinfo=TZ)
    assert _differences(weekly, monday_before, datetime(2026, 3, 17, tzinfo=TZ)) == (
        [],
        ["2026-03-09T00:05:00-04:00"],
    )
    # Times after 03:00 are untouched.
    assert _differences({"hour": "3", "minute": "59"}, start, end) == ([], [])


def test_dst_differences_fall_back() -> None:
    """2025-11-02, 02:00 EDT -> 01:00 EST: APScheduler 3.11 runs 01:MM twice, Dagster once."""
    start, end = datetime(2025, 11, 1, tzinfo=TZ), datetime(2025, 11, 4, tzinfo=TZ)
    if APSCHEDULER_3_10:
        # 3.10 (pytz) ran 01:MM once, in EST, like Dagster, but lost two ticks of */30.
        assert _differences({"hour": "1", "minute": "30"}, start, end) == ([], [])
        assert _differences({"hour": "1-2"}, start, end) == ([], [])
        assert _differences({"minute": "*/30"}, start, end) == (
            [],
            ["2025-11-02T01:00:00-05:00", "2025-11-02T01:30:00-04:00"],
        )
    else:
        assert _differences({"hour": "1", "minute": "30"}, start, end) == (
            ["2025-11-02T01:30:00-04:00"],
            [],
        )
        assert _differences({"hour": "1", "minute": "*/30"}, start, end) == (
            ["2025-11-02T01:00:00-04:00", "2025-11-02T01:30:00-04:00"],
            [],
        )
        assert _differences({"hour": "1-2"}, start, end) == (["2025-11-02T01:00:00-04:00"], [])
        # Every-N-minutes schedules follow real time in both: the repeated hour runs twice.
        assert _differences({"minute": "*/30"}, start, end) == ([], [])
    assert _differences({"hour": "2"}, start, end) == ([], [])
    assert _differences({"hour": "0", "minute": "20"}, start, end) == ([], [])


def test_dst_warning_names_the_window() -> None:
    """Schedules that can fire between 00:00 and 02:59 carry a DST warning."""
    for fields in ({"hour": "1", "minute": "30"}, {"day": "1", "hour": "2"}, {"hour": "0"}):
        assert any("DST" in w for w in apscheduler_to_cron(fields).warnings), fields
    for fields in ({"hour": "3", "minute": "59"}, {"minute": "*/2"}, {"minute": "0"}):
        assert not apscheduler_to_cron(fields).warnings, fields


@pytest.mark.parametrize(
    ("fields", "cron"),
    [
        ({"hour": "3", "minute": "59"}, "59 3 * * *"),
        ({"minute": "*/2"}, "*/2 * * * *"),
        ({"day_of_week": "fri", "hour": "16"}, "0 16 * * 5"),
        ({"day": "1", "hour": "2"}, "0 2 1 * *"),
        ({"day_of_week": "mon-fri", "hour": "8"}, "0 8 * * 1-5"),
        ({"day_of_week": "0", "hour": "9"}, "0 9 * * 1"),
        ({"day_of_week": "6", "hour": "9"}, "0 9 * * 0"),
        ({"day_of_week": "*/2", "hour": "11"}, "0 11 * * 0,1,3,5"),
        ({"day": "1,15", "hour": "6"}, "0 6 1,15 * *"),
        ({"year": "*"}, "0 0 1 1 *"),
        ({"second": "0"}, "* * * * *"),
    ],
    ids=lambda value: value if isinstance(value, str) else _id(value),
)
def test_converted_strings(fields: dict[str, str], cron: str) -> None:
    """The cron strings are the plain ones an operator would write."""
    assert apscheduler_to_cron(fields).cron == cron


def test_surprising_but_exact_conversions_warn() -> None:
    """Numeric weekdays and text APScheduler ignores are pointed out."""
    numeric = apscheduler_to_cron({"day_of_week": "0", "hour": "9"})
    assert any("Monday as 0" in w for w in numeric.warnings)
    ignored = apscheduler_to_cron({"day_of_week": "mon-fri/2", "hour": "6"})
    assert ignored.cron == "0 6 * * 1-5"
    assert any("ignores '/2'" in w for w in ignored.warnings)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"day": "last", "hour": "9"}, "last day of the month"),
        ({"day": "1st mon", "hour": "9"}, "weekday position"),
        ({"day": "last fri", "hour": "9"}, "weekday position"),
        ({"day": "1-7", "day_of_week": "mon"}, "both restricted"),
        ({"day": "15", "day_of_week": "*/2"}, "both restricted"),
        ({"day_of_week": "fri-mon", "hour": "6"}, "wraps around"),
        ({"day_of_week": "5-1/2", "hour": "6"}, "higher than the maximum"),
        ({"second": "30"}, "second"),
        ({"second": "*/15"}, "second"),
        ({"hour": "2", "jitter": 120}, "jitter"),
        ({"hour": "2", "start_date": "2025-01-01"}, "start_date"),
        ({"hour": "2", "end_date": "2030-01-01"}, "end_date"),
        ({"hour": "2", "timezone": "UTC"}, "timezone"),
        ({"week": "2", "hour": "6"}, "week"),
        ({"year": "2025"}, "year"),
        ({"day": "30", "month": "2"}, "never fires"),
        ({"minute": "*/60"}, "APScheduler rejects"),
        ({"minute": "61"}, "APScheduler rejects"),
        ({"day_of_week": "funday"}, "APScheduler rejects"),
        ({"hour": "noon"}, "APScheduler rejects"),
        ({"minutes": "5"}, "unknown CronTrigger argument"),
        ({}, "no fields"),
    ],
    ids=lambda value: value if isinstance(value, str) else _id(value),
)
def test_refused(fields: dict[str, object], reason: str) -> None:
    """What cron cannot express exactly is refused, with the reason."""
    with pytest.raises(CronConversionError, match=reason):
        apscheduler_to_cron(fields)


def test_refused_schedules_are_really_different_or_rejected() -> None:
    """The day-AND-weekday refusal is not pedantry: cron would fire on other days."""
    fields = {"day": "1-7", "day_of_week": "mon", "hour": "9"}
    start, end = datetime(2025, 4, 1, tzinfo=TZ), datetime(2025, 7, 1, tzinfo=TZ)
    first_mondays = apscheduler_times(fields, start, end)
    assert len(first_mondays) == 3  # the first Monday of April, May and June
    assert len(dagster_times("0 9 1-7 * 1", start, end)) > 3
    with pytest.raises(ValueError):
        CronTrigger(day_of_week="fri-mon", timezone=TZ_NAME)


@pytest.mark.parametrize("fields", CASES, ids=_id)
def test_reverse_conversion_round_trips(fields: Mapping[str, object]) -> None:
    """cron -> APScheduler fields -> cron gives the same fire times."""
    cron = apscheduler_to_cron(fields).cron
    back = cron_to_apscheduler(cron)
    assert all(isinstance(value, str) for value in back.values())
    start, end = datetime(2025, 3, 10, tzinfo=TZ), datetime(2025, 11, 1, tzinfo=TZ)
    assert apscheduler_times(back, start, end, 300) == apscheduler_times(fields, start, end, 300)


@pytest.mark.parametrize(
    "cron",
    [
        "0 0 * * 0",
        "*/15 9-17 * * 1-5",
        "0 6 1,15 * *",
        "@daily",
        "@weekly",
        "0 12 * jan,jul *",
        "30 4 * * sat,sun",
        "0 0 * * 7",
        "5-50/15 */4 * * *",
    ],
)
def test_cron_to_apscheduler_matches_dagster(cron: str) -> None:
    """A schedule exported to the legacy form fires when Dagster's schedule fires."""
    fields = cron_to_apscheduler(cron)
    start, end = datetime(2025, 3, 10, tzinfo=TZ), datetime(2025, 11, 1, tzinfo=TZ)
    assert apscheduler_times(fields, start, end, 300) == dagster_times(cron, start, end, 300)


def test_cron_to_apscheduler_example() -> None:
    """The legacy example row's schedule comes back exactly."""
    assert cron_to_apscheduler("59 3 * * *") == {"hour": "3", "minute": "59"}
    assert cron_to_apscheduler("0 16 * * 5") == {
        "day_of_week": "fri",
        "hour": "16",
        "minute": "0",
    }


@pytest.mark.parametrize(
    "cron",
    [
        "0 0 1 * 1",
        "0 0 L * *",
        "0 0 * * 5#1",
        "0 0 15W * *",
        "* * * * * *",
        "0 0 30 2 *",
        "0 25 * * *",
    ],
)
def test_cron_to_apscheduler_refused(cron: str) -> None:
    """What APScheduler 3.x cannot express (or what is not standard cron) has no legacy form."""
    with pytest.raises(CronConversionError):
        cron_to_apscheduler(cron)


def test_window_sanity() -> None:
    """The comparison windows really contain the DST changes (and the first does not)."""
    offsets = {
        (datetime(2025, 3, 10, tzinfo=TZ) + timedelta(days=d)).utcoffset() for d in range(0, 235)
    }
    assert len(offsets) == 1
    assert (
        datetime(2025, 11, 1, tzinfo=TZ).utcoffset() != datetime(2025, 11, 3, tzinfo=TZ).utcoffset()
    )
    assert (
        datetime(2026, 3, 7, tzinfo=TZ).utcoffset() != datetime(2026, 3, 9, tzinfo=TZ).utcoffset()
    )
