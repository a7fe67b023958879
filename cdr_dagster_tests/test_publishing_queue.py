"""Publishing queue: the data layer, ``run_publishing_job`` and ``publishing_queue_sensor``.

Real PostgreSQL CDR database, and a real ``Publishing/Publish.py`` written into a temporary CDR
base folder that moves its ``pub_proc`` row the way cdrpub.Control.publish does (its behaviour
chosen by the job's subset). Every statement the code issues is also compiled for SQL Server.
"""

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import queues
from cdr_dagster.jobs.publishing_queue import (
    DEFAULT_PUBLISH_SCRIPT,
    PUB_PROC_TAG,
    PublishingJobConfig,
    run_publishing_job,
)
from cdr_dagster.queue_sensors import (
    DEFAULT_INTERVAL_SECONDS,
    PUBLISHING_INTERVAL_VARIABLE,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    WATCH_VARIABLE,
    interval_seconds,
    publishing_queue_sensor,
)
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster_tests.queue_fixtures import (
    PUBLISH_SCRIPT,
    checked_resource,
    engine_url,
    insert_publishing_job,
    inserted_later,
    invocations,
    publishing_row,
    queue_sensor_context,
    run_queue_job,
    write_cdr_scripts,
)

SENSOR = "publishing_queue_sensor"
STARTED = datetime(2025, 7, 4, 16, 0)


@pytest.fixture
def basedir(tmp_path: Path, cdr_db: Engine) -> Path:
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


def run_publishing(
    instance: dg.DagsterInstance, resources: dict[str, object], job_id: int, **config: object
) -> tuple[dg.ExecuteInProcessResult, list[str], dict[str, object]]:
    """Run ``run_publishing_job`` for ``job_id``; return the result, log lines and metadata."""
    return run_queue_job(
        run_publishing_job,
        PublishingJobConfig(pub_proc_id=job_id, **config),
        (PUB_PROC_TAG, job_id),
        instance,
        resources,
    )


def assert_failed_by_us(row, reason_start: str, before: datetime) -> None:
    """The job ended Failure, stamped, with cdrpub's ``[timestamp] message`` format."""
    assert row.status == "Failure"
    assert row.completed is not None and abs(row.completed - before) < timedelta(minutes=1)
    stamp, _, message = row.messages.partition("] ")
    assert stamp.startswith("[") and datetime.fromisoformat(stamp[1:]) >= before - timedelta(
        seconds=1
    )
    assert message.startswith(reason_start), message


# ---------------------------------------------------------------------------------------------
# Data layer
# ---------------------------------------------------------------------------------------------


def test_pending_rows_are_the_ready_ones_oldest_first(cdr_db: Engine) -> None:
    export = insert_publishing_job(cdr_db, "Export")
    insert_publishing_job(cdr_db, "Interim-Export", status="In process")
    insert_publishing_job(cdr_db, "Hotfix-Export", status="Success")
    push = insert_publishing_job(cdr_db, "Push_Documents_To_Cancer.Gov_Export", status="READY")

    with cdr_db.connect() as conn:
        pending = queues.pending_publishing_jobs(conn)

    assert pending == [
        queues.QueuedPublishingJob(export, "Export", 178),
        queues.QueuedPublishingJob(push, "Push_Documents_To_Cancer.Gov_Export", 178),
    ]


def test_claim_moves_one_row_from_ready_to_started(cdr_db: Engine) -> None:
    mine = insert_publishing_job(cdr_db, "Export")
    other = insert_publishing_job(cdr_db, "Interim-Export")
    busy = insert_publishing_job(cdr_db, "Hotfix-Export", status="In process")

    with cdr_db.begin() as conn:
        assert queues.claim_publishing_job(conn, mine) is True
        assert queues.claim_publishing_job(conn, mine) is False
        assert queues.claim_publishing_job(conn, busy) is False

    # Not the legacy blanket UPDATE: the other Ready job is still waiting for its own run.
    assert [publishing_row(cdr_db, i).status for i in (mine, other, busy)] == [
        "Started",
        "Ready",
        "In process",
    ]


def test_failure_is_recorded_only_on_a_job_that_has_not_ended(cdr_db: Engine) -> None:
    ended = {
        status: insert_publishing_job(cdr_db, "Export", status=status)
        for status in ("Success", "Failure", "Verifying")
    }
    stuck = insert_publishing_job(cdr_db, "Export", status="Started")
    before = datetime.now()

    with cdr_db.begin() as conn:
        kept = [queues.fail_publishing_job(conn, i, "late") for i in ended.values()]
        failed = queues.finish_publishing_job(conn, stuck, 0)

    assert [(k.status, k.kept) for k in kept] == [(s, True) for s in ended]
    assert [publishing_row(cdr_db, i).messages for i in ended.values()] == [None] * 3
    assert (failed.status, failed.kept) == ("Failure", False)
    assert_failed_by_us(
        publishing_row(cdr_db, stuck),
        "Publishing process ended with exit status 0 leaving the job in status 'Started'",
        before,
    )


# ---------------------------------------------------------------------------------------------
# run_publishing_job: every status path
# ---------------------------------------------------------------------------------------------


def test_the_publisher_runs_with_the_job_id_and_its_success_is_kept(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_publishing_job(cdr_db, "Export")

    result, messages, metadata = run_publishing(instance, resources, job_id)

    assert result.success
    assert invocations(basedir, "publish") == [job_id]
    row = publishing_row(cdr_db, job_id)
    assert row.status == "Success" and row.completed is not None
    assert row.messages.endswith("] Exported 3 documents in 0 seconds")
    assert messages[0] == f"starting job {job_id} (Export)"
    script = (basedir / PUBLISH_SCRIPT).resolve()
    assert any(m.startswith("running ") and f"{script} {job_id} in " in m for m in messages)
    assert f"Job {job_id} started (Export, found in status Started)" in messages
    assert metadata["final_status"] == "Success"
    assert metadata["status_set_by"] == "the publisher"
    assert metadata["exit_code"] == 0


def test_a_failure_the_publisher_records_is_kept_and_fails_the_run(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_publishing_job(cdr_db, "Hotfix-Export")

    result, _, metadata = run_publishing(instance, resources, job_id)

    assert not result.success
    row = publishing_row(cdr_db, job_id)
    assert row.status == "Failure"
    assert row.messages.endswith("] Job failed: Processing script 'nosuch.py' not found")
    assert metadata["status_set_by"] == "the publisher"
    assert invocations(basedir, "publish") == [job_id]


def test_a_publisher_that_crashes_leaves_the_job_failed(
    cdr_db: Engine, resources, instance
) -> None:
    job_id = insert_publishing_job(cdr_db, "Interim-Export")
    before = datetime.now()

    result, messages, metadata = run_publishing(instance, resources, job_id)

    assert not result.success
    assert_failed_by_us(
        publishing_row(cdr_db, job_id),
        "Publishing process ended with exit status 1 leaving the job in status 'In process': "
        "last output: ImportError: cannot import name 'Control'",
        before,
    )
    assert metadata["status_set_by"] == "this run" and metadata["exit_code"] == 1
    assert "ImportError: cannot import name 'Control'" in messages


def test_a_push_job_left_waiting_with_nobody_to_release_it_is_failed(
    cdr_db: Engine, resources, instance
) -> None:
    job_id = insert_publishing_job(cdr_db, "Push_Documents_To_Cancer.Gov_Export")
    before = datetime.now()

    result, _, _ = run_publishing(instance, resources, job_id)

    assert not result.success
    assert_failed_by_us(
        publishing_row(cdr_db, job_id),
        "Publishing process ended with exit status 0 leaving the job in status "
        "'Waiting user approval'",
        before,
    )


def test_a_missing_publisher_fails_the_job_with_a_clear_message(
    cdr_db: Engine, basedir: Path, resources, instance
) -> None:
    job_id = insert_publishing_job(cdr_db, "Export")
    before = datetime.now()

    result, _, _ = run_publishing(
        instance, resources, job_id, publish_script="Publishing/NoSuchPublish.py"
    )

    assert not result.success
    assert_failed_by_us(
        publishing_row(cdr_db, job_id),
        "Publishing script 'Publishing/NoSuchPublish.py' cannot be run: script "
        "'Publishing/NoSuchPublish.py' not found under the CDR base folder",
        before,
    )
    assert invocations(basedir, "publish") == []


def test_a_publisher_outside_the_base_folder_is_refused(
    cdr_db: Engine, basedir: Path, tmp_path: Path, resources, instance
) -> None:
    (tmp_path / "Publish.py").write_text("open('escaped', 'w').write('x')\n")
    job_id = insert_publishing_job(cdr_db, "Export")

    result, _, _ = run_publishing(instance, resources, job_id, publish_script="../Publish.py")

    assert not result.success
    row = publishing_row(cdr_db, job_id)
    assert row.status == "Failure"
    assert "is outside the CDR base folder" in row.messages and "refused" in row.messages
    assert not (tmp_path / "escaped").exists() and not (basedir / "escaped").exists()


@pytest.mark.parametrize("status", ["Started", "In process", "Success", "Failure"])
def test_a_job_someone_else_started_is_skipped(
    cdr_db: Engine, basedir: Path, resources, instance, status: str
) -> None:
    job_id = insert_publishing_job(cdr_db, "Export", status=status)

    result, messages, metadata = run_publishing(instance, resources, job_id)

    assert result.success
    assert metadata == {"outcome": "skipped", "status": status}
    row = publishing_row(cdr_db, job_id)
    assert (row.status, row.completed, row.messages) == (status, None, None)
    assert invocations(basedir, "publish") == []
    assert any("somebody else started it; skipped" in m for m in messages)


def test_a_missing_job_is_reported_not_run(resources, instance) -> None:
    result, messages, metadata = run_publishing(instance, resources, 876_543)

    assert result.success
    assert metadata == {"outcome": "missing"}
    assert "publishing job 876543 does not exist; nothing to run" in messages


def test_the_job_is_in_the_publishing_lane_and_never_retried() -> None:
    assert run_publishing_job.tags["cdr/queue"] == "publishing"
    assert run_publishing_job.tags["cdr/lane"] == "publishing"
    assert run_publishing_job.tags["dagster/priority"] == "50"
    assert run_publishing_job.tags["dagster/max_retries"] == "0"
    assert PublishingJobConfig(pub_proc_id=1).publish_script == DEFAULT_PUBLISH_SCRIPT


# ---------------------------------------------------------------------------------------------
# publishing_queue_sensor
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def one_look_per_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticks in this module look once (watch 0) unless a test watches on purpose."""
    monkeypatch.setenv(WATCH_VARIABLE, "0")


def sensor_context(
    instance: dg.DagsterInstance, cdr_db: Engine, **kwargs
) -> dg.SensorEvaluationContext:
    return queue_sensor_context(instance, cdr_db, SENSOR, **kwargs)


def test_sensor_requests_one_run_per_ready_job(cdr_db: Engine, instance) -> None:
    export = insert_publishing_job(cdr_db, "Export")
    insert_publishing_job(cdr_db, "Interim-Export", status="In process")
    push = insert_publishing_job(cdr_db, "Push_Documents_To_Cancer.Gov_Export")

    result = publishing_queue_sensor(sensor_context(instance, cdr_db))

    assert [r.run_key for r in result.run_requests] == [f"pub-{export}", f"pub-{push}"]
    assert result.run_requests[1].tags == {
        "cdr/pub-proc": str(push),
        "cdr/pub-subset": "Push_Documents_To_Cancer.Gov_Export",
        "cdr/lock": "akamai_media",  # shared with check_media: never together
        "cdr/queue": "publishing",
    }
    assert result.run_requests[0].tags["cdr/lock"] == f"pub-{export}"
    config = dg.validate_run_config(run_publishing_job, result.run_requests[0].run_config)
    assert config["ops"]["run_publishing_job_op"]["config"]["pub_proc_id"] == export


def test_sensor_does_not_request_a_job_twice(cdr_db: Engine, instance) -> None:
    first = insert_publishing_job(cdr_db, "Export")
    context = sensor_context(instance, cdr_db)

    tick1 = publishing_queue_sensor(context)
    for request in tick1.run_requests:  # what the daemon does with them
        instance.create_run_for_job(
            job_def=run_publishing_job,
            run_config=request.run_config,
            tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: SENSOR},
            status=dg.DagsterRunStatus.NOT_STARTED,
        )
    tick2 = publishing_queue_sensor(context)
    second = insert_publishing_job(cdr_db, "Push_Documents_To_Cancer.Gov_Export")
    tick3 = publishing_queue_sensor(context)

    assert [r.run_key for r in tick1.run_requests] == [f"pub-{first}"]
    assert isinstance(tick2, dg.SkipReason)
    assert tick2.skip_message == (
        f"1 Ready publishing jobs waiting, all with runs already requested: pub-{first}"
    )
    assert [r.run_key for r in tick3.run_requests] == [f"pub-{second}"]


def test_sensor_skips_when_nothing_is_ready(cdr_db: Engine, instance) -> None:
    insert_publishing_job(cdr_db, "Export", status="Success")

    result = publishing_queue_sensor(sensor_context(instance, cdr_db))

    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == "no Ready publishing jobs waiting"


def test_a_tick_watches_and_requests_a_job_made_ready_after_it_began(
    cdr_db: Engine, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WATCH_VARIABLE, "4")

    with inserted_later(1.0, lambda: insert_publishing_job(cdr_db, "Export")) as inserted:
        result = publishing_queue_sensor(sensor_context(instance, cdr_db))  # nothing Ready yet

    assert [r.run_key for r in result.run_requests] == [f"pub-{inserted[0]}"]


def test_sensor_definition() -> None:
    assert publishing_queue_sensor.name == SENSOR
    assert publishing_queue_sensor.job_name == "run_publishing_job"
    assert publishing_queue_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert publishing_queue_sensor.minimum_interval_seconds == DEFAULT_INTERVAL_SECONDS
    assert (
        interval_seconds(PUBLISHING_INTERVAL_VARIABLE, {PUBLISHING_INTERVAL_VARIABLE: "30"}) == 30
    )


def test_pushes_and_the_media_check_share_the_akamai_media_lock() -> None:
    """A push syncs BASEDIR/akamai/media under media.locked, as check_media does: the instance
    runs at most one run per cdr/lock value (dagster.yaml), and both carry the same one."""
    from cdr_dagster.jobs.media_check import check_media_job, check_media_op
    from cdr_dagster.jobs.publishing_queue import is_push_subset, publishing_job_tags

    lock = check_media_job.tags["cdr/lock"]
    assert lock == check_media_op.pool == "akamai_media"
    for subset in ("Push_Documents_To_Cancer.Gov_Export", "push_documents_to_cancer.gov_Interim"):
        assert is_push_subset(subset)
        assert publishing_job_tags(7, subset)["cdr/lock"] == lock
    for subset in ("Export", "Interim-Export", None):
        assert not is_push_subset(subset)
        assert publishing_job_tags(7, subset)["cdr/lock"] == "pub-7"
