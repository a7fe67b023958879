"""The listing information of cancer.gov's dynamic trial listing pages: asset
``trial_listing_info`` (legacy ``trial_info.Loader``, "Dynamic Listing Pages Loader",
docs/behaviour-notes.md#trial-listing-info).

Each run walks the NCI Thesaurus disease and intervention hierarchies through the EVS REST API
(the ``evs`` resource), groups the concepts by display name, applies the hand-curated overrides
of ctl ``trials/overrides``, and loads the two indexes the clinical-trials-listing API reads:
``listinginfov1`` (one document per group) and ``trialtypeinfov1`` (the trial types of ctl
``trials/labels``). Both are built as new indexes and checked; only then do both aliases move,
in one atomic call (the work is in :mod:`cdr_dagster.cdr.trial_info.load`). A failure anywhere
- EVS down, a bad override, a refused document, a failed check - leaves both aliases where they
were and deletes the new indexes.

The Config mirrors the legacy options (catalogue entry ``trial_info.*``); ``auth`` belongs to
the ``search_index`` resource, and ``output_dir`` says where the ``test`` and ``dump`` files go
(the legacy job wrote them to its working directory). ``tier`` (default: the local tier) chooses
the CDR database whose ``ctl`` rows are read and the cluster loaded, as for the dictionary
loads (:mod:`cdr_dagster.assets.tier_sources`). As the legacy job did, a failure is mailed
to the Developers Notification group (subject ``[TIER] Dynamic listing pages loader failure``,
body ``Failure running loader: ...``); a success sends no mail. Unlike the legacy job, the run
then fails, so Dagster shows it. A test or limited run is recorded as an observation: the live
indexes did not change.

(No ``from __future__ import annotations``: Dagster reads the Config and resource annotations.)
"""

import os
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
from cdr_dagster.cdr.trial_info.checks import BLOCKING, CHECK_URLS, DESCRIPTIONS
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.evs import EvsResource
from cdr_dagster.resources.search_index import SearchIndexResource
from cdr_dagster.settings import DEVELOPERS_GROUP

ASSET = "trial_listing_info"
GROUP = "cancer_gov_trials"
#: The legacy defaults: the longest back-off between EVS retries, and its floor.
DEFAULT_MAX_SLEEP = 500.0
MIN_MAX_SLEEP = 0.01
#: Documents shown in the preview.
SAMPLES = 8


class TrialListingInfoConfig(SearchTargetConfig):
    """Options of a trial listing load (the legacy trial_info.Loader options)."""

    tier: str | None = Field(
        default=None,
        description="Tier whose CDR ctl rows are read and whose Elasticsearch cluster is "
        "loaded (DEV, QA, STAGE, PROD; default: the local tier). Another tier needs "
        "CDR_DB_URL_<TIER> and CDR_ES_HOST_<TIER>.",
    )
    limit: int | None = Field(
        default=None,
        ge=0,
        description="Fetch about this many concepts at most (for trying the load out); the "
        "indexes are built and checked but the aliases are not moved.",
    )
    sleep: float = Field(
        default=DEFAULT_MAX_SLEEP,
        ge=0,
        description="Longest wait in seconds between failed EVS requests; the back-off starts "
        "at 0.01 s and doubles, and the load gives up once it would exceed this (floor 0.01).",
    )
    test: bool = Field(
        default=False,
        description="Write ListingInfo-{stamp}.json and TrialTypeInfo-{stamp}.json to "
        "output_dir instead of loading Elasticsearch.",
    )
    dump: bool = Field(
        default=False,
        description="Also write the bulk files ListingInfo.dump and TrialTypeInfo.dump (and "
        "concepts-{stamp}.json when EVS was walked) to output_dir.",
    )
    concepts: str | None = Field(
        default=None,
        description="A concepts-{stamp}.json file written by dump, used instead of EVS.",
    )
    groups: str | None = Field(
        default=None,
        description="A ListingInfo.dump file whose documents are loaded as they are (no EVS, "
        "no grouping, no overrides).",
    )
    debug: bool = Field(default=False, description="Log every concept fetched.")
    verbose: bool = Field(default=False, description="Log progress after every EVS request.")
    output_dir: str | None = Field(
        default=None,
        description="Folder for the test and dump files (default: the run's working "
        "directory, where the legacy job wrote them).",
    )


@dg.asset(
    name=ASSET,
    description=(
        "The listinginfov1 and trialtypeinfov1 indexes of the clinical-trials-listing API "
        "(cancer.gov dynamic trial listing pages): one document per NCI Thesaurus display name "
        "of the disease and intervention hierarchies (EVS), with the ctl trials/overrides "
        "applied, and one per trial type of ctl trials/labels. New indexes are loaded and "
        "checked before both aliases move together."
    ),
    group_name=GROUP,
    kinds={"elasticsearch"},
    check_specs=[
        dg.AssetCheckSpec(name, asset=ASSET, blocking=blocking, description=DESCRIPTIONS[name])
        for name, blocking in BLOCKING.items()
    ],
    output_required=False,
    pool=POOL,
)
def trial_listing_info(
    context: dg.AssetExecutionContext,
    config: TrialListingInfoConfig,
    cdr_db: CdrDatabaseResource,
    evs: EvsResource,
    search_index: SearchIndexResource,
    email: EmailResource,
):
    """Rebuild listinginfov1 and trialtypeinfov1 (see the module docstring)."""
    from cdr_dagster.cdr.trial_info.control import read_trial_control
    from cdr_dagster.cdr.trial_info.load import (
        KEEP_INDEXES,
        ChecksFailedError,
        build_listing,
        run_load,
    )

    started = time.monotonic()
    _validate(config)
    tier = chosen_tier(config.tier, local_tier())
    sources = tier_sources(tier, cdr_db, None if config.test else search_index)
    search_index = sources.search_index or search_index
    if not sources.local:
        context.log.info(f"tier {tier}: its own CDR database and cluster")
    max_sleep = max(config.sleep, MIN_MAX_SLEEP)
    warn_if_target_ignored(context, config, search_index.mode)

    def debug(message: str) -> None:
        if config.debug:
            context.log.debug(message)

    result = None
    failure: Exception | None = None
    client = backend = None
    try:
        with sources.cdr_db.connect() as conn:
            control = read_trial_control(conn)
        fetch = None
        if not (config.groups or config.concepts):
            client = evs.client(max_sleep, log=context.log.warning)
            context.log.info(f"fetching concepts from {client.target}")
            fetch = client.concepts
        build = build_listing(
            control,
            fetch=fetch,
            concepts_file=config.concepts,
            groups_file=config.groups,
            limit=config.limit,
            log=context.log.info,
            debug=debug,
            progress=context.log.info if config.verbose else None,
        )
        backend = None if config.test else search_index.backend(config.host, config.port)
        result = run_load(
            build,
            control,
            backend,
            limited=config.limit is not None,
            now=datetime.now(),
            alias_prefix=search_index.index_prefix,
            keep_indexes=min(KEEP_INDEXES, search_index.keep_indexes),
            keep_days=search_index.keep_days,
            max_shrink_percent=config.max_shrink_percent,
            accept_shrink=config.accept_shrink,
            max_documents=search_index.bulk_documents,
            max_bytes=search_index.bulk_bytes,
            output_dir=config.output_dir or os.getcwd(),
            dump_files=config.dump,
            log=context.log.info,
        )
    except ChecksFailedError as exc:
        result, failure = exc.result, exc
    except Exception as exc:  # noqa: BLE001 - every failure is mailed, then re-raised
        failure = exc
    finally:
        for resource in (client, backend):
            if resource is not None:
                resource.close()

    elapsed = timedelta(seconds=time.monotonic() - started)
    if result is not None:
        for check in result.checks:
            yield dg.AssetCheckResult(
                check_name=check.name,
                passed=check.passed,
                description=check.summary,
                metadata=check_metadata(check.details),
                severity=(
                    dg.AssetCheckSeverity.WARN
                    if check.name == CHECK_URLS
                    else dg.AssetCheckSeverity.ERROR
                ),
            )
    if failure is not None:
        subject = f"[{tier}] Dynamic listing pages loader failure"
        body = f"Failure running loader: {failure}"
        context.log.error(f"trial listing load failed: {failure}")
        _notify(context, email, subject, body)
        raise dg.Failure(
            description=f"{subject}: {failure}",
            metadata={"notification": dg.MetadataValue.md(notice_markdown(subject, body))},
        ) from failure

    context.log.info(f"indexing completed in {elapsed}")
    metadata = _result_metadata(result, client, elapsed)
    yield load_event(context, result.mode, metadata)


trial_listing_info_job = dg.define_asset_job(
    "trial_listing_info_job",
    selection=[trial_listing_info],
    description="Rebuild the listinginfov1 and trialtypeinfov1 indexes of the "
    "clinical-trials-listing API from EVS (asset trial_listing_info).",
    tags={**lane_tags("chores"), "dagster/max_runtime": MAX_RUNTIME_SECONDS, "cdr/lock": ASSET},
)

assets = [trial_listing_info]
jobs = [trial_listing_info_job]


# ---------------------------------------------------------------------------------------------


def _validate(config: TrialListingInfoConfig) -> None:
    for name in ("concepts", "groups"):
        path = getattr(config, name)
        if path is not None and not os.path.isfile(path):
            raise dg.Failure(f"{name} file {path!r} does not exist")


def _notify(context: dg.AssetExecutionContext, email: EmailResource, subject: str, body: str):
    """The legacy failure notice; a mail that cannot be sent is logged, as the legacy did."""
    try:
        sent = email.send(subject, body, group=DEVELOPERS_GROUP, tier_prefix=False)
    except Exception as exc:  # noqa: BLE001 - the load's own failure is what gets raised
        context.log.error(f"failure notice not sent to {DEVELOPERS_GROUP}: {exc}")
        return
    context.log.info(f"failure notice sent to {', '.join(sent.recipients)}")


def _result_metadata(result: Any, client: Any, elapsed: timedelta) -> dict[str, Any]:
    build = result.build
    grouping = build.grouping
    null_urls = sum(1 for doc in build.listing if doc.get("pretty_url_name") is None)
    metadata: dict[str, Any] = {
        "mode": result.mode,
        "source": build.source,
        "concepts": grouping.concepts if grouping else len(build.expected_codes),
        "listing_documents": len(build.listing),
        "trial_type_documents": len(build.labels),
        "null_pretty_urls": null_urls,
        "elapsed_seconds": round(elapsed.total_seconds(), 3),
        "preview": dg.MetadataValue.md(_preview(result, client)),
    }
    if client is not None:
        metadata["evs_requests"] = client.requests
        metadata["evs_failed_attempts"] = client.failures
    if build.walk is not None:
        metadata["evs_codes_not_found"] = dg.MetadataValue.json(build.walk.missing[:50])
    if grouping is not None:
        metadata["overrides_applied"] = len(grouping.overridden)
        metadata["overrides_unused"] = dg.MetadataValue.json(
            [f"line {o.line_number}: {o.code_list}" for o in grouping.unused_overrides]
        )
        metadata["skipped_codes"] = dg.MetadataValue.json(grouping.skipped)
        metadata["warnings"] = dg.MetadataValue.json(grouping.warnings)
    if result.files:
        metadata["files"] = dg.MetadataValue.json(result.files)
    for name, stats in (("listing", result.listing_stats), ("trial_type", result.trial_type_stats)):
        if stats is None:
            continue
        metadata[f"{name}_index"] = stats.index
        metadata[f"{name}_index_count"] = stats.count if stats.count is not None else -1
        metadata[f"{name}_bulk_requests"] = stats.bulk_requests
        metadata[f"{name}_previous_indexes"] = dg.MetadataValue.json(stats.previous)
        metadata[f"{name}_dropped_indexes"] = dg.MetadataValue.json(stats.dropped)
    metadata["aliases_moved"] = bool(result.listing_stats and result.listing_stats.swapped)
    return metadata


def _preview(result: Any, client: Any) -> str:
    """Markdown: the load in a table, the checks, the first documents."""
    from cdr_dagster.reports.markdown import escape

    build = result.build
    info, types = result.listing_stats, result.trial_type_stats
    if result.mode == "test":
        outcome = "test run: nothing was loaded; files: " + ", ".join(result.files)
    elif result.mode == "limited":
        outcome = f"limited: {info.index} and {types.index} kept, aliases not moved"
    else:
        outcome = f"aliases now point to {info.index} and {types.index}"
    rows = [("Outcome", outcome), ("Target", result.target), ("Concepts from", build.source)]
    if client is not None:
        rows.append(("EVS requests", f"{client.requests} ({client.failures} failed attempts)"))
    if build.grouping is not None:
        grouping = build.grouping
        rows += [
            ("Concepts", f"{grouping.concepts} ({len(grouping.skipped)} skipped)"),
            ("Overrides applied", str(len(grouping.overridden))),
            ("Overlong URLs dropped", str(len(grouping.dropped_urls))),
        ]
    rows += [
        ("Listing documents", str(len(build.listing))),
        ("Trial types", str(len(build.labels))),
    ]
    lines = ["### trial_listing_info", "", "| | |", "|---|---|"]
    lines += [f"| {escape(k)} | {escape(v)} |" for k, v in rows]
    lines += ["", "**Checks**", ""]
    lines += [
        f"- {'passed' if c.passed else 'FAILED'}: `{c.name}`: {escape(c.summary)}"
        for c in result.checks
    ]
    lines += ["", "**First documents**", "", "| label | normalized | concept ids | URL |"]
    lines.append("|---|---|---|---|")
    for doc in build.listing[:SAMPLES]:
        name = doc.get("name") or {}
        cells = (
            name.get("label"),
            name.get("normalized"),
            ", ".join(doc.get("concept_id") or []),
            doc.get("pretty_url_name") or "(null)",
        )
        lines.append("| " + " | ".join(escape(str(cell)) for cell in cells) + " |")
    return "\n".join(lines) + "\n"
