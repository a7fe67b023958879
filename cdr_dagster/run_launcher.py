"""The run launcher of the CDR scheduler's instance: Dagster's default one, plus a health check.

Dagster's ``DefaultRunLauncher`` starts each run in a new process of the code server, but it
cannot tell whether that process is still alive, so Dagster's run monitoring cannot notice a
run whose worker was killed (a service restart, a reboot, an out-of-memory kill): the run
stays STARTED, holds its slot in the run queue and its ``cdr/lock`` for up to its maximum
runtime. :class:`HostRunLauncher` adds the missing check, so run monitoring (``run_monitoring``
in ``dagster.yaml``) fails such a run, with the reason, at its next poll:

- at launch it records the host of the run worker (the code server's host) in the run tag
  ``cdr/run_worker_host``;
- the run worker itself records its process id in the run's first engine event ("Started
  process for run (pid: ...)"), which also dates the moment the process was known to run;
- the check asks :mod:`cdr_dagster.processes` whether that process is still the one running.

A run whose worker lives on another host is reported RUNNING (that host's daemon checks it),
as is a run this launcher did not start (``dagster job execute`` runs in its own process).
What happens to the CDR queue row of a dead run is in docs/run-lifecycle.md.

It also starts runs faster. Dagster's launcher has the code server start a new Python process
per run, which imports Dagster and its storage before it can start the run: about two seconds
of every queue row's wait. With ``warm_workers: true`` (the default) this launcher keeps one run
worker process ready (:mod:`cdr_dagster.run_worker`, managed by
:mod:`cdr_dagster.run_worker_pool`) and hands it the run, as ``dagster api execute_run``
arguments. It does so only when the run's code is on this host and in this very Python (the
code location's interpreter); otherwise, and on Windows, it launches as Dagster does. A run
started this way carries the tag ``cdr/run_worker_pid``, and terminating it sends that process
SIGTERM, which Dagster turns into an orderly cancel (docs/run-lifecycle.md, "Warm run
workers").

Configured in ``dagster.yaml`` as ``run_launcher: {module: cdr_dagster.run_launcher, class:
HostRunLauncher}``; the daemon and the webserver import it, so it imports nothing heavy.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import dagster as dg
from dagster import DefaultRunLauncher
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClassData

from cdr_dagster.processes import Liveness, ProcessRecord, is_this_host, liveness, this_host
from cdr_dagster.run_worker_pool import SpareUnavailableError, SpareWorker, same_python

#: Run tag holding the host whose code server started the run worker.
WORKER_HOST_TAG = "cdr/run_worker_host"
#: Run tags of a run handed to a warm run worker: its process id and when it was started.
WORKER_PID_TAG = "cdr/run_worker_pid"
WORKER_STARTED_TAG = "cdr/run_worker_started_at"
#: How the run worker's first engine event begins (``dagster._grpc.impl``, ``dagster api``).
STARTED_PROCESS_MESSAGE = "Started process for run"
#: The pid event is among a run's first engine events; look no further than this.
ENGINE_EVENTS_TO_READ = 20


class HostRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` that can tell run monitoring whether a run's worker is alive, and
    starts runs in a warm run worker when it can (``warm_workers``, default true)."""

    def __init__(
        self, inst_data: ConfigurableClassData | None = None, warm_workers: bool = True
    ) -> None:
        super().__init__(inst_data=inst_data)
        self.warm_workers = warm_workers and sys.platform != "win32"
        # Starts no process until the first launch (only the daemon launches runs).
        self._spare = SpareWorker() if self.warm_workers else None

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        """``warm_workers``: keep a run worker process ready (POSIX hosts only)."""
        return {"warm_workers": dg.Field(bool, is_required=False, default_value=True)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> HostRunLauncher:
        """Build the launcher from its ``dagster.yaml`` section."""
        return cls(inst_data=inst_data, warm_workers=config_value.get("warm_workers", True))

    def launch_run(self, context: LaunchRunContext) -> None:
        """Record the run worker's host; hand the run to the warm run worker when its code is
        on this host and in this Python, else launch it as the default launcher does."""
        run = context.dagster_run
        host = _code_server_host(context)
        if host is not None and self._launch_warm(run, host):
            return
        tags = {WORKER_HOST_TAG: host} if host is not None else {}
        if run.tags.get(WORKER_PID_TAG):
            # A re-execution copies its parent's tags: that worker is not this run's.
            tags.update({WORKER_PID_TAG: "", WORKER_STARTED_TAG: ""})
        if tags:
            self._instance.add_run_tags(run.run_id, tags)
        super().launch_run(context)

    def _launch_warm(self, run: DagsterRun, host: str) -> bool:
        """Hand ``run`` to the spare run worker; False when this run cannot go that way."""
        origin = run.job_code_origin
        if self._spare is None or origin is None or not is_this_host(host):
            return False
        if not same_python(origin.executable_path):
            return False
        from dagster._grpc.types import ExecuteRunArgs  # what `dagster api execute_run` reads
        from dagster._serdes import serialize_value

        payload = serialize_value(
            ExecuteRunArgs(
                job_origin=origin,
                run_id=run.run_id,
                instance_ref=self._instance.get_ref(),
                set_exit_code_on_failure=True,
            )
        )
        try:
            worker = self._spare.hand_over(payload)
        except SpareUnavailableError as exc:
            self._instance.report_engine_event(
                f"No warm run worker ({exc}); launching through the code server instead.",
                dagster_run=run,
                cls=self.__class__,
            )
            return False
        self._instance.add_run_tags(
            run.run_id,
            {
                WORKER_HOST_TAG: host,
                WORKER_PID_TAG: str(worker.pid),
                WORKER_STARTED_TAG: f"{worker.started_at:.3f}",
            },
        )
        self._instance.report_engine_event(
            f"Handed the run to the warm run worker (pid: {worker.pid}) on {host}.",
            dagster_run=run,
            cls=self.__class__,
        )
        return True

    def terminate(self, run_id: str) -> bool:
        """Cancel a run: a warm-started worker on this host gets SIGTERM (Dagster's run worker
        turns it into an orderly cancel); any other run goes the default launcher's way."""
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished or not run.tags.get(WORKER_PID_TAG):
            return super().terminate(run_id)
        record = _tagged_worker(run)
        if record is None or not is_this_host(record.host):
            self._instance.report_engine_event(
                f"Cannot terminate the run from {this_host()}: its worker runs on "
                f"{run.tags.get(WORKER_HOST_TAG)}; terminate it from there.",
                dagster_run=run,
                cls=self.__class__,
            )
            return False
        self._instance.report_run_canceling(run)
        if liveness(record) is not Liveness.ALIVE:
            self._instance.report_engine_event(
                f"The run worker ({record.describe()}) is already gone.",
                dagster_run=run,
                cls=self.__class__,
            )
            return False
        os.kill(record.pid, signal.SIGTERM)
        return True

    def dispose(self) -> None:
        """End the waiting run worker with the launcher (the daemon's shutdown)."""
        if self._spare is not None:
            self._spare.close()
        super().dispose()

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask :meth:`check_run_worker_health`."""
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """FAILED when the run's worker process on this host is gone; RUNNING otherwise."""
        host = run.tags.get(WORKER_HOST_TAG)
        if host is None:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "no run worker host recorded (not launched by a daemon)"
            )
        if not is_this_host(host):
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"the run worker runs on {host}; checked there"
            )
        record = self.worker_record(run, host) or _tagged_worker(run)
        if record is None:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "the run worker has not recorded its process id yet"
            )
        state = liveness(record)
        if state is Liveness.DEAD:
            seen = datetime.fromtimestamp(record.seen_at, timezone.utc).isoformat(
                timespec="seconds"
            )
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"the run worker ({record.describe()}, running at {seen}) is gone: it ended "
                "without recording the end of the run (killed, or its host restarted)",
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"{record.describe()} is {state.value}")

    def worker_record(self, run: DagsterRun, host: str) -> ProcessRecord | None:
        """The run worker's process as its "Started process for run" event names it."""
        connection = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=ENGINE_EVENTS_TO_READ
        )
        for record in connection.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None or not (event.message or "").startswith(STARTED_PROCESS_MESSAGE):
                continue
            pid = event.engine_event_data.metadata.get("pid") if event.engine_event_data else None
            if pid is None:
                continue
            try:
                return ProcessRecord(host=host, pid=int(pid.value), seen_at=entry.timestamp)
            except (TypeError, ValueError):
                return None
        return None


def _tagged_worker(run: DagsterRun) -> ProcessRecord | None:
    """The warm run worker a run was handed to, as its tags record it (None otherwise)."""
    try:
        return ProcessRecord(
            host=run.tags[WORKER_HOST_TAG],
            pid=int(run.tags[WORKER_PID_TAG]),
            seen_at=float(run.tags[WORKER_STARTED_TAG]),
        )
    except (KeyError, ValueError):
        return None


def _code_server_host(context: LaunchRunContext) -> str | None:
    """The host of the code server that will start the run worker (this host when loopback)."""
    if context.workspace is None or context.dagster_run.remote_job_origin is None:
        return None
    origin = context.dagster_run.remote_job_origin.repository_origin.code_location_origin
    try:
        location = context.workspace.get_code_location(origin.location_name)
    except Exception:  # noqa: BLE001 - the default launcher reports the same problem itself
        return None
    client = getattr(location, "client", None)
    host = getattr(client, "host", None)
    return this_host() if host is None or is_this_host(host) else host
