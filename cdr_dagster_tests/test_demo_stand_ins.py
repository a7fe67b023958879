"""The seeded demo's health and disk-space checks pass against its stand-in pages, and fail
when an operator breaks a page on purpose.

The demo is seeded into a temporary folder; its ``demo.env`` is the environment. The health
sensor is built from that environment and ticked on a real instance; the two jobs run with the
resources the code location builds from the same environment, mailing into the demo outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.cdr.health import HealthState
from cdr_dagster.control_sensors import build_production_health_sensor
from cdr_dagster.demo.seed import seed_demo
from cdr_dagster.demo.serve import read_env_file
from cdr_dagster.demo.stand_ins import cdrping_file, df_file
from cdr_dagster.jobs.health import check_disk_space, notify_production_health
from cdr_dagster.resources.defaults import build_resources
from cdr_dagster.settings import TIERS, load_settings


def demo_env(root: Path) -> dict[str, str]:
    """The variables of ``root/demo.env``."""
    return read_env_file(root / "demo.env")


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A seeded demo whose environment is the process environment."""
    root = tmp_path / "demo"
    seed_demo(root)
    for key, value in demo_env(root).items():
        monkeypatch.setenv(key, value)
    yield root


def outbox(root: Path) -> list[str]:
    """The subjects of the mail the demo wrote."""
    subjects = []
    for path in sorted((root / "outbox").glob("*.eml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("Subject:"):
                subjects.append(line.removeprefix("Subject:").strip())
    return subjects


def email() -> dg.ConfigurableResource:
    return build_resources(load_settings())["email"]


def health_tick(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    sensor = build_production_health_sensor()  # the settings of the demo environment
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, object]:
    """The output metadata ``op`` recorded in ``result``."""
    events = [e for e in result.all_node_events if e.step_key == op and e.is_successful_output]
    assert len(events) == 1, f"{op} recorded {len(events)} outputs, not 1"
    data = events[0].event_specific_data.metadata  # type: ignore[union-attr]
    return {key: value.value for key, value in data.items()}


def test_the_stand_ins_are_local_files(demo: Path) -> None:
    env = demo_env(demo)
    pages = [env["CDR_HEALTH_CHECK_URL"]] + [env[f"CDR_DISK_SPACE_URL_{t}"] for t in TIERS]
    not_local = [url for url in pages if not url.startswith(f"file://{demo}/stand-ins/")]
    assert not not_local, f"pages outside the demo's stand-ins: {not_local}"


def test_health_is_good_until_cdrping_is_broken(demo: Path) -> None:
    with dg.instance_for_test() as instance:
        healthy = health_tick(instance)
        assert not healthy.run_requests, f"healthy demo requested {healthy.run_requests}"
        state = HealthState.from_json(healthy.cursor)
        assert state.checks == 1 and state.failures == {}, f"problems seen: {state.failures}"

        checked = notify_production_health.execute_in_process(resources={"email": email()})
        assert checked.success
        assert metadata(checked, "notify_production_health_op")["problems"] == 0
        assert outbox(demo) == [], f"a healthy demo mailed: {outbox(demo)}"

        cdrping_file(demo / "stand-ins").write_text("CDR UNAVAILABLE\n")
        broken = health_tick(instance, healthy.cursor)
        [request] = broken.run_requests
        failures = request.run_config["ops"]["notify_production_health_op"]["config"]
        assert failures["failures"] == [{"problem": "CDR UNAVAILABLE", "count": 1}]


def test_disk_space_is_good_until_a_page_is_broken(demo: Path) -> None:
    checked = check_disk_space.execute_in_process(resources={"email": email()})
    assert checked.success
    found = metadata(checked, "check_disk_space_op")
    assert found["problems"] == 0, f"problems on a healthy demo: {found.get('alert')}"
    drives = sorted(key for key in found if key.endswith("_free_bytes"))
    expected = sorted(f"{tier}_{drive}_free_bytes" for tier in TIERS for drive in "CD")
    assert drives == expected, f"missing drives: {sorted(set(expected) - set(drives))}"
    assert outbox(demo) == [], f"a healthy demo mailed: {outbox(demo)}"

    qa = df_file(demo / "stand-ins", "QA")
    qa.write_text("C DRIVE\n   FREE:  1073741824 (1.0G)\n")
    warned = check_disk_space.execute_in_process(resources={"email": email()})
    assert warned.success
    assert metadata(warned, "check_disk_space_op")["problems"] == 1
    assert outbox(demo) == ["*** WARNING: CDR DISK SPACE CHECK ***"]

    qa.unlink()
    failed = check_disk_space.execute_in_process(resources={"email": email()})
    alert = str(metadata(failed, "check_disk_space_op")["alert"])
    assert f"cannot read {qa.as_uri()}" in alert, alert
