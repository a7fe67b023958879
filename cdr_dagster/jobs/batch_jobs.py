"""``run_batch_job``: start one queued CDR batch job (legacy ``batch_job_queue.Sweeper``).

The CDR admin pages queue long reports as ``batch_job`` rows in status ``Queued``;
``batch_job_queue_sensor`` requests one run of this job per row. The run:

1. claims the row compare-and-set (``Queued`` -> ``Initiating``); a row that is no longer
   ``Queued`` (somebody else started it) is skipped with a log line, never run twice;
2. runs the row's command as the legacy sweeper did: a relative path lies under
   ``CDR_BASEDIR``, a ``.py`` script runs with the configured Python, and the batch job id is
   the one argument; the output streams into the run log;
3. when the process ends, leaves the row in a final state: the status the job set itself
   (``Completed``, ``Aborted``, ``Stopped``), otherwise ``Completed`` on exit status 0 and
   ``Aborted`` with the exit status in ``progress``. A missing command, or one outside the base
   folder, ends ``Aborted`` with the reason. Whatever happens after the claim (an error, the
   run being terminated) the row is finalised, so no row is left ``Initiating`` for ever.

Unlike the legacy sweeper, which spawned the job and forgot it, the run lasts as long as the
job, so the Dagster UI shows its output, duration and outcome. An ``Aborted`` job fails the
run (and so reaches the run-failure mail); a job an operator stopped (``Stopped``) does not.
"""

import traceback
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandError, CommandRunnerResource

if TYPE_CHECKING:  # the queue data layer (and SQLAlchemy) is imported when a run needs it
    from cdr_dagster.cdr.queues import BatchJob, FinalStatus

#: Tag naming the batch job row of a run (also used to find runs of a row).
BATCH_JOB_TAG = "cdr/batch-job"


def batch_run_key(job_id: int) -> str:
    """The run key (and ``cdr/lock`` value) of the run that starts batch job ``job_id``."""
    return f"batch-{job_id}"


def batch_job_tags(job_id: int, name: str | None = None) -> dict[str, str]:
    """Run tags naming batch job ``job_id``; ``cdr/lock`` keeps two runs of it from overlapping."""
    tags = {
        BATCH_JOB_TAG: str(job_id),
        "cdr/lock": batch_run_key(job_id),
        "cdr/queue": "batch",
    }
    if name:
        tags["cdr/batch-job-name"] = name[:200]
    return tags


class BatchJobConfig(dg.Config):
    """Which batch job to start (the legacy sweeper had no options; the sensor fills this in)."""

    batch_job_id: int = Field(
        gt=0, description="The batch_job row (its id) whose command this run starts."
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Kill the job's process after this many seconds and mark it Aborted; unset means "
            "no limit of our own (the instance's run monitoring still applies)."
        ),
    )


def _status_metadata(job: "BatchJob | None", final: "FinalStatus | None") -> dict[str, str]:
    metadata: dict[str, str] = {}
    if job is not None:
        metadata.update({"name": job.name, "command": job.command})
    if final is not None:
        metadata["final_status"] = final.status
        metadata["status_set_by"] = "the batch job" if final.kept else "this run"
        if final.message:
            metadata["progress"] = final.message
    return metadata


def _recover_after_dead_parent(
    context: dg.OpExecutionContext, cdr_db: CdrDatabaseResource, job: "BatchJob"
) -> "FinalStatus | None":
    """Finalise a row a previous attempt of this run claimed and then died without closing.

    A re-execution (automatic retry after a run worker died, or an operator's re-execute)
    finds the row no longer ``Queued``. When the run it re-executes was for the same row and
    did not succeed, that run claimed the row and could not record its end: mark it
    ``Aborted`` rather than start the job a second time.
    """
    from cdr_dagster.cdr.queues import abort_batch_job

    parent_id = context.run.parent_run_id
    if parent_id is None:
        return None
    parent = context.instance.get_run_by_id(parent_id)
    if parent is None or parent.tags.get(BATCH_JOB_TAG) != str(job.id):
        return None
    if parent.status == dg.DagsterRunStatus.SUCCESS:
        return None
    reason = (
        f"Aborted by Dagster run {context.run.run_id}: the run {parent_id} that started this "
        f"batch job ended ({parent.status.value}) without recording how the job ended"
    )
    with cdr_db.begin() as conn:
        return abort_batch_job(conn, job.id, reason)


@dg.op(
    name="run_batch_job_op",
    description=(
        "Claim a Queued batch_job row (Queued -> Initiating, compare-and-set), run its command "
        "under CDR_BASEDIR with the job id as argument, stream the output, and leave the row "
        "Completed, Aborted or the status the job set itself."
    ),
    tags={"cdr/family": "queues"},
)
def run_batch_job_op(
    context: dg.OpExecutionContext,
    config: BatchJobConfig,
    cdr_db: CdrDatabaseResource,
    commands: CommandRunnerResource,
) -> None:
    """Start batch job ``config.batch_job_id`` if this run wins its claim; record its end."""
    from cdr_dagster.cdr.queues import (
        BATCH_ABORTED,
        abort_batch_job,
        claim_batch_job,
        finish_batch_job,
        get_batch_job,
    )

    job_id = config.batch_job_id
    with cdr_db.begin() as conn:
        job = get_batch_job(conn, job_id)
        claimed = job is not None and claim_batch_job(conn, job_id)
    if job is None:
        context.log.warning(f"batch job {job_id} does not exist; nothing to run")
        context.add_output_metadata({"outcome": "missing"})
        return
    if not claimed:
        with cdr_db.connect() as conn:
            current = get_batch_job(conn, job_id) or job
        recovered = _recover_after_dead_parent(context, cdr_db, current)
        if recovered is not None:
            context.log.error(
                f"batch job {job_id} ({job.name!r}) was claimed by an earlier attempt of this "
                f"run that died; recorded it as {recovered.status}"
            )
            context.add_output_metadata(
                {"outcome": "recovered", **_status_metadata(current, recovered)}
            )
            return
        context.log.warning(
            f"batch job {job_id} ({job.name!r}) is in status {current.status!r}, not Queued: "
            "somebody else started it; skipped"
        )
        context.add_output_metadata({"outcome": "skipped", "status": current.status})
        return

    context.log.info(f"claimed batch job {job_id} ({job.name!r}): Initiating {job.command}")
    final: FinalStatus | None = None
    exit_code: int | None = None
    try:
        try:
            result = commands.run(
                job.command,
                [str(job_id)],
                log=context.log,
                timeout_seconds=config.timeout_seconds,
            )
        except CommandError as exc:
            reason = f"Batch job command {job.command!r} cannot be run: {exc}"
            context.log.error(reason)
            with cdr_db.begin() as conn:
                final = abort_batch_job(conn, job_id, reason)
        else:
            exit_code = result.exit_code
            context.log.info(f"processed {' '.join(result.command)}")
            detail = None
            if result.timed_out:
                detail = f"killed after its time limit of {config.timeout_seconds} s"
            elif result.output_tail:
                detail = f"last output: {result.output_tail[-1][:500]}"
            with cdr_db.begin() as conn:
                final = finish_batch_job(conn, job_id, result.exit_code, detail=detail)
    finally:
        if final is None:
            # The command did not come back normally: an error here, or the run was terminated
            # (the runner has already stopped the job's process group).
            error = traceback.format_exc(limit=0).strip().splitlines()[-1]
            reason = f"Aborted: the Dagster run {context.run.run_id} ended early ({error})"
            try:
                with cdr_db.begin() as conn:
                    final = abort_batch_job(conn, job_id, reason)
                context.log.error(f"batch job {job_id} recorded as {final.status}: {reason}")
            except Exception as exc:  # noqa: BLE001 - the original error is re-raised below
                context.log.error(
                    f"batch job {job_id} could not be recorded as Aborted ({exc}); it stays in "
                    "its current status until re-executed or failed by an operator"
                )

    metadata: dict[str, dg.RawMetadataValue] = {"outcome": "ran", **_status_metadata(job, final)}
    if exit_code is not None:
        metadata["exit_code"] = exit_code
        metadata["duration_seconds"] = round(result.duration_seconds, 3)
        metadata["output_lines"] = result.line_count
    context.add_output_metadata(metadata)
    if final.kept:
        context.log.info(f"batch job {job_id} ended {final.status} (set by the job itself)")
    else:
        context.log.info(f"batch job {job_id} recorded as {final.status}")
    if final.status.casefold() == BATCH_ABORTED.casefold():
        raise dg.Failure(
            description=f"batch job {job_id} ({job.name}) ended Aborted: "
            f"{final.message or 'set by the job itself'}",
            metadata=metadata,
        )


@dg.job(
    name="run_batch_job",
    description=(
        "Runs one queued CDR batch job (a long report queued by a CDR admin page) and records "
        "how it ended. Launched by batch_job_queue_sensor, one run per batch_job row; "
        "replaces the legacy batch_job_queue.Sweeper."
    ),
    tags={"cdr/family": "queues", "cdr/queue": "batch"},
)
def run_batch_job() -> None:
    """The one-op batch job runner."""
    run_batch_job_op()
