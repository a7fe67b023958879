"""The CDR admin's "Run Job Now" requests in the legacy ``scheduled_job`` table
(docs/behaviour-notes.md#scheduled-job-table).

A row with no schedule and ``enabled`` set (kind 4) is a one-off request: the admin page's
"Run Job Now" button inserts a copy of the form with ``enabled=1`` and ``schedule`` NULL, and the
legacy controller ran it once and deleted the row. "No schedule" is the legacy controller's
``not schedule`` test: NULL, an empty string, or JSON that parses to an empty (falsy) value,
such as ``{}`` (what the admin page stores when no schedule field was filled in).

This module reads those requests with one cheap query and deletes a request once its run is
recorded. It also reads the scheduled rows (kinds 1 and 2, a schedule holding cron fields) for
the admin-page sensor, which follows their ``enabled`` flag (``docs/admin-page.md``). No row
other than a run-now request is ever changed or deleted. No Dagster here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, true
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import scheduled_job


@dataclass(frozen=True)
class RunNowRequest:
    """One enabled ``scheduled_job`` row without a schedule, as stored (strings unparsed)."""

    id: str
    name: str
    job_class: str
    opts: str
    schedule: str | None

    @property
    def fingerprint(self) -> str:
        """The row's content; a request edited in the database has a new fingerprint."""
        return json.dumps([self.name, self.job_class, self.opts, self.schedule])

    def parsed_opts(self) -> dict[str, Any]:
        """The options as a JSON object; ``ValueError`` names what is wrong with them.

        The legacy controller parsed them only at run time, so a row with bad options failed
        there, after its row had been deleted.
        """
        try:
            opts = json.loads(self.opts) if self.opts is not None else None
        except ValueError as exc:
            raise ValueError(f"opts {self.opts!r} is not JSON: {exc}") from None
        if not isinstance(opts, dict):
            raise ValueError(f"opts {self.opts!r} is not a JSON object")
        return opts

    def schedule_problem(self) -> str | None:
        """Why the row's schedule column makes it no clean run-now request (None: it is one).

        The query already left out schedules that can hold a field; what is left is NULL or
        empty (fine), falsy JSON such as ``{}`` or ``null`` (fine, as for the legacy
        controller) or something the legacy controller could not parse (a problem).
        """
        if self.schedule is None or not self.schedule.strip():
            return None
        try:
            value = json.loads(self.schedule)
        except ValueError:
            return f"schedule {self.schedule!r} is not JSON"
        if value:
            return f"schedule {self.schedule!r} is not an object of cron fields"
        return None


def run_now_requests(conn: Connection, limit: int = 100) -> list[RunNowRequest]:
    """The enabled rows without a schedule (run-now requests), by name, at most ``limit``.

    One query on a small table. A schedule holding any cron field contains a colon, so rows
    whose schedule has none are the only candidates; :meth:`RunNowRequest.schedule_problem`
    sorts out the rest.
    """
    stmt = (
        select(
            scheduled_job.c.id,
            scheduled_job.c.name,
            scheduled_job.c.job_class,
            scheduled_job.c.opts,
            scheduled_job.c.schedule,
        )
        .where(scheduled_job.c.enabled == true())
        .where(or_(scheduled_job.c.schedule.is_(None), ~scheduled_job.c.schedule.contains(":")))
        .order_by(scheduled_job.c.name, scheduled_job.c.id)
        .limit(limit)
    )
    return [
        RunNowRequest(
            id=str(row.id),
            name=row.name,
            job_class=row.job_class,
            opts=row.opts,
            schedule=row.schedule,
        )
        for row in conn.execute(stmt)
    ]


def delete_run_now_request(conn: Connection, request_id: str) -> bool:
    """Delete the request ``request_id`` if it is still an enabled row; True when deleted."""
    stmt = delete(scheduled_job).where(
        scheduled_job.c.id == uuid.UUID(request_id), scheduled_job.c.enabled == true()
    )
    return conn.execute(stmt).rowcount == 1


@dataclass(frozen=True)
class ScheduledRow:
    """One ``scheduled_job`` row with a schedule (cron fields), enabled or not, as stored."""

    id: str
    name: str
    enabled: bool
    job_class: str
    opts: str
    schedule: str

    def parsed_opts(self) -> dict[str, Any]:
        """The options as a JSON object (``ValueError`` when they are not one)."""
        return RunNowRequest(self.id, self.name, self.job_class, self.opts, None).parsed_opts()

    def parsed_schedule(self) -> dict[str, Any]:
        """The APScheduler cron fields as a JSON object (``ValueError`` when not one)."""
        try:
            value = json.loads(self.schedule)
        except ValueError as exc:
            raise ValueError(f"schedule {self.schedule!r} is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"schedule {self.schedule!r} is not an object of cron fields")
        return value


def scheduled_rows(conn: Connection) -> list[ScheduledRow]:
    """Every row whose schedule holds a cron field (it contains a colon), by name.

    One query on a small table (a few dozen rows).
    """
    stmt = (
        select(
            scheduled_job.c.id,
            scheduled_job.c.name,
            scheduled_job.c.enabled,
            scheduled_job.c.job_class,
            scheduled_job.c.opts,
            scheduled_job.c.schedule,
        )
        .where(scheduled_job.c.schedule.contains(":"))
        .order_by(scheduled_job.c.name, scheduled_job.c.id)
    )
    return [
        ScheduledRow(
            id=str(row.id),
            name=row.name,
            enabled=bool(row.enabled),
            job_class=row.job_class,
            opts=row.opts,
            schedule=row.schedule,
        )
        for row in conn.execute(stmt)
    ]
