"""Legacy names findable in the UI: jobs, schedules and sensors carry their legacy class and name.

Each definition that replaces a legacy job class has the tags ``cdr/legacy_class`` and
``cdr/legacy_name`` and a description starting ``Legacy "<name>" (<class>).``, so the UI's
search finds "Nightly Publishing" or "Publishing Queue". Checked on the real Definitions.
"""

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from cdr_dagster.legacy.catalogue import (
    CATALOGUE,
    LEGACY_CLASS_TAG,
    LEGACY_NAME_TAG,
    label_for_job,
    label_for_sensor,
)
from cdr_dagster.queue_sensors import WATCH_VARIABLE, batch_job_queue_sensor
from cdr_dagster.schedules import read_schedule_table
from cdr_dagster_tests.queue_fixtures import insert_batch_job, queue_sensor_context


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from cdr_dagster.definitions import defs

    return defs


def real_jobs(defs: dg.Definitions) -> list[dg.JobDefinition]:
    return [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]


def test_every_legacy_job_carries_its_class_and_name(defs: dg.Definitions) -> None:
    catalogue_jobs = {job for entry in CATALOGUE for job in entry.jobs}
    labelled = set()
    for job in real_jobs(defs):
        label = label_for_job(job.name)
        if label is None:
            assert LEGACY_CLASS_TAG not in job.tags, f"{job.name} has no legacy counterpart"
            continue
        labelled.add(job.name)
        assert job.tags.get(LEGACY_CLASS_TAG) == label.tags[LEGACY_CLASS_TAG], job.name
        assert job.tags.get(LEGACY_NAME_TAG) == label.tags[LEGACY_NAME_TAG], job.name
        assert (job.description or "").startswith(label.prefix), (
            f"{job.name}: description {job.description!r} lacks {label.prefix!r}"
        )
        # Runs carry them too, so the runs list filters by legacy name.
        assert job.run_tags.get(LEGACY_NAME_TAG) == label.tags[LEGACY_NAME_TAG], job.name
    missing = catalogue_jobs - labelled
    assert not missing, f"catalogue jobs without legacy tags in Definitions: {sorted(missing)}"


def test_every_legacy_schedule_carries_its_class_and_name(defs: dg.Definitions) -> None:
    table = read_schedule_table("cdr_dagster/schedules.yaml")
    entries = {entry.name: entry for entry in table.schedules}
    unlabelled = []
    for schedule in defs.schedules or []:
        entry = entries[schedule.name]
        of_job = label_for_job(entry.job)
        if not (entry.legacy_class or of_job):
            assert LEGACY_CLASS_TAG not in schedule.tags, schedule.name
            continue
        if not (schedule.tags.get(LEGACY_CLASS_TAG) and schedule.tags.get(LEGACY_NAME_TAG)):
            unlabelled.append(schedule.name)
            continue
        if entry.legacy_name:
            assert schedule.tags[LEGACY_NAME_TAG] == entry.legacy_name, schedule.name
            assert schedule.description.startswith(f'Legacy "{entry.legacy_name}"'), (
                f"{schedule.name}: {schedule.description!r}"
            )
        if entry.legacy_class:
            assert schedule.tags[LEGACY_CLASS_TAG] == entry.legacy_class, schedule.name
    assert not unlabelled, f"schedules of legacy jobs without both legacy tags: {unlabelled}"


def test_sensors_that_replace_legacy_jobs_say_so(defs: dg.Definitions) -> None:
    replaced = {entry.sensor for entry in CATALOGUE if entry.sensor}
    assert replaced == {
        "batch_job_queue_sensor",
        "publishing_queue_sensor",
        "production_health_sensor",
    }, f"the catalogue's sensors changed: {sorted(replaced)}"
    for name in replaced:
        sensor = defs.resolve_sensor_def(name)
        label = label_for_sensor(name)
        assert label is not None
        assert sensor.tags.get(LEGACY_CLASS_TAG) == label.tags[LEGACY_CLASS_TAG], name
        assert sensor.tags.get(LEGACY_NAME_TAG) == label.tags[LEGACY_NAME_TAG], name
        assert (sensor.description or "").startswith(label.prefix), sensor.description
    failure_sensor = defs.resolve_sensor_def("run_failure_email_sensor")
    assert LEGACY_CLASS_TAG not in failure_sensor.tags, "the failure mail is new"


@pytest.mark.parametrize(
    ("kind", "name", "search"),
    [
        ("job", "nightly_publishing", "Nightly Publishing"),
        ("schedule", "nightly_publishing", "Nightly Publishing"),
        ("job", "run_publishing_job", "Publishing Queue"),
        ("sensor", "publishing_queue_sensor", "Publishing Queue"),
        ("job", "sweep_files", "Hoover"),
        ("schedule", "sweep_files_nightly", "Hoover"),
        ("job", "monthly_stats_report", "PCIB Statistics Report"),
        ("schedule", "summary_translation_queue_nightly", "Summary Translation Queue Report"),
    ],
)
def test_an_operator_finds_the_legacy_name(
    defs: dg.Definitions, kind: str, name: str, search: str
) -> None:
    definition = {
        "job": defs.resolve_job_def,
        "schedule": defs.resolve_schedule_def,
        "sensor": defs.resolve_sensor_def,
    }[kind](name)
    assert search in (definition.description or ""), f"{kind} {name}: {definition.description!r}"
    assert search in definition.tags[LEGACY_NAME_TAG], f"{kind} {name}: {definition.tags}"


def test_relabelled_queue_sensor_still_requests_runs(
    defs: dg.Definitions, cdr_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labelled copy in Definitions evaluates like the sensor it was made from."""
    monkeypatch.setenv(WATCH_VARIABLE, "0")
    queued = insert_batch_job(cdr_db, "Broken URLs")
    labelled = defs.resolve_sensor_def("batch_job_queue_sensor")
    assert labelled is not batch_job_queue_sensor
    assert labelled.job_name == "run_batch_job"
    with dg.instance_for_test() as instance:
        context = queue_sensor_context(instance, cdr_db, "batch_job_queue_sensor")
        result = labelled(context)
    requests = result.run_requests if isinstance(result, dg.SensorResult) else []
    assert [r.run_key for r in requests] == [f"batch-{queued}"], (
        f"one request for queued row {queued}, got {[r.run_key for r in requests]}"
    )
