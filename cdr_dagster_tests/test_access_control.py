"""The login proxy of deploy/nginx in front of a real full and a real read-only webserver.

One module, one stack (started once): a full ``dagster-webserver`` and a ``--read-only`` one
with ``--path-prefix /view``, both on 127.0.0.1 serving the project's ``workspace.yaml`` from
one temp ``DAGSTER_HOME``, behind nginx running the shipped template as rendered by
``deploy/nginx/render_config.py`` (TLS with a certificate made here, one htpasswd file per
role). For the UI page, a GraphQL query, the GraphQL websocket, a launch and a sensor stop it
counts what each caller gets: nobody without a login, reads but no mutations for a viewer
(the read-only webserver answers ``UnauthorizedError`` in the GraphQL body, not with an HTTP
status), everything for an operator. It also runs the project's own GraphQL callers
(``email_schedule_list``, ``reload_scheduler``) on loopback and through the proxy, and the
renderer's refusals. Without nginx (``scripts/ensure-nginx`` installs it) the stack tests skip.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests

from cdr_dagster.jobs.control import (
    WEBSERVER_PASSWORD_VARIABLE,
    WEBSERVER_URL_VARIABLE,
    WEBSERVER_USER_VARIABLE,
    email_schedule_list,
    reload_scheduler,
)
from cdr_dagster.settings import LOCATION_NAME
from cdr_dagster_tests.cdr_rows import developers_email
from cdr_dagster_tests.resource_test_servers import free_port
from cdr_dagster_tests.services.nginx import NginxServer, nginx_binary
from cdr_dagster_tests.services.webserver import DagsterWebserver

pytestmark = pytest.mark.timeout(900)

REPOSITORY = Path(__file__).resolve().parents[1]
RENDERER = REPOSITORY / "deploy" / "nginx" / "render_config.py"
SENSOR = "run_failure_email_sensor"
JOB = "smoke_test"
REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__"}

READ_QUERY = """
query CdrAccessRead($sensor: SensorSelector!, $runs: RunsFilter!) {
  sensorOrError(sensorSelector: $sensor) {
    __typename
    ... on Sensor { name sensorState { id status } }
  }
  runsOrError(filter: $runs) { __typename ... on Runs { results { runId status } } }
}
"""
LAUNCH_MUTATION = """
mutation CdrAccessLaunch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}
"""
STOP_MUTATION = """
mutation CdrAccessStop($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on Error { message }
  }
}
"""


def load_renderer() -> Any:
    """deploy/nginx/render_config.py as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("render_config", RENDERER)
    assert spec is not None and spec.loader is not None, f"cannot load {RENDERER}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the renderer ------------------------------------------------------------------------------


def test_default_render_is_the_closed_production_configuration() -> None:
    text = load_renderer().render({})
    assert "@" not in text.replace("'", ""), "a placeholder was left unfilled"
    for line in (
        "listen 443 ssl;",
        "server 127.0.0.1:3000;",
        "server 127.0.0.1:3001;",
        "auth_basic_user_file /etc/nginx/cdr-dagster/operators.htpasswd;",
        "auth_basic_user_file /etc/nginx/cdr-dagster/viewers.htpasswd;",
        "ssl_certificate     /etc/ssl/certs/cdr-dagster.pem;",
        "ssl_certificate_key /etc/ssl/private/cdr-dagster.key;",
    ):
        assert line in text, f"the production configuration lacks {line!r}"
    served = [line.strip() for line in text.splitlines() if line.strip().startswith("listen")]
    assert served == ["listen 443 ssl;"], f"nginx must serve TLS only, got {served}"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--viewers-upstream", "10.1.2.3:3001", "VIEWERS_UPSTREAM='10.1.2.3:3001': the webservers"),
        ("--operators-upstream", "0.0.0.0:3000", "OPERATORS_UPSTREAM='0.0.0.0:3000': the web"),
        ("--viewers-upstream", "127.0.0.1:3000", "VIEWERS_UPSTREAM='127.0.0.1:3000' is also"),
        ("--listen", "https", "LISTEN='https': not a port"),
        ("--operators-htpasswd", "operators.htpasswd", "OPERATORS_HTPASSWD='operators.htpasswd'"),
        ("--tls-certificate", "/etc/ssl/a.pem; include /x", "TLS_CERTIFICATE='/etc/ssl/a.pem;"),
        ("--server-name", "a.gov; return 200", "SERVER_NAME='a.gov; return 200'"),
    ],
)
def test_renderer_refuses_an_unsafe_value_in_one_line_and_writes_nothing(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    output = tmp_path / "cdr-dagster.conf"
    result = subprocess.run(
        [sys.executable, str(RENDERER), option, value, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, f"{option} {value!r} was accepted: {result.stderr}"
    assert result.stderr.count("\n") == 1, f"not one line: {result.stderr!r}"
    assert message in result.stderr, f"the error does not name {option}: {result.stderr!r}"
    assert not output.exists(), "a refused render still wrote the configuration"


# --- the stack ---------------------------------------------------------------------------------


@dataclass
class Login:
    """A user of one role and how requests and websockets present it."""

    user: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return self.user, self.password

    @property
    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()


@dataclass
class Stack:
    """nginx on ``port`` in front of ``full`` (at /) and ``read_only`` (at /view/)."""

    port: int
    certificate: Path
    operator: Login
    viewer: Login
    full: DagsterWebserver
    read_only: DagsterWebserver
    nginx: NginxServer

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def explain(self) -> str:
        return (
            f"--- nginx\n{self.nginx.log_tail()}\n--- full webserver\n{self.full.log_tail()}\n"
            f"--- read-only webserver\n{self.read_only.log_tail()}"
        )


def openssl(*args: str, stdin: str | None = None) -> str:
    """Run openssl (scripts/ensure-nginx installs it beside nginx); its standard output."""
    result = subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"openssl {args[0]} failed: {result.stderr}"
    return result.stdout


def htpasswd(path: Path, login: Login) -> None:
    """One line ``user:$6$...`` (SHA-512 crypt, which nginx checks with the system crypt)."""
    hashed = openssl("passwd", "-6", "-stdin", stdin=login.password + "\n").strip()
    path.write_text(f"{login.user}:{hashed}\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    program = nginx_binary()
    if program is None:
        pytest.skip("nginx is not installed (scripts/ensure-nginx installs it with apt-get)")
    folder = tmp_path_factory.mktemp("access")
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
    )
    # Create the SQLite storage here: two webservers starting at once would both create it.
    dg.DagsterInstance.from_config(str(home)).dispose()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CDR_TIER": "DEV"}
    workspace = REPOSITORY / "workspace.yaml"
    full = DagsterWebserver(workspace, env, folder / "full.log")
    read_only = DagsterWebserver(
        workspace, env, folder / "read-only.log", read_only=True, path_prefix="/view"
    )
    certificate, key = folder / "proxy.pem", folder / "proxy.key"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(certificate), "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    operator = Login("olivia", secrets.token_urlsafe(12))
    viewer = Login("victor", secrets.token_urlsafe(12))
    htpasswd(folder / "operators.htpasswd", operator)
    htpasswd(folder / "viewers.htpasswd", viewer)
    port = free_port()
    site = folder / "cdr-dagster.conf"
    rendered = subprocess.run(
        [
            sys.executable, str(RENDERER), "--listen", f"127.0.0.1:{port}",
            "--server-name", "127.0.0.1",
            "--operators-upstream", full.address, "--viewers-upstream", read_only.address,
            "--operators-htpasswd", str(folder / "operators.htpasswd"),
            "--viewers-htpasswd", str(folder / "viewers.htpasswd"),
            "--tls-certificate", str(certificate), "--tls-certificate-key", str(key),
            "--output", str(site),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert rendered.returncode == 0, f"render_config refused the test values: {rendered.stderr}"
    nginx = NginxServer(program, folder / "nginx", site, port)
    built = Stack(port, certificate, operator, viewer, full, read_only, nginx)
    try:
        full.start()
        read_only.start()
        full.wait_until_ready()
        read_only.wait_until_ready()
        nginx.start()
        yield built
    finally:
        nginx.stop()
        full.stop()
        read_only.stop()


def send(stack: Stack, kind: str, path: str, login: Login | None, **variables: Any) -> Any:
    """One request of ``kind`` (page, read, launch, stop) to ``path`` through the proxy."""
    auth = login.auth if login else None
    if kind == "page":
        return requests.get(stack.url(path), auth=auth, verify=str(stack.certificate), timeout=60)
    if kind == "read":
        variables = {
            "sensor": {**REPOSITORY_SELECTOR, "sensorName": SENSOR},
            "runs": {"pipelineName": JOB},
        }
        document = READ_QUERY
    elif kind == "launch":
        variables = {
            "params": {
                "selector": {**REPOSITORY_SELECTOR, "jobName": JOB},
                "runConfigData": {
                    "ops": {"smoke_test_op": {"config": {"options": {"by": "access test"}}}}
                },
            }
        }
        document = LAUNCH_MUTATION
    else:
        document = STOP_MUTATION
    return requests.post(
        stack.url(path),
        json={"query": document, "variables": variables},
        auth=auth,
        verify=str(stack.certificate),
        timeout=120,
    )


def websocket(stack: Stack, path: str, login: Login | None) -> str:
    """Open the GraphQL websocket at ``path`` and say hello: ``ack`` or ``HTTP <status>``."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    context = ssl.create_default_context(cafile=str(stack.certificate))
    headers = {"Authorization": login.header} if login else {}
    try:
        with connect(
            f"wss://127.0.0.1:{stack.port}{path}",
            ssl=context,
            subprotocols=["graphql-ws"],
            additional_headers=headers,
            proxy=None,
            open_timeout=60,
        ) as socket:
            socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            answer = json.loads(socket.recv(timeout=60))
    except InvalidStatus as refused:
        return f"HTTP {refused.response.status_code}"
    return "ack" if answer.get("type") == "connection_ack" else f"answer {answer}"


def sensor_and_runs(stack: Stack) -> tuple[str, str, int]:
    """What the read-only view shows: the sensor's state id and status, and smoke_test runs."""
    response = send(stack, "read", "/view/graphql", stack.viewer)
    assert outcome(response, "sensorOrError") == "Sensor", f"viewer read: {response.text[:500]}"
    data = response.json()["data"]
    state = data["sensorOrError"]["sensorState"]
    return state["id"], state["status"], len(data["runsOrError"]["results"])


def outcome(response: requests.Response, field: str) -> str:
    """``HTTP <status>`` unless 200, else the GraphQL ``__typename`` of ``field``.

    An answer without it is shown whole (shortened), so an assertion message tells what came.
    """
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        return response.json()["data"][field]["__typename"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP 200 without data.{field}: {response.text[:300]}"


def page_outcome(response: requests.Response) -> str:
    """``HTTP <status>``, with `` html`` when the body is an HTML page."""
    return f"HTTP {response.status_code}" + (" html" if "<html" in response.text.lower() else "")


SECURITY_HEADERS = ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options")


def test_without_a_valid_login_every_request_is_refused(stack: Stack) -> None:
    sensor_id, status_before, runs_before = sensor_and_runs(stack)
    wrong = Login(stack.operator.user, "not-the-password")
    refused: Counter[str] = Counter()
    tried = 0
    for login in (None, wrong):
        for path in ("/", "/view/", "/server_info", "/view/server_info", "/graphql"):
            response = send(stack, "page", path, login)
            tried += 1
            refused[f"HTTP {response.status_code}"] += 1
            missing = [name for name in SECURITY_HEADERS if name not in response.headers]
            assert not missing, f"GET {path}: the 401 lacks {missing}"
        for path in ("/graphql", "/view/graphql"):
            for kind in ("read", "launch", "stop"):
                tried += 1
                refused[f"HTTP {send(stack, kind, path, login, id=sensor_id).status_code}"] += 1
            tried += 1
            refused[websocket(stack, path, login)] += 1
    assert refused == {"HTTP 401": tried}, f"not every request was refused with 401: {refused}"
    assert sensor_and_runs(stack) == (sensor_id, status_before, runs_before), (
        "a refused request changed the sensor or launched a run"
    )


def test_a_viewer_reads_everything_and_changes_nothing(stack: Stack) -> None:
    sensor_id, status_before, runs_before = sensor_and_runs(stack)
    viewer = stack.viewer
    outcomes = {
        "page": page_outcome(send(stack, "page", "/view/", viewer)),
        "read": outcome(send(stack, "read", "/view/graphql", viewer), "sensorOrError"),
        "websocket": websocket(stack, "/view/graphql", viewer),
        "launch": outcome(send(stack, "launch", "/view/graphql", viewer), "launchRun"),
        "stop": outcome(send(stack, "stop", "/view/graphql", viewer, id=sensor_id), "stopSensor"),
        # The viewer's password opens nothing on the full webserver.
        "full page": f"HTTP {send(stack, 'page', '/', viewer).status_code}",
        "full launch": f"HTTP {send(stack, 'launch', '/graphql', viewer).status_code}",
        "full stop": f"HTTP {send(stack, 'stop', '/graphql', viewer, id=sensor_id).status_code}",
        "full websocket": websocket(stack, "/graphql", viewer),
    }
    assert outcomes == {
        "page": "HTTP 200 html",
        "read": "Sensor",
        "websocket": "ack",
        "launch": "UnauthorizedError",
        "stop": "UnauthorizedError",
        "full page": "HTTP 401",
        "full launch": "HTTP 401",
        "full stop": "HTTP 401",
        "full websocket": "HTTP 401",
    }, f"the viewer got {outcomes}\n{stack.explain()}"
    assert sensor_and_runs(stack) == (sensor_id, status_before, runs_before), (
        "the viewer changed the sensor or launched a run"
    )


def test_an_operator_reads_launches_and_stops(stack: Stack) -> None:
    sensor_id, _, runs_before = sensor_and_runs(stack)
    operator = stack.operator
    page = send(stack, "page", "/", operator)
    missing = [name for name in SECURITY_HEADERS if name not in page.headers]
    assert not missing, f"the operator's page lacks {missing}"
    launch = send(stack, "launch", "/graphql", operator)
    stop = send(stack, "stop", "/graphql", operator, id=sensor_id)
    outcomes = {
        "page": page_outcome(page),
        "read": outcome(send(stack, "read", "/graphql", operator), "sensorOrError"),
        "websocket": websocket(stack, "/graphql", operator),
        "launch": outcome(launch, "launchRun"),
        "stop": outcome(stop, "stopSensor"),
    }
    assert outcomes == {
        "page": "HTTP 200 html",
        "read": "Sensor",
        "websocket": "ack",
        "launch": "LaunchRunSuccess",
        "stop": "StopSensorMutationResult",
    }, f"the operator got {outcomes}: {launch.text[:500]} {stop.text[:500]}\n{stack.explain()}"
    # The read-only view shows what the operator did: one more run, the sensor off.
    _, status_after, runs_after = sensor_and_runs(stack)
    assert (status_after, runs_after - runs_before) == ("STOPPED", 1), (
        f"after the operator's launch and stop the view shows {status_after}, "
        f"{runs_after - runs_before} new runs"
    )


# --- the project's own GraphQL callers ----------------------------------------------------------


def reload(url: str) -> dg.ExecuteInProcessResult:
    return reload_scheduler.execute_in_process(
        run_config={"ops": {"reload_scheduler_op": {"config": {"webserver_url": url}}}},
        raise_on_error=False,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success, "the run succeeded"
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data.description


def test_schedule_list_on_loopback_needs_no_login(stack: Stack, cdr_db, mailbox) -> None:
    result = email_schedule_list.execute_in_process(
        run_config={
            "ops": {"email_schedule_list_op": {"config": {"webserver_url": stack.full.graphql_url}}}
        },
        resources={"email": developers_email(cdr_db, mailbox)},
        raise_on_error=False,
    )
    assert result.success, failure_text(result)
    [mail] = mailbox.messages
    body = mail.message.get_body(("plain",)).get_content()
    assert f"    {SENSOR} (trigger: sensor[" in body, f"{SENSOR} is not in the list:\n{body}"


def test_reload_through_the_proxy_with_an_operator_login_from_the_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stack.certificate))
    monkeypatch.setenv(WEBSERVER_USER_VARIABLE, stack.operator.user)
    monkeypatch.setenv(WEBSERVER_PASSWORD_VARIABLE, stack.operator.password)
    result = reload(stack.url("/graphql"))
    assert result.success, failure_text(result)


def test_callers_fail_in_one_line_naming_a_wrong_address_or_login(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stack.certificate))
    monkeypatch.delenv(WEBSERVER_USER_VARIABLE, raising=False)
    monkeypatch.delenv(WEBSERVER_PASSWORD_VARIABLE, raising=False)
    proxy = stack.url("/graphql")
    failures = {"no login": failure_text(reload(proxy))}
    monkeypatch.setenv(WEBSERVER_USER_VARIABLE, stack.viewer.user)
    failures["password missing"] = failure_text(reload(proxy))
    monkeypatch.setenv(WEBSERVER_PASSWORD_VARIABLE, stack.viewer.password)
    failures["viewer on the full webserver"] = failure_text(reload(proxy))
    failures["viewer on the read-only one"] = failure_text(reload(stack.url("/view/graphql")))
    monkeypatch.delenv(WEBSERVER_USER_VARIABLE)
    monkeypatch.delenv(WEBSERVER_PASSWORD_VARIABLE)
    failures["no scheme"] = failure_text(reload(stack.full.address + "/graphql"))
    monkeypatch.setenv(WEBSERVER_URL_VARIABLE, stack.full.url + "/")
    failures["UI address"] = failure_text(reload_scheduler.execute_in_process(raise_on_error=False))
    expected = {
        "no login": f"{proxy} answered HTTP 401: it asks for a login",
        "password missing": f"{WEBSERVER_PASSWORD_VARIABLE} is not set",
        "viewer on the full webserver": f"{proxy} answered HTTP 401: the login of 'victor'",
        "viewer on the read-only one": "UnauthorizedError",
        "no scheme": f"webserver address '{stack.full.address}/graphql' ",
        "UI address": f"webserver address '{stack.full.url}/' ",
    }
    wrong = {
        case: text
        for case, text in failures.items()
        if expected[case] not in text or "\n" in text.strip()
    }
    assert not wrong, f"not one line saying what is wrong: {wrong}"
