"""Legacy names on the Dagster definitions, so an operator finds "Nightly Publishing" in the UI.

``definitions.py`` passes its jobs and sensors through :func:`labelled_jobs` and
:func:`labelled_sensors`; ``schedules.py`` labels each schedule it builds. A definition that
replaces a legacy job class (see :mod:`cdr_dagster.legacy.catalogue`) gets:

- the tags ``cdr/legacy_class`` and ``cdr/legacy_name`` (on jobs and schedules they are also run
  tags, so the runs list can be filtered by them);
- its description starting ``Legacy "<name>" (<class>).``, which the UI's search and the
  definition pages show.

Definitions without a legacy counterpart (``purge_run_history``, the run-failure sensor) are
returned unchanged. Doing it here, once, keeps the job and sensor modules free of the mapping.
"""

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._record import copy

from cdr_dagster.legacy.catalogue import LegacyLabel, label_for_job, label_for_sensor

Job = dg.JobDefinition | UnresolvedAssetJobDefinition


def labelled_job(job: Job) -> Job:
    """``job`` with its legacy tags and description prefix (unchanged without a counterpart)."""
    label = label_for_job(job.name)
    if label is None:
        return job
    changes: dict[str, Any] = {
        "tags": {**(job.tags or {}), **label.tags},
        "description": label.describe(job.description),
    }
    if isinstance(job, UnresolvedAssetJobDefinition):
        if job.run_tags is not None:  # then tags are not run tags
            changes["run_tags"] = {**job.run_tags, **label.tags}
        return copy(job, **changes)
    if job.has_separately_defined_run_tags:
        changes["run_tags"] = {**job.run_tags, **label.tags}
    # JobDefinition has no public copy-with-tags; _copy is what its own with_* methods use.
    return job._copy(**changes)


def labelled_jobs(jobs: Iterable[Job]) -> list[Job]:
    """:func:`labelled_job` applied to each of ``jobs``."""
    return [labelled_job(job) for job in jobs]


def labelled_sensors(sensors: Iterable[Any], jobs: Sequence[Job]) -> list[Any]:
    """``sensors`` aimed at the labelled ``jobs``, each with its own legacy label if it has one.

    A sensor built against a job object must target the same object ``Definitions`` gets
    (Dagster refuses two definitions of one job name), so every job-targeting sensor is
    re-pointed at the labelled job of the same name.
    """
    by_name: Mapping[str, Job] = {job.name: job for job in jobs}
    result = []
    # A sensor copy passes ``owners`` (a beta parameter) as an empty list, which warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        for sensor in sensors:
            result.append(_relabelled(sensor, by_name))
    return result


def _relabelled(sensor: Any, by_name: Mapping[str, Job]) -> Any:
    if isinstance(sensor, dg.SensorDefinition) and sensor.has_jobs:
        targets = [by_name.get(job.name, job) for job in sensor.jobs]
        if any(new is not old for new, old in zip(targets, sensor.jobs, strict=True)):
            sensor = sensor.with_updated_jobs(targets)
    label = label_for_sensor(sensor.name)
    if label is not None and type(sensor) is dg.SensorDefinition:
        sensor = _with_label(sensor, label)
    return sensor


def _with_label(sensor: dg.SensorDefinition, label: LegacyLabel) -> dg.SensorDefinition:
    """A copy of ``sensor`` with the legacy tags and description (as ``with_attributes`` copies)."""
    jobs = sensor.jobs if sensor.has_jobs else None
    return dg.SensorDefinition.dagster_internal_init(
        name=sensor.name,
        evaluation_fn=sensor._raw_fn,
        minimum_interval_seconds=sensor.minimum_interval_seconds,
        description=label.describe(sensor.description),
        job_name=None,
        jobs=jobs if jobs and len(jobs) > 1 else None,
        job=jobs[0] if jobs and len(jobs) == 1 else None,
        default_status=sensor.default_status,
        asset_selection=sensor.asset_selection,
        required_resource_keys=sensor._raw_required_resource_keys,
        tags={**sensor.tags, **label.tags},
        metadata=sensor.metadata,
        target=None,
        owners=sensor.owners or None,
    )
