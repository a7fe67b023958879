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

Configured in ``dagster.yaml`` as ``run_launcher: {module: cdr_dagster.run_launcher, class:
HostRunLauncher}``; the daemon and the webserver import it, so it imports nothing heavy.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dagster import DefaultRunLauncher
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun

from cdr_dagster.processes import Liveness, ProcessRecord, is_this_host, liveness, this_host

#: Run tag holding the host whose code server started the run worker.
WORKER_HOST_TAG = "cdr/run_worker_host"
#: How the run worker's first engine event begins (``dagster._grpc.impl``, ``dagster api``).
STARTED_PROCESS_MESSAGE = "Started process for run"
#: The pid event is among a run's first engine events; look no further than this.
ENGINE_EVENTS_TO_READ = 20


class HostRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` that can tell run monitoring whether a run's worker is alive."""

    def launch_run(self, context: LaunchRunContext) -> None:
        """Record the run worker's host, then launch as the default launcher does."""
        host = _code_server_host(context)
        if host is not None:
            self._instance.add_run_tags(context.dagster_run.run_id, {WORKER_HOST_TAG: host})
        super().launch_run(context)

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
        record = self.worker_record(run, host)
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
