"""Queue latency: a ``batch_job`` row inserted to its Dagster run started, through the real daemon.

A real ``dagster-daemon`` runs the repository's ``dagster.yaml`` on a temporary PostgreSQL
instance database, with a code location holding only the queue sensors and jobs
(``cdr_dagster_tests.queue_location``) and a temporary PostgreSQL CDR database. Rows are queued
one at a time, at a random moment of the sensor's cycle, and each latency runs from the insert's
commit to the run's start (``RUN_START``, when the run process begins executing); the time to the
run's creation by the sensor is shown too. The first row (which waits for the code server to
load) is not counted.

It measures the shipped settings (``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` 1: a look every
second; ``CDR_QUEUE_WATCH_SECONDS`` 48.5: a tick watches for 48.5 s of every 50 s, the next
tick starting on the daemon's next 5 s round). Rows arrive at random moments of the sensor's
cycle, gaps between two watches included. The baseline is
the legacy scheduler's 2-minute sweep: a row waited 60 s on average (120 s at worst) before it
was even picked up.
Runs start in warm run workers, as shipped (``HostRunLauncher``: a process that has imported
Dagster waits for the next run; the warm-up row also starts the first spare).
Environment: ``CDR_BENCH_QUEUE_ROWS`` (rows per interval, default 20, at least 10),
``CDR_BENCH_QUEUE_INTERVALS`` (comma-separated look intervals in seconds, default the shipped
one; e.g. ``1,10`` adds a comparison) and ``CDR_BENCH_QUEUE_COLD=1`` (adds the figures with
``warm_workers: false``: every run a new process of the code server, as Dagster launches it).
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine

from cdr_dagster.cdr.schema import create_schema
from cdr_dagster.queue_sensors import (
    BATCH_INTERVAL_VARIABLE,
    DAEMON_ROUND_SECONDS,
    interval_seconds,
    watch_seconds,
)
from cdr_dagster_tests.queue_fixtures import (
    insert_batch_job,
    queue_daemon,
    runs_of_batch_job,
    wait_for,
    write_cdr_scripts,
)
from cdr_dagster_tests.services.postgres import temporary_database

#: The legacy sweep ran every 2 minutes: a queued row waited 60 s on average.
LEGACY_MEAN_SECONDS = 60.0
GOAL_P95_SECONDS = 3.0
#: Longest a single row may take to start before the benchmark gives up.
ROW_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class Sample:
    """One row: seconds from the insert to the run's creation and to its start."""

    created: float
    started: float


def _percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (linear interpolation between ranks)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _one_row(engine, daemon, name: str) -> Sample:  # noqa: ANN001 - Engine, DagsterDaemon
    """Queue one quick batch job; wait for its run to start; return its latencies."""
    job_id = insert_batch_job(engine, name)
    inserted = time.time()
    instance = daemon.instance

    def started_record():
        runs = runs_of_batch_job(instance, job_id)
        if not runs:
            return None
        record = instance.get_run_record_by_id(runs[0].run_id)
        return record if record is not None and record.start_time else None

    record = wait_for(
        started_record,
        ROW_TIMEOUT_SECONDS,
        f"the run of batch job {job_id} to start",
        explain=daemon.log_tail,
        interval=0.05,
    )
    return Sample(
        created=record.create_timestamp.timestamp() - inserted,
        started=record.start_time - inserted,
    )


def _cycle_seconds(interval_seconds: int) -> float:
    """Seconds from one tick of the sensor to the next: its watch, rounded up to the daemon's
    next 5 s round (at least one round, or the look interval if longer)."""
    rounds = max(math.ceil(watch_seconds() / DAEMON_ROUND_SECONDS), 1)
    return max(float(interval_seconds), rounds * DAEMON_ROUND_SECONDS)


def _launch_cold(home: Path) -> None:
    """Turn the warm run workers off in the daemon's copy of ``dagster.yaml``."""
    config = home / "dagster.yaml"
    marker = "  class: HostRunLauncher\n"
    text = config.read_text()
    if marker not in text:
        raise RuntimeError(f"{config} names no HostRunLauncher to configure")
    config.write_text(text.replace(marker, marker + "  config:\n    warm_workers: false\n"))


def measure(
    interval_seconds: int, rows: int, seed: int = 20250704, warm: bool = True
) -> list[Sample]:
    """Latencies of ``rows`` rows through a daemon whose sensor looks every
    ``interval_seconds`` (``warm``: with the shipped warm run workers)."""
    pick = random.Random(seed)
    with (
        tempfile.TemporaryDirectory(prefix="cdr-queue-bench-") as scratch,
        temporary_database("cdr_bench") as cdr_url,
    ):
        engine = create_engine(cdr_url)
        try:
            create_schema(engine)
            basedir = write_cdr_scripts(Path(scratch) / "cdr", cdr_url)
            home = Path(scratch) / "dagster_home"
            with queue_daemon(home, cdr_url, basedir, interval_seconds) as daemon:
                if not warm:
                    _launch_cold(home)
                daemon.start()
                _one_row(engine, daemon, "Quiet Report")  # warm-up: code server loading
                samples = []
                for _ in range(rows):
                    # Arrive at a random point of the daemon's round and the sensor's cycle,
                    # as real requests do.
                    time.sleep(pick.uniform(0, _cycle_seconds(interval_seconds)))
                    samples.append(_one_row(engine, daemon, "Quiet Report"))
                return samples
        finally:
            engine.dispose()


def _lines(interval_seconds: int, samples: list[Sample], suffix: str) -> list[str]:
    started = [s.started for s in samples]
    created = [s.created for s in samples]
    p50, p95 = _percentile(started, 0.5), _percentile(started, 0.95)
    baseline = f"baseline: legacy 2-minute sweep mean {LEGACY_MEAN_SECONDS:.0f} s"
    context = (
        f"sensor interval {interval_seconds} s, watch {watch_seconds():g} s, {len(samples)} rows"
    )
    return [
        f"queue_latency_p50{suffix}: {p50:.1f} s ({p50 / LEGACY_MEAN_SECONDS:.2f}x {baseline}; "
        f"{context}; run created after {_percentile(created, 0.5):.1f} s)",
        f"queue_latency_p95{suffix}: {p95:.1f} s ({p95 / LEGACY_MEAN_SECONDS:.2f}x {baseline}; "
        f"{context}; max {max(started):.1f} s; goal <= {GOAL_P95_SECONDS:.0f} s "
        f"{'met' if p95 <= GOAL_P95_SECONDS else 'NOT met'})",
    ]


def run() -> list[str]:
    """Measure every configured interval and return the report lines."""
    rows = max(int(os.environ.get("CDR_BENCH_QUEUE_ROWS", "20")), 10)
    default = interval_seconds(BATCH_INTERVAL_VARIABLE)
    wanted = os.environ.get("CDR_BENCH_QUEUE_INTERVALS", f"{default}")
    intervals = list(dict.fromkeys(int(v) for v in wanted.split(",") if v.strip()))
    lines = []
    for interval in intervals:
        suffix = "" if interval == default else f"_interval{interval}s"
        lines.extend(_lines(interval, measure(interval, rows), suffix))
    if os.environ.get("CDR_BENCH_QUEUE_COLD") == "1":
        lines.extend(_lines(default, measure(default, rows, warm=False), "_cold"))
    return lines


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
