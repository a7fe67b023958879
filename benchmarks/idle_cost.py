"""Idle cost: CPU seconds a minute that the real daemon's process tree spends with nothing to do.

A real ``dagster-daemon`` runs the repository's ``dagster.yaml`` on a temporary PostgreSQL
instance database (as the queue-latency benchmark does), one serving the full code location
(``cdr_dagster.definitions``, on a temporary PostgreSQL CDR database with an empty schema and
the demo's stand-ins for the health check's pages: every sensor and schedule of the DEV tier as
shipped, nothing queued) and one serving the one-job baseline location
(``benchmarks.one_job_location``: what Dagster itself costs). The two run side by side and are
measured over the same window, so whatever else the machine does hits both alike. Both first
settle (every daemon has sent a heartbeat and ``CDR_BENCH_IDLE_SETTLE_SECONDS``, default 20,
have passed), then idle for ``CDR_BENCH_IDLE_SECONDS`` (default 60). The cost is the CPU time
(user and system) of the whole process tree over that time: the daemon, its code server and
their children, including children that ended (counted by their parent's ``children_user`` and
``children_system``). Both daemons run the same settings, so the ratio shows what the code
location's sensors, schedules and size add.

Idle means nothing to do: a window in which either daemon created a run (a DEV schedule such
as the hourly disk-space check fired) or had one going is discarded and measured again, once
the runs have ended (at most ``MAX_WINDOWS`` windows); the report line says how many windows
were discarded.

Two topologies, each a line: ``idle_cost`` is the shipped ``workspace.yaml``'s, a
``python_module`` workspace, where the daemon starts its own code server and replaces it every
60 s (Dagster's workspace reload, hard-coded), so each minute pays a location load;
``idle_cost_grpc`` is production's (``deploy/workspace-grpc.yaml``): the daemon talks to a
separately started ``dagster code-server start`` and never replaces it, and the cost is the
sum of both process trees. ``CDR_BENCH_IDLE_GRPC=0`` skips the second (about 2 of the
benchmark's 4 minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
from sqlalchemy import create_engine

from cdr_dagster.cdr.schema import create_schema
from cdr_dagster.demo.stand_ins import build_stand_ins, stand_in_environment
from cdr_dagster_tests.queue_fixtures import queue_daemon, wait_for, write_cdr_scripts
from cdr_dagster_tests.services.daemon import DagsterDaemon
from cdr_dagster_tests.services.ports import free_port
from cdr_dagster_tests.services.postgres import temporary_database

TARGET = "cdr_dagster.definitions"
BASELINE = "benchmarks.one_job_location"
GOAL_RATIO = 1.3
#: The daemons ``dagster-daemon run`` starts with the shipped dagster.yaml.
DAEMON_TYPES = {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"}
#: Most idle windows measured on one daemon (the first without a run counts).
MAX_WINDOWS = 3
#: How long a discarded window's runs may take to end before the next window.
RUNS_END_TIMEOUT = 300


@dataclass(frozen=True)
class IdleCost:
    """CPU seconds a minute of one daemon's process tree, and how many processes it held."""

    cpu_seconds_per_minute: float
    processes: list[str]
    #: Windows discarded because a run was created or going in them.
    discarded: int = 0


def tree_cpu_seconds(root: psutil.Process) -> tuple[float, list[str]]:
    """CPU seconds used so far by ``root`` and every live descendant, plus what their ended
    children used (counted when they were reaped); and what each live process runs."""
    total, names = 0.0, []
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            command = process.cmdline()
        except psutil.NoSuchProcess:  # ended meanwhile: its parent counts it once reaped
            continue
        total += times.user + times.system + times.children_user + times.children_system
        names.append(" ".join(Path(part).name for part in command[:4]))
    return total, names


def _settled(daemon: DagsterDaemon) -> bool:
    beats = daemon.instance.get_daemon_heartbeats()
    return DAEMON_TYPES <= set(beats)


def _unfinished_runs(instance: dg.DagsterInstance) -> int:
    return instance.get_runs_count(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.CANCELING,
            ]
        )
    )


@contextmanager
def _code_server(daemon: DagsterDaemon, location_module: str) -> Iterator[subprocess.Popen]:
    """A ``dagster code-server start`` serving ``location_module`` with the daemon's settings,
    and the daemon's workspace pointed at it (production's topology); ended afterwards."""
    port = free_port()
    name = location_module.rsplit(".", 1)[-1]
    (daemon.home / "workspace.yaml").write_text(
        "load_from:\n"
        "  - grpc_server:\n"
        "      host: 127.0.0.1\n"
        f"      port: {port}\n"
        f"      location_name: {name}\n"
    )
    dagster = Path(sys.executable).with_name("dagster")
    with (daemon.home / "code-server.log").open("ab") as log:
        server = subprocess.Popen(
            [
                str(dagster),
                "code-server",
                "start",
                "-m",
                location_module,
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "--location-name",
                name,
            ],
            cwd=daemon.home,
            env=daemon.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class _Tree:
    """A started daemon (and, in the ``grpc`` topology, its code server) being measured."""

    daemon: DagsterDaemon
    server: subprocess.Popen | None

    def cpu_seconds(self) -> tuple[float, list[str]]:
        """CPU seconds used so far by the daemon's tree (and the code server's), and what
        each live process runs."""
        assert self.daemon.process is not None
        roots = [psutil.Process(self.daemon.process.pid)]
        if self.server is not None:
            roots.append(psutil.Process(self.server.pid))
        total, processes = 0.0, []
        for root in roots:
            seconds, names = tree_cpu_seconds(root)
            total += seconds
            processes += names
        return total, processes


@contextmanager
def idle_daemon(
    location_module: str, environment: dict[str, str] | None = None, topology: str = "module"
) -> Iterator[_Tree]:
    """A started daemon serving ``location_module`` on fresh databases, settled (every daemon
    has sent a heartbeat); ``environment``: settings to add to the daemon's; ``topology``:
    ``module`` or ``grpc`` (see the module doc). Everything it started is ended afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="cdr-idle-bench-") as scratch,
        temporary_database("cdr_idle") as cdr_url,
    ):
        engine = create_engine(cdr_url)
        try:
            create_schema(engine)
        finally:
            engine.dispose()
        basedir = write_cdr_scripts(Path(scratch) / "cdr", cdr_url)
        stand_ins = Path(scratch) / "stand-ins"
        build_stand_ins(stand_ins)
        extra_env = {
            **stand_in_environment(stand_ins),
            "CDR_MAIL_OUTBOX": str(Path(scratch) / "outbox"),
            **(environment or {}),
        }
        home = Path(scratch) / "dagster_home"
        with (
            queue_daemon(
                home, cdr_url, basedir, extra_env=extra_env, location_module=location_module
            ) as daemon,
            _code_server(daemon, location_module) if topology == "grpc" else _no_server() as server,
        ):
            daemon.start()
            wait_for(
                lambda: _settled(daemon), 180, "every daemon's first heartbeat", daemon.log_tail
            )
            yield _Tree(daemon, server)


def measure_together(
    location_modules: list[str],
    idle_seconds: float,
    settle_seconds: float,
    topology: str = "module",
) -> list[IdleCost]:
    """The idle cost of a daemon for each of ``location_modules``, all running at once and
    measured over the same windows, so that whatever else the machine does hits them alike.

    A window counts when no daemon had a run created or going in it; otherwise it is
    discarded and, once the runs have ended, another is taken (at most ``MAX_WINDOWS``)."""
    with ExitStack() as stack:
        trees = [
            stack.enter_context(idle_daemon(module, topology=topology))
            for module in location_modules
        ]
        instances = [tree.daemon.instance for tree in trees]
        time.sleep(settle_seconds)
        for window in range(MAX_WINDOWS):
            if window:  # the last window had runs: let them end first
                for tree, instance in zip(trees, instances, strict=True):
                    wait_for(
                        lambda instance=instance: _unfinished_runs(instance) == 0,
                        RUNS_END_TIMEOUT,
                        "the runs of a discarded window to end",
                        tree.daemon.log_tail,
                    )
            runs = [instance.get_runs_count() for instance in instances]
            going = [_unfinished_runs(instance) for instance in instances]
            before = [tree.cpu_seconds()[0] for tree in trees]
            started = time.monotonic()
            time.sleep(idle_seconds)
            after = [tree.cpu_seconds() for tree in trees]
            elapsed = time.monotonic() - started
            for tree in trees:
                assert tree.daemon.process is not None
                if tree.daemon.process.poll() is not None:
                    raise RuntimeError(f"a daemon ended while idle:\n{tree.daemon.log_tail()}")
            ran = [
                going[i] > 0 or instance.get_runs_count() != runs[i]
                for i, instance in enumerate(instances)
            ]
            if not any(ran):
                return [
                    IdleCost((seconds - first) * 60.0 / elapsed, processes, window)
                    for first, (seconds, processes) in zip(before, after, strict=True)
                ]
        raise RuntimeError(
            f"a run was created or going in each of {MAX_WINDOWS} windows of {idle_seconds:g} s "
            f"serving {', '.join(location_modules)}: no idle window to measure"
        )


@contextmanager
def _no_server() -> Iterator[None]:
    yield None


def _line(name: str, ours: IdleCost, base: IdleCost, idle_seconds: float, note: str) -> str:
    ratio = ours.cpu_seconds_per_minute / base.cpu_seconds_per_minute
    return (
        f"{name}: {ours.cpu_seconds_per_minute:.1f} cpu-s/min ({ratio:.2f}x one-job daemon "
        f"{base.cpu_seconds_per_minute:.1f} cpu-s/min; idle {idle_seconds:g} s, "
        f"{len(ours.processes)} vs {len(base.processes)} processes{note}; windows discarded "
        f"for runs: {ours.discarded} vs {base.discarded}; goal <= {GOAL_RATIO:g}x "
        f"{'met' if ratio <= GOAL_RATIO else 'NOT met'})"
    )


def run() -> list[str]:
    """Measure the full location's daemon and the baseline's side by side, in both
    topologies (``grpc`` skipped when ``CDR_BENCH_IDLE_GRPC=0``); return the report lines."""
    idle_seconds = float(os.environ.get("CDR_BENCH_IDLE_SECONDS", "60"))
    settle_seconds = float(os.environ.get("CDR_BENCH_IDLE_SETTLE_SECONDS", "20"))
    ours, base = measure_together([TARGET, BASELINE], idle_seconds, settle_seconds)
    lines = [_line("idle_cost", ours, base, idle_seconds, "")]
    if os.environ.get("CDR_BENCH_IDLE_GRPC", "1") != "0":
        ours, base = measure_together([TARGET, BASELINE], idle_seconds, settle_seconds, "grpc")
        lines.append(_line("idle_cost_grpc", ours, base, idle_seconds, ", daemon and code server"))
    return lines


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
