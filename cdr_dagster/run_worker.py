"""A run worker that starts before its run: ``python -m cdr_dagster.run_worker``.

Starting a run process costs about two seconds, nearly all of it importing Dagster, its
PostgreSQL storage and their libraries; a queue row waits for it. :class:`~cdr_dagster.
run_launcher.HostRunLauncher` therefore keeps one such process ready: it imports what every
run worker needs, then waits for one line on its standard input, the serialized
``ExecuteRunArgs`` of a run, and executes that run exactly as ``dagster api execute_run`` does
(it runs that very command, in this process). It loads the run's code location only then, from
disk, so a spare that waited across a deployment still runs the deployed code.

An empty standard input (the launcher closed it, or the daemon that started it ended) ends the
process quietly. One process executes at most one run. See docs/run-lifecycle.md, "Warm run
workers".
"""

from __future__ import annotations

import gc
import importlib
import sys

#: What every run worker imports before it can start a run; a missing optional package is
#: skipped (dagster_postgres is absent where the instance is SQLite-only).
PRELOAD = (
    "dagster",
    "dagster._cli",
    "dagster._cli.api",
    "dagster._core.execution.api",
    "dagster_postgres",
    "sqlalchemy",
    "psycopg2",
)


def preload() -> None:
    """Import :data:`PRELOAD`, then take the loaded objects out of the garbage collector's
    generations (they live as long as the process; collecting them again is wasted time)."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    gc.freeze()


def main() -> int:
    """Preload, wait for one run's arguments, and execute that run (``dagster api
    execute_run``); exit 0 without doing anything when standard input closes first."""
    preload()
    payload = sys.stdin.readline().strip()
    sys.stdin.close()
    if not payload:
        return 0
    from dagster._cli import main as dagster_cli  # the `dagster` console command

    sys.argv = ["dagster", "api", "execute_run", payload]
    dagster_cli()  # ends the process with the run's exit status (SystemExit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
