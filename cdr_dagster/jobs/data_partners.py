"""PDQ data partner chores: the weekly notification and the monthly partner list.

- ``notify_data_partners`` (legacy ``data_partners.Notify``,
  docs/behaviour-notes.md#partner-notification): tells every open
  partner contact that this week's export is on the s/FTP site, warns test accounts nearing
  expiry, expires the ones past it (their Licensee document becomes ``Test-expired``) and mails
  the operators a summary. The work is :class:`cdr_dagster.cdr.partners.PartnerNotifier`.
- ``data_partner_list_report`` (legacy ``licensee_list.ReportTask``,
  docs/behaviour-notes.md#partner-list): the HTML list
  of Production and Test partner accounts, each with its last retrieval from the
  ``sftp_access_log`` asset's cumulative log (the legacy job asked a CGI script hard-wired to
  the DEV host).

Config follows the legacy options (``cdr_dagster/legacy/catalogue.py``): run config
``{ops: {notify_data_partners_op: {config: ...}}}`` and
``{ops: {data_partner_list_report_op: {config: ...}}}``.
"""

from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import TIMEZONE, cdr_today

LIST_TITLE = "List of PDQ Content Distribution Partners"
LIST_SUBJECT = "PDQ Distribution Partner List"
LIST_GROUPS = {"test": "Test Publishing Notification", "live": "Licensee Report Notification"}
#: Where ``sftp_access_log`` keeps the mirrored logs and the cumulative log, under CDR_BASEDIR.
SFTP_LOG_FOLDER = "sftp_log"


class NotifyDataPartnersConfig(dg.Config):
    """Options of the partner notification (legacy ``data_partners.Notify``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="test: test subjects and texts, partner mail to the test recipients, no "
        "database rows and no Licensee saves. live: the real notification (partner mail is "
        "still redirected to the test recipients on tiers other than PROD).",
    )
    job: int | None = Field(
        default=None,
        description="pub_proc id of the export to announce (default: the newest successful "
        "Export job); taken as given, whatever its subset or status.",
    )
    recip: str | None = Field(
        default=None,
        description="One address that gets the summary instead of the PDQ Partner "
        "Notification group; in test mode or off PROD it also gets every partner message.",
    )
    superlog: bool = Field(
        default=False, description="Log each whole message at DEBUG level after sending it."
    )


@dg.op(
    name="notify_data_partners_op",
    description="Notify the PDQ data partners of this week's export; warn and expire test "
    "accounts; mail the summary to the operators.",
)
def notify_data_partners_op(
    context: dg.OpExecutionContext,
    config: NotifyDataPartnersConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    commands: CommandRunnerResource,
) -> None:
    """Run the notification; resumable (a re-execution continues where the failure was)."""
    from cdr_dagster.cdr.partners import (
        SENDER,
        NotifySettings,
        PartnerError,
        PartnerNotifier,
        html_list_items,
    )
    from cdr_dagster.reports import BulletList, Paragraph, Report, render_markdown

    mailer = email.from_sender(SENDER)

    def send(subject: str, body: str, to: list[str]) -> None:
        mailer.send(subject, body, to=to, html=True, tier_prefix=False)

    settings = NotifySettings(
        mode=config.mode,
        tier=email.tier.strip().upper(),
        basedir=Path(commands.basedir),
        today=cdr_today(),
        recip=config.recip or None,
        job_id=config.job,
        superlog=config.superlog,
        resume=context.run.parent_run_id is not None,
    )
    try:
        result = PartnerNotifier(cdr_db.engine, settings, send, context.log).run()
    except PartnerError as exc:
        raise dg.Failure(str(exc)) from exc
    preview = Report(
        title=f"Summary Report on Notification: {result.subject}",
        blocks=[
            Paragraph(
                f"Export job {result.export.id}, {result.export.date_label}; mode "
                f"{config.mode} on {settings.tier}."
            ),
            BulletList(list(html_list_items(result.report_html)) or ["(no vendors)"]),
        ],
    )
    context.add_output_metadata(
        {
            "export_job": dg.MetadataValue.int(result.export.id),
            "contacts": dg.MetadataValue.int(result.contacts),
            "notified": dg.MetadataValue.int(len(result.notified)),
            "skipped_already_notified": dg.MetadataValue.int(len(result.skipped)),
            "warned": dg.MetadataValue.int(len(result.warned)),
            "expired": dg.MetadataValue.int(len(result.expired)),
            "licensee_versions_saved": dg.MetadataValue.json(
                {str(k): v for k, v in result.saved_versions.items()}
            ),
            "messages_sent": dg.MetadataValue.int(result.messages_sent),
            "steps_already_done": dg.MetadataValue.int(result.resumed_steps),
            "problems": dg.MetadataValue.json(result.errors),
            "report_file": dg.MetadataValue.path(str(result.report_file)),
            "summary": dg.MetadataValue.md(render_markdown(preview)),
        }
    )


@dg.job(
    name="notify_data_partners",
    description=(
        "Weekly notice to the PDQ data partners that a new export is on the s/FTP site "
        "(legacy data_partners.Notify, Mondays 15:00 on PROD). Test accounts 80 days past "
        "their start are warned, those 100 days past it get an expiration notice and their "
        "Licensee document is saved as Test-expired. Every data notice is recorded in "
        "data_partner_notification and every message in a journal beside the export, so a "
        "re-executed run mails nobody twice. A live run on a tier other than PROD sends the "
        "partner mail to the test recipients but records and saves in that tier's database."
    ),
    tags={**lane_tags("chores"), "cdr/family": "partners", "cdr/lock": "notify_data_partners"},
)
def notify_data_partners_job() -> None:
    """The one-op partner notification job."""
    notify_data_partners_op()


class DataPartnerListConfig(dg.Config):
    """Options of the partner list (legacy ``licensee_list.ReportTask``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="test: mail to the Test Publishing Notification group; live: to the "
        "Licensee Report Notification group.",
    )
    recip: str | None = Field(default=None, description="The one recipient replacing the group.")
    skip_email: bool = Field(default=False, description="Save the report without sending it.")


def partner_list_report(rows, accesses, today: date):  # noqa: ANN001, ANN201 - reports types
    """The partner list as a report model (docs/behaviour-notes.md#partner-list)."""
    from cdr_dagster.reports import NOWRAP, Column, Report, Table, report_date

    active = sum(1 for row in rows if row.active)
    dates = {"cell_styles": NOWRAP}
    table = Table(
        columns=[
            Column("CDR ID"),
            Column("Partner Name"),
            Column("Status"),
            Column("Test Started", **dates),
            Column("Test Renewed", **dates),
            Column("Test Removed", **dates),
            Column("Prod Started", **dates),
            Column("Prod Removed", **dates),
            Column("Last Access", **dates),
        ],
        rows=[
            [
                row.doc_id,
                row.name,
                row.status,
                row.test_activation,
                row.test_extension,
                row.test_inactivation,
                row.production_activation,
                row.production_inactivation,
                accesses[row.ftp_userid.lower()].day.isoformat()
                if row.ftp_userid and row.ftp_userid.lower() in accesses
                else None,
            ]
            for row in rows
        ],
        caption=f"Active Partners: {active} - Test Partners: {len(rows) - active}",
        caption_style="font-weight: bold; font-size: 1.3em;",
        style="width: 80%; border: 1px solid #999; border-collapse: collapse; margin-top: 30px;",
    )
    return Report(
        title=LIST_TITLE,
        blocks=[report_date(today), table],
        heading_style="font-family: Arial;",
        charset="ascii",
    )


@dg.op(
    name="data_partner_list_report_op",
    description="Build, save and mail the list of Production and Test PDQ partner accounts.",
)
def data_partner_list_report_op(
    context: dg.OpExecutionContext,
    config: DataPartnerListConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    commands: CommandRunnerResource,
) -> None:
    """Query the licensees, add each one's last access, save the HTML and mail it."""
    from cdr_dagster.cdr.partners import licensee_list
    from cdr_dagster.cdr.sftp_logs import CUMULATIVE_LOG, iter_normalized, last_accesses
    from cdr_dagster.reports import render_html, render_markdown

    log = Path(commands.basedir) / SFTP_LOG_FOLDER / CUMULATIVE_LOG
    if not log.is_file():
        raise dg.Failure(
            f"the s/FTP cumulative log {log} does not exist: materialize sftp_access_log on "
            "this tier first (last accesses come from it)"
        )
    accesses = last_accesses(iter_normalized(log))
    with cdr_db.connect() as conn:
        rows = licensee_list(conn)
    now = datetime.now(ZoneInfo(TIMEZONE))  # file stamps in New York time, as other reports
    report = partner_list_report(rows, accesses, now.date())
    page = render_html(report)
    saved = Path(commands.basedir) / "reports" / f"licensees-{now:%Y%m%dT%H%M%S}.html"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(page.encode("ascii"))
    context.log.info(f"saved {saved}")
    metadata: dict[str, dg.RawMetadataValue] = {
        "partners": dg.MetadataValue.int(len(rows)),
        "active": dg.MetadataValue.int(sum(1 for r in rows if r.active)),
        "test": dg.MetadataValue.int(sum(1 for r in rows if not r.active)),
        "logins_with_access": dg.MetadataValue.int(len(accesses)),
        "report_file": dg.MetadataValue.path(str(saved)),
        "preview": dg.MetadataValue.md(render_markdown(report)),
    }
    if not config.skip_email:
        if config.recip:
            sent = email.send(LIST_SUBJECT, page, to=[config.recip], html=True)
        else:
            sent = email.send(LIST_SUBJECT, page, group=LIST_GROUPS[config.mode], html=True)
        metadata["recipients"] = dg.MetadataValue.json(list(sent.recipients))
    context.add_output_metadata(metadata)


@dg.job(
    name="data_partner_list_report",
    description=(
        "Monthly HTML list of the PDQ partner accounts in Production or Test status with their "
        "status dates and last retrieval (legacy licensee_list.ReportTask), saved under "
        "CDR_BASEDIR/reports and mailed. Last accesses come from the sftp_access_log asset, so "
        "run it on the tier that keeps that log (DEV)."
    ),
    tags={**lane_tags("chores"), "cdr/family": "partners"},
)
def data_partner_list_report_job() -> None:
    """The one-op partner list job."""
    data_partner_list_report_op()
