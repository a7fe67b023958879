"""The PDQ s/FTP access logs as data: the mirrored, normalized log and the monthly report.

- ``sftp_access_log`` (legacy ``sftp_logs.Refresh``, docs/behaviour-notes.md#sftp-log-refresh):
  mirrors the s/FTP server's
  log folder into ``CDR_BASEDIR/sftp_log`` over SFTP (files missing locally or differing in
  size or time are fetched; nothing local is ever deleted, so the monthly archives build up),
  then appends the new session-opened and open lines of the latest monthly log and of
  ``pdq.log`` to ``cumulative.log``, normalized and de-duplicated. Malformed lines are
  counted and listed with file and line number; an asset check warns about them.
- ``pdq_access_report`` (legacy ``pdq_access_log.Report``,
  docs/behaviour-notes.md#pdq-access-report), one partition per month: every
  retrieval by a PDQ partner in that month, read from the month's own raw logs in the mirror
  (every line counts, as the legacy counted them), as the legacy
  ``PDQPartnerDownloads_YYYY-MM.xlsx`` workbook (plus a sheet of logins and retrievals per
  partner) saved under ``CDR_BASEDIR/reports`` and mailed. Backfill any month whose raw logs
  the mirror holds from the UI; a month without any fails naming the log it needs, and an
  asset check warns when the logs read do not yet reach past the month's end.

Run config: ``sftp_access_log`` takes none; ``pdq_access_report`` takes its Config at
``{ops: {pdq_access_report: {config: ...}}}``, run by ``pdq_access_report_job`` with a
partition key.
"""

import re
from datetime import date, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field, field_validator

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.sftp import SftpResource
from cdr_dagster.settings import TIMEZONE

#: The s/FTP server's log folder (docs/behaviour-notes.md#sftp-log-format).
REMOTE_LOG_DIR = "/sftp/sftphome/cdrstaging/logs"
#: The local mirror and cumulative log, under CDR_BASEDIR.
LOG_FOLDER = "sftp_log"
REPORT_SENDER = "NCI PDQ Operator <NCIPDQoperator@mail.nih.gov>"
REPORT_RECIPIENT = "NCIContentDissemination@nih.gov"
REPORT_FOLDER = r"L:\OCPL\_CROSS\CDR\Reports\FTP Stats"
MALFORMED_CHECK = "no_malformed_lines"
COVERAGE_CHECK = "log_covers_month"
SHOWN_MALFORMED = 50

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date="2020-01-01", timezone=TIMEZONE)


def _malformed_table(malformed) -> str:  # noqa: ANN001 - list of MalformedLine
    rows = ["| file | line | problem |", "| --- | --- | --- |"]
    for item in malformed[:SHOWN_MALFORMED]:
        reason = item.reason.replace("|", "\\|")
        rows.append(f"| {item.source} | {item.line_number} | {reason} |")
    if len(malformed) > SHOWN_MALFORMED:
        rows.append(f"| ... | | {len(malformed) - SHOWN_MALFORMED} more |")
    return "\n".join(rows)


@dg.asset(
    name="sftp_access_log",
    description=(
        "The PDQ s/FTP server's access logs, mirrored to CDR_BASEDIR/sftp_log, and "
        "cumulative.log: every session-opened and file-open line, normalized to "
        "'YYYY-MM-DD HH:MM:SS host sshd[PID]: message' and de-duplicated (legacy "
        "sftp_logs.Refresh, daily on DEV). Malformed lines are listed, never fatal."
    ),
    group_name="partners",
    kinds={"file"},
    check_specs=[
        dg.AssetCheckSpec(
            MALFORMED_CHECK,
            asset="sftp_access_log",
            description="Every session-opened and open line of the logs read could be parsed.",
        )
    ],
)
def sftp_access_log(
    context: dg.AssetExecutionContext, sftp: SftpResource, commands: CommandRunnerResource
) -> dg.MaterializeResult:
    """Mirror the remote log folder, then top up the cumulative log."""
    from cdr_dagster.cdr.sftp_logs import top_up_cumulative_log

    folder = Path(commands.basedir) / LOG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with sftp.connect() as session:
        fetched = session.mirror_to_local(REMOTE_LOG_DIR, folder)
    context.log.info(f"fetched {len(fetched)} file(s) from {sftp.where}: {', '.join(fetched)}")
    try:
        result = top_up_cumulative_log(folder, date.today())
    except FileNotFoundError as exc:
        raise dg.Failure(str(exc)) from exc
    if result.truncated_partial_line is not None:
        context.log.warning(
            f"cut an unfinished last line from {result.cumulative}: "
            f"{result.truncated_partial_line!r}"
        )
    context.log.info(
        f"{result.added_from_monthly} new lines from {result.monthly_log.name}, "
        f"{result.added_from_current} from pdq.log"
    )
    for item in result.malformed[:SHOWN_MALFORMED]:
        context.log.warning(f"malformed line {item}")
    malformed = len(result.malformed)
    return dg.MaterializeResult(
        metadata={
            "files_fetched": dg.MetadataValue.json(fetched),
            "monthly_log": result.monthly_log.name,
            "added_from_monthly_log": dg.MetadataValue.int(result.added_from_monthly),
            "added_from_pdq_log": dg.MetadataValue.int(result.added_from_current),
            "lines_read": dg.MetadataValue.json(result.lines_read),
            "malformed_lines": dg.MetadataValue.int(malformed),
            "cumulative_log": dg.MetadataValue.path(str(result.cumulative)),
            "cumulative_log_bytes": dg.MetadataValue.int(result.cumulative.stat().st_size),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=MALFORMED_CHECK,
                passed=malformed == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "malformed_lines": dg.MetadataValue.int(malformed),
                    "where": dg.MetadataValue.md(_malformed_table(result.malformed)),
                },
            )
        ],
    )


class PdqAccessReportConfig(dg.Config):
    """Options of the access report (legacy ``pdq_access_log.Report``)."""

    month: str | None = Field(
        default=None,
        description="YYYYMM of the month to report. The partition chooses the month; when "
        "given (imported legacy schedules), it must name the partition's month.",
    )
    noemail: bool = Field(default=False, description="Save the workbook without sending it.")
    recips: list[str] = Field(
        default_factory=lambda: [REPORT_RECIPIENT],
        description="Recipients of the workbook (no test-tier rerouting, as in the legacy).",
    )
    resend: bool = Field(
        default=False,
        description="Only e-mail the workbook already saved for the month (it must exist).",
    )

    @field_validator("month")
    @classmethod
    def _month_is_yyyymm(cls, value: str | None) -> str | None:
        if value is not None and not (
            re.fullmatch(r"\d{6}", value.strip()) and 1 <= int(value.strip()[4:]) <= 12
        ):
            raise ValueError(f"month {value!r} is not a month in the form YYYYMM")
        return value.strip() if value is not None else None


def _report_body(label: str, logs: tuple[Path, ...]) -> str:
    names = ", ".join(str(log) for log in logs) or "(none)"
    return (
        f"The attached report lists every document downloaded from the PDQ s/FTP server by "
        f"the PDQ data partners in {label}.\n\n"
        f"It was built from the s/FTP access logs {names}.\n\n"
        f"Please save it to the network folder {REPORT_FOLDER}, where the Clinical Trials "
        "team can reach it.\n\n"
        "Reply to this message with any questions.\n"
    )


@dg.asset(
    name="pdq_access_report",
    description=(
        "Monthly report of the PDQ partners' s/FTP retrievals (legacy pdq_access_log.Report, "
        "on the 1st on DEV): the workbook PDQPartnerDownloads_YYYY-MM.xlsx under "
        "CDR_BASEDIR/reports (every retrieval, plus logins and retrievals per partner), "
        "e-mailed to NCIContentDissemination. Built from the month's own raw logs in "
        "sftp_access_log's mirror (pdq.log-YYYYMMDD.gz, every line counted); one partition "
        "per month, so any month whose logs exist can be backfilled."
    ),
    group_name="partners",
    kinds={"excel"},
    partitions_def=monthly_partitions,
    deps=[sftp_access_log],
    check_specs=[
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset="pdq_access_report",
            description="The month's raw logs include one rotated after the month ended (or "
            "the current log reaches past it), so no retrieval of the month can be missing.",
        )
    ],
)
def pdq_access_report(
    context: dg.AssetExecutionContext,
    config: PdqAccessReportConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    commands: CommandRunnerResource,
) -> dg.MaterializeResult:
    """Build (unless resending), save and mail one month's access workbook."""
    from cdr_dagster.cdr.control import control_value
    from cdr_dagster.cdr.partners import ftp_partner_names
    from cdr_dagster.cdr.sftp_logs import (
        MonthRequests,
        month_bounds,
        month_logs,
        month_requests,
        non_partner_logins,
        partner_activity,
        scan_month_logs,
        write_access_workbook,
    )
    from cdr_dagster.reports import Report, Table, render_markdown

    month_start = context.partition_time_window.start.date()
    first, following = month_bounds(month_start)
    if config.month is not None and config.month[:6] != f"{first:%Y%m}":
        raise dg.Failure(
            f"month {config.month!r} is not the partition's month {first:%Y%m}; launch the "
            "partition of the month you want instead"
        )
    label = f"{first:%B %Y}"
    base = Path(commands.basedir)
    workbook = base / "reports" / f"PDQPartnerDownloads_{first:%Y-%m}.xlsx"
    folder = base / LOG_FOLDER
    logs = month_logs(folder, first, following)
    metadata: dict[str, dg.RawMetadataValue] = {
        "workbook": dg.MetadataValue.path(str(workbook)),
        "logs_read": dg.MetadataValue.json([path.name for path in logs.paths]),
    }
    latest: date | None = None
    if config.resend:
        if not workbook.is_file():
            raise dg.Failure(f"cannot resend: {workbook} does not exist")
        context.log.info(f"resending {workbook}")
    else:
        if not logs.paths:
            raise dg.Failure(
                f"no s/FTP log of {label} in {folder}: {logs.expected_name(following)} (or "
                f"pdq.log, before that rotation) is needed; sftp_access_log mirrors what the "
                "server still keeps"
            )
        context.log.info(f"reading {', '.join(path.name for path in logs.paths)}")
        with cdr_db.connect() as conn:
            partners = ftp_partner_names(conn)
            non_partners = non_partner_logins(control_value(conn, "PDQ", "non-partners", ""))
        events = scan_month_logs(logs, date.today())
        month: MonthRequests = month_requests(events, first, partners, non_partners)
        write_access_workbook(workbook, month, label, datetime.now().date(), partners)
        activity = partner_activity(month)
        preview = Report(
            title=f"Downloads for {label}",
            blocks=[
                Table(
                    columns=["Login", "Partner", "Logins", "Retrievals"],
                    rows=[[a.login, a.partner, a.logins, a.retrievals] for a in activity],
                    caption=f"{len(month.requests)} retrievals",
                )
            ],
        )
        metadata.update(
            {
                "retrievals": dg.MetadataValue.int(len(month.requests)),
                "logins": dg.MetadataValue.int(sum(month.logins.values())),
                "partners": dg.MetadataValue.int(len([a for a in activity if a.retrievals])),
                "dropped_non_partner": dg.MetadataValue.int(month.dropped_non_partner),
                "malformed_log_lines": dg.MetadataValue.int(len(month.malformed)),
                "preview": dg.MetadataValue.md(render_markdown(preview)),
            }
        )
        latest = month.latest_day
    check = dg.AssetCheckResult(
        check_name=COVERAGE_CHECK,
        passed=logs.rotated_past_end
        or (logs.current_continues and latest is not None and latest >= following),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "latest_log_day": latest.isoformat() if latest else "none",
            "logs_read": dg.MetadataValue.json([path.name for path in logs.paths]),
        },
    )
    if not config.noemail:
        mailer = email.from_sender(REPORT_SENDER)
        sent = mailer.send(
            f"SFTP Log - PDQ Distribution Partner Access Report ({label})",
            _report_body(label, logs.paths),
            to=config.recips,
            attachments=[workbook],
            tier_prefix=False,
        )
        metadata["recipients"] = dg.MetadataValue.json(list(sent.recipients))
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


sftp_access_log_job = dg.define_asset_job(
    "sftp_access_log_job",
    selection=[sftp_access_log],
    description="Mirror the s/FTP logs and top up the cumulative log (sftp_access_log).",
    tags={**lane_tags("chores"), "cdr/family": "partners", "cdr/lock": "sftp_log"},
)

pdq_access_report_job = dg.define_asset_job(
    "pdq_access_report_job",
    selection=[pdq_access_report],
    description="Build and mail one month's PDQ partner access report (pdq_access_report).",
    tags={**lane_tags("chores"), "cdr/family": "partners"},
)
