"""The CDR admin page's "Scheduled Jobs" rows start and stop the matching Dagster schedules.

``scheduled_job_admin_sensor`` reads the scheduled rows of ``scheduled_job`` (those whose
schedule holds cron fields) once a minute and compares each with what it saw last time (its
cursor). What an operator does on the admin page then reaches Dagster:

- ``enabled`` switched on or off: the row's schedule (or, for the two queues and the health
  check, its sensor) is started or stopped in the instance, exactly as the UI's toggle does
  (Dagster's instance API, ``start_schedule``/``stop_schedule``, ``start_sensor``/
  ``stop_sensor``). Which schedule a row stands for is decided by
  :func:`cdr_dagster.legacy.admin_page.match_row` (``docs/admin-page.md``).
- a timing or options edit (or a new row) that the code location cannot follow, because the
  schedule's cron and run config come from ``schedules.yaml`` in git: a notice naming the row
  and the ``schedules.yaml`` entry goes to the sensor's log and, once per change, by mail to
  the Developers Notification group. So does a row that stands for no single entry.

The first tick only records the rows (a deployment does not replay the table's standing
state); afterwards, every change of a row is handled once. The cursor (JSON) keeps, per row id,
its ``enabled`` flag and its content, and the notices not mailed yet (a failed mail is retried
on the next tick, never repeated after it went out). Rows are never written. Run-now rows
(no schedule) are the business of ``scheduled_job_request_sensor``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP

ADMIN_SENSOR_NAME = "scheduled_job_admin_sensor"
SCHEDULES_PATH = Path(__file__).with_name("schedules.yaml")


@dataclass
class AdminPageState:
    """The sensor's memory: per row id ``[enabled, content]``, and notices waiting for mail."""

    rows: dict[str, list[Any]] = field(default_factory=dict)
    pending: dict[str, list[str]] = field(default_factory=dict)
    started: bool = False

    @classmethod
    def from_cursor(cls, cursor: str | None) -> AdminPageState:
        """The state in ``cursor``; an empty (first tick) state when there is none."""
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(rows=dict(data["rows"]), pending=dict(data["pending"]), started=True)

    def to_cursor(self) -> str:
        """The state as the cursor string."""
        return json.dumps(
            {"version": 1, "rows": self.rows, "pending": self.pending}, sort_keys=True
        )


def _content(row: Any) -> str:
    return json.dumps([row.name, row.job_class, row.opts, row.schedule])


def set_running(context: dg.SensorEvaluationContext, kind: str, name: str, running: bool) -> None:
    """Start or stop schedule (``kind`` "schedule") or sensor ``name`` of this code location.

    Uses the instance API the UI's toggle uses, with the code location the daemon evaluates
    this sensor in. Raises ``ValueError`` when that is unknown or the instigator does not exist.
    """
    from dagster._core.remote_representation.external import RemoteSchedule, RemoteSensor
    from dagster._core.remote_representation.external_data import ScheduleSnap, SensorSnap
    from dagster._core.remote_representation.handle import RepositoryHandle

    repository = context.repository_def
    origin = context.code_location_origin
    if repository is None or origin is None:
        raise ValueError("the code location of this tick is unknown (not run by the daemon)")
    handle = RepositoryHandle(
        repository_name=repository.name,
        code_location_origin=origin,
        repository_python_origin=None,
        display_metadata={},
    )
    instance = context.instance
    if kind == "schedule":
        if not repository.has_schedule_def(name):
            raise ValueError(f"schedule {name!r} is not in this code location")
        schedule = RemoteSchedule(
            ScheduleSnap.from_def(repository.get_schedule_def(name), repository), handle
        )
        if running:
            instance.start_schedule(schedule)
        else:
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        return
    if not repository.has_sensor_def(name):
        raise ValueError(f"sensor {name!r} is not in this code location")
    sensor = RemoteSensor(SensorSnap.from_def(repository.get_sensor_def(name), repository), handle)
    if running:
        instance.start_sensor(sensor)
    else:
        instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def notice_mail(row: Any, target_label: str | None, notices: list[str]) -> list[str]:
    """Subject and body of the mail about a row the code location cannot follow."""
    subject = f"CDR admin page: scheduled job {row.name!r} not followed by Dagster"
    lines = [
        "A change on the CDR admin page's Scheduled Jobs page cannot be followed by the",
        "Dagster scheduler:",
        "",
        *(f"- {notice}" for notice in notices),
        "",
        f"Row: {row.name!r} (id {row.id}), class {row.job_class}, "
        f"{'enabled' if row.enabled else 'disabled'}",
        f"Options: {row.opts}",
        f"Schedule: {row.schedule}",
        f"Dagster side: {target_label or 'none'}",
        "",
        "Timings and options of Dagster schedules live in cdr_dagster/schedules.yaml (in git);",
        "change the entry there and reload the code location. Enabling and disabling a row on",
        "the admin page starts and stops the Dagster schedule. This message is sent once for",
        "each change of the row.",
    ]
    return [subject, "\n".join(lines) + "\n"]


def _row_notices(context: Any, row: Any, seen: list[Any] | None, table: Any) -> list[str] | None:
    """Handle one changed row; the mail to send about it (None: nothing to report)."""
    from cdr_dagster.legacy.admin_page import (
        NoMatchError,
        match_row,
        options_difference,
        timing_difference,
    )

    try:
        opts: Mapping[str, Any] | None = row.parsed_opts()
    except ValueError:
        opts = None
    toggled = seen is not None and bool(seen[0]) != row.enabled
    edited = seen is None or seen[1] != _content(row)
    state = "enabled" if row.enabled else "disabled"
    try:
        target = match_row(row.name, row.job_class, opts, table)
    except NoMatchError as exc:
        notice = str(exc)
        if toggled:
            notice += f"; the row was {state} on the admin page, which changes nothing in Dagster"
        context.log.warning(f"admin page: {notice}")
        return notice_mail(row, None, [notice])
    notices: list[str] = []
    if toggled:
        what = "started" if row.enabled else "stopped"
        try:
            set_running(context, target.kind, target.name, row.enabled)
        except Exception as exc:  # noqa: BLE001 - reported to the operators, not fatal
            notices.append(f"the row was {state}, but {target.label} could not be {what}: {exc}")
        else:
            context.log.info(
                f"admin page: row {row.name!r} {state}: {target.label} {what} ({target.rule})"
            )
    if edited:
        if seen is None:
            notices.append(
                f"the row was added on the admin page; it stands for {target.label}, which runs "
                "as schedules.yaml says; its enabled flag is followed from its next change"
            )
        try:
            schedule: Mapping[str, Any] | None = row.parsed_schedule()
        except ValueError as exc:
            notices.append(str(exc))
            schedule = None
        for difference in (
            timing_difference(schedule, target) if schedule is not None else None,
            options_difference(opts, target),
        ):
            if difference:
                notices.append(difference)
        if not notices:
            context.log.info(f"admin page: row {row.name!r} edited; it matches {target.label}")
    for notice in notices:
        context.log.warning(f"admin page: row {row.name!r}: {notice}")
    return notice_mail(row, target.label, notices) if notices else None


def build_scheduled_job_admin_sensor(
    schedules_path: str | Path = SCHEDULES_PATH,
    *,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The admin-page sensor for the schedule table in ``schedules_path``.

    The table is read once, here: it is the one the code location's schedules were built from.
    """
    from cdr_dagster.schedules import read_schedule_table

    table = read_schedule_table(schedules_path)

    @dg.sensor(
        name=ADMIN_SENSOR_NAME,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Follows the CDR admin page's Scheduled Jobs rows: enabling or disabling a row "
            "starts or stops the matching schedule (or queue/health sensor); a timing or "
            "options edit Dagster cannot follow is logged and mailed once to Developers "
            "Notification, naming the row and the schedules.yaml entry. State in the cursor."
        ),
    )
    def scheduled_job_admin_sensor(
        context: dg.SensorEvaluationContext, cdr_db: CdrDatabaseResource, email: EmailResource
    ) -> dg.SensorResult:
        from cdr_dagster.cdr.scheduled_jobs import scheduled_rows

        try:
            state = AdminPageState.from_cursor(context.cursor)
        except (ValueError, KeyError, TypeError) as exc:
            context.log.warning(f"unreadable cursor ({exc}); the rows are recorded afresh")
            state = AdminPageState()
        with cdr_db.connect() as conn:
            rows = scheduled_rows(conn)
        current: dict[str, list[Any]] = {}
        for row in rows:
            current[row.id] = [row.enabled, _content(row)]
            seen = state.rows.get(row.id)
            if not state.started or seen == current[row.id]:
                continue
            mail = _row_notices(context, row, seen, table)
            if mail is not None:
                state.pending[row.id] = mail
        for gone in set(state.rows) - set(current):
            context.log.info(f"admin page: row {gone} was deleted; nothing changes in Dagster")
        state.rows = current
        for row_id, (subject, body) in sorted(state.pending.items()):
            try:
                email.send(subject, body, group=DEVELOPERS_GROUP)
            except Exception as exc:  # noqa: BLE001 - kept in the cursor, sent on a later tick
                context.log.error(f"could not mail the notice about row {row_id}: {exc}")
            else:
                del state.pending[row_id]
        reason = (
            f"{len(rows)} scheduled row(s) recorded"
            if not state.started
            else f"{len(rows)} scheduled row(s) followed"
        )
        if state.pending:
            reason += f"; {len(state.pending)} notice(s) wait for mail"
        state.started = True
        return dg.SensorResult(skip_reason=reason, cursor=state.to_cursor())

    return scheduled_job_admin_sensor
