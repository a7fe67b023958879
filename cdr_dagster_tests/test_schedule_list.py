"""email_schedule_list asks a GraphQL server on loopback and mails through the SMTP test server.

The GraphQL answers have the shape the Dagster webserver gives (the queries themselves are
validated against the installed Dagster GraphQL schema); ``test_reload.py`` runs the same job
against a real ``dagster-webserver``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cdr_dagster.jobs.control import (
    LIST_QUERY,
    RELOAD_MUTATION,
    ListedItem,
    email_schedule_list,
    format_schedule_list,
    sort_items,
)
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.cdr_rows import developers_email

FRIDAY_4PM = datetime(2025, 8, 1, 20, 0, tzinfo=timezone.utc)  # 16:00 EDT
MONDAY_8PM = datetime(2025, 7, 28, 0, 0, tzinfo=timezone.utc)  # Sunday 20:00 EDT
SOON = datetime(2025, 7, 27, 18, 0, 10, tzinfo=timezone.utc)


def schedule(name: str, job: str, cron: str, status: str, tick: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "cronSchedule": cron,
        "executionTimezone": "America/New_York",
        "pipelineName": job,
        "description": f"{name} description",
        "scheduleState": {"status": status},
        "futureTicks": {"results": [{"timestamp": tick.timestamp()}]},
    }


def sensor(name: str, jobs: list[str], status: str, tick: datetime | None) -> dict[str, Any]:
    return {
        "name": name,
        "description": None,
        "minIntervalSeconds": 10,
        "targets": [{"pipelineName": job} for job in jobs],
        "sensorState": {"status": status},
        "nextTick": None if tick is None else {"timestamp": tick.timestamp()},
    }


LIST_ANSWER = {
    "data": {
        "schedulesOrError": {
            "__typename": "Schedules",
            "results": [
                schedule(
                    "weekly_publishing", "weekly_publishing", "0 16 * * 5", "RUNNING", FRIDAY_4PM
                ),
                schedule("automated_testing_job", "smoke_test", "59 3 * * *", "STOPPED", SOON),
                schedule(
                    "nightly_publishing",
                    "nightly_publishing",
                    "0 20 * * 1-4",
                    "RUNNING",
                    MONDAY_8PM,
                ),
            ],
        },
        "sensorsOrError": {
            "__typename": "Sensors",
            "results": [
                sensor("batch_job_queue_sensor", ["run_batch_job"], "RUNNING", SOON),
                sensor("production_health_sensor", ["notify_production_health"], "STOPPED", None),
            ],
        },
    }
}


class GraphQL:
    """A GraphQL endpoint that answers with ``answer`` and keeps the requests it got."""

    def __init__(self, server: HTTPServer, answer: Any, status: int = 200) -> None:
        self.answer = answer
        self.status = status
        self.requests: list[dict[str, Any]] = []
        server.expect_request("/graphql", method="POST").respond_with_handler(self.handle)
        self.url = server.url_for("/graphql")

    def handle(self, request: Request) -> Response:
        self.requests.append(json.loads(request.get_data()))
        body = self.answer if isinstance(self.answer, str) else json.dumps(self.answer)
        return Response(body, status=self.status, content_type="application/json")


@pytest.fixture
def email(cdr_db, mailbox) -> EmailResource:
    return developers_email(cdr_db, mailbox)


def run(email: EmailResource, **config: Any) -> dg.ExecuteInProcessResult:
    return email_schedule_list.execute_in_process(
        run_config={"ops": {"email_schedule_list_op": {"config": config}}},
        resources={"email": email},
        raise_on_error=False,
    )


def attachments(message) -> dict[str, Any]:
    return {
        part.get_filename(): json.loads(part.get_content()) for part in message.iter_attachments()
    }


def test_queries_are_valid_for_this_dagster() -> None:
    from dagster_graphql.schema import create_schema
    from graphql import parse, validate

    schema = create_schema().graphql_schema
    assert validate(schema, parse(LIST_QUERY)) == []
    assert validate(schema, parse(RELOAD_MUTATION)) == []


def test_list_is_mailed_by_next_run_with_stopped_ones_last(
    httpserver: HTTPServer, email: EmailResource, mailbox
) -> None:
    """Active jobs by next run, then paused ones, with sensors as well as schedules."""
    server = GraphQL(httpserver, LIST_ANSWER)
    result = run(email, webserver_url=server.url)
    assert result.success
    [request] = server.requests
    assert request["variables"] == {
        "selector": {"repositoryLocationName": "cdr_dagster", "repositoryName": "__repository__"}
    }
    [mail] = mailbox.messages
    assert mail.message["Subject"] == "[DEV] CDR Pending Scheduled Jobs"
    assert mail.rcpt_tos == ["ann@example.gov"]
    body = mail.message.get_body(("plain",)).get_content()
    assert body.splitlines() == [
        "Code location cdr_dagster:",
        "    batch_job_queue_sensor (trigger: sensor[every 10 s], job: run_batch_job, "
        "next run at: 2025-07-27 14:00:10 EDT)",
        "    nightly_publishing (trigger: cron['0 20 * * 1-4', America/New_York], "
        "job: nightly_publishing, next run at: 2025-07-27 20:00:00 EDT)",
        "    weekly_publishing (trigger: cron['0 16 * * 5', America/New_York], "
        "job: weekly_publishing, next run at: 2025-08-01 16:00:00 EDT)",
        "    automated_testing_job (trigger: cron['59 3 * * *', America/New_York], "
        "job: smoke_test, paused)",
        "    production_health_sensor (trigger: sensor[every 10 s], "
        "job: notify_production_health, paused)",
    ]
    files = attachments(mail.message)
    assert set(files) == {"schedule-list.json", "scheduled_job-export.json"}
    items = files["schedule-list.json"]["items"]
    assert [item["name"] for item in items][:2] == ["batch_job_queue_sensor", "nightly_publishing"]
    assert items[0]["next_run"] == "2025-07-27T18:00:10+00:00"
    assert items[-1]["status"] == "STOPPED" and items[-1]["next_run"] is None
    # The legacy admin export: schedules.yaml rows, enabled from the live status.
    export = files["scheduled_job-export.json"]
    testing = next(row for row in export if row[0] == "Automated Testing Job")
    assert testing[1:3] == [False, "test.Stub"]
    assert json.loads(testing[4]) == {"hour": "3", "minute": "59"}
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.step_output_data.metadata
    assert (metadata["schedules"].value, metadata["sensors"].value) == (3, 2)
    assert metadata["running"].value == 3


def test_recipients_option(httpserver: HTTPServer, email: EmailResource, mailbox) -> None:
    server = GraphQL(httpserver, LIST_ANSWER)
    assert run(email, webserver_url=server.url, recips=["rachel@example.gov"]).success
    assert mailbox.messages[0].rcpt_tos == ["rachel@example.gov"]


def test_empty_location(httpserver: HTTPServer, email: EmailResource, mailbox) -> None:
    empty = {
        "data": {
            "schedulesOrError": {"__typename": "Schedules", "results": []},
            "sensorsOrError": {"__typename": "Sensors", "results": []},
        }
    }
    server = GraphQL(httpserver, empty)
    assert run(email, webserver_url=server.url).success
    body = mailbox.messages[0].message.get_body(("plain",)).get_content()
    assert body.splitlines() == ["Code location cdr_dagster:", "    No scheduled jobs"]


def test_unknown_location_is_a_clear_failure(
    httpserver: HTTPServer, email: EmailResource, mailbox
) -> None:
    missing = {
        "data": {
            "schedulesOrError": {
                "__typename": "RepositoryNotFoundError",
                "message": "Could not find Repository cdr_dagster.__repository__",
            },
            "sensorsOrError": {"__typename": "RepositoryNotFoundError", "message": "same"},
        }
    }
    server = GraphQL(httpserver, missing)
    result = run(email, webserver_url=server.url)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "Could not find Repository" in failure.step_failure_data.user_failure_data.description
    assert mailbox.messages == []


def test_unreachable_webserver_is_a_clear_failure(email: EmailResource, mailbox) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/graphql"
    result = run(email, webserver_url=url, timeout_seconds=5)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(f"cannot reach the Dagster webserver at {url}")
    assert "CDR_DAGSTER_WEBSERVER_URL" in description


def test_sort_and_format_without_next_tick() -> None:
    items = sort_items(
        [
            ListedItem("b", "sensor", ("j",), "sensor[every 30 s]", "RUNNING", None),
            ListedItem("a", "schedule", ("j",), "cron['0 1 * * *', UTC]", "STOPPED", None),
            ListedItem("c", "schedule", ("j",), "cron['0 1 * * *', UTC]", "RUNNING", SOON),
        ]
    )
    assert [item.name for item in items] == ["c", "b", "a"]
    text = format_schedule_list(items)
    assert "    b (trigger: sensor[every 30 s], job: j, next run at: not yet known)" in text
