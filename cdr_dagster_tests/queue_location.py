"""A small code location with only the two CDR queues, for the end-to-end tests and benchmark.

It holds the real sensors and jobs with real resources, configured from the environment the
daemon is started with: ``CDR_DB_URL`` (the CDR database), ``CDR_BASEDIR`` (where the scripts
are), ``CDR_SMTP_HOST``/``CDR_SMTP_PORT`` (the test SMTP server; unset: mail to an outbox
folder under the base folder) and ``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` (the sensor interval,
as in production). Besides the queues it holds what their runs' lifecycle needs: the
run-failure mail, the canceled-run sensor, the health job (its lane is tested against a full
run queue), and, when ``CDR_TEST_SCHEDULES`` names a schedules.yaml, that file's schedules of
``smoke_test`` (the misfire policy is tested across a daemon restart). It loads as
``definitions.py`` does: Dagster first, then a garbage-collector freeze
(``cdr_dagster._frozen_imports``), so its run workers start as the production ones.
"""

import os
from pathlib import Path

import dagster as dg

from cdr_dagster import _frozen_imports  # noqa: F401 - first, as in definitions.py
from cdr_dagster.jobs.batch_jobs import run_batch_job
from cdr_dagster.jobs.health import notify_production_health
from cdr_dagster.jobs.publishing_queue import run_publishing_job
from cdr_dagster.jobs.smoke import smoke_test_job
from cdr_dagster.queue_sensors import batch_job_queue_sensor, publishing_queue_sensor
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.schedules import load_schedules
from cdr_dagster.sensors import queue_run_canceled_sensor, run_failure_email_sensor

_cdr_db = CdrDatabaseResource(url=dg.EnvVar("CDR_DB_URL"))
_jobs = [run_batch_job, run_publishing_job, notify_production_health, smoke_test_job]
_schedules_file = os.environ.get("CDR_TEST_SCHEDULES")

if os.environ.get("CDR_SMTP_HOST"):
    _email = EmailResource(
        tier="DEV",
        smtp_host=dg.EnvVar("CDR_SMTP_HOST"),
        smtp_port=dg.EnvVar.int("CDR_SMTP_PORT"),
        cdr_db=_cdr_db,
    )
else:
    _outbox = Path(os.environ.get("CDR_BASEDIR", ".")) / "outbox"
    _email = EmailResource(tier="DEV", outbox_dir=str(_outbox), cdr_db=_cdr_db)

defs = dg.Definitions(
    jobs=_jobs,
    schedules=(
        load_schedules(_schedules_file, {job.name: job for job in _jobs}, "DEV")
        if _schedules_file
        else []
    ),
    sensors=[
        batch_job_queue_sensor,
        publishing_queue_sensor,
        run_failure_email_sensor,
        queue_run_canceled_sensor,
    ],
    resources={
        "cdr_db": _cdr_db,
        "commands": CommandRunnerResource(basedir=dg.EnvVar("CDR_BASEDIR")),
        "email": _email,
    },
)
