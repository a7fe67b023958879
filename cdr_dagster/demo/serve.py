"""Run the demo's ``dagster dev`` so that Ctrl-C, SIGTERM or ``cdr-dagster stop-demo`` end it.

``cdr-dagster serve-demo [DIR]`` (what ``make demo`` runs) starts ``dagster dev`` on the seeded
demo in ``DIR`` with the environment of ``DIR/demo.env``, and stays in front of it:

- ``dagster dev`` gets a process group of its own, which its webserver, daemon, code servers
  and run workers share (Dagster starts none of them in a session of its own). The serve
  process records its pid and that group in ``DIR/demo.pid``.
- On SIGINT (Ctrl-C), SIGTERM or SIGHUP the serve process asks ``dagster dev`` to shut down
  (SIGTERM, which it handles like Ctrl-C), waits for it, then ends what is left of the group
  (SIGTERM, then SIGKILL), and removes ``demo.pid``. ``cdr-dagster stop-demo [DIR]``
  (``make stop``) sends it SIGTERM and waits until the group is gone; when the serve process
  itself was killed (SIGKILL cannot be handled), it ends the group it recorded.

Why a process in front: a program started in the background by a non-interactive shell
(``make demo &`` in a script, a CI step) inherits SIGINT *ignored*; ``dagster dev`` maps
SIGTERM to whatever SIGINT does, so it then ignored both and only SIGKILL of each process
ended it. A shell cannot undo an inherited ignore; Python can, and an exec'd child gets the
default action back for every signal its parent handles.

The serve process also copies ``dagster dev``'s output to its own, leaving out the sensor and
schedule daemon lines that say only that a tick found nothing (``--verbose`` keeps them); each
tick is still in the UI's tick history.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

#: The serve process's record of what it started, in the demo folder.
PID_FILE = "demo.pid"
ENV_FILE = "demo.env"
#: How long ``dagster dev`` gets to shut its services down before the group is ended.
SHUTDOWN_SECONDS = 90.0
#: How long stragglers get between SIGTERM and SIGKILL.
STRAGGLER_SECONDS = 5.0
#: Lines left out of the demo's output (``--verbose`` keeps them): daemon lines that only say
#: a tick found nothing to do, and the DEBUG events run workers print (each run's page in the UI
#: shows them all).
QUIET_LINES = (
    re.compile(r" - dagster - DEBUG - "),
    re.compile(r"Checking for new runs for sensor: "),
    re.compile(r"No run requests returned for \S+, skip"),
    re.compile(r"Sensor \S+ skipped: "),
    re.compile(r"Checking for new runs for the following schedules: "),
    re.compile(r"No new tick times to evaluate for "),
    re.compile(r"Not checking for any runs since no (sensors|schedules) have been started"),
)

#: Warnings of Dagster about itself that every process of the demo would print again.
QUIET_WARNINGS = (
    "ignore:Parameter `owners` of initializer",
    "ignore:Function `dev_command` is superseded",
)


class DemoServeError(Exception):
    """The demo cannot be started or stopped; the message says why in one line."""


def is_quiet(line: str) -> bool:
    """True for a daemon line that only reports a tick with nothing to do."""
    return any(pattern.search(line) for pattern in QUIET_LINES)


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of ``path`` (values shell-quoted, as seed-demo writes them)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            words = shlex.split(value)
            values[key.strip()] = words[0] if words else ""
    return values


def is_running(pid: int) -> bool:
    """True when process ``pid`` exists and is not a zombie waiting for its parent."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def group_members(group: int) -> list[int]:
    """The live processes of process group ``group`` (from /proc; empty where there is none)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(stat.parent.name))
    return sorted(members)


def _group_alive(group: int) -> bool:
    if Path("/proc/self/stat").exists():
        return bool(group_members(group))
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait(condition: Any, seconds: float) -> bool:
    """Poll ``condition()`` until it is true or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def end_group(group: int) -> None:
    """SIGTERM what is left of process group ``group``, then SIGKILL what outlives that."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
        if _wait(lambda: not _group_alive(group), STRAGGLER_SECONDS):
            return


def running_demo(root: Path) -> dict[str, Any] | None:
    """What ``root/demo.pid`` records, when its serve process is still running."""
    try:
        record = json.loads((root / PID_FILE).read_text(encoding="utf-8"))
        pid = int(record["serve"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if is_running(pid) else None


def dagster_dev_command(workspace: Path, host: str, port: int) -> list[str]:
    """The ``dagster dev`` command line of the demo."""
    dagster = Path(sys.executable).with_name("dagster")
    program = [str(dagster)] if dagster.exists() else [sys.executable, "-m", "dagster"]
    return [*program, "dev", "-w", str(workspace), "-h", host, "-p", str(port)]


def _copy_output(source: IO[str], out: IO[str], verbose: bool) -> None:
    for line in source:
        if verbose or not is_quiet(line):
            out.write(line)
            out.flush()


def serve_demo(
    directory: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    workspace: str | os.PathLike[str] = "workspace.yaml",
    verbose: bool = False,
    out: IO[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> int:
    """Run ``dagster dev`` on the demo in ``directory`` until it is told to stop.

    Returns 0 after a requested stop, else ``dagster dev``'s exit status.
    """
    out = out or sys.stdout
    root = Path(directory).expanduser().resolve()
    workspace_path = Path(workspace).expanduser().resolve()
    if not (root / ENV_FILE).is_file():
        raise DemoServeError(f"{root / ENV_FILE} not found: run cdr-dagster seed-demo {root}")
    if not workspace_path.is_file():
        raise DemoServeError(f"workspace file {workspace_path} not found")
    running = running_demo(root)
    if running is not None:
        raise DemoServeError(
            f"a demo is already running from {root} (pid {running['serve']}, "
            f"{running.get('url', '')}); stop it with cdr-dagster stop-demo {root}"
        )
    env = {
        **os.environ,
        # The schedule-list and reload jobs ask this webserver (unless demo.env says otherwise).
        "CDR_DAGSTER_WEBSERVER_URL": f"http://{host}:{port}/graphql",
        **read_env_file(root / ENV_FILE),
        **(extra_env or {}),
    }
    env["PYTHONUNBUFFERED"] = "1"
    if not verbose:
        env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), *QUIET_WARNINGS]))

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    url = f"http://{host}:{port}"
    child = subprocess.Popen(
        dagster_dev_command(workspace_path, host, port),
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        process_group=0,
    )
    group = child.pid
    record = {"serve": os.getpid(), "dagster_dev": child.pid, "process_group": group, "url": url}
    (root / PID_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert child.stdout is not None
    copier = threading.Thread(target=_copy_output, args=(child.stdout, out, verbose), daemon=True)
    copier.start()
    print(
        f"cdr-dagster demo: Dagster UI on {url} (pid {os.getpid()}); stop with Ctrl-C or "
        f"cdr-dagster stop-demo {root}",
        file=out,
        flush=True,
    )
    try:
        while child.poll() is None and not stop.wait(0.5):
            pass
        if child.poll() is None:
            name = signal.Signals(received[0]).name if received else "a stop request"
            print(f"cdr-dagster demo: {name} received; shutting Dagster down", file=out, flush=True)
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=SHUTDOWN_SECONDS)
    finally:
        end_group(group)
        if child.poll() is None:
            child.wait()
        copier.join(timeout=5)
        if _owns(root, os.getpid()):
            (root / PID_FILE).unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("cdr-dagster demo: stopped; every process it started has ended", file=out, flush=True)
    return 0 if stop.is_set() else (child.returncode or 0)


def _owns(root: Path, pid: int) -> bool:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads((root / PID_FILE).read_text())["serve"]) == pid
    return False


def _leftover_group(root: Path) -> int | None:
    """The process group ``root/demo.pid`` records, when its serve process was killed (SIGKILL
    cannot be handled) but ``dagster dev`` still runs in that group."""
    try:
        group = int(json.loads((root / PID_FILE).read_text(encoding="utf-8"))["process_group"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    members = group_members(group)
    commands = b" ".join(_command_line(pid) for pid in members)
    return group if b"dagster" in commands else None  # not a group that reused the number


def _command_line(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


def stop_demo(directory: str | os.PathLike[str], *, timeout: float = SHUTDOWN_SECONDS + 30) -> str:
    """Stop the demo served from ``directory`` and wait until all its processes are gone.

    Returns what was done, in one line. A demo that does not stop in ``timeout`` seconds is
    ended with SIGKILL.
    """
    root = Path(directory).expanduser().resolve()
    record = running_demo(root)
    if record is None:
        left = _leftover_group(root)
        (root / PID_FILE).unlink(missing_ok=True)  # left by a serve process that was killed
        if left is not None:
            end_group(left)
            return f"the demo's serve process was gone; ended its process group {left}"
        return f"no demo running from {root}"
    pid, group = int(record["serve"]), int(record["process_group"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait(lambda: not is_running(pid) and not _group_alive(group), timeout):
        end_group(group)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        (root / PID_FILE).unlink(missing_ok=True)
        return f"demo from {root} did not stop within {timeout:g} s; its processes were killed"
    return f"demo from {root} stopped (pid {pid} and process group {group} ended)"
