"""The glossary terms the CMS glossifier uses: asset ``glossifier_terms`` (legacy
``glossifier_refresh.Task``, docs/behaviour-notes.md#glossifier).

Each run builds, from the GlossaryTermName documents on cancer.gov, the map phrase -> document
-> language -> dictionaries (:mod:`cdr_dagster.cdr.glossifier`) and then, as the legacy job:

1. posts it to every CMS server the CDR registers for this tier (ctl ``glossary-servers``; none
   registered: the tier's Drupal host) through the ``cms`` resource, each with a time limit; a
   server that fails is recorded and the others are still sent to;
2. saves the map in the ``glossifier`` table (row pk 1, created if missing);
3. when a server failed, mails ``[TIER] Failure sending glossary information`` to ``recip`` or
   the Developers Notification group (the legacy job built that message and never sent it);
4. when phrases are claimed by several documents, mails the duplicate-mappings report to
   ``recip`` or the GlossaryDupGroup group, every run while they exist.

Checks: ``cms_servers_updated`` (fails when a server did not take the terms) and
``glossary_mappings_unique`` (warns about duplicates, which are left out of the map). The run
itself succeeds once the map is saved: the asset is the map, and the failing check and the mail
say which server missed it. Config mirrors the legacy options ``log-level`` and ``recip``.

(No ``from __future__ import annotations``: Dagster reads the Config and resource annotations.)
"""

import logging
import socket
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from cdr_dagster.config_checks import LogLevelOption
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.cms import CmsResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP

GROUP = "cms_glossifier"
CHECK_SERVERS = "cms_servers_updated"
CHECK_UNIQUE = "glossary_mappings_unique"
SHOWN_ROWS = 50


class GlossifierConfig(dg.Config):
    """Options of a glossifier refresh (the legacy glossifier_refresh.Task options)."""

    log_level: LogLevelOption = Field(
        default="INFO",
        description="Lowest level logged: DEBUG (counts of each step), INFO, WARNING, ERROR.",
    )
    recip: str | None = Field(
        default=None,
        description="One address that receives both messages instead of the Developers "
        "Notification and GlossaryDupGroup groups.",
    )


@dg.asset(
    name="glossifier_terms",
    description=(
        "The glossary map of the CMS glossifier: each normalised phrase of the published "
        "GlossaryTermName documents (and the external-map phrases) -> CDR id -> en/es -> "
        "dictionaries, posted to every CMS server registered for the tier and saved in the "
        "CDR glossifier table. Phrases claimed by several documents are left out and reported."
    ),
    group_name=GROUP,
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_SERVERS,
            asset="glossifier_terms",
            description="Every CMS server registered for the tier took the terms.",
        ),
        dg.AssetCheckSpec(
            CHECK_UNIQUE,
            asset="glossifier_terms",
            description="Each phrase + language + dictionary belongs to one glossary term name.",
        ),
    ],
)
def glossifier_terms(
    context: dg.AssetExecutionContext,
    config: GlossifierConfig,
    cdr_db: CdrDatabaseResource,
    cms: CmsResource,
    email: EmailResource,
):
    """Refresh the glossifier terms (see the module docstring)."""
    from cdr_dagster.cdr.glossifier import (
        DUPLICATES_GROUP,
        collect_terms,
        duplicates_message,
        failure_message,
        registered_servers,
        save_terms,
    )

    level = _level(config)

    def debug(message: str) -> None:
        if level <= logging.DEBUG:
            context.log.debug(message)

    with cdr_db.connect() as conn:
        terms = collect_terms(conn, debug=debug)
        servers = cms.servers(registered_servers(conn))
    for problem in terms.skipped:
        context.log.warning(f"left out: {problem}")
    payload = terms.payload()

    results = cms.push(servers, payload)
    for result in results:
        if result.ok:
            context.log.info(f"Sent glossary to server {result.alias!r} at {result.base}")
        else:
            context.log.error(
                f"Failure sending glossary to server {result.alias!r} at {result.base}: "
                f"{result.detail}"
            )

    stored = terms.python_repr()
    with cdr_db.begin() as conn:
        existed = save_terms(conn, stored, datetime.now())
    context.log.info(f"saved glossifier names ({len(stored)} characters)")

    mails: list[tuple[str, str, str]] = []
    failures = [(r.alias, r.base, r.detail) for r in results if not r.ok]
    if failures:
        subject, body = failure_message(failures)
        sent = _send(email, subject, body, config.recip, DEVELOPERS_GROUP, tier_prefix=True)
        context.log.error(f"failure notice sent to {', '.join(sent.recipients)}")
        mails.append((sent.subject, ", ".join(sent.recipients), body))
    if terms.duplicates:
        subject, body = duplicates_message(terms.duplicates, socket.gethostname().split(".")[0])
        sent = _send(email, subject, body, config.recip, DUPLICATES_GROUP, tier_prefix=False)
        context.log.info(f"duplicate mapping notification sent to {', '.join(sent.recipients)}")
        mails.append((sent.subject, ", ".join(sent.recipients), body))

    server_rows = [
        {"alias": r.alias, "url": r.base, "ok": r.ok, "status": r.status, "detail": r.detail}
        for r in results
    ]
    yield dg.AssetCheckResult(
        check_name=CHECK_SERVERS,
        passed=not failures,
        description=(
            f"{len(results)} server(s) took the terms"
            if not failures
            else f"{len(failures)} of {len(results)} server(s) failed"
        ),
        metadata={"servers": dg.MetadataValue.json(server_rows)},
    )
    yield dg.AssetCheckResult(
        check_name=CHECK_UNIQUE,
        passed=not terms.duplicates,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every mapping is unique"
            if not terms.duplicates
            else f"{len(terms.duplicates)} duplicate mapping(s) left out"
        ),
        metadata={"duplicates": dg.MetadataValue.json(_duplicates_json(terms.duplicates))},
    )
    yield dg.MaterializeResult(
        metadata={
            "phrases": len(payload),
            "documents": terms.documents,
            "concepts_with_dictionaries": terms.concepts,
            "external_map_phrases": dg.MetadataValue.json(terms.phrases),
            "duplicates": len(terms.duplicates),
            "documents_left_out": len(terms.skipped),
            "servers": dg.MetadataValue.json(server_rows),
            "servers_failed": len(failures),
            "glossifier_row": "updated" if existed else "created",
            "preview": dg.MetadataValue.md(_preview(terms, payload, results, mails)),
        }
    )


glossifier_terms_job = dg.define_asset_job(
    "glossifier_terms_job",
    selection=[glossifier_terms],
    description="Refresh the glossifier terms on the CMS servers (asset glossifier_terms).",
    tags={**lane_tags("chores"), "cdr/lock": "glossifier_terms"},
)

assets = [glossifier_terms]
jobs = [glossifier_terms_job]


# ---------------------------------------------------------------------------------------------


def _level(config: GlossifierConfig) -> int:
    return getattr(logging, config.log_level)


def glossifier_sender(hostname: str | None = None) -> str:
    """``cdr@<host>.nci.nih.gov``, host being this machine's short name in lower case."""
    host = (hostname or socket.gethostname()).split(".")[0].lower()
    return f"cdr@{host}.nci.nih.gov"


def _send(
    email: EmailResource,
    subject: str,
    body: str,
    recip: str | None,
    group: str,
    *,
    tier_prefix: bool,
) -> Any:
    """Mail ``recip`` when given, else the CDR group (an empty group is an error), from
    :func:`glossifier_sender` as the legacy job sent."""
    email = email.from_sender(glossifier_sender())
    if recip and recip.strip():
        return email.send(subject, body, to=[recip.strip()], tier_prefix=tier_prefix)
    return email.send(subject, body, group=group, tier_prefix=tier_prefix)


def _duplicates_json(duplicates: dict) -> list[dict[str, Any]]:
    return [
        {"phrase": key, "language": lang, "dictionary": dictionary, "documents": ids}
        for (key, lang, dictionary), ids in duplicates.items()
    ]


def _md(text: Any) -> str:
    from cdr_dagster.reports.markdown import escape

    return escape(str(text))


def _preview(terms: Any, payload: dict, results: list, mails: list) -> str:
    """Markdown: servers, counts, mails sent, duplicates, the first phrases."""
    lines = [
        "### Glossifier terms",
        "",
        f"{len(payload)} phrases from {terms.documents} glossary term names",
        "",
        "| server | URL | outcome |",
        "| --- | --- | --- |",
    ]
    for r in results:
        outcome = ("ok: " if r.ok else "FAILED: ") + r.detail
        lines.append(f"| {_md(r.alias)} | {_md(r.base)} | {_md(outcome)} |")
    lines.append("")
    for subject, recipients, body in mails:
        lines += [f"**Mail** to {_md(recipients)}", "", f"Subject: {_md(subject)}", ""]
        lines += [f"> {_md(line)}" if line else ">" for line in body.splitlines()]
        lines.append("")
    lines += ["**First phrases**", "", "| phrase | CDR id | languages |", "| --- | --- | --- |"]
    for key in list(payload)[:SHOWN_ROWS]:
        for doc_id, languages in payload[key].items():
            shown = "; ".join(f"{lang}: {', '.join(d) or '-'}" for lang, d in languages.items())
            lines.append(f"| {_md(key)} | {doc_id} | {_md(shown)} |")
    return "\n".join(lines) + "\n"
