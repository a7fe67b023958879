"""``weekly_publishing`` and ``nightly_publishing``: the scheduled CDR publishing events.

Legacy ``publishing_task.PublishingTask`` (docs/behaviour-notes.md#publishing-task). Each legacy
step is its own op, so the
run shows which one failed; the steps run the cdr-publishing scripts under
``CDR_BASEDIR/Publishing`` in the legacy order and with the legacy arguments:

========================== ================================================ ============
op                         command                                          graph
========================== ================================================ ============
``<job>_op``               ``PubEmail.py "Weekly Publishing Started" ...``  both
``submit_pub_job``         ``SubmitPubJob.py --{mode} --export|--interim``  both
``cg2public``              ``CG2Public.py --{mode} --export [--inputdir=JobN]`` weekly
``sftp_export_data``       ``sftp-export-data.py`` (no arguments)           weekly
``notify_vol``             ``Notify_VOL.py --{mode}``                       weekly
``check_hotfix_remove``    ``CheckHotfixRemove.py --{mode}``                weekly
``publishing_finished``    ``PubEmail.py "Weekly Publishing Finished" ...`` both
========================== ================================================ ============

``<job>_op`` (``weekly_publishing_op``, ``nightly_publishing_op``) takes the legacy options as
Config (:class:`PublishingTaskConfig`: ``mode``, ``job_id``, ``skip_publish_step``,
``publish_only``; the legacy ``schedule`` option chose the job). Notifications go through
``PubEmail.py`` as in the legacy task (the Operator Publishing Notification group, or
Developers Notification with ``*** DL Missing ***``); a notification that fails is logged as an
error and does not stop the task, as before.

Failure semantics (the legacy ones, expressed in Dagster terms):

- a step has failed when its script exits non-zero, cannot be started (missing, outside the
  base folder) or, for ``SubmitPubJob.py`` only, prints ``Failure`` anywhere in its output
  (the script can exit 0 after a failure it logged). The failure is logged and
  ``*** Error in {script}`` is mailed through PubEmail.py;
- a failure of ``SubmitPubJob.py`` (step 1) stops the task: the op fails, every later op is
  skipped and no "Finished" mail goes out;
- a failure of a later step does not stop the task, exactly as in the legacy: Dagster would skip
  everything downstream of a failed op, so these ops record the failure (log error, error
  mail, output metadata ``failed: true``) and hand on to the next step. ``publishing_finished``
  still sends the "Finished" mail and then fails, naming the steps that failed, so the run is
  marked failed (and the run-failure mail goes out) while every step has had its turn.

``skip_publish_step`` makes ``submit_pub_job`` a no-op; ``publish_only`` makes the four weekly
post-publishing ops no-ops (their metadata says ``skipped``). The legacy ran the weekly
post-publishing scripts only on Windows; here they always run.

Concurrency: the runs carry ``cdr/lock: publishing-task``, so weekly and nightly publishing
never overlap each other (the instance allows one run per ``cdr/lock`` value). They do not
carry ``cdr/queue: publishing``, the label of the ``run_publishing_job`` runs: SubmitPubJob.py
waits for the export and push jobs it queues, which those runs start, so a publishing task in a
one-run ``cdr/queue: publishing`` lane would wait for them forever (until SubmitPubJob.py's own
3-4 hour limit failed it). The instance no longer limits that lane; this keeps it safe if a
limit comes back.
"""

from dataclasses import dataclass, replace
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.commands import CommandError, CommandRunnerResource

#: Folder of the cdr-publishing scripts, relative to CDR_BASEDIR.
PUBLISHING_DIR = "Publishing"
PUB_EMAIL = "PubEmail.py"
SUBMIT_PUB_JOB = "SubmitPubJob.py"
CG2PUBLIC = "CG2Public.py"
SFTP_EXPORT_DATA = "sftp-export-data.py"
NOTIFY_VOL = "Notify_VOL.py"
CHECK_HOTFIX_REMOVE = "CheckHotfixRemove.py"
ERROR_MESSAGE = "Program returned with error code. See log file."
#: Run tags of both publishing jobs (see the module docstring on concurrency).
PUBLISHING_TASK_TAGS = {
    **lane_tags("publishing"),
    "cdr/family": "publishing",
    "cdr/lock": "publishing-task",
}


class PublishingTaskConfig(dg.Config):
    """Options of a publishing task (legacy ``publishing_task.PublishingTask``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description=(
            "Passed to the publishing scripts as --test or --live. The default, test, makes a "
            "launch from the Launchpad a test run; the schedules say live."
        ),
    )
    job_id: int | None = Field(
        default=None,
        description=(
            "Export job whose output CG2Public.py converts (--inputdir=Job{id}); default: the "
            "newest successful export."
        ),
    )
    skip_publish_step: bool = Field(
        default=False, description="Skip SubmitPubJob.py (do only the later steps)."
    )
    publish_only: bool = Field(
        default=False, description="Run only SubmitPubJob.py (no weekly post-publishing steps)."
    )


@dataclass(frozen=True)
class PublishingTask:
    """What the steps of one run need to know, handed from op to op."""

    schedule: Literal["weekly", "nightly"]
    mode: str
    job_id: int | None
    skip_publish_step: bool
    publish_only: bool
    failed_steps: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """``weekly`` or ``test nightly`` (the legacy log wording)."""
        return f"{'test ' if self.mode == 'test' else ''}{self.schedule}"

    @property
    def pubmode(self) -> str:
        """``export`` for the weekly task, ``interim`` for the nightly one."""
        return "export" if self.schedule == "weekly" else "interim"


def script_arguments(task: PublishingTask, script: str) -> list[str]:
    """The legacy command-line arguments of ``script`` for ``task``."""
    if script == SUBMIT_PUB_JOB:
        return [f"--{task.mode}", f"--{task.pubmode}"]
    if script == CG2PUBLIC:
        args = [f"--{task.mode}", f"--{task.pubmode}"]
        if task.job_id:
            args.append(f"--inputdir=Job{task.job_id}")
        return args
    if script == SFTP_EXPORT_DATA:
        return []
    if script in (NOTIFY_VOL, CHECK_HOTFIX_REMOVE):
        return [f"--{task.mode}"]
    raise ValueError(f"{script} is not a publishing task step")


class _OutputWatcher:
    """Passes script output to the run log and notes whether a line contains ``Failure``."""

    def __init__(self, log: Any, script: str) -> None:
        self._log = log
        self._script = script
        self.saw_failure = False

    def _note(self, message: str) -> None:
        # The runner's own "running <command> in <folder>" line is not script output.
        if message.startswith("running ") and self._script in message:
            return
        if "Failure" in message:
            self.saw_failure = True

    def info(self, message: str) -> None:
        self._note(message)
        self._log.info(message)

    def warning(self, message: str) -> None:
        self._log.warning(message)

    def error(self, message: str) -> None:
        self._log.error(message)

    def debug(self, message: str) -> None:
        self._log.debug(message)


def send_notification(
    context: dg.OpExecutionContext, commands: CommandRunnerResource, subject: str, message: str
) -> bool:
    """Mail through ``PubEmail.py "{subject}" "{message}"``; False (logged) when it failed."""
    args = [subject.replace('"', "'"), message.replace('"', "'")]
    try:
        result = commands.run(f"{PUBLISHING_DIR}/{PUB_EMAIL}", args, log=context.log)
    except CommandError as exc:
        context.log.error(f"sending email: {exc}")
        return False
    if result.exit_code != 0:
        tail = "\n".join(result.output_tail[-10:])
        context.log.error(
            f"sending email: {PUB_EMAIL} exited with status {result.exit_code}\n{tail}"
        )
        return False
    return True


def _notify_stage(
    context: dg.OpExecutionContext,
    commands: CommandRunnerResource,
    task: PublishingTask,
    stage: str,
) -> bool:
    context.log.info(f"sending {stage!r} notification")
    subject = f"{task.schedule} publishing {stage}".title()
    message = f"{task.schedule.title()} job {stage} successfully"
    return send_notification(context, commands, subject, message)


def run_step(
    context: dg.OpExecutionContext,
    commands: CommandRunnerResource,
    task: PublishingTask,
    script: str,
) -> PublishingTask:
    """Run one step's script; on failure log it, mail the error, and say so in the result.

    ``SubmitPubJob.py`` failing raises ``dg.Failure`` (the task stops there); any other script
    failing returns ``task`` with the script added to ``failed_steps``.
    """
    args = script_arguments(task, script)
    watcher = _OutputWatcher(context.log, f"{PUBLISHING_DIR}/{script}")
    reason: str | None = None
    exit_code: int | None = None
    try:
        result = commands.run(f"{PUBLISHING_DIR}/{script}", args, log=watcher)
    except CommandError as exc:
        reason = str(exc)
    else:
        exit_code = result.exit_code
        if result.exit_code != 0:
            reason = f"{script} exited with status {result.exit_code}"
        elif script == SUBMIT_PUB_JOB and watcher.saw_failure:
            reason = f"{script} exited with status 0 but reported a Failure"
    metadata: dict[str, dg.RawMetadataValue] = {
        "command": " ".join([script, *args]),
        "failed": reason is not None,
    }
    if exit_code is not None:
        metadata["exit_code"] = exit_code
    if reason is None:
        context.add_output_metadata(metadata)
        return task
    context.log.error(f"{script}: {reason}")
    send_notification(context, commands, f"*** Error in {script}", ERROR_MESSAGE)
    metadata["error"] = reason
    if script == SUBMIT_PUB_JOB:
        raise dg.Failure(
            description=f"failure in {SUBMIT_PUB_JOB}: {reason}; the later steps are skipped",
            metadata=metadata,
        )
    context.add_output_metadata(metadata)
    return replace(task, failed_steps=(*task.failed_steps, script))


def _skipped(
    context: dg.OpExecutionContext, task: PublishingTask, script: str, why: str
) -> PublishingTask:
    context.log.info(f"{script} not run: {why}")
    context.add_output_metadata({"skipped": why})
    return task


def _build_start_op(schedule: Literal["weekly", "nightly"]) -> dg.OpDefinition:
    """The first op of a publishing job: takes the Config, logs, mails "started"."""

    @dg.op(
        name=f"{schedule}_publishing_op",
        description=(
            f"Take the {schedule} publishing options, log the start and send the "
            f"'{schedule.title()} Publishing Started' notification (PubEmail.py)."
        ),
    )
    def start_publishing(
        context: dg.OpExecutionContext,
        config: PublishingTaskConfig,
        commands: CommandRunnerResource,
    ) -> PublishingTask:
        task = PublishingTask(
            schedule=schedule,
            mode=config.mode,
            job_id=config.job_id,
            skip_publish_step=config.skip_publish_step,
            publish_only=config.publish_only,
        )
        context.log.info(f"{task.description} publishing task started")
        sent = _notify_stage(context, commands, task, "started")
        context.add_output_metadata(
            {
                "mode": task.mode,
                "job_id": task.job_id if task.job_id is not None else "",
                "skip_publish_step": task.skip_publish_step,
                "publish_only": task.publish_only,
                "notification_sent": sent,
            }
        )
        return task

    return start_publishing


weekly_publishing_op = _build_start_op("weekly")
nightly_publishing_op = _build_start_op("nightly")


@dg.op(description="Create the export job with SubmitPubJob.py and wait for it and its push.")
def submit_pub_job(
    context: dg.OpExecutionContext, task: PublishingTask, commands: CommandRunnerResource
) -> PublishingTask:
    """Step 1; its failure stops the task."""
    if task.skip_publish_step:
        return _skipped(context, task, SUBMIT_PUB_JOB, "skip_publish_step is set")
    return run_step(context, commands, task, SUBMIT_PUB_JOB)


def _build_weekly_step(name: str, script: str, description: str) -> dg.OpDefinition:
    @dg.op(name=name, description=description)
    def weekly_step(
        context: dg.OpExecutionContext, task: PublishingTask, commands: CommandRunnerResource
    ) -> PublishingTask:
        if task.publish_only:
            return _skipped(context, task, script, "publish_only is set")
        return run_step(context, commands, task, script)

    return weekly_step


cg2public = _build_weekly_step(
    "cg2public", CG2PUBLIC, "Convert the weekly export for the data partners (CG2Public.py)."
)
sftp_export_data = _build_weekly_step(
    "sftp_export_data",
    SFTP_EXPORT_DATA,
    "Package the partners' documents and sync them to the s/FTP server (sftp-export-data.py).",
)
notify_vol = _build_weekly_step(
    "notify_vol", NOTIFY_VOL, "Tell Visuals OnLine about new and changed media (Notify_VOL.py)."
)
check_hotfix_remove = _build_weekly_step(
    "check_hotfix_remove",
    CHECK_HOTFIX_REMOVE,
    "List documents on Cancer.gov that should now be removed (CheckHotfixRemove.py).",
)


@dg.op(
    description=(
        "Send the 'Publishing Finished' notification; then fail if a later step failed, naming it."
    )
)
def publishing_finished(
    context: dg.OpExecutionContext, task: PublishingTask, commands: CommandRunnerResource
) -> None:
    """The last op: the "Finished" mail, then the verdict on the steps that carried on."""
    sent = _notify_stage(context, commands, task, "finished")
    context.log.info(f"{task.description} publishing task completed")
    metadata: dict[str, dg.RawMetadataValue] = {
        "notification_sent": sent,
        "failed_steps": ", ".join(task.failed_steps) or "none",
    }
    if task.failed_steps:
        raise dg.Failure(
            description=(
                f"{task.description} publishing finished, but these steps failed: "
                f"{', '.join(task.failed_steps)} (see their logs)"
            ),
            metadata=metadata,
        )
    context.add_output_metadata(metadata)


@dg.job(
    name="weekly_publishing",
    description=(
        "The weekly CDR publishing event (legacy publishing_task.PublishingTask, "
        "schedule=weekly): SubmitPubJob.py --export (full export and push), then CG2Public.py, "
        "sftp-export-data.py, Notify_VOL.py and CheckHotfixRemove.py, with Started/Finished/"
        "error mails through PubEmail.py. A failure of SubmitPubJob.py stops the job; the "
        "later steps carry on after a failure and the run is failed at the end."
    ),
    tags=PUBLISHING_TASK_TAGS,
    executor_def=dg.in_process_executor,
)
def weekly_publishing() -> None:
    """Start, publish, the four post-publishing steps, finish: in this order."""
    task = submit_pub_job(weekly_publishing_op())
    task = check_hotfix_remove(notify_vol(sftp_export_data(cg2public(task))))
    publishing_finished(task)


@dg.job(
    name="nightly_publishing",
    description=(
        "The nightly CDR publishing event (legacy publishing_task.PublishingTask, "
        "schedule=nightly): SubmitPubJob.py --interim (interim export and push), with Started/"
        "Finished/error mails through PubEmail.py. A failure of SubmitPubJob.py fails the job."
    ),
    tags=PUBLISHING_TASK_TAGS,
    executor_def=dg.in_process_executor,
)
def nightly_publishing() -> None:
    """Start, publish, finish."""
    publishing_finished(submit_pub_job(nightly_publishing_op()))
