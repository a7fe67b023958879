"""Control of the scheduler itself: ``email_schedule_list`` and ``reload_scheduler``.

Both talk to the Dagster webserver's GraphQL API (the one public interface that knows the live
state of schedules and sensors and can reload a code location). Its address is
``CDR_DAGSTER_WEBSERVER_URL`` (default ``http://127.0.0.1:3000/graphql``) or the job's
``webserver_url`` option; a webserver that cannot be reached is a clear error naming the
address, never a hang (requests time out after ``timeout_seconds``). The default is the full
webserver on loopback, which needs no login; an address behind the login proxy
(docs/access-control.md) needs an operator's login in ``CDR_DAGSTER_WEBSERVER_USER`` and
``CDR_DAGSTER_WEBSERVER_PASSWORD``. An address that is not an ``http(s)://…/graphql`` URL, or a
401 from the proxy, fails with one line naming the address.

``email_schedule_list`` (legacy ``job_list.Reporter``, docs/behaviour-notes.md#schedule-list) mails
the schedules and
sensors of this code location with their status and next tick, running ones in order of their
next tick and stopped ones last, in the layout of the legacy APScheduler listing
(``    name (trigger: ..., next run at: 2025-07-28 16:00:00 EDT)`` or ``..., paused)``), subject
``[TIER] CDR Pending Scheduled Jobs``. Two JSON files are attached: ``schedule-list.json``, the
same list as data, and ``scheduled_job-export.json``, the schedule table in the CDR admin's
JSON export format (what ``cdr-dagster export-schedules`` prints) with ``enabled`` taken from the
live status of each schedule, so the mail is also a restorable backup, as the legacy README
recommended.

``reload_scheduler`` (legacy ``stop_scheduler.Stop``, docs/behaviour-notes.md#reload-scheduler)
replaces "stop the service
and let it restart": it asks the webserver to reload this code location
(``reloadRepositoryLocation``), so an edited ``schedules.yaml`` or new code shows up at once; the
daemon refreshes its own copy of the code location within about a minute. The run that asks
is a separate process and finishes normally. The legacy ``dbserver`` option has no meaning here.
"""

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP, LOCATION_NAME, TIMEZONE

WEBSERVER_URL_VARIABLE = "CDR_DAGSTER_WEBSERVER_URL"
WEBSERVER_USER_VARIABLE = "CDR_DAGSTER_WEBSERVER_USER"
WEBSERVER_PASSWORD_VARIABLE = "CDR_DAGSTER_WEBSERVER_PASSWORD"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000/graphql"
#: The repository name Dagster gives the one ``Definitions`` of a code location.
REPOSITORY_NAME = "__repository__"
LIST_SUBJECT = "CDR Pending Scheduled Jobs"


class WebserverError(Exception):
    """The Dagster webserver could not be reached or refused the request."""


def webserver_url(configured: str | None = None) -> str:
    """The GraphQL address: ``configured``, else ``CDR_DAGSTER_WEBSERVER_URL``, else the default."""
    return configured or os.environ.get(WEBSERVER_URL_VARIABLE, "").strip() or DEFAULT_WEBSERVER_URL


def check_webserver_url(url: str) -> str:
    """``url`` when it is an ``http(s)://host[:port]/…/graphql`` URL; else WebserverError."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.path.rstrip("/").endswith("/graphql")
        )
    except ValueError:
        valid = False
    if not valid:
        raise WebserverError(
            f"webserver address {url!r} ({WEBSERVER_URL_VARIABLE} or the job's webserver_url) "
            f"is not a GraphQL URL; expected http(s)://host:port/graphql, e.g. "
            f"{DEFAULT_WEBSERVER_URL}"
        )
    return url


def webserver_login() -> tuple[str, str] | None:
    """The operator login for a webserver behind the proxy, from the environment, or None."""
    user = os.environ.get(WEBSERVER_USER_VARIABLE, "").strip()
    password = os.environ.get(WEBSERVER_PASSWORD_VARIABLE, "")
    if not user and not password:
        return None
    if not user or not password:
        missing = WEBSERVER_PASSWORD_VARIABLE if user else WEBSERVER_USER_VARIABLE
        raise WebserverError(
            f"{missing} is not set: {WEBSERVER_USER_VARIABLE} and {WEBSERVER_PASSWORD_VARIABLE} "
            "go together (both for a webserver behind the login proxy, neither on loopback)"
        )
    return user, password


def graphql(url: str, query: str, variables: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST one GraphQL request to the webserver; its ``data``. Raises :class:`WebserverError`."""
    import requests

    check_webserver_url(url)
    login = webserver_login()
    hint = f"is dagster-webserver running there? (set {WEBSERVER_URL_VARIABLE} to its /graphql URL)"
    try:
        response = requests.post(
            url, json={"query": query, "variables": variables}, timeout=timeout, auth=login
        )
    except requests.Timeout:
        raise WebserverError(
            f"the Dagster webserver at {url} did not answer within {timeout:g} seconds"
        ) from None
    except requests.RequestException as exc:
        raise WebserverError(
            f"cannot reach the Dagster webserver at {url}: {exc.__class__.__name__}; {hint}"
        ) from exc
    if response.status_code in (401, 403):
        if login:
            raise WebserverError(
                f"{url} answered HTTP {response.status_code}: the login of {login[0]!r} "
                f"({WEBSERVER_USER_VARIABLE}) was refused"
            )
        raise WebserverError(
            f"{url} answered HTTP {response.status_code}: it asks for a login; use the loopback "
            f"webserver ({DEFAULT_WEBSERVER_URL}) or set {WEBSERVER_USER_VARIABLE} and "
            f"{WEBSERVER_PASSWORD_VARIABLE}"
        )
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise WebserverError(
            f"{url} answered HTTP {response.status_code} without a GraphQL result; {hint}"
        )
    if payload.get("errors"):
        messages = "; ".join(str(error.get("message", error)) for error in payload["errors"])
        raise WebserverError(f"the Dagster webserver at {url} refused the request: {messages}")
    if not isinstance(payload.get("data"), dict):
        raise WebserverError(f"{url} answered HTTP {response.status_code} without data")
    return payload["data"]


# --- reload_scheduler -------------------------------------------------------------------------

RELOAD_MUTATION = """
mutation CdrReloadScheduler($location: String!) {
  reloadRepositoryLocation(repositoryLocationName: $location) {
    __typename
    ... on WorkspaceLocationEntry {
      name
      loadStatus
      locationOrLoadError {
        __typename
        ... on RepositoryLocation {
          name
          repositories { name }
        }
        ... on PythonError { message causes { message } }
      }
    }
    ... on ReloadNotSupported { message }
    ... on RepositoryLocationNotFound { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""


class ReloadSchedulerConfig(dg.Config):
    """Options of the reload (the legacy ``dbserver`` option is not needed)."""

    webserver_url: str | None = Field(
        default=None,
        description=f"GraphQL address of the Dagster webserver (default: {WEBSERVER_URL_VARIABLE} "
        f"or {DEFAULT_WEBSERVER_URL}).",
    )
    location_name: str = Field(
        default=LOCATION_NAME, description="The code location to reload (this one)."
    )
    timeout_seconds: float = Field(
        default=300.0, gt=0, description="How long to wait for the reload to finish."
    )


def reload_code_location(url: str, location: str, timeout: float) -> dict[str, Any]:
    """Reload ``location`` through the webserver; what it reports. Raises WebserverError."""
    data = graphql(url, RELOAD_MUTATION, {"location": location}, timeout)
    result = data.get("reloadRepositoryLocation") or {}
    kind = result.get("__typename")
    if kind != "WorkspaceLocationEntry":
        read_only = " (a read-only webserver cannot reload)" if kind == "UnauthorizedError" else ""
        raise WebserverError(
            f"reloading code location {location!r} failed: {kind}: {result.get('message', '')}"
            f"{read_only}"
        )
    loaded = result.get("locationOrLoadError") or {}
    if loaded.get("__typename") == "PythonError":
        causes = [cause.get("message", "").strip() for cause in loaded.get("causes") or []]
        because = f" (caused by: {causes[-1]})" if causes and causes[-1] else ""
        raise WebserverError(
            f"code location {location!r} was reloaded but does not load: "
            f"{(loaded.get('message') or '').strip()}{because}"
        )
    if loaded.get("__typename") != "RepositoryLocation":
        raise WebserverError(
            f"code location {location!r}: unexpected reload answer {json.dumps(result)[:500]}"
        )
    return result


@dg.op(
    name="reload_scheduler_op",
    description="Ask the Dagster webserver to reload this code location.",
)
def reload_scheduler_op(context: dg.OpExecutionContext, config: ReloadSchedulerConfig) -> None:
    """Reload the code location; fail with the webserver's words if that does not work."""
    url = webserver_url(config.webserver_url)
    context.log.info(f"reloading code location {config.location_name!r} through {url}")
    try:
        result = reload_code_location(url, config.location_name, config.timeout_seconds)
    except WebserverError as exc:
        raise dg.Failure(description=str(exc)) from exc
    repositories = [r["name"] for r in result["locationOrLoadError"].get("repositories") or []]
    context.log.info(
        f"code location {config.location_name!r} reloaded ({result.get('loadStatus')}); the "
        "daemon picks it up within about a minute"
    )
    context.add_output_metadata(
        {
            "webserver": url,
            "location": config.location_name,
            "load_status": str(result.get("loadStatus")),
            "repositories": ", ".join(repositories),
        }
    )


@dg.job(
    name="reload_scheduler",
    description=(
        "Reloads this code location through the Dagster webserver's GraphQL API "
        "(CDR_DAGSTER_WEBSERVER_URL), so edited schedules and code take effect; the legacy "
        "'Restart Scheduler' (stop_scheduler.Stop). Fails with a clear message when the "
        "webserver cannot be reached or the code does not load."
    ),
    tags={**lane_tags("chores"), "cdr/family": "control"},
)
def reload_scheduler() -> None:
    """One op: the reload."""
    reload_scheduler_op()


# --- email_schedule_list ----------------------------------------------------------------------

LIST_QUERY = """
query CdrScheduleList($selector: RepositorySelector!) {
  schedulesOrError(repositorySelector: $selector) {
    __typename
    ... on Schedules {
      results {
        name
        cronSchedule
        executionTimezone
        pipelineName
        description
        scheduleState { status }
        futureTicks(limit: 1) { results { timestamp } }
      }
    }
    ... on RepositoryNotFoundError { message }
    ... on PythonError { message }
  }
  sensorsOrError(repositorySelector: $selector) {
    __typename
    ... on Sensors {
      results {
        name
        description
        minIntervalSeconds
        targets { pipelineName }
        sensorState { status }
        nextTick { timestamp }
      }
    }
    ... on RepositoryNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


@dataclass(frozen=True)
class ListedItem:
    """One schedule or sensor of the code location, as the webserver reports it."""

    name: str
    kind: str  # "schedule" or "sensor"
    jobs: tuple[str, ...]
    trigger: str
    status: str  # RUNNING or STOPPED
    next_run: datetime | None
    description: str | None = None

    @property
    def running(self) -> bool:
        """True when the schedule or sensor is on."""
        return self.status == "RUNNING"

    def as_json(self) -> dict[str, Any]:
        """The item as JSON data (next run as a UTC ISO time)."""
        data = asdict(self)
        data["jobs"] = list(self.jobs)
        data["next_run"] = (
            None if self.next_run is None else self.next_run.astimezone(timezone.utc).isoformat()
        )
        return data


def _results(data: dict[str, Any], field: str, kind: str) -> list[dict[str, Any]]:
    value = data.get(field) or {}
    if value.get("__typename") != kind:
        raise WebserverError(f"{field}: {value.get('__typename')}: {value.get('message', '')}")
    return list(value.get("results") or [])


def _moment(timestamp: Any) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(float(timestamp), timezone.utc)


def fetch_schedule_list(url: str, location: str, timeout: float) -> list[ListedItem]:
    """The schedules and sensors of ``location``, sorted (see :func:`sort_items`)."""
    selector = {"repositoryLocationName": location, "repositoryName": REPOSITORY_NAME}
    data = graphql(url, LIST_QUERY, {"selector": selector}, timeout)
    items = []
    for schedule in _results(data, "schedulesOrError", "Schedules"):
        ticks = (schedule.get("futureTicks") or {}).get("results") or []
        status = schedule["scheduleState"]["status"]
        items.append(
            ListedItem(
                name=schedule["name"],
                kind="schedule",
                jobs=(schedule["pipelineName"],),
                trigger=f"cron['{schedule['cronSchedule']}', "
                f"{schedule.get('executionTimezone') or 'UTC'}]",
                status=status,
                next_run=_moment(ticks[0]["timestamp"]) if ticks and status == "RUNNING" else None,
                description=schedule.get("description"),
            )
        )
    for sensor in _results(data, "sensorsOrError", "Sensors"):
        status = sensor["sensorState"]["status"]
        tick = sensor.get("nextTick") or {}
        items.append(
            ListedItem(
                name=sensor["name"],
                kind="sensor",
                jobs=tuple(t["pipelineName"] for t in sensor.get("targets") or []),
                trigger=f"sensor[every {sensor['minIntervalSeconds']} s]",
                status=status,
                next_run=_moment(tick.get("timestamp")) if status == "RUNNING" else None,
                description=sensor.get("description"),
            )
        )
    return sort_items(items)


def sort_items(items: list[ListedItem]) -> list[ListedItem]:
    """Running items by next run (those without one after them), then stopped ones by name."""
    far = datetime.max.replace(tzinfo=timezone.utc)
    return sorted(
        items,
        key=lambda item: (not item.running, item.next_run or far, item.name),
    )


def format_schedule_list(items: list[ListedItem], location: str = LOCATION_NAME) -> str:
    """The plain-text body, in the layout of the legacy APScheduler ``print_jobs``."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(TIMEZONE)
    lines = [f"Code location {location}:"]
    if not items:
        lines.append("    No scheduled jobs")
    for item in items:
        jobs = f", job: {', '.join(item.jobs)}" if item.jobs else ""
        if not item.running:
            when = "paused"
        elif item.next_run is None:
            when = "next run at: not yet known"
        else:
            local = item.next_run.astimezone(zone)
            when = f"next run at: {local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
        lines.append(f"    {item.name} (trigger: {item.trigger}{jobs}, {when})")
    return "\n".join(lines) + "\n"


def legacy_export(items: list[ListedItem], tier: str) -> tuple[list[list[Any]], list[str]]:
    """schedules.yaml as the CDR admin's JSON export rows, ``enabled`` from the live status.

    Uses the exporter of ``cdr-dagster export-schedules``; returns the rows and the entries it
    could not write (each with the reason).
    """
    from cdr_dagster.legacy.catalogue import OptionError
    from cdr_dagster.legacy.cron import CronConversionError
    from cdr_dagster.legacy.exporter import dagster_only_entries, export_entry
    from cdr_dagster.schedules import SCHEDULES_PATH, read_schedule_table

    status = {item.name: item.running for item in items if item.kind == "schedule"}
    table = read_schedule_table(SCHEDULES_PATH)
    skip = set(map(id, dagster_only_entries(table)))
    rows: list[list[Any]] = []
    problems: list[str] = []
    for entry in (*table.schedules, *table.on_demand):
        if id(entry) in skip:
            continue
        try:
            row = export_entry(entry, tier)
        except (OptionError, CronConversionError) as exc:
            problems.append(f"{entry.label}: {exc}")
            continue
        if entry.cron is not None and entry.name in status:
            row[1] = status[entry.name]
        rows.append(row)
    rows.sort(key=lambda row: row[0])
    return rows, problems


class ScheduleListConfig(dg.Config):
    """Options of the schedule list (legacy ``job_list.Reporter``)."""

    recips: list[str] = Field(
        default_factory=list,
        description="Recipients; empty means the Developers Notification group.",
    )
    webserver_url: str | None = Field(
        default=None,
        description=f"GraphQL address of the Dagster webserver (default: {WEBSERVER_URL_VARIABLE} "
        f"or {DEFAULT_WEBSERVER_URL}).",
    )
    location_name: str = Field(default=LOCATION_NAME, description="The code location listed.")
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Time limit of the request to the webserver."
    )


@dg.op(
    name="email_schedule_list_op",
    description="Mail the schedules and sensors with status and next tick, with JSON attached.",
)
def email_schedule_list_op(
    context: dg.OpExecutionContext, config: ScheduleListConfig, email: EmailResource
) -> None:
    """Fetch the live list from the webserver, mail it, attach it as JSON."""
    url = webserver_url(config.webserver_url)
    try:
        items = fetch_schedule_list(url, config.location_name, config.timeout_seconds)
    except WebserverError as exc:
        raise dg.Failure(description=str(exc)) from exc
    body = format_schedule_list(items, config.location_name)
    rows, problems = legacy_export(items, email.tier.strip().upper())
    for problem in problems:
        context.log.warning(f"not in the legacy export: {problem}")
    listed = {
        "location": config.location_name,
        "generated": datetime.now(timezone.utc).isoformat(),
        "items": [item.as_json() for item in items],
    }
    with tempfile.TemporaryDirectory(prefix="schedule-list-") as folder:
        listing = Path(folder) / "schedule-list.json"
        listing.write_text(json.dumps(listed, indent=2) + "\n", encoding="utf-8")
        export = Path(folder) / "scheduled_job-export.json"
        export.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        attachments = [listing, export]
        if config.recips:
            sent = email.send(LIST_SUBJECT, body, to=config.recips, attachments=attachments)
        else:
            sent = email.send(LIST_SUBJECT, body, group=DEVELOPERS_GROUP, attachments=attachments)
    context.log.info(f"Sent jobs list to {', '.join(sent.recipients)}")
    context.add_output_metadata(
        {
            "schedules": sum(1 for item in items if item.kind == "schedule"),
            "sensors": sum(1 for item in items if item.kind == "sensor"),
            "running": sum(1 for item in items if item.running),
            "recipients": ", ".join(sent.recipients),
            "list": dg.MetadataValue.md(f"```\n{body}```"),
        }
    )


@dg.job(
    name="email_schedule_list",
    description=(
        "Mails the schedules and sensors of this code location with status and next tick "
        "(running ones by next tick, stopped ones last), with the list and the legacy "
        "scheduled_job export attached as JSON; the legacy 'Scheduled Job List' "
        "(job_list.Reporter). Needs the Dagster webserver (CDR_DAGSTER_WEBSERVER_URL)."
    ),
    tags={**lane_tags("chores"), "cdr/family": "control"},
)
def email_schedule_list() -> None:
    """One op: the list."""
    email_schedule_list_op()
