"""``purge_run_history`` deletes old finished runs and keeps recent and unfinished ones."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from cdr_dagster.jobs.maintenance import purge_run_history_job


def _age_run(instance: dg.DagsterInstance, run_id: str, days: int) -> None:
    """Move a run's creation time into the past (SQLite run storage of the test instance)."""
    import sqlalchemy as sa
    from dagster._core.storage.runs.schema import RunsTable

    created = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=days)
    with instance.run_storage.connect() as conn:
        conn.execute(
            sa.update(RunsTable)
            .where(RunsTable.c.run_id == run_id)
            .values(create_timestamp=created)
        )


def test_purge_deletes_only_old_finished_runs() -> None:
    with dg.instance_for_test() as instance:
        old_done = create_run_for_test(instance, job_name="x", status=dg.DagsterRunStatus.SUCCESS)
        old_failed = create_run_for_test(instance, job_name="x", status=dg.DagsterRunStatus.FAILURE)
        old_running = create_run_for_test(
            instance, job_name="x", status=dg.DagsterRunStatus.STARTED
        )
        recent = create_run_for_test(instance, job_name="x", status=dg.DagsterRunStatus.SUCCESS)
        for run in (old_done, old_failed, old_running):
            _age_run(instance, run.run_id, days=400)

        dry = purge_run_history_job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"purge_run_history_op": {"config": {"keep_days": 180, "dry_run": True}}}
            },
        )
        assert dry.success
        assert instance.get_run_by_id(old_done.run_id) is not None

        result = purge_run_history_job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"purge_run_history_op": {"config": {"keep_days": 180, "batch_size": 1}}}
            },
        )
        assert result.success
        assert instance.get_run_by_id(old_done.run_id) is None
        assert instance.get_run_by_id(old_failed.run_id) is None
        assert instance.get_run_by_id(old_running.run_id) is not None
        assert instance.get_run_by_id(recent.run_id) is not None
        [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
        assert output.step_output_data.metadata["runs"].value == 2
