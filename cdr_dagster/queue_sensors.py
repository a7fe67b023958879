"""The two CDR queue sensors, replacing the legacy two-minute sweeps.

- ``batch_job_queue_sensor`` finds ``batch_job`` rows in status ``Queued`` and requests one run
  of ``run_batch_job`` per row (run key ``batch-{id}``);
- ``publishing_queue_sensor`` finds ``pub_proc`` rows in status ``Ready`` and requests one run
  of ``run_publishing_job`` per row (run key ``pub-{id}``).

Each look at the queue is one cheap query of the CDR database plus, per newly waiting row, one
look-up of its runs in the instance (by the row's tag): a row whose run was already requested
(and has not yet claimed it) is not requested again, so the tick history shows only new work.
A row whose runs all ended without claiming it (canceled while queued, failed before the
claim) is requested again under a new run key (``batch-4#2``), up to three runs in all; then
the operators get one mail and the row is left to them (``cdr_dagster.queue_recovery``).
Exactly-once does not rest on run keys (they are forgotten when old runs are purged) but on
the compare-and-set claim the run makes in the CDR database.

Both sensors are RUNNING by default on every tier.

Why a tick watches the queue instead of looking once: a row must become a run within seconds,
and a tick every 5 s round would cost the daemon a tick (and its history rows) every 5 s. A
tick therefore keeps looking, every ``interval`` seconds, for up to the watch time, and returns
as soon as it finds new rows (``cdr_dagster/watching.py``). The default watch, 48.5 s, ends
just before a daemon round (rounds come every 5 s), so a row is found within a second for
48.5 s out of every 50 s, while the sensor ticks every 50 s: an idle queue costs one cheap
query a second (docs/architecture.md, "Idle cost").

Settings, read from the environment:

- ``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` and ``CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS``: seconds
  between two looks (default 1; the legacy swept every 2 minutes). Also the sensors' minimum
  interval, read when the code location loads: anything under 5 s ticks on every round.
- ``CDR_QUEUE_WATCH_SECONDS``: how long one tick keeps looking (default 48.5; 0 is one look
  per tick; under 50, as Dagster gives a sensor evaluation 60 s), checked when the code
  location loads and read at each tick; shared with the "Run Job Now" sensor. A value 1.5 s
  under a multiple of 5 s wastes the least time between two watches. Watching needs the
  instance to evaluate sensors in threads (``sensors: use_threads: true`` in ``dagster.yaml``,
  as shipped); otherwise set it to 0, or the watches would delay every other sensor.

A look is one indexed query on a connection in autocommit mode, held for the watch: no
transaction is opened, so none is left open between looks.
"""

import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from cdr_dagster.jobs.batch_jobs import (
    BatchJobConfig,
    batch_job_tags,
    run_batch_job,
)
from cdr_dagster.jobs.publishing_queue import (
    PublishingJobConfig,
    publishing_job_tags,
    run_publishing_job,
)
from cdr_dagster.queue_recovery import (
    ATTEMPT_TAG,
    MAX_ATTEMPTS,
    Attempt,
    QueueKind,
    attempt_run_key,
    exhausted_report,
    next_attempt,
    queue_kinds,
    runs_of_row,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP, seconds_setting
from cdr_dagster.watching import (  # noqa: F401 - re-exported: the queue's settings
    DAEMON_ROUND_SECONDS,
    DEFAULT_WATCH_SECONDS,
    MAX_WATCH_SECONDS,
    WATCH_VARIABLE,
    watch,
    watch_seconds,
)

if TYPE_CHECKING:  # the queue data layer (and SQLAlchemy) is imported when a tick needs it
    from cdr_dagster.cdr.queues import QueuedBatchJob, QueuedPublishingJob

BATCH_INTERVAL_VARIABLE = "CDR_BATCH_QUEUE_INTERVAL_SECONDS"
PUBLISHING_INTERVAL_VARIABLE = "CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 1
#: Most rows requested in one tick; the rest wait for the next tick.
MAX_ROWS_PER_TICK = 100

#: Tags the daemon puts on the runs a sensor requests (public, documented tag names).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


def interval_seconds(variable: str, environ: Mapping[str, str] | None = None) -> int:
    """The seconds between two looks in ``variable`` (whole seconds, at least 1; default 1)."""
    env = os.environ if environ is None else environ
    return int(seconds_setting(env, variable, DEFAULT_INTERVAL_SECONDS, whole=True, minimum=1))


def _report_exhausted(
    context: dg.SensorEvaluationContext,
    email: EmailResource,
    kind: "QueueKind",
    rows: list[tuple[Any, list[dg.DagsterRun]]],
) -> None:
    """Mail the operators once about each row that used up its attempts.

    The ids already reported are kept in the sensor's cursor (only those still waiting, so
    it stays small); a mail that cannot be sent is tried again on the next tick.
    """
    reported = set(json.loads(context.cursor)) if context.cursor else set()
    still = {row.id for row, _ in rows}
    for row, runs in rows:
        if row.id in reported:
            continue
        subject, body = exhausted_report(kind, row, runs)
        try:
            email.send(subject, body, group=DEVELOPERS_GROUP)
        except Exception as exc:  # noqa: BLE001 - reported again on the next tick
            context.log.error(f"could not mail about {kind.noun} {row.id}: {exc}")
            continue
        context.log.warning(subject)
        reported.add(row.id)
    context.update_cursor(json.dumps(sorted(reported & still)))


def _tick(
    context: dg.SensorEvaluationContext,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    sensor_name: str,
    kind: "QueueKind",
    what: str,
    pending: Callable[..., list[Any]],
    run_request: Callable[[Any, "Attempt"], dg.RunRequest],
    interval: float,
) -> dg.SensorResult | dg.SkipReason:
    """One tick of a queue sensor: ``run_request`` for each row ``pending`` finds waiting
    (at most ``MAX_ROWS_PER_TICK``) that is due an attempt (``queue_recovery.next_attempt``):
    no run of this sensor yet, or only runs that ended without claiming it.

    It looks every ``interval`` seconds until it finds such rows or the watch time
    (:func:`watch_seconds`) is over, then returns them, or a skip naming what it saw last.
    Rows that used up their attempts are mailed about once. ``what`` names the waiting rows
    in skip reasons.
    """
    attempts: dict[int, Attempt] = {}  # decided once per row and tick
    with cdr_db.connect() as conn:
        # Autocommit: a look is the query alone (no BEGIN and ROLLBACK around it), and no
        # transaction stays open while the tick waits.
        conn.execution_options(isolation_level="AUTOCOMMIT")

        def look() -> tuple[list[Any], list[Any]]:
            """The waiting rows, and those of them due an attempt."""
            rows = pending(conn, limit=MAX_ROWS_PER_TICK)
            for row in rows:
                if row.id not in attempts:
                    runs = runs_of_row(context.instance, kind, row.id, sensor_name)
                    attempts[row.id] = next_attempt(kind, row.id, runs)
            return rows, [row for row in rows if attempts[row.id].run_key is not None]

        rows, fresh = watch(look, lambda seen: bool(seen[1]), interval)
    exhausted = [
        (row, list(attempts[row.id].previous)) for row in rows if attempts[row.id].exhausted
    ]
    if exhausted or context.cursor:
        _report_exhausted(context, email, kind, exhausted)
    if not rows:
        return dg.SkipReason(f"no {what} waiting")
    if not fresh:
        in_progress = [row for row in rows if not attempts[row.id].exhausted]
        parts = []
        if in_progress:
            keys = sorted(
                attempt_run_key(kind, row.id, max(attempts[row.id].number, 1))
                for row in in_progress
            )
            parts.append(f"all with runs already requested: {', '.join(keys)}")
        if exhausted:
            ids = ", ".join(str(row.id) for row, _ in exhausted)
            parts.append(f"left for the operators after {MAX_ATTEMPTS} runs: {ids}")
        return dg.SkipReason(f"{len(rows)} {what} waiting, {'; '.join(parts)}")
    for row in fresh:
        if attempts[row.id].number > 1:
            context.log.warning(
                f"{kind.noun} {row.id} still waits after {attempts[row.id].number - 1} run(s) "
                f"ended without claiming it; requesting attempt {attempts[row.id].number}"
            )
    return dg.SensorResult(run_requests=[run_request(row, attempts[row.id]) for row in fresh])


def _attempt_tags(attempt: "Attempt") -> dict[str, str]:
    """The attempt number tag of a run that is not a row's first."""
    return {ATTEMPT_TAG: str(attempt.number)} if attempt.number > 1 else {}


def _batch_run_request(row: "QueuedBatchJob", attempt: "Attempt") -> dg.RunRequest:
    """The run of ``run_batch_job`` that starts batch job ``row``."""
    return dg.RunRequest(
        run_key=attempt.run_key,
        run_config=dg.RunConfig(ops={"run_batch_job_op": BatchJobConfig(batch_job_id=row.id)}),
        tags={**batch_job_tags(row.id, row.name), **_attempt_tags(attempt)},
    )


def _publishing_run_request(row: "QueuedPublishingJob", attempt: "Attempt") -> dg.RunRequest:
    """The run of ``run_publishing_job`` that starts publishing job ``row``."""
    return dg.RunRequest(
        run_key=attempt.run_key,
        run_config=dg.RunConfig(
            ops={"run_publishing_job_op": PublishingJobConfig(pub_proc_id=row.id)}
        ),
        tags={**publishing_job_tags(row.id, row.pub_subset), **_attempt_tags(attempt)},
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
        "CDR_QUEUE_WATCH_SECONDS (default 48.5 s), looking every "
        "CDR_BATCH_QUEUE_INTERVAL_SECONDS (default 1 s), and returns as soon as a row waits."
    ),
)
def batch_job_queue_sensor(
    context: dg.SensorEvaluationContext, cdr_db: CdrDatabaseResource, email: EmailResource
) -> dg.SensorResult | dg.SkipReason:
    """One run request per ``Queued`` batch job that is due an attempt."""
    from cdr_dagster.cdr.queues import pending_batch_jobs

    return _tick(
        context,
        cdr_db,
        email,
        "batch_job_queue_sensor",
        queue_kinds()[0],
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
        "watches the queue for up to CDR_QUEUE_WATCH_SECONDS (default 48.5 s), looking every "
        "CDR_PUBLISHING_QUEUE_INTERVAL_SECONDS (default 1 s), and returns as soon as a job "
        "is Ready."
    ),
)
def publishing_queue_sensor(
    context: dg.SensorEvaluationContext, cdr_db: CdrDatabaseResource, email: EmailResource
) -> dg.SensorResult | dg.SkipReason:
    """One run request per ``Ready`` publishing job that is due an attempt."""
    from cdr_dagster.cdr.queues import pending_publishing_jobs

    return _tick(
        context,
        cdr_db,
        email,
        "publishing_queue_sensor",
        queue_kinds()[1],
        "Ready publishing jobs",
        pending_publishing_jobs,
        _publishing_run_request,
        PUBLISHING_INTERVAL,
    )
