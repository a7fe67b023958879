"""Is a process that some record names still alive? (No Dagster here.)

A run worker, or the sweep that holds the sweeper's lock file, is named by its host, its
process id and a moment at which the process was known to exist. A process id alone proves
nothing after a restart: the operating system hands the same number to a new process. So a
process counts as alive only when

- it runs on this host (a process on another host cannot be checked from here),
- a process with that id exists and is not a zombie, and
- that process was started no later than the moment it was known to exist (a process started
  afterwards merely reuses the number).

See docs/run-lifecycle.md ("Dead run workers").
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import Enum

import psutil

#: Process start times are known to about a second (Linux counts from a boot time in whole
#: seconds); a process started this much after the record still counts as the same one.
START_TIME_TOLERANCE_SECONDS = 1.5

#: Host names that mean "the machine this code runs on".
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", ""})


class Liveness(Enum):
    """What this host can tell about a recorded process."""

    ALIVE = "alive"
    DEAD = "dead"
    ELSEWHERE = "on another host"


@dataclass(frozen=True)
class ProcessRecord:
    """A process as some record names it: host, process id, and a moment (Unix time) at
    which it was known to be running."""

    host: str
    pid: int
    seen_at: float

    def describe(self) -> str:
        """``process 1234 on cdr-host``."""
        return f"process {self.pid} on {self.host}"


def this_host() -> str:
    """The name of this machine as records store it."""
    return socket.gethostname()


def is_this_host(host: str | None) -> bool:
    """True when ``host`` names this machine (its name, fully qualified or not, or loopback)."""
    if host is None:
        return False
    name = host.strip().lower()
    if name in LOOPBACK_HOSTS:
        return True
    mine = {this_host().lower(), socket.getfqdn().lower()}
    return name in mine or name.split(".")[0] in {m.split(".")[0] for m in mine}


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (Unix time), or None when there is no such live process."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        # It exists but belongs to someone we may not inspect: it cannot be ours; its start
        # time is unknown, so it is taken as alive (never fail a run on a guess).
        return 0.0


def liveness(record: ProcessRecord) -> Liveness:
    """Whether the process ``record`` names is still the one running (see the module doc)."""
    if not is_this_host(record.host):
        return Liveness.ELSEWHERE
    started = process_start_time(record.pid)
    if started is None:
        return Liveness.DEAD
    if started > record.seen_at + START_TIME_TOLERANCE_SECONDS:
        return Liveness.DEAD  # the id now belongs to a process started later
    return Liveness.ALIVE
