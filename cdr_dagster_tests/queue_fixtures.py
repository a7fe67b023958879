"""Test material for the two CDR queues: real scripts in a temporary CDR base folder, rows.

The scripts stand in for the CDR's own (``lib/Python/CdrLongReports.py``,
``Publishing/Publish.py``): they run as real processes with the configured Python, connect to
the test's PostgreSQL CDR database, update their row the way the CDR code does, and append one
line per invocation to ``invocations.log`` so a test can prove a job started exactly once.
What each does is chosen by its row (the batch job's name, the publishing job's subset), as the
real CdrLongReports.py picks its report class by ``batch_job.name``.

The other job tests share its run helpers too: :func:`checked_resource`, :func:`job_resources`
(the CDR database, mail and CDR_BASEDIR resources) and :func:`op_metadata`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import dagster as dg
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine, Row, make_url

from cdr_dagster.cdr.schema import batch_job, pub_proc
from cdr_dagster.queue_sensors import (
    BATCH_INTERVAL_VARIABLE,
    PUBLISHING_INTERVAL_VARIABLE,
    WATCH_VARIABLE,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource, engine_for
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.services.daemon import DagsterDaemon, wait_for
from cdr_dagster_tests.services.postgres import temporary_database

__all__ = ["wait_for"]  # re-exported for the queue tests and the benchmark

BATCH_SCRIPT = "lib/Python/CdrLongReports.py"
PUBLISH_SCRIPT = "Publishing/Publish.py"
INVOCATIONS = "invocations.log"

# What CdrLongReports.py does, by batch job name (statuses as cdrbatch.sendSignal sets them).
_BATCH_BODY = r"""
import os, sys, time
from sqlalchemy import bindparam, create_engine, text

job_id = int(sys.argv[1])
with open(os.path.join(os.environ["CDR_BASEDIR"], "invocations.log"), "a") as log:
    log.write(f"batch {job_id} {os.getpid()}\n")
engine = create_engine(DB_URL)

def row():
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT name, status FROM batch_job WHERE id = :id"), {"id": job_id}
        ).one()

def signal(new, allowed):
    with engine.begin() as conn:
        count = conn.execute(
            text(
                "UPDATE batch_job SET status = :new, status_dt = CURRENT_TIMESTAMP "
                "WHERE id = :id AND status IN :allowed"
            ).bindparams(bindparam("allowed", expanding=True)),
            {"new": new, "id": job_id, "allowed": list(allowed)},
        ).rowcount
    if count != 1:
        raise SystemExit(f"cannot signal {new}: status is {row().status}")

def progress(message):
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE batch_job SET progress = :p, status_dt = CURRENT_TIMESTAMP "
                "WHERE id = :id"
            ),
            {"p": message, "id": job_id},
        )

name, status = row()
print(f"batch job {job_id} ({name}) found in status {status}", flush=True)
if name == "Quiet Report":
    print("working quietly", flush=True)
    print("términos: cáncer", flush=True)
    sys.exit(0)
if name == "Crashing Report":
    print("Traceback (most recent call last):", flush=True)
    print("RuntimeError: boom", file=sys.stderr, flush=True)
    sys.exit(3)
if name == "Slow Report":
    signal("In process", ["Initiating"])
    print("sleeping", flush=True)
    time.sleep(60)
    sys.exit(0)
signal("In process", ["Initiating", "Suspended"])
progress("Checking 3 URLs")
if name == "Broken URLs":
    progress("Report ready: https://cdr.example.gov/CdrReports/BrokenURLs-%d.html" % job_id)
    signal("Completed", ["In process"])
elif name == "Failing Report":
    progress("Report failed: no such table query_term_pub")
    signal("Aborted", ["In process", "Initiating"])
    sys.exit(1)
elif name == "Stopped Report":
    progress("Stopped on request after 1 of 3 URLs")
    signal("Stopped", ["In process"])
elif name == "Completes Then Crashes":
    signal("Completed", ["In process"])
    sys.exit(2)
"""

# What Publish.py (cdrpub.Control.publish) does, by subset.
_PUBLISH_BODY = r"""
import os, sys
from datetime import datetime
from sqlalchemy import create_engine, text

job_id = int(sys.argv[1])
with open(os.path.join(os.environ["CDR_BASEDIR"], "invocations.log"), "a") as log:
    log.write(f"publish {job_id} {os.getpid()}\n")
engine = create_engine(DB_URL)

def update_status(status, message=None):
    done = status in ("Success", "Failure")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE pub_proc SET status = :s, completed = "
                + ("CURRENT_TIMESTAMP" if done else "NULL")
                + " WHERE id = :id AND status != 'Success'"
            ),
            {"s": status, "id": job_id},
        )
        if message:
            conn.execute(
                text("UPDATE pub_proc SET messages = :m WHERE id = :id"),
                {"m": f"[{datetime.now()}] {message}", "id": job_id},
            )

with engine.connect() as conn:
    subset, status = conn.execute(
        text("SELECT pub_subset, status FROM pub_proc WHERE id = :id"), {"id": job_id}
    ).one()
print(f"Job {job_id} started ({subset}, found in status {status})", flush=True)
update_status("In process", "Job started")
if subset == "Export":
    update_status("Success", "Exported 3 documents in 0 seconds")
elif subset == "Hotfix-Export":
    print("Job failed: Processing script 'nosuch.py' not found", flush=True)
    update_status("Failure", "Job failed: Processing script 'nosuch.py' not found")
elif subset == "Interim-Export":
    print("Traceback (most recent call last):", flush=True)
    print("ImportError: cannot import name 'Control'", file=sys.stderr, flush=True)
    sys.exit(1)
elif subset == "Push_Documents_To_Cancer.Gov_Export":
    update_status("Waiting user approval", "Waiting for push job release")
elif subset == "Slow-Export":
    import time
    time.sleep(120)
    update_status("Success", "Exported slowly")
print(f"Job {job_id} ended", flush=True)
"""


def write_script(path: Path, text: str, executable: bool = False) -> Path:
    """Write ``text`` (dedented) to ``path``, creating folders; optionally make it executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    if executable:
        path.chmod(0o755)
    return path


def write_cdr_scripts(basedir: Path, db_url: str) -> Path:
    """Create the test CDR base folder with the batch report runner and the publisher."""
    header = f"DB_URL = {db_url!r}\n"
    write_script(basedir / BATCH_SCRIPT, header + _BATCH_BODY)
    write_script(basedir / PUBLISH_SCRIPT, header + _PUBLISH_BODY)
    write_script(
        basedir / "bin" / "report.sh",
        """
        #!/bin/sh
        echo "batch $1 $$" >> "$CDR_BASEDIR/invocations.log"
        echo "shell report for job $1"
        """,
        executable=True,
    )
    return basedir


def invocations(basedir: Path, kind: str = "batch") -> list[int]:
    """The job ids the scripts were started with, in order (``kind``: batch or publish)."""
    log = basedir / INVOCATIONS
    if not log.exists():
        return []
    return [
        int(parts[1])
        for parts in (line.split() for line in log.read_text().splitlines())
        if parts and parts[0] == kind
    ]


def run_queue_job(
    job: dg.JobDefinition,
    op_config: dg.Config,
    row_tag: tuple[str, int],
    instance: dg.DagsterInstance,
    resources: dict[str, object],
) -> tuple[dg.ExecuteInProcessResult, list[str], dict[str, object]]:
    """Run a one-op queue job in process; return the result, its op's log lines and metadata."""
    op_name = f"{job.name}_op"
    tag, row_id = row_tag
    result = job.execute_in_process(
        run_config=dg.RunConfig(ops={op_name: op_config}),
        resources=resources,
        instance=instance,
        raise_on_error=False,
        tags={tag: str(row_id)},
    )
    messages = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.dagster_event is None and entry.step_key == op_name
    ]
    return result, messages, op_metadata(result)


def op_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    """The metadata the op recorded: on its output when it succeeded, on its failure if not."""
    for event_ in result.all_events:
        if event_.event_type_value == "STEP_OUTPUT":
            return {k: v.value for k, v in event_.event_specific_data.metadata.items()}
    failures = result.get_step_failure_events()
    if failures and failures[0].step_failure_data.user_failure_data:
        data = failures[0].step_failure_data.user_failure_data
        return {k: v.value for k, v in data.metadata.items()}
    return {}


def queue_sensor_context(
    instance: dg.DagsterInstance,
    engine: Engine,
    sensor_name: str,
    email: EmailResource | None = None,
    cursor: str | None = None,
) -> dg.SensorEvaluationContext:
    """The context of one tick of queue sensor ``sensor_name`` on the test CDR database.

    ``email`` receives the sensor's reports about rows left for the operators; by default
    they go to an outbox folder nobody reads (ticks that report nothing never write there).
    """
    if email is None:
        outbox = Path(tempfile.gettempdir()) / "cdr-queue-outbox"
        email = EmailResource(tier="DEV", outbox_dir=str(outbox))
    context = dg.build_sensor_context(
        instance=instance,
        sensor_name=sensor_name,
        cursor=cursor,
        resources={"cdr_db": checked_resource(engine_url(engine)), "email": email},
    )
    # The mail resource nests the database resource, which Dagster only builds inside the
    # context's scope; the scope holds nothing that needs closing, so it is simply entered.
    return context.__enter__()


def checked_resource(url: str) -> CdrDatabaseResource:
    """The CDR database resource on ``url``, its engine compiling every statement for SQL
    Server too (as the conftest engine does), so the ops' statements are proven T-SQL."""
    from cdr_dagster_tests.conftest import compile_for_sql_server

    engine = engine_for(url)
    if not event.contains(engine, "before_execute", compile_for_sql_server):
        event.listen(engine, "before_execute", compile_for_sql_server)
    return CdrDatabaseResource(url=url)


def job_resources(engine: Engine, mailbox, basedir: Path, tier: str = "DEV") -> dict[str, object]:
    """The resources most jobs take: the test CDR database (statements checked for SQL
    Server), mail to the test SMTP server for ``tier``, and ``basedir`` as CDR_BASEDIR."""
    cdr_db = checked_resource(engine_url(engine))
    return {
        "cdr_db": cdr_db,
        "email": EmailResource(
            tier=tier, smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=cdr_db
        ),
        "commands": CommandRunnerResource(basedir=str(basedir)),
    }


def engine_url(engine: Engine) -> str:
    """The URL of ``engine`` with its password, for resources and scripts."""
    return engine.url.render_as_string(hide_password=False)


def insert_batch_job(
    engine: Engine,
    name: str,
    command: str = BATCH_SCRIPT,
    status: str = "Queued",
    email: str | None = "reports@example.gov",
) -> int:
    """Queue a batch job as the CDR admin pages do (cdrbatch.CdrBatch.queue); return its id."""
    now = datetime(2025, 7, 1, 9, 30)
    with engine.begin() as conn:
        return conn.execute(
            insert(batch_job)
            .values(
                name=name,
                command=command,
                started=now,
                status_dt=now,
                status=status,
                email=email,
            )
            .returning(batch_job.c.id)
        ).scalar_one()


def batch_row(engine: Engine, job_id: int) -> Row:
    """The batch_job row ``job_id``."""
    with engine.connect() as conn:
        return conn.execute(select(batch_job).where(batch_job.c.id == job_id)).one()


def insert_publishing_job(engine: Engine, subset: str, status: str = "Ready") -> int:
    """Create a publishing job as cdrapi.publishing.Job.create does; return its id."""
    with engine.begin() as conn:
        return conn.execute(
            insert(pub_proc)
            .values(
                pub_system=178,
                pub_subset=subset,
                usr=2,
                output_dir="d:/cdr/Output/Job",
                started=datetime(2025, 7, 4, 16, 0),
                status=status,
                email="operator@example.gov",
            )
            .returning(pub_proc.c.id)
        ).scalar_one()


def publishing_row(engine: Engine, job_id: int) -> Row:
    """The pub_proc row ``job_id``."""
    with engine.connect() as conn:
        return conn.execute(select(pub_proc).where(pub_proc.c.id == job_id)).one()


# ---------------------------------------------------------------------------------------------
# A real dagster-daemon on a PostgreSQL instance, for the end-to-end test and the benchmark
# ---------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
LOCATION_MODULE = "cdr_dagster_tests.queue_location"


@contextlib.contextmanager
def queue_daemon(
    home: Path,
    cdr_url: str,
    basedir: Path,
    interval_seconds: int | None = None,
    extra_env: dict[str, str] | None = None,
    location_module: str = LOCATION_MODULE,
) -> Iterator[DagsterDaemon]:
    """A :class:`DagsterDaemon` (not yet started) on a fresh PostgreSQL instance database.

    ``home`` becomes DAGSTER_HOME, with the repository's dagster.yaml and a workspace naming
    ``location_module`` (default the queue location); the CDR database is ``cdr_url`` and the
    scripts live in ``basedir``. The sensors look every ``interval_seconds`` (default: the
    shipped default) and watch for the shipped time; ``extra_env`` adds to the daemon's
    environment (e.g. the SMTP server of the location's mail resource). Python writes the
    compiled modules under ``home`` (as a deployed code location has them; the test machine
    may forbid writing them next to the sources). The instance database is dropped afterwards,
    once every started process is ended.
    """
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    (home / "workspace.yaml").write_text(
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {location_module}\n"
        f"      working_directory: {REPO}\n"
        f"      location_name: {location_module.rsplit('.', 1)[-1]}\n"
    )
    with temporary_database("dagster_queue") as instance_url:
        parsed = make_url(instance_url)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
            "DAGSTER_PG_PORT": str(parsed.port or 5432),
            "DAGSTER_PG_DB": parsed.database or "",
            "DAGSTER_PG_USER": parsed.username or "postgres",
            "DAGSTER_PG_PASSWORD": parsed.password or "unused-with-trust-auth",
            "CDR_DB_URL": cdr_url,
            "CDR_BASEDIR": str(basedir),
            "CDR_TIER": "DEV",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
        for variable in (BATCH_INTERVAL_VARIABLE, PUBLISHING_INTERVAL_VARIABLE, WATCH_VARIABLE):
            env.pop(variable, None)  # the shipped defaults, whatever this process has
        if interval_seconds is not None:
            env[BATCH_INTERVAL_VARIABLE] = env[PUBLISHING_INTERVAL_VARIABLE] = str(interval_seconds)
        env.update(extra_env or {})
        storage = {key: value for key, value in env.items() if key.startswith("DAGSTER_PG_")}
        saved = {key: os.environ.get(key) for key in storage}
        os.environ.update(storage)
        daemon = DagsterDaemon(home, env)
        try:
            yield daemon
        finally:
            daemon.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.contextmanager
def inserted_later(delay: float, insert: Callable[[], int]) -> Iterator[list[int]]:
    """Call ``insert`` (which queues a row and returns its id) on a thread after ``delay``
    seconds; the list holds the id once the block has ended (the thread is joined)."""
    inserted: list[int] = []

    def later() -> None:
        time.sleep(delay)
        inserted.append(insert())

    thread = threading.Thread(target=later)
    thread.start()
    try:
        yield inserted
    finally:
        thread.join()


def runs_of_batch_job(instance: dg.DagsterInstance, job_id: int) -> list[dg.DagsterRun]:
    """Every run of the instance that names batch job ``job_id``."""
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"cdr/batch-job": str(job_id)})))
