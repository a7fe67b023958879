"""The production layout of ``deploy/``, end to end: a gRPC code server and a daemon.

The code server is started with the command line of ``deploy/systemd/cdr-dagster-code-server
.service`` (its ``${VARIABLES}`` filled in from the environment, its install folder replaced by
this repository) and loads the real ``cdr_dagster.definitions``. A real ``dagster-daemon`` with
PostgreSQL instance storage (the repository's ``dagster.yaml``) reads ``deploy/workspace-grpc
.yaml``. A ``batch_job`` row queued in the PostgreSQL CDR database is picked up by the queue
sensor (evaluated in the code server), launched through it, and ends ``Completed`` with one
successful run. The unit and service files are checked for what the guide promises: every
webserver on 127.0.0.1, the daemon and webserver on the gRPC workspace.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from cdr_dagster_tests.queue_fixtures import (
    batch_row,
    engine_url,
    insert_batch_job,
    invocations,
    queue_daemon,
    runs_of_batch_job,
    wait_for,
    write_cdr_scripts,
)
from cdr_dagster_tests.services.ports import free_port

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
#: Where the unit files expect the repository to be installed.
INSTALL_DIR = "/opt/cdr-dagster"
#: Generous: on a loaded two-core machine the code location loads in several processes.
SETTLE_SECONDS = 300


def exec_start(unit: Path) -> str:
    """The ``ExecStart=`` command line of a systemd unit."""
    lines = [line for line in unit.read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, f"{unit.name} has {len(lines)} ExecStart lines, not 1"
    return lines[0].removeprefix("ExecStart=")


def unit_command(unit: Path, env: Mapping[str, str]) -> list[str]:
    """The unit's command for this checkout: ``${NAME}`` from ``env``, this virtualenv and
    this repository instead of the install folder's."""
    words = shlex.split(exec_start(unit))
    program = Path(words[0])
    assert program.parent == Path(INSTALL_DIR, ".venv", "bin"), f"unexpected program {program}"
    words[0] = str(Path(sys.executable).with_name(program.name))
    words = [word.replace(INSTALL_DIR, str(REPO)) for word in words]
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], word) for word in words]


@contextlib.contextmanager
def code_server(command: list[str], env: Mapping[str, str], log: Path) -> Iterator[None]:
    """Run ``command`` in a session of its own; end that session's process group afterwards
    (the server and the run workers it started)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
        process.wait(timeout=30)


def serving(port: int) -> bool:
    """True once the code server at ``port`` answers its health check."""
    from dagster._grpc.client import DagsterGrpcClient

    try:
        return DagsterGrpcClient(port=port, host="127.0.0.1").health_check_query() == "SERVING"
    except Exception:  # noqa: BLE001 - not up yet
        return False


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.mark.timeout(900)
def test_a_queued_batch_job_runs_through_the_grpc_code_server(
    cdr_db: Engine, tmp_path: Path
) -> None:
    basedir = write_cdr_scripts(tmp_path / "cdr", engine_url(cdr_db))
    port = free_port()
    log = tmp_path / "code-server.log"
    with queue_daemon(tmp_path / "dagster_home", engine_url(cdr_db), basedir) as daemon:
        shutil.copy(DEPLOY / "workspace-grpc.yaml", daemon.home / "workspace.yaml")
        daemon.env.update(
            {
                "CDR_CODE_SERVER_HOST": "127.0.0.1",
                "CDR_CODE_SERVER_PORT": str(port),
                # QA: the production health sensor (DEV only) stays off; no mail leaves.
                "CDR_TIER": "QA",
                "CDR_MAIL_OUTBOX": str(tmp_path / "outbox"),
            }
        )
        command = unit_command(DEPLOY / "systemd" / "cdr-dagster-code-server.service", daemon.env)
        with code_server(command, daemon.env, log):
            wait_for(
                lambda: serving(port),
                SETTLE_SECONDS,
                "the code server",
                explain=lambda: tail(log),
                interval=1,
            )
            job_id = insert_batch_job(cdr_db, "Quiet Report")
            daemon.start()
            wait_for(
                lambda: batch_row(cdr_db, job_id).status in ("Completed", "Aborted", "Stopped"),
                SETTLE_SECONDS,
                f"batch job {job_id} to end",
                explain=lambda: f"daemon:\n{daemon.log_tail()}\ncode server:\n{tail(log)}",
            )
            instance = daemon.instance
            wait_for(
                lambda: all(run.is_finished for run in runs_of_batch_job(instance, job_id)),
                SETTLE_SECONDS,
                "its run to finish",
                explain=daemon.log_tail,
            )
            runs = runs_of_batch_job(instance, job_id)

    row = batch_row(cdr_db, job_id)
    assert row.status == "Completed", f"batch job ended {row.status}: {row.progress}"
    assert invocations(basedir) == [job_id], "the report script ran other than once"
    assert len(runs) == 1, f"runs: {[(r.run_id, r.status) for r in runs]}"
    [run] = runs
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/sensor_name"] == "batch_job_queue_sensor"
    origin = run.remote_job_origin.repository_origin.code_location_origin  # type: ignore[union-attr]
    assert (origin.location_name, getattr(origin, "port", None)) == ("cdr_dagster", port), (
        f"the run was not launched through the code server on port {port}: {origin}"
    )


def test_the_units_use_the_grpc_workspace_and_loopback() -> None:
    units = {path.name: exec_start(path) for path in (DEPLOY / "systemd").glob("*.service")}
    expected = {
        "cdr-dagster-code-server.service",
        "cdr-dagster-daemon.service",
        "cdr-dagster-webserver.service",
    }
    assert set(units) == expected, f"missing units: {sorted(expected - set(units))}"
    for name in ("cdr-dagster-daemon.service", "cdr-dagster-webserver.service"):
        assert f"-w {INSTALL_DIR}/deploy/workspace-grpc.yaml" in units[name], units[name]
    assert " -h 127.0.0.1 " in units["cdr-dagster-webserver.service"]
    env_file = (DEPLOY / "systemd" / "cdr-dagster.env.example").read_text()
    assert re.search(r"^CDR_CODE_SERVER_HOST=127\.0\.0\.1$", env_file, re.M)


def test_the_windows_services_match_the_units() -> None:
    services = {}
    for path in sorted((DEPLOY / "windows").glob("*.xml")):
        root = ElementTree.parse(path).getroot()
        services[root.findtext("id")] = root.findtext("arguments") or ""
    expected = {"cdr-dagster-code-server", "cdr-dagster-daemon", "cdr-dagster-webserver"}
    assert set(services) == expected, f"missing services: {sorted(expected - set(services))}"
    assert "--location-name cdr_dagster" in services["cdr-dagster-code-server"]
    assert "-m cdr_dagster.definitions" in services["cdr-dagster-code-server"]
    for name in ("cdr-dagster-daemon", "cdr-dagster-webserver"):
        assert "deploy\\workspace-grpc.yaml" in services[name], services[name]
    assert "-h 127.0.0.1 " in services["cdr-dagster-webserver"]


def test_no_service_listens_beyond_loopback() -> None:
    files = [*(DEPLOY / "systemd").iterdir(), *(DEPLOY / "windows").iterdir()]
    open_ones = [str(path.relative_to(REPO)) for path in files if "0.0.0.0" in path.read_text()]
    assert not open_ones, f"files binding a service to every address: {open_ones}"
