"""``run_publishing_job``: start one ready CDR publishing job (legacy ``publishing_queue.Sweeper``).

A publishing job is a ``pub_proc`` row created in status ``Ready`` (by SubmitPubJob.py, the
CDR admin, or an export job queueing its push job); ``publishing_queue_sensor`` requests one
run of this job per row. The run:

1. claims the row compare-and-set (``Ready`` -> ``Started``); a row that is no longer ``Ready``
   is skipped with a log line, never published twice;
2. launches the CDR publisher for that job id, as the legacy sweeper did:
   ``python BASEDIR/Publishing/Publish.py {id}`` (the legacy wrote ``publishing/publish.py``,
   which only resolved on Windows' case-insensitive file system), streaming its output;
3. records the outcome: the publisher sets ``In process`` and then ``Success`` or ``Failure``
   itself (and mails the operators); if the process ends without doing so, or cannot be
   started, the job is set to ``Failure`` with the reason in ``messages``, and ``completed``
   stamped, so nothing waits on it for ever. ``Failure`` fails the run.

The run carries ``cdr/queue: publishing``, which the instance limits to one run at a time, and
``cdr/lock: pub-{id}``. The legacy sweeper only did real work on Windows; this job always does.
"""

import traceback
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandError, CommandRunnerResource

if TYPE_CHECKING:  # the queue data layer (and SQLAlchemy) is imported when a run needs it
    from cdr_dagster.cdr.queues import FinalStatus, PublishingJob

#: Tag naming the pub_proc row of a run.
PUB_PROC_TAG = "cdr/pub-proc"
#: The publisher, relative to CDR_BASEDIR (cdr-publishing ``Publishing/Publish.py``).
DEFAULT_PUBLISH_SCRIPT = "Publishing/Publish.py"


def publishing_run_key(job_id: int) -> str:
    """The run key (and ``cdr/lock`` value) of the run that starts publishing job ``job_id``."""
    return f"pub-{job_id}"


def publishing_job_tags(job_id: int, subset: str | None = None) -> dict[str, str]:
    """Run tags naming publishing job ``job_id`` and putting it in the one publishing lane."""
    tags = {
        PUB_PROC_TAG: str(job_id),
        "cdr/lock": publishing_run_key(job_id),
        "cdr/queue": "publishing",
    }
    if subset:
        tags["cdr/pub-subset"] = subset[:200]
    return tags


class PublishingJobConfig(dg.Config):
    """Which publishing job to start (the legacy sweeper had no options; the sensor fills it)."""

    pub_proc_id: int = Field(gt=0, description="The pub_proc row (job id) to publish.")
    publish_script: str = Field(
        default=DEFAULT_PUBLISH_SCRIPT,
        description="The CDR publisher, relative to CDR_BASEDIR; it gets the job id as argument.",
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Kill the publisher after this many seconds and set the job to Failure; unset "
            "means no limit of our own (the instance's run monitoring still applies)."
        ),
    )


def _status_metadata(job: "PublishingJob", final: "FinalStatus | None") -> dict[str, str]:
    metadata = {"pub_subset": job.pub_subset}
    if final is not None:
        metadata["final_status"] = final.status
        metadata["status_set_by"] = "the publisher" if final.kept else "this run"
        if final.message:
            metadata["messages"] = final.message
    return metadata


def _recover_after_dead_parent(
    context: dg.OpExecutionContext, cdr_db: CdrDatabaseResource, job: "PublishingJob"
) -> "FinalStatus | None":
    """Set ``Failure`` on a job a previous attempt of this run claimed and then died without
    recording (see ``batch_jobs._recover_after_dead_parent``)."""
    from cdr_dagster.cdr.queues import fail_publishing_job

    parent_id = context.run.parent_run_id
    if parent_id is None:
        return None
    parent = context.instance.get_run_by_id(parent_id)
    if parent is None or parent.tags.get(PUB_PROC_TAG) != str(job.id):
        return None
    if parent.status == dg.DagsterRunStatus.SUCCESS:
        return None
    reason = (
        f"Dagster run {context.run.run_id}: the run {parent_id} that started this publishing "
        f"job ended ({parent.status.value}) without recording how the job ended"
    )
    with cdr_db.begin() as conn:
        return fail_publishing_job(conn, job.id, reason)


@dg.op(
    name="run_publishing_job_op",
    description=(
        "Claim a Ready pub_proc row (Ready -> Started, compare-and-set), run the CDR publisher "
        "(Publishing/Publish.py) for it, and make sure the job ends Success or Failure."
    ),
    tags={"cdr/family": "queues"},
)
def run_publishing_job_op(
    context: dg.OpExecutionContext,
    config: PublishingJobConfig,
    cdr_db: CdrDatabaseResource,
    commands: CommandRunnerResource,
) -> None:
    """Publish job ``config.pub_proc_id`` if this run wins its claim; record the outcome."""
    from cdr_dagster.cdr.queues import (
        PUB_FAILURE,
        claim_publishing_job,
        fail_publishing_job,
        finish_publishing_job,
        get_publishing_job,
    )

    job_id = config.pub_proc_id
    with cdr_db.begin() as conn:
        job = get_publishing_job(conn, job_id)
        claimed = job is not None and claim_publishing_job(conn, job_id)
    if job is None:
        context.log.warning(f"publishing job {job_id} does not exist; nothing to run")
        context.add_output_metadata({"outcome": "missing"})
        return
    if not claimed:
        with cdr_db.connect() as conn:
            current = get_publishing_job(conn, job_id) or job
        recovered = _recover_after_dead_parent(context, cdr_db, current)
        if recovered is not None:
            context.log.error(
                f"publishing job {job_id} was claimed by an earlier attempt of this run that "
                f"died; recorded it as {recovered.status}"
            )
            context.add_output_metadata(
                {"outcome": "recovered", **_status_metadata(current, recovered)}
            )
            return
        context.log.warning(
            f"publishing job {job_id} ({job.pub_subset}) is in status {current.status!r}, not "
            "Ready: somebody else started it; skipped"
        )
        context.add_output_metadata({"outcome": "skipped", "status": current.status})
        return

    context.log.info(f"starting job {job_id} ({job.pub_subset})")
    final: FinalStatus | None = None
    exit_code: int | None = None
    try:
        try:
            result = commands.run(
                config.publish_script,
                [str(job_id)],
                log=context.log,
                timeout_seconds=config.timeout_seconds,
            )
        except CommandError as exc:
            reason = f"Publishing script {config.publish_script!r} cannot be run: {exc}"
            context.log.error(reason)
            with cdr_db.begin() as conn:
                final = fail_publishing_job(conn, job_id, reason)
        else:
            exit_code = result.exit_code
            detail = None
            if result.timed_out:
                detail = f"killed after its time limit of {config.timeout_seconds} s"
            elif result.output_tail:
                detail = f"last output: {result.output_tail[-1][:500]}"
            with cdr_db.begin() as conn:
                final = finish_publishing_job(conn, job_id, result.exit_code, detail=detail)
    finally:
        if final is None:
            error = traceback.format_exc(limit=0).strip().splitlines()[-1]
            reason = f"Dagster run {context.run.run_id} ended early ({error})"
            try:
                with cdr_db.begin() as conn:
                    final = fail_publishing_job(conn, job_id, reason)
                context.log.error(f"publishing job {job_id} recorded as {final.status}: {reason}")
            except Exception as exc:  # noqa: BLE001 - the original error is re-raised below
                context.log.error(
                    f"publishing job {job_id} could not be recorded as Failure ({exc}); it "
                    "stays in its current status until re-executed or failed by an operator"
                )

    with cdr_db.connect() as conn:
        ended = get_publishing_job(conn, job_id)
    metadata: dict[str, dg.RawMetadataValue] = {"outcome": "ran", **_status_metadata(job, final)}
    if ended is not None and ended.messages and "messages" not in metadata:
        metadata["messages"] = ended.messages
    if exit_code is not None:
        metadata["exit_code"] = exit_code
        metadata["duration_seconds"] = round(result.duration_seconds, 3)
        metadata["output_lines"] = result.line_count
    context.add_output_metadata(metadata)
    setter = "by the publisher" if final.kept else "by this run"
    context.log.info(f"publishing job {job_id} ended {final.status} (set {setter})")
    if final.status.casefold() == PUB_FAILURE.casefold():
        raise dg.Failure(
            description=f"publishing job {job_id} ({job.pub_subset}) ended Failure: "
            f"{metadata.get('messages', '')}",
            metadata=metadata,
        )


@dg.job(
    name="run_publishing_job",
    description=(
        "Runs one ready CDR publishing job (pub_proc row) through the CDR publisher and makes "
        "sure it ends Success or Failure. Launched by publishing_queue_sensor, one run per "
        "row; replaces the legacy publishing_queue.Sweeper. One publishing run at a time."
    ),
    tags={"cdr/family": "queues", "cdr/queue": "publishing"},
)
def run_publishing_job() -> None:
    """The one-op publishing job runner."""
    run_publishing_job_op()
