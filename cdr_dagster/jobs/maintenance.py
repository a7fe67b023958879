"""``purge_run_history``: keeps the Dagster instance from growing without bound.

Dagster prunes sensor and schedule ticks (see ``retention`` in dagster.yaml) but never runs or
their event logs. This job deletes finished runs older than a number of days, with their
events. Queue rows are claimed in the CDR database, so forgetting an old run's ``run_key``
cannot make a queue row run twice.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags

FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


class PurgeRunHistoryConfig(dg.Config):
    """How much run history to keep."""

    keep_days: int = Field(
        default=180, ge=1, description="Finished runs created more than this many days ago go."
    )
    batch_size: int = Field(
        default=200, ge=1, description="Runs deleted per round trip to the instance storage."
    )
    dry_run: bool = Field(default=False, description="Count what would go; delete nothing.")


@dg.op(
    name="purge_run_history_op",
    description="Delete finished runs (and their event logs) older than keep_days.",
)
def purge_run_history_op(context: dg.OpExecutionContext, config: PurgeRunHistoryConfig) -> None:
    """Delete old finished runs in batches and record how many went."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=config.keep_days)
    instance = context.instance
    filters = dg.RunsFilter(statuses=FINISHED, created_before=cutoff)
    deleted = 0
    while True:
        records = instance.get_run_records(filters=filters, limit=config.batch_size)
        records = [r for r in records if r.dagster_run.run_id != context.run.run_id]
        if not records:
            break
        if config.dry_run:
            deleted = instance.get_runs_count(filters=filters)
            break
        for record in records:
            instance.delete_run(record.dagster_run.run_id)
        deleted += len(records)
    verb = "would delete" if config.dry_run else "deleted"
    context.log.info(f"{verb} {deleted} runs created before {cutoff:%Y-%m-%d %H:%M} UTC")
    context.add_output_metadata(
        {"runs": dg.MetadataValue.int(deleted), "cutoff": dg.MetadataValue.timestamp(cutoff)}
    )


@dg.job(
    name="purge_run_history",
    description=(
        "Deletes finished Dagster runs and their event logs older than keep_days (default "
        "180); Dagster keeps them forever otherwise."
    ),
    tags={**lane_tags("chores"), "cdr/lock": "purge_run_history", "cdr/family": "control"},
)
def purge_run_history_job() -> None:
    """The one-op purge job."""
    purge_run_history_op()
