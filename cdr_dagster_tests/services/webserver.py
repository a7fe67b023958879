"""A real ``dagster-webserver`` on loopback for end-to-end tests (full or ``--read-only``).

:class:`DagsterWebserver` runs ``dagster-webserver -w WORKSPACE -h 127.0.0.1 -p PORT`` in a
process group of its own (the webserver and the code server it starts), optionally with
``--read-only`` and ``--path-prefix``; :meth:`DagsterWebserver.stop` ends that group only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from cdr_dagster_tests.resource_test_servers import free_port
from cdr_dagster_tests.services.daemon import wait_for


class DagsterWebserver:
    """One webserver process serving ``workspace`` with the instance in ``env['DAGSTER_HOME']``."""

    def __init__(
        self,
        workspace: Path,
        env: dict[str, str],
        log_path: Path,
        *,
        read_only: bool = False,
        path_prefix: str = "",
    ) -> None:
        self.workspace = workspace
        self.env = env
        self.log_path = log_path
        self.read_only = read_only
        self.path_prefix = path_prefix
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as a reverse proxy names its upstream."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL, path prefix included (no trailing slash)."""
        return f"http://{self.address}{self.path_prefix}"

    @property
    def graphql_url(self) -> str:
        """The GraphQL endpoint."""
        return f"{self.url}/graphql"

    def start(self) -> None:
        """Start the process; :meth:`wait_until_ready` waits for it to answer."""
        command = [
            str(Path(sys.executable).with_name("dagster-webserver")),
            "-w",
            str(self.workspace),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        if self.read_only:
            command.append("--read-only")
        if self.path_prefix:
            command += ["--path-prefix", self.path_prefix]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workspace.parent,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_ready(self, timeout: float = 300) -> None:
        """Wait until ``server_info`` answers; fail with the log if the process dies or hangs."""
        assert self.process is not None, "start() first"

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"dagster-webserver exited:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{self.url}/server_info", timeout=5).ok
            return False

        wait_for(ready, timeout, f"dagster-webserver on {self.address}", self.log_tail)

    def stop(self) -> None:
        """End the webserver's process group (its code server included)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the webserver's log, for assertion messages."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
