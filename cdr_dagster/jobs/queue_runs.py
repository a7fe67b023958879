"""What a queue run does with its row, shared by ``run_batch_job`` and ``run_publishing_job``.

Both CDR queues (``batch_job``, ``pub_proc``) are worked the same way, one Dagster run per row:

1. claim the row compare-and-set; a missing row is reported, and a row somebody else already
   started is skipped (or, when an earlier attempt of this very run claimed it and died,
   recorded as failed instead of being started a second time);
2. run the row's command through ``CommandRunnerResource``, its output streaming into the log;
3. record the row's final state in a ``try``/``finally``: whatever happens after the claim (an
   error, the run being terminated), the row is not left in its claimed status for ever;
4. put the outcome in the op's metadata and raise ``dg.Failure`` when the row ended in the
   queue's failing status.

A ``RowQueue`` names what differs between the two queues: words for log lines and messages,
the data-layer functions of ``cdr_dagster.cdr.queues`` and the command a row runs. The job
modules build theirs inside the op, so the data layer (and SQLAlchemy) is imported only when a
run needs it, never when the code location loads.
"""

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandError, CommandRunnerResource

if TYPE_CHECKING:  # the queue data layer (and SQLAlchemy) is imported when a run needs it
    from cdr_dagster.cdr.queues import FinalStatus

#: Tags of both queue jobs: never retried by the instance. A retry could never run the row
#: again (it is claimed); a dead run's row is finished by ``cdr_dagster.queue_recovery``, and
#: a row whose run ended before its claim is requested again by its queue sensor.
QUEUE_JOB_TAGS = {"dagster/max_retries": "0", "cdr/family": "queues"}


@dataclass(frozen=True)
class RowQueue:
    """One CDR queue as a run sees it. A "row" is the data layer's row object (``BatchJob``,
    ``PublishingJob``); every row has ``id`` and ``status``.

    Words (batch job / publishing job):

    - ``noun``: the row in log lines and messages (``"batch job"``, ``"publishing job"``);
    - ``waiting_status``: the status a row waits in to be claimed (``Queued``, ``Ready``);
    - ``failing_status``: the final status that fails the run (``Aborted``, ``Failure``); the
      reasons this run writes after an early end or a dead parent run begin with it;
    - ``set_by``: who else records a final status (``"the batch job"``, ``"the publisher"``);
    - ``command_noun``: the command in the message when it cannot be run
      (``"Batch job command"``, ``"Publishing script"``);
    - ``message_key``: the metadata key of the row's message (``progress``, ``messages``);
    - ``row_tag``: the run tag holding the row id (to recognise a parent run of the same row).

    Data-layer functions (``cdr_dagster.cdr.queues``), each taking a connection and the row id:
    ``get`` (the row or None), ``claim`` (True if this call claimed it), ``fail`` (with a
    reason) and ``finish`` (with the exit status and ``detail``), both returning a
    ``FinalStatus``.

    Per row: ``label`` (its name in parentheses in log lines), ``claimed_line`` (the log line
    once it is claimed, as each legacy sweeper wrote it), ``command`` (the script and its
    arguments), ``row_metadata`` (what the op's metadata says about it) and, when the process
    writes a message of its own worth showing, ``ended_message`` (read after the run).
    """

    noun: str
    waiting_status: str
    failing_status: str
    set_by: str
    command_noun: str
    message_key: str
    row_tag: str
    get: Callable[[Any, int], Any]
    claim: Callable[[Any, int], bool]
    fail: Callable[[Any, int, str], "FinalStatus"]
    finish: Callable[..., "FinalStatus"]
    label: Callable[[Any], str]
    claimed_line: Callable[[Any], str]
    command: Callable[[Any], tuple[str, list[str]]]
    row_metadata: Callable[[Any], dict[str, str]]
    ended_message: Callable[[Any], str | None] | None = None


def status_metadata(queue: RowQueue, row: Any, final: "FinalStatus | None") -> dict[str, str]:
    """The op metadata describing ``row`` and, once known, how it ended."""
    metadata = queue.row_metadata(row)
    if final is not None:
        metadata["final_status"] = final.status
        metadata["status_set_by"] = queue.set_by if final.kept else "this run"
        if final.message:
            metadata[queue.message_key] = final.message
    return metadata


def recover_after_dead_parent(
    context: dg.OpExecutionContext, queue: RowQueue, cdr_db: CdrDatabaseResource, row: Any
) -> "FinalStatus | None":
    """Finalise a row a previous attempt of this run claimed and then died without closing.

    A re-execution (automatic retry after a run worker died, or an operator's re-execute)
    finds the row no longer waiting. When the run it re-executes was for the same row and did
    not succeed, that run claimed the row and could not record its end: set the failing status
    rather than start the command a second time. None when there is nothing to recover.
    """
    parent_id = context.run.parent_run_id
    if parent_id is None:
        return None
    parent = context.instance.get_run_by_id(parent_id)
    if parent is None or parent.tags.get(queue.row_tag) != str(row.id):
        return None
    if parent.status == dg.DagsterRunStatus.SUCCESS:
        return None
    reason = (
        f"{queue.failing_status} by Dagster run {context.run.run_id}: the run {parent_id} that "
        f"started this {queue.noun} ended ({parent.status.value}) without recording how the "
        "job ended"
    )
    with cdr_db.begin() as conn:
        return queue.fail(conn, row.id, reason)


def run_claimed_row(
    context: dg.OpExecutionContext,
    queue: RowQueue,
    row_id: int,
    cdr_db: CdrDatabaseResource,
    commands: CommandRunnerResource,
    timeout_seconds: float | None,
) -> None:
    """Claim row ``row_id`` of ``queue``, run its command and record how it ended.

    Adds the op's output metadata (``outcome``: ``missing``, ``skipped``, ``recovered`` or
    ``ran``); raises ``dg.Failure`` when the row ended in ``queue.failing_status``.
    """
    noun = queue.noun
    with cdr_db.begin() as conn:
        row = queue.get(conn, row_id)
        claimed = row is not None and queue.claim(conn, row_id)
    if row is None:
        context.log.warning(f"{noun} {row_id} does not exist; nothing to run")
        context.add_output_metadata({"outcome": "missing"})
        return
    label = queue.label(row)
    if not claimed:
        with cdr_db.connect() as conn:
            current = queue.get(conn, row_id) or row
        recovered = recover_after_dead_parent(context, queue, cdr_db, current)
        if recovered is not None:
            context.log.error(
                f"{noun} {row_id} ({label}) was claimed by an earlier attempt of this run that "
                f"died; recorded it as {recovered.status}"
            )
            context.add_output_metadata(
                {"outcome": "recovered", **status_metadata(queue, current, recovered)}
            )
            return
        context.log.warning(
            f"{noun} {row_id} ({label}) is in status {current.status!r}, not "
            f"{queue.waiting_status}: somebody else started it; skipped"
        )
        context.add_output_metadata({"outcome": "skipped", "status": current.status})
        return

    command, args = queue.command(row)
    context.log.info(queue.claimed_line(row))
    final: FinalStatus | None = None
    exit_code: int | None = None
    try:
        try:
            result = commands.run(command, args, log=context.log, timeout_seconds=timeout_seconds)
        except CommandError as exc:
            reason = f"{queue.command_noun} {command!r} cannot be run: {exc}"
            context.log.error(reason)
            with cdr_db.begin() as conn:
                final = queue.fail(conn, row_id, reason)
        else:
            exit_code = result.exit_code
            context.log.info(f"processed {' '.join(result.command)}")
            detail = None
            if result.timed_out:
                detail = f"killed after its time limit of {timeout_seconds} s"
            elif result.output_tail:
                detail = f"last output: {result.output_tail[-1][:500]}"
            with cdr_db.begin() as conn:
                final = queue.finish(conn, row_id, result.exit_code, detail=detail)
    finally:
        if final is None:
            # The command did not come back normally: an error here, or the run was terminated
            # (the runner has already stopped the process group).
            error = traceback.format_exc(limit=0).strip().splitlines()[-1]
            reason = (
                f"{queue.failing_status}: the Dagster run {context.run.run_id} ended early "
                f"({error})"
            )
            try:
                with cdr_db.begin() as conn:
                    final = queue.fail(conn, row_id, reason)
                context.log.error(f"{noun} {row_id} recorded as {final.status}: {reason}")
            except Exception as exc:  # noqa: BLE001 - the original error is re-raised below
                context.log.error(
                    f"{noun} {row_id} could not be recorded as {queue.failing_status} ({exc}); "
                    "it stays in its current status until re-executed or failed by an operator"
                )

    metadata: dict[str, dg.RawMetadataValue] = {
        "outcome": "ran",
        **status_metadata(queue, row, final),
    }
    if queue.ended_message is not None and queue.message_key not in metadata:
        with cdr_db.connect() as conn:
            ended = queue.get(conn, row_id)
        message = queue.ended_message(ended) if ended is not None else None
        if message:
            metadata[queue.message_key] = message
    if exit_code is not None:
        metadata["exit_code"] = exit_code
        metadata["duration_seconds"] = round(result.duration_seconds, 3)
        metadata["output_lines"] = result.line_count
    context.add_output_metadata(metadata)
    set_by = metadata["status_set_by"]
    context.log.info(f"{noun} {row_id} ended {final.status} (set by {set_by})")
    if final.status.casefold() == queue.failing_status.casefold():
        why = metadata.get(queue.message_key) or f"set by {set_by}"
        raise dg.Failure(
            description=f"{noun} {row_id} ({label}) ended {final.status}: {why}",
            metadata=metadata,
        )
