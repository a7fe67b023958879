"""The Spanish translation queues (Glossary, Media, Summary) and their e-mailed reports.

docs/behaviour-notes.md#translation-queue-reports. Two reports read the three queue tables:

- the weekly report for the translation team leads: the jobs of one queue in the state
  ``Ready for Translation`` (:func:`ready_for_translation`, :func:`weekly_report`);
- the nightly report for each translator: all of that translator's jobs in one queue, one
  table per workflow state (:func:`open_jobs`, :func:`assignees`, :func:`assignee_report`).

Every queue has a weekly query here, Summary included: the legacy job had none for summaries,
so a weekly Summary run always failed (docs/behaviour-notes.md#translation-queue-reports).

Jobs whose document is deleted drop out through the ``document`` view; users are not filtered
on ``usr.expired`` (a translator who left still owns jobs until they are reassigned). State
names are compared case-insensitively and titles sort case-insensitively, as on the CDR's
SQL Server; ties are broken by document id so the order is the same on every database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import groupby

from sqlalchemy import Column, Select, Table, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import (
    doc_type,
    document,
    glossary_translation_job,
    glossary_translation_state,
    media_translation_job,
    media_translation_state,
    query_term,
    summary_translation_job,
    summary_translation_state,
    usr,
)
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.reports import NOWRAP, Paragraph, Report, report_date
from cdr_dagster.reports import Column as ReportColumn
from cdr_dagster.reports import Table as ReportTable

#: The queues, by the document type name the reports use (legacy option ``doctype``).
DOCTYPES = ("Summary", "Media", "Glossary")
#: The state the weekly report lists.
READY_FOR_TRANSLATION = "Ready for Translation"
#: Summary jobs in this state are left out of the nightly report (Media and Glossary keep them
#: until an administrator purges them, as the legacy reports did).
MADE_PUBLISHABLE = "Translation Made Publishable"
#: Test mode sends every report to this group (legacy "Test Translation Queue Recips").
TEST_GROUP = "Test Translation Queue Recips"
#: The weekly report's recipients in live mode.
LEADS_GROUP = "Spanish Translation Leads"
#: The ``query_term`` path linking a GlossaryTermName to its concept.
NAME_CONCEPT_PATH = "/GlossaryTermName/GlossaryTermConcept/@cdr:ref"
CONCEPT_TYPE = "GlossaryTermConcept"
TEST_BANNER = "*** TEST MESSAGE *** LIVE MODE WOULD HAVE GONE TO {}"


class UnknownQueueError(ValueError):
    """A document type with no translation queue."""


@dataclass(frozen=True)
class Queue:
    """One translation queue: its job and state tables and the column naming the document."""

    doctype: str
    jobs: Table
    states: Table
    doc_id: Column
    #: Summaries leave the nightly report once made publishable; the others stay listed.
    nightly_excludes_publishable: bool
    #: Glossary nightly rows sort by the state's day, then title (the legacy sorted them in
    #: Python on the date's first ten characters); the others by the full state date.
    sort_by_day: bool


QUEUES = {
    "Summary": Queue(
        "Summary",
        summary_translation_job,
        summary_translation_state,
        summary_translation_job.c.english_id,
        nightly_excludes_publishable=True,
        sort_by_day=False,
    ),
    "Media": Queue(
        "Media",
        media_translation_job,
        media_translation_state,
        media_translation_job.c.english_id,
        nightly_excludes_publishable=False,
        sort_by_day=False,
    ),
    "Glossary": Queue(
        "Glossary",
        glossary_translation_job,
        glossary_translation_state,
        glossary_translation_job.c.doc_id,
        nightly_excludes_publishable=False,
        sort_by_day=True,
    ),
}


def queue(doctype: str) -> Queue:
    """The queue of ``doctype`` (Summary, Media or Glossary; exact spelling)."""
    try:
        return QUEUES[doctype]
    except KeyError:
        raise UnknownQueueError(
            f"no translation queue for document type {doctype!r}; use one of {', '.join(DOCTYPES)}"
        ) from None


@dataclass(frozen=True)
class QueueJob:
    """One translation job with its document title, state and assignee."""

    doc_id: int
    title: str
    state: str
    state_pos: int
    state_date: datetime
    user_id: int
    user_name: str
    fullname: str | None
    email: str | None

    @property
    def day(self) -> str:
        """The state date as ``YYYY-MM-DD`` (what the reports show)."""
        return self.state_date.date().isoformat()


def _jobs_query(q: Queue) -> Select:
    stmt = (
        select(
            q.doc_id.label("doc_id"),
            document.c.title,
            q.states.c.value_name,
            q.states.c.value_pos,
            q.jobs.c.state_date,
            usr.c.id.label("user_id"),
            usr.c.name,
            usr.c.fullname,
            usr.c.email,
        )
        .select_from(q.jobs)
        .join(usr, usr.c.id == q.jobs.c.assigned_to)
        .join(document, document.c.id == q.doc_id)
        .join(q.states, q.states.c.value_id == q.jobs.c.state_id)
    )
    if q.doctype == "Glossary":
        stmt = stmt.add_columns(doc_type.c.name.label("doc_type")).join(
            doc_type, doc_type.c.id == document.c.doc_type
        )
    return stmt


def _load(conn: Connection, q: Queue, stmt: Select) -> list[QueueJob]:
    rows = conn.execute(stmt).mappings().all()
    concept_titles = _concept_titles(conn) if q.doctype == "Glossary" else {}
    jobs = []
    for row in rows:
        title = row["title"]
        if q.doctype == "Glossary" and (row["doc_type"] or "").lower() == CONCEPT_TYPE.lower():
            name = concept_titles.get(row["doc_id"])
            title = f"GTC for {name}" if name is not None else f"GTC CDR{row['doc_id']}"
        jobs.append(
            QueueJob(
                doc_id=row["doc_id"],
                title=title,
                state=row["value_name"],
                state_pos=row["value_pos"],
                state_date=row["state_date"],
                user_id=row["user_id"],
                user_name=row["name"],
                fullname=row["fullname"],
                email=row["email"],
            )
        )
    return jobs


def _concept_titles(conn: Connection) -> dict[int, str]:
    """For each concept in the glossary queue, the first title (alphabetically) of the
    GlossaryTermName documents that link to it; concepts without names are absent."""
    job = glossary_translation_job
    stmt = (
        select(job.c.doc_id, document.c.title)
        .join(query_term, query_term.c.int_val == job.c.doc_id)
        .join(document, document.c.id == query_term.c.doc_id)
        .where(iequals(query_term.c.path, NAME_CONCEPT_PATH))
    )
    titles: dict[int, str] = {}
    for concept_id, title in conn.execute(stmt):
        known = titles.get(concept_id)
        if known is None or _title_key(title) < _title_key(known):
            titles[concept_id] = title
    return titles


def _title_key(title: str) -> tuple[str, str]:
    return title.casefold(), title


def ready_for_translation(conn: Connection, doctype: str) -> list[QueueJob]:
    """The weekly report's rows: the queue's jobs in ``Ready for Translation``, by title
    (case-insensitive), then document id."""
    q = queue(doctype)
    stmt = _jobs_query(q).where(iequals(q.states.c.value_name, READY_FOR_TRANSLATION))
    return sorted(_load(conn, q, stmt), key=lambda j: (*_title_key(j.title), j.doc_id))


def open_jobs(conn: Connection, doctype: str) -> list[QueueJob]:
    """The nightly report's rows: every job of the queue (summaries made publishable left
    out), by assignee id, state position, state date (Glossary: its day), title, doc id."""
    q = queue(doctype)
    stmt = _jobs_query(q)
    if q.nightly_excludes_publishable:
        stmt = stmt.where(~iequals(q.states.c.value_name, MADE_PUBLISHABLE))

    def key(j: QueueJob) -> tuple:
        when = j.day if q.sort_by_day else j.state_date
        return (j.user_id, j.state_pos, when, *_title_key(j.title), j.doc_id)

    return sorted(_load(conn, q, stmt), key=key)


@dataclass(frozen=True)
class Assignee:
    """A translator and the jobs assigned to them, in report order."""

    user_id: int
    name: str
    fullname: str | None
    email: str | None
    jobs: tuple[QueueJob, ...]

    @property
    def display_name(self) -> str:
        """The full name, or the login name when the account has none."""
        return self.fullname or self.name

    def by_state(self) -> list[tuple[str, list[QueueJob]]]:
        """Runs of consecutive jobs sharing a state: one report table each."""
        return [(state, list(run)) for state, run in groupby(self.jobs, key=lambda j: j.state)]


def assignees(jobs: Iterable[QueueJob]) -> list[Assignee]:
    """The nightly rows grouped by assignee, in the order of the rows (sorted by user id)."""
    return [
        Assignee(run[0].user_id, run[0].user_name, run[0].fullname, run[0].email, tuple(run))
        for run in (list(g) for _, g in groupby(jobs, key=lambda j: j.user_id))
    ]


# ---------------------------------------------------------------------------------------------
# The reports (docs/behaviour-notes.md#translation-queue-reports)
# ---------------------------------------------------------------------------------------------


def weekly_subject(doctype: str) -> str:
    """Subject of the weekly report, without the tier prefix."""
    return f"{doctype} Documents Ready For Translation"


def nightly_subject(doctype: str) -> str:
    """Subject of each nightly report, without the tier prefix."""
    return f"{doctype} Translation Jobs Queue Report"


def weekly_report(doctype: str, jobs: Sequence[QueueJob], today: date) -> Report:
    """The team leads' list of jobs ready for translation; the table is there even empty."""
    table = ReportTable(
        columns=[
            ReportColumn("Title"),
            ReportColumn("CDR ID"),
            ReportColumn("Translator"),
            ReportColumn("Date", cell_styles=NOWRAP),
        ],
        rows=[[j.title, str(j.doc_id), j.fullname, j.day] for j in jobs],
        caption="Ready For Translation",
    )
    return Report(title=f"New {doctype} Translation Jobs", blocks=[report_date(today), table])


def assignee_report(
    doctype: str, assignee: Assignee, today: date, *, test_mode: bool = False
) -> Report:
    """One translator's jobs, one table per state; test mode names the live recipient."""
    blocks: list = [report_date(today)]
    if test_mode:
        blocks.append(Paragraph(TEST_BANNER.format(assignee.email)))
    for state, jobs in assignee.by_state():
        blocks.append(
            ReportTable(
                columns=[
                    ReportColumn("Date", cell_styles=NOWRAP),
                    ReportColumn("CDR ID"),
                    ReportColumn("Title"),
                ],
                rows=[[j.day, str(j.doc_id), j.title] for j in jobs],
                caption=state,
            )
        )
    return Report(title=f"{doctype} Translation Jobs for {assignee.display_name}", blocks=blocks)
