"""``cdr-dagster serve-demo`` (``make demo``) and ``cdr-dagster stop-demo`` (``make stop``).

A seeded demo is served for real: ``dagster dev`` with its webserver, daemon and code servers.
The serve process is started the way a non-interactive shell starts a background job, with
SIGINT ignored (under which ``dagster dev`` once ignored SIGINT and SIGTERM alike). The test
records every process of the demo's process group, stops the demo with ``stop-demo`` or with
SIGINT (Ctrl-C), and checks that each of those processes has ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cdr_dagster.demo.seed import seed_demo
from cdr_dagster.demo.serve import PID_FILE, group_members, is_quiet, is_running
from cdr_dagster_tests.services.ports import free_port

REPOSITORY = Path(__file__).resolve().parents[1]
#: Generous: the demo's code location loads in several processes on a busy machine.
READY_WAIT_SECONDS = 300


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cdr_dagster.cli", *args]


def ignore_sigint() -> None:
    """What a non-interactive shell does to a command it starts in the background."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ServedDemo:
    """A ``serve-demo`` process on a seeded demo folder, its log and its pid record."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                cli(
                    "serve-demo",
                    str(root),
                    "--port",
                    str(self.port),
                    "--workspace",
                    str(REPOSITORY / "workspace.yaml"),
                ),
                cwd=REPOSITORY,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=ignore_sigint,
                start_new_session=True,
            )

    def record(self) -> dict:
        return json.loads((self.root / PID_FILE).read_text())

    def graphql(self, query: str) -> dict:
        url = f"http://127.0.0.1:{self.port}/graphql"
        response = requests.post(url, json={"query": query}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    def wait_until_ready(self) -> None:
        """Until the webserver answers and the daemon has started (or the demo has exited)."""
        deadline = time.monotonic() + READY_WAIT_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(requests.RequestException, OSError, KeyError, ValueError):
                self.graphql("{ version }")
                members = group_members(self.record()["process_group"])
                if len(members) >= 4 and "dagster._daemon" in self.commands(members):
                    return
            time.sleep(1)
        pytest.fail(f"the demo did not come up; its output:\n{self.log.read_text()[-4000:]}")

    @staticmethod
    def commands(pids: list[int]) -> str:
        lines = []
        for pid in pids:
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
                lines.append(command.replace(b"\0", b" ").decode())
        return "\n".join(lines)

    def kill_everything(self) -> None:
        """Clean-up after a failed test: SIGKILL the serve process's session and the group."""
        groups = [self.process.pid]
        with contextlib.suppress(OSError, ValueError, KeyError):
            groups.append(int(self.record()["process_group"]))
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)


@pytest.fixture
def demo_root(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    seed_demo(root)
    return root


@pytest.fixture
def served(demo_root: Path, tmp_path: Path) -> Iterator[ServedDemo]:
    demo = ServedDemo(demo_root, tmp_path / "serve.log")
    try:
        yield demo
    finally:
        demo.kill_everything()


@pytest.mark.parametrize("how", ["stop-demo", "SIGINT", "SIGKILL, then stop-demo"])
def test_the_demo_stops_with_every_process_it_started(served: ServedDemo, how: str) -> None:
    served.wait_until_ready()
    record = served.record()
    assert record["serve"] == served.process.pid
    members = group_members(record["process_group"])
    commands = served.commands(members)
    for part in ("dagster dev", "dagster_webserver", "dagster._daemon", "code-server"):
        assert part in commands, f"no {part} process in the demo's group:\n{commands}"

    # The community dialog is off in the demo instance.
    assert served.graphql("{ shouldShowNux }") == {"shouldShowNux": False}

    # A second demo on the same folder is refused in one line.
    second = subprocess.run(
        cli("serve-demo", str(served.root), "--port", str(free_port())),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPOSITORY,
    )
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1 and "already running" in second.stderr, second.stderr

    if how == "SIGINT":
        os.kill(served.process.pid, signal.SIGINT)  # what Ctrl-C sends it
    else:
        if how == "SIGKILL, then stop-demo":  # the serve process dies without cleaning up
            served.process.kill()
            assert served.process.wait(timeout=60) == -signal.SIGKILL
        stopped = subprocess.run(
            cli("stop-demo", str(served.root)), capture_output=True, text=True, timeout=300
        )
        assert stopped.returncode == 0, stopped.stderr
        assert "ended" in stopped.stdout, stopped.stdout
    status = served.process.wait(timeout=300)

    left = [pid for pid in [served.process.pid, *members] if is_running(pid)]
    assert not left, f"still running after the stop:\n{served.commands(left)}"
    assert group_members(record["process_group"]) == []
    assert not (served.root / PID_FILE).exists(), "demo.pid left behind"
    output = served.log.read_text()
    assert "Checking for new runs for sensor" not in output, "idle ticks are not logged"
    if how != "SIGKILL, then stop-demo":
        assert status == 0, output[-4000:]
        assert "every process it started has ended" in output


def test_stop_demo_without_a_demo(demo_root: Path) -> None:
    stopped = subprocess.run(
        cli("stop-demo", str(demo_root)), capture_output=True, text=True, timeout=120
    )
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"no demo running from {demo_root}"


def test_serve_demo_needs_a_seeded_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        cli("serve-demo", str(tmp_path / "nothing")), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "seed-demo" in lines[0], result.stderr


def test_idle_ticks_and_run_debug_events_are_quiet() -> None:
    quiet = [
        "2026-01-01 - dagster.daemon.SensorDaemon - INFO - Checking for new runs for sensor: x",
        "2026-01-01 - dagster.daemon.SensorDaemon - INFO - Sensor x skipped: no rows waiting",
        "2026-01-01 - dagster.daemon.SensorDaemon - INFO - No run requests returned for x, skip",
        "2026-01-01 - dagster - DEBUG - run_batch_job - 1234 - STEP_START - Started step",
    ]
    kept = [
        "2026-01-01 - dagster.daemon.SensorDaemon - INFO - Launching run for x",
        "2026-01-01 - dagster - ERROR - run_batch_job - 1234 - STEP_FAILURE - failed",
        "2026-01-01 - dagster - INFO - run_batch_job - claimed batch job 5",
    ]
    assert [line for line in quiet if not is_quiet(line)] == [], "shown though idle"
    assert [line for line in kept if is_quiet(line)] == [], "hidden though something happened"
