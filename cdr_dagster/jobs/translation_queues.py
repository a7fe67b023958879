"""``translation_queue_reports``: the Spanish translation queue reports (legacy
``translation_jobs.ReportTask``, docs/behaviour-notes.md#translation-queue-reports).

One run reports on one queue (``doctype``: Summary, Media or Glossary), as each legacy row did:

- ``schedule: weekly`` mails the translation team leads (group ``Spanish Translation Leads``)
  the queue's jobs in the state ``Ready for Translation``. Summary has a weekly report too
  (the legacy one always failed for want of a query);
- ``schedule: nightly`` mails each translator with jobs in the queue one report with a table
  per workflow state. A translator without an e-mail address is logged as an error and
  skipped; the others still get theirs.

``mode: test`` sends everything to the ``Test Translation Queue Recips`` group (nightly reports
then say whom live mode would have mailed); ``recip`` sends everything to one address instead.
The queries, grouping and report layout are in :mod:`cdr_dagster.cdr.translation_queues`.
Run config: ``{ops: {translation_queue_reports_op: {config: ...}}}``.
"""

from typing import Literal

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import cdr_today


class TranslationQueueReportsConfig(dg.Config):
    """Options of the translation queue reports (legacy mode, doctype, schedule, recip)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="test: every report goes to the Test Translation Queue Recips group; "
        "live: the weekly report to the Spanish Translation Leads group, each nightly report "
        "to its translator.",
    )
    doctype: Literal["Summary", "Media", "Glossary"] = Field(
        default="Summary", description="The translation queue to report on."
    )
    schedule: Literal["nightly", "weekly"] = Field(
        default="nightly",
        description="nightly: one report per translator, a table per state; weekly: the "
        "team leads' list of jobs ready for translation.",
    )
    recip: str | None = Field(
        default=None,
        description="One address that gets every report instead of the live or test recipients.",
    )


def _check_address(value: str | None) -> None:
    if value is None:
        return
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value.strip()):
        raise dg.Failure(f"recip {value!r} is not an e-mail address")


@dg.op(
    name="translation_queue_reports_op",
    description="Mail the weekly ready-for-translation list or the nightly per-translator "
    "reports of one translation queue.",
)
def translation_queue_reports_op(
    context: dg.OpExecutionContext,
    config: TranslationQueueReportsConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
) -> None:
    """Query the queue, build the report(s), mail them and preview them in the metadata."""
    from cdr_dagster.cdr import translation_queues as tq
    from cdr_dagster.cdr.groups import group_email_addresses
    from cdr_dagster.reports import render_html, render_markdown
    from cdr_dagster.resources.email import EmailError

    _check_address(config.recip)
    today = cdr_today()
    test_mode = config.mode == "test"
    recip = config.recip.strip() if config.recip else None
    sent: list[dict[str, object]] = []
    previews: list[str] = []
    metadata: dict[str, dg.RawMetadataValue] = {}

    def send(subject: str, report, to: list[str], about: str) -> None:  # noqa: ANN001
        try:
            done = email.send(subject, render_html(report), to=to, html=True)
        except EmailError as exc:
            raise dg.Failure(
                f"{about}: {exc}",
                metadata={"sent_before_failure": dg.MetadataValue.json(sent)},
            ) from exc
        context.log.info(f"sent {done.subject} to {', '.join(done.recipients)}")
        sent.append({"about": about, "to": list(done.recipients)})

    with cdr_db.connect() as conn:
        if config.schedule == "weekly":
            jobs = tq.ready_for_translation(conn, config.doctype)
        else:
            jobs = tq.open_jobs(conn, config.doctype)
        group = tq.TEST_GROUP if test_mode else tq.LEADS_GROUP
        group_members = group_email_addresses(conn, group)

    if config.schedule == "weekly":
        report = tq.weekly_report(config.doctype, jobs, today)
        previews.append(render_markdown(report))
        to = [recip] if recip else group_members
        if to:
            send(tq.weekly_subject(config.doctype), report, to, f"weekly {config.doctype}")
        else:
            context.log.error(f"no email recipients for {group}")
        metadata["jobs"] = dg.MetadataValue.int(len(jobs))
    else:
        people = tq.assignees(jobs)
        without_email = [p.name for p in people if not p.email]
        for name in without_email:
            context.log.error(f"user {name} has no email address")
        reached = [p for p in people if p.email]
        for person in reached:
            report = tq.assignee_report(config.doctype, person, today, test_mode=test_mode)
            previews.append(render_markdown(report))
            to = [recip] if recip else (group_members if test_mode else [person.email or ""])
            if not to:
                context.log.error(f"no email recipients for {group}")
                continue
            send(tq.nightly_subject(config.doctype), report, to, f"report for {person.name}")
        metadata["jobs"] = dg.MetadataValue.int(sum(len(p.jobs) for p in reached))
        metadata["translators"] = dg.MetadataValue.int(len(reached))
        metadata["users_without_email"] = dg.MetadataValue.json(without_email)

    metadata["messages"] = dg.MetadataValue.json(sent)
    metadata["report"] = dg.MetadataValue.md(
        "\n---\n\n".join(previews)
        if previews
        else f"No {config.doctype} jobs for a translator with an e-mail address."
    )
    context.add_output_metadata(metadata)


@dg.job(
    name="translation_queue_reports",
    description=(
        "Spanish translation queue reports (legacy translation_jobs.ReportTask): weekly, the "
        "Glossary, Media or Summary jobs Ready for Translation to the Spanish Translation "
        "Leads; nightly, each translator's jobs in one queue, a table per state. mode=test "
        "sends everything to Test Translation Queue Recips; recip to one address."
    ),
    tags={**lane_tags("chores"), "cdr/family": "translation"},
)
def translation_queue_reports_job() -> None:
    """The one-op translation queue report job."""
    translation_queue_reports_op()
