"""``cdr-dagster export-schedules``: schedules.yaml printed as the legacy scheduler's JSON export.

The output has the format of the CDR admin Scheduler page's JSON export
(docs/behaviour-notes.md#schedule-export-format), a
JSON array indented 2, sorted by name, of ``[name, enabled, job_class, opts, schedule]``, so an
operator can compare our table with the legacy one, or restore rows into ``scheduled_job``:

- ``name``: the entry's ``legacy_name`` if it has one, else its name;
- ``enabled``: whether the entry is RUNNING by default on this tier (``CDR_TIER``); always
  false for ``on_demand`` entries, which become kind-3 rows (stored settings, no schedule);
- ``job_class``: the entry's ``legacy_class``, else the catalogue class of its job;
- ``opts``: the JSON string of the legacy options carrying the run config's meaning (flags as
  ``"1"``, lists joined the way the legacy job split them);
- ``schedule``: the JSON string of APScheduler cron fields with the same fire times, or null.

The rows of the classes sensors replaced (batch job queue, publishing queue, health check) are
exported too, so the export is a complete backup to roll back to the legacy scheduler: the
catalogue's title as name, enabled when the sensor is RUNNING by default on this tier, the
legacy schedule (``legacy_schedule`` in the catalogue) and, for the health check, its ``delay``
and ``recips`` options when ``CDR_HEALTH_CHECK_DELAY_MINUTES`` or ``CDR_HEALTH_CHECK_RECIPS``
is set. (The sensors themselves ignore the rows; see ``docs/admin-page.md``.)

An entry for a job that only Dagster has (no legacy class ever ran it, such as
``purge_run_history``) has nothing to restore: it is left out with a note on stderr. An entry
whose legacy form cannot be written (config a legacy option cannot carry; a cron APScheduler
cannot express) is left out with an error on stderr naming it, and the exit status is then 1;
the other rows are still printed. An unloadable schedules.yaml gives status 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from cdr_dagster.legacy.catalogue import (
    CATALOGUE,
    OptionError,
    classes_for_job,
    config_from_run_config,
    find_job_class,
    legacy_options,
)
from cdr_dagster.legacy.cron import CronConversionError, cron_to_apscheduler
from cdr_dagster.schedules import (
    SCHEDULES_PATH,
    ScheduleConfigError,
    ScheduleEntry,
    ScheduleTable,
    read_schedule_table,
)
from cdr_dagster.settings import parse_tier


def main(
    out: TextIO = sys.stdout,
    *,
    path: str | os.PathLike[str] = SCHEDULES_PATH,
    tier: str | None = None,
    err: TextIO = sys.stderr,
) -> int:
    """Print ``path`` (default: the code location's schedules.yaml) as the legacy JSON export.

    ``tier`` (default: ``CDR_TIER``) decides which entries are exported as enabled.
    """
    try:
        table = read_schedule_table(Path(path))
    except ScheduleConfigError as exc:
        print(f"export-schedules: error: {exc}", file=err)
        return 2
    the_tier = parse_tier(tier if tier is not None else os.environ.get("CDR_TIER"))
    rows, problems = export_rows(table, the_tier)
    rows = sorted([*rows, *sensor_rows(the_tier, os.environ)], key=lambda row: row[0])
    out.write(json.dumps(rows, indent=2) + "\n")
    for entry in dagster_only_entries(table):
        print(
            f"export-schedules: note: {entry.label}: job {entry.job!r} has no legacy job class; "
            "not exported",
            file=err,
        )
    for problem in problems:
        print(f"export-schedules: error: {problem}", file=err)
    if problems:
        print(
            f"export-schedules: {len(problems)} entr{'y' if len(problems) == 1 else 'ies'} "
            "not exported",
            file=err,
        )
        return 1
    return 0


def export_rows(table: ScheduleTable, tier: str) -> tuple[list[list[Any]], list[str]]:
    """The legacy rows for ``table`` on ``tier``, sorted by name, and the refused entries."""
    rows: list[list[Any]] = []
    problems: list[str] = []
    only_dagster = set(map(id, dagster_only_entries(table)))
    for entry in (*table.schedules, *table.on_demand):
        if id(entry) in only_dagster:
            continue
        try:
            rows.append(export_entry(entry, tier))
        except (OptionError, CronConversionError) as exc:
            problems.append(f"{entry.label}: {exc}")
    rows.sort(key=lambda row: row[0])
    return rows, problems


def sensor_rows(tier: str, environ: Mapping[str, str]) -> list[list[Any]]:
    """The legacy rows of the classes that sensors replaced, as the legacy table held them."""
    from cdr_dagster.control_sensors import DELAY_VARIABLE, RECIPS_VARIABLE, split_recipients

    rows: list[list[Any]] = []
    for job_class in CATALOGUE:
        if job_class.trigger != "sensor":
            continue
        opts: dict[str, str] = {}
        if job_class.option("delay") is not None:
            delay = environ.get(DELAY_VARIABLE, "").strip()
            if delay:
                opts["delay"] = delay
            recips = split_recipients(environ.get(RECIPS_VARIABLE))
            if recips:
                opts["recips"] = ", ".join(recips)
        rows.append(
            [
                job_class.title,
                tier in job_class.sensor_tiers,
                job_class.legacy_class,
                json.dumps(opts),
                json.dumps(dict(job_class.legacy_schedule)),
            ]
        )
    return rows


def dagster_only_entries(table: ScheduleTable) -> list[ScheduleEntry]:
    """Entries of jobs that no legacy job class ran (nothing to export for them)."""
    return [
        entry
        for entry in (*table.schedules, *table.on_demand)
        if not entry.legacy_class and not classes_for_job(entry.job)
    ]


def export_entry(entry: ScheduleEntry, tier: str) -> list[Any]:
    """The legacy ``[name, enabled, job_class, opts, schedule]`` row for one entry."""
    if entry.legacy_class:
        job_class = find_job_class(entry.legacy_class)
        if job_class is None or entry.job not in job_class.jobs:
            raise OptionError(f"legacy_class {entry.legacy_class!r} does not run job {entry.job!r}")
        class_name = entry.legacy_class
    else:
        candidates = classes_for_job(entry.job)
        if not candidates:
            raise OptionError(f"job {entry.job!r} has no legacy job class")
        job_class = candidates[0]
        class_name = job_class.legacy_class
    if job_class.trigger == "sensor":
        raise OptionError(f"job {entry.job!r} is run by sensor {job_class.sensor}, not a schedule")
    config = config_from_run_config(
        job_class.node_of(job_class.name_of_job(entry.job)), entry.run_config
    )
    opts = legacy_options(job_class, entry.job, config)
    schedule = cron_to_apscheduler(entry.cron) if entry.cron is not None else None
    enabled = entry.cron is not None and tier in entry.tiers
    return [
        entry.legacy_name or entry.name,
        enabled,
        class_name,
        json.dumps(opts),
        json.dumps(schedule) if schedule is not None else None,
    ]
