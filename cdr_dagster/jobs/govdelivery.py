"""``govdelivery_reports`` (legacy ``gov_delivery_reports.ReportTask``,
docs/behaviour-notes.md#govdelivery-reports).

Each week, one HTML report per language of the PDQ summaries (and, in English, the Drug
Information Summaries) that the last weekly publishing run put on Cancer.gov, new or revised,
for the staff who write the GovDelivery bulletins. Each report is saved as
``CDR_BASEDIR/reports/gd-{english|spanish}-YYYYMMDDTHHMMSS[.test].html``, mailed, and shown as
Markdown in the run's metadata. The rows come from :mod:`cdr_dagster.cdr.govdelivery`.

Run config: ``{ops: {govdelivery_reports_op: {config: ...}}}``.
"""

import os
import tempfile
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, field_validator

from cdr_dagster.config_checks import TierOption
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import TIMEZONE, cdr_today

REPORT_KEYS = ("english", "spanish")


class GovDeliveryReport(StrEnum):
    """A report the job builds (an enum, so Dagster's config schema lists the choices)."""

    english = "english"
    spanish = "spanish"


class GovDeliveryReportsConfig(dg.Config):
    """Options of the GovDelivery reports (legacy ``gov_delivery_reports.ReportTask``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="live: mail each report to its GovDelivery EN/ES Docs Notification group; "
        "test: to the Test Publishing Notification group, and saved as *.test.html.",
    )
    reports: list[GovDeliveryReport] = Field(
        default_factory=lambda: [GovDeliveryReport(key) for key in REPORT_KEYS],
        description="Reports to build, in this order: english and/or spanish.",
    )
    skip_email: bool = Field(default=False, description="Save the reports without mailing them.")
    start: str | None = Field(
        default=None,
        description="Start of the range, YYYY-MM-DD HH:MM:SS (a date alone means midnight); "
        "default: the start of the Export behind the second-newest weekly push.",
    )
    end: str | None = Field(
        default=None,
        description="End of the range, YYYY-MM-DD HH:MM:SS (a date alone means midnight); "
        "default: the start of the Export behind the newest weekly push.",
    )
    recip: str | None = Field(
        default=None, description="One address that gets every report instead of the group."
    )
    tier: TierOption = Field(
        default=None,
        description="Legacy option naming the tier whose database is read. This location "
        "reads its own cdr_db only, so a tier other than its own is refused.",
    )
    timeout: int = Field(
        default=300, description="Seconds any one database query may take before it fails."
    )

    @field_validator("reports", mode="before")
    @classmethod
    def _known_reports(cls, value: list[str]) -> list[str]:
        keys = [str(item).strip().lower() for item in value]
        unknown = [item for item in keys if item not in REPORT_KEYS]
        if unknown:
            raise ValueError(
                f"unknown report(s) {', '.join(map(repr, unknown))}; expected english, spanish"
            )
        return keys

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"timeout {value} must be a positive number of seconds")
        return value


@contextmanager
def query_timeout(conn, seconds: int):  # noqa: ANN001, ANN201 - a SQLAlchemy Connection
    """Limit each query on ``conn`` to ``seconds`` (PostgreSQL and SQL Server; SQLite has none)."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds) * 1000}")
        yield
    elif name == "mssql":  # pyodbc's per-connection query timeout, restored for the pool
        raw = conn.connection.dbapi_connection
        before = raw.timeout
        raw.timeout = int(seconds)
        try:
            yield
        finally:
            raw.timeout = before
    else:
        yield


def save_report_file(folder: Path, stem: str, suffix: str, page: str) -> Path:
    """Save the page as UTF-8 under ``stem + suffix`` in ``folder`` and return the path.

    Written to a temporary file first, then linked into place without replacing anything: a
    report saved in the same second (two runs of a backfill) gets ``stem-2``, ``stem-3``...
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(page.encode("utf-8"))
        number = 1
        while True:
            path = folder / f"{stem}{'' if number == 1 else f'-{number}'}{suffix}"
            try:
                os.link(temporary, path)
                return path
            except FileExistsError:
                number += 1
    finally:
        Path(temporary).unlink(missing_ok=True)


@dg.op(
    name="govdelivery_reports_op",
    description="Build, save and mail the weekly GovDelivery reports of new and revised "
    "PDQ summaries.",
)
def govdelivery_reports_op(
    context: dg.OpExecutionContext,
    config: GovDeliveryReportsConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    commands: CommandRunnerResource,
) -> None:
    """Each report in turn: query, save, mail; a failing report does not stop the next."""
    from zoneinfo import ZoneInfo

    from cdr_dagster.cdr import govdelivery as gd
    from cdr_dagster.reports import render_html, render_markdown
    from cdr_dagster.resources.email import NoRecipientsError

    local_tier = email.tier.strip().upper()
    if config.tier and config.tier != local_tier:
        raise dg.Failure(
            f"tier {str(config.tier)!r} is not this location's tier {local_tier}: the report reads "
            f"this location's CDR database; run it on {config.tier} instead"
        )
    try:
        start = gd.parse_moment(config.start, "start") if config.start else None
        end = gd.parse_moment(config.end, "end") if config.end else None
    except gd.GovDeliveryError as exc:
        raise dg.Failure(str(exc)) from exc
    mailer = email.from_sender(gd.SENDER)
    folder = Path(commands.basedir) / "reports"
    metadata: dict[str, dg.RawMetadataValue] = {}
    failed: list[str] = []
    with cdr_db.connect() as conn, query_timeout(conn, config.timeout):
        try:
            window = gd.export_window(conn)
        except gd.GovDeliveryError as exc:
            raise dg.Failure(str(exc)) from exc
        start = start or window.start
        end = end or window.end
        if start > end:
            raise dg.Failure(f"start {start} is after end {end}")
        context.log.info(f"range {start} to {end}; {window.label}")
        today = cdr_today()
        for key in config.reports:
            try:
                tables = gd.report_tables(conn, key, start, end, context.log.info)
                report = gd.govdelivery_report(key, start, end, window, tables, today)
                page = render_html(report)
                stamp = datetime.now(ZoneInfo(TIMEZONE)).strftime("%Y%m%dT%H%M%S")
                test = ".test" if config.mode == "test" else ""
                saved = save_report_file(folder, f"gd-{key}-{stamp}", f"{test}.html", page)
                context.log.info(f"created {saved}")
                metadata[f"{key}_report"] = dg.MetadataValue.md(render_markdown(report))
                metadata[f"{key}_file"] = dg.MetadataValue.path(str(saved))
                metadata[f"{key}_rows"] = dg.MetadataValue.json(
                    {table.caption: len(table.rows) for table in tables}
                )
                if config.skip_email:
                    context.log.info(f"{key}: skipping email")
                    continue
                if config.recip:
                    sent = mailer.send(report.title, page, to=[config.recip], html=True)
                else:
                    group = gd.GROUPS[key] if config.mode == "live" else gd.TEST_GROUP
                    try:
                        sent = mailer.send(report.title, page, group=group, html=True)
                    except NoRecipientsError:
                        context.log.error(f"no email recipients for {group}")
                        failed.append(f"{key}: no email recipients for {group}")
                        continue
                context.log.info(f"sent {sent.subject} to {', '.join(sent.recipients)}")
                metadata[f"{key}_recipients"] = dg.MetadataValue.json(list(sent.recipients))
            except Exception as exc:  # noqa: BLE001 - each report runs on its own
                context.log.exception(f"{key} report: {exc}")
                failed.append(f"{key}: {exc}")
    metadata["range"] = f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S}"
    metadata["export_window"] = window.label
    context.add_output_metadata(metadata)
    context.log.info(f"{config.mode} job completed")
    if failed:
        raise dg.Failure("GovDelivery report(s) failed: " + "; ".join(failed))


@dg.job(
    name="govdelivery_reports",
    description=(
        "Weekly GovDelivery reports (legacy gov_delivery_reports.ReportTask): new and revised "
        "PDQ summaries by audience (English also Drug Information Summaries) that the last "
        "weekly publishing run put on Cancer.gov, between the starts of the Exports behind the "
        "two newest successful weekly pushes. Each report is saved under CDR_BASEDIR/reports "
        "and mailed to GovDelivery EN/ES Docs Notification (live) or Test Publishing "
        "Notification (test mode; the legacy job crashed there without a recip). Choices: "
        "the file is saved before mailing; a report that fails or has no recipients fails the "
        "run after the others ran; a date-only start/end means midnight; a summary with two "
        "change sections is listed once."
    ),
    tags={**lane_tags("chores"), "cdr/family": "reports"},
)
def govdelivery_reports_job() -> None:
    """The one-op GovDelivery reports job."""
    govdelivery_reports_op()
