"""``cdr-dagster import-schedules EXPORT.json``: legacy ``scheduled_job`` rows -> schedules.yaml.

The input is the CDR admin Scheduler page's JSON export
(docs/behaviour-notes.md#schedule-export-format): a JSON array of
``[name, enabled, job_class, opts, schedule]``, where ``opts`` is the stored JSON string of the
options and ``schedule`` the stored JSON string of APScheduler cron fields, or null.

The output, on stdout, is a ``schedules.yaml`` document (``schedules:`` and ``on_demand:``)
to review and merge into ``cdr_dagster/schedules.yaml``:

- a scheduled row becomes a ``schedules`` entry: the job and run config from the catalogue
  (``catalogue.py``), the cron string from ``cron.py`` (exact fire times, or the row is
  refused), ``tiers: [<tier>]`` when the row was enabled (the tier is CDR_TIER of the importing
  process, which should be the tier the export came from) and ``tiers: []`` with a comment when
  it was disabled (paused) in the legacy table;
- a row without a schedule (NULL or ``{}``) becomes an ``on_demand`` entry: the loader
  validates it (job and run config) but builds nothing from it, so the table documents the
  stored settings an operator used with "Run Job Now". The comment above it gives the command
  (``dagster job execute -m cdr_dagster.definitions -j <job> -c <file with its run_config>``);
  in the UI, paste the run_config into the job's Launchpad;
- a row of a class replaced by a sensor (the two queues, the health check) becomes a comment
  only: the sensor, not a schedule, does that work now;
- warnings (surprising legacy meanings, DST notes) go to stderr and, as comments, above the
  entry they concern.

Refused rows (unknown class, unsupported option names, values the legacy job failed on,
schedules cron cannot express exactly) are all reported on stderr, each naming its row, and
listed as comments; the exit status is then 1. An unreadable export gives status 2.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from cdr_dagster.legacy.catalogue import (
    OptionError,
    convert_options,
    find_job_class,
    run_config_for,
)
from cdr_dagster.legacy.cron import CronConversionError, apscheduler_to_cron
from cdr_dagster.settings import parse_tier

RUN_COMMAND = "dagster job execute -m cdr_dagster.definitions -j {job} -c <file with run_config>"


@dataclass
class ImportedEntry:
    """One schedules.yaml entry made from a legacy row, with what goes in comments above it."""

    section: str
    label: str
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """Everything the importer learned from an export."""

    entries: list[ImportedEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def main(
    export_path: str | os.PathLike[str],
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    *,
    tier: str | None = None,
) -> int:
    """Print schedules.yaml entries for the rows of a legacy JSON export; return exit status.

    ``tier`` (default: ``CDR_TIER``) is where enabled rows become RUNNING.
    """
    try:
        rows = json.loads(Path(export_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"import-schedules: error: cannot read {export_path}: {exc}", file=err)
        return 2
    if not isinstance(rows, list):
        print(f"import-schedules: error: {export_path} is not a JSON array of rows", file=err)
        return 2
    the_tier = parse_tier(tier if tier is not None else os.environ.get("CDR_TIER"))
    result = import_rows(rows, the_tier)
    out.write(render_yaml(result, source=str(export_path), tier=the_tier))
    for warning in result.warnings:
        print(f"import-schedules: warning: {warning}", file=err)
    for error in result.errors:
        print(f"import-schedules: error: {error}", file=err)
    if result.errors:
        print(f"import-schedules: {len(result.errors)} row(s) refused", file=err)
        return 1
    return 0


def import_rows(rows: Sequence[Any], tier: str) -> ImportResult:
    """Convert legacy export rows; problems are collected in the result, never raised."""
    result = ImportResult()
    names: set[str] = set()
    for number, row in enumerate(rows, start=1):
        label = f"row {number}"
        if isinstance(row, list) and row and isinstance(row[0], str):
            label = f"row {number} ({row[0]!r})"
        try:
            name, enabled, job_class, opts, schedule = _unpack(row)
        except ValueError as exc:
            result.errors.append(f"{label}: {exc}")
            continue
        label = f"row {number} ({name!r}, {job_class})"
        try:
            entry = _import_row(label, name, enabled, job_class, opts, schedule, tier, names)
        except (OptionError, CronConversionError, ValueError) as exc:
            result.errors.append(f"{label}: {exc}")
            continue
        if isinstance(entry, str):
            result.notes.append(entry)
            continue
        result.entries.append(entry)
        result.warnings.extend(f"{label}: {warning}" for warning in entry.warnings)
    return result


def _unpack(row: Any) -> tuple[str, bool, str, dict[str, Any], dict[str, Any] | None]:
    if not isinstance(row, list) or len(row) != 5:
        raise ValueError("a row must be [name, enabled, job_class, opts, schedule]")
    name, enabled, job_class, opts_text, schedule_text = row
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"the name {name!r} is not a non-empty string")
    if not isinstance(enabled, (bool, int)):
        raise ValueError(f"enabled {enabled!r} is not a boolean")
    if not isinstance(job_class, str):
        raise ValueError(f"job_class {job_class!r} is not a string")
    opts = _json_object(opts_text, "opts", allow_null=False)
    schedule = _json_object(schedule_text, "schedule", allow_null=True)
    return name.strip(), bool(enabled), job_class.strip(), opts or {}, schedule or None


def _json_object(value: Any, column: str, *, allow_null: bool) -> dict[str, Any] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_null:
            return None
        raise ValueError(f"{column} is empty (the legacy scheduler failed on it)")
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{column} {value!r} is not a JSON string")
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(
            f"{column} is not valid JSON ({exc}); the legacy job failed on it"
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{column} {value!r} is not a JSON object")
    return parsed


def _import_row(
    label: str,
    name: str,
    enabled: bool,
    job_class: str,
    opts: dict[str, Any],
    schedule: dict[str, Any] | None,
    tier: str,
    names: set[str],
) -> ImportedEntry | str:
    module, _, class_name = job_class.partition(".")
    if not module or not class_name or "." in class_name:
        raise ValueError("job_class must be in the form module.ClassName")
    entry_class = find_job_class(job_class)
    if entry_class is None:
        raise ValueError(f"unknown job class {job_class!r}: no Dagster job replaces it")
    converted = convert_options(entry_class, opts)
    warnings = list(converted.warnings)
    notes: list[str] = []
    if entry_class.trigger == "sensor":
        when = json.dumps(schedule) if schedule else "no schedule"
        state = "enabled" if enabled else "disabled"
        extra = f"; options {json.dumps(converted.config)}" if converted.config else ""
        return (
            f"{label}, {state}, {when}: replaced by sensor {entry_class.sensor} -> job "
            f"{converted.job}; no schedule entry{extra}"
        )
    data: dict[str, Any] = {"name": _unique_name(name, names), "job": converted.job}
    legacy_schedule = json.dumps(schedule) if schedule else "none"
    description = (
        f"{entry_class.title}. Imported from the legacy scheduled_job row {name!r} "
        f"({job_class}, schedule {legacy_schedule})."
    )
    if schedule is None:
        section = "on_demand"
        if enabled:
            warnings.append(
                "enabled without a schedule: the export caught a pending one-off run request"
            )
        notes.append(f"on demand; run it with: {RUN_COMMAND.format(job=converted.job)}")
        notes.append(f"or paste the run_config into the Launchpad of job {converted.job}")
    else:
        section = "schedules"
        conversion = apscheduler_to_cron(schedule)
        warnings.extend(conversion.warnings)
        data["cron"] = _Quoted(conversion.cron)
        data["tiers"] = _Flow([tier] if enabled else [])
        notes.append(
            f"enabled in the legacy table: RUNNING on {tier}"
            if enabled
            else "disabled (paused) in the legacy table: STOPPED on every tier"
        )
    data["description"] = description
    data["legacy_name"] = name
    data["legacy_class"] = job_class
    run_config = run_config_for(converted.node, converted.config)
    if run_config:
        data["run_config"] = run_config
    return ImportedEntry(section, label, data, warnings, notes)


def _unique_name(name: str, names: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "legacy_job"
    if base[0].isdigit():
        base = f"job_{base}"
    candidate, number = base, 2
    while candidate in names:
        candidate, number = f"{base}_{number}", number + 1
    names.add(candidate)
    return candidate


def render_yaml(result: ImportResult, *, source: str = "", tier: str = "") -> str:
    """The schedules.yaml document (with comments) for an import result."""
    lines = [
        f"# Generated by `cdr-dagster import-schedules {source}` for tier {tier}.",
        "# Review, then merge into cdr_dagster/schedules.yaml. An entry whose job does not exist",
        "# yet stops the code location from loading until that job is added.",
    ]
    for section in ("schedules", "on_demand"):
        entries = [entry for entry in result.entries if entry.section == section]
        lines.append(f"{section}:" if entries else f"{section}: []")
        for entry in entries:
            lines.append(f"  # {_one_line(entry.label)}")
            lines.extend(f"  # WARNING: {_one_line(warning)}" for warning in entry.warnings)
            lines.extend(f"  # {_one_line(note)}" for note in entry.notes)
            dumped = yaml.dump(
                [entry.data],
                Dumper=_Dumper,
                sort_keys=False,
                default_flow_style=False,
                allow_unicode=True,
                width=96,
            )
            lines.extend(f"  {line}" for line in dumped.splitlines())
    if result.notes:
        lines.append("# Rows replaced by sensors (no entry):")
        lines.extend(f"#   {_one_line(note)}" for note in result.notes)
    if result.errors:
        lines.append("# REFUSED rows (see stderr), not imported:")
        lines.extend(f"#   {_one_line(error)}" for error in result.errors)
    return "\n".join(lines) + "\n"


class _Quoted(str):
    """A string always written in double quotes (cron strings: YAML reads a leading * as an
    alias)."""


class _Flow(list):
    """A list written inline, ``[PROD]``."""


class _Dumper(yaml.SafeDumper):
    """The safe dumper, plus the two styles above."""


_Dumper.add_representer(
    _Quoted, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
)
_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


def _one_line(text: str) -> str:
    return " ".join(text.split())
