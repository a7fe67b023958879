"""The GovDelivery weekly reports: new and revised PDQ summaries on Cancer.gov
(docs/behaviour-notes.md#govdelivery-reports).

Two reports (``english``, ``spanish``) list the summaries, and for English the Drug Information
Summaries, that the last weekly publishing run put on Cancer.gov, so staff can write the
GovDelivery subscriber bulletins. This module holds what the report is made of:

- :func:`export_window`: the default date range, from the start of the weekly Export behind the
  second-newest successful push to the start of the Export behind the newest;
- :func:`summary_rows`: one table's documents, with the legacy joins on ``query_term_pub``,
  the first-publication or DateLastModified test and the late-version filter;
- :func:`board_name` and :func:`change_sections`: the Board and Section(s) columns;
- :func:`govdelivery_report`: the whole report as a :class:`cdr_dagster.reports.Report`.

Choices where the legacy disagreed with itself or failed (each named in the job description):
a date-only ``start``/``end`` means midnight everywhere (the legacy crashed in the late-version
check); a summary with two "Changes to summary" sections is listed once (the first); nested
``Title``/``Para`` elements in the Section(s) fallback are kept instead of crashing the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from lxml import etree
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.documents import latest_publishable_version
from cdr_dagster.cdr.schema import (
    doc_version,
    document,
    pub_proc,
    pub_proc_cg,
    pub_proc_doc,
    query_term,
    query_term_pub,
)
from cdr_dagster.cdr.sql import iequals, ilike
from cdr_dagster.cdr.xml import XmlError, get_text

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from cdr_dagster.reports import Report

#: The weekly push job's subset, as the legacy query spelt it (the data says ``Cancer.Gov``;
#: compared case-insensitively, as on SQL Server).
PUSH_SUBSET = "Push_Documents_To_Cancer.gov_Export"
EXPORT_SUBSET = "Export"
#: Any push of a full or interim export (the late-version check).
PUSH_PATTERN = "Push%Export"
REPORTS = ("english", "spanish")
TITLES = {"english": "New/Changed English Summaries", "spanish": "New/Changed Spanish Summaries"}
GROUPS = {
    "english": "GovDelivery EN Docs Notification",
    "spanish": "GovDelivery ES Docs Notification",
}
TEST_GROUP = "Test Publishing Notification"
SENDER = "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
HP = "Health professionals"
PATIENTS = "Patients"
SUMMARY = "Summary"
DIS = "DrugInformationSummary"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EDITORIAL_PHRASES = (
    "Editorial changes were made to this summary",
    "Editorial changes were made to this module",
    "Se incorporaron cambios editoriales en este resumen",
    "Se incorporaron cambios editoriales en este módulo",
)
CHANGES_SECTION = "Changes to summary"
ORG_NAME = "/Organization/OrganizationNameInformation/OfficialName/Name"
BOARD_REF = "/Summary/SummaryMetaData/PDQBoard/Board/@cdr:ref"
TRANSLATION_OF = "/Summary/TranslationOf/@cdr:ref"
_PATHS = {
    SUMMARY: ("/Summary/SummaryTitle", "/Summary/SummaryMetaData/SummaryURL/@cdr:xref"),
    DIS: (
        "/DrugInformationSummary/Title",
        "/DrugInformationSummary/DrugInfoMetaData/URL/@cdr:xref",
    ),
}
_AUDIENCE = "/Summary/SummaryMetaData/SummaryAudience"
_LANGUAGE = "/Summary/SummaryMetaData/SummaryLanguage"
_SECTION_TYPE = "/Summary/SummarySection/SectMetaData/SectionType"
_SECTION_ID = "/Summary/SummarySection/@cdr:id"
_SPACE = re.compile(r"\s+")


class GovDeliveryError(ValueError):
    """The report cannot be built (no export window, bad dates); the text says why."""


@dataclass(frozen=True)
class ExportWindow:
    """Start times of the Exports behind the two newest successful weekly pushes."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """``Date/Time: (start to end)`` as the report's subtitle shows it."""
        return f"Date/Time: ({self.start:{DATETIME_FORMAT}} to {self.end:{DATETIME_FORMAT}})"


@dataclass(frozen=True)
class SummaryRow:
    """One document of a report table."""

    id: int
    title: str
    url: str
    fragment: str = ""
    board: str = ""
    sections: tuple[str, ...] = ()
    editorial_only: bool = False


@dataclass(frozen=True)
class SummaryTable:
    """One table of the report: which slice it is and its rows, in display order."""

    doc_type: str
    new: bool
    audience: str | None
    rows: tuple[SummaryRow, ...]

    @property
    def caption(self) -> str:
        """``New Health Professional Summaries (N)`` and the other captions of the legacy report."""
        prefix = "New" if self.new else "Revised"
        if self.doc_type == DIS:
            return f"{prefix} Drug Information Summaries"
        if self.audience == PATIENTS:
            return f"{prefix} Patient Summaries"
        if self.new:
            return f"{prefix} Health Professional Summaries ({len(self.rows)})"
        counted = sum(1 for row in self.rows if not row.editorial_only)
        return f"{prefix} Health Professional Summaries ({counted}, excluding editorial changes)"


def parse_moment(value: str, name: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD`` (midnight); errors name the option."""
    text = value.strip()
    for form in (DATETIME_FORMAT, "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form)
        except ValueError:
            continue
    raise GovDeliveryError(f"{name} {value!r} is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)")


def export_window(conn: Connection) -> ExportWindow:
    """The default range: Export start before the older, then the newer, of the last two pushes.

    Raises GovDeliveryError when there are fewer than two successful pushes, or a push has no
    successful Export before it.
    """
    p = pub_proc.c
    pushes = conn.execute(
        select(p.id)
        .where(iequals(p.status, "Success"), iequals(p.pub_subset, PUSH_SUBSET))
        .order_by(p.id.desc())
        .limit(2)
    ).scalars()
    pushes = list(pushes)
    if len(pushes) < 2:
        raise GovDeliveryError(
            f"need two successful {PUSH_SUBSET} jobs for the export window, found {len(pushes)}"
        )
    starts = []
    for push in reversed(pushes):
        started = conn.execute(
            select(p.started)
            .where(
                iequals(p.status, "Success"),
                iequals(p.pub_subset, EXPORT_SUBSET),
                p.id < push,
            )
            .order_by(p.started.desc())
            .limit(1)
        ).scalar()
        if started is None:
            raise GovDeliveryError(f"push job {push} has no successful Export job before it")
        starts.append(started.replace(microsecond=0))
    return ExportWindow(starts[0], starts[1])


def _block(column: ColumnElement) -> ColumnElement:
    """The first four ``node_loc`` characters: the top-level block a row belongs to."""
    return func.substring(column, 1, 4)


def _candidates(
    conn: Connection,
    doc_type: str,
    new: bool,
    start: datetime,
    end: datetime,
    language: str | None,
    audience: str | None,
) -> list[tuple[int, str, str, str | None]]:
    """(id, title, url, fragment) of the published documents of one slice, by title."""
    d, c = document.alias("d"), pub_proc_cg.alias("c")
    t, u = query_term_pub.alias("t"), query_term_pub.alias("u")
    title_path, url_path = _PATHS[doc_type]
    summary = doc_type == SUMMARY
    f = query_term_pub.alias("f")
    columns = [d.c.id, t.c.value.label("title"), u.c.value.label("url")]
    if summary:
        columns.append(f.c.value.label("fragment"))
    source = (
        d.join(c, c.c.id == d.c.id)
        .join(t, and_(t.c.doc_id == d.c.id, iequals(t.c.path, title_path)))
        .join(u, and_(u.c.doc_id == d.c.id, iequals(u.c.path, url_path)))
    )
    conditions = [d.c.active_status == "A"]
    if new:
        conditions += [d.c.first_pub > start, d.c.first_pub <= end]
    else:
        m = query_term_pub.alias("m")
        source = source.outerjoin(
            m, and_(m.c.doc_id == d.c.id, iequals(m.c.path, f"/{doc_type}/DateLastModified"))
        )
        # DateLastModified is text: compared as text, as the legacy query did.
        conditions += [
            m.c.value > start.strftime(DATETIME_FORMAT),
            m.c.value <= end.strftime(DATETIME_FORMAT),
        ]
    if audience:
        a = query_term_pub.alias("a")
        source = source.join(a, and_(a.c.doc_id == d.c.id, iequals(a.c.path, _AUDIENCE)))
        conditions.append(iequals(a.c.value, audience))
    if language:
        lang = query_term_pub.alias("l")
        source = source.join(lang, and_(lang.c.doc_id == d.c.id, iequals(lang.c.path, _LANGUAGE)))
        conditions.append(iequals(lang.c.value, language))
    if summary:
        s = query_term_pub.alias("s")
        source = source.outerjoin(
            s,
            and_(
                s.c.doc_id == d.c.id,
                iequals(s.c.path, _SECTION_TYPE),
                iequals(s.c.value, CHANGES_SECTION),
            ),
        ).outerjoin(
            f,
            and_(
                f.c.doc_id == d.c.id,
                _block(f.c.node_loc) == _block(s.c.node_loc),
                iequals(f.c.path, _SECTION_ID),
            ),
        )
    stmt = select(*columns).select_from(source).where(*conditions).distinct()
    stmt = stmt.order_by(t.c.value, d.c.id)
    result: dict[int, tuple[int, str, str, str | None]] = {}
    for row in conn.execute(stmt):
        fragment = row.fragment if summary else None
        result.setdefault(row.id, (row.id, row.title, row.url, fragment))
    return list(result.values())


def _highest_pushed_version(conn: Connection, doc_id: int) -> int | None:
    """The highest version of a document any push of an export sent without failure."""
    pd, pp = pub_proc_doc.c, pub_proc.c
    return conn.execute(
        select(func.max(pd.doc_version))
        .select_from(pub_proc_doc.join(pub_proc, pp.id == pd.pub_proc))
        .where(pd.doc_id == doc_id, pd.failure.is_(None), ilike(pp.pub_subset, PUSH_PATTERN))
    ).scalar()


def published_in_window(
    conn: Connection, doc_id: int, start: datetime, end: datetime
) -> tuple[bool, str | None]:
    """Whether a document passes the late-version filter, and why not if not.

    A document with a publishable version newer than anything pushed is kept only when the
    pushed version was itself saved strictly between start and end.
    """
    pushed = _highest_pushed_version(conn, doc_id)
    if pushed is None:
        return True, None
    v = doc_version.c
    late = conn.execute(
        select(func.count())
        .select_from(doc_version)
        .where(v.id == doc_id, v.num > pushed, v.publishable == "Y")
    ).scalar_one()
    if not late:
        return True, None
    saved = conn.execute(
        select(v.dt).where(v.id == doc_id, v.num == pushed, v.publishable == "Y")
    ).scalar()
    if saved is not None and start < saved < end:
        return (
            True,
            f"pub version for {doc_id} created after job started; pushed version {pushed} kept",
        )
    return False, (
        f"pub version for {doc_id} created after job started; pushed version {pushed} "
        f"({saved or 'not publishable'}) is outside the range: left out"
    )


def board_name(conn: Connection, doc_id: int, language: str) -> str:
    """The summary's PDQ editorial board without ``PDQ`` and ``Editorial Board``.

    A Spanish summary shows the board of the English summary it translates. Empty if none.
    """
    n, b = query_term.alias("n"), query_term.alias("b")
    stmt = (
        select(n.c.value)
        .select_from(n.join(b, b.c.int_val == n.c.doc_id))
        .where(
            iequals(b.c.path, BOARD_REF),
            iequals(n.c.path, ORG_NAME),
            ilike(n.c.value, "PDQ%Editorial Board"),
        )
        .order_by(b.c.doc_id, b.c.node_loc, n.c.node_loc)
        .limit(1)
    )
    if language.lower() == "english":
        stmt = stmt.where(b.c.doc_id == doc_id)
    else:
        t = query_term.alias("t")
        stmt = stmt.join(t, t.c.int_val == b.c.doc_id).where(
            iequals(t.c.path, TRANSLATION_OF), t.c.doc_id == doc_id
        )
    name = conn.execute(stmt).scalar()
    if not name:
        return ""
    return name.replace("PDQ", "").replace("Editorial Board", "").strip()


@dataclass(frozen=True)
class Changes:
    """What the "Changes to summary" sections of a summary say."""

    sections: tuple[str, ...]
    editorial_only: bool


def _text(element: etree._Element) -> str:
    return _SPACE.sub(" ", get_text(element) or "").strip()


def summary_changes(root: etree._Element) -> Changes:
    """Section(s) cell and editorial status from a summary's XML.

    The cell lists each non-empty ``Strong`` inside a ``Para`` of the top-level "Changes to
    summary" sections; without any, each section's text minus its metadata, title and first
    paragraph.
    """
    blocks = [
        section
        for section in root.findall("SummarySection")
        if (section.findtext("SectMetaData/SectionType") or "").strip() == CHANGES_SECTION
    ]
    editorial = any(
        phrase in (get_text(block) or "") for block in blocks for phrase in EDITORIAL_PHRASES
    )
    strongs: list[str] = []
    for block in blocks:
        seen: set[etree._Element] = set()
        for para in block.iter("Para"):
            for strong in para.iter("Strong"):
                if strong not in seen:
                    seen.add(strong)
                    if text := _text(strong):
                        strongs.append(text)
    if strongs:
        return Changes(tuple(strongs), editorial)
    texts: list[str] = []
    for block in blocks:
        copy = etree.fromstring(etree.tostring(block, with_tail=False))
        dropped_para = False
        for child in list(copy):
            if child.tag == "Para" and not dropped_para:
                dropped_para = True
            elif child.tag not in ("SectMetaData", "Title"):
                continue
            copy.remove(child)
        if text := _text(copy):
            texts.append(text)
    return Changes(tuple(texts), editorial)


def changes_of(conn: Connection, doc_id: int, log: Callable[[str], None]) -> Changes:
    """:func:`summary_changes` of the last publishable version; none (logged) if unreadable."""
    try:
        version = latest_publishable_version(conn, doc_id)
        if version is None:
            log(f"CDR{doc_id}: no publishable version; no change sections")
            return Changes((), False)
        return summary_changes(version.root())
    except XmlError as exc:
        log(f"CDR{doc_id}: {exc}; no change sections")
        return Changes((), False)


def summary_rows(
    conn: Connection,
    *,
    doc_type: str,
    new: bool,
    start: datetime,
    end: datetime,
    language: str | None = None,
    audience: str | None = None,
    log: Callable[[str], None] = lambda _message: None,
) -> SummaryTable:
    """One table of the report: its documents after the late-version filter, sorted.

    HP tables get board, changes and (board, lowercase title) order; others keep title order.
    """
    rows: list[SummaryRow] = []
    for doc_id, title, url, fragment in _candidates(
        conn, doc_type, new, start, end, language, audience
    ):
        keep, why = published_in_window(conn, doc_id, start, end)
        if why:
            log(f"*** {why}")
        if not keep:
            continue
        if audience == HP:
            changes = changes_of(conn, doc_id, log)
            rows.append(
                SummaryRow(
                    doc_id,
                    title,
                    url,
                    fragment or "",
                    board_name(conn, doc_id, language or "English"),
                    changes.sections,
                    changes.editorial_only,
                )
            )
        else:
            rows.append(SummaryRow(doc_id, title, url))
    if audience == HP:
        rows.sort(key=lambda row: (row.board, row.title.lower()))
    return SummaryTable(doc_type, new, audience, tuple(rows))


def report_tables(
    conn: Connection,
    key: str,
    start: datetime,
    end: datetime,
    log: Callable[[str], None] = lambda _message: None,
) -> list[SummaryTable]:
    """The tables of report ``key`` (``english`` or ``spanish``), in report order."""
    if key not in REPORTS:
        raise GovDeliveryError(f"unknown report {key!r}; expected one of {', '.join(REPORTS)}")
    language = key.capitalize()
    tables = [
        summary_rows(
            conn,
            doc_type=SUMMARY,
            new=new,
            start=start,
            end=end,
            language=language,
            audience=audience,
            log=log,
        )
        for audience in (HP, PATIENTS)
        for new in (True, False)
    ]
    if key == "english":
        tables += [
            summary_rows(conn, doc_type=DIS, new=new, start=start, end=end, log=log)
            for new in (True, False)
        ]
    return tables


def report_title(key: str, start: datetime, end: datetime) -> str:
    """``GovDelivery New/Changed English Summaries Report (YYYY-MM-DD to YYYY-MM-DD)``."""
    return f"GovDelivery {TITLES[key]} Report ({start:%Y-%m-%d} to {end:%Y-%m-%d})"


def govdelivery_report(
    key: str,
    start: datetime,
    end: datetime,
    window: ExportWindow,
    tables: Sequence[SummaryTable],
    today: date,
) -> Report:
    """Report ``key`` in the legacy layout: title, export window, report date, tables."""
    from cdr_dagster.reports import (
        Cell,
        Report,
        Table,
        cell_paragraphs,
        note,
        report_date,
        table_style,
    )

    blocks: list = [note(f"Adjusted date range: {window.label}"), report_date(today)]
    for table in tables:
        hp = table.audience == HP
        columns = ["CDR ID", "Title"]
        if hp:
            columns.append("Board")
            if not table.new:
                columns.append("Section(s)")
        rows = []
        for row in table.rows:
            cells: list = [Cell(row.id, url=row.url)]
            if hp:
                cells += [Cell(row.title, url=f"{row.url}#{row.fragment}"), row.board]
                if not table.new:
                    cells.append(cell_paragraphs(row.sections))
            else:
                cells.append(row.title)
            rows.append(cells)
        blocks.append(
            Table(
                columns=columns,
                rows=rows,
                caption=table.caption,
                style=table_style("80%"),
                empty_text="None",
                header_when_empty=False,
            )
        )
    return Report(title=report_title(key, start, end), blocks=blocks)
