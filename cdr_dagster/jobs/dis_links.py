"""Temporary links of Drug Information Summaries: the monthly report and the removal.

- ``report_expiring_links`` (legacy ``expiring_links.ReportTask``,
  docs/behaviour-notes.md#expiring-links-report): mails the
  temporary links that the next monthly removal will take, so editors can keep the ones still
  wanted;
- ``remove_expired_links`` (legacy ``expired_links.LinkRemover``,
  docs/behaviour-notes.md#expired-link-removal): takes the
  temporary links posted more than three years ago out of the documents through the global
  change harness (:mod:`cdr_dagster.cdr.global_change`).

Both use one expiry rule (:mod:`cdr_dagster.cdr.dis_links`): a temporary link expires when it
was posted ON OR BEFORE the cutoff. Run config: ``{ops: {report_expiring_links_op: {config: ...}}}``
and ``{ops: {remove_expired_links_op: {config: ...}}}``.
"""

import re
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, field_validator

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource

SENDER = "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
SUBJECT = "Drug Information Summaries Expiring Links"
GROUPS = {"live": "Expiring Links Notification", "test": "Test Publishing Notification"}
TABLE_STYLE = (
    "font-family: Arial, sans-serif; width: 80%; border: 1px solid #999; "
    "border-collapse: collapse; margin-top: 30px"
)
CAPTION_STYLE = "font-size: 1.5em; font-weight: bold;"
CELL_STYLES = {"border": "1px solid #999", "padding": ".2em", "margin": "auto"}
EMPTY_TEXT = "No links are scheduled to expire."


def _checked_cutoff(value: str | None) -> str | None:
    """``value`` if it is None or a ``YYYY-MM-DD`` date; ValueError naming it otherwise."""
    if value is None:
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cutoff {value!r} is not a YYYY-MM-DD date") from None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"cutoff {value!r} is not a YYYY-MM-DD date")
    return value


class ReportExpiringLinksConfig(dg.Config):
    """Options of the expiring-links report (legacy ``expiring_links.ReportTask``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="live: mail the Expiring Links Notification group; test: the Test "
        "Publishing Notification group (the legacy job crashed in test mode without recip).",
    )
    recip: str | None = Field(
        default=None, description="One address that gets the report instead of the group."
    )
    cutoff: str | None = Field(
        default=None,
        description="YYYY-MM-DD: list temporary links posted on or before this date (default: "
        "today minus three years plus one month, what next month's removal will take).",
    )

    @field_validator("cutoff")
    @classmethod
    def _cutoff_is_a_date(cls, value: str | None) -> str | None:
        return _checked_cutoff(value)


def expiring_links_report(links, today: date):  # noqa: ANN001, ANN201 - cdr and reports types
    """The legacy report: no heading, one captioned table of posted date, CDR id and URL."""
    from cdr_dagster.reports import Column, Report, Table

    table = Table(
        columns=[Column("Expires"), Column("CDR ID"), Column("URL")],
        rows=[[link.posted, f"CDR{link.doc_id}", link.url] for link in links],
        caption=f"Expiring Links Report - {today.isoformat()}",
        caption_style=CAPTION_STYLE,
        style=TABLE_STYLE,
        header_styles=dict(CELL_STYLES),
        cell_styles=dict(CELL_STYLES),
        empty_text=EMPTY_TEXT,
    )
    return Report(title="Expiring Links", blocks=[table], show_heading=False)


@dg.op(
    name="report_expiring_links_op",
    description="Mail the Drug Information Summary temporary links due for removal.",
)
def report_expiring_links_op(
    context: dg.OpExecutionContext,
    config: ReportExpiringLinksConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
) -> None:
    """Find the links posted on or before the cutoff, build the report, mail it."""
    from cdr_dagster.cdr.dis_links import expiring_links, report_cutoff
    from cdr_dagster.reports import render_html, render_markdown

    today = date.today()
    cutoff = config.cutoff or report_cutoff(today)
    with cdr_db.connect() as conn:
        links = expiring_links(conn, cutoff)
    context.log.info(f"found {len(links)} expiring links (posted on or before {cutoff})")
    report = expiring_links_report(links, today)
    mailer = email.from_sender(SENDER)
    if config.recip:
        sent = mailer.send(SUBJECT, render_html(report), to=[config.recip], html=True)
    else:
        sent = mailer.send(SUBJECT, render_html(report), group=GROUPS[config.mode], html=True)
    context.log.info(f"sent {sent.subject} to {', '.join(sent.recipients)}")
    context.add_output_metadata(
        {
            "cutoff": cutoff,
            "links": dg.MetadataValue.int(len(links)),
            "documents": dg.MetadataValue.int(len({link.doc_id for link in links})),
            "recipients": dg.MetadataValue.json(list(sent.recipients)),
            "report": dg.MetadataValue.md(render_markdown(report)),
        }
    )


@dg.job(
    name="report_expiring_links",
    description=(
        "Monthly e-mail of the temporary links in Drug Information Summaries that the next "
        "monthly remove_expired_links run will take out (legacy expiring_links.ReportTask): "
        "those posted on or before today minus three years plus one month, by document, newest "
        "first. The 'Expires' column shows the posted date, as the legacy report did. Choices: "
        "a link expires when posted ON OR BEFORE the cutoff, as the legacy selected it, in this "
        "report and in the removal alike (the legacy removal left a link posted on the cutoff "
        "day in place); test mode mails the Test Publishing Notification group (the "
        "legacy job crashed there without recip)."
    ),
    tags={**lane_tags("chores"), "cdr/family": "links"},
)
def report_expiring_links_job() -> None:
    """The one-op expiring-links report job."""
    report_expiring_links_op()


class RemoveExpiredLinksConfig(dg.Config):
    """Options of the expired-link removal (legacy ``expired_links.LinkRemover``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="live: save the changed documents; test: write each document's before and "
        "after XML and a diff under CDR_BASEDIR/GlobalChange/<run time>/ and save nothing.",
    )
    cutoff: str | None = Field(
        default=None,
        description="YYYY-MM-DD: remove temporary links posted on or before this date (default: "
        "today minus three years).",
    )

    @field_validator("cutoff")
    @classmethod
    def _cutoff_is_a_date(cls, value: str | None) -> str | None:
        return _checked_cutoff(value)


def removal_report(result, cutoff: str, removed: dict[int, set]):  # noqa: ANN001, ANN201
    """The run's outcome per document, for the run's metadata."""
    from cdr_dagster.reports import BulletList, Column, Paragraph, Report, Table

    rows = []
    for outcome in result.documents:
        if outcome.error is not None:
            status = f"failed, nothing saved: {outcome.error}"
        elif outcome.checked_out_by is not None and not result.test_mode:
            status = f"skipped: checked out by {outcome.checked_out_by}"
        else:
            kinds = outcome.would_save if result.test_mode else tuple(outcome.saved)
            status = ("would save " if result.test_mode else "saved ") + (
                ", ".join(
                    f"{kind} v{outcome.saved[kind]}" if outcome.saved.get(kind) else kind
                    for kind in kinds
                )
                or "nothing"
            )
            if result.test_mode and outcome.checked_out_by is not None:
                status += f" (checked out by {outcome.checked_out_by}: a live run would skip it)"
        links = "; ".join(
            f"{posted} {url}" for posted, url in sorted(removed.get(outcome.doc_id, ()))
        )
        rows.append([outcome.cdr_id, links, status])
    mode = "test" if result.test_mode else "live"
    blocks = [
        Paragraph(
            f"{mode} run, temporary links posted on or before {cutoff}; {len(result.documents)} "
            f"documents examined, {len(result.changed)} changed, {len(result.locked)} checked "
            f"out by others, {len(result.failed)} failed."
        ),
        Table(
            columns=[Column("Document"), Column("Links removed"), Column("Outcome")],
            rows=rows,
            empty_text="No document has expired temporary links.",
        ),
    ]
    counts = result.save_counts()
    if counts:
        blocks.append(BulletList([f"{kind}: {count}" for kind, count in counts.items()]))
    if result.output_folder is not None:
        blocks.append(Paragraph(f"Before/after files: {result.output_folder}"))
    return Report(title="Removing expired temporary links", blocks=blocks)


@dg.op(
    name="remove_expired_links_op",
    description="Remove the expired temporary links from Drug Information Summaries.",
)
def remove_expired_links_op(
    context: dg.OpExecutionContext,
    config: RemoveExpiredLinksConfig,
    cdr_db: CdrDatabaseResource,
    commands: CommandRunnerResource,
) -> None:
    """Select the documents, run the global change, record the outcome; fail if any failed."""
    from cdr_dagster.cdr import dis_links
    from cdr_dagster.cdr.global_change import GlobalChange, output_folder, run_global_change
    from cdr_dagster.reports import render_markdown

    started = datetime.now()
    cutoff = config.cutoff or dis_links.removal_cutoff(started.date())
    with cdr_db.connect() as conn:
        doc_ids = dis_links.documents_with_expired_links(conn, cutoff)
    context.log.info(f"found {len(doc_ids)} documents with expired links (before {cutoff})")
    removed: dict[int, set[tuple[str, str]]] = {}

    def transform(doc_id: int, xml: str) -> str:
        removal = dis_links.remove_expired_links(xml, cutoff, name=f"CDR{doc_id}")
        for link in removal.removed:
            if (link.posted, link.url) not in removed.setdefault(doc_id, set()):
                removed[doc_id].add((link.posted, link.url))
                context.log.info(
                    f"removing DrugReference block from CDR{doc_id} posted {link.posted} "
                    f"for URL {link.url!r}"
                )
        return removal.xml

    test = config.mode != "live"
    change = GlobalChange(
        transform=transform,
        user=dis_links.LINK_ACCOUNT,
        comment=dis_links.REMOVAL_COMMENT,
        test_mode=test,
        output_folder=output_folder(Path(commands.basedir), started) if test else None,
        program="remove_expired_links",
    )
    result = run_global_change(cdr_db.engine, doc_ids, change, context.log)
    report = removal_report(result, cutoff, removed)
    metadata: dict[str, dg.RawMetadataValue] = {
        "cutoff": cutoff,
        "documents_examined": dg.MetadataValue.int(len(result.documents)),
        "documents_changed": dg.MetadataValue.int(len(result.changed)),
        "checked_out_by_others": dg.MetadataValue.json(
            {d.cdr_id: d.checked_out_by for d in result.locked}
        ),
        "failed": dg.MetadataValue.json({d.cdr_id: d.error for d in result.failed}),
        "saves": dg.MetadataValue.json(result.save_counts()),
        "links_removed": dg.MetadataValue.int(
            sum(len(removed.get(d.doc_id, ())) for d in result.changed)
        ),
        "report": dg.MetadataValue.md(render_markdown(report)),
    }
    if result.output_folder is not None:
        metadata["test_output"] = dg.MetadataValue.path(str(result.output_folder))
    if result.failed:
        raise dg.Failure(
            f"{len(result.failed)} of {len(result.documents)} documents could not be changed "
            "(each was rolled back): " + "; ".join(f"{d.cdr_id}: {d.error}" for d in result.failed),
            metadata=metadata,
        )
    context.add_output_metadata(metadata)


@dg.job(
    name="remove_expired_links",
    description=(
        "Monthly removal of the temporary links (DrugReference blocks with TemporaryLink=Yes) "
        "posted more than three years ago from Drug Information Summaries (legacy "
        "expired_links.LinkRemover), as the CDR account linksweeper with the comment "
        "'Removing expired temporary links'. Each changed document gets new versions as the "
        "legacy global change made them: unversioned edits kept as a version first, the last "
        "publishable version re-saved as a new publishable version, the working copy updated. "
        "Choices: a link is selected when posted ON OR BEFORE the cutoff, as the legacy "
        "selected it, and removed by the same rule (the legacy removal left a link posted on "
        "the cutoff day in place, saving its document unchanged); all saves of a document are one "
        "transaction, so a failed save leaves it untouched and the others still run (the run "
        "then fails, naming it); documents checked out by someone are skipped and listed. "
        "Test mode writes CDR{id}.{cwd,pub,lastv}{old,new}.xml and .diff files under "
        "CDR_BASEDIR/GlobalChange/<run time>/ and saves nothing."
    ),
    tags={**lane_tags("chores"), "cdr/family": "links", "cdr/lock": "remove_expired_links"},
)
def remove_expired_links_job() -> None:
    """The one-op expired-link removal job."""
    remove_expired_links_op()
