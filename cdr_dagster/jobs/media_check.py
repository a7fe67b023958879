"""``check_media``: compare the Akamai media set with the published Media documents.

Legacy ``media.Check`` (docs/behaviour-notes.md#media-check); the work is in
:mod:`cdr_dagster.media`. The run
locks ``BASEDIR/akamai/media`` by renaming it to ``media.locked`` (the lock the publishing push
takes too; the op also joins the Dagster concurrency pool ``akamai_media``, which the push's op
should join), compares the files the last-pushed Media versions should produce with the
folder, optionally fixes a clone and promotes it, optionally runs rsync to Akamai (a local
folder in local mode), and always leaves ``media`` unlocked. Any failure leaves ``media`` as it
was and removes the working clone. The report goes by mail as the legacy's did (subject
``[TIER] Media File Check``) when there are errors, changes, or rsync ran; errors also fail
the run.
"""

import re
from datetime import datetime

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.akamai import MEDIA_LOCK, AkamaiResource
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP, TIMEZONE

#: The concurrency pool of everything that changes the Akamai media folders.
MEDIA_POOL = MEDIA_LOCK


class CheckMediaConfig(dg.Config):
    """Options of the media check (legacy debug, fix, force, nolock, recip, rsync)."""

    fix: bool = Field(
        default=False, description="Correct the discrepancies (in a clone, then promoted)."
    )
    nolock: bool = Field(
        default=False,
        description="Do not rename media to media.locked while checking (ignored with fix).",
    )
    recip: list[str] = Field(
        default_factory=list,
        description="Report recipients (default: the Developers Notification group).",
    )
    rsync: bool = Field(
        default=False, description="Push the corrected files to Akamai (only with fix)."
    )
    force: bool = Field(default=False, description="Run rsync even without discrepancies.")
    debug: bool = Field(
        default=False, description="Log each document checked and a listing of the media folder."
    )


def recipients(values: list[str]) -> list[str]:
    """The legacy split: commas become spaces, then whitespace separates addresses."""
    return [word for value in values for word in re.split(r"[\s,]+", value) if word]


@dg.op(
    name="check_media_op",
    description="Compare BASEDIR/akamai/media with the published Media documents; fix and rsync.",
    pool=MEDIA_POOL,
)
def check_media_op(
    context: dg.OpExecutionContext,
    config: CheckMediaConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    akamai: AkamaiResource,
    commands: CommandRunnerResource,
) -> None:
    """Run the check, record the result, mail the report, fail on errors."""
    from zoneinfo import ZoneInfo

    from cdr_dagster.cdr.media import media_version, published_media_versions
    from cdr_dagster.media.check import CheckOptions, run_check
    from cdr_dagster.media.expected import expected_files
    from cdr_dagster.media.report import SUBJECT, build_report, should_send
    from cdr_dagster.reports import render_html, render_markdown

    log = context.log
    options = CheckOptions(
        fix=config.fix,
        nolock=config.nolock,
        rsync=config.rsync,
        force=config.force,
        debug=config.debug,
    )
    now = datetime.now(ZoneInfo(TIMEZONE))
    stamp = now.strftime("%Y%m%d%H%M%S")

    def fix_permissions(path):
        result = commands.run(akamai.fix_permissions_script, [str(path)], log=log)
        if result.exit_code != 0:
            tail = "\n".join(result.output_tail)
            raise RuntimeError(f"{akamai.fix_permissions_script} {path}: {tail}")

    with cdr_db.connect() as conn:

        def load(doc_id, version):
            found = media_version(conn, doc_id, version)
            return expected_files(doc_id, found.export_suffix(), found.blob, found.name)

        result = run_check(
            lambda: published_media_versions(conn),
            load,
            akamai.media_folders(),
            options,
            stamp=stamp,
            rsync=lambda path: akamai.rsync(path, log=log),
            fix_permissions=fix_permissions if akamai.fix_permissions_script else None,
            log=log,
        )

    report = build_report(result, now.date())
    counts = result.counts
    metadata: dict[str, dg.RawMetadataValue] = {
        "documents": dg.MetadataValue.int(result.documents),
        "files_compared": dg.MetadataValue.int(result.files_compared),
        "bytes_compared": dg.MetadataValue.int(result.bytes_compared),
        "added": dg.MetadataValue.int(counts["added"]),
        "modified": dg.MetadataValue.int(counts["modified"]),
        "dropped": dg.MetadataValue.int(counts["dropped"]),
        "errors": dg.MetadataValue.int(len(result.errors)),
        "rsync_ran": dg.MetadataValue.bool(result.rsync_ran),
        "promoted": dg.MetadataValue.bool(result.promoted),
        "working_folder": dg.MetadataValue.text(result.directory),
        "report": dg.MetadataValue.md(render_markdown(report)),
    }
    if should_send(result, options):
        to = recipients(config.recip)
        sent = email.send(
            SUBJECT,
            render_html(report),
            to=to or None,
            group=None if to else DEVELOPERS_GROUP,
            html=True,
        )
        log.info(f"Notified {', '.join(sent.recipients)}")
        metadata["mailed_to"] = dg.MetadataValue.text(", ".join(sent.recipients))
    else:
        log.info("No mismatches or errors to report")
    if result.errors:
        raise dg.Failure(description="media check: " + "; ".join(result.errors), metadata=metadata)
    context.add_output_metadata(metadata)


@dg.job(
    name="check_media",
    description=(
        "Media file check (legacy media.Check): compares BASEDIR/akamai/media with the files "
        "the last-pushed Media versions should produce (audio/{id}.mp3; images/{id}.jpg and "
        "the 571 and 750 pixel widths), reports added/modified/dropped files by mail, and "
        "with fix corrects a clone and promotes it, with rsync pushes it to Akamai. Locks by "
        "renaming media to media.locked, as the publishing push does; always unlocks."
    ),
    tags={**lane_tags("chores"), "cdr/lock": MEDIA_LOCK, "cdr/family": "files"},
)
def check_media_job() -> None:
    """The one-op media check job."""
    check_media_op()
