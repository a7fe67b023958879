"""A small code location with only the two CDR queues, for the end-to-end tests and benchmark.

It holds the real sensors and jobs with real resources, configured from the environment the
daemon is started with: ``CDR_DB_URL`` (the CDR database), ``CDR_BASEDIR`` (where the scripts
are), ``CDR_SMTP_HOST``/``CDR_SMTP_PORT`` (the test SMTP server) and
``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` (the sensor interval, as in production). Besides the
queues it holds what their runs' lifecycle needs: the run-failure mail and the canceled-run
sensor, and the health job (its lane is tested against a full run queue).
"""

import dagster as dg

from cdr_dagster.jobs.batch_jobs import run_batch_job
from cdr_dagster.jobs.health import notify_production_health
from cdr_dagster.jobs.publishing_queue import run_publishing_job
from cdr_dagster.queue_sensors import batch_job_queue_sensor, publishing_queue_sensor
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.sensors import queue_run_canceled_sensor, run_failure_email_sensor

_cdr_db = CdrDatabaseResource(url=dg.EnvVar("CDR_DB_URL"))

defs = dg.Definitions(
    jobs=[run_batch_job, run_publishing_job, notify_production_health],
    sensors=[
        batch_job_queue_sensor,
        publishing_queue_sensor,
        run_failure_email_sensor,
        queue_run_canceled_sensor,
    ],
    resources={
        "cdr_db": _cdr_db,
        "commands": CommandRunnerResource(basedir=dg.EnvVar("CDR_BASEDIR")),
        "email": EmailResource(
            tier="DEV",
            smtp_host=dg.EnvVar("CDR_SMTP_HOST"),
            smtp_port=dg.EnvVar.int("CDR_SMTP_PORT"),
            cdr_db=_cdr_db,
        ),
    },
)
