"""Baseline code location: one trivial job, nothing else (what Dagster itself costs)."""

import dagster as dg


@dg.op
def noop() -> None:
    """Do nothing."""


@dg.job
def one_job() -> None:
    """The only job of the baseline location."""
    noop()


defs = dg.Definitions(jobs=[one_job])
