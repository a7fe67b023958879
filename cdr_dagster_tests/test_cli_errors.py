"""Every ``cdr-dagster`` command ends a bad input with one line on stderr and a non-zero exit.

The command runs as a real process (``python -m cdr_dagster.cli``); each case counts the lines
it wrote on stderr and checks that the line names the bad value. ``--debug`` brings the
traceback back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cdr_dagster_tests.services.ports import free_port
from cdr_dagster_tests.services.postgres import SERVER_URL


def cdr_dagster(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``cdr-dagster ARGS`` with the test environment plus ``env``."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("CDR_")}
    environ.update({"CDR_TIER": "DEV", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "cdr_dagster.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def one_line_failure(result: subprocess.CompletedProcess, *named: str, status: int = 2) -> str:
    """The one stderr line of a failed command, checked to name each of ``named``."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr instead of 1:\n{result.stderr}"
    assert result.returncode == status, f"exit {result.returncode}, not {status}: {lines[0]}"
    missing = [text for text in named if text not in lines[0]]
    assert not missing, f"the line does not name {missing}: {lines[0]}"
    assert "Traceback" not in result.stderr
    return lines[0]


# --- init-db ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("nonsense", ["init-db", "bad database URL", "'nonsense'"]),
        ("nosuchdialect://host/db", ["bad database URL", "nosuchdialect"]),
        ("not-a-url://me:hunter2@host:x/db", ["bad database URL", "me:***@"]),
    ],
    ids=["unparsable", "unknown-dialect", "unparsable-with-password"],
)
def test_init_db_bad_url(url: str, named: list[str]) -> None:
    line = one_line_failure(cdr_dagster("init-db", "--url", url), *named)
    assert "hunter2" not in line


def test_init_db_refused_login_names_the_user_not_the_password() -> None:
    server = make_url(SERVER_URL)
    url = server.set(username="no_such_cdr_user", password="hunter2", database="cdr")
    result = cdr_dagster("init-db", "--url", url.render_as_string(hide_password=False))
    line = one_line_failure(result, "cannot create the schema in", "no_such_cdr_user")
    assert "hunter2" not in line


def test_init_db_unreachable_server() -> None:
    port = free_port()
    url = f"postgresql+psycopg2://cdr@127.0.0.1:{port}/cdr"
    one_line_failure(cdr_dagster("init-db", "--url", url), f"port {port}", "refused")


def test_init_db_unwritable_sqlite_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{blocker / 'cdr.db'}"
    one_line_failure(cdr_dagster("init-db", "--url", url), "init-db", str(blocker))


def test_init_db_without_url() -> None:
    one_line_failure(cdr_dagster("init-db"), "--url", "CDR_DB_URL")


def test_init_db_refuses_sql_server() -> None:
    url = "mssql+pyodbc://cdr:hunter2@cdr-db.example.gov/cdr?driver=ODBC+Driver+18"
    line = one_line_failure(cdr_dagster("init-db", "--url", url), "cdr-db.example.gov")
    assert "hunter2" not in line


# --- seed-demo ----------------------------------------------------------------------------------


def test_seed_demo_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    one_line_failure(cdr_dagster("seed-demo", str(blocker / "demo")), "seed-demo", str(blocker))
    assert blocker.read_text() == "not a folder"


def test_seed_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "cdr.db").write_text("someone else's")
    one_line_failure(cdr_dagster("seed-demo", str(tmp_path)), "cdr.db", "not made by")
    assert (tmp_path / "cdr.db").read_text() == "someone else's"


# --- import-schedules and export-schedules ------------------------------------------------------


@pytest.mark.parametrize("problem", ["missing", "folder", "not-json", "not-utf8"])
def test_import_schedules_unreadable_export(tmp_path: Path, problem: str) -> None:
    path = tmp_path / "export.json"
    if problem == "folder":
        path.mkdir()
    elif problem == "not-json":
        path.write_text("scheduled_job rows, surely")
    elif problem == "not-utf8":
        path.write_bytes(b"[\xff\xfe]")
    result = cdr_dagster("import-schedules", str(path))
    one_line_failure(result, "cannot read", str(path))
    assert result.stdout == "", "nothing half-written on stdout"


def test_import_schedules_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"rows": []}))
    one_line_failure(cdr_dagster("import-schedules", str(path)), str(path), "JSON array")


@pytest.mark.parametrize("command", ["export-schedules", "check-env"])
def test_bad_tier(command: str) -> None:
    one_line_failure(cdr_dagster(command, env={"CDR_TIER": "PRODUCTION"}), command, "PRODUCTION")


def test_check_env_names_the_missing_variables() -> None:
    one_line_failure(cdr_dagster("check-env"), "missing environment variables", "CDR_DB_URL")


# --- usage errors and --debug -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["no-such-command"], "no-such-command"),
        (["init-db", "--no-such-option"], "--no-such-option"),
        (["import-schedules"], "export"),
        ([], "command"),
    ],
    ids=["unknown-command", "unknown-option", "missing-argument", "no-command"],
)
def test_usage_errors_are_one_line(args: list[str], named: str) -> None:
    one_line_failure(cdr_dagster(*args), named, "--help")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where: str) -> None:
    args = ["init-db", "--url", "nonsense"]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    result = cdr_dagster(*args)
    assert result.returncode != 0, "a failure under --debug still fails"
    assert "Traceback (most recent call last)" in result.stderr, result.stderr
    assert "bad database URL 'nonsense'" in result.stderr, result.stderr
