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

import dagster as dg
from pydantic import Field

from cdr_dagster.jobs.queue_runs import QUEUE_JOB_TAGS, RowQueue, run_claimed_row
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource

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


def _batch_queue() -> RowQueue:
    """The ``batch_job`` queue for ``run_claimed_row`` (imports the data layer)."""
    from cdr_dagster.cdr import queues

    return RowQueue(
        noun="batch job",
        waiting_status=queues.BATCH_QUEUED,
        failing_status=queues.BATCH_ABORTED,
        set_by="the batch job",
        command_noun="Batch job command",
        message_key="progress",
        row_tag=BATCH_JOB_TAG,
        get=queues.get_batch_job,
        claim=queues.claim_batch_job,
        fail=queues.abort_batch_job,
        finish=queues.finish_batch_job,
        label=lambda job: job.name,
        claimed_line=lambda job: (
            f"claimed batch job {job.id} ({job.name!r}): Initiating {job.command}"
        ),
        command=lambda job: (job.command, [str(job.id)]),
        row_metadata=lambda job: {"name": job.name, "command": job.command},
    )


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
    run_claimed_row(
        context, _batch_queue(), config.batch_job_id, cdr_db, commands, config.timeout_seconds
    )


@dg.job(
    name="run_batch_job",
    description=(
        "Runs one queued CDR batch job (a long report queued by a CDR admin page) and records "
        "how it ended. Launched by batch_job_queue_sensor, one run per batch_job row; "
        "replaces the legacy batch_job_queue.Sweeper."
    ),
    tags={**lane_tags("batch"), **QUEUE_JOB_TAGS, "cdr/queue": "batch"},
    # One op: running it in the run worker itself saves starting a second Python process
    # per run (the multiprocess executor's step process), about a second of every start.
    executor_def=dg.in_process_executor,
)
def run_batch_job() -> None:
    """The one-op batch job runner."""
    run_batch_job_op()
