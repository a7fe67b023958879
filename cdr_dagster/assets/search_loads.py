"""Pieces shared by the assets that load an Elasticsearch index for a cancer.gov API (the
dictionary loads and the trial listing load): their pool and run time limit, the per-run
host/port and size-check options, the warning when the search_index resource writes to a
folder, asset check metadata, the event that records a load, and the Markdown of a mailed notice.

No heavy import here: the code location imports this module at load time.
"""

from typing import Any

import dagster as dg
from pydantic import Field

from cdr_dagster.search.size_check import DEFAULT_MAX_SHRINK_PERCENT
from cdr_dagster.settings import DEVELOPERS_GROUP

#: The loads writing to Elasticsearch run one at a time (dagster.yaml concurrency.pools).
POOL = "elasticsearch"
#: A load that runs longer than this is stopped by run monitoring
#: (docs/architecture.md#run-monitoring).
MAX_RUNTIME_SECONDS = 4 * 60 * 60


class SearchTargetConfig(dg.Config):
    """The Elasticsearch host and port of one run (the legacy loaders' host/port options), and
    how much smaller than the live index a new one may be (the size check)."""

    host: str | None = Field(
        default=None,
        description="Elasticsearch host for this run (default: the search_index resource's).",
    )
    port: int | None = Field(
        default=None,
        description="Elasticsearch port for this run (default: the search_index resource's).",
    )
    max_shrink_percent: float = Field(
        default=DEFAULT_MAX_SHRINK_PERCENT,
        ge=0,
        le=100,
        description="The size check fails when a new index holds more than this per cent "
        "fewer documents than the live one (an empty index always fails).",
    )
    accept_shrink: bool = Field(
        default=False,
        description="Accept a new index that shrank more than max_shrink_percent (a real "
        "shrink, checked by an operator); an empty index is still refused.",
    )


def warn_if_target_ignored(context: Any, config: SearchTargetConfig, mode: str) -> None:
    """Log that host/port have no effect when the search_index resource (in ``mode``) writes
    to a folder."""
    if mode == "dump" and (config.host or config.port):
        context.log.warning("host/port ignored: the search_index resource writes to a folder")


def check_metadata(details: dict[str, Any]) -> dict[str, Any]:
    """A check's details as Dagster metadata: lists and dicts as JSON, the rest as they are."""
    return {
        key: dg.MetadataValue.json(value) if isinstance(value, (list, dict)) else value
        for key, value in details.items()
    }


def load_event(
    context: Any, mode: str, metadata: dict[str, Any]
) -> dg.MaterializeResult | dg.AssetObservation:
    """A full load (``mode`` ``"full"``) is a materialization; a test or limited run is an
    observation, since the live index did not change."""
    if mode == "full":
        return dg.MaterializeResult(metadata=metadata)
    return dg.AssetObservation(asset_key=context.asset_key, metadata=metadata)


def notice_markdown(subject: str, body: str, recipients: list[str] | None = None) -> str:
    """A mailed notice as Markdown: its recipients (default: the Developers Notification
    group), its subject and its body quoted."""
    from cdr_dagster.reports.markdown import escape

    to = ", ".join(recipients) if recipients else DEVELOPERS_GROUP
    lines = [f"**Notification** to {escape(to)}", "", f"Subject: {escape(subject)}", ""]
    lines.extend(f"> {escape(line)}" if line else ">" for line in body.splitlines())
    return "\n".join(lines) + "\n"
