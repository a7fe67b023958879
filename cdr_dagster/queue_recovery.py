"""What becomes of a CDR queue row whose Dagster run ended without finishing it.

A queue run (``run_batch_job``, ``run_publishing_job``) records its row's final status itself,
in a ``finally`` block, however its command ends. Two endings escape it:

1. **The run ended before it claimed the row** (it was canceled while queued, or failed before
   the claim, e.g. the CDR database was briefly unreachable). The row still waits (``Queued``,
   ``Ready``). :func:`next_attempt` tells the queue sensor what to do: request the row again
   under a new run key (``batch-4#2``), up to :data:`MAX_ATTEMPTS` runs in all; past that the
   operators get one mail and the row is left for them.
2. **The run's worker died after the claim** (killed, or its host restarted). Run monitoring
   fails the run (``cdr_dagster.run_launcher``), and the row is still claimed (``Initiating``,
   ``In process``, ``Started`` ...). :func:`settle_row_of_ended_run` records the queue's
   failing status with the reason (batch: ``Aborted``; publishing: ``Failure``, as the CDR's
   own publisher records a failed job); the run-failure mail says so. It never starts the
   command again: the row is claimed, so it is never requested again either.

Both rest on the compare-and-set updates of ``cdr_dagster.cdr.queues``: whoever else writes
the row at the same moment (the CDR script, an operator) wins, and nothing runs twice.
See docs/run-lifecycle.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from cdr_dagster.jobs.batch_jobs import BATCH_JOB_TAG, batch_run_key
from cdr_dagster.jobs.publishing_queue import PUB_PROC_TAG, publishing_run_key
from cdr_dagster.resources.cdr_db import CdrDatabaseResource

#: Most runs requested for one queue row (the first and two more).
MAX_ATTEMPTS = 3
#: Tag the daemon puts on the runs a sensor requests (public, documented tag name).
SENSOR_NAME_TAG = "dagster/sensor_name"
#: Run tag numbering the attempts at one row (absent on the first).
ATTEMPT_TAG = "cdr/attempt"
#: Run statuses of a run that may still claim or is working its row.
IN_PROGRESS_STATUSES = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
#: Most runs of one row read back (more than MAX_ATTEMPTS, for operators' re-executions).
_RUNS_TO_READ = 20


@dataclass(frozen=True)
class QueueKind:
    """One CDR queue as the recovery sees it; the data-layer functions are looked up when
    called, so importing this module does not import SQLAlchemy."""

    noun: str
    row_tag: str
    run_key: Callable[[int], str]
    waiting_status: str
    failing_status: str
    final_statuses: Sequence[str]
    get: Callable[[Any, int], Any]
    fail: Callable[[Any, int, str], Any]
    label: Callable[[Any], str]


def queue_kinds() -> tuple[QueueKind, QueueKind]:
    """The batch-job and the publishing queue."""
    from cdr_dagster.cdr import queues

    batch = QueueKind(
        noun="batch job",
        row_tag=BATCH_JOB_TAG,
        run_key=batch_run_key,
        waiting_status=queues.BATCH_QUEUED,
        failing_status=queues.BATCH_ABORTED,
        final_statuses=queues.BATCH_FINAL_STATUSES,
        get=queues.get_batch_job,
        fail=queues.abort_batch_job,
        label=lambda row: row.name,
    )
    publishing = QueueKind(
        noun="publishing job",
        row_tag=PUB_PROC_TAG,
        run_key=publishing_run_key,
        waiting_status=queues.PUB_READY,
        failing_status=queues.PUB_FAILURE,
        final_statuses=queues.PUB_FINAL_STATUSES,
        get=queues.get_publishing_job,
        fail=queues.fail_publishing_job,
        label=lambda row: row.pub_subset,
    )
    return batch, publishing


def _same(status: str | None, other: str) -> bool:
    """Status equality as the CDR's case-insensitive collation sees it."""
    return status is not None and status.strip().casefold() == other.casefold()


def runs_of_row(
    instance: dg.DagsterInstance, kind: QueueKind, row_id: int, sensor_name: str | None = None
) -> list[dg.DagsterRun]:
    """The runs of the instance that name row ``row_id`` of ``kind``, newest first; only those
    sensor ``sensor_name`` requested when it is given."""
    tags = {kind.row_tag: str(row_id)}
    if sensor_name is not None:
        tags[SENSOR_NAME_TAG] = sensor_name
    runs_filter = dg.RunsFilter(tags=tags)
    return list(instance.get_runs(filters=runs_filter, limit=_RUNS_TO_READ))


# ---------------------------------------------------------------------------------------------
# 1. A waiting row whose runs all ended: another attempt, or a report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """What the queue sensor should do for a waiting row, given its runs.

    ``run_key`` is the key of the run to request (None: request nothing); ``number`` the
    attempt it would be; ``exhausted`` is True when the row used up its attempts;
    ``previous`` the runs that ended without claiming it.
    """

    run_key: str | None
    number: int
    exhausted: bool
    previous: tuple[dg.DagsterRun, ...]


def attempt_run_key(kind: QueueKind, row_id: int, number: int) -> str:
    """``batch-4`` for the first attempt, ``batch-4#2`` for the second and so on."""
    base = kind.run_key(row_id)
    return base if number == 1 else f"{base}#{number}"


def next_attempt(kind: QueueKind, row_id: int, runs: Sequence[dg.DagsterRun]) -> Attempt:
    """The attempt due for waiting row ``row_id`` whose runs are ``runs``.

    A run still in progress will claim the row (or end): nothing to request. No run yet: the
    first attempt. Every run ended and the row still waits: none of them claimed it, so
    another attempt, unless :data:`MAX_ATTEMPTS` runs were made already.
    """
    if any(run.status in IN_PROGRESS_STATUSES for run in runs):
        return Attempt(None, len(runs), exhausted=False, previous=())
    number = len(runs) + 1
    if number > MAX_ATTEMPTS:
        return Attempt(None, len(runs), exhausted=True, previous=tuple(runs))
    return Attempt(attempt_run_key(kind, row_id, number), number, False, tuple(runs))


def exhausted_report(kind: QueueKind, row: Any, runs: Sequence[dg.DagsterRun]) -> tuple[str, str]:
    """Subject and body of the one mail about a row that none of its runs claimed."""
    subject = (
        f"CDR {kind.noun} {row.id} ({kind.label(row)}) was not started after "
        f"{len(runs)} Dagster runs"
    )
    lines = [
        f"The {kind.noun} {row.id} ({kind.label(row)}) is still in status "
        f"{kind.waiting_status!r}, but none of its {len(runs)} Dagster runs claimed it:",
        "",
        *(f"  run {run.run_id}: {run.status.value}" for run in runs),
        "",
        "The scheduler will not request it again. Look at those runs in the Dagster UI, fix "
        "the cause, then either queue the job again from the CDR admin pages or set this "
        f"row's status to {kind.failing_status}.",
    ]
    return subject, "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# 2. A claimed row whose run ended without finishing it
# ---------------------------------------------------------------------------------------------


def row_of_run(run: dg.DagsterRun) -> tuple[QueueKind, int] | None:
    """The queue and row id a run works on, from its tags; None for other runs."""
    for kind in queue_kinds():
        value = run.tags.get(kind.row_tag)
        if value is not None and value.isdigit():
            return kind, int(value)
    return None


def settle_row_of_ended_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    cdr_db: CdrDatabaseResource,
    why: str | None = None,
) -> str | None:
    """Give the queue row of ended run ``run`` its failing status when the run left it claimed.

    Nothing happens when ``run`` works no queue row, when the row is missing, still waiting
    (the queue sensor requests it again) or already final, or when another run of the row is
    still in progress (it owns the row now). ``why`` (e.g. the run's failure message) goes
    into the reason. Returns the line for the operators, or None when nothing changed.
    """
    found = row_of_run(run)
    if found is None:
        return None
    kind, row_id = found
    with cdr_db.connect() as conn:
        row = kind.get(conn, row_id)
    if row is None or _same(row.status, kind.waiting_status):
        return None
    if any(_same(row.status, status) for status in kind.final_statuses):
        return None
    others = [
        other
        for other in runs_of_row(instance, kind, row_id)
        if other.run_id != run.run_id and other.status in IN_PROGRESS_STATUSES
    ]
    if others:
        return None
    ending = run.status.value
    if why:
        ending = f"{ending}: {' '.join(why.split())[:300]}"
    reason = (
        f"{kind.failing_status} by the CDR scheduler: the Dagster run {run.run_id} that "
        f"started this {kind.noun} ended ({ending}) without recording how the job ended"
    )
    with cdr_db.begin() as conn:
        final = kind.fail(conn, row_id, reason)
    if final.kept:
        return None
    return (
        f"{kind.noun} {row_id} ({kind.label(row)}) was left in status {row.status!r}; "
        f"recorded as {final.status}: {reason}"
    )
