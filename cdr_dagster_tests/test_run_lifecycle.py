"""The run lifecycle's parts, each against real processes, a real Dagster instance and the
session's PostgreSQL CDR database: telling a dead run worker, finishing the queue row a dead
run left claimed, requesting a row again whose run ended before its claim, and the lanes.

The daemon-level scenarios (kill the whole process tree, restart, count) are in
``test_run_lifecycle_e2e.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from sqlalchemy.engine import Engine

from cdr_dagster.jobs.batch_jobs import BatchJobConfig, batch_job_tags, run_batch_job
from cdr_dagster.jobs.publishing_queue import publishing_job_tags, run_publishing_job
from cdr_dagster.lanes import LANE_PRIORITIES, LANE_TAG, PRIORITY_TAG
from cdr_dagster.processes import Liveness, ProcessRecord, liveness, this_host
from cdr_dagster.queue_recovery import MAX_ATTEMPTS, settle_row_of_ended_run
from cdr_dagster.queue_sensors import (
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    WATCH_VARIABLE,
    batch_job_queue_sensor,
)
from cdr_dagster.run_launcher import WORKER_HOST_TAG, HostRunLauncher
from cdr_dagster.sensors import queue_run_canceled_sensor, run_failure_email_sensor
from cdr_dagster_tests.cdr_rows import developers_email
from cdr_dagster_tests.queue_fixtures import (
    batch_row,
    checked_resource,
    engine_url,
    insert_batch_job,
    insert_publishing_job,
    publishing_row,
    queue_sensor_context,
)

LAUNCHER = {"module": "cdr_dagster.run_launcher", "class": "HostRunLauncher"}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"run_launcher": LAUNCHER}) as instance:
        yield instance


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    """A real process that lives until the test kills it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def end(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


# ---------------------------------------------------------------------------------------------
# Is a recorded process alive?
# ---------------------------------------------------------------------------------------------


def test_a_live_process_is_alive_and_a_killed_one_dead(sleeper: subprocess.Popen) -> None:
    record = ProcessRecord(host=this_host(), pid=sleeper.pid, seen_at=time.time())
    assert liveness(record) is Liveness.ALIVE
    end(sleeper)
    assert liveness(record) is Liveness.DEAD


def test_a_process_started_after_the_record_only_reuses_the_id(sleeper: subprocess.Popen) -> None:
    """After a reboot the id names another process: it started after the record was made."""
    long_ago = time.time() - 3600
    assert liveness(ProcessRecord(this_host(), sleeper.pid, long_ago)) is Liveness.DEAD


def test_a_process_on_another_host_is_not_judged_here(sleeper: subprocess.Popen) -> None:
    record = ProcessRecord("cdr-prod-web.nci.nih.gov", sleeper.pid, time.time())
    assert liveness(record) is Liveness.ELSEWHERE
    assert liveness(ProcessRecord("localhost", sleeper.pid, time.time())) is Liveness.ALIVE


# ---------------------------------------------------------------------------------------------
# HostRunLauncher: the health check run monitoring asks
# ---------------------------------------------------------------------------------------------


def started_run(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition = run_batch_job,
    tags: dict[str, str] | None = None,
    pid: int | None = None,
    host: str | None = None,
) -> dg.DagsterRun:
    """A run in status STARTED whose worker, if ``pid`` is given, is process ``pid`` on
    ``host`` (recorded as the launcher and the run worker record them)."""
    all_tags = dict(tags or {})
    if host is not None:
        all_tags[WORKER_HOST_TAG] = host
    row_id = int(all_tags.get("cdr/batch-job") or all_tags.get("cdr/pub-proc") or 1)
    field = "batch_job_id" if job is run_batch_job else "pub_proc_id"
    run_config = {"ops": {f"{job.name}_op": {"config": {field: row_id}}}}
    run = instance.create_run_for_job(job_def=job, run_config=run_config, tags=all_tags)
    if pid is not None:
        instance.report_engine_event(
            f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
        )
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(event_type_value="PIPELINE_START", job_name=job.name, message="started"),
    )
    started = instance.get_run_by_id(run.run_id)
    assert started is not None and started.status == dg.DagsterRunStatus.STARTED
    return started


def test_the_instance_uses_the_checking_launcher(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_launcher, HostRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health


def test_a_run_whose_worker_died_is_reported_failed(
    instance: dg.DagsterInstance, sleeper: subprocess.Popen
) -> None:
    run = started_run(instance, pid=sleeper.pid, host=this_host())
    launcher = instance.run_launcher

    alive = launcher.check_run_worker_health(run)
    end(sleeper)
    dead = launcher.check_run_worker_health(run)

    assert alive.status == WorkerStatus.RUNNING, alive.msg
    assert dead.status == WorkerStatus.FAILED, dead.msg
    assert f"process {sleeper.pid} on {this_host()}" in (dead.msg or "")
    assert "is gone" in (dead.msg or "")


def test_runs_on_another_host_or_not_launched_by_a_daemon_are_left_alone(
    instance: dg.DagsterInstance, sleeper: subprocess.Popen
) -> None:
    elsewhere = started_run(instance, pid=sleeper.pid, host="cdr-prod-web.nci.nih.gov")
    in_process = started_run(instance, pid=None, host=None)
    no_pid_yet = started_run(instance, pid=None, host=this_host())
    end(sleeper)  # the pid is dead here, which says nothing about the other host

    launcher = instance.run_launcher
    for run, why in [
        (elsewhere, "runs on cdr-prod-web"),
        (in_process, "no run worker host recorded"),
        (no_pid_yet, "not recorded its process id"),
    ]:
        result = launcher.check_run_worker_health(run)
        assert result.status == WorkerStatus.RUNNING, f"{why}: {result.msg}"
        assert why in (result.msg or "")


# ---------------------------------------------------------------------------------------------
# The queue row a dead run left claimed
# ---------------------------------------------------------------------------------------------


def fail_run(instance: dg.DagsterInstance, run: dg.DagsterRun, message: str) -> dg.DagsterRun:
    """Fail ``run`` as run monitoring does."""
    instance.report_run_failed(run, message)
    failed = instance.get_run_by_id(run.run_id)
    assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
    return failed


def set_batch_status(engine: Engine, job_id: int, status: str) -> None:
    from cdr_dagster.cdr.schema import batch_job

    with engine.begin() as conn:
        conn.execute(batch_job.update().where(batch_job.c.id == job_id).values(status=status))


def test_a_batch_row_left_in_process_by_a_dead_run_is_aborted_with_the_reason(
    cdr_db: Engine, instance: dg.DagsterInstance
) -> None:
    job_id = insert_batch_job(cdr_db, "Slow Report", status="In process")
    run = started_run(instance, tags=batch_job_tags(job_id, "Slow Report"))
    failed = fail_run(instance, run, "the run worker (process 4242 on cdr-dev) is gone")

    line = settle_row_of_ended_run(instance, failed, checked_resource(engine_url(cdr_db)), "x")
    again = settle_row_of_ended_run(instance, failed, checked_resource(engine_url(cdr_db)), "x")

    row = batch_row(cdr_db, job_id)
    assert row.status == "Aborted"
    assert row.progress.startswith(f"Aborted by the CDR scheduler: the Dagster run {run.run_id}")
    assert "ended (FAILURE: x) without recording how the job ended" in row.progress
    assert line is not None and f"batch job {job_id} (Slow Report)" in line
    assert "was left in status 'In process'; recorded as Aborted" in line
    assert again is None, "a row already finished must not be finished twice"


def test_a_publishing_job_left_started_by_a_dead_run_ends_in_failure(
    cdr_db: Engine, instance: dg.DagsterInstance
) -> None:
    job_id = insert_publishing_job(cdr_db, "Export", status="In process")
    run = started_run(instance, job=run_publishing_job, tags=publishing_job_tags(job_id, "Export"))
    failed = fail_run(instance, run, "worker gone")

    line = settle_row_of_ended_run(instance, failed, checked_resource(engine_url(cdr_db)))

    row = publishing_row(cdr_db, job_id)
    assert row.status == "Failure", "Failure is what the CDR's publisher records for a failed job"
    assert row.completed is not None
    assert f"the Dagster run {run.run_id} that started this publishing job" in row.messages
    assert line is not None and "recorded as Failure" in line


def test_rows_waiting_final_or_owned_by_another_live_run_are_not_touched(
    cdr_db: Engine, instance: dg.DagsterInstance
) -> None:
    cdr = checked_resource(engine_url(cdr_db))
    waiting = insert_batch_job(cdr_db, "Quiet Report", status="Queued")
    final = insert_batch_job(cdr_db, "Quiet Report", status="Completed")
    owned = insert_batch_job(cdr_db, "Quiet Report", status="In process")
    for job_id in (waiting, final, owned):
        run = fail_run(instance, started_run(instance, tags=batch_job_tags(job_id)), "gone")
        if job_id == owned:
            started_run(instance, tags=batch_job_tags(job_id))  # e.g. an operator's re-execution
        assert settle_row_of_ended_run(instance, run, cdr) is None, f"row {job_id} was touched"

    statuses = [batch_row(cdr_db, job_id).status for job_id in (waiting, final, owned)]
    assert statuses == ["Queued", "Completed", "In process"]


def failure_sensor_context(
    instance: dg.DagsterInstance, run: dg.DagsterRun, cdr_db: Engine, mailbox
) -> dg.RunFailureSensorContext:
    failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
    email = developers_email(cdr_db, mailbox)
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_email_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure.dagster_event,
        resources={"email": email, "cdr_db": email.cdr_db},
    )


def test_the_failure_mail_of_a_dead_queue_run_says_what_became_of_its_row(
    cdr_db: Engine, instance: dg.DagsterInstance, mailbox
) -> None:
    job_id = insert_batch_job(cdr_db, "Slow Report", status="Initiating")
    run = started_run(instance, tags=batch_job_tags(job_id, "Slow Report"))
    failed = fail_run(instance, run, "Detected run worker status FAILED: the worker is gone")

    with failure_sensor_context(instance, failed, cdr_db, mailbox) as context:
        run_failure_email_sensor(context.for_run_failure())

    assert batch_row(cdr_db, job_id).status == "Aborted"
    [mail] = mailbox.messages
    body = mail.message.get_content()
    assert (
        f"CDR queue row: batch job {job_id} (Slow Report) was left in status 'Initiating'" in body
    )
    assert "recorded as Aborted" in body and "the worker is gone" in body


def test_a_canceled_queue_run_that_left_its_row_claimed_is_settled_and_mailed(
    cdr_db: Engine, instance: dg.DagsterInstance, mailbox
) -> None:
    claimed = insert_publishing_job(cdr_db, "Export", status="Started")
    waiting = insert_publishing_job(cdr_db, "Export", status="Ready")
    email = developers_email(cdr_db, mailbox)
    for job_id in (claimed, waiting):
        run = started_run(
            instance, job=run_publishing_job, tags=publishing_job_tags(job_id, "Export")
        )
        instance.report_run_canceled(run, "canceled by an operator")
        canceled = instance.get_run_by_id(run.run_id)
        event = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_CANCELED)[-1]
        with dg.build_run_status_sensor_context(
            sensor_name="queue_run_canceled_sensor",
            dagster_instance=instance,
            dagster_run=canceled,
            dagster_event=event.dagster_event,
            resources={"email": email, "cdr_db": email.cdr_db},
        ) as context:
            queue_run_canceled_sensor(context)

    assert publishing_row(cdr_db, claimed).status == "Failure"
    assert publishing_row(cdr_db, waiting).status == "Ready", "a waiting row is requested again"
    [mail] = mailbox.messages  # only the row that had to be finished is mailed
    assert f"publishing job {claimed} (Export)" in mail.message.get_content()


# ---------------------------------------------------------------------------------------------
# A waiting row whose run ended before its claim is requested again
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def one_look(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WATCH_VARIABLE, "0")


def launch_as_the_daemon(
    instance: dg.DagsterInstance, request: dg.RunRequest, status: dg.DagsterRunStatus
) -> dg.DagsterRun:
    """Create the run the daemon would create for ``request``, in ``status``."""
    return instance.create_run_for_job(
        job_def=run_batch_job,
        run_config=request.run_config,
        tags={
            **request.tags,
            RUN_KEY_TAG: request.run_key,
            SENSOR_NAME_TAG: "batch_job_queue_sensor",
        },
        status=status,
    )


def test_a_row_whose_runs_ended_unclaimed_is_requested_again_then_left_to_operators(
    cdr_db: Engine, instance: dg.DagsterInstance, mailbox, one_look: None
) -> None:
    job_id = insert_batch_job(cdr_db, "Quiet Report")
    email = developers_email(cdr_db, mailbox)
    cursor = None
    keys = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        context = queue_sensor_context(
            instance, cdr_db, "batch_job_queue_sensor", email=email, cursor=cursor
        )
        result = batch_job_queue_sensor(context)
        assert isinstance(result, dg.SensorResult), f"attempt {attempt} was not requested"
        [request] = result.run_requests
        keys.append(request.run_key)
        assert BatchJobConfig(**request.run_config["ops"]["run_batch_job_op"]["config"])
        # (NOT_STARTED stands in for QUEUED, which needs a run launched from a workspace.)
        queued = launch_as_the_daemon(instance, request, dg.DagsterRunStatus.NOT_STARTED)
        # While the run is queued, nothing more is requested.
        waiting = batch_job_queue_sensor(
            queue_sensor_context(instance, cdr_db, "batch_job_queue_sensor", email=email)
        )
        assert isinstance(waiting, dg.SkipReason)
        assert "all with runs already requested" in waiting.skip_message
        instance.report_run_canceled(queued, "canceled while queued")  # never claimed the row
        cursor = context.cursor

    assert keys == [f"batch-{job_id}", f"batch-{job_id}#2", f"batch-{job_id}#3"]
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"cdr/batch-job": str(job_id)}))
    assert sorted(run.tags.get("cdr/attempt", "1") for run in runs) == ["1", "2", "3"]

    reports = []
    for _ in range(2):  # two ticks after the last attempt: one mail
        context = queue_sensor_context(
            instance, cdr_db, "batch_job_queue_sensor", email=email, cursor=cursor
        )
        reports.append(batch_job_queue_sensor(context))
        cursor = context.cursor
    assert all(isinstance(r, dg.SkipReason) for r in reports), reports
    assert f"left for the operators after {MAX_ATTEMPTS} runs: {job_id}" in reports[0].skip_message
    assert json.loads(cursor) == [job_id]
    [mail] = mailbox.messages
    assert (
        f"CDR batch job {job_id} (Quiet Report) was not started after 3 Dagster runs"
        in (mail.message["Subject"])
    )
    body = mail.message.get_content()
    assert all(run.run_id in body for run in runs), "the mail names every run of the row"
    assert batch_row(cdr_db, job_id).status == "Queued", "the row is left for the operators"


def test_a_run_that_claimed_its_row_is_never_followed_by_another_attempt(
    cdr_db: Engine, instance: dg.DagsterInstance, one_look: None
) -> None:
    job_id = insert_batch_job(cdr_db, "Quiet Report")
    context = queue_sensor_context(instance, cdr_db, "batch_job_queue_sensor")
    [request] = batch_job_queue_sensor(context).run_requests
    run = launch_as_the_daemon(instance, request, dg.DagsterRunStatus.NOT_STARTED)
    set_batch_status(cdr_db, job_id, "In process")  # the run claimed it, then died
    fail_run(instance, run, "gone")

    result = batch_job_queue_sensor(
        queue_sensor_context(instance, cdr_db, "batch_job_queue_sensor")
    )

    assert isinstance(result, dg.SkipReason) and result.skip_message == (
        "no Queued batch jobs waiting"
    )


# ---------------------------------------------------------------------------------------------
# Lanes
# ---------------------------------------------------------------------------------------------


def test_every_job_runs_in_a_lane_with_its_priority() -> None:
    from cdr_dagster.definitions import defs

    expected = {
        "notify_production_health": "health",
        "check_disk_space": "health",
        "run_publishing_job": "publishing",
        "weekly_publishing": "publishing",
        "nightly_publishing": "publishing",
        "run_batch_job": "batch",
    }
    repository = defs.get_repository_def()
    lanes = {job.name: job.tags.get(LANE_TAG) for job in repository.get_all_jobs()}
    lanes.pop("__ASSET_JOB", None)
    missing = sorted(name for name, lane in lanes.items() if lane is None)
    assert not missing, f"jobs without a lane: {missing}"
    for name, lane in lanes.items():
        assert lane == expected.get(name, "chores"), f"{name} runs in lane {lane}"
        job = repository.get_job(name)
        assert job.tags[PRIORITY_TAG] == str(LANE_PRIORITIES[lane]), name
    assert run_batch_job.tags["dagster/max_retries"] == "0", "a queue run is never retried"
