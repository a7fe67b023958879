"""Batch-job queue: the data layer, ``run_batch_job`` and ``batch_job_queue_sensor``.

Everything runs against the session's PostgreSQL CDR database, with real scripts written into
a temporary CDR base folder (``queue_fixtures``); the scripts update their own row as the CDR's
CdrLongReports.py does. Every statement the code issues is also compiled for SQL Server.

No postponed annotations here: Dagster reads the type hints of the ops defined below.
"""

import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import event
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import queues
from cdr_dagster.jobs.batch_jobs import BATCH_JOB_TAG, BatchJobConfig, run_batch_job
from cdr_dagster.queue_sensors import (
    BATCH_INTERVAL_VARIABLE,
    DEFAULT_INTERVAL_SECONDS,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    WATCH_VARIABLE,
    batch_job_queue_sensor,
    interval_seconds,
    watch_seconds,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.settings import SettingsError
from cdr_dagster_tests.queue_fixtures import (
    BATCH_SCRIPT,
    batch_row,
    checked_resource,
    engine_url,
    insert_batch_job,
    inserted_later,
    invocations,
    queue_sensor_context,
    run_queue_job,
    write_cdr_scripts,
    write_script,
)

SENSOR = "batch_job_queue_sensor"


@pytest.fixture
def basedir(tmp_path: Path, cdr_db: Engine) -> Path:
    """A CDR base folder with the test's CdrLongReports.py and a shell report."""
    return write_cdr_scripts(tmp_path / "cdr", engine_url(cdr_db))


@pytest.fixture
def resources(cdr_db: Engine, basedir: Path) -> dict[str, object]:
    return {
        "cdr_db": checked_resource(engine_url(cdr_db)),
        "commands": CommandRunnerResource(basedir=str(basedir)),
    }


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def run_batch(
    instance: dg.DagsterInstance, resources: dict[str, object], job_id: int, **config: object
) -> tuple[dg.ExecuteInProcessResult, list[str], dict[str, object]]:
    """Run ``run_batch_job`` for ``job_id``; return the result, its log lines, its metadata."""
    return run_queue_job(
        run_batch_job,
        BatchJobConfig(batch_job_id=job_id, **config),
        (BATCH_JOB_TAG, job_id),
        instance,
        resources,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failure = result.get_step_failure_events()[0].step_failure_data
    return failure.user_failure_data.description if failure.user_failure_data else ""


# ---------------------------------------------------------------------------------------------
# Data layer
# ---------------------------------------------------------------------------------------------


def test_pending_rows_are_the_queued_ones_oldest_first(cdr_db: Engine) -> None:
    first = insert_batch_job(cdr_db, "Broken URLs")
    insert_batch_job(cdr_db, "Page Title Mismatches", status="In process")
    insert_batch_job(cdr_db, "Glossary Term Search", status="Completed")
    # SQL Server's collation matches any case; the legacy query relied on it.
    second = insert_batch_job(cdr_db, "Citations In Summaries", status="QUEUED")

    with cdr_db.connect() as conn:
        pending = queues.pending_batch_jobs(conn)
        limited = queues.pending_batch_jobs(conn, limit=1)

    assert pending == [
        queues.QueuedBatchJob(first, "Broken URLs", BATCH_SCRIPT),
        queues.QueuedBatchJob(second, "Citations In Summaries", BATCH_SCRIPT),
    ]
    assert limited == pending[:1]


def test_claim_is_compare_and_set(cdr_db: Engine) -> None:
    job_id = insert_batch_job(cdr_db, "Broken URLs")
    busy = insert_batch_job(cdr_db, "Page Title Mismatches", status="In process")
    before = datetime.now()

    with cdr_db.begin() as conn:
        assert queues.claim_batch_job(conn, job_id) is True
    with cdr_db.begin() as conn:
        assert queues.claim_batch_job(conn, job_id) is False
        assert queues.claim_batch_job(conn, busy) is False
        assert queues.claim_batch_job(conn, 999_999) is False

    row = batch_row(cdr_db, job_id)
    assert row.status == "Initiating"
    assert abs(row.status_dt - before) < timedelta(minutes=1)  # a fresh status_dt
    assert batch_row(cdr_db, busy).status == "In process"
    assert batch_row(cdr_db, busy).status_dt == datetime(2025, 7, 1, 9, 30)


def test_concurrent_claims_have_exactly_one_winner(cdr_db: Engine) -> None:
    job_id = insert_batch_job(cdr_db, "Broken URLs")
    start = threading.Barrier(8)
    wins: list[bool] = []

    def contender() -> None:
        with cdr_db.begin() as conn:
            start.wait()
            wins.append(queues.claim_batch_job(conn, job_id))

    threads = [threading.Thread(target=contender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(wins) == [False] * 7 + [True]
    assert batch_row(cdr_db, job_id).status == "Initiating"


def test_claim_and_final_update_are_plain_t_sql(cdr_db: Engine) -> None:
    job_id = insert_batch_job(cdr_db, "Broken URLs")
    seen: list[str] = []

    def record(conn, clause, multiparams, params, execution_options):
        if clause.is_dml:
            seen.append(str(clause.compile(dialect=mssql.dialect())))

    event.listen(cdr_db, "before_execute", record)
    try:
        with cdr_db.begin() as conn:
            queues.claim_batch_job(conn, job_id)
            queues.finish_batch_job(conn, job_id, 4)
    finally:
        event.remove(cdr_db, "before_execute", record)

    claim = " ".join(seen[0].split())
    # One statement; on SQL Server the status compares under the CDR's case-insensitive
    # collation, so it stays a bare, indexable column (lower() is only for PostgreSQL/SQLite).
    assert claim == (
        "UPDATE batch_job SET status_dt=CURRENT_TIMESTAMP, status=:status "
        "WHERE batch_job.id = :id_1 AND batch_job.status = :folded_1"
    )
    assert "WHERE batch_job.id = :id_1 AND batch_job.status = :folded_1" in seen[-1]
    assert "progress=:progress" in seen[-1] and "lower(" not in " ".join(seen)


def test_final_update_keeps_a_status_the_job_set(cdr_db: Engine) -> None:
    ended = {
        status: insert_batch_job(cdr_db, f"{status} job", status=status)
        for status in ("Completed", "Aborted", "Stopped")
    }
    running = insert_batch_job(cdr_db, "running", status="In process")
    stopping = insert_batch_job(cdr_db, "stopping", status="Stop")
    crashed = insert_batch_job(cdr_db, "crashed", status="Initiating")
    killed = insert_batch_job(cdr_db, "killed", status="In process")

    with cdr_db.begin() as conn:
        kept = [queues.finish_batch_job(conn, job_id, 1) for job_id in ended.values()]
        completed = queues.finish_batch_job(conn, running, 0)
        also_completed = queues.finish_batch_job(conn, stopping, 0)
        aborted = queues.finish_batch_job(conn, crashed, 3, detail="last output: boom")
        signalled = queues.finish_batch_job(conn, killed, -9)

    assert [(f.status, f.kept, f.message) for f in kept] == [
        ("Completed", True, None),
        ("Aborted", True, None),
        ("Stopped", True, None),
    ]
    assert [batch_row(cdr_db, i).status for i in ended.values()] == list(ended)
    assert (completed.status, completed.kept) == ("Completed", False)
    assert batch_row(cdr_db, running).progress is None  # left as the job wrote it
    assert also_completed.status == "Completed"
    assert aborted == queues.FinalStatus(
        crashed,
        "Aborted",
        kept=False,
        message="Batch job process ended with exit status 3: last output: boom",
    )
    assert batch_row(cdr_db, crashed).progress == aborted.message
    assert signalled.status == "Aborted"
    assert batch_row(cdr_db, killed).progress == (
        "Batch job process was killed by signal 9 (exit status -9)"
    )
    with cdr_db.begin() as conn, pytest.raises(queues.QueueRowMissingError):
        queues.abort_batch_job(conn, 999_999, "gone")


# ---------------------------------------------------------------------------------------------
# run_batch_job: every status path
# ---------------------------------------------------------------------------------------------


def test_exit_zero_completes_and_output_reaches_the_run_log(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_batch_job(cdr_db, "Quiet Report")

    result, messages, metadata = run_batch(instance, resources, job_id)

    assert result.success
    assert invocations(basedir) == [job_id]
    row = batch_row(cdr_db, job_id)
    assert row.status == "Completed" and row.progress is None
    assert f"batch job {job_id} (Quiet Report) found in status Initiating" in messages
    assert "términos: cáncer" in messages
    script = (basedir / BATCH_SCRIPT).resolve()
    assert any(m.startswith("processed ") and m.endswith(f"{script} {job_id}") for m in messages)
    assert metadata["final_status"] == "Completed"
    assert metadata["status_set_by"] == "this run"
    assert metadata["exit_code"] == 0


@pytest.mark.parametrize(
    ("name", "status", "progress", "succeeds"),
    [
        ("Broken URLs", "Completed", "Report ready: https://cdr.example.gov/CdrReports/", True),
        ("Failing Report", "Aborted", "Report failed: no such table query_term_pub", False),
        ("Stopped Report", "Stopped", "Stopped on request after 1 of 3 URLs", True),
        ("Completes Then Crashes", "Completed", "Checking 3 URLs", True),
    ],
)
def test_a_status_the_job_sets_itself_is_kept(
    cdr_db: Engine,
    basedir: Path,
    resources,
    instance,
    name: str,
    status: str,
    progress: str,
    succeeds: bool,
) -> None:
    job_id = insert_batch_job(cdr_db, name)

    result, messages, metadata = run_batch(instance, resources, job_id)

    row = batch_row(cdr_db, job_id)
    assert row.status == status
    assert row.progress.startswith(progress)
    assert metadata["final_status"] == status
    assert metadata["status_set_by"] == "the batch job"
    assert result.success is succeeds
    assert invocations(basedir) == [job_id]
    if not succeeds:
        assert failure_message(result).startswith(f"batch job {job_id} ({name}) ended Aborted")


def test_non_zero_exit_aborts_with_the_exit_status(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_batch_job(cdr_db, "Crashing Report")

    result, messages, metadata = run_batch(instance, resources, job_id)

    assert not result.success
    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert row.progress == (
        "Batch job process ended with exit status 3: last output: RuntimeError: boom"
    )
    assert metadata["exit_code"] == 3
    assert metadata["status_set_by"] == "this run"
    assert "RuntimeError: boom" in messages
    assert "ended Aborted: Batch job process ended with exit status 3" in failure_message(result)


def test_other_commands_run_directly_with_the_job_id(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    relative = insert_batch_job(cdr_db, "Shell Report", command="bin/report.sh")
    absolute = insert_batch_job(cdr_db, "Quiet Report", command=str(basedir / BATCH_SCRIPT))

    first, messages, _ = run_batch(instance, resources, relative)
    second, _, _ = run_batch(instance, resources, absolute)

    assert first.success and second.success
    assert f"shell report for job {relative}" in messages
    assert invocations(basedir) == [relative, absolute]
    assert batch_row(cdr_db, relative).status == "Completed"
    assert batch_row(cdr_db, absolute).status == "Completed"


def test_a_missing_command_aborts_with_a_clear_message(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_batch_job(cdr_db, "Broken URLs", command="lib/Python/NoSuchReport.py")

    result, messages, metadata = run_batch(instance, resources, job_id)

    assert not result.success
    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert row.progress.startswith(
        "Batch job command 'lib/Python/NoSuchReport.py' cannot be run: script "
        "'lib/Python/NoSuchReport.py' not found under the CDR base folder"
    )
    assert invocations(basedir) == []
    assert metadata["progress"] == row.progress


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_command_outside_the_base_folder_is_refused(
    cdr_db: Engine, basedir: Path, tmp_path: Path, resources, instance, where: str
) -> None:
    outside = write_script(tmp_path / "outside.py", "open('escaped', 'w').write('x')\n")
    command = "../outside.py" if where == "relative" else str(outside)
    job_id = insert_batch_job(cdr_db, "Broken URLs", command=command)

    result, _, _ = run_batch(instance, resources, job_id)

    assert not result.success
    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert "is outside the CDR base folder" in row.progress and "refused" in row.progress
    assert not (tmp_path / "escaped").exists() and not (basedir / "escaped").exists()


@pytest.mark.parametrize("status", ["Initiating", "In process", "Completed", "Aborted"])
def test_a_row_someone_else_claimed_is_skipped(
    cdr_db: Engine, basedir: Path, resources, instance, status: str
) -> None:
    job_id = insert_batch_job(cdr_db, "Broken URLs", status=status)

    result, messages, metadata = run_batch(instance, resources, job_id)

    assert result.success
    assert invocations(basedir) == []
    row = batch_row(cdr_db, job_id)
    assert (row.status, row.status_dt, row.progress) == (status, datetime(2025, 7, 1, 9, 30), None)
    assert metadata == {"outcome": "skipped", "status": status}
    assert any("somebody else started it; skipped" in m for m in messages)


def test_the_same_row_runs_once_however_often_its_run_is_launched(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_batch_job(cdr_db, "Quiet Report")

    outcomes = [run_batch(instance, resources, job_id)[2]["outcome"] for _ in range(3)]

    assert outcomes == ["ran", "skipped", "skipped"]
    assert invocations(basedir) == [job_id]


def test_a_missing_row_is_reported_not_run(resources, instance, basedir: Path) -> None:
    result, messages, metadata = run_batch(instance, resources, 987_654)

    assert result.success
    assert metadata == {"outcome": "missing"}
    assert "batch job 987654 does not exist; nothing to run" in messages


def test_a_job_over_its_time_limit_is_killed_and_aborted(
    cdr_db: Engine, resources, instance
) -> None:
    job_id = insert_batch_job(cdr_db, "Slow Report")

    result, _, _ = run_batch(instance, resources, job_id, timeout_seconds=2)

    assert not result.success
    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert row.progress.startswith("Batch job process was killed by signal")
    assert row.progress.endswith("killed after its time limit of 2.0 s")


class FailingRunner(CommandRunnerResource):
    """A runner whose run breaks down after the job was started (lost worker, bug, ...)."""

    def run(self, script, args=(), **kwargs):  # noqa: ANN001, ANN003, ANN201 - test double
        super().command_line(script, args)
        raise RuntimeError("connection to the run worker lost")


def test_an_error_after_the_claim_still_finalises_the_row(
    cdr_db: Engine, basedir: Path, instance
) -> None:
    job_id = insert_batch_job(cdr_db, "Quiet Report")
    resources = {
        "cdr_db": checked_resource(engine_url(cdr_db)),
        "commands": FailingRunner(basedir=str(basedir)),
    }

    result, messages, _ = run_batch(instance, resources, job_id)

    assert not result.success
    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert row.progress == (
        f"Aborted: the Dagster run {result.run_id} ended early "
        "(RuntimeError: connection to the run worker lost)"
    )
    assert any(m.startswith(f"batch job {job_id} recorded as Aborted") for m in messages)


# A run whose worker dies right after the claim (no finally can run), and its re-execution.


class DyingRunner(CommandRunnerResource):
    """A runner whose process dies the moment it is asked to start the job."""

    def run(self, script, args=(), **kwargs):  # noqa: ANN001, ANN003, ANN201 - test double
        os._exit(9)


def _resources_from_env(runner: type[CommandRunnerResource]) -> dict[str, object]:
    return {
        "cdr_db": CdrDatabaseResource(url=os.environ["CDR_TEST_QUEUE_DB_URL"]),
        "commands": runner(basedir=os.environ["CDR_TEST_QUEUE_BASEDIR"]),
    }


def dying_batch_job() -> dg.JobDefinition:
    """run_batch_job whose worker dies after the claim (reconstructable in a new process).

    The shipped job runs its op in the run worker itself; here the op runs in a step process
    of its own (the multiprocess executor), so that its death ends a process that is not the
    test's, and the run is recorded as failed as run monitoring records a dead worker's run.
    """
    dying = run_batch_job.with_executor_def(dg.multiprocess_executor)
    defs = dg.Definitions(jobs=[dying], resources=_resources_from_env(DyingRunner))
    return defs.resolve_job_def("run_batch_job")


def healthy_batch_job() -> dg.JobDefinition:
    """run_batch_job with the real runner (reconstructable in a new process)."""
    defs = dg.Definitions(
        jobs=[run_batch_job], resources=_resources_from_env(CommandRunnerResource)
    )
    return defs.resolve_job_def("run_batch_job")


def test_a_re_execution_after_a_dead_run_aborts_the_row_instead_of_rerunning(
    cdr_db: Engine, basedir: Path, monkeypatch: pytest.MonkeyPatch, instance
) -> None:
    monkeypatch.setenv("CDR_TEST_QUEUE_DB_URL", engine_url(cdr_db))
    monkeypatch.setenv("CDR_TEST_QUEUE_BASEDIR", str(basedir))
    job_id = insert_batch_job(cdr_db, "Quiet Report")
    config = {"ops": {"run_batch_job_op": {"config": {"batch_job_id": job_id}}}}

    with dg.execute_job(
        dg.reconstructable(dying_batch_job),
        instance,
        run_config=config,
        tags={BATCH_JOB_TAG: str(job_id)},
    ) as dead:
        assert not dead.success
    assert batch_row(cdr_db, job_id).status == "Initiating"  # nobody could finalise it

    with dg.execute_job(
        dg.reconstructable(healthy_batch_job),
        instance,
        reexecution_options=dg.ReexecutionOptions.from_failure(dead.run_id, instance),
    ) as retry:
        assert retry.success

    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert row.progress.startswith(f"Aborted by Dagster run {retry.run_id}: the run {dead.run_id}")
    assert invocations(basedir) == []  # never started twice (nor, here, at all)


# ---------------------------------------------------------------------------------------------
# batch_job_queue_sensor
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def one_look_per_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticks in this module look once (watch 0) unless a test watches on purpose."""
    monkeypatch.setenv(WATCH_VARIABLE, "0")


def sensor_context(
    instance: dg.DagsterInstance, cdr_db: Engine, **kwargs
) -> dg.SensorEvaluationContext:
    return queue_sensor_context(instance, cdr_db, SENSOR, **kwargs)


def record_requested_runs(
    instance: dg.DagsterInstance, requests: list[dg.RunRequest], sensor: str = SENSOR
) -> None:
    """Create the runs the daemon would create for ``requests`` (not started yet)."""
    for request in requests:
        instance.create_run_for_job(
            job_def=run_batch_job,
            run_config=request.run_config,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: sensor},
            status=dg.DagsterRunStatus.NOT_STARTED,
        )


def test_sensor_requests_one_run_per_queued_row(cdr_db: Engine, instance) -> None:
    first = insert_batch_job(cdr_db, "Broken URLs")
    insert_batch_job(cdr_db, "Page Title Mismatches", status="In process")
    second = insert_batch_job(cdr_db, "Glossary Term Search", command="bin/report.sh")

    result = batch_job_queue_sensor(sensor_context(instance, cdr_db))

    assert isinstance(result, dg.SensorResult)
    requests = result.run_requests
    assert [r.run_key for r in requests] == [f"batch-{first}", f"batch-{second}"]
    assert requests[0].tags == {
        "cdr/batch-job": str(first),
        "cdr/batch-job-name": "Broken URLs",
        "cdr/lock": f"batch-{first}",
        "cdr/queue": "batch",
    }
    config = requests[1].run_config
    assert config["ops"]["run_batch_job_op"]["config"]["batch_job_id"] == second
    # The requested config is what the job accepts.
    validated = dg.validate_run_config(run_batch_job, config)
    assert validated["ops"]["run_batch_job_op"]["config"]["batch_job_id"] == second


def test_sensor_skips_when_nothing_is_queued(cdr_db: Engine, instance) -> None:
    insert_batch_job(cdr_db, "Broken URLs", status="Completed")

    result = batch_job_queue_sensor(sensor_context(instance, cdr_db))

    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "no Queued batch jobs waiting"


def test_sensor_does_not_request_a_row_twice(cdr_db: Engine, instance) -> None:
    first = insert_batch_job(cdr_db, "Broken URLs")
    second = insert_batch_job(cdr_db, "Glossary Term Search")
    context = sensor_context(instance, cdr_db)

    tick1 = batch_job_queue_sensor(context)
    record_requested_runs(instance, tick1.run_requests)  # the daemon launched them
    tick2 = batch_job_queue_sensor(context)  # the runs have not claimed their rows yet
    third = insert_batch_job(cdr_db, "Citations In Summaries")
    tick3 = batch_job_queue_sensor(context)

    assert [r.run_key for r in tick1.run_requests] == [f"batch-{first}", f"batch-{second}"]
    assert isinstance(tick2, dg.SkipReason)
    assert tick2.skip_message == (
        "2 Queued batch jobs waiting, all with runs already requested: "
        f"batch-{first}, batch-{second}"
    )
    assert [r.run_key for r in tick3.run_requests] == [f"batch-{third}"]


def test_run_keys_of_another_sensor_do_not_count(cdr_db: Engine, instance) -> None:
    job_id = insert_batch_job(cdr_db, "Broken URLs")
    tick1 = batch_job_queue_sensor(sensor_context(instance, cdr_db))
    record_requested_runs(instance, tick1.run_requests, sensor="some_other_sensor")

    tick2 = batch_job_queue_sensor(sensor_context(instance, cdr_db))

    assert [r.run_key for r in tick2.run_requests] == [f"batch-{job_id}"]


def test_a_row_its_run_claimed_is_no_longer_requested(cdr_db: Engine, resources, instance) -> None:
    job_id = insert_batch_job(cdr_db, "Quiet Report")
    assert batch_job_queue_sensor(sensor_context(instance, cdr_db)).run_requests

    run_batch(instance, resources, job_id)

    assert isinstance(batch_job_queue_sensor(sensor_context(instance, cdr_db)), dg.SkipReason)


def test_a_tick_watches_and_requests_a_row_queued_after_it_began(
    cdr_db: Engine, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WATCH_VARIABLE, "4")

    with inserted_later(1.0, lambda: insert_batch_job(cdr_db, "Broken URLs")) as inserted:
        result = batch_job_queue_sensor(sensor_context(instance, cdr_db))  # nothing queued yet

    assert isinstance(result, dg.SensorResult)
    assert [r.run_key for r in result.run_requests] == [f"batch-{inserted[0]}"]


def test_a_watching_tick_skips_rows_already_requested_and_waits_for_new_ones(
    cdr_db: Engine, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = insert_batch_job(cdr_db, "Broken URLs")
    record_requested_runs(
        instance, batch_job_queue_sensor(sensor_context(instance, cdr_db)).run_requests
    )
    monkeypatch.setenv(WATCH_VARIABLE, "4")

    with inserted_later(1.0, lambda: insert_batch_job(cdr_db, "Citations")) as inserted:
        result = batch_job_queue_sensor(sensor_context(instance, cdr_db))

    assert [r.run_key for r in result.run_requests] == [f"batch-{inserted[0]}"]
    assert f"batch-{first}" not in {r.run_key for r in result.run_requests}


def test_a_watching_tick_with_nothing_queued_skips_when_its_watch_is_over(
    cdr_db: Engine, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WATCH_VARIABLE, "1.5")
    began = time.monotonic()

    result = batch_job_queue_sensor(sensor_context(instance, cdr_db))

    assert time.monotonic() - began >= 1.5  # it kept looking for the whole watch
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "no Queued batch jobs waiting"


def test_a_watching_tick_holds_no_transaction_open_between_looks(
    cdr_db: Engine, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every look is a query in autocommit mode: the CDR database never sees the sensor's
    connection idle inside a transaction (which would hold locks and snapshots for the watch)."""
    monkeypatch.setenv(WATCH_VARIABLE, "2")
    states: list[str] = []
    with cdr_db.connect() as watcher:
        watcher.execution_options(isolation_level="AUTOCOMMIT")
        own_pid = watcher.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        tick = threading.Thread(
            target=lambda: batch_job_queue_sensor(sensor_context(instance, cdr_db))
        )
        tick.start()
        while tick.is_alive():
            states.extend(
                watcher.exec_driver_sql(
                    "SELECT state FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid != %s AND state IS NOT NULL",
                    (own_pid,),
                ).scalars()
            )
            time.sleep(0.05)
        tick.join()
    assert states, "no connection of the sensor was ever seen by the database"
    assert "idle in transaction" not in states, f"states seen during the watch: {set(states)}"


def test_watch_time_comes_from_the_environment() -> None:
    assert watch_seconds({}) == 48.5  # just under ten 5 s daemon rounds
    assert watch_seconds({WATCH_VARIABLE: "0"}) == 0
    assert watch_seconds({WATCH_VARIABLE: " 2.5 "}) == 2.5
    with pytest.raises(SettingsError, match="CDR_QUEUE_WATCH_SECONDS='long'"):
        watch_seconds({WATCH_VARIABLE: "long"})
    assert watch_seconds({WATCH_VARIABLE: "48.5"}) == 48.5
    with pytest.raises(SettingsError, match="'50' must be at least 0 and under 50 seconds"):
        watch_seconds({WATCH_VARIABLE: "50"})
    with pytest.raises(SettingsError, match="'-1'"):
        watch_seconds({WATCH_VARIABLE: "-1"})
    with pytest.raises(SettingsError, match="'nan' is not a number of seconds"):
        watch_seconds({WATCH_VARIABLE: "nan"})


def test_sensor_definition() -> None:
    assert batch_job_queue_sensor.name == SENSOR
    assert batch_job_queue_sensor.job_name == "run_batch_job"
    assert batch_job_queue_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert batch_job_queue_sensor.minimum_interval_seconds == DEFAULT_INTERVAL_SECONDS == 1
    assert "cdr_db" in batch_job_queue_sensor.required_resource_keys


def test_interval_comes_from_the_environment() -> None:
    assert interval_seconds(BATCH_INTERVAL_VARIABLE, {}) == 1
    assert interval_seconds(BATCH_INTERVAL_VARIABLE, {BATCH_INTERVAL_VARIABLE: " 10 "}) == 10
    with pytest.raises(SettingsError, match="CDR_BATCH_QUEUE_INTERVAL_SECONDS='often'"):
        interval_seconds(BATCH_INTERVAL_VARIABLE, {BATCH_INTERVAL_VARIABLE: "often"})
    with pytest.raises(SettingsError, match="at least 1 second"):
        interval_seconds(BATCH_INTERVAL_VARIABLE, {BATCH_INTERVAL_VARIABLE: "0"})


def test_the_queue_code_location_loads() -> None:
    from cdr_dagster_tests.queue_location import defs

    dg.Definitions.validate_loadable(defs)
    repository = defs.get_repository_def()
    repository.load_all_definitions()
    assert {job.name for job in repository.get_all_jobs()} >= {
        "run_batch_job",
        "run_publishing_job",
    }
    assert {sensor.name for sensor in repository.sensor_defs} == {
        "batch_job_queue_sensor",
        "publishing_queue_sensor",
        "run_failure_email_sensor",
        "queue_run_canceled_sensor",
    }
