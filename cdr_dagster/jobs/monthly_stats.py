"""``monthly_stats_report`` (legacy ``pcib_stats.ReportTask``,
docs/behaviour-notes.md#pcib-statistics), one partition a month.

The monthly management report of how many documents were published or revised: summaries,
dictionary terms and definitions, pronunciation audio, genetics professionals, drug terms,
Drug Information Summaries, new board members, board meetings and images, each with the list
of documents. The partition is the month reported (the newest is the previous month), so an
operator backfills any range of months from the UI. Saved as
``CDR_BASEDIR/reports/cdr-stats-YYYYMMDDTHHMMSS[.test].html``, mailed, and shown as Markdown in
the run's metadata. The counts come from :mod:`cdr_dagster.cdr.monthly_stats`.

Run config: ``{ops: {monthly_stats_report_op: {config: ...}}}`` with a partition key
(``YYYY-MM-01``).
"""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, field_validator

from cdr_dagster.cdr.monthly_stats_sections import SECTION_NAMES
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import TIMEZONE

#: One partition per calendar month (America/New_York); the newest is the last complete month.
monthly_stats_partitions = dg.MonthlyPartitionsDefinition(
    start_date="2016-01-01", timezone=TIMEZONE, end_offset=0
)


def _day(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def split_sections(items: list[str]) -> list[str]:
    """Section names from items that may each hold several, split on commas and whitespace."""
    return [word.lower() for item in items for word in item.replace(",", " ").split()]


class MonthlyStatsConfig(dg.Config):
    """Options of the statistics report (legacy ``pcib_stats.ReportTask``)."""

    mode: Literal["test", "live"] = Field(
        default="test",
        description="live: mail to the ICRDB Statistics Notification group; test: to the Test "
        "Publishing Notification group, and saved as *.test.html.",
    )
    recips: list[str] = Field(
        default_factory=list, description="Addresses that get the report instead of the group."
    )
    start: str | None = Field(
        default=None,
        description="First day reported, YYYY-MM-DD (default: the partition's first day). With "
        "start or end the title reads '{title} from START to END'.",
    )
    end: str | None = Field(
        default=None,
        description="Last day reported, YYYY-MM-DD (default: the partition's last day).",
    )
    sections: list[str] = Field(
        default_factory=list,
        description="Sections to include (default all): summary, glossary, genetics, drug, dis, "
        "boardmembers, boardmeetings, image; audio alone is the glossary's pronunciation part. "
        "They always appear in that order.",
    )
    email: bool = Field(default=True, description="Mail the report (it is saved either way).")
    docs: bool = Field(default=True, description="Include the tables listing the documents.")
    ids: bool = Field(default=True, description="Include a CDR ID column in those tables.")
    max_docs: int = Field(default=0, description="At most this many rows per table; 0 = all.")
    title: str = Field(default="PCIB Statistics Report", description="Base title of the report.")
    log_level: str | None = Field(
        default=None,
        description="Legacy logging level; the counts are logged at info, the run log keeps "
        "every level (filter it in the UI).",
    )

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        return _day(value, "start")

    @field_validator("end")
    @classmethod
    def _end(cls, value: str | None) -> str | None:
        return _day(value, "end")

    @field_validator("sections")
    @classmethod
    def _sections(cls, value: list[str]) -> list[str]:
        unknown = [w for w in split_sections(value) if w not in SECTION_NAMES]
        if unknown:
            raise ValueError(
                f"unknown section(s) {', '.join(map(repr, unknown))}; expected some of "
                + ", ".join(SECTION_NAMES)
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() not in ("info", "debug", "error"):
            raise ValueError(f"log_level {value!r} is not one of info, debug, error")
        return value.strip().lower() if value else None

    @field_validator("max_docs")
    @classmethod
    def _max_docs(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"max_docs {value} must be 0 (all) or more")
        return value


@dg.op(
    name="monthly_stats_report_op",
    description="Count, list, save and mail one month's PCIB statistics.",
)
def monthly_stats_report_op(
    context: dg.OpExecutionContext,
    config: MonthlyStatsConfig,
    cdr_db: CdrDatabaseResource,
    email: EmailResource,
    commands: CommandRunnerResource,
) -> None:
    """Build the report for the partition's month (or the configured days), save it, mail it."""
    from zoneinfo import ZoneInfo

    from cdr_dagster.cdr import monthly_stats as ms
    from cdr_dagster.jobs.govdelivery import save_report_file
    from cdr_dagster.reports import render_html, render_markdown

    now = datetime.now(ZoneInfo(TIMEZONE))
    if context.has_partition_key:
        window = context.partition_time_window  # the month: its first day to the next's
        month = ms.StatsRange(window.start.date(), window.end.date() - timedelta(days=1))
    else:
        month = ms.previous_month(now.date())
    start = date.fromisoformat(config.start) if config.start else month.start
    end = date.fromisoformat(config.end) if config.end else month.end
    try:
        days = ms.StatsRange(start, end)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    title = ms.report_title(config.title, days, month)
    context.log.info(f"{config.mode} job started for {title}")
    with cdr_db.connect() as conn:
        sections = ms.stats_sections(
            conn, days, split_sections(config.sections) or SECTION_NAMES, context.log.info
        )
    report = ms.stats_report(
        title,
        days,
        sections,
        now.date(),
        docs=config.docs,
        ids=config.ids,
        max_docs=config.max_docs,
    )
    page = render_html(report)
    test = ".test" if config.mode == "test" else ""
    folder = Path(commands.basedir) / "reports"
    saved = save_report_file(folder, f"cdr-stats-{now:%Y%m%dT%H%M%S}", f"{test}.html", page)
    context.log.info(f"created {saved}")
    metadata: dict[str, dg.RawMetadataValue] = {
        "title": title,
        "range": f"{days.start} to {days.end}",
        "counts": dg.MetadataValue.json(
            {
                section.name: [[label.strip(), n] for label, n in section.counts if n is not None]
                for section in sections
            }
        ),
        "report_file": dg.MetadataValue.path(str(saved)),
        "report": dg.MetadataValue.md(render_markdown(report)),
    }
    if config.email:
        mailer = email.from_sender(ms.SENDER)
        if config.recips:
            sent = mailer.send(title, page, to=config.recips, html=True)
        else:
            group = ms.LIVE_GROUP if config.mode == "live" else ms.TEST_GROUP
            sent = mailer.send(title, page, group=group, html=True)
        context.log.info(f"sent {sent.subject} to {', '.join(sent.recipients)}")
        metadata["recipients"] = dg.MetadataValue.json(list(sent.recipients))
    else:
        context.log.info("skipping email of reports")
    context.add_output_metadata(metadata)
    context.log.info("job completed")


@dg.job(
    name="monthly_stats_report",
    description=(
        "Monthly PCIB statistics report (legacy pcib_stats.ReportTask, on the 1st): documents "
        "first published or revised in the partition's month (summaries, dictionary, audio, "
        "genetics professionals, drug terms, DIS, new board members, board meetings, images), "
        "counted and listed, saved under CDR_BASEDIR/reports and mailed to ICRDB Statistics "
        "Notification (live) or Test Publishing Notification (test). One partition per month; "
        "backfill any months from the UI. Choices: range, title and counts are computed for "
        "each run (the legacy froze the month at its first run and its counters grew from "
        "run to run); start/end override the partition's days; a value counts when it falls "
        "on a day of the range, to the end of the last day; the groups' expired accounts get "
        "no mail; the file is saved before mailing and a failed mailing fails the run."
    ),
    partitions_def=monthly_stats_partitions,
    tags={**lane_tags("chores"), "cdr/family": "reports"},
)
def monthly_stats_report_job() -> None:
    """The one-op monthly statistics job."""
    monthly_stats_report_op()
