"""The two CDR queue sensors, replacing the legacy two-minute sweeps.

- ``batch_job_queue_sensor`` finds ``batch_job`` rows in status ``Queued`` and requests one run
  of ``run_batch_job`` per row (run key ``batch-{id}``);
- ``publishing_queue_sensor`` finds ``pub_proc`` rows in status ``Ready`` and requests one run
  of ``run_publishing_job`` per row (run key ``pub-{id}``).

Each tick is one cheap query of the CDR database plus, per waiting row, one look-up of its run
key in the instance: a row whose run was already requested (and has not yet claimed it) is not
requested again, so the tick history shows only new work. The daemon applies the same run-key
check itself. Exactly-once does not rest on run keys (they are forgotten when old runs are
purged) but on the compare-and-set claim the run makes in the CDR database.

Both sensors are RUNNING by default on every tier. Their intervals come from the environment
when the code location loads: ``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` and
``CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS`` (default 2 s each; the legacy swept every 2 minutes).

Why 2 s and not 10 s: Dagster's sensor daemon walks its sensors at most once every 5 s
(``MIN_INTERVAL_LOOP_TIME`` in ``dagster._daemon.sensor``), and a run process needs about 3 s
to start. A 10 s interval therefore makes a row wait up to 10 s for the tick plus the start, and
the 10 s p95 goal for a queued row to become a running job cannot be met (measured: p95 11.7 s).
Any interval of 5 s or less ticks on every daemon loop; 2 s (DESIGN 8b) keeps a tick on every
loop even when a loop runs a little early. Each tick is one indexed query, so the CDR database
does not notice the difference.
"""

import os
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
from cdr_dagster.settings import SettingsError

if TYPE_CHECKING:  # the queue data layer (and SQLAlchemy) is imported when a tick needs it
    from cdr_dagster.cdr.queues import QueuedBatchJob, QueuedPublishingJob

BATCH_INTERVAL_VARIABLE = "CDR_BATCH_QUEUE_INTERVAL_SECONDS"
PUBLISHING_INTERVAL_VARIABLE = "CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 2
#: Most rows requested in one tick; the rest wait for the next tick.
MAX_ROWS_PER_TICK = 100

#: Tags the daemon puts on the runs a sensor requests (public, documented tag names).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


def interval_seconds(variable: str, environ: Mapping[str, str] | None = None) -> int:
    """The sensor interval in ``variable`` (whole seconds, at least 1; default 2)."""
    env = os.environ if environ is None else environ
    value = env.get(variable, "").strip()
    if not value:
        return DEFAULT_INTERVAL_SECONDS
    try:
        seconds = int(value)
    except ValueError:
        raise SettingsError(f"{variable}={value!r} is not a whole number of seconds") from None
    if seconds < 1:
        raise SettingsError(f"{variable}={value!r} must be at least 1 second")
    return seconds


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
) -> dg.SensorResult | dg.SkipReason:
    """One tick of a queue sensor: ``run_request`` for each row ``pending`` finds waiting
    (at most ``MAX_ROWS_PER_TICK``), less those whose run key already has a run; a skip when
    none is left. ``what`` names the waiting rows in skip reasons."""
    with cdr_db.connect() as conn:
        rows = pending(conn, limit=MAX_ROWS_PER_TICK)
    requests = [run_request(row) for row in rows]
    if not requests:
        return dg.SkipReason(f"no {what} waiting")
    keys = [request.run_key for request in requests if request.run_key]
    done = requested_run_keys(context.instance, sensor_name, keys) if keys else set()
    fresh = [request for request in requests if request.run_key not in done]
    if not fresh:
        return dg.SkipReason(
            f"{len(requests)} {what} waiting, all with runs already requested: "
            f"{', '.join(sorted(done))}"
        )
    if done:
        context.log.info(f"runs already requested for {', '.join(sorted(done))}")
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


@dg.sensor(
    name="batch_job_queue_sensor",
    job=run_batch_job,
    minimum_interval_seconds=interval_seconds(BATCH_INTERVAL_VARIABLE),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Finds batch_job rows in status Queued (long reports queued by CDR admin pages) and "
        "requests one run of run_batch_job per row, run key batch-{id}. Replaces the legacy "
        "batch_job_queue.Sweeper. Interval: CDR_BATCH_QUEUE_INTERVAL_SECONDS (default 2 s; "
        "the daemon evaluates sensors at most every 5 s)."
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
    )


@dg.sensor(
    name="publishing_queue_sensor",
    job=run_publishing_job,
    minimum_interval_seconds=interval_seconds(PUBLISHING_INTERVAL_VARIABLE),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Finds pub_proc rows in status Ready and requests one run of run_publishing_job per "
        "row, run key pub-{id}. Replaces the legacy publishing_queue.Sweeper. Interval: "
        "CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS (default 2 s; the daemon evaluates sensors at "
        "most every 5 s)."
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
    )
