"""One spare run worker process, kept ready by the run launcher (no Dagster here).

:class:`SpareWorker` starts ``python -m cdr_dagster.run_worker`` ahead of need. :meth:`hand_over`
gives the waiting process one run's arguments and returns it; a replacement starts a moment
later (:data:`REFILL_DELAY_SECONDS`), so that its imports do not compete with the run just
handed over for the CPU. A spare that died meanwhile is replaced, and :meth:`hand_over` then
uses a fresh process (it starts as slowly as a cold one, but still starts).

Every process it started is reaped by a thread of its own, so an ended worker never lingers as
a zombie (which the liveness check would count as alive). :meth:`close` ends the waiting spare;
so does the end of the daemon that started it (its standard input closes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

#: Seconds between handing the spare over and starting the next one.
REFILL_DELAY_SECONDS = 2.0
#: The module a spare runs.
WORKER_MODULE = "cdr_dagster.run_worker"


class SpareUnavailableError(RuntimeError):
    """No run worker process could be started or reached."""


@dataclass(frozen=True)
class HandedOver:
    """A run worker that received its run: its process id and when it was started."""

    pid: int
    started_at: float


class SpareWorker:
    """Keeps one ``cdr_dagster.run_worker`` process waiting for a run (thread-safe)."""

    def __init__(
        self,
        python: str = sys.executable,
        environment: Mapping[str, str] | None = None,
        refill_delay: float = REFILL_DELAY_SECONDS,
    ) -> None:
        self.python = python
        self._environment = dict(environment) if environment is not None else None
        self._refill_delay = refill_delay
        self._lock = threading.Lock()
        self._spare: subprocess.Popen | None = None
        self._spare_started_at = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    def start(self) -> None:
        """Start the spare now unless one is waiting."""
        with self._lock:
            self._ensure_spare()

    def hand_over(self, payload: str) -> HandedOver:
        """Give ``payload`` (one line: a run's serialized arguments) to the waiting spare, or
        to a fresh process if none is alive, and schedule the next spare.

        Raises :class:`SpareUnavailableError` when no process can be started or written to.
        """
        if "\n" in payload:
            raise ValueError("a run worker's arguments must be one line")
        with self._lock:
            if self._closed:
                raise SpareUnavailableError("the run worker pool is closed")
            for _ in range(2):  # the spare may have died: then once more, with a fresh one
                process, started_at = self._ensure_spare(), self._spare_started_at
                self._spare = None
                try:
                    assert process.stdin is not None
                    process.stdin.write(payload + "\n")
                    process.stdin.close()
                except (BrokenPipeError, OSError, ValueError):
                    process.kill()
                    continue
                self._schedule_refill()
                return HandedOver(pid=process.pid, started_at=started_at)
        raise SpareUnavailableError("no run worker process accepted the run")

    def close(self) -> None:
        """End the waiting spare (it exits on its closed input) and start no other."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._spare is not None and self._spare.stdin is not None:
                try:
                    self._spare.stdin.close()
                except OSError:
                    pass
            self._spare = None

    @property
    def waiting_pid(self) -> int | None:
        """The process id of the spare waiting now, if any (for tests and logs)."""
        with self._lock:
            if self._spare is not None and self._spare.poll() is None:
                return self._spare.pid
            return None

    def _ensure_spare(self) -> subprocess.Popen:
        if self._spare is None or self._spare.poll() is not None:
            try:
                self._spare = subprocess.Popen(
                    [self.python, "-m", WORKER_MODULE],
                    stdin=subprocess.PIPE,
                    env=self._environment,
                    text=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise SpareUnavailableError(f"could not start {self.python}: {exc}") from exc
            self._spare_started_at = time.time()
            threading.Thread(
                target=self._spare.wait, name=f"reap-run-worker-{self._spare.pid}", daemon=True
            ).start()
        return self._spare

    def _schedule_refill(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self._refill_delay, self._refill)
        self._timer.daemon = True
        self._timer.start()

    def _refill(self) -> None:
        with self._lock:
            if not self._closed:
                try:
                    self._ensure_spare()
                except SpareUnavailableError:
                    pass  # the next hand-over tries again, and reports it


def same_python(executable: str | None, python: str = sys.executable) -> bool:
    """Whether ``executable`` (a run's recorded interpreter) is ``python`` itself: the same
    file in the same folder (a virtual environment's interpreter links to the base one, which
    has other packages, so the folder must match too)."""
    if not executable:
        return False
    first, second = os.path.abspath(executable), os.path.abspath(python)
    try:
        return os.path.dirname(first) == os.path.dirname(second) and os.path.samefile(first, second)
    except OSError:
        return False
