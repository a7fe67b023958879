"""End to end: a real ``dagster-daemon`` with PostgreSQL instance storage works the CDR queues.

The daemon runs the repository's ``dagster.yaml`` (queued run coordinator, tag limits, threaded
sensors) on a temporary PostgreSQL database, with a workspace holding only the queue sensors and
jobs and their real resources (``queue_location``). Batch jobs are queued in the PostgreSQL CDR
database before the daemon starts, while it runs, just before it is killed (SIGKILL, as a
crash) and while it is down; after a restart every job has run exactly once (one script
invocation, one Dagster run) and ended ``Completed``; a publishing job queued on the way ran
once and ended ``Success``. Nothing here sleeps for a fixed time to
decide an outcome: the test polls the database and the instance.
"""

from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from cdr_dagster_tests.queue_fixtures import (
    batch_row,
    engine_url,
    insert_batch_job,
    insert_publishing_job,
    invocations,
    publishing_row,
    queue_daemon,
    runs_of_batch_job,
    wait_for,
    write_cdr_scripts,
)
from cdr_dagster_tests.services.daemon import DagsterDaemon

#: Generous: on a loaded two-core machine every run is a new Python process importing Dagster.
SETTLE_SECONDS = 240


def wait_until_completed(cdr_db: Engine, daemon: DagsterDaemon, job_ids: list[int]) -> None:
    """Poll until every job in ``job_ids`` has ended; fail naming the stragglers."""

    def statuses() -> dict[int, str]:
        return {job_id: batch_row(cdr_db, job_id).status for job_id in job_ids}

    def ended() -> bool:
        return all(s in ("Completed", "Aborted", "Stopped") for s in statuses().values())

    wait_for(
        ended,
        SETTLE_SECONDS,
        f"batch jobs {job_ids} to end",
        explain=lambda: f"statuses: {statuses()}\ndaemon log:\n{daemon.log_tail()}",
    )


@pytest.mark.timeout(900)
def test_the_daemon_runs_each_queued_batch_job_exactly_once(cdr_db: Engine, tmp_path: Path) -> None:
    basedir = write_cdr_scripts(tmp_path / "cdr", engine_url(cdr_db))
    with queue_daemon(tmp_path / "dagster_home", engine_url(cdr_db), basedir) as daemon:
        # Queued before the daemon starts.
        before_start = [insert_batch_job(cdr_db, "Quiet Report") for _ in range(2)]
        daemon.start()
        wait_until_completed(cdr_db, daemon, before_start)

        # Queued while it runs: a report that signals its own statuses, a shell command, and
        # a publishing job (through the other queue, in its one-at-a-time lane).
        while_running = [
            insert_batch_job(cdr_db, "Broken URLs"),
            insert_batch_job(cdr_db, "Shell Report", command="bin/report.sh"),
        ]
        publishing = insert_publishing_job(cdr_db, "Export")
        wait_until_completed(cdr_db, daemon, while_running)
        wait_for(
            lambda: publishing_row(cdr_db, publishing).status in ("Success", "Failure"),
            SETTLE_SECONDS,
            f"publishing job {publishing} to end",
            explain=daemon.log_tail,
        )

        # Queued just before a crash: kill the daemon as soon as the sensor has seen the burst,
        # while runs are requested, queued or starting, and rows are still Queued.
        burst = [insert_batch_job(cdr_db, "Quiet Report") for _ in range(4)]
        instance = daemon.instance
        wait_for(
            lambda: any(runs_of_batch_job(instance, job_id) for job_id in burst),
            SETTLE_SECONDS,
            "the sensor to request runs for the burst",
            explain=daemon.log_tail,
            interval=0.1,
        )
        daemon.kill()
        at_kill = {job_id: batch_row(cdr_db, job_id).status for job_id in burst}
        assert "Queued" in at_kill.values(), at_kill  # runs requested, rows not yet claimed

        # Queued while it is down; then a new daemon picks everything up.
        while_down = [insert_batch_job(cdr_db, "Quiet Report") for _ in range(2)]
        assert [batch_row(cdr_db, job_id).status for job_id in while_down] == ["Queued"] * 2
        daemon.start()
        wait_until_completed(cdr_db, daemon, burst + while_down)

        everything = before_start + while_running + burst + while_down
        wait_for(
            lambda: all(
                run.is_finished
                for job_id in everything
                for run in runs_of_batch_job(instance, job_id)
            ),
            SETTLE_SECONDS,
            "every run to finish",
            explain=daemon.log_tail,
        )

        for job_id in everything:
            row = batch_row(cdr_db, job_id)
            assert row.status == "Completed", (job_id, row.status, row.progress)
            runs = runs_of_batch_job(instance, job_id)
            assert len(runs) == 1, (job_id, [(r.run_id, r.status) for r in runs])
            run = runs[0]
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["dagster/run_key"] == f"batch-{job_id}"
            assert run.tags["dagster/sensor_name"] == "batch_job_queue_sensor"
            assert run.tags["cdr/lock"] == f"batch-{job_id}"
        # Each job's command started exactly once.
        assert sorted(invocations(basedir)) == sorted(everything)

        assert publishing_row(cdr_db, publishing).status == "Success"
        assert invocations(basedir, "publish") == [publishing]
        pub_runs = instance.get_runs(filters=dg.RunsFilter(tags={"cdr/pub-proc": str(publishing)}))
        assert [(r.status, r.tags["dagster/run_key"], r.tags["cdr/queue"]) for r in pub_runs] == [
            (dg.DagsterRunStatus.SUCCESS, f"pub-{publishing}", "publishing")
        ]
