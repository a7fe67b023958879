"""Sensors of the code location that are not tied to one job family.

- ``run_failure_email_sensor`` replaces what the legacy scheduler never had: a mail to the
  Developers Notification group whenever a run of this code location fails. A failed queue
  run that left its CDR row claimed (its worker died) first gets the row its failing status,
  and the mail says so (``cdr_dagster.queue_recovery``).
- ``queue_run_canceled_sensor`` does the same for a canceled queue run, and mails only when
  it had to record the row's end.

Both tick once a minute: a failure is mailed within about a minute, well inside the bounds of
docs/run-lifecycle.md (a dead run's row ends and is mailed within minutes of a restart), and
each tick costs the daemon and the code server a sensor evaluation (docs/architecture.md,
"Idle cost").
"""

from typing import TYPE_CHECKING

import dagster as dg

from cdr_dagster.jobs.batch_jobs import run_batch_job
from cdr_dagster.jobs.publishing_queue import run_publishing_job
from cdr_dagster.queue_recovery import settle_row_of_ended_run
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

#: Tag Dagster sets on a failed run that the run-retry daemon will re-execute.
WILL_RETRY_TAG = "dagster/will_retry"


def _error_lines(error: "SerializableErrorInfo | None") -> list[str]:
    """The error and its causes, innermost last, with the innermost stack trace.

    Dagster wraps an exception raised in an op in its own step error; the operator needs the
    original message, which is the last cause in the chain.
    """
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    if not chain:
        return []
    lines = [f"Error: {chain[-1].message.strip()}"]
    lines.extend(f"  raised inside: {outer.message.strip()}" for outer in reversed(chain[:-1]))
    if chain[-1].stack:
        lines.append("".join(chain[-1].stack).rstrip())
    return lines


def failure_report(
    context: dg.RunFailureSensorContext, queue_row: str | None = None
) -> tuple[str, str]:
    """Subject and plain-text body describing a failed run: job, run id, failing steps, error,
    and ``queue_row``, what became of the CDR queue row the run had claimed, when given."""
    run = context.dagster_run
    lines = [
        f"Job: {run.job_name}",
        f"Run id: {run.run_id}",
    ]
    if queue_row:
        lines.append(f"CDR queue row: {queue_row}")
    attempt = run.tags.get("dagster/retry_number")
    if attempt:
        lines.append(f"Attempt: {int(attempt) + 1}")
    step_failures = context.get_step_failure_events()
    for event in step_failures:
        lines.append("")
        lines.append(f"Failing step: {event.step_key}")
        lines.extend(_error_lines(event.step_failure_data.error))
    if not step_failures:
        lines.append("")
        lines.append("Failing step: none (the run failed outside its steps)")
    lines.append("")
    lines.append(f"Run failure: {context.failure_event.message}")
    subject = f"Dagster run failed: {run.job_name} ({run.run_id[:8]})"
    return subject, "\n".join(lines) + "\n"


@dg.run_failure_sensor(
    name="run_failure_email_sensor",
    description=(
        "Mails the Developers Notification group when a run of this code location fails, "
        "naming the job, run id, failing step and error. Attempts that will be retried "
        "automatically are not reported; the last attempt is."
    ),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)
def run_failure_email_sensor(
    context: dg.RunFailureSensorContext, email: EmailResource, cdr_db: CdrDatabaseResource
) -> None:
    """Send one failure mail per failed run that will not be retried, after recording the end
    of the queue row the run left claimed, if any."""
    run = context.dagster_run
    stored = context.instance.get_run_by_id(run.run_id) if context.instance else None
    tags = stored.tags if stored is not None else run.tags
    if tags.get(WILL_RETRY_TAG) == "true":
        context.log.info(f"run {run.run_id} will be retried; not reported")
        return
    queue_row = settle_row_of_ended_run(
        context.instance, stored or run, cdr_db, why=context.failure_event.message
    )
    if queue_row:
        context.log.warning(queue_row)
    subject, body = failure_report(context, queue_row)
    sent = email.send(subject, body, group=DEVELOPERS_GROUP)
    context.log.info(f"failure of run {run.run_id} mailed to {', '.join(sent.recipients)}")


@dg.run_status_sensor(
    name="queue_run_canceled_sensor",
    run_status=dg.DagsterRunStatus.CANCELED,
    monitored_jobs=[run_batch_job, run_publishing_job],
    description=(
        "When a run of run_batch_job or run_publishing_job is canceled after it claimed its "
        "CDR queue row but before it recorded the row's end (its worker was already gone), "
        "records the queue's failing status (Aborted, Failure) with the reason and mails the "
        "Developers Notification group. A run canceled before its claim leaves the row "
        "waiting; the queue sensor requests it again."
    ),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)
def queue_run_canceled_sensor(
    context: dg.RunStatusSensorContext, email: EmailResource, cdr_db: CdrDatabaseResource
) -> None:
    """Record the end of the queue row a canceled run left claimed, and say so."""
    run = context.dagster_run
    queue_row = settle_row_of_ended_run(context.instance, run, cdr_db, why="the run was canceled")
    if not queue_row:
        return
    context.log.warning(queue_row)
    subject = f"Dagster run canceled: {run.job_name} ({run.run_id[:8]})"
    body = f"Job: {run.job_name}\nRun id: {run.run_id}\nCDR queue row: {queue_row}\n"
    sent = email.send(subject, body, group=DEVELOPERS_GROUP)
    context.log.info(f"cancellation of run {run.run_id} mailed to {', '.join(sent.recipients)}")
