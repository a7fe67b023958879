"""A real ``dagster-daemon`` for end-to-end tests and the queue-latency benchmark.

:class:`DagsterDaemon` runs ``dagster-daemon run`` on a prepared ``DAGSTER_HOME`` (its
``dagster.yaml`` and ``workspace.yaml``). Every start opens a new process group, which holds
the daemon, its code server and the run workers it launches: :meth:`DagsterDaemon.kill` crashes
the daemon alone (its runs live on, as after a real crash), :meth:`DagsterDaemon.crash_all`
SIGKILLs every group at once (a reboot), and :meth:`DagsterDaemon.stop` ends every group this
object started, and only those.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import dagster as dg


class DagsterDaemon:
    """``dagster-daemon run -w workspace.yaml`` in ``home`` with the environment ``env``."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.log_path = home / "daemon.log"
        self.process: subprocess.Popen | None = None
        self._groups: list[int] = []
        self._instance: dg.DagsterInstance | None = None

    def start(self) -> None:
        """Start a daemon (the previous one must have been killed or stopped)."""
        daemon = Path(sys.executable).with_name("dagster-daemon")
        with self.log_path.open("ab") as log:
            log.write(f"--- starting daemon at {datetime.now()}\n".encode())
            self.process = subprocess.Popen(
                [str(daemon), "run", "-w", str(self.home / "workspace.yaml")],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._groups.append(self.process.pid)

    def kill(self) -> None:
        """SIGKILL the daemon process itself, as a crash would (its children live on)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def crash_all(self) -> None:
        """SIGKILL every process group this object started at once, as a reboot or a service
        manager's hard stop does: daemons, code servers and run workers die mid-work."""
        for group in self._groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)
        for group in self._groups:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _group_alive(group):
                time.sleep(0.1)

    def stop(self) -> None:
        """End every process group this object started: daemons, code servers, run workers."""
        for group in self._groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for group in self._groups:
            while time.monotonic() < deadline and _group_alive(group):
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        if self.process is not None and self.process.poll() is None:
            self.process.wait(timeout=10)
        self._groups.clear()
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None

    @property
    def instance(self) -> dg.DagsterInstance:
        """The daemon's Dagster instance, opened in this process from ``home``.

        Instance storage configured through environment variables (``DAGSTER_PG_*``) must be
        in this process's environment too.
        """
        if self._instance is None:
            self._instance = dg.DagsterInstance.from_config(str(self.home))
        return self._instance

    def log_tail(self, lines: int = 80) -> str:
        """The end of the daemon's log, for assertion messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
    interval: float = 0.25,
) -> object:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{explain()}")
        time.sleep(interval)
