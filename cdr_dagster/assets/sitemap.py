"""The sitemap of the cancer.gov dictionary pages: asset ``dictionary_sitemap`` (legacy
``sitemap.Loader``, docs/behaviour-notes.md#dictionary-sitemap).

Each run reads the CSV of CDR ids, keys and languages in ctl ``dictionary/sitemap-entries``,
builds the sitemaps.org 0.9 file listing the English and Spanish glossary, genetics and drug
dictionary definition pages (:mod:`cdr_dagster.cdr.sitemap`), validates it against the 0.9
schema and uploads it to Akamai NetStorage over SFTP at ``sitemaps/dictionaries.xml`` (the
``netstorage`` resource; in its local mode the same relative path under the local folder). The
upload is atomic: a temporary name first, then a rename over the old file.

Checks: ``sitemap_valid`` (blocking; a file the schema rejects is never uploaded) and
``sitemap_urls_unique`` (warns when different CDR ids give the same URL: those pages are left
out, as the legacy job left them out, and are listed in the check and the metadata).

Config mirrors the legacy options. ``tier`` chooses whose data is read, default PROD as before:
the local tier reads through ``cdr_db``, another tier through the URL in ``CDR_DB_URL_<TIER>``
(a read-only login, the legacy ``CdrGuest``), as for the search index loads
(:mod:`cdr_dagster.assets.tier_sources`). ``hostname``/``username`` override the resource's
NetStorage login for one run; ``dump`` prints the XML and uploads nothing (recorded as an
observation: the sitemap on NetStorage did not change); ``keep`` also saves a copy in the
temporary folder. The legacy job sent no mail and neither does this one: a failure shows as a
failed run (and the run-failure mail).

(No ``from __future__ import annotations``: Dagster reads the Config and resource annotations.)
"""

import os
from typing import Any

import dagster as dg
from pydantic import Field

from cdr_dagster.assets.tier_sources import chosen_tier, tier_sources
from cdr_dagster.config_checks import TierOption
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.sftp import SftpResource

GROUP = "cancer_gov_dictionaries"
CHECK_VALID = "sitemap_valid"
CHECK_UNIQUE = "sitemap_urls_unique"
#: The legacy job read this tier's data unless told otherwise.
DEFAULT_TIER = "PROD"
SHOWN_ROWS = 50


class SitemapConfig(dg.Config):
    """Options of a sitemap refresh (the legacy sitemap.Loader options)."""

    tier: TierOption = Field(
        default=None,
        description="Tier whose CDR data is read (DEV, QA, STAGE, PROD; default PROD, as the "
        "legacy job). The local tier reads through the cdr_db resource; another tier needs its "
        "read-only database URL in CDR_DB_URL_<TIER>.",
    )
    hostname: str | None = Field(
        default=None,
        description="NetStorage SFTP host for this run (default: the netstorage resource's, "
        "CDR_NETSTORAGE_HOST). Ignored in local mode.",
    )
    username: str | None = Field(
        default=None,
        description="NetStorage SFTP login for this run (default: the netstorage resource's, "
        "CDR_NETSTORAGE_USER). Ignored in local mode.",
    )
    keep: bool = Field(
        default=False,
        description="Also keep a copy of the XML in the temporary folder (path in the metadata).",
    )
    dump: bool = Field(
        default=False,
        description="Print the XML to the run's stdout and upload nothing.",
    )


@dg.asset(
    name="dictionary_sitemap",
    description=(
        "sitemaps/dictionaries.xml on Akamai NetStorage: the sitemaps.org 0.9 list of the "
        "cancer.gov English and Spanish glossary, genetics and drug dictionary definition "
        "pages named in ctl dictionary/sitemap-entries, built from the documents on cancer.gov "
        "and validated against the sitemap 0.9 schema before upload."
    ),
    group_name=GROUP,
    kinds={"xml", "sftp"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_VALID,
            asset="dictionary_sitemap",
            blocking=True,
            description="The file validates against the sitemap 0.9 schema (element order "
            "loc, lastmod, changefreq, priority) and keeps to 50,000 URLs and 50 MB.",
        ),
        dg.AssetCheckSpec(
            CHECK_UNIQUE,
            asset="dictionary_sitemap",
            description="No two CDR ids give the same page URL (such pages are left out).",
        ),
    ],
    output_required=False,
)
def dictionary_sitemap(
    context: dg.AssetExecutionContext,
    config: SitemapConfig,
    cdr_db: CdrDatabaseResource,
    netstorage: SftpResource,
):
    """Build, check and upload the dictionary sitemap (see the module docstring)."""
    from cdr_dagster.cdr.sitemap import (
        DESTINATION,
        SitemapDocumentError,
        SitemapEntriesError,
        build_sitemap,
        read_entries,
        validate_sitemap,
    )
    from cdr_dagster.resources.netstorage import with_login

    tier = chosen_tier(config.tier, DEFAULT_TIER)
    database = tier_sources(tier, cdr_db, None).cdr_db
    context.log.info(f"loading sitemap entries from {tier}")
    try:
        with database.connect() as conn:
            entries = read_entries(conn)
            sitemap = build_sitemap(conn, entries, warn=context.log.warning)
    except SitemapEntriesError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"bad_lines": dg.MetadataValue.md(_bad_lines_table(exc.bad_lines))},
        ) from exc
    except SitemapDocumentError as exc:
        raise dg.Failure(
            description=f"nothing uploaded: {exc}",
            metadata={"problems": dg.MetadataValue.json(exc.problems)},
        ) from exc

    problems = validate_sitemap(sitemap.xml)
    yield dg.AssetCheckResult(
        check_name=CHECK_VALID,
        passed=not problems,
        description="valid sitemap 0.9" if not problems else f"{len(problems)} problem(s)",
        metadata={"urls": len(sitemap.urls), "problems": dg.MetadataValue.json(problems[:100])},
    )
    yield dg.AssetCheckResult(
        check_name=CHECK_UNIQUE,
        passed=not sitemap.duplicates,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every URL belongs to one CDR id"
            if not sitemap.duplicates
            else f"{len(sitemap.duplicates)} URL(s) shared by different CDR ids, left out"
        ),
        metadata={"duplicates": dg.MetadataValue.json(_duplicates_json(sitemap.duplicates))},
    )
    if problems:
        raise dg.Failure(
            description="the sitemap is not valid under the sitemap 0.9 schema; nothing "
            f"uploaded: {'; '.join(problems[:5])}",
            metadata={"problems": dg.MetadataValue.json(problems[:100])},
        )

    metadata = _metadata(sitemap)
    if config.keep:
        metadata["kept_copy"] = _keep_copy(sitemap.xml)
        context.log.info(f"preserving {metadata['kept_copy']}")
    if config.dump:
        print(sitemap.xml.decode("utf-8"))
        metadata["destination"] = "stdout (dump: nothing uploaded)"
        yield dg.AssetObservation(asset_key=context.asset_key, metadata=metadata)
        return

    if netstorage.local_dir and (config.hostname or config.username):
        context.log.warning("hostname/username ignored: the netstorage resource is a folder")
    target = with_login(netstorage, config.hostname, config.username)
    if not target.local_dir and not (target.host and target.username):
        raise dg.Failure(
            "no NetStorage login: give hostname and username in the run config or set "
            "CDR_NETSTORAGE_HOST and CDR_NETSTORAGE_USER"
        )
    with target.connect() as session:
        session.makedirs(DESTINATION.rpartition("/")[0])
        uploaded = session.write_bytes(DESTINATION, sitemap.xml)
    where = target.where
    context.log.info(f"sent {len(sitemap.xml)} bytes to {where} as {DESTINATION}")
    metadata["destination"] = f"{where}/{DESTINATION}"
    metadata["uploaded_bytes"] = uploaded.size
    yield dg.MaterializeResult(metadata=metadata)


dictionary_sitemap_job = dg.define_asset_job(
    "dictionary_sitemap_job",
    selection=[dictionary_sitemap],
    description="Rebuild the dictionary sitemap and upload it to NetStorage "
    "(asset dictionary_sitemap).",
    tags={**lane_tags("chores"), "cdr/lock": "dictionary_sitemap"},
)

assets = [dictionary_sitemap]
jobs = [dictionary_sitemap_job]


# ---------------------------------------------------------------------------------------------


def _keep_copy(xml: bytes) -> str:
    import tempfile
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    handle, path = tempfile.mkstemp(prefix=f"sitemap-{stamp}-", suffix=".xml")
    with os.fdopen(handle, "wb") as out:
        out.write(xml)
    return path


def _duplicates_json(duplicates: dict) -> dict[str, list[str]]:
    return {url: [entry.describe() for entry in listed] for url, listed in duplicates.items()}


def _md(text: Any) -> str:
    from cdr_dagster.reports.markdown import escape

    return escape(str(text))


def _bad_lines_table(bad_lines: list) -> str:
    rows = ["| line | text | problem |", "| --- | --- | --- |"]
    rows.extend(f"| {b.line} | {_md(b.text)} | {_md(b.reason)} |" for b in bad_lines)
    return "\n".join(rows) + "\n"


def _metadata(sitemap: Any) -> dict[str, Any]:
    return {
        "entries": sitemap.entries,
        "urls": len(sitemap.urls),
        "urls_by_dictionary": dg.MetadataValue.json(sitemap.by_key),
        "unpublished_entries": len(sitemap.unpublished),
        "urls_by_cdr_id": len(sitemap.by_id),
        "duplicate_urls_left_out": len(sitemap.duplicates),
        "repeated_entries": sum(len(listed) - 1 for listed in sitemap.repeated.values()),
        "bytes": len(sitemap.xml),
        "preview": dg.MetadataValue.md(_preview(sitemap)),
    }


def _preview(sitemap: Any) -> str:
    """Markdown: counts, duplicates, unpublished entries, name-less entries, first URLs."""
    lines = [
        "### Dictionary sitemap",
        "",
        f"{len(sitemap.urls)} URLs from {sitemap.entries} entries: "
        + ", ".join(f"{key} {count}" for key, count in sitemap.by_key.items()),
        "",
    ]
    if sitemap.duplicates:
        lines += ["**URLs shared by different CDR ids (left out)**", ""]
        lines += ["| URL | entries |", "| --- | --- |"]
        for url, listed in sitemap.duplicates.items():
            used = "; ".join(entry.describe() for entry in listed)
            lines.append(f"| {_md(url)} | {_md(used)} |")
        lines.append("")
    if sitemap.unpublished:
        lines += ["**Entries not on cancer.gov (skipped)**", ""]
        lines += [f"- {_md(entry.describe())}" for entry in sitemap.unpublished[:SHOWN_ROWS]]
        lines.append("")
    if sitemap.by_id:
        lines += ["**Entries whose name gives no URL (CDR id used)**", ""]
        lines += [f"- {_md(item.entry.describe())}: {_md(item.url)}" for item in sitemap.by_id]
        lines.append("")
    lines += ["**First URLs**", ""]
    lines += [f"- {_md(url)}" for url in sitemap.urls[:SHOWN_ROWS]]
    return "\n".join(lines) + "\n"
