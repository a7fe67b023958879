"""The CDR's two work queues: ``batch_job`` (long reports) and ``pub_proc`` (publishing jobs).

Three operations per queue, each taking a SQLAlchemy ``Connection`` (no Dagster here):

- a cheap query of the rows waiting to be started (``Queued`` batch jobs, ``Ready`` publishing
  jobs), oldest first;
- the claim, a compare-and-set ``UPDATE ... SET status=new WHERE id=? AND status=old``: the row
  count says whether this caller owns the row, so no row is ever started twice, whoever else
  (another run, another daemon, the legacy sweeper) races for it;
- the final status once the process has ended: a final status the process recorded itself is
  kept; otherwise the outcome is recorded (batch: ``Completed`` on exit status 0, ``Aborted``
  with the reason in ``progress``; publishing: ``Failure`` with the reason in ``messages``). That
  update is compare-and-set too, against the status just read, so a status the process or an
  operator writes at the same moment is never overwritten.

Status names are exactly those of the CDR's code: ``cdrbatch.py`` (``ST_*``) for batch jobs,
``cdrpub.py`` and ``cdrapi/publishing.py`` for publishing jobs
(docs/behaviour-notes.md#batch-job-queue, #publishing-queue). The
CDR's SQL Server compares them case-insensitively, so the queries here do too. Times come from
the database (``CURRENT_TIMESTAMP``, which is ``GETDATE()`` on SQL Server), as in the legacy code.

The claim and the final update must each be committed on their own (``engine.begin()``): the
spawned CDR scripts read and update the same row on their own connections.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import batch_job, pub_proc
from cdr_dagster.cdr.sql import iequals

_Row = TypeVar("_Row")

# Batch job statuses (cdrbatch.ST_*).
BATCH_QUEUED = "Queued"
BATCH_INITIATING = "Initiating"
BATCH_IN_PROCESS = "In process"
BATCH_SUSPEND = "Suspend"
BATCH_SUSPENDED = "Suspended"
BATCH_RESUME = "Resume"
BATCH_STOP = "Stop"
BATCH_STOPPED = "Stopped"
BATCH_COMPLETED = "Completed"
BATCH_ABORTED = "Aborted"
BATCH_STATUSES = (
    BATCH_QUEUED,
    BATCH_INITIATING,
    BATCH_IN_PROCESS,
    BATCH_SUSPEND,
    BATCH_SUSPENDED,
    BATCH_RESUME,
    BATCH_STOP,
    BATCH_STOPPED,
    BATCH_COMPLETED,
    BATCH_ABORTED,
)
#: A batch job in one of these has ended; nothing changes it afterwards.
BATCH_FINAL_STATUSES = (BATCH_STOPPED, BATCH_COMPLETED, BATCH_ABORTED)

# Publishing job statuses (cdrpub.Control and cdrapi.publishing.Job).
PUB_READY = "Ready"
PUB_STARTED = "Started"
PUB_IN_PROCESS = "In process"
PUB_WAITING = "Waiting user approval"
PUB_SUCCESS = "Success"
PUB_FAILURE = "Failure"
PUB_VERIFYING = "Verifying"
PUB_STATUSES = (
    PUB_READY,
    PUB_STARTED,
    PUB_IN_PROCESS,
    PUB_WAITING,
    PUB_SUCCESS,
    PUB_FAILURE,
    PUB_VERIFYING,
)
#: A publishing job in one of these has ended (``Verifying`` is a legacy status that
#: SubmitPubJob.py still treats as done).
PUB_FINAL_STATUSES = (PUB_SUCCESS, PUB_FAILURE, PUB_VERIFYING)

#: How often a final update re-reads the row when its status changed under it.
_CAS_ATTEMPTS = 5


class QueueRowMissingError(LookupError):
    """The queue row named by a run does not exist (any more)."""


@dataclass(frozen=True)
class QueuedBatchJob:
    """A ``batch_job`` row waiting in status ``Queued``."""

    id: int
    name: str
    command: str


@dataclass(frozen=True)
class BatchJob:
    """A ``batch_job`` row as the queue sees it."""

    id: int
    name: str
    command: str
    status: str
    started: datetime | None
    status_dt: datetime | None
    email: str | None
    progress: str | None


@dataclass(frozen=True)
class QueuedPublishingJob:
    """A ``pub_proc`` row waiting in status ``Ready``."""

    id: int
    pub_subset: str
    pub_system: int


@dataclass(frozen=True)
class PublishingJob:
    """A ``pub_proc`` row as the queue sees it."""

    id: int
    pub_system: int
    pub_subset: str
    status: str
    started: datetime | None
    completed: datetime | None
    messages: str | None
    email: str | None


@dataclass(frozen=True)
class FinalStatus:
    """How a queue row ended.

    ``status`` is the row's status afterwards; ``kept`` is True when the process (or an
    operator) had already recorded it and this call left it alone; ``message`` is the text
    written to ``progress`` / ``messages`` by this call, if any.
    """

    job_id: int
    status: str
    kept: bool
    message: str | None = None


def _same_status(a: str | None, b: str) -> bool:
    """Status equality as SQL Server's case-insensitive collation sees it."""
    return a is not None and a.strip().casefold() == b.casefold()


def _is_one_of(status: str | None, statuses: Collection[str]) -> bool:
    return any(_same_status(status, s) for s in statuses)


def _compare_and_set(
    conn: Connection,
    table: Any,
    job_id: int,
    old_status: str,
    values: dict[str, Any],
) -> bool:
    """``UPDATE table SET values WHERE id=job_id AND status=old_status``; True if it matched."""
    statement = (
        update(table)
        .where(table.c.id == job_id)
        .where(iequals(table.c.status, old_status))
        .values(**values)
    )
    return conn.execute(statement).rowcount == 1


# ---------------------------------------------------------------------------------------------
# Batch jobs
# ---------------------------------------------------------------------------------------------


def _read_row(conn: Connection, table: Table, row_type: type[_Row], row_id: int) -> _Row | None:
    """The row ``row_id`` of ``table`` as ``row_type``, whose fields are named like its columns."""
    columns = [table.c[field.name] for field in fields(row_type)]  # type: ignore[arg-type]
    row = conn.execute(select(*columns).where(table.c.id == row_id)).one_or_none()
    return None if row is None else row_type(**row._mapping)


def pending_batch_jobs(conn: Connection, limit: int | None = None) -> list[QueuedBatchJob]:
    """The ``Queued`` batch jobs, oldest first (one indexed-key query, as the legacy sweep)."""
    query = (
        select(batch_job.c.id, batch_job.c.name, batch_job.c.command)
        .where(iequals(batch_job.c.status, BATCH_QUEUED))
        .order_by(batch_job.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [QueuedBatchJob(row.id, row.name, row.command) for row in conn.execute(query)]


def get_batch_job(conn: Connection, job_id: int) -> BatchJob | None:
    """The ``batch_job`` row ``job_id``, or None."""
    return _read_row(conn, batch_job, BatchJob, job_id)


def claim_batch_job(conn: Connection, job_id: int) -> bool:
    """Move batch job ``job_id`` from ``Queued`` to ``Initiating``; True if this call did it.

    This is the legacy daemon's only signal (``sendSignal(..., 'Initiating', 'daemon')``), as
    one compare-and-set statement: False means the row is not (or no longer) ``Queued``, so
    somebody else started it or it never was waiting.
    """
    return _compare_and_set(
        conn,
        batch_job,
        job_id,
        BATCH_QUEUED,
        {"status": BATCH_INITIATING, "status_dt": func.current_timestamp()},
    )


def _finalise_batch_job(
    conn: Connection, job_id: int, status: str, message: str | None
) -> FinalStatus:
    """Set ``status`` (and ``progress`` to ``message``) unless the row already ended."""
    for _ in range(_CAS_ATTEMPTS):
        current = get_batch_job(conn, job_id)
        if current is None:
            raise QueueRowMissingError(f"batch job {job_id} does not exist")
        if _is_one_of(current.status, BATCH_FINAL_STATUSES):
            return FinalStatus(job_id, current.status, kept=True)
        values: dict[str, Any] = {"status": status, "status_dt": func.current_timestamp()}
        if message is not None:
            values["progress"] = message
        if _compare_and_set(conn, batch_job, job_id, current.status, values):
            return FinalStatus(job_id, status, kept=False, message=message)
    raise RuntimeError(
        f"batch job {job_id}: its status kept changing; gave up recording {status!r}"
    )


def finish_batch_job(
    conn: Connection, job_id: int, exit_code: int, *, detail: str | None = None
) -> FinalStatus:
    """Record how the process of batch job ``job_id`` ended.

    A final status the job set itself (``Completed``, ``Aborted``, ``Stopped``) is kept, with
    its own progress text. Otherwise the row becomes ``Completed`` on exit status 0 (its
    progress left as the job wrote it), or ``Aborted`` with the exit status, and ``detail``
    when given, in ``progress``.
    """
    if exit_code == 0:
        return _finalise_batch_job(conn, job_id, BATCH_COMPLETED, None)
    if exit_code < 0:
        message = f"Batch job process was killed by signal {-exit_code} (exit status {exit_code})"
    else:
        message = f"Batch job process ended with exit status {exit_code}"
    if detail:
        message = f"{message}: {detail}"
    return _finalise_batch_job(conn, job_id, BATCH_ABORTED, message)


def abort_batch_job(conn: Connection, job_id: int, reason: str) -> FinalStatus:
    """Mark batch job ``job_id`` ``Aborted`` with ``reason`` as progress, unless it ended."""
    return _finalise_batch_job(conn, job_id, BATCH_ABORTED, reason)


# ---------------------------------------------------------------------------------------------
# Publishing jobs
# ---------------------------------------------------------------------------------------------


def pending_publishing_jobs(
    conn: Connection, limit: int | None = None
) -> list[QueuedPublishingJob]:
    """The ``Ready`` publishing jobs, oldest first (uses the status index of ``pub_proc``)."""
    query = (
        select(pub_proc.c.id, pub_proc.c.pub_subset, pub_proc.c.pub_system)
        .where(iequals(pub_proc.c.status, PUB_READY))
        .order_by(pub_proc.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        QueuedPublishingJob(row.id, row.pub_subset, row.pub_system) for row in conn.execute(query)
    ]


def get_publishing_job(conn: Connection, job_id: int) -> PublishingJob | None:
    """The ``pub_proc`` row ``job_id``, or None."""
    return _read_row(conn, pub_proc, PublishingJob, job_id)


def claim_publishing_job(conn: Connection, job_id: int) -> bool:
    """Move publishing job ``job_id`` from ``Ready`` to ``Started``; True if this call did it.

    The legacy sweep flipped every ``Ready`` row with one blanket UPDATE (a job that became
    Ready in between was marked Started but never launched); this claims exactly one row.
    """
    return _compare_and_set(conn, pub_proc, job_id, PUB_READY, {"status": PUB_STARTED})


def publishing_message(message: str, now: datetime | None = None) -> str:
    """``message`` as cdrpub stores it in ``pub_proc.messages``: ``[timestamp] message``."""
    return f"[{now or datetime.now()}] {message}"


def fail_publishing_job(conn: Connection, job_id: int, reason: str) -> FinalStatus:
    """Mark publishing job ``job_id`` ``Failure`` (stamping ``completed``) unless it ended.

    As cdrpub's own ``update_status``, a job in ``Success`` is never changed; ``reason`` is
    stored in ``messages`` in cdrpub's format.
    """
    for _ in range(_CAS_ATTEMPTS):
        current = get_publishing_job(conn, job_id)
        if current is None:
            raise QueueRowMissingError(f"publishing job {job_id} does not exist")
        if _is_one_of(current.status, PUB_FINAL_STATUSES):
            return FinalStatus(job_id, current.status, kept=True)
        message = publishing_message(reason)
        values = {
            "status": PUB_FAILURE,
            "completed": func.current_timestamp(),
            "messages": message,
        }
        if _compare_and_set(conn, pub_proc, job_id, current.status, values):
            return FinalStatus(job_id, PUB_FAILURE, kept=False, message=message)
    raise RuntimeError(
        f"publishing job {job_id}: its status kept changing; gave up recording Failure"
    )


def finish_publishing_job(
    conn: Connection, job_id: int, exit_code: int, *, detail: str | None = None
) -> FinalStatus:
    """Record how the publishing process of job ``job_id`` ended.

    The publisher (``Publish.py`` -> ``cdrpub.Control.publish``) sets ``Success`` or
    ``Failure`` itself and exits 0 either way; that status is kept. A process that ended
    without doing so (it crashed, was killed, or left the job ``Started``, ``In process`` or
    ``Waiting user approval`` with nobody left to release it) leaves the job in ``Failure``.
    """
    current = get_publishing_job(conn, job_id)
    if current is None:
        raise QueueRowMissingError(f"publishing job {job_id} does not exist")
    if _is_one_of(current.status, PUB_FINAL_STATUSES):
        return FinalStatus(job_id, current.status, kept=True)
    if exit_code < 0:
        ending = f"was killed by signal {-exit_code}"
    else:
        ending = f"ended with exit status {exit_code}"
    reason = f"Publishing process {ending} leaving the job in status '{current.status}'"
    if detail:
        reason = f"{reason}: {detail}"
    return fail_publishing_job(conn, job_id, reason)
