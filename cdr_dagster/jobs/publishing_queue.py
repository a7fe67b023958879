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

The run carries ``cdr/queue: publishing`` (for filtering in the UI; runs may overlap, as the
legacy sweeper's did) and ``cdr/lock: pub-{id}``, except a push job (subset
``Push_Documents_To_Cancer.Gov_*``), which syncs the Akamai media folder under its
``media.locked`` lock: it carries ``cdr/lock: akamai_media``, the lock ``check_media`` carries
too, so the instance never runs the two together (and pushes one at a time). The legacy
sweeper only did real work on Windows; this job always does.
"""

import dagster as dg
from pydantic import Field

from cdr_dagster.jobs.queue_runs import QUEUE_JOB_TAGS, RowQueue, run_claimed_row
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.akamai import MEDIA_LOCK
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource

#: Tag naming the pub_proc row of a run.
PUB_PROC_TAG = "cdr/pub-proc"
#: The publisher, relative to CDR_BASEDIR (cdr-publishing ``Publishing/Publish.py``).
DEFAULT_PUBLISH_SCRIPT = "Publishing/Publish.py"
#: How the subsets of push jobs begin (compared case-insensitively, as SQL Server would).
PUSH_SUBSET_PREFIX = "push_documents_to_cancer.gov"


def is_push_subset(subset: str | None) -> bool:
    """True for the subset of a push job (``Push_Documents_To_Cancer.Gov_Export``, ...)."""
    return (subset or "").lower().startswith(PUSH_SUBSET_PREFIX)


def publishing_run_key(job_id: int) -> str:
    """The run key (and, but for a push, ``cdr/lock`` value) of the run for job ``job_id``."""
    return f"pub-{job_id}"


def publishing_job_tags(job_id: int, subset: str | None = None) -> dict[str, str]:
    """Run tags naming publishing job ``job_id``; a push job takes the Akamai media lock."""
    tags = {
        PUB_PROC_TAG: str(job_id),
        "cdr/lock": MEDIA_LOCK if is_push_subset(subset) else publishing_run_key(job_id),
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


def _publishing_queue(publish_script: str) -> RowQueue:
    """The ``pub_proc`` queue for ``run_claimed_row``, running ``publish_script`` (imports the
    data layer)."""
    from cdr_dagster.cdr import queues

    return RowQueue(
        noun="publishing job",
        waiting_status=queues.PUB_READY,
        failing_status=queues.PUB_FAILURE,
        set_by="the publisher",
        command_noun="Publishing script",
        message_key="messages",
        row_tag=PUB_PROC_TAG,
        get=queues.get_publishing_job,
        claim=queues.claim_publishing_job,
        fail=queues.fail_publishing_job,
        finish=queues.finish_publishing_job,
        label=lambda job: job.pub_subset,
        claimed_line=lambda job: f"starting job {job.id} ({job.pub_subset})",
        command=lambda job: (publish_script, [str(job.id)]),
        row_metadata=lambda job: {"pub_subset": job.pub_subset},
        ended_message=lambda job: job.messages,
    )


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
    queue = _publishing_queue(config.publish_script)
    run_claimed_row(context, queue, config.pub_proc_id, cdr_db, commands, config.timeout_seconds)


@dg.job(
    name="run_publishing_job",
    description=(
        "Runs one ready CDR publishing job (pub_proc row) through the CDR publisher and makes "
        "sure it ends Success or Failure. Launched by publishing_queue_sensor, one run per "
        "row; replaces the legacy publishing_queue.Sweeper. Runs in the publishing lane "
        "(started before reports and chores); publishing runs may overlap, as the legacy "
        "sweeper's did."
    ),
    tags={**lane_tags("publishing"), **QUEUE_JOB_TAGS, "cdr/queue": "publishing"},
    # One op: running it in the run worker itself saves starting a second Python process
    # per run (the multiprocess executor's step process), about a second of every start.
    executor_def=dg.in_process_executor,
)
def run_publishing_job() -> None:
    """The one-op publishing job runner."""
    run_publishing_job_op()
