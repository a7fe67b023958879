"""The code location loads: the one Definitions, its resources, schedules, sensors and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDR_", "DAGSTER_"))}
    env.update(overrides)
    return env


def test_definitions_are_loadable() -> None:
    from cdr_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("smoke_test").name == "smoke_test"
    assert defs.resolve_sensor_def("run_failure_email_sensor") is not None
    for key in ("cdr_db", "email", "sftp", "commands"):
        assert key in defs.resources


def test_each_job_carries_only_the_resources_it_uses() -> None:
    """Op jobs and asset jobs are bound to the resources their ops or assets require (a
    smaller snapshot, docs/architecture.md#code-location-load); only Dagster's implicit job
    of all assets carries every resource. Every job still gets all it needs."""
    from cdr_dagster.definitions import defs

    repo = defs.get_repository_def()
    asset_jobs = {job.name for job in defs.jobs if not isinstance(job, dg.JobDefinition)}
    for job in repo.get_all_jobs():
        if job.name == "__ASSET_JOB":
            assert set(defs.resources) <= set(job.resource_defs)
            continue
        assert set(job.resource_defs) == set(job.required_resource_keys), job.name
    assert not asset_jobs  # resolved when the location loads
    sftp_log = repo.get_job("sftp_access_log_job")
    assert set(sftp_log.resource_defs) == {"commands", "io_manager", "sftp"}


def test_every_schedule_uses_new_york_time() -> None:
    from cdr_dagster.definitions import defs

    schedules = list(defs.schedules or [])
    assert schedules, "schedules.yaml should define at least one schedule"
    for schedule in schedules:
        assert schedule.execution_timezone == "America/New_York", schedule.name


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=_env(DAGSTER_HOME=str(home), CDR_TIER="PROD"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_bad_tier_stops_the_code_location_with_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import cdr_dagster.definitions"],
        cwd=REPO,
        env=_env(CDR_TIER="PRODUCTION"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "CDR_TIER='PRODUCTION' is not a CDR tier" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CDR_QUEUE_WATCH_SECONDS",
            "90",
            "CDR_QUEUE_WATCH_SECONDS='90' must be at least 0 and under 50",
        ),
        ("CDR_BATCH_QUEUE_INTERVAL_SECONDS", "0.5", "'0.5' is not a whole number of seconds"),
    ],
)
def test_bad_queue_sensor_settings_stop_the_code_location(
    variable: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import cdr_dagster.definitions"],
        cwd=REPO,
        env=_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("tier", ["DEV", "qa", " Stage ", "PROD"])
def test_tiers_are_accepted_in_any_case(tier: str) -> None:
    from cdr_dagster.settings import parse_tier

    assert parse_tier(tier) == tier.strip().upper()


def test_check_env_names_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdr_dagster.cli import main

    names = ("CDR_DB_URL", "CDR_ES_HOST", "CDR_NETSTORAGE_KEY_FILE", "CDR_CMS_PASSWORD")
    for name in (*names, "CDR_ES_DUMP_DIR", "CDR_NETSTORAGE_LOCAL_DIR", "CDR_CMS_LOCAL_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["check-env"]) == 2
    error = capsys.readouterr().err
    assert all(name in error for name in names), error
    monkeypatch.setenv("CDR_DB_URL", "sqlite://")
    monkeypatch.setenv("CDR_ES_HOST", "es.example.gov")
    monkeypatch.setenv("CDR_NETSTORAGE_KEY_FILE", "/etc/akamai/netstorage-key")
    monkeypatch.setenv("CDR_CMS_PASSWORD", "from-the-vault")
    assert main(["check-env"]) == 0


def test_loading_the_code_location_does_not_import_heavy_clients() -> None:
    """Every code-server start and reload pays for what definitions.py imports
    (docs/architecture.md#code-location-load,
    benchmarks/location_load.py): clients and the SQLAlchemy data layer load in runs only."""
    heavy = ("sqlalchemy", "elasticsearch", "paramiko", "lxml", "requests")
    probe = (
        "import sys, cdr_dagster.definitions; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=_env(CDR_TIER="DEV"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
