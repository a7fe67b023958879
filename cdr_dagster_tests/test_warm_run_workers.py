"""Warm run workers: the launcher hands runs to a process that has already imported Dagster.

The pool is tested with real processes (a spare waits, ends with its input, is replaced when
it died); the launcher through a real ``dagster-daemon`` on PostgreSQL storage: queue runs are
handed to warm workers (tags, engine events, the worker's own pid event agree), the next spare
is waiting afterwards, a run is canceled from another process (as the webserver's Terminate
button does) with SIGTERM to its worker, its script ends and its row is settled, and a daemon
configured with ``warm_workers: false`` launches through the code server as Dagster does (and
blanks the warm-worker tags a re-executed run copied from its parent).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psutil
import pytest
from sqlalchemy.engine import Engine

from cdr_dagster.run_launcher import (
    WORKER_HOST_TAG,
    WORKER_PID_TAG,
    WORKER_STARTED_TAG,
    HostRunLauncher,
)
from cdr_dagster.run_worker_pool import SpareWorker, same_python
from cdr_dagster_tests.queue_fixtures import (
    batch_row,
    engine_url,
    insert_batch_job,
    queue_daemon,
    runs_of_batch_job,
    wait_for,
    write_cdr_scripts,
)

SETTLE_SECONDS = 240
REPO = Path(__file__).resolve().parents[1]
PID_EVENT = re.compile(r"Started process for run \(pid: (\d+)\)")


def _engine_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        entry.dagster_event.message or ""
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if entry.dagster_event is not None
    ]


def _process_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _spares_under(pid: int) -> list[int]:
    """The spare run workers among the descendants of process ``pid``."""
    found = []
    for process in psutil.Process(pid).children(recursive=True):
        try:
            if process.cmdline()[-2:] == ["-m", "cdr_dagster.run_worker"]:
                found.append(process.pid)
        except psutil.Error:  # ended, or a zombie not yet reaped
            continue
    return found


# ---------------------------------------------------------------------------------------------
# The pool, with real processes


def test_a_spare_waits_and_ends_when_its_input_closes() -> None:
    pool = SpareWorker()
    pool.start()
    pid = pool.waiting_pid
    assert pid is not None
    # Right after the exec the kernel may not have filled in the new command line yet.
    wait_for(
        lambda: psutil.Process(pid).cmdline()[-2:] == ["-m", "cdr_dagster.run_worker"],
        30,
        f"spare {pid} to show its command line",
    )
    pool.close()
    wait_for(lambda: _process_gone(pid), 60, f"the closed spare {pid} to end")
    assert pool.waiting_pid is None
    with pytest.raises(RuntimeError, match="closed"):
        pool.hand_over("{}")


def test_a_dead_spare_is_replaced_and_a_worker_reports_bad_arguments() -> None:
    pool = SpareWorker(refill_delay=0.1)
    try:
        pool.start()
        dead = pool.waiting_pid
        assert dead is not None
        psutil.Process(dead).kill()
        wait_for(lambda: _process_gone(dead), 30, "the killed spare to end")
        worker = pool.hand_over('{"not": "run arguments"}')
        assert worker.pid != dead
        process = psutil.Process(worker.pid)
        # `dagster api execute_run` refuses what is not an ExecuteRunArgs: the worker ends
        # with an error instead of waiting or running anything.
        assert process.wait(timeout=120) != 0
        wait_for(lambda: pool.waiting_pid is not None, 30, "the next spare")
        assert pool.waiting_pid not in (dead, worker.pid)
    finally:
        pool.close()


def test_arguments_must_be_one_line() -> None:
    pool = SpareWorker()
    with pytest.raises(ValueError, match="one line"):
        pool.hand_over("{}\n{}")
    assert pool.waiting_pid is None  # nothing was started for it


def test_only_this_very_python_takes_warm_runs(tmp_path: Path) -> None:
    assert same_python(sys.executable)
    assert not same_python(None)
    assert not same_python(str(tmp_path / "python"))
    # The same interpreter file seen from another folder (a virtual environment links to
    # its base interpreter) has other packages: not the same Python.
    elsewhere = tmp_path / "bin" / "python"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(os.path.realpath(sys.executable))
    assert not same_python(str(elsewhere))


def test_warm_workers_is_configurable_and_off_on_windows() -> None:
    launcher = HostRunLauncher.from_config_value(None, {"warm_workers": False})
    assert launcher.warm_workers is False
    launcher = HostRunLauncher.from_config_value(None, {})
    assert launcher.warm_workers is (sys.platform != "win32")


# ---------------------------------------------------------------------------------------------
# Through the real daemon


@pytest.mark.timeout(600)
def test_queue_runs_start_in_warm_workers_and_cancel_with_sigterm(
    cdr_db: Engine, tmp_path: Path
) -> None:
    basedir = write_cdr_scripts(tmp_path / "cdr", engine_url(cdr_db))
    with queue_daemon(tmp_path / "dagster_home", engine_url(cdr_db), basedir) as daemon:
        daemon.start()
        quick = [insert_batch_job(cdr_db, "Quiet Report") for _ in range(2)]
        instance = daemon.instance
        wait_for(
            lambda: all(batch_row(cdr_db, job_id).status == "Completed" for job_id in quick),
            SETTLE_SECONDS,
            f"batch jobs {quick} to complete",
            explain=daemon.log_tail,
        )
        for job_id in quick:
            wait_for(
                lambda job_id=job_id: runs_of_batch_job(instance, job_id)[0].is_finished,
                SETTLE_SECONDS,
                f"the run of batch job {job_id} to finish",
                explain=daemon.log_tail,
            )
            (run,) = runs_of_batch_job(instance, job_id)
            assert run.status == dg.DagsterRunStatus.SUCCESS
            pid = int(run.tags[WORKER_PID_TAG])
            assert float(run.tags[WORKER_STARTED_TAG]) > 0
            assert run.tags[WORKER_HOST_TAG]
            messages = _engine_messages(instance, run.run_id)
            assert any(f"warm run worker (pid: {pid})" in m for m in messages), messages
            # The worker's own pid event names the very process the launcher handed it to.
            reported = [int(m.group(1)) for m in map(PID_EVENT.search, messages) if m]
            assert reported == [pid], messages
        # The next spare waits under the daemon, ready for the next row.
        wait_for(
            lambda: _spares_under(daemon.process.pid), 60, "a spare run worker under the daemon"
        )

        # Terminate a running report from this process, as the webserver's button does.
        slow = insert_batch_job(cdr_db, "Slow Report")
        wait_for(
            lambda: batch_row(cdr_db, slow).status == "In process",
            SETTLE_SECONDS,
            f"batch job {slow} to be in process",
            explain=daemon.log_tail,
        )
        (run,) = runs_of_batch_job(instance, slow)
        worker = int(run.tags[WORKER_PID_TAG])
        scripts = [
            p for p in psutil.Process(worker).children(recursive=True) if "python" in p.name()
        ]
        assert scripts, "the report script runs under the worker"
        launcher = instance.run_launcher
        assert isinstance(launcher, HostRunLauncher)
        assert launcher.terminate(run.run_id) is True
        wait_for(
            lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED,
            120,
            f"run {run.run_id} to be canceled",
            explain=daemon.log_tail,
        )
        wait_for(lambda: all(_process_gone(p.pid) for p in scripts), 60, "the script to end")
        wait_for(
            lambda: batch_row(cdr_db, slow).status == "Aborted",
            120,
            f"batch job {slow} to be settled",
            explain=lambda: f"{batch_row(cdr_db, slow)}\n{daemon.log_tail()}",
        )
        # The interrupted op records why (the canceled-run sensor would, had it not).
        assert run.run_id in (batch_row(cdr_db, slow).progress or "")
        # A finished run cannot be terminated again.
        assert launcher.terminate(run.run_id) is False


@pytest.mark.timeout(600)
def test_warm_workers_off_launches_through_the_code_server(cdr_db: Engine, tmp_path: Path) -> None:
    basedir = write_cdr_scripts(tmp_path / "cdr", engine_url(cdr_db))
    home = tmp_path / "dagster_home"
    with queue_daemon(home, engine_url(cdr_db), basedir) as daemon:
        config = (home / "dagster.yaml").read_text()
        marker = "  class: HostRunLauncher\n"
        assert marker in config
        (home / "dagster.yaml").write_text(
            config.replace(marker, marker + "  config:\n    warm_workers: false\n")
        )
        daemon.start()
        job_id = insert_batch_job(cdr_db, "Quiet Report")
        instance = daemon.instance
        wait_for(
            lambda: (
                runs_of_batch_job(instance, job_id)
                and runs_of_batch_job(instance, job_id)[0].is_finished
            ),
            SETTLE_SECONDS,
            f"the run of batch job {job_id} to finish",
            explain=daemon.log_tail,
        )
        (run,) = runs_of_batch_job(instance, job_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert WORKER_PID_TAG not in run.tags
        assert run.tags[WORKER_HOST_TAG]
        assert not any("warm run worker" in m for m in _engine_messages(instance, run.run_id))
        assert _spares_under(daemon.process.pid) == []

        # A run that carries a warm worker's tags from the run it re-executes: they are blanked
        # at launch, so neither the health check nor Terminate takes that old process for
        # this run's worker.
        launched = subprocess.run(
            [
                str(Path(sys.executable).with_name("dagster")),
                *("job", "launch", "-w", str(home / "workspace.yaml"), "-j", "smoke_test"),
                *("-c", str(REPO / "examples" / "smoke_test.yaml")),
                "--tags",
                json.dumps({WORKER_PID_TAG: str(os.getpid()), WORKER_STARTED_TAG: "1.0"}),
            ],
            cwd=home,
            env=daemon.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert launched.returncode == 0, launched.stderr
        smoke = dg.RunsFilter(job_name="smoke_test")
        wait_for(
            lambda: any(r.is_finished for r in instance.get_runs(filters=smoke)),
            SETTLE_SECONDS,
            "the smoke_test run to finish",
            explain=daemon.log_tail,
        )
        (run,) = instance.get_runs(filters=smoke)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags[WORKER_PID_TAG] == "" and run.tags[WORKER_STARTED_TAG] == ""
