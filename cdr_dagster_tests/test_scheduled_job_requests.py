"""scheduled_job_request_sensor runs the CDR admin's "Run Job Now" rows exactly once.

Rows go into the real ``scheduled_job`` table on PostgreSQL; the sensor is evaluated with
``build_sensor_context`` on a real instance with the code location's jobs; the run the daemon
would start is run on that instance with the run key and sensor tags the daemon gives it.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.scheduled_jobs import run_now_requests
from cdr_dagster.cdr.schema import scheduled_job
from cdr_dagster.control_sensors import (
    REQUEST_SENSOR_NAME,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    build_scheduled_job_request_sensor,
    request_run_key,
)
from cdr_dagster.jobs.control import email_schedule_list, reload_scheduler
from cdr_dagster.jobs.health import check_disk_space, notify_production_health
from cdr_dagster.jobs.publishing_tasks import nightly_publishing, weekly_publishing
from cdr_dagster.jobs.smoke import smoke_test_job
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.watching import WATCH_VARIABLE
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.cdr_rows import add_scheduled_job as add_row
from cdr_dagster_tests.services.daemon import DagsterDaemon, wait_for

REPO = Path(__file__).resolve().parents[1]

JOBS = [
    smoke_test_job,
    check_disk_space,
    notify_production_health,
    email_schedule_list,
    reload_scheduler,
    weekly_publishing,
    nightly_publishing,
]


@pytest.fixture(autouse=True)
def _look_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ticks in this module look once (watch 0) unless a test watches on purpose."""
    monkeypatch.setenv(WATCH_VARIABLE, "0")


@pytest.fixture
def resources(cdr_db: Engine, mailbox, tmp_path) -> dict[str, Any]:
    add_group_members(
        cdr_db,
        "Developers Notification",
        [("ann", "ann@example.gov", False), ("old", "old@example.gov", True)],
    )
    database = CdrDatabaseResource(url=cdr_db.url.render_as_string(hide_password=False))
    return {
        "cdr_db": database,
        "email": EmailResource(
            tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=database
        ),
        "commands": CommandRunnerResource(basedir=str(tmp_path)),
    }


@pytest.fixture
def sensor() -> dg.SensorDefinition:
    return build_scheduled_job_request_sensor(JOBS)


@pytest.fixture
def defs(sensor: dg.SensorDefinition, resources: dict[str, Any]) -> dg.Definitions:
    return dg.Definitions(jobs=JOBS, sensors=[sensor], resources=resources)


def row_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(value) for value in conn.execute(select(scheduled_job.c.id)).scalars()}


def tick(
    sensor: dg.SensorDefinition,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    cursor: str | None = None,
) -> Any:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=resources
    ) as context:
        return sensor.evaluate_tick(context)


def start_run(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """What the daemon does with a request: a run with its config, key and sensor tags."""
    job = defs.resolve_job_def(request.job_name)
    return job.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: REQUEST_SENSOR_NAME},
        raise_on_error=False,
    )


def test_run_now_row_is_requested_then_deleted_once_its_run_exists(
    cdr_db: Engine, sensor, defs, resources, mailbox
) -> None:
    """A "Run Job Now" row: one run, then the row goes."""
    row = add_row(cdr_db, "Automated Testing Job", "test.Stub", {"stooge": "Larry"})
    with dg.instance_for_test() as instance:
        first = tick(sensor, defs, instance, resources)
        [request] = first.run_requests
        assert request.job_name == "smoke_test"
        assert request.run_key == request_run_key(row) == f"scheduled-job-{row}"
        assert request.run_config == {
            "ops": {"smoke_test_op": {"config": {"options": {"stooge": "Larry"}}}}
        }
        assert request.tags["cdr/scheduled-job"] == row
        assert row in row_ids(cdr_db)  # kept until the run is recorded

        # The daemon did not record the run (e.g. it was killed): the same request again.
        again = tick(sensor, defs, instance, resources, first.cursor)
        assert [r.run_key for r in again.run_requests] == [request.run_key]

        assert start_run(defs, instance, request).success
        done = tick(sensor, defs, instance, resources, again.cursor)
        assert not done.run_requests
        assert done.skip_message == "requests done: Automated Testing Job"
        assert row not in row_ids(cdr_db)
        quiet = tick(sensor, defs, instance, resources, done.cursor)
        assert quiet.skip_message == "no Run Job Now requests"
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}))
        assert len(runs) == 1
    assert mailbox.messages == []


def test_only_enabled_rows_without_a_schedule_are_requests(
    cdr_db: Engine, sensor, defs, resources
) -> None:
    """docs/behaviour-notes.md#scheduled-job-table: kinds 1-3 are left alone; {} and null count as
    no schedule."""
    add_row(cdr_db, "Scheduled", "test.Stub", {}, schedule='{"minute": "*/2"}')
    add_row(cdr_db, "Paused", "test.Stub", {}, schedule='{"hour": "1"}', enabled=False)
    add_row(cdr_db, "Stored settings", "test.Stub", {}, enabled=False)
    empty = add_row(cdr_db, "Empty schedule", "test.Stub", {}, schedule="{}")
    null = add_row(cdr_db, "Null schedule", "test.Stub", {}, schedule="null")
    blank = add_row(cdr_db, "Blank schedule", "test.Stub", {}, schedule="")
    with cdr_db.connect() as conn:
        found = {request.id for request in run_now_requests(conn)}
    assert found == {empty, null, blank}
    with dg.instance_for_test() as instance:
        result = tick(sensor, defs, instance, resources)
    assert {r.run_key for r in result.run_requests} == {
        request_run_key(empty),
        request_run_key(null),
        request_run_key(blank),
    }


def test_legacy_options_become_typed_run_config(cdr_db: Engine, sensor, defs, resources) -> None:
    """The demo's Run-Job-Now row and others, mapped as import-schedules maps them."""
    add_row(cdr_db, "Scheduled Job List", "job_list.Reporter", {"recips": "rachel@example.gov"})
    add_row(cdr_db, "Disk", "disk_space.Monitor", {"cthreshold": "25", "recips": "a@x.gov,b@x.gov"})
    add_row(
        cdr_db,
        "Weekly by hand",
        "publishing_task.PublishingTask",
        {"schedule": "weekly", "mode": "test", "job-id": "123", "skip-publish-step": "yes"},
    )
    add_row(cdr_db, "Restart Scheduler", "stop_scheduler.Stop", {"dbserver": "cdr-db-qa"})
    with dg.instance_for_test() as instance:
        result = tick(sensor, defs, instance, resources)
    by_job = {r.job_name: r.run_config for r in result.run_requests}
    assert by_job == {
        "email_schedule_list": {
            "ops": {"email_schedule_list_op": {"config": {"recips": ["rachel@example.gov"]}}}
        },
        "check_disk_space": {
            "ops": {
                "check_disk_space_op": {
                    "config": {"cthreshold": 25, "recips": ["a@x.gov", "b@x.gov"]}
                }
            }
        },
        "weekly_publishing": {
            "ops": {
                "weekly_publishing_op": {
                    "config": {"mode": "test", "job_id": 123, "skip_publish_step": True}
                }
            }
        },
        "reload_scheduler": {},
    }


def test_a_health_check_row_with_a_bad_delay_runs_with_sixty_minutes(
    cdr_db: Engine, sensor, defs, resources, mailbox
) -> None:
    """The legacy health check logged a warning for ``delay: "abc"`` and used 60."""
    add_row(cdr_db, "Health now", "health_check.Monitor", {"delay": "abc"})
    with dg.instance_for_test() as instance:
        result = tick(sensor, defs, instance, resources)
    requests = [(r.job_name, r.run_config) for r in result.run_requests]
    assert requests == [
        (
            "notify_production_health",
            {"ops": {"notify_production_health_op": {"config": {"delay": 60}}}},
        )
    ], "the row must run with delay 60, not be refused"
    assert mailbox.messages == [], "no refusal mail for a value the legacy accepted"


@pytest.mark.parametrize(
    ("job_class", "opts", "schedule", "problem"),
    [
        ("nosuch.Class", {}, None, "job class 'nosuch.Class' is not a known legacy job class"),
        (
            "disk_space.Monitor",
            {"bogus": "1"},
            None,
            "option 'bogus' is not supported by disk_space.Monitor",
        ),
        ("disk_space.Monitor", {"cthreshold": "abc"}, None, "'abc' is not an integer"),
        (
            "publishing_task.PublishingTask",
            {"schedule": "daily", "mode": "live"},
            None,
            "option 'schedule' is 'daily'",
        ),
        ("media.Check", {}, None, "maps to job 'check_media', which this code location"),
        (
            "disk_space.Monitor",
            {"cthreshold": "-1"},
            None,
            "ops.check_disk_space_op.config.cthreshold: Input should be greater than or equal "
            "to 0 (got -1)",
        ),
        ("test.Stub", "not json", None, "opts 'not json' is not JSON"),
        ("test.Stub", {}, "garbage", "schedule 'garbage' is not JSON"),
    ],
)
def test_rows_that_cannot_run_are_kept_and_reported_once(
    cdr_db: Engine, sensor, defs, resources, mailbox, job_class, opts, schedule, problem
) -> None:
    row = add_row(cdr_db, "Bad request", job_class, opts, schedule=schedule)
    with dg.instance_for_test() as instance:
        first = tick(sensor, defs, instance, resources)
        assert not first.run_requests
        assert row in row_ids(cdr_db)
        [mail] = mailbox.messages
        assert mail.message["Subject"] == "[DEV] Run Job Now request not run: Bad request"
        assert mail.rcpt_tos == ["ann@example.gov"]
        body = mail.message.get_content()
        assert problem in body
        assert f"Row id: {row}" in body
        second = tick(sensor, defs, instance, resources, first.cursor)
        assert second.skip_message == "1 request(s) kept for an operator"
        assert len(mailbox.messages) == 1
        assert row in row_ids(cdr_db)


def test_an_edited_row_is_looked_at_again(cdr_db: Engine, sensor, defs, resources, mailbox) -> None:
    row = add_row(cdr_db, "Disk", "disk_space.Monitor", {"bogus": "1"})
    with dg.instance_for_test() as instance:
        first = tick(sensor, defs, instance, resources)
        assert len(mailbox.messages) == 1
        with cdr_db.begin() as conn:
            conn.execute(
                scheduled_job.update()
                .where(scheduled_job.c.id == uuid.UUID(row))
                .values(opts=json.dumps({"cthreshold": "20"}))
            )
        fixed = tick(sensor, defs, instance, resources, first.cursor)
    [request] = fixed.run_requests
    assert request.run_config == {"ops": {"check_disk_space_op": {"config": {"cthreshold": 20}}}}
    assert json.loads(fixed.cursor)["reported"] == {}


def test_queue_sweeper_rows_are_deleted_without_a_run(
    cdr_db: Engine, sensor, defs, resources
) -> None:
    row = add_row(cdr_db, "Batch Job Queue", "batch_job_queue.Sweeper", {})
    with dg.instance_for_test() as instance:
        result = tick(sensor, defs, instance, resources)
    assert not result.run_requests
    assert row not in row_ids(cdr_db)


def test_mail_failure_is_retried_on_the_next_tick(
    cdr_db: Engine, sensor, defs, resources, mailbox
) -> None:
    add_row(cdr_db, "Bad", "nosuch.Class", {})
    closed_relay = EmailResource(
        tier="DEV", smtp_host="127.0.0.1", smtp_port=1, timeout=5, cdr_db=resources["cdr_db"]
    )
    broken = {**resources, "email": closed_relay}
    broken_defs = dg.Definitions(jobs=JOBS, sensors=[sensor], resources=broken)
    with dg.instance_for_test() as instance:
        first = tick(sensor, broken_defs, instance, broken)
        assert json.loads(first.cursor)["reported"] == {}
        assert mailbox.messages == []
        tick(sensor, defs, instance, resources, first.cursor)
    assert len(mailbox.messages) == 1


def test_a_watching_tick_requests_a_row_added_after_it_began(
    cdr_db: Engine, sensor, defs, resources, monkeypatch
) -> None:
    """A tick keeps looking (once a second) and returns as soon as a request arrives."""
    monkeypatch.setenv(WATCH_VARIABLE, "8")
    timer = threading.Timer(1.5, lambda: add_row(cdr_db, "Late", "test.Stub", {}))
    began = time.monotonic()
    timer.start()
    try:
        with dg.instance_for_test() as instance:
            result = tick(sensor, defs, instance, resources)
    finally:
        timer.join()
    took = time.monotonic() - began
    assert [r.tags["cdr/scheduled-job-name"] for r in result.run_requests] == ["Late"]
    assert took < 6, f"the tick returned {took:.1f} s after it began, not on finding the row"


def test_a_watching_tick_reports_a_bad_row_once_and_returns_with_its_cursor(
    cdr_db: Engine, sensor, defs, resources, mailbox, monkeypatch
) -> None:
    """A row kept for an operator is mailed once; the tick returns at once so that the cursor
    (which remembers the mail) is saved, and a later watching tick does not mail again."""
    monkeypatch.setenv(WATCH_VARIABLE, "2.5")
    add_row(cdr_db, "Bad", "nosuch.Class", {})
    with dg.instance_for_test() as instance:
        began = time.monotonic()
        first = tick(sensor, defs, instance, resources)
        assert time.monotonic() - began < 2
        assert len(mailbox.messages) == 1
        began = time.monotonic()
        second = tick(sensor, defs, instance, resources, first.cursor)
        assert time.monotonic() - began >= 2.5  # nothing new: it watched to the end
    assert second.skip_message == "1 request(s) kept for an operator"
    assert second.cursor == first.cursor
    assert len(mailbox.messages) == 1


# --- end to end: a real dagster-daemon --------------------------------------------------------

E2E_LOCATION = """
import dagster as dg

from cdr_dagster.control_sensors import build_scheduled_job_request_sensor
from cdr_dagster.jobs.smoke import smoke_test_job
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource

cdr_db = CdrDatabaseResource(url=dg.EnvVar("CDR_DB_URL"))
defs = dg.Definitions(
    jobs=[smoke_test_job],
    sensors=[build_scheduled_job_request_sensor([smoke_test_job], minimum_interval_seconds=1)],
    resources={
        "cdr_db": cdr_db,
        "email": EmailResource(tier="DEV", outbox_dir=dg.EnvVar("CDR_MAIL_OUTBOX"), cdr_db=cdr_db),
        "commands": CommandRunnerResource(basedir=dg.EnvVar("CDR_BASEDIR")),
    },
)
"""

E2E_INSTANCE = """
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
sensors:
  use_threads: true
  num_workers: 2
telemetry:
  enabled: false
"""

RECORD = """
import os, sys
with open(os.path.join(os.environ["CDR_BASEDIR"], "invocations.log"), "a") as log:
    log.write(sys.argv[1] + "\\n")
"""


@pytest.mark.timeout(900)
def test_real_daemon_runs_each_request_exactly_once_across_a_crash(
    cdr_db: Engine, tmp_path: Path
) -> None:
    add_group_members(cdr_db, "Developers Notification", [("ann", "ann@example.gov", False)])
    home, base, outbox = tmp_path / "home", tmp_path / "cdr", tmp_path / "outbox"
    for folder in (home, base, outbox):
        folder.mkdir()
    (base / "record.py").write_text(RECORD)
    (home / "location.py").write_text(E2E_LOCATION)
    (home / "dagster.yaml").write_text(E2E_INSTANCE)
    (home / "workspace.yaml").write_text(
        "load_from:\n  - python_file:\n      relative_path: location.py\n"
        "      location_name: cdr_dagster\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CDR_DB_URL": cdr_db.url.render_as_string(hide_password=False),
        "CDR_BASEDIR": str(base),
        "CDR_MAIL_OUTBOX": str(outbox),
        "CDR_TIER": "DEV",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }
    env.pop(WATCH_VARIABLE, None)  # the shipped watch: ticks that watch the table, as deployed

    def request(name: str) -> str:
        return add_row(cdr_db, name, "test.Stub", {"command": f"record.py {name}"})

    def recorded() -> list[str]:
        path = base / "invocations.log"
        return path.read_text().split() if path.exists() else []

    stored = add_row(cdr_db, "Stored settings", "test.Stub", {}, enabled=False)
    bad = add_row(cdr_db, "Bad", "nosuch.Class", {})
    daemon = DagsterDaemon(home, env)
    try:
        before = {request("A"), request("B")}
        daemon.start()
        wait_for(lambda: sorted(recorded()) == ["A", "B"], 300, "A and B", daemon.log_tail)
        wait_for(lambda: not before & row_ids(cdr_db), 120, "A and B rows deleted", daemon.log_tail)

        # Requests seen by the sensor, then a crash before their rows can be deleted.
        crash = {request("C"), request("D")}
        instance = dg.DagsterInstance.from_config(str(home))
        keys = {request_run_key(row) for row in crash}
        wait_for(
            lambda: any(
                instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: key})) for key in keys
            ),
            120,
            "runs requested for C and D",
            daemon.log_tail,
        )
        daemon.kill()
        down = {request("E")}
        daemon.start()
        wait_for(
            lambda: sorted(recorded()) == ["A", "B", "C", "D", "E"], 300, "C, D, E", daemon.log_tail
        )
        wait_for(
            lambda: row_ids(cdr_db) == {stored, bad}, 120, "request rows deleted", daemon.log_tail
        )
        wait_for(lambda: all(run.is_finished for run in instance.get_runs()), 120, "runs to finish")
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="smoke_test"))
        assert sorted(run.tags[RUN_KEY_TAG] for run in runs) == sorted(
            request_run_key(row) for row in before | crash | down
        )
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        assert len(list(outbox.glob("*.eml"))) == 1  # the bad row, reported once
        instance.dispose()
    finally:
        daemon.stop()
