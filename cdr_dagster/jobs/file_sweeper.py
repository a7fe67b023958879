"""``sweep_files``: the nightly file sweeper (legacy ``file_sweeper_task.FileSweeper``).

docs/behaviour-notes.md#file-sweeper; the work is in :mod:`cdr_dagster.sweeper`. A run:

1. takes the legacy lock ``CDR_BASEDIR/Log/FileSweeper.lockfile`` (a lock already there is
   fatal and left in place; ``break_lock`` removes one left by a dead run first, but only when
   Dagster knows of no other ``sweep_files`` run in progress). The job also carries the tag
   ``cdr/lock: sweep_files``, which the instance limits to one run at a time;
2. loads the rules from ``config_file`` or the CDR's SweepSpecifications document and
   validates all of them; any problem is fatal before anything is touched;
3. sweeps every rule active on this tier (test mode changes nothing and reports what a live
   run would do), including ``expireMeetingRecordings``;
4. releases the lock, puts the report in the run's metadata, and mails: the legacy fatal
   message ("FileSweeper failed on {TIER} tier", with the report of what was done before the
   stop) on a fatal error, which also fails the run; the report when a rule had problems.
   Recipients: ``email``, or the CDR group FileSweeper Error Notification.
"""

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailError, EmailResource
from cdr_dagster.settings import TIMEZONE

if TYPE_CHECKING:
    from cdr_dagster.sweeper.lock import LockHolder

#: Runs of the sweeper share this ``cdr/lock`` value (one at a time, dagster.yaml).
LOCK_TAG_VALUE = "sweep_files"

#: Statuses of a sweep run that may have taken the lock.
_STARTED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class SweepFilesConfig(dg.Config):
    """Options of the file sweeper (legacy ConfigFile, TestMode, Email, OutputDir)."""

    config_file: str | None = Field(
        default=None,
        description=(
            "Read the rules from this SweepSpecifications XML file instead of the CDR's "
            "document (legacy ConfigFile). A relative path is taken below CDR_BASEDIR."
        ),
    )
    test_mode: bool = Field(
        default=False,
        description=(
            "Report what a live sweep would do and change nothing: no archive, no deletion, "
            "no truncation, no document saved (legacy TestMode, which still wrote .TEST "
            "archives)."
        ),
    )
    email: str | None = Field(
        default=None,
        description=(
            "The one recipient of failure and problem mail (legacy Email); default the CDR "
            "group FileSweeper Error Notification."
        ),
    )
    output_dir: str | None = Field(
        default=None,
        description=(
            "Folder for relative OutputFile names (legacy OutputDir); relative to CDR_BASEDIR, "
            "which is also the default. Created if missing."
        ),
    )
    break_lock: bool = Field(
        default=False,
        description=(
            "Remove a FileSweeper.lockfile left by a sweep that died, then sweep. Refused "
            "while another sweep_files run is queued or in progress."
        ),
    )


def _lock_blockers(context: dg.OpExecutionContext, holder: "LockHolder | None") -> list[str]:
    """What may still hold the sweep lock, so that ``break_lock`` must not remove it.

    The process the lock file names, when it is alive on this host (one on another host
    counts while its Dagster run has not ended); and any other sweep run that started and is
    not known to be dead (the instance's run launcher tells a dead run worker). A lock whose
    holder is gone is broken even before run monitoring has failed that holder's run.
    """
    from dagster._core.launcher import WorkerStatus

    from cdr_dagster.processes import Liveness, liveness

    blockers = []
    dead_runs = set()
    if holder is not None and holder.process is not None:
        state = liveness(holder.process)
        run = context.instance.get_run_by_id(holder.run_id) if holder.run_id else None
        if state is Liveness.ALIVE or (
            state is Liveness.ELSEWHERE and (run is None or not run.is_finished)
        ):
            blockers.append(f"{holder.process.describe()} ({holder.owner}) holds the lock")
        elif holder.run_id:
            dead_runs.add(holder.run_id)
    launcher = context.instance.run_launcher
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=context.job_name, statuses=_STARTED), limit=20
    )
    for record in records:
        run = record.dagster_run
        if run.run_id == context.run_id or run.run_id in dead_runs:
            continue
        if launcher.supports_check_run_worker_health:
            health = launcher.check_run_worker_health(run)
            if health.status == WorkerStatus.FAILED:
                continue
        blockers.append(f"sweep_files run {run.run_id} may hold the lock")
    return blockers


def _mail(
    context: dg.OpExecutionContext,
    email: EmailResource,
    recipient: str | None,
    subject: str,
    body: str,
    *,
    html: bool = False,
    tier_prefix: bool = True,
    sender: str | None = None,
) -> bool:
    """Send one message to ``recipient`` or the error group; log instead of failing."""
    from cdr_dagster.sweeper.report import ERROR_GROUP

    resource = email.from_sender(sender) if sender else email
    try:
        sent = resource.send(
            subject,
            body,
            to=[recipient] if recipient else None,
            group=None if recipient else ERROR_GROUP,
            html=html,
            tier_prefix=tier_prefix,
        )
    except EmailError as exc:
        context.log.error(f"No mail sent: {exc}")
        return False
    context.log.info(f"Mail sent to: {', '.join(sent.recipients)}")
    return True


@dg.op(
    name="sweep_files_op",
    description=(
        "Delete, archive or truncate files as the SweepSpecifications document says; expire "
        "old meeting recordings."
    ),
)
def sweep_files_op(
    context: dg.OpExecutionContext,
    config: SweepFilesConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    commands: CommandRunnerResource,
) -> None:
    """Lock, load and validate the rules, sweep, report; fail the run on a fatal error."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cdr_dagster.reports import render_html, render_markdown
    from cdr_dagster.sweeper.config import ConfigLoadError, load_sweep_config
    from cdr_dagster.sweeper.lock import LockHeldError, SweepLock, lock_path
    from cdr_dagster.sweeper.recordings import expire_meeting_recordings
    from cdr_dagster.sweeper.report import (
        FATAL_SENDER,
        build_report,
        fatal_body,
        fatal_subject,
        report_subject,
        rule_summary,
    )
    from cdr_dagster.sweeper.sweep import SweepOptions, resolve_output_dir, run_sweep

    tz = ZoneInfo(TIMEZONE)
    now = time.time()
    tier = email.tier.strip().upper()
    basedir = os.path.abspath(commands.basedir)
    log = context.log

    def fail(message: str, report=None, metadata=None) -> dg.Failure:
        log.error(f"FATAL error: {message}")
        body = fatal_body(tier, message, now, report)
        _mail(
            context,
            email,
            config.email,
            fatal_subject(tier),
            body,
            tier_prefix=False,
            sender=FATAL_SENDER,
        )
        return dg.Failure(description=f"FATAL error: {message}", metadata=metadata or {})

    lock = SweepLock(lock_path(Path(basedir) / "Log"))
    if config.break_lock:
        blockers = _lock_blockers(context, lock.holder())
        if blockers:
            raise fail(f"break_lock refused: {'; '.join(blockers)}")
        if lock.break_lock():
            log.warning(f"removed the lock file {lock.path} (break_lock)")
    try:
        lock.acquire(owner=f"dagster run {context.run_id}")
    except LockHeldError as exc:
        owner = lock.read_owner()
        raise fail(str(exc) + (f"\n\nThe lock file says:\n{owner}" if owner else "")) from None
    log.info(" Beginning File Sweep ".center(46, "-"))
    try:
        try:
            sweep_config = load_sweep_config(
                config_file=config.config_file,
                engine=None if config.config_file else cdr_db.engine,
                basedir=basedir,
                now=now,
                tz=tz,
            )
        except ConfigLoadError as exc:
            raise fail(str(exc)) from None
        log.info(f"loaded config from {sweep_config.source}")
        options = SweepOptions(
            tier=tier,
            test_mode=config.test_mode,
            output_dir=resolve_output_dir(config.output_dir, basedir),
            now=now,
            tz=tz,
        )

        def recordings(rule, test_mode):
            return expire_meeting_recordings(
                cdr_db.engine, rule, test_mode, now=now, tz=tz, log=log
            )

        result = run_sweep(
            sweep_config,
            options,
            custom={"expireMeetingRecordings": recordings},
            log=log,
            summary=lambda outcome: rule_summary(outcome, tz),
        )
        log.info(" Finished File Sweep ".center(46, "-"))
    finally:
        lock.release()

    report = build_report(result, datetime.fromtimestamp(now, tz).date(), tz)
    totals = result.totals()
    metadata: dict[str, dg.RawMetadataValue] = {
        name: dg.MetadataValue.int(value) for name, value in totals.items()
    }
    metadata["test_mode"] = dg.MetadataValue.bool(result.test_mode)
    metadata["configuration"] = dg.MetadataValue.text(result.source)
    metadata["archives"] = dg.MetadataValue.json([o.archive for o in result.outcomes if o.archive])
    metadata["report"] = dg.MetadataValue.md(render_markdown(report))
    if result.fatal:
        raise fail(result.fatal, report, metadata)
    if result.problems:
        _mail(
            context,
            email,
            config.email,
            report_subject(result.test_mode),
            render_html(report),
            html=True,
        )
    context.add_output_metadata(metadata)


@dg.job(
    name="sweep_files",
    description=(
        "Nightly file sweeper (legacy FileSweeper, 'Hoover'): deletes, archives (tar.bz2, "
        "verified before anything is deleted) or left-truncates files as the CDR's "
        "SweepSpecifications document says, and deletes the blobs of expired board meeting "
        "recordings. Test mode changes nothing and reports what a live run would do. Keeps "
        "the legacy lock file Log/FileSweeper.lockfile (break_lock clears a stale one)."
    ),
    tags={**lane_tags("chores"), "cdr/lock": LOCK_TAG_VALUE, "cdr/family": "files"},
)
def sweep_files_job() -> None:
    """The one-op sweep job."""
    sweep_files_op()
