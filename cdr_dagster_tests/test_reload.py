"""reload_scheduler against a GraphQL server on loopback and against a real dagster-webserver.

The real webserver serves a small code location (named ``cdr_dagster``, like ours) from a file
the test edits: after ``reload_scheduler`` the new schedule is live, and ``email_schedule_list``
lists it, which is what an operator uses the reload for.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cdr_dagster.jobs.control import email_schedule_list, reload_scheduler
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.cdr_rows import add_group_members

LOADED = {
    "data": {
        "reloadRepositoryLocation": {
            "__typename": "WorkspaceLocationEntry",
            "name": "cdr_dagster",
            "loadStatus": "LOADED",
            "locationOrLoadError": {
                "__typename": "RepositoryLocation",
                "name": "cdr_dagster",
                "repositories": [{"name": "__repository__"}],
            },
        }
    }
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GraphQL:
    """A GraphQL endpoint with a fixed answer that keeps the requests it got."""

    def __init__(self, server: HTTPServer, answer: Any, status: int = 200) -> None:
        self.answer, self.status = answer, status
        self.requests: list[dict[str, Any]] = []
        server.expect_request("/graphql", method="POST").respond_with_handler(self.handle)
        self.url = server.url_for("/graphql")

    def handle(self, request: Request) -> Response:
        self.requests.append(json.loads(request.get_data()))
        body = self.answer if isinstance(self.answer, str) else json.dumps(self.answer)
        return Response(body, status=self.status, content_type="application/json")


def reload(**config: Any) -> dg.ExecuteInProcessResult:
    return reload_scheduler.execute_in_process(
        run_config={"ops": {"reload_scheduler_op": {"config": config}}} if config else None,
        raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data.description


def test_reload_asks_for_this_code_location(httpserver: HTTPServer) -> None:
    server = GraphQL(httpserver, LOADED)
    result = reload(webserver_url=server.url)
    assert result.success
    [request] = server.requests
    assert "reloadRepositoryLocation" in request["query"]
    assert request["variables"] == {"location": "cdr_dagster"}


def test_webserver_address_from_the_environment(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = GraphQL(httpserver, LOADED)
    monkeypatch.setenv("CDR_DAGSTER_WEBSERVER_URL", server.url)
    assert reload().success
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (
            {
                "data": {
                    "reloadRepositoryLocation": {
                        "__typename": "RepositoryLocationNotFound",
                        "message": "Location cdr_dagster does not exist",
                    }
                }
            },
            200,
            "reloading code location 'cdr_dagster' failed: RepositoryLocationNotFound: "
            "Location cdr_dagster does not exist",
        ),
        (
            {
                "data": {
                    "reloadRepositoryLocation": {
                        **LOADED["data"]["reloadRepositoryLocation"],
                        "loadStatus": "LOADED",
                        "locationOrLoadError": {
                            "__typename": "PythonError",
                            "message": "ScheduleConfigError: schedules.yaml: 1 problem",
                        },
                    }
                }
            },
            200,
            "code location 'cdr_dagster' was reloaded but does not load: ScheduleConfigError",
        ),
        (
            {"errors": [{"message": "Cannot query field 'reloadRepositoryLocation'"}]},
            400,
            "refused the request: Cannot query field",
        ),
        ("<html>Not Found</html>", 404, "answered HTTP 404 without a GraphQL result"),
    ],
)
def test_refusals_are_clear_failures(
    httpserver: HTTPServer, answer: Any, status: int, message: str
) -> None:
    server = GraphQL(httpserver, answer, status)
    result = reload(webserver_url=server.url)
    assert not result.success
    assert message in failure_text(result)


def test_unreachable_webserver_is_a_clear_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"
    result = reload(webserver_url=url, timeout_seconds=5)
    assert not result.success
    text = failure_text(result)
    assert text.startswith(f"cannot reach the Dagster webserver at {url}: ConnectionError")
    assert "is dagster-webserver running there?" in text


# --- a real dagster-webserver -----------------------------------------------------------------

LOCATION_V1 = """
import dagster as dg

@dg.op
def hello_op() -> None:
    pass

@dg.job
def hello() -> None:
    hello_op()

defs = dg.Definitions(
    jobs=[hello],
    schedules=[
        dg.ScheduleDefinition(
            name="first_schedule", job=hello, cron_schedule="0 5 * * *",
            execution_timezone="America/New_York",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        )
    ],
)
"""

ADDED = """
        dg.ScheduleDefinition(
            name="added_schedule", job=hello, cron_schedule="30 6 * * 1",
            execution_timezone="America/New_York",
        ),
"""
LOCATION_V2 = LOCATION_V1.replace("        )\n    ],", "        )," + ADDED + "    ],")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A dagster-webserver on loopback serving location ``cdr_dagster`` from an editable file."""
    folder = tmp_path_factory.mktemp("webserver")
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    location = folder / "location.py"
    location.write_text(LOCATION_V1)
    (folder / "workspace.yaml").write_text(
        "load_from:\n  - python_file:\n      relative_path: location.py\n"
        "      location_name: cdr_dagster\n"
    )
    port = free_port()
    log = open(folder / "webserver.log", "wb")  # noqa: SIM115 - closed below
    command = [
        str(Path(sys.executable).with_name("dagster-webserver")),
        "-w",
        str(folder / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {(folder / 'webserver.log').read_text()}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"dagster-webserver did not start: {(folder / 'webserver.log').read_text()}"
                )
            time.sleep(0.5)
        yield url, location
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_reload_against_a_real_webserver_makes_an_edited_schedule_live(
    webserver: tuple[str, Path], cdr_db, mailbox
) -> None:
    url, location = webserver
    add_group_members(cdr_db, "Developers Notification", [("ann", "ann@example.gov", False)])
    email = EmailResource(
        tier="DEV",
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        cdr_db=CdrDatabaseResource(url=cdr_db.url.render_as_string(hide_password=False)),
    )

    def schedule_list() -> list[str]:
        mailbox.clear()
        result = email_schedule_list.execute_in_process(
            run_config={"ops": {"email_schedule_list_op": {"config": {"webserver_url": url}}}},
            resources={"email": email},
            raise_on_error=False,
        )
        assert result.success
        return mailbox.messages[0].message.get_body(("plain",)).get_content().splitlines()

    before = schedule_list()
    assert before[0] == "Code location cdr_dagster:"
    assert before[1].startswith(
        "    first_schedule (trigger: cron['0 5 * * *', America/New_York], job: hello, "
        "next run at: "
    )
    assert not any("added_schedule" in line for line in before)

    location.write_text(LOCATION_V2)
    result = reload(webserver_url=url)
    assert result.success, failure_text(result)

    after = schedule_list()
    assert (
        "    added_schedule (trigger: cron['30 6 * * 1', America/New_York], job: hello, paused)"
        in after
    )

    location.write_text('raise RuntimeError("schedules.yaml: broken on purpose")\n')
    broken = reload(webserver_url=url)
    assert not broken.success
    assert "was reloaded but does not load" in failure_text(broken)
    assert "(caused by: RuntimeError: schedules.yaml: broken on purpose)" in failure_text(broken)
    location.write_text(LOCATION_V2)
    assert reload(webserver_url=url).success
