"""An operator's bad week, end to end, with the real ``dagster-daemon``, PostgreSQL instance
storage, the repository's ``dagster.yaml`` and the code location served as production serves
it (a gRPC code server the daemon starts).

One daemon lifetime, three faults:

1. **A full run queue**: long batch reports fill their lane (three at once, the rest queued);
   a push job and a production health notice queued after them start while the reports
   still wait (lanes and priorities).
2. **A reboot mid-work**: with six queue runs in progress (three reports, three exports) the
   whole process tree is SIGKILLed, CDR scripts included, and jobs are queued while it is down;
   the services start again. Counted: every dead run failed within two minutes of the restart,
   with the reason; every claimed row ended Aborted (batch) or Failure (publishing) and was
   reported in a failure mail; no script ran twice; the rows queued while down ran.
3. **A tick missed while down**: a schedule ticking every minute with half a minute of grace,
   whose tick fell in the downtime, records a skipped tick with the reason and mails about it.

Nothing sleeps for a fixed time to decide an outcome: the test polls the database, the
instance and the mailbox. The bounds below are the issue's bounds, not guesses of speed.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus
from sqlalchemy.engine import Engine

from cdr_dagster_tests.cdr_rows import developers_email
from cdr_dagster_tests.queue_fixtures import (
    INVOCATIONS,
    batch_row,
    engine_url,
    insert_batch_job,
    insert_publishing_job,
    invocations,
    publishing_row,
    queue_daemon,
    wait_for,
    write_cdr_scripts,
)

#: The issue's bound: a dead run is failed within two minutes of the services coming back.
DEAD_RUN_BOUND_SECONDS = 120
#: Generous: on a loaded two-core machine every run is a new Python process importing Dagster.
SETTLE_SECONDS = 240

MISFIRE_SCHEDULES = """
schedules:
  - name: every_minute
    job: smoke_test
    cron: "* * * * *"
    tiers: [DEV]
    description: Ticks every minute; a tick more than 30 s late is skipped and mailed.
    misfire_grace_minutes: 0.5
    misfire_mail: true
"""

IN_PROGRESS = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}


def runs_of(instance: dg.DagsterInstance, tag: str, row_id: int) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={tag: str(row_id)})))


def run_status(instance: dg.DagsterInstance, tag: str, row_id: int) -> str:
    runs = runs_of(instance, tag, row_id)
    return ",".join(run.status.value for run in runs) or "no run"


def statuses(cdr_db: Engine, instance, batch: list[int], publishing: list[int]) -> str:
    """Rows and their runs, for assertion messages."""
    lines = [
        f"batch {i}: {batch_row(cdr_db, i).status} / {run_status(instance, 'cdr/batch-job', i)}"
        for i in batch
    ]
    lines += [
        f"pub {i}: {publishing_row(cdr_db, i).status} / {run_status(instance, 'cdr/pub-proc', i)}"
        for i in publishing
    ]
    return "\n".join(lines)


def launch_health_notice(home: Path, env: dict[str, str]) -> float:
    """Queue a production health notice as an operator does (``dagster job launch``); return
    when it was submitted."""
    submitted = time.monotonic()
    subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "job",
            "launch",
            "-w",
            str(home / "workspace.yaml"),
            "-j",
            "notify_production_health",
            "--config-json",
            '{"ops": {"notify_production_health_op": {"config": '
            '{"failures": [{"problem": "cdrping.py timed out", "count": 2}]}}}}',
        ],
        cwd=home,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return submitted


def started(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    stats = instance.get_run_stats(run.run_id)
    return stats.start_time is not None


def kill_scripts(basedir: Path) -> int:
    """SIGKILL every CDR script the runs started (they run in sessions of their own)."""
    killed = 0
    for line in (basedir / INVOCATIONS).read_text().splitlines():
        pid = int(line.split()[2])
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def schedule_ticks(instance: dg.DagsterInstance) -> list:
    """The ticks of the test schedule, newest first."""
    states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    ticks = []
    for state in states:
        if state.name == "every_minute":
            ticks += instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return sorted(ticks, key=lambda tick: tick.timestamp, reverse=True)


@pytest.mark.timeout(1200)
def test_a_bad_week_full_queue_reboot_mid_work_and_a_missed_tick(
    cdr_db: Engine, tmp_path: Path, smtp_server, mailbox
) -> None:
    basedir = write_cdr_scripts(tmp_path / "cdr", engine_url(cdr_db))
    schedules_file = tmp_path / "schedules.yaml"
    schedules_file.write_text(MISFIRE_SCHEDULES)
    developers_email(cdr_db, mailbox)  # the Developers Notification group: ann@example.gov
    extra_env = {
        "CDR_SMTP_HOST": smtp_server.host,
        "CDR_SMTP_PORT": str(smtp_server.port),
        "CDR_TEST_SCHEDULES": str(schedules_file),
    }
    home = tmp_path / "dagster_home"
    with queue_daemon(home, engine_url(cdr_db), basedir, extra_env=extra_env) as daemon:
        instance = daemon.instance
        daemon.start()

        # 1. A full run queue: five long reports, three run, two wait in their lane.
        reports = [insert_batch_job(cdr_db, "Slow Report") for _ in range(5)]

        def report_states() -> tuple[int, int]:
            rows = [batch_row(cdr_db, i).status for i in reports]
            return rows.count("In process"), rows.count("Queued")

        wait_for(
            lambda: (
                report_states() == (3, 2)
                and all(runs_of(instance, "cdr/batch-job", i) for i in reports)
            ),
            SETTLE_SECONDS,
            "three reports in process and two queued behind the batch lane's cap",
            explain=lambda: statuses(cdr_db, instance, reports, []) + daemon.log_tail(),
        )
        waiting = [i for i in reports if batch_row(cdr_db, i).status == "Queued"]
        push_queued = time.monotonic()
        push = insert_publishing_job(cdr_db, "Push_Documents_To_Cancer.Gov_Export")
        health_queued = launch_health_notice(home, daemon.env)

        def important_runs() -> list[dg.DagsterRun]:
            health = instance.get_runs(filters=dg.RunsFilter(job_name="notify_production_health"))
            return list(health) + runs_of(instance, "cdr/pub-proc", push)

        wait_for(
            lambda: (
                len(important_runs()) == 2
                and all(started(instance, run) for run in important_runs())
            ),
            SETTLE_SECONDS,
            "the push and the health notice to start",
            explain=lambda: statuses(cdr_db, instance, reports, [push]) + daemon.log_tail(),
        )
        latency = {
            "push": time.monotonic() - push_queued,
            "health": time.monotonic() - health_queued,
        }
        # Whatever the machine's speed: the reports that waited in their lane when the push and
        # the health notice were queued started after both (or have not started yet).
        important_started = max(
            instance.get_run_stats(run.run_id).start_time for run in important_runs()
        )
        overtaken = [
            i
            for i in waiting
            for run in runs_of(instance, "cdr/batch-job", i)
            if (instance.get_run_stats(run.run_id).start_time or float("inf")) < important_started
        ]
        assert len(waiting) == 2 and not overtaken, (
            f"reports {overtaken} of those waiting ({waiting}) started before the push and the "
            f"health notice ({latency} after being queued):\n"
            f"{statuses(cdr_db, instance, reports, [push])}"
        )

        # 2. Six queue runs in progress: the three reports and three slow exports.
        exports = [insert_publishing_job(cdr_db, "Slow-Export") for _ in range(3)]
        wait_for(
            lambda: all(publishing_row(cdr_db, i).status == "In process" for i in exports),
            SETTLE_SECONDS,
            "three exports in process",
            explain=lambda: statuses(cdr_db, instance, reports, exports) + daemon.log_tail(),
        )
        in_process = [i for i in reports if batch_row(cdr_db, i).status == "In process"]
        assert len(in_process) == 3
        # The schedule must have ticked once, so that the restart knows a tick was missed.
        wait_for(lambda: schedule_ticks(instance), 90, "a first tick of every_minute")

        # The reboot: daemon, code server, run workers and CDR scripts die at once.
        daemon.crash_all()
        assert kill_scripts(basedir) >= 6
        dead_runs = [
            run
            for i in in_process
            for run in runs_of(instance, "cdr/batch-job", i)
            if run.status in IN_PROGRESS
        ] + [
            run
            for i in exports
            for run in runs_of(instance, "cdr/pub-proc", i)
            if run.status in IN_PROGRESS
        ]
        assert len(dead_runs) == 6, [run.status for run in dead_runs]
        queued_while_down = [insert_batch_job(cdr_db, "Quiet Report") for _ in range(2)]
        # Stay down across a minute boundary and past its grace: that tick is missed.
        now = datetime.now(timezone.utc)
        missed_tick = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
        time.sleep(max(0.0, (missed_tick - now).total_seconds()) + 35)

        restarted = time.monotonic()
        daemon.start()

        def dead_runs_failed() -> bool:
            return all(
                instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
                for run in dead_runs
            )

        wait_for(
            dead_runs_failed,
            DEAD_RUN_BOUND_SECONDS,
            "every run whose worker died to be failed by run monitoring",
            explain=lambda: statuses(cdr_db, instance, in_process, exports) + daemon.log_tail(),
        )
        failed_after = time.monotonic() - restarted
        for run in dead_runs:
            failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            message = failure[-1].dagster_event.message if failure else ""
            assert "is gone" in (message or ""), (
                f"run {run.run_id} failed without saying its worker died: {failure}"
            )

        # Every claimed row ends with the reason, is mailed, and its script ran once.
        def rows_final() -> bool:
            return all(batch_row(cdr_db, i).status == "Aborted" for i in in_process) and all(
                publishing_row(cdr_db, i).status == "Failure" for i in exports
            )

        wait_for(
            rows_final,
            SETTLE_SECONDS,
            "the dead runs' rows to end Aborted / Failure",
            explain=lambda: statuses(cdr_db, instance, in_process, exports) + daemon.log_tail(),
        )
        for i in in_process:
            assert "without recording how the job ended" in batch_row(cdr_db, i).progress
        for i in exports:
            assert "without recording how the job ended" in publishing_row(cdr_db, i).messages

        def failure_mails() -> list[str]:
            return [
                m.message.get_content()
                for m in mailbox.messages
                if "Dagster run failed" in str(m.message["Subject"])
            ]

        wait_for(
            lambda: len([b for b in failure_mails() if "CDR queue row:" in b]) >= 6,
            SETTLE_SECONDS,
            "a failure mail naming each dead run's row",
            explain=lambda: "\n---\n".join(failure_mails()) + daemon.log_tail(),
        )
        mailed = "\n".join(failure_mails())
        missing = [i for i in in_process if f"batch job {i} (Slow Report)" not in mailed]
        missing += [i for i in exports if f"publishing job {i} (Slow-Export)" not in mailed]
        assert not missing, f"rows missing from the failure mails: {missing}"

        # The queue resumes: what was queued while down runs, once.
        wait_for(
            lambda: all(batch_row(cdr_db, i).status == "Completed" for i in queued_while_down),
            SETTLE_SECONDS,
            "the jobs queued while the services were down to complete",
            explain=lambda: statuses(cdr_db, instance, queued_while_down, []) + daemon.log_tail(),
        )
        started_batch = invocations(basedir, "batch")
        started_publish = invocations(basedir, "publish")
        duplicates = {f"batch {i}" for i in started_batch if started_batch.count(i) > 1}
        duplicates |= {f"publish {i}" for i in started_publish if started_publish.count(i) > 1}
        assert not duplicates, f"scripts started twice for rows {sorted(duplicates)}"
        assert sorted(started_batch) == sorted(reports + queued_while_down), started_batch
        assert sorted(started_publish) == sorted([push, *exports]), started_publish
        for i in [*in_process, *exports]:
            assert (
                len(runs_of(instance, "cdr/batch-job" if i in in_process else "cdr/pub-proc", i))
                == 1
            )

        # 3. The tick that fell in the downtime was skipped with the reason and mailed.
        def skipped_ticks() -> list:
            return [t for t in schedule_ticks(instance) if t.status == TickStatus.SKIPPED]

        wait_for(skipped_ticks, 90, "the missed tick to be recorded as skipped")
        reason = skipped_ticks()[0].skip_reason or ""
        assert reason.startswith("missed: the tick of "), reason
        assert "more than the 0.5 min this schedule allows" in reason, reason
        wait_for(
            lambda: any(
                "Missed schedule every_minute" in str(m.message["Subject"])
                for m in mailbox.messages
            ),
            60,
            "the mail about the missed tick",
        )
    print(
        f"\nlanes: push started {latency['push']:.1f} s and health {latency['health']:.1f} s "
        f"after being queued; dead runs failed {failed_after:.0f} s after the restart"
    )
