"""Which Dagster schedule or sensor a scheduled row of the CDR admin page stands for.

The admin page's "Scheduled Jobs" rows (``scheduled_job`` with a schedule) were the legacy
scheduler's whole table; ``schedules.yaml`` is ours. :func:`match_row` finds, deterministically,
what a row controls (``docs/admin-page.md`` explains it to operators):

1. A class that a sensor replaced (the two queues, the health check; the catalogue's
   ``trigger: sensor``) controls that sensor.
2. Otherwise the ``schedules`` entries whose ``legacy_name`` is the row's name (exactly, after
   trimming spaces). One entry: that entry, provided it runs a job of the row's class. Several:
   those running the job the row's class and options choose (``publishing_task``'s
   ``schedule``, the dictionary loader's ``dictionary``); exactly one must remain.
3. No entry has the row's name as ``legacy_name``: the ``schedules`` entries that run the job
   the row's class and options choose and whose ``legacy_class`` is unset or the row's class.
   Exactly one must remain.

Anything else (an unknown class, no candidate, several candidates) is a :class:`NoMatchError`
whose message names the row and the entries considered and says how to fix it (give the
entry ``legacy_name: <row name>``). :func:`timing_difference` and :func:`options_difference`
say how a row's schedule or options differ from the entry's, since Dagster runs the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdr_dagster.legacy.catalogue import (
    JobClass,
    Kind,
    OptionError,
    config_from_run_config,
    convert_options,
    find_job_class,
)
from cdr_dagster.legacy.cron import CronConversionError, apscheduler_to_cron, cron_to_apscheduler
from cdr_dagster.schedules import ScheduleEntry, ScheduleTable


class NoMatchError(Exception):
    """The row stands for no single schedule or sensor; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """What a row controls: a schedule (with its ``schedules.yaml`` entry) or a sensor."""

    kind: str  # "schedule" or "sensor"
    name: str
    job_class: JobClass
    entry: ScheduleEntry | None = None
    rule: str = ""

    @property
    def label(self) -> str:
        """How notices name the target: ``schedules.yaml schedules[3] 'x'`` or ``sensor x``."""
        if self.entry is not None:
            return f"schedules.yaml {self.entry.label}"
        return f"sensor {self.name}"


def _chosen_jobs(job_class: JobClass, opts: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The jobs a row of ``job_class`` with ``opts`` can run (one when a selector chooses)."""
    if job_class.selector and opts is not None:
        name = job_class.targets.get(opts.get(job_class.selector))  # type: ignore[arg-type]
        if name is not None:
            return (job_class.job_of(name),)
    return job_class.jobs


def match_row(
    name: str, class_name: str, opts: Mapping[str, Any] | None, table: ScheduleTable
) -> Target:
    """The schedule or sensor the row ``name`` of class ``class_name`` controls.

    ``opts`` are the row's parsed options (None when they are not a JSON object). Raises
    :class:`NoMatchError` when the rules of the module doc find nothing, or more than one entry.
    """
    job_class = find_job_class(class_name)
    row = f"row {name!r} ({class_name})"
    if job_class is None:
        raise NoMatchError(f"{row}: {class_name!r} is not a known legacy job class")
    if job_class.trigger == "sensor" and job_class.sensor:
        return Target("sensor", job_class.sensor, job_class, rule="class replaced by a sensor")
    jobs = _chosen_jobs(job_class, opts)
    key = name.strip()
    named = [entry for entry in table.schedules if (entry.legacy_name or "").strip() == key]
    if named:
        fitting = [entry for entry in named if entry.job in jobs]
        if len(fitting) == 1:
            entry = fitting[0]
            return Target("schedule", entry.name, job_class, entry, "legacy_name")
        labels = ", ".join(f"{e.label} (job {e.job})" for e in named)
        if not fitting:
            raise NoMatchError(
                f"{row}: the entries with legacy_name {key!r} ({labels}) run no job of "
                f"{class_name} ({', '.join(jobs)})"
            )
        raise NoMatchError(
            f"{row}: several entries have legacy_name {key!r} and run {', '.join(jobs)}: "
            f"{labels}; keep the legacy_name on one of them only"
        )
    candidates = [
        entry
        for entry in table.schedules
        if entry.job in jobs
        and (entry.legacy_class is None or find_job_class(entry.legacy_class) is job_class)
    ]
    if len(candidates) == 1:
        entry = candidates[0]
        return Target("schedule", entry.name, job_class, entry, f"only entry running {entry.job}")
    if not candidates:
        raise NoMatchError(
            f"{row}: no schedules.yaml entry runs {' or '.join(jobs)}; add one (cdr-dagster "
            "import-schedules prints it) or delete the row"
        )
    labels = ", ".join(entry.label for entry in candidates)
    raise NoMatchError(
        f"{row}: several schedules.yaml entries run {' or '.join(jobs)} ({labels}) and none "
        f"has legacy_name {key!r}; add legacy_name: {key} to the entry this row stands for"
    )


def _normalized(cron: str) -> str:
    """``cron`` rendered the way :func:`apscheduler_to_cron` renders (for comparison)."""
    try:
        return apscheduler_to_cron(cron_to_apscheduler(cron)).cron
    except CronConversionError:
        return cron


def timing_difference(schedule: Mapping[str, Any], target: Target) -> str | None:
    """Why the row's ``schedule`` (APScheduler fields) is not what Dagster runs; None if it is."""
    fields = dict(schedule)
    if target.entry is None:
        return (
            f"the schedule column {fields} is not used: {target.label} watches continuously "
            f"(the legacy row ran every few minutes)"
        )
    assert target.entry.cron is not None
    try:
        cron = apscheduler_to_cron(fields).cron
    except CronConversionError as exc:
        return (
            f"the schedule {fields} cannot be expressed as cron ({exc}); {target.label} keeps "
            f"cron {target.entry.cron!r}"
        )
    if cron == _normalized(target.entry.cron):
        return None
    return (
        f"the schedule {fields} (cron {cron!r}) differs from {target.label}, which runs at "
        f"cron {target.entry.cron!r} (America/New_York); Dagster keeps {target.entry.cron!r} "
        f"until schedules.yaml is changed"
    )


def _meaning(job_class: JobClass, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without flags at their default (absent and default mean the same)."""
    flags = {o.field: bool(o.default) for o in job_class.options or () if o.kind is Kind.FLAG}
    return {k: v for k, v in config.items() if k not in flags or v != flags[k]}


def options_difference(opts: Mapping[str, Any] | None, target: Target) -> str | None:
    """Why the row's options are not what Dagster runs with; None when they mean the same."""
    if opts is None:
        return "the options are not a JSON object; the entry's run_config is used"
    if target.entry is None:
        if not opts:
            return None
        return (
            f"the options {dict(opts)} are not used by {target.label}; its settings come from "
            "the code location's environment"
        )
    job_class = target.job_class
    try:
        converted = convert_options(job_class, opts)
        ours = config_from_run_config(converted.node, target.entry.run_config)
    except OptionError as exc:
        return f"the options {dict(opts)} cannot be used: {exc}"
    if _meaning(job_class, converted.config) == _meaning(job_class, ours):
        return None
    return (
        f"the options mean {converted.config}, but {target.label} runs with {ours or 'defaults'};"
        " Dagster keeps the entry's run_config until schedules.yaml is changed"
    )
