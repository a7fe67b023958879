"""A small code location with only the two CDR queues, for the end-to-end test and benchmark.

It holds the real sensors and jobs with real resources, configured from the environment the
daemon is started with: ``CDR_DB_URL`` (the CDR database) and ``CDR_BASEDIR`` (where the
scripts are); ``CDR_BATCH_QUEUE_INTERVAL_SECONDS`` sets the sensor interval as in production.
"""

import dagster as dg

from cdr_dagster.jobs.batch_jobs import run_batch_job
from cdr_dagster.jobs.publishing_queue import run_publishing_job
from cdr_dagster.queue_sensors import batch_job_queue_sensor, publishing_queue_sensor
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource

defs = dg.Definitions(
    jobs=[run_batch_job, run_publishing_job],
    sensors=[batch_job_queue_sensor, publishing_queue_sensor],
    resources={
        "cdr_db": CdrDatabaseResource(url=dg.EnvVar("CDR_DB_URL")),
        "commands": CommandRunnerResource(basedir=dg.EnvVar("CDR_BASEDIR")),
    },
)
