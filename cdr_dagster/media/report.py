"""The media check's report mail, as the legacy sent it
(docs/behaviour-notes.md#media-check-report).

Subject ``Media File Check`` (the e-mail resource adds ``[TIER] ``); an H3 "Media Files
Check", the report date, one bold red paragraph per error, the bold blue "Ran rsync from
{folder} to Akamai." when rsync ran and nothing failed, and the table "Changes in Media Files"
(Path, Action). Sent only when there are errors, changes, or rsync ran or was forced.
"""

from __future__ import annotations

from datetime import date

from cdr_dagster.media.check import CheckOptions, CheckResult
from cdr_dagster.reports import ERROR_STYLE, INFO_STYLE, Paragraph, Report, Table, report_date

SUBJECT = "Media File Check"
TITLE = "Media Files Check"


def should_send(result: CheckResult, options: CheckOptions) -> bool:
    """Errors, changes, or rsync (run or forced): the legacy's condition."""
    return bool(result.errors or result.rows or result.rsync_ran or options.force)


def build_report(result: CheckResult, today: date) -> Report:
    """The report of one check."""
    blocks: list = [report_date(today)]
    blocks += [Paragraph(error, ERROR_STYLE) for error in result.errors]
    if not result.errors and result.rsync_ran:
        blocks.append(Paragraph(f"Ran rsync from {result.directory} to Akamai.", INFO_STYLE))
    if result.rows:
        blocks.append(
            Table(
                columns=["Path", "Action"],
                rows=[list(row) for row in result.rows],
                caption="Changes in Media Files",
            )
        )
    return Report(title=TITLE, blocks=blocks)
