"""Sensors of the scheduler's control plane: production health and the admin's run-now requests.

``production_health_sensor`` (legacy ``health_check.Monitor``,
docs/behaviour-notes.md#production-health) asks the production
``cdrping.py`` page once a minute. Anything but ``CDR OK`` (another answer, an HTTP error, a
timeout, no connection) is a problem; problems are counted, and when some are waiting and
``delay`` minutes have passed since the last notification (or none was sent yet) the sensor
requests a run of ``notify_production_health`` with the problems and counts in its run config.
Its memory (waiting problems with counts, time of the last notification, the notification in
flight) is the sensor cursor, JSON with UTC ISO times (``cdr_dagster.cdr.health.HealthState``),
so a daemon restart forgets nothing. A notification run that fails puts its problems back, so
the next check retries, as the legacy did when its mail failed. Settings, read when the code
location loads: ``CDR_HEALTH_CHECK_URL`` (default the legacy PROD address),
``CDR_HEALTH_CHECK_DELAY_MINUTES`` (default 60; not a whole number: 60, with a warning, as the
legacy), ``CDR_HEALTH_CHECK_RECIPS`` (default Developers Notification) and
``CDR_HEALTH_CHECK_TIMEOUT_SECONDS`` (default 30; the legacy had none and hung). RUNNING by
default on DEV only, as the legacy schedule was.

``scheduled_job_request_sensor`` keeps the CDR admin's "Run Job Now" working
(docs/behaviour-notes.md#scheduled-job-table):
it reads the ``scheduled_job`` rows without a schedule and with ``enabled`` set once a
second, each tick watching the table for up to ``CDR_QUEUE_WATCH_SECONDS`` (default 48.5 s, as
the queue sensors; ``cdr_dagster/watching.py``) and returning as soon as it has a run to
request, so a request is seen within about a second while the sensor ticks every 50 s.
It maps each row's ``job_class`` and options to a Dagster job and run config with the same
catalogue the schedule importer uses (``cdr_dagster/legacy/catalogue.py``), checks the run
config against the job and its Config classes' own rules (``cdr_dagster/config_checks.py``:
field bounds and validators, which Dagster applies only when a step starts), and requests one
run with ``run_key`` ``scheduled-job-<row id>``. The row is deleted on a later tick, once a run
with that key exists in the instance: a request is never lost (a request the daemon did not
record is simply requested again; the run key makes the repeat harmless) and never run twice
(one run per key; the row goes once its run exists). A row with an unknown class, a job this
code location does not have, options the catalogue refuses, or a schedule column that is neither
empty nor cron fields is kept for an operator and reported once (per content of the row) to the
Developers Notification group. Rows of the two queue sweepers are deleted without a run: their
sensors sweep every few seconds anyway.
RUNNING by default on every tier.
"""

import json
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from cdr_dagster.cdr.health import LEGACY_PING_URL
from cdr_dagster.jobs.health import (
    DEFAULT_PING_TIMEOUT_SECONDS,
    PING_TIMEOUT_VARIABLE,
    PING_URL_VARIABLE,
    HealthProblem,
    ProductionHealthConfig,
    notify_production_health,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP, load_settings, seconds_setting
from cdr_dagster.watching import watch

#: Tags the daemon puts on the runs a sensor requests (public, documented tag names).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"

HEALTH_SENSOR_NAME = "production_health_sensor"
DELAY_VARIABLE = "CDR_HEALTH_CHECK_DELAY_MINUTES"
RECIPS_VARIABLE = "CDR_HEALTH_CHECK_RECIPS"
#: A requested notification run not found in the instance after this long counts as lost.
LOST_NOTIFICATION_AFTER = timedelta(minutes=10)

REQUEST_SENSOR_NAME = "scheduled_job_request_sensor"
#: Most run-now rows handled per tick (the admin inserts them one click at a time).
MAX_REQUESTS_PER_TICK = 50
#: Seconds between two looks at the run-now rows while a tick watches them.
LOOK_INTERVAL_SECONDS = 1.0

_FINISHED_BADLY = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def sensor_run_status(
    instance: dg.DagsterInstance, sensor_name: str, run_key: str
) -> dg.DagsterRunStatus | None:
    """Status of the run ``sensor_name`` requested with ``run_key``; None when there is none."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key, SENSOR_NAME_TAG: sensor_name}),
        limit=1,
    )
    return runs[0].status if runs else None


def split_recipients(value: str | None) -> list[str]:
    """Recipients as the legacy monitor split them: on commas if any, else on whitespace."""
    text = (value or "").strip()
    if not text:
        return []
    parts = text.split(",") if "," in text else text.split()
    return [part.strip() for part in parts if part.strip()]


def _delay(raw: str | None, log: Any) -> timedelta:
    from cdr_dagster.cdr.health import DEFAULT_DELAY_MINUTES

    if raw:
        try:
            minutes = int(raw)
            if minutes < 0:
                raise ValueError(raw)
            return timedelta(minutes=minutes)
        except ValueError:
            log.warning(f"Invalid integer value for delay {raw!r}; using {DEFAULT_DELAY_MINUTES}")
    return timedelta(minutes=DEFAULT_DELAY_MINUTES)


def build_production_health_sensor(
    *,
    url: str | None = None,
    delay_minutes: str | int | None = None,
    recips: Sequence[str] | None = None,
    timeout_seconds: float | None = None,
    default_status: dg.DefaultSensorStatus | None = None,
    minimum_interval_seconds: int = 60,
    environ: Mapping[str, str] | None = None,
) -> dg.SensorDefinition:
    """The health sensor; unset arguments come from the environment (see the module doc)."""
    env = os.environ if environ is None else environ
    the_url = url or env.get(PING_URL_VARIABLE, "").strip() or LEGACY_PING_URL
    raw_delay = str(delay_minutes) if delay_minutes is not None else env.get(DELAY_VARIABLE)
    the_recips = list(recips) if recips is not None else split_recipients(env.get(RECIPS_VARIABLE))
    timeout = timeout_seconds or seconds_setting(
        env, PING_TIMEOUT_VARIABLE, DEFAULT_PING_TIMEOUT_SECONDS, minimum=0.1
    )
    if default_status is None:
        default_status = (
            dg.DefaultSensorStatus.RUNNING
            if load_settings(env).tier == "DEV"
            else dg.DefaultSensorStatus.STOPPED
        )

    @dg.sensor(
        name=HEALTH_SENSOR_NAME,
        job=notify_production_health,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Checks the production CDR server's cdrping.py every minute (CDR_HEALTH_CHECK_URL); "
            "counts every answer other than 'CDR OK' and every HTTP error or timeout, and "
            "requests notify_production_health with the problems when the delay since the last "
            "notification has passed (CDR_HEALTH_CHECK_DELAY_MINUTES, default 60). State in "
            "the cursor. Legacy health_check.Monitor; RUNNING by default on DEV."
        ),
    )
    def production_health_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from cdr_dagster.cdr.health import HealthState, check_cdrping, format_problems, utc_now

        now = utc_now()
        try:
            state = HealthState.from_json(context.cursor)
        except ValueError as exc:
            context.log.warning(f"{exc}; starting with an empty state")
            state = HealthState()
        delay = _delay(raw_delay, context.log)
        pending = state.pending
        if pending is not None:
            status = sensor_run_status(context.instance, HEALTH_SENSOR_NAME, pending.run_key)
            if status == dg.DagsterRunStatus.SUCCESS:
                state.notification_sent()
            elif status in _FINISHED_BADLY or (
                status is None and now - pending.requested > LOST_NOTIFICATION_AFTER
            ):
                what = "was not found" if status is None else f"ended {status.value}"
                context.log.warning(
                    f"notification run {pending.run_key} {what}; its problems wait again"
                )
                state.notification_failed()
        problem = check_cdrping(the_url, timeout)
        state.record(problem, now)
        if problem is not None:
            context.log.error(problem)
        if state.notification_due(now, delay):
            run_key = f"production-health-{now:%Y%m%dT%H%M%S.%fZ}"
            failures = state.start_notification(run_key, now)
            config = ProductionHealthConfig(
                delay=int(delay.total_seconds() // 60),
                recips=the_recips,
                failures=[HealthProblem(problem=p, count=c) for p, c in failures.items()],
            )
            context.log.info(f"notification due:\n{format_problems(failures)}")
            return dg.SensorResult(
                run_requests=[
                    dg.RunRequest(
                        run_key=run_key,
                        run_config=dg.RunConfig(ops={"notify_production_health_op": config}),
                        tags={"cdr/family": "health"},
                    )
                ],
                cursor=state.to_json(),
            )
        if not state.failures:
            reason = "CDR OK" if problem is None else "problem noted"
            if state.pending is not None:
                reason += f"; notification {state.pending.run_key} not finished yet"
        else:
            waiting = sum(state.failures.values())
            reason = f"{len(state.failures)} problem(s) seen {waiting} time(s) wait for "
            if state.pending is not None:
                reason += f"notification {state.pending.run_key} to finish"
            else:
                assert state.last_notification is not None
                due = state.last_notification + delay
                reason += f"the next notification at {due.isoformat()}"
            if problem is None:
                reason = "CDR OK now; " + reason
        return dg.SensorResult(skip_reason=reason, cursor=state.to_json())

    return production_health_sensor


production_health_sensor = build_production_health_sensor()


# --- scheduled_job_request_sensor -------------------------------------------------------------


def request_run_key(row_id: str) -> str:
    """The run key of the run requested for ``scheduled_job`` row ``row_id``."""
    return f"scheduled-job-{row_id.lower()}"


class RequestRefusedError(Exception):
    """A run-now row cannot be run as it is; the message says why."""


def plan_request(
    row: Any, job_names: set[str], repository_def: Any
) -> tuple[dg.RunRequest | None, list[str]]:
    """The run request for a run-now row (None: nothing to run) and the import warnings.

    Raises :class:`RequestRefusedError` for an unknown class, a job this code location lacks,
    options the catalogue refuses, run config the job rejects, or a malformed schedule column.
    """
    from cdr_dagster.legacy.catalogue import (
        OptionError,
        convert_options,
        find_job_class,
        run_config_for,
    )

    schedule_problem = row.schedule_problem()
    if schedule_problem:
        raise RequestRefusedError(schedule_problem)
    entry = find_job_class(row.job_class)
    if entry is None:
        raise RequestRefusedError(f"job class {row.job_class!r} is not a known legacy job class")
    try:
        opts = row.parsed_opts()
        converted = convert_options(entry, opts)
    except (ValueError, OptionError) as exc:
        raise RequestRefusedError(str(exc)) from None
    if entry.trigger == "sensor" and not entry.options:
        return None, [f"{entry.pattern} is done continuously by sensor {entry.sensor}"]
    if converted.job not in job_names:
        raise RequestRefusedError(
            f"{row.job_class} maps to job {converted.job!r}, which this code location does not have"
        )
    run_config = run_config_for(converted.node, converted.config)
    if repository_def is not None:
        from cdr_dagster.config_checks import config_class_problems

        job = repository_def.get_job(converted.job)
        try:
            dg.validate_run_config(job, run_config)
        except dg.DagsterInvalidConfigError as exc:
            raise RequestRefusedError(
                f"run config {json.dumps(run_config)} is not valid for {converted.job}: {exc}"
            ) from None
        rejected = config_class_problems(job, run_config)
        if rejected:
            raise RequestRefusedError(
                f"run config {json.dumps(run_config)} is not valid for {converted.job}: "
                + "; ".join(rejected)
            )
    tags = {
        "cdr/family": "control",
        "cdr/scheduled-job": row.id,
        "cdr/scheduled-job-name": row.name[:200],
        "cdr/scheduled-job-class": row.job_class[:200],
    }
    request = dg.RunRequest(
        run_key=request_run_key(row.id),
        job_name=converted.job,
        run_config=run_config,
        tags=tags,
    )
    return request, converted.warnings


def _reported(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
        return {str(k): str(v) for k, v in (data.get("reported") or {}).items()}
    except (ValueError, AttributeError):
        return {}


def problem_report(row: Any, problem: str) -> tuple[str, str]:
    """Subject and body of the mail about a run-now row that cannot be run."""
    subject = f"Run Job Now request not run: {row.name}"
    body = "\n".join(
        [
            "A 'Run Job Now' request in the scheduled_job table cannot be run:",
            "",
            f"Problem: {problem}",
            "",
            f"Row id: {row.id}",
            f"Name: {row.name}",
            f"Job class: {row.job_class}",
            f"Options: {row.opts}",
            f"Schedule: {row.schedule}",
            "",
            "The row is kept. Correct it (the sensor tries again) or delete it. This message is",
            "sent once for each version of the row.",
        ]
    )
    return subject, body + "\n"


def build_scheduled_job_request_sensor(
    jobs: Sequence[Any],
    *,
    minimum_interval_seconds: int = 10,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The run-now sensor, able to request runs of ``jobs`` (the code location's jobs).

    A tick watches the requests (``cdr_dagster/watching.py``), so with the default watch the
    sensor ticks every 50 s whatever ``minimum_interval_seconds`` is; with a watch of 0 it
    looks once per tick, every ``minimum_interval_seconds``."""
    job_names = {job.name for job in jobs}

    @dg.sensor(
        name=REQUEST_SENSOR_NAME,
        jobs=list(jobs),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "Runs the CDR admin's 'Run Job Now' requests: scheduled_job rows without a schedule "
            "and with enabled set. Maps each row's job class and options to a job and run "
            "config (as import-schedules does), requests one run (run key scheduled-job-<id>) "
            "and deletes the row once the run exists. Rows it cannot run are kept and reported "
            "to Developers Notification. Each tick watches the table for up to "
            "CDR_QUEUE_WATCH_SECONDS (default 48.5 s), looking every second, and returns as "
            "soon as it has a run to request."
        ),
    )
    def scheduled_job_request_sensor(
        context: dg.SensorEvaluationContext, cdr_db: CdrDatabaseResource, email: EmailResource
    ) -> dg.SensorResult:
        from cdr_dagster.cdr.scheduled_jobs import delete_run_now_request, run_now_requests

        reported = _reported(context.cursor)  # row id -> content mailed about; grows below
        kept: set[tuple[str, str]] = set()  # rows (id, content) kept in this tick: done with
        requests: list[dg.RunRequest] = []
        done: list[str] = []

        def handle(rows: list[Any]) -> bool:
            """Request, delete or report each row not yet handled in this tick; True when the
            tick has something to hand the daemon (run requests, a new report in the cursor)."""
            mailed = False
            for row in rows:
                if (row.id, row.fingerprint) in kept:
                    continue
                key = request_run_key(row.id)
                if sensor_run_status(context.instance, REQUEST_SENSOR_NAME, key) is not None:
                    with cdr_db.begin() as conn:
                        deleted = delete_run_now_request(conn, row.id)
                    if deleted:
                        context.log.info(f"run of {row.name!r} ({key}) exists; request row deleted")
                    done.append(row.name)
                    continue
                try:
                    request, warnings = plan_request(row, job_names, context.repository_def)
                except RequestRefusedError as exc:
                    kept.add((row.id, row.fingerprint))
                    if reported.get(row.id) == row.fingerprint:
                        continue
                    context.log.error(f"request {row.name!r} ({row.id}) kept: {exc}")
                    subject, body = problem_report(row, str(exc))
                    try:
                        email.send(subject, body, group=DEVELOPERS_GROUP)
                    except Exception as mail_error:  # noqa: BLE001 - retried on the next tick
                        context.log.error(f"could not report request {row.id}: {mail_error}")
                    else:
                        reported[row.id] = row.fingerprint
                        mailed = True
                    continue
                for warning in warnings:
                    context.log.warning(f"request {row.name!r}: {warning}")
                if request is None:
                    with cdr_db.begin() as conn:
                        delete_run_now_request(conn, row.id)
                    context.log.info(
                        f"request {row.name!r} ({row.job_class}) deleted: nothing to run"
                    )
                    done.append(row.name)
                    continue
                context.log.info(
                    f"Unscheduled run of {row.name!r}: {request.job_name} ({request.run_key})"
                )
                requests.append(request)
            return bool(requests) or mailed

        with cdr_db.connect() as conn:
            # Autocommit, as the queue sensors: a look is the query alone, and no transaction
            # stays open while the tick watches.
            conn.execution_options(isolation_level="AUTOCOMMIT")

            def look() -> tuple[list[Any], bool]:
                rows = run_now_requests(conn, limit=MAX_REQUESTS_PER_TICK)
                return rows, handle(rows)

            rows, _ = watch(look, lambda seen: seen[1], LOOK_INTERVAL_SECONDS)
        still_reported = {
            row.id: row.fingerprint for row in rows if reported.get(row.id) == row.fingerprint
        }
        cursor = json.dumps({"version": 1, "reported": still_reported}, sort_keys=True)
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        if done:
            reason = f"requests done: {', '.join(done)}"
        elif still_reported:
            reason = f"{len(still_reported)} request(s) kept for an operator"
        else:
            reason = "no Run Job Now requests"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)

    return scheduled_job_request_sensor
