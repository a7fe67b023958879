"""A real nginx for tests: one master process in the foreground, everything in a temp folder.

:class:`NginxServer` writes a main ``nginx.conf`` that includes a site configuration (the
project's rendered ``deploy/nginx`` template), keeps its pid, logs and temp files in its own
folder, checks the configuration with ``nginx -t`` and runs ``nginx`` without daemonizing.
:func:`nginx_binary` finds the program (Debian installs it in /usr/sbin).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

from cdr_dagster_tests.services.daemon import wait_for


def nginx_binary() -> str | None:
    """The nginx program, or None when it is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


MAIN_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {site};
}}
"""


class NginxServer:
    """nginx serving ``site`` (a file of http-level directives) that listens on ``port``."""

    def __init__(self, program: str, folder: Path, site: Path, port: int) -> None:
        self.program = program
        self.folder = folder
        self.site = site
        self.port = port
        self.process: subprocess.Popen | None = None

    def _command(self, *extra: str) -> list[str]:
        return [
            self.program,
            "-p",
            str(self.folder),
            "-e",
            str(self.folder / "error.log"),
            "-c",
            str(self.folder / "nginx.conf"),
            *extra,
        ]

    def start(self) -> None:
        """Write the main configuration, check it with ``nginx -t``, start nginx, wait for it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Workers of a root master drop to "nobody", who cannot read a private temp folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (self.folder / "nginx.conf").write_text(
            MAIN_CONFIG.format(user=user, folder=self.folder, site=self.site)
        )
        check = subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, f"nginx -t refused the configuration:\n{check.stderr}"
        with (self.folder / "stderr.log").open("ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._listening, 60, f"nginx on 127.0.0.1:{self.port}", self.log_tail)

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"nginx exited:\n{self.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def stop(self) -> None:
        """Fast shutdown of the master (SIGTERM), which ends its workers."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of nginx's error log, for assertion messages."""
        path = self.folder / "error.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
