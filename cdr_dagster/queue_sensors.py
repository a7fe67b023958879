"""The two CDR queue sensors, replacing the legacy two-minute sweeps.

- ``batch_job_queue_sensor`` finds ``batch_job`` rows in status ``Queued`` and requests one run
  of ``run_batch_job`` per row (run key ``batch-{id}``);
- ``publishing_queue_sensor`` finds ``pub_proc`` rows in status ``Ready`` and requests one run
  of ``run_publishing_job`` per row (run key ``pub-{id}``).

Each look at the queue is one cheap query of the CDR database plus, per newly waiting row, one
look-up of its run key in the instance: a row whose run was already requested (and has not yet
claimed it) is not requested again, so the tick history shows only new work. The daemon applies
the same run-key check itself. Exactly-once does not rest on run keys (they are forgotten when
old runs are purged) but on the compare-and-set claim the run makes in the CDR database.

Both sensors are RUNNING by default on every tier.

Why a tick watches the queue instead of looking once: Dagster's sensor daemon starts a round
of ticks at most every 5 s (``MIN_INTERVAL_LOOP_TIME`` in ``dagster._daemon.sensor``), so a
single look per tick leaves a row waiting up to 5 s for the next tick, and a run process needs
about 3 s more to start: the 10 s goal for a queued row to become a started run was missed
under load (p95 11.7 s). A tick therefore keeps looking, every ``interval`` seconds, for up to
the watch time, and returns as soon as it finds new rows. The watch ends before the daemon's
next round, so the next tick starts on time (the daemon runs one tick of a sensor at a time).

Settings, read from the environment:

- ``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` and ``CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS``: seconds
  between two looks (default 1; the legacy swept every 2 minutes). Also the sensors' minimum
  interval, read when the code location loads: anything under 5 s ticks on every round.
- ``CDR_QUEUE_WATCH_SECONDS``: how long one tick keeps looking (default 3.5; 0 is one look
  per tick), checked when the code location loads and read at each tick. Watching needs the
  instance to evaluate sensors in threads (``sensors: use_threads: true`` in ``dagster.yaml``,
  as shipped); otherwise set it to 0, or the watches of the two sensors would delay every
  other sensor.

A look is one indexed query; the connection is held for the watch, with no transaction left
open between looks.
"""

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from cdr_dagster.jobs.batch_jobs import (
    BatchJobConfig,
    batch_job_tags,
    batch_run_key,
    run_batch_job,
)
from cdr_dagster.jobs.publishing_queue import (
    PublishingJobConfig,
    publishing_job_tags,
    publishing_run_key,
    run_publishing_job,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.settings import seconds_setting

if TYPE_CHECKING:  # the queue data layer (and SQLAlchemy) is imported when a tick needs it
    from cdr_dagster.cdr.queues import QueuedBatchJob, QueuedPublishingJob

BATCH_INTERVAL_VARIABLE = "CDR_BATCH_QUEUE_INTERVAL_SECONDS"
PUBLISHING_INTERVAL_VARIABLE = "CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS"
WATCH_VARIABLE = "CDR_QUEUE_WATCH_SECONDS"
DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_WATCH_SECONDS = 3.5
#: Dagster's sensor daemon starts a round of ticks every 5 s; a watch must end before the next.
DAEMON_ROUND_SECONDS = 5.0
#: Most rows requested in one tick; the rest wait for the next tick.
MAX_ROWS_PER_TICK = 100

#: Tags the daemon puts on the runs a sensor requests (public, documented tag names).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


def interval_seconds(variable: str, environ: Mapping[str, str] | None = None) -> int:
    """The seconds between two looks in ``variable`` (whole seconds, at least 1; default 1)."""
    env = os.environ if environ is None else environ
    return int(seconds_setting(env, variable, DEFAULT_INTERVAL_SECONDS, whole=True, minimum=1))


def watch_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long one tick keeps looking at its queue (``CDR_QUEUE_WATCH_SECONDS``, default 3.5;
    0 means one look per tick). It must end before the daemon's next round (under 5 s)."""
    env = os.environ if environ is None else environ
    return seconds_setting(env, WATCH_VARIABLE, DEFAULT_WATCH_SECONDS, under=DAEMON_ROUND_SECONDS)


def requested_run_keys(
    instance: dg.DagsterInstance, sensor_name: str, run_keys: list[str]
) -> set[str]:
    """Those of ``run_keys`` that already name a run this sensor requested.

    One query per key, as the daemon does it (its note: faster than an IN over run tags).
    """
    found = set()
    for key in run_keys:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: key}), limit=5)
        if any(run.tags.get(SENSOR_NAME_TAG) == sensor_name for run in runs):
            found.add(key)
    return found


def _tick(
    context: dg.SensorEvaluationContext,
    cdr_db: CdrDatabaseResource,
    sensor_name: str,
    what: str,
    pending: Callable[..., list[Any]],
    run_request: Callable[[Any], dg.RunRequest],
    interval: float,
) -> dg.SensorResult | dg.SkipReason:
    """One tick of a queue sensor: ``run_request`` for each row ``pending`` finds waiting
    (at most ``MAX_ROWS_PER_TICK``), less those whose run key already has a run.

    It looks every ``interval`` seconds until it finds such rows or the watch time
    (:func:`watch_seconds`) is over, then returns them, or a skip naming what it saw last.
    ``what`` names the waiting rows in skip reasons.
    """
    deadline = time.monotonic() + watch_seconds()
    done: set[str] = set()  # run keys seen with a run; they keep it
    with cdr_db.connect() as conn:
        while True:
            rows = pending(conn, limit=MAX_ROWS_PER_TICK)
            conn.rollback()  # no transaction stays open while the tick waits
            requests = [run_request(row) for row in rows]
            unknown = [r.run_key for r in requests if r.run_key and r.run_key not in done]
            if unknown:
                done |= requested_run_keys(context.instance, sensor_name, unknown)
            fresh = [request for request in requests if request.run_key not in done]
            remaining = deadline - time.monotonic()
            if fresh or remaining <= 0:
                break
            time.sleep(min(interval, remaining))
    if not requests:
        return dg.SkipReason(f"no {what} waiting")
    waiting = sorted(request.run_key for request in requests if request.run_key in done)
    if not fresh:
        return dg.SkipReason(
            f"{len(requests)} {what} waiting, all with runs already requested: {', '.join(waiting)}"
        )
    if waiting:
        context.log.info(f"runs already requested for {', '.join(waiting)}")
    return dg.SensorResult(run_requests=fresh)


def _batch_run_request(row: "QueuedBatchJob") -> dg.RunRequest:
    """The run of ``run_batch_job`` that starts batch job ``row``."""
    return dg.RunRequest(
        run_key=batch_run_key(row.id),
        run_config=dg.RunConfig(ops={"run_batch_job_op": BatchJobConfig(batch_job_id=row.id)}),
        tags=batch_job_tags(row.id, row.name),
    )


def _publishing_run_request(row: "QueuedPublishingJob") -> dg.RunRequest:
    """The run of ``run_publishing_job`` that starts publishing job ``row``."""
    return dg.RunRequest(
        run_key=publishing_run_key(row.id),
        run_config=dg.RunConfig(
            ops={"run_publishing_job_op": PublishingJobConfig(pub_proc_id=row.id)}
        ),
        tags=publishing_job_tags(row.id, row.pub_subset),
    )


BATCH_INTERVAL = interval_seconds(BATCH_INTERVAL_VARIABLE)
PUBLISHING_INTERVAL = interval_seconds(PUBLISHING_INTERVAL_VARIABLE)
watch_seconds()  # a bad value stops the code location from loading, naming it


@dg.sensor(
    name="batch_job_queue_sensor",
    job=run_batch_job,
    minimum_interval_seconds=BATCH_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Finds batch_job rows in status Queued (long reports queued by CDR admin pages) and "
        "requests one run of run_batch_job per row, run key batch-{id}. Replaces the legacy "
        "batch_job_queue.Sweeper. Each tick watches the queue for up to "
        "CDR_QUEUE_WATCH_SECONDS (default 3.5 s), looking every "
        "CDR_BATCH_QUEUE_INTERVAL_SECONDS (default 1 s), and returns as soon as a row waits."
    ),
)
def batch_job_queue_sensor(
    context: dg.SensorEvaluationContext, cdr_db: CdrDatabaseResource
) -> dg.SensorResult | dg.SkipReason:
    """One run request per ``Queued`` batch job that has no run yet."""
    from cdr_dagster.cdr.queues import pending_batch_jobs

    return _tick(
        context,
        cdr_db,
        "batch_job_queue_sensor",
        "Queued batch jobs",
        pending_batch_jobs,
        _batch_run_request,
        BATCH_INTERVAL,
    )


@dg.sensor(
    name="publishing_queue_sensor",
    job=run_publishing_job,
    minimum_interval_seconds=PUBLISHING_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Finds pub_proc rows in status Ready and requests one run of run_publishing_job per "
        "row, run key pub-{id}. Replaces the legacy publishing_queue.Sweeper. Each tick "
        "watches the queue for up to CDR_QUEUE_WATCH_SECONDS (default 3.5 s), looking every "
        "CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS (default 1 s), and returns as soon as a job "
        "is Ready."
    ),
)
def publishing_queue_sensor(
    context: dg.SensorEvaluationContext, cdr_db: CdrDatabaseResource
) -> dg.SensorResult | dg.SkipReason:
    """One run request per ``Ready`` publishing job that has no run yet."""
    from cdr_dagster.cdr.queues import pending_publishing_jobs

    return _tick(
        context,
        cdr_db,
        "publishing_queue_sensor",
        "Ready publishing jobs",
        pending_publishing_jobs,
        _publishing_run_request,
        PUBLISHING_INTERVAL,
    )
