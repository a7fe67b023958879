"""Idle cost: CPU seconds a minute that the real daemon's process tree spends with nothing to do.

A real ``dagster-daemon`` runs the repository's ``dagster.yaml`` on a temporary PostgreSQL
instance database (as the queue-latency benchmark does), once serving the full code location
(``cdr_dagster.definitions``, on a temporary PostgreSQL CDR database with an empty schema and
the demo's stand-ins for the health check's pages: every sensor and schedule of the DEV tier as
shipped, nothing queued) and once serving the one-job baseline location
(``benchmarks.one_job_location``: what Dagster itself costs). Each daemon first settles (every
daemon has sent a heartbeat and ``CDR_BENCH_IDLE_SETTLE_SECONDS``, default 20, have passed),
then idles for ``CDR_BENCH_IDLE_SECONDS`` (default 60). The cost is the CPU time (user and
system) of the whole process tree over that time: the daemon, its code server and their
children, including children that ended (counted by their parent's ``children_user`` and
``children_system``). Both daemons run the same settings, so the ratio shows what the code
location's sensors, schedules and size add.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy import create_engine

from cdr_dagster.cdr.schema import create_schema
from cdr_dagster.demo.stand_ins import build_stand_ins, stand_in_environment
from cdr_dagster_tests.queue_fixtures import queue_daemon, wait_for, write_cdr_scripts
from cdr_dagster_tests.services.daemon import DagsterDaemon
from cdr_dagster_tests.services.postgres import temporary_database

TARGET = "cdr_dagster.definitions"
BASELINE = "benchmarks.one_job_location"
GOAL_RATIO = 1.3
#: The daemons ``dagster-daemon run`` starts with the shipped dagster.yaml.
DAEMON_TYPES = {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"}


@dataclass(frozen=True)
class IdleCost:
    """CPU seconds a minute of one daemon's process tree, and how many processes it held."""

    cpu_seconds_per_minute: float
    processes: list[str]


def tree_cpu_seconds(root: psutil.Process) -> tuple[float, list[str]]:
    """CPU seconds used so far by ``root`` and every live descendant, plus what their ended
    children used (counted when they were reaped); and what each live process runs."""
    total, names = 0.0, []
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            command = process.cmdline()
        except psutil.NoSuchProcess:  # ended meanwhile: its parent counts it once reaped
            continue
        total += times.user + times.system + times.children_user + times.children_system
        names.append(" ".join(Path(part).name for part in command[:4]))
    return total, names


def _settled(daemon: DagsterDaemon) -> bool:
    beats = daemon.instance.get_daemon_heartbeats()
    return DAEMON_TYPES <= set(beats)


def measure(
    location_module: str,
    idle_seconds: float,
    settle_seconds: float,
    environment: dict[str, str] | None = None,
) -> IdleCost:
    """The idle cost of a daemon serving ``location_module`` (``environment``: settings to
    add to the daemon's, e.g. to compare intervals)."""
    with (
        tempfile.TemporaryDirectory(prefix="cdr-idle-bench-") as scratch,
        temporary_database("cdr_idle") as cdr_url,
    ):
        engine = create_engine(cdr_url)
        try:
            create_schema(engine)
        finally:
            engine.dispose()
        basedir = write_cdr_scripts(Path(scratch) / "cdr", cdr_url)
        stand_ins = Path(scratch) / "stand-ins"
        build_stand_ins(stand_ins)
        extra_env = {
            **stand_in_environment(stand_ins),
            "CDR_MAIL_OUTBOX": str(Path(scratch) / "outbox"),
            **(environment or {}),
        }
        home = Path(scratch) / "dagster_home"
        with queue_daemon(
            home, cdr_url, basedir, extra_env=extra_env, location_module=location_module
        ) as daemon:
            daemon.start()
            wait_for(
                lambda: _settled(daemon), 180, "every daemon's first heartbeat", daemon.log_tail
            )
            time.sleep(settle_seconds)
            assert daemon.process is not None
            root = psutil.Process(daemon.process.pid)
            before, _ = tree_cpu_seconds(root)
            started = time.monotonic()
            time.sleep(idle_seconds)
            after, processes = tree_cpu_seconds(root)
            elapsed = time.monotonic() - started
            if daemon.process.poll() is not None:
                raise RuntimeError(f"the daemon ended while idle:\n{daemon.log_tail()}")
            return IdleCost((after - before) * 60.0 / elapsed, processes)


def run() -> list[str]:
    """Measure the full location's daemon and the baseline's; return the report line."""
    idle_seconds = float(os.environ.get("CDR_BENCH_IDLE_SECONDS", "60"))
    settle_seconds = float(os.environ.get("CDR_BENCH_IDLE_SETTLE_SECONDS", "20"))
    ours = measure(TARGET, idle_seconds, settle_seconds)
    base = measure(BASELINE, idle_seconds, settle_seconds)
    ratio = ours.cpu_seconds_per_minute / base.cpu_seconds_per_minute
    return [
        f"idle_cost: {ours.cpu_seconds_per_minute:.1f} cpu-s/min ({ratio:.2f}x one-job daemon "
        f"{base.cpu_seconds_per_minute:.1f} cpu-s/min; idle {idle_seconds:g} s, "
        f"{len(ours.processes)} vs {len(base.processes)} processes; goal <= {GOAL_RATIO:g}x "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'})"
    ]


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
