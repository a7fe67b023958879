"""The production ``dagster.yaml`` loads against a real PostgreSQL and says what it should."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import make_url

from cdr_dagster_tests.services.postgres import temporary_database

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def production_instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Dagster instance built from the repository's dagster.yaml on a fresh PG database."""
    with temporary_database("dagster_instance") as url:
        parsed = make_url(url)
        monkeypatch.setenv("DAGSTER_PG_HOST", parsed.host or "127.0.0.1")
        monkeypatch.setenv("DAGSTER_PG_PORT", str(parsed.port or 5432))
        monkeypatch.setenv("DAGSTER_PG_DB", parsed.database or "")
        monkeypatch.setenv("DAGSTER_PG_USER", parsed.username or "postgres")
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", "unused-with-trust-auth")
        shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
        instance = dg.DagsterInstance.from_config(str(tmp_path))
        try:
            yield instance
        finally:
            instance.dispose()


def test_storage_is_postgres(production_instance: dg.DagsterInstance) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    assert isinstance(production_instance.run_storage, PostgresRunStorage)
    assert isinstance(production_instance.event_log_storage, PostgresEventLogStorage)
    # Storage works: a run written is a run read back.
    assert production_instance.get_runs_count() == 0


def _lane_limits(instance: dg.DagsterInstance) -> tuple[int, dict[tuple[str, str], int]]:
    """The instance's run limit and its tag limits by (key, value)."""
    queue = instance.get_concurrency_config().run_queue_config
    limits = {
        (limit["key"], str(limit.get("value"))): limit["limit"]
        for limit in queue.tag_concurrency_limits
    }
    return queue.max_concurrent_runs, limits


def assert_lanes(instance: dg.DagsterInstance) -> None:
    """The run queue has the lanes of cdr_dagster.lanes, and health and publishing runs always
    find a slot however many capped runs wait."""
    from cdr_dagster.lanes import LANE_LIMITS, LANE_TAG

    max_runs, limits = _lane_limits(instance)
    assert limits[("cdr/lock", "{'applyLimitPerUniqueValue': True}")] == 1
    caps = {value: limit for (key, value), limit in limits.items() if key == LANE_TAG}
    assert caps == LANE_LIMITS, (
        f"dagster.yaml caps lanes {caps}, cdr_dagster.lanes says {LANE_LIMITS}"
    )
    free = max_runs - sum(caps.values())
    assert free >= 3, f"only {free} of {max_runs} slots stay free for health and publishing runs"
    # Publishing jobs must be free to run side by side: a weekly publishing run waits for the
    # export job it queued, which only another run (run_publishing_job) can start.
    assert not any(key == "cdr/queue" for key, _ in limits)
    assert ("cdr/lane", "publishing") not in limits


def test_run_queue_limits(production_instance: dg.DagsterInstance) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator

    assert isinstance(production_instance.run_coordinator, QueuedRunCoordinator)
    max_runs, _ = _lane_limits(production_instance)
    assert max_runs == 8
    assert_lanes(production_instance)
    assert production_instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_run_launcher_checks_run_workers(production_instance: dg.DagsterInstance) -> None:
    """Run monitoring can tell a dead run worker, and polls often enough to fail its run
    within two minutes of the daemon (re)starting."""
    from cdr_dagster.run_launcher import HostRunLauncher

    launcher = production_instance.run_launcher
    assert isinstance(launcher, HostRunLauncher)
    assert launcher.supports_check_run_worker_health
    assert production_instance.run_monitoring_enabled
    assert production_instance.run_monitoring_settings["poll_interval_seconds"] <= 30
    assert production_instance.run_monitoring_start_timeout_seconds < 120


def test_the_demo_instance_has_the_same_lanes_and_launcher(tmp_path: Path) -> None:
    from cdr_dagster.demo.folders import write_dagster_home
    from cdr_dagster.run_launcher import HostRunLauncher

    write_dagster_home(tmp_path)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert_lanes(instance)
        assert isinstance(instance.run_launcher, HostRunLauncher)
        assert instance.run_monitoring_enabled
    finally:
        instance.dispose()


def test_monitoring_retries_retention_telemetry(production_instance: dg.DagsterInstance) -> None:
    assert production_instance.run_monitoring_enabled
    assert production_instance.run_retries_enabled
    assert production_instance.run_retries_max_retries == 1
    assert production_instance.run_retries_retry_on_asset_or_op_failure is False
    assert production_instance.telemetry_enabled is False
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    retention = production_instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert retention[TickStatus.SUCCESS] == 90


def test_sensors_are_evaluated_in_threads(production_instance: dg.DagsterInstance) -> None:
    """The queue sensors watch their queue for most of each daemon round; in threads, with
    workers to spare, they hold up no other sensor."""
    settings = production_instance.get_settings("sensors")
    assert settings["use_threads"] is True
    assert settings["num_workers"] >= 8
