"""CDR scripts (batch jobs, publishing steps) run as subprocesses under the CDR base folder.

One runner for every external command (docs/architecture.md#external-commands):

- the script is named relative to ``basedir`` (``CDR_BASEDIR``); an absolute path, ``..`` or a
  symbolic link that leads outside it is refused, and a missing script is a clear error;
- ``.py`` scripts run with the configured interpreter (``python``, ``CDR_PYTHON``), others are
  executed directly; arguments are a list and never pass through a shell;
- stdout and stderr are merged and streamed line by line into the Dagster log while the script
  runs (UTF-8, undecodable bytes replaced);
- the exit status is *returned*, not raised: batch jobs record non-zero exits. A timeout, or the
  run being terminated, kills the whole process group;
- the script gets an explicit environment, never the whole one of the run worker (which holds
  ``DAGSTER_PG_PASSWORD``, ``CDR_SMTP_PASSWORD`` and other secrets): the variables of
  :data:`SCRIPT_VARIABLES` that are set, the names the operator allow-listed in
  ``CDR_SCRIPT_ENV_ALLOW`` (resource field ``env_allow``), the variables a caller passes
  (``env``), and ``CDR_BASEDIR``, ``PYTHONUNBUFFERED=1``, ``PYTHONIOENCODING=utf-8``. A name
  that looks like a secret (``PASSWORD``, ``SECRET``, ``TOKEN``, ``KEY``...,
  :data:`cdr_dagster.settings.SECRET_NAME`) is never passed, even when allow-listed or given
  in ``env``; asking for one is an error naming it. ``docs/script-environment.md`` lists the
  variables and what reads them.

Dagster's ``PipesSubprocessClient`` was the model (environment merging, forwarding termination
to the child); it raises on a non-zero exit and leaves output on the process's stdout, which is
why this runner reads the pipe itself.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from cdr_dagster.settings import SCRIPT_ENV_ALLOW_VARIABLE, SECRET_NAME

#: What every CDR script gets from the run worker's environment, when set (see the module doc).
SCRIPT_VARIABLES: tuple[str, ...] = (
    # CDR settings read by the CDR scripts (the demo's scripts read the same ones)
    "CDR_TIER",
    "CDR_DB_URL",
    "CDR_MAIL_OUTBOX",
    "CDR_SFTP_LOCAL_DIR",
    "CDR_DEMO_STEP_SECONDS",
    "CDR_DEMO_POLL_SECONDS",
    # finding programs and Python
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    # user, locale, time zone and temporary files (POSIX)
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    # Windows: without SYSTEMROOT Python cannot even start its socket and random modules
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "USERPROFILE",
    "USERNAME",
    "USERDOMAIN",
    "HOMEDRIVE",
    "HOMEPATH",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "PROGRAMFILES(X86)",
    "COMMONPROGRAMFILES",
    "COMPUTERNAME",
    "NUMBER_OF_PROCESSORS",
    "PROCESSOR_ARCHITECTURE",
    "OS",
)
_EOF = object()
#: Seconds to keep reading output after the script ended or was killed.
_DRAIN_SECONDS = 2.0


class CommandError(Exception):
    """A command could not be started (refused path, missing script, not executable)."""


class CommandPathRefusedError(CommandError):
    """A script or working folder lies outside the CDR base folder."""


class ScriptNotFoundError(CommandError):
    """The named script does not exist under the CDR base folder."""


@dataclass(frozen=True)
class CommandResult:
    """How a command ended.

    ``exit_code`` is the process's status (negative: killed by that signal); ``output_tail``
    holds the last lines of merged stdout/stderr; ``timed_out`` says the runner killed it.
    """

    command: tuple[str, ...]
    exit_code: int
    output_tail: tuple[str, ...]
    line_count: int
    duration_seconds: float
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        """True when the command exited with status 0 on its own."""
        return self.exit_code == 0 and not self.timed_out


def _inside(path: str, folder: str) -> bool:
    """True when normalized ``path`` is ``folder`` or below it."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives on Windows
        return False


def _logger_of(log: Any) -> Any:
    """The object lines are logged to: ``log`` itself, a context's ``.log``, or Dagster's."""
    if log is None:
        return dg.get_dagster_logger()
    if not hasattr(log, "info") and hasattr(log, "log"):
        return log.log
    return log


def _kill_tree(process: subprocess.Popen, grace_seconds: float) -> None:
    """Terminate the process group of ``process``, then kill it if it is still alive."""
    if process.poll() is not None and os.name != "nt":
        # The leader is gone; children may still hold the group.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass
        return
    if os.name == "nt":
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(process.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        process.wait()
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except OSError:
        pass
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    process.wait()


def secret_names(names: Sequence[str]) -> list[str]:
    """The names in ``names`` that look like secrets (never given to a script)."""
    return [name for name in names if SECRET_NAME.search(name)]


def script_environment(
    environ: Mapping[str, str], allow: Sequence[str] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a CDR script: :data:`SCRIPT_VARIABLES` and ``allow`` taken from
    ``environ`` when set, then ``extra``. Raises ``CommandError`` naming any allowed or extra
    name that looks like a secret."""
    refused = secret_names([*allow, *(extra or {})])
    if refused:
        raise CommandError(
            f"{', '.join(map(repr, refused))} look(s) like a secret; CDR scripts never get "
            f"secrets (check {SCRIPT_ENV_ALLOW_VARIABLE} and the job's env)"
        )
    upper = {name.upper(): value for name, value in environ.items()} if os.name == "nt" else {}
    result: dict[str, str] = {}
    for name in (*SCRIPT_VARIABLES, *allow):
        value = environ.get(name, upper.get(name.upper()))
        if value is not None and not SECRET_NAME.search(name):
            result[name] = value
    result.update(extra or {})
    return result


class CommandRunnerResource(dg.ConfigurableResource):
    """Runs CDR scripts under ``basedir``; output goes to the run log, the exit status back.

    Scripts get an explicit environment (the module doc; ``docs/script-environment.md``):
    ``SCRIPT_VARIABLES`` plus ``env_allow``, never a variable named like a secret.
    """

    basedir: str = Field(description="The CDR base folder (CDR_BASEDIR); scripts live below it.")
    python: str = Field(
        default=sys.executable,
        description="Interpreter for .py scripts (CDR_PYTHON; default: the one running Dagster).",
    )
    timeout_seconds: float | None = Field(
        default=None,
        description="Default time limit of a command in seconds; unset means no limit.",
    )
    kill_grace_seconds: float = Field(
        default=10.0,
        description="After a timeout, seconds between SIGTERM and SIGKILL to the process group.",
    )
    tail_lines: int = Field(
        default=50, description="How many of the last output lines the result keeps."
    )
    env_allow: list[str] = Field(
        default_factory=list,
        description=(
            "Further environment variables scripts may see (CDR_SCRIPT_ENV_ALLOW); names that "
            "look like secrets are refused."
        ),
    )

    def _base(self) -> tuple[str, str]:
        """The base folder as an absolute path and as its real (symlink-free) path."""
        base = os.path.abspath(self.basedir)
        if not os.path.isdir(base):
            raise CommandError(f"CDR base folder {self.basedir!r} does not exist")
        return base, os.path.realpath(base)

    def resolve(self, path: str | Path) -> Path:
        """The real path of ``path`` (relative to ``basedir``, or absolute inside it).

        Raises ``CommandPathRefusedError`` naming the path when it, or the target of a symbolic
        link on the way, lies outside the base folder. The path need not exist.
        """
        base, real_base = self._base()
        text = os.fspath(path)
        if not text.strip():
            raise CommandPathRefusedError("an empty path is not a script under the base folder")
        lexical = os.path.normpath(os.path.join(base, text))
        if not (_inside(lexical, base) or _inside(lexical, real_base)):
            raise CommandPathRefusedError(
                f"path {text!r} is outside the CDR base folder {self.basedir!r}; refused"
            )
        real = os.path.realpath(lexical)
        if not _inside(real, real_base):
            raise CommandPathRefusedError(
                f"path {text!r} leads to {real!r}, outside the CDR base folder "
                f"{self.basedir!r} (symbolic link); refused"
            )
        return Path(real)

    def command_line(self, script: str | Path, args: Sequence[str | Path] = ()) -> list[str]:
        """The argument vector that runs ``script`` with ``args`` (checked, never for a shell)."""
        path = self.resolve(script)
        if not path.exists():
            raise ScriptNotFoundError(
                f"script {os.fspath(script)!r} not found under the CDR base folder "
                f"{self.basedir!r} (looked for {path})"
            )
        if not path.is_file():
            raise CommandError(f"script {os.fspath(script)!r} ({path}) is not a file")
        arguments = [os.fspath(arg) for arg in args]
        if path.suffix.lower() == ".py":
            return [self.python, str(path), *arguments]
        if not os.access(path, os.X_OK):
            raise CommandError(f"script {os.fspath(script)!r} ({path}) is not executable")
        return [str(path), *arguments]

    def run(
        self,
        script: str | Path,
        args: Sequence[str | Path] = (),
        *,
        log: Any = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        timeout_seconds: float | None = None,
    ) -> CommandResult:
        """Run ``script`` with ``args``; stream its output into ``log``; return how it ended.

        ``log`` is a logger (``context.log``, a ``logging.Logger``) or an op/asset context;
        default Dagster's logger. The child's environment is :func:`script_environment` (only
        the listed and allow-listed variables, never a secret) plus ``env``, ``CDR_BASEDIR``
        and UTF-8, unbuffered Python output. ``cwd`` is a folder under
        ``basedir`` (default ``basedir``). ``timeout_seconds`` overrides the resource's limit;
        on expiry the process group is killed and the result has ``timed_out=True``.
        A non-zero exit status is returned, not raised; refused paths, a missing script or a
        failure to start raise ``CommandError``.
        """
        logger = _logger_of(log)
        command = self.command_line(script, args)
        base, _ = self._base()
        workdir = str(self.resolve(cwd)) if cwd is not None else base
        if not os.path.isdir(workdir):
            raise CommandError(f"working folder {os.fspath(cwd or '')!r} is not a folder")
        fixed = {"CDR_BASEDIR": base, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        child_env = script_environment(os.environ, self.env_allow, {**fixed, **(env or {})})
        limit = timeout_seconds if timeout_seconds is not None else self.timeout_seconds
        name = Path(command[1] if command[0] == self.python else command[0]).name
        logger.info(f"running {shlex.join(command)} in {workdir}")
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=os.name != "nt",
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
        except OSError as exc:
            raise CommandError(f"cannot start {shlex.join(command)}: {exc}") from exc

        lines: queue.Queue = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            try:
                for raw in process.stdout:
                    lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
            finally:
                lines.put(_EOF)

        reader = threading.Thread(target=pump, name=f"output of {name}", daemon=True)
        reader.start()
        tail: deque[str] = deque(maxlen=max(self.tail_lines, 0))
        count = 0
        timed_out = False
        deadline = None if limit is None else started + limit
        try:
            quiet_since: float | None = None
            while True:
                now = time.monotonic()
                running = process.poll() is None
                if running and deadline is not None and now >= deadline:
                    timed_out = True
                    break
                if not running and quiet_since is not None:
                    # The script ended, but a child it left behind still holds the pipe open.
                    # Stop once that child is quiet for a moment (or past the time limit).
                    past_limit = deadline is not None and now >= deadline
                    if past_limit or now - quiet_since > _DRAIN_SECONDS:
                        logger.warning(
                            f"{name} ended but a process it started still holds its output "
                            "open; no longer reading it"
                        )
                        break
                wait = 0.5 if deadline is None or not running else min(0.5, deadline - now)
                try:
                    item = lines.get(timeout=max(wait, 0.0))
                except queue.Empty:
                    if process.poll() is not None:
                        quiet_since = quiet_since or time.monotonic()
                    continue
                quiet_since = None
                if item is _EOF:
                    break
                count += 1
                tail.append(item)
                logger.info(item)
            if not timed_out:
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
                try:
                    process.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    timed_out = True
            if timed_out:
                logger.error(
                    f"{name} exceeded its time limit of {limit} s; killing its process group"
                )
                _kill_tree(process, self.kill_grace_seconds)
                # Keep the lines written before the kill; don't wait on escaped children.
                reader.join(timeout=_DRAIN_SECONDS)
                while True:
                    try:
                        item = lines.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _EOF:
                        count += 1
                        tail.append(item)
                        logger.info(item)
        except BaseException:
            # Run terminated (DagsterExecutionInterruptedError) or another error: like
            # PipesSubprocessClient, pass the termination on to the child, then re-raise.
            logger.warning(f"interrupted; stopping {name} and its process group")
            _kill_tree(process, self.kill_grace_seconds)
            raise
        finally:
            if process.stdout is not None and not reader.is_alive():
                process.stdout.close()
        duration = time.monotonic() - started
        exit_code = process.returncode
        if timed_out:
            logger.warning(f"{name} was killed after {duration:.1f} s (status {exit_code})")
        elif exit_code != 0:
            logger.warning(f"{name} exited with status {exit_code} after {duration:.1f} s")
        else:
            logger.info(f"{name} exited with status 0 after {duration:.1f} s")
        return CommandResult(
            command=tuple(command),
            exit_code=exit_code,
            output_tail=tuple(tail),
            line_count=count,
            duration_seconds=duration,
            timed_out=timed_out,
        )
