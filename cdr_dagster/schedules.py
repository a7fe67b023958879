"""Load and validate ``schedules.yaml`` into Dagster ``ScheduleDefinition`` objects.

``schedules.yaml`` is the schedule table of the code location (the format is described at the
top of that file). ``definitions.py`` calls::

    load_schedules(SCHEDULES_PATH, {job.name: job for job in jobs}, settings.tier)

Every schedule runs in America/New_York. Its ``default_status`` is RUNNING on the tiers its entry
lists and STOPPED elsewhere; an operator's toggle in the UI then wins until it is reset.
A schedule of a legacy job carries the entry's ``legacy_class`` and ``legacy_name`` (else its
job's, from the catalogue) as tags and at the start of its description, so the UI finds it by
its legacy name (``cdr_dagster/legacy/labels.py``).

Loading validates everything before it returns anything, and raises one
:class:`ScheduleConfigError` listing every problem, each naming its entry (section, index and
name): YAML syntax and duplicate keys, unknown or missing keys, names that are not Dagster names
or are used twice, unknown jobs, cron strings Dagster rejects, tiers that are not CDR tiers, and
run config the job's Config rejects: first Dagster's config schema (names, types, choices), then
the Config classes' own rules, their ``Field`` bounds and validators, which Dagster itself
applies only when a step starts (``cdr_dagster/config_checks.py``). So a bad value stops the
load instead of failing the schedule at every tick.

Run config that holds only op config (the usual case) is checked against each op's own Config
type, which is exact and cheap. Anything else is validated against the job itself, with
:func:`dagster.validate_run_config`. A job
from ``@job`` or ``define_asset_job`` usually gets its resources only in ``Definitions``; for that
check, each resource key the job needs but has not bound is given a stand-in resource that
accepts any config, and the job is resolved through a ``Definitions`` of its own. So op and
asset config are checked exactly, while config for such resources (rare in a schedule: they are
configured in ``definitions.py``) is checked when a run starts. An asset job from
``define_asset_job`` can only be resolved with its assets: pass them as ``assets=``.

``on_demand`` entries document jobs that run only when an operator launches them (legacy rows
without a schedule). They are validated like schedules (job and run config) but produce no
definition; :func:`read_schedule_table` returns them for tools such as the exporter.

A job with time-window partitions (the monthly reports) gets a schedule that requests, at each
tick, the last partition complete at the scheduled time, with ``run_key`` = that partition key,
as ``build_schedule_from_partitioned_job`` does, plus the entry's run config.

The misfire policy: when the daemon comes back after a time down, Dagster evaluates the latest
tick it missed. A tick evaluated more than ``misfire_grace_minutes`` after its scheduled time
(default :data:`DEFAULT_MISFIRE_GRACE_MINUTES`) is skipped with the reason in the tick log,
and, for an entry with ``misfire_mail: true``, one mail to the Developers Notification group:
Friday's weekly publishing does not start on Saturday. See docs/run-lifecycle.md ("Missed
ticks").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import yaml
from dagster._check import CheckError
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._time import get_current_timestamp
from dagster._utils.schedules import is_valid_cron_string

from cdr_dagster.config_checks import (
    config_class_problems,
    config_object_problems,
    node_config_class,
)
from cdr_dagster.legacy.catalogue import LegacyLabel, label_for_job
from cdr_dagster.settings import DEVELOPERS_GROUP, TIERS, TIMEZONE

# What an entry may target: a job from @job (or graph.to_job) or from define_asset_job.
SchedulableJob = dg.JobDefinition | UnresolvedAssetJobDefinition

SCHEDULES_PATH = Path(__file__).with_name("schedules.yaml")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
SECTIONS = ("schedules", "on_demand")
#: How late (minutes after its scheduled time) a tick may still start when its entry sets none.
DEFAULT_MISFIRE_GRACE_MINUTES = 60
SCHEDULE_KEYS = {
    "name": True,
    "job": True,
    "cron": True,
    "tiers": True,
    "description": True,
    "run_config": False,
    "legacy_name": False,
    "legacy_class": False,
    "misfire_grace_minutes": False,
    "misfire_mail": False,
}
ON_DEMAND_KEYS = {
    "name": True,
    "job": True,
    "description": True,
    "run_config": False,
    "legacy_name": False,
    "legacy_class": False,
}


class ScheduleConfigError(ValueError):
    """``schedules.yaml`` cannot be loaded; ``problems`` lists each problem with its entry."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{source}: {count}:\n{lines}")


@dataclass(frozen=True)
class ScheduleEntry:
    """One entry of ``schedules.yaml``; ``cron`` is None for an ``on_demand`` entry."""

    section: str
    index: int
    name: str
    job: str
    description: str
    cron: str | None = None
    tiers: tuple[str, ...] = ()
    run_config: Mapping[str, Any] = field(default_factory=dict)
    legacy_name: str | None = None
    legacy_class: str | None = None
    misfire_grace_minutes: float = DEFAULT_MISFIRE_GRACE_MINUTES
    misfire_mail: bool = False

    @property
    def label(self) -> str:
        """How messages name this entry: ``schedules[2] 'sweep_files_nightly'``."""
        return f"{self.section}[{self.index}] {self.name!r}"


@dataclass(frozen=True)
class ScheduleTable:
    """The parsed ``schedules.yaml``: scheduled entries and documented on-demand entries."""

    schedules: tuple[ScheduleEntry, ...]
    on_demand: tuple[ScheduleEntry, ...]


def read_schedule_table(path: str | Path) -> ScheduleTable:
    """Parse ``schedules.yaml`` and check its structure (no Dagster jobs needed).

    Checks keys, types, names (Dagster-valid, unique across both sections), tiers and cron
    strings. Raises :class:`ScheduleConfigError` with every problem found.
    """
    table, problems = _read(Path(path))
    if problems:
        raise ScheduleConfigError(str(path), problems)
    return table


def load_schedules(
    path: str | Path,
    jobs: Mapping[str, SchedulableJob],
    tier: str,
    *,
    assets: Sequence[Any] = (),
) -> list[dg.ScheduleDefinition]:
    """Build the ``ScheduleDefinition`` of every entry of ``path`` for the CDR tier ``tier``.

    ``jobs`` maps job names to the jobs entries may target (``JobDefinition`` or the result of
    ``define_asset_job``); ``assets`` are the asset definitions needed to resolve asset jobs for
    validation. Raises :class:`ScheduleConfigError` listing every problem, each naming its entry.
    """
    source = str(path)
    if tier not in TIERS:
        raise ScheduleConfigError(source, [f"tier {tier!r} is not one of {', '.join(TIERS)}"])
    mismatched = [f"{key!r} -> {job.name!r}" for key, job in jobs.items() if key != job.name]
    if mismatched:
        raise ScheduleConfigError(
            source, [f"the jobs mapping must be keyed by job name: {', '.join(mismatched)}"]
        )
    table, problems = _read(Path(path))
    entries = (*table.schedules, *table.on_demand)
    partitions: dict[str, dg.PartitionsDefinition | None] = {}
    resolved: dict[str, dg.JobDefinition] | None = None
    for entry in entries:
        job = jobs.get(entry.job)
        if job is None:
            known = ", ".join(sorted(jobs)) or "none"
            problems.append(f"{entry.label}: unknown job {entry.job!r} (known jobs: {known})")
            continue
        try:
            shape = _op_shape(job, assets)
            if shape is not None and set(entry.run_config) <= {"ops"}:
                rejected = _op_config_problems(shape, entry.run_config.get("ops") or {})
                if rejected:
                    problems.append(
                        f"{entry.label}: job {entry.job!r} rejects the run_config: "
                        + "; ".join(rejected)
                    )
                    continue
                partitions.setdefault(entry.job, shape.partitions_def)
            else:
                if resolved is None:
                    resolved = _resolve_together(
                        [jobs[e.job] for e in entries if e.job in jobs], assets
                    )
                if entry.job not in resolved:
                    resolved[entry.job] = _resolve_for_validation(job, assets)
                dg.validate_run_config(resolved[entry.job], entry.run_config)
                rejected = config_class_problems(resolved[entry.job], entry.run_config)
                if rejected:
                    problems.append(
                        f"{entry.label}: job {entry.job!r} rejects the run_config: "
                        + "; ".join(rejected)
                    )
                    continue
                partitions.setdefault(entry.job, resolved[entry.job].partitions_def)
        except dg.DagsterInvalidConfigError as exc:
            problems.append(f"{entry.label}: job {entry.job!r} rejects the run_config: {exc}")
        except (dg.DagsterInvalidDefinitionError, dg.DagsterInvariantViolationError) as exc:
            problems.append(f"{entry.label}: job {entry.job!r} cannot be validated: {exc}")
        else:
            found = partitions[entry.job]
            if found is not None and not isinstance(found, dg.TimeWindowPartitionsDefinition):
                problems.append(
                    f"{entry.label}: job {entry.job!r} has partitions that are not time windows; "
                    "schedule it in Python instead"
                )
    if problems:
        raise ScheduleConfigError(source, problems)
    return [
        _schedule_definition(entry, jobs[entry.job], partitions[entry.job], tier)
        for entry in table.schedules
    ]


# --- reading ---------------------------------------------------------------------------------


# The C (libyaml) parser when PyYAML has it: every code-location load reads this file.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read(path: Path) -> tuple[ScheduleTable, list[str]]:
    empty = ScheduleTable((), ())
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except OSError as exc:
        return empty, [f"cannot read the file: {exc}"]
    except yaml.YAMLError as exc:
        return empty, [f"not valid YAML: {exc}"]
    if document is None:
        document = {}
    if not isinstance(document, dict):
        return empty, ["the file must be a mapping with 'schedules' and 'on_demand' lists"]
    problems = [
        f"unknown top-level key {key!r} (expected {' or '.join(SECTIONS)})"
        for key in document
        if key not in SECTIONS
    ]
    sections: dict[str, list[ScheduleEntry]] = {name: [] for name in SECTIONS}
    names: dict[str, str] = {}
    for section in SECTIONS:
        items = document.get(section) or []
        if not isinstance(items, list):
            problems.append(f"{section} must be a list of entries")
            continue
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name:
                label = f"{section}[{index}] {name!r}"
                if name in names:
                    problems.append(f"{label}: name already used by {names[name]}")
                    continue
                names[name] = label
            entry = _parse_entry(section, index, item, problems)
            if entry is not None:
                sections[section].append(entry)
    table = ScheduleTable(tuple(sections["schedules"]), tuple(sections["on_demand"]))
    return table, problems


def _parse_entry(
    section: str, index: int, item: object, problems: list[str]
) -> ScheduleEntry | None:
    label = f"{section}[{index}]"
    if not isinstance(item, dict):
        problems.append(f"{label}: an entry must be a mapping, not {type(item).__name__}")
        return None
    name = item.get("name")
    if isinstance(name, str):
        label = f"{label} {name!r}"
    allowed = SCHEDULE_KEYS if section == "schedules" else ON_DEMAND_KEYS
    before = len(problems)
    for key in item:
        if key not in allowed:
            problems.append(f"{label}: unknown key {key!r} (allowed: {', '.join(allowed)})")
    for key, required in allowed.items():
        if required and item.get(key) in (None, ""):
            problems.append(f"{label}: {key} is required")
    for key in ("name", "job", "cron", "description", "legacy_name", "legacy_class"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{label}: {key} must be a string, not {value!r}")
    if isinstance(name, str) and name and not NAME_PATTERN.match(name):
        problems.append(f"{label}: name must use only letters, digits and underscores")
    cron = item.get("cron")
    if isinstance(cron, str) and cron and not is_valid_cron_string(cron):
        problems.append(f"{label}: cron {cron!r} is not a valid five-field cron string")
    tiers = item.get("tiers")
    if section == "schedules" and tiers is not None:
        if not isinstance(tiers, list):
            problems.append(f"{label}: tiers must be a list such as [DEV, QA] (or [])")
        else:
            for tier in tiers:
                if tier not in TIERS:
                    problems.append(f"{label}: tier {tier!r} is not one of {', '.join(TIERS)}")
            if len(set(map(str, tiers))) != len(tiers):
                problems.append(f"{label}: a tier is listed twice in {tiers}")
    grace = item.get("misfire_grace_minutes", DEFAULT_MISFIRE_GRACE_MINUTES)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or grace <= 0:
        problems.append(
            f"{label}: misfire_grace_minutes must be a number of minutes above 0, not {grace!r}"
        )
    misfire_mail = item.get("misfire_mail", False)
    if not isinstance(misfire_mail, bool):
        problems.append(f"{label}: misfire_mail must be true or false, not {misfire_mail!r}")
    run_config = item.get("run_config")
    if run_config is None:
        run_config = {}
    if not isinstance(run_config, dict):
        problems.append(f"{label}: run_config must be a mapping such as {{ops: {{...}}}}")
    if len(problems) > before:
        return None
    return ScheduleEntry(
        section=section,
        index=index,
        name=name,
        job=item["job"],
        description=item["description"],
        cron=cron,
        tiers=tuple(tiers or ()),
        run_config=run_config,
        legacy_name=item.get("legacy_name"),
        legacy_class=item.get("legacy_class"),
        misfire_grace_minutes=grace,
        misfire_mail=misfire_mail,
    )


# --- validation and building -----------------------------------------------------------------


@dataclass(frozen=True)
class _OpShape:
    """What the quick check needs of a job: its top-level ops' config fields, their Config
    classes, and partitions."""

    op_fields: dict[str, dg.Field | None]
    partitions_def: dg.PartitionsDefinition | None
    op_classes: dict[str, type[dg.Config] | None] = field(default_factory=dict)


def _op_shape(job: SchedulableJob, assets: Sequence[Any]) -> _OpShape | None:
    """The op config fields of ``job``, or None when only a full resolution can tell.

    Building a job's whole run-config schema costs tens of milliseconds per job, on every load
    of the code location; an entry's run config is almost always op config only, which each
    op's own Config type checks exactly. Jobs with nested graphs take the full path.
    """
    if isinstance(job, dg.JobDefinition):
        fields: dict[str, dg.Field | None] = {}
        classes: dict[str, type[dg.Config] | None] = {}
        for node in job.graph.nodes:
            if not isinstance(node.definition, dg.OpDefinition):
                return None
            schema = node.definition.config_schema
            fields[node.name] = schema.as_field() if schema is not None else None
            classes[node.name] = node_config_class(node.definition)
        return _OpShape(fields, job.partitions_def, classes)
    if not assets:
        return None
    try:
        keys = job.selection.resolve(assets)
    except Exception:  # noqa: BLE001 - the full resolution reports the real problem
        return None
    selected = [a for a in assets if isinstance(a, dg.AssetsDefinition) and a.keys & keys]
    if not selected or any(not isinstance(a.node_def, dg.OpDefinition) for a in selected):
        return None
    found = {a.partitions_def for a in selected}
    if len(found) > 1:
        return None
    fields = {}
    classes = {}
    for asset in selected:
        schema = asset.node_def.config_schema
        fields[asset.node_def.name] = schema.as_field() if schema is not None else None
        classes[asset.node_def.name] = node_config_class(asset.node_def)
    return _OpShape(fields, next(iter(found)), classes)


def _op_config_problems(shape: _OpShape, ops: Any) -> list[str]:
    """What the ops' Config rejects in the ``ops`` section of a run config (empty when valid)."""
    from dagster._config import process_config

    if not isinstance(ops, Mapping):
        return [f"ops must be a mapping, not {ops!r}"]
    problems = [
        f"no op named {name!r} in the job (its ops: {', '.join(sorted(shape.op_fields))})"
        for name in ops
        if name not in shape.op_fields
    ]
    for name, op_field in shape.op_fields.items():
        given = ops.get(name)
        if given is not None and (not isinstance(given, Mapping) or set(given) - {"config"}):
            problems.append(f"ops.{name} may hold only 'config', not {given!r}")
            continue
        if op_field is None:
            if given and given.get("config") is not None:
                problems.append(f"op {name!r} takes no config")
            continue
        if (given is None or "config" not in given) and not op_field.is_required:
            continue
        value = given["config"] if given is not None and "config" in given else {}
        result = process_config(op_field.config_type, value)
        problems.extend(f"ops.{name}.config: {error.message}" for error in result.errors or ())
        config_class = shape.op_classes.get(name)
        if result.success and config_class is not None:
            problems.extend(
                config_object_problems(config_class, result.value, f"ops.{name}.config")
            )
    return problems


def _stand_in_resource() -> dg.ResourceDefinition:
    return dg.ResourceDefinition(
        resource_fn=lambda _: None,
        config_schema=dg.Field(dg.Any, is_required=False),
        description="stand-in used only to validate schedules.yaml",
    )


def _resolve_together(
    jobs: Sequence[SchedulableJob], assets: Sequence[Any]
) -> dict[str, dg.JobDefinition]:
    """Every job resolved in one Definitions (one repository build instead of one per job).

    When they cannot be resolved together, nothing is returned, and each job is then resolved
    on its own so that the problem is reported against the entries whose job has it.
    """
    unique = list({job.name: job for job in jobs}.values())
    needed: set[str] = set()
    for job in unique:
        if isinstance(job, dg.JobDefinition):
            needed |= set(job.required_resource_keys) - set(job.resource_defs)
    for asset in assets:
        needed |= set(getattr(asset, "required_resource_keys", ()))
    stand_ins = {key: _stand_in_resource() for key in needed - {"io_manager"}}
    try:
        defs = dg.Definitions(assets=list(assets), jobs=unique, resources=stand_ins)
        return {job.name: defs.resolve_job_def(job.name) for job in unique}
    except Exception:  # noqa: BLE001 - each job is resolved again alone, with its own error
        return {}


def _resolve_for_validation(job: SchedulableJob, assets: Sequence[Any]) -> dg.JobDefinition:
    """``job`` as Definitions would resolve it, with stand-ins for resources bound later."""
    if isinstance(job, dg.JobDefinition):
        needed = set(job.required_resource_keys) - set(job.resource_defs)
        stand_ins = {key: _stand_in_resource() for key in needed}
        return dg.Definitions(jobs=[job], resources=stand_ins).resolve_job_def(job.name)
    needed = set()
    for asset in assets:
        needed |= set(getattr(asset, "required_resource_keys", ()))
    stand_ins = {key: _stand_in_resource() for key in needed - {"io_manager"}}
    if not assets:
        raise dg.DagsterInvalidDefinitionError(
            f"{job.name!r} is an asset job; pass its assets to load_schedules(assets=...)"
        )
    defs = dg.Definitions(assets=list(assets), jobs=[job], resources=stand_ins)
    return defs.resolve_job_def(job.name)


def _schedule_definition(
    entry: ScheduleEntry,
    job: SchedulableJob,
    partitions: dg.PartitionsDefinition | None,
    tier: str,
) -> dg.ScheduleDefinition:
    status = (
        dg.DefaultScheduleStatus.RUNNING
        if tier in entry.tiers
        else dg.DefaultScheduleStatus.STOPPED
    )
    metadata = {
        key: value
        for key, value in (
            ("tiers", ", ".join(entry.tiers) or "none"),
            ("legacy_name", entry.legacy_name),
            ("legacy_class", entry.legacy_class),
            ("misfire_grace_minutes", f"{entry.misfire_grace_minutes:g}"),
            ("misfire_mail", "yes" if entry.misfire_mail else None),
        )
        if value
    }
    description = entry.description
    tags = None
    label = _legacy_label(entry)
    if label is not None:
        description = label.describe(entry.description)
        tags = label.tags
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        request = _last_partition_fn(partitions, entry.run_config)
    else:
        request = _run_config_fn(entry.run_config)
    return dg.ScheduleDefinition(
        name=entry.name,
        cron_schedule=entry.cron,
        target=job,
        execution_timezone=TIMEZONE,
        default_status=status,
        description=description,
        metadata=metadata,
        tags=tags,
        execution_fn=_on_time_only(entry, request),
        required_resource_keys={"email"} if entry.misfire_mail else None,
    )


RequestFn = Callable[[dg.ScheduleEvaluationContext], dg.RunRequest | dg.SkipReason]


def _on_time_only(entry: ScheduleEntry, request: RequestFn) -> RequestFn:
    """``request``, unless the tick is evaluated more than the entry's grace after its time.

    "Now" is Dagster's clock, the one its scheduler daemon reads.
    """
    grace_seconds = entry.misfire_grace_minutes * 60

    def on_time_only(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        try:
            scheduled = context.scheduled_execution_time
        except CheckError:  # a tick evaluated by hand (tests, tools) has no time: on time
            scheduled = None
        if scheduled is not None:
            late = get_current_timestamp() - scheduled.timestamp()
            if late > grace_seconds:
                return _missed(context, entry, scheduled, late)
        return request(context)

    return on_time_only


def _minutes(seconds: float) -> str:
    """``95 min`` or ``1.5 min``: a lateness for people."""
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def _missed(
    context: dg.ScheduleEvaluationContext, entry: ScheduleEntry, scheduled: Any, late: float
) -> dg.SkipReason:
    """Skip a tick that came too late, saying why; mail about it when the entry asks to."""
    when = scheduled.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M %Z")
    reason = (
        f"missed: the tick of {when} came {_minutes(late)} late, more than the "
        f"{entry.misfire_grace_minutes:g} min this schedule allows (misfire_grace_minutes); "
        "it is skipped, the next tick runs as usual"
    )
    if entry.misfire_mail:
        subject = f"Missed schedule {entry.name} ({when})"
        body = (
            f"Schedule: {entry.name} (job {entry.job})\n"
            f"Scheduled for: {when}\n"
            f"Evaluated: {_minutes(late)} late (the scheduler was not running)\n\n"
            f"The run was skipped because it is more than {entry.misfire_grace_minutes:g} "
            "minutes late. Launch the job from the Dagster UI if it should still run.\n"
        )
        try:
            context.resources.email.send(subject, body, group=DEVELOPERS_GROUP)
        except Exception as exc:  # noqa: BLE001 - the skip itself must still be recorded
            context.log.error(f"could not mail about the missed tick: {exc}")
            reason += f" (the mail about it failed: {exc})"
    context.log.warning(reason)
    return dg.SkipReason(reason)


def _run_config_fn(run_config: Mapping[str, Any]) -> RequestFn:
    def request_run(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(run_config=dict(run_config))

    return request_run


def _legacy_label(entry: ScheduleEntry) -> LegacyLabel | None:
    """The entry's legacy class and name, completed from its job's when it names only one."""
    of_job = label_for_job(entry.job)
    if not (entry.legacy_class or entry.legacy_name):
        return of_job
    classes = (entry.legacy_class,) if entry.legacy_class else of_job.classes if of_job else ()
    names = (entry.legacy_name,) if entry.legacy_name else of_job.names if of_job else ()
    return LegacyLabel(classes, names)


def _last_partition_fn(
    partitions: dg.TimeWindowPartitionsDefinition, run_config: Mapping[str, Any]
) -> RequestFn:
    def request_last_partition(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        with dg.partition_loading_context(effective_dt=context.scheduled_execution_time):
            key = partitions.get_last_partition_key()
        if key is None:
            return dg.SkipReason("no partition is complete yet")
        return dg.RunRequest(run_key=key, partition_key=key, run_config=dict(run_config))

    return request_last_partition
