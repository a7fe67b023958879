"""The glossary and drug dictionaries of cancer.gov: assets ``glossary_dictionary`` and
``drug_dictionary`` (legacy ``dictionary_api_loader.Loader``,
docs/behaviour-notes.md#dictionary-load).

Each run rebuilds the index behind a consumer API - ``glossaryv1`` (glossary API) or ``drugv1``
(drug dictionary API) - from the documents on cancer.gov, with the CDR's own XSLT filter, into a
new index; three blocking checks look at what the new index holds (the expected documents,
their fields, and a size no smaller than the live index's by more than ``max_shrink_percent``,
never empty; ``accept_shrink`` accepts a real shrink), and only then does the alias move, in
one atomic call (the work is in :mod:`cdr_dagster.cdr.dictionaries.load`). A failure anywhere
leaves the alias where it was and deletes the new index (``docs/search-loads.md``).

The Config mirrors the legacy options (catalogue entry ``dictionary_api_loader.Loader``); the
``dictionary`` option chose the job and ``auth``/``dump`` belong to the ``search_index``
resource. Differences from the legacy loader, on purpose:

- ``limit`` counts CDR documents and works without ``verbose``; ``ids`` works from a schedule;
  a run limited by either keeps its index without moving the live alias (the legacy one
  replaced the live index with the partial one);
- ``tier`` chooses, as it did, the CDR database (its documents, filters and index
  definitions), the Elasticsearch cluster, the media host in the documents and the tier in
  the mail subject; the local tier uses the resources, another tier its own settings
  (:mod:`cdr_dagster.assets.tier_sources`), and a tier without them is refused;
- documents go in bulk requests, and the count and the checks are verified before the swap.

As the legacy job did, every run mails its outcome (subject ``[TIER] Load of glossary
dictionary to HOST``, `` (FAILURE)`` appended on failure) to ``recips`` or the Developers
Notification group. A test or limited run is recorded as an observation, not a
materialization: the live index did not change.

(No ``from __future__ import annotations``: Dagster reads the Config and resource annotations.)
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from cdr_dagster.assets.search_loads import (
    MAX_RUNTIME_SECONDS,
    POOL,
    SearchTargetConfig,
    check_metadata,
    load_event,
    notice_markdown,
    warn_if_target_ignored,
)
from cdr_dagster.assets.tier_sources import chosen_tier, local_tier, tier_sources
from cdr_dagster.cdr.dictionaries.checks import CHECK_FIELDS, CHECK_SIZE, CHECK_TERMS, DESCRIPTIONS
from cdr_dagster.config_checks import LogLevelOption, TierOption
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.search_index import SearchIndexResource
from cdr_dagster.settings import DEVELOPERS_GROUP, OPERATOR_ADDRESS

GROUP = "cancer_gov_dictionaries"


class DictionaryLoadConfig(SearchTargetConfig):
    """Options of a dictionary load (the legacy dictionary_api_loader.Loader options)."""

    tier: TierOption = Field(
        default=None,
        description="Tier whose CDR database is read and whose Elasticsearch cluster is "
        "loaded, named in the media URLs and the mail subject (DEV, QA, STAGE, PROD; default: "
        "the local tier). Another tier needs CDR_DB_URL_<TIER> and CDR_ES_HOST_<TIER>.",
    )
    test: bool = Field(
        default=False,
        description="Write nothing: build and check the documents and print them to stdout.",
    )
    limit: int | None = Field(
        default=None,
        ge=0,
        description="Load only the first N CDR documents; the live alias is not moved.",
    )
    ids: list[int] = Field(
        default=[],
        description="Load only these CDR document ids; the live alias is not moved.",
    )
    log_level: LogLevelOption = Field(
        default="INFO",
        description="Lowest level logged: DEBUG (one line per document), INFO, WARNING, ERROR.",
    )
    verbose: bool = Field(default=False, description="Log progress every 1000 CDR documents.")
    recips: list[str] = Field(
        default=[],
        description="Addresses notified of the outcome (default: the Developers "
        "Notification group).",
    )


def _check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset, blocking=True, description=DESCRIPTIONS[name])
        for name in (CHECK_TERMS, CHECK_FIELDS, CHECK_SIZE)
    ]


@dg.asset(
    name="glossary_dictionary",
    description=(
        "The glossaryv1 index of the glossary API (cancer.gov dictionary of cancer terms and "
        "genetics terms): one document per definition, language, audience and dictionary of "
        "every GlossaryTermName on cancer.gov, built with the CDR filter 'Index Glossary "
        "Dictionary'. A new index is loaded and checked before the alias moves."
    ),
    group_name=GROUP,
    kinds={"elasticsearch"},
    check_specs=_check_specs("glossary_dictionary"),
    output_required=False,
    pool=POOL,
)
def glossary_dictionary(
    context: dg.AssetExecutionContext,
    config: DictionaryLoadConfig,
    cdr_db: CdrDatabaseResource,
    search_index: SearchIndexResource,
    email: EmailResource,
):
    """Rebuild glossaryv1 (see the module docstring)."""
    yield from _load(context, config, "glossary", cdr_db, search_index, email)


@dg.asset(
    name="drug_dictionary",
    description=(
        "The drugv1 index of the drug dictionary API (cancer.gov NCI Drug Dictionary): one "
        "document per Drug/agent Term on cancer.gov that has a definition, plus one per other "
        "name, built with the CDR filter 'Index Drug Dictionary'. A new index is loaded and "
        "checked before the alias moves."
    ),
    group_name=GROUP,
    kinds={"elasticsearch"},
    check_specs=_check_specs("drug_dictionary"),
    output_required=False,
    pool=POOL,
)
def drug_dictionary(
    context: dg.AssetExecutionContext,
    config: DictionaryLoadConfig,
    cdr_db: CdrDatabaseResource,
    search_index: SearchIndexResource,
    email: EmailResource,
):
    """Rebuild drugv1 (see the module docstring)."""
    yield from _load(context, config, "drugs", cdr_db, search_index, email)


glossary_dictionary_job = dg.define_asset_job(
    "glossary_dictionary_job",
    selection=[glossary_dictionary],
    description="Rebuild the glossaryv1 index of the glossary API (asset glossary_dictionary).",
    tags={
        **lane_tags("chores"),
        "dagster/max_runtime": MAX_RUNTIME_SECONDS,
        "cdr/lock": "glossary_dictionary",
    },
)
drug_dictionary_job = dg.define_asset_job(
    "drug_dictionary_job",
    selection=[drug_dictionary],
    description="Rebuild the drugv1 index of the drug dictionary API (asset drug_dictionary).",
    tags={
        **lane_tags("chores"),
        "dagster/max_runtime": MAX_RUNTIME_SECONDS,
        "cdr/lock": "drug_dictionary",
    },
)

assets = [glossary_dictionary, drug_dictionary]
jobs = [glossary_dictionary_job, drug_dictionary_job]


# ---------------------------------------------------------------------------------------------


def _level(config: DictionaryLoadConfig) -> int:
    return getattr(logging, config.log_level)


def _load(
    context: dg.AssetExecutionContext,
    config: DictionaryLoadConfig,
    name: str,
    cdr_db: CdrDatabaseResource,
    search_index: SearchIndexResource,
    email: EmailResource,
):
    from cdr_dagster.cdr.dictionaries.build import DICTIONARIES
    from cdr_dagster.cdr.dictionaries.load import ChecksFailedError, run_load

    started = time.monotonic()
    dictionary = DICTIONARIES[name]
    tier = chosen_tier(config.tier, local_tier())
    level = _level(config)
    sources = tier_sources(tier, cdr_db, None if config.test else search_index)
    search_index = sources.search_index or search_index
    if not sources.local:
        context.log.info(f"tier {tier}: its own CDR database and cluster")
    warn_if_target_ignored(context, config, search_index.mode)
    target = "example.com" if config.test else search_index.target(config.host, config.port)
    subject = f"[{tier}] Load of {dictionary.name} dictionary to {target}"

    def log_at(at: int):
        method = {
            logging.DEBUG: context.log.debug,
            logging.INFO: context.log.info,
            logging.WARNING: context.log.warning,
        }[at]
        return method if at >= level else (lambda message: None)

    result = None
    failure: Exception | None = None
    backend = None
    try:
        backend = None if config.test else search_index.backend(config.host, config.port)
        with sources.cdr_db.connect() as conn:
            result = run_load(
                conn,
                dictionary,
                backend,
                tier=tier,
                ids=config.ids or None,
                limit=config.limit,
                now=datetime.now(),
                alias_prefix=search_index.index_prefix,
                keep_indexes=search_index.keep_indexes,
                keep_days=search_index.keep_days,
                max_shrink_percent=config.max_shrink_percent,
                accept_shrink=config.accept_shrink,
                max_documents=search_index.bulk_documents,
                max_bytes=search_index.bulk_bytes,
                log=log_at(logging.INFO),
                debug=log_at(logging.DEBUG),
                progress=log_at(logging.INFO) if config.verbose else None,
                echo=print if config.test else None,
            )
    except ChecksFailedError as exc:
        result, failure = exc.result, exc
    except Exception as exc:  # noqa: BLE001 - every failure is mailed, then re-raised
        failure = exc
    finally:
        if backend is not None:
            backend.close()

    elapsed = timedelta(seconds=time.monotonic() - started)
    if failure is None:
        body = f"Load completed in {elapsed}."
        if result.mode == "limited":
            body += (
                f"\nLimited by {result.limited_by}: index {result.stats.index} was kept and "
                f"{result.stats.index.rsplit('-', 1)[0]} was not moved."
            )
        if result.stats is not None and result.stats.cleanup_error:
            body += f"\nRemoving old indexes failed: {result.stats.cleanup_error}"
        if result.stats is not None and result.stats.reply_lost:
            body += (
                "\nThe cluster's reply to the alias move was lost; the aliases read back "
                "show the move took effect."
            )
    else:
        context.log.error(f"dictionary load failed: {failure}")
        subject += " (FAILURE)"
        body = f"Job failed: {failure}\nSee logs for further details."
    recipients = list(config.recips)

    if result is not None:
        for check in result.checks:
            yield dg.AssetCheckResult(
                check_name=check.name,
                passed=check.passed,
                description=check.summary,
                metadata=check_metadata(check.details),
            )
    if failure is not None:
        _notify(context, email, subject, body, recipients)
        raise dg.Failure(
            description=f"{subject}: {failure}",
            metadata={"notification": dg.MetadataValue.md(notice_markdown(subject, body))},
        ) from failure

    metadata = _result_metadata(result, elapsed, subject, body, recipients)
    yield load_event(context, result.mode, metadata)
    _notify(context, email, subject, body, recipients)


def _notify(
    context: dg.AssetExecutionContext,
    email: EmailResource,
    subject: str,
    body: str,
    recipients: list[str],
) -> None:
    """Send the legacy notice (subject already carries the tier) from the bare operator
    address, as the legacy loader did."""
    email = email.from_sender(OPERATOR_ADDRESS)
    if recipients:
        sent = email.send(subject, body, to=recipients, tier_prefix=False)
    else:
        sent = email.send(subject, body, group=DEVELOPERS_GROUP, tier_prefix=False)
    context.log.info(f"notification sent to {', '.join(sent.recipients)}")


def _result_metadata(
    result: Any, elapsed: timedelta, subject: str, body: str, recipients: list[str]
) -> dict[str, Any]:
    stats = result.stats
    metadata: dict[str, Any] = {
        "mode": result.mode,
        "terms": result.terms,
        "terms_on_cancer_gov": result.eligible,
        "documents": result.documents,
        "documents_by_language": dg.MetadataValue.json(dict(sorted(result.languages.items()))),
        "filter": result.filter_name,
        "index_definition": result.definition_source,
        "elapsed_seconds": round(elapsed.total_seconds(), 3),
        "preview": dg.MetadataValue.md(_preview(result, subject, body, recipients)),
    }
    if stats is not None:
        metadata.update(
            {
                "index": stats.index,
                "alias_moved": stats.swapped,
                "previous_indexes": dg.MetadataValue.json(stats.previous),
                "dropped_indexes": dg.MetadataValue.json(stats.dropped),
                "bulk_requests": stats.bulk_requests,
                "bytes_sent": stats.bytes_sent,
                "index_count": stats.count if stats.count is not None else -1,
            }
        )
    return metadata


def _preview(result: Any, subject: str, body: str, recipients: list[str]) -> str:
    """Markdown: the load in a table, the checks, the mail sent, a few documents."""
    from cdr_dagster.reports.markdown import escape

    dictionary = result.dictionary
    stats = result.stats
    alias = stats.index.rsplit("-", 1)[0] if stats else dictionary.alias
    if result.mode == "test":
        outcome = "test run: nothing was written"
    elif result.mode == "limited":
        outcome = f"limited by {result.limited_by}: {stats.index} kept, {alias} not moved"
    else:
        was = f" (was {', '.join(stats.previous)})" if stats.previous else ""
        outcome = f"{alias} now points to {stats.index}{was}"
    rows = [
        ("Outcome", outcome),
        ("Target", result.target),
        ("CDR documents", f"{result.terms} of {result.eligible} on cancer.gov"),
        (
            "Documents",
            f"{result.documents} ("
            + ", ".join(f"{k}: {v}" for k, v in sorted(result.languages.items()))
            + ")",
        ),
        ("By kind", ", ".join(f"{k}: {v}" for k, v in sorted(result.kinds.items()))),
        ("Filter", result.filter_name),
        ("Index definition", result.definition_source),
    ]
    if stats is not None:
        rows.append(("Bulk requests", f"{stats.bulk_requests} ({stats.bytes_sent:,} bytes)"))
        if stats.dropped:
            rows.append(("Old indexes dropped", ", ".join(stats.dropped)))
    lines = [f"### {escape(subject)}", "", "| | |", "|---|---|"]
    lines.extend(f"| {escape(k)} | {escape(str(v))} |" for k, v in rows)
    lines += ["", "**Checks**", ""]
    lines.extend(
        f"- {'passed' if c.passed else 'FAILED'}: `{c.name}`: {escape(c.summary)}"
        for c in result.checks
    )
    lines += ["", notice_markdown(subject, body, recipients), "**First documents**", ""]
    if dictionary.name == "glossary":
        columns = ("term_name", "language", "audience", "dictionary", "pretty_url_name")
    else:
        columns = ("name", "type", "term_name_type", "pretty_url_name")
    lines.append("| _id | " + " | ".join(columns) + " |")
    lines.append("|---" * (len(columns) + 1) + "|")
    for doc_id, source in result.samples:
        cells = [escape(str(source.get(c, ""))) for c in columns]
        lines.append(f"| {escape(str(doc_id))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
