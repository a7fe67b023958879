"""The PCIB statistics report: counts of documents published or revised in a range
(docs/behaviour-notes.md#pcib-statistics).

Eight sections, always in this order: summaries, glossary (or just its pronunciation audio),
genetics professionals, NCI drug terms, Drug Information Summaries, new PDQ board members,
PDQ board meetings and image files. Each ``*_section`` function runs the legacy queries for a
:class:`StatsRange` and returns a :class:`Section`: its rows of the counts table and its
detail tables. :func:`stats_report` lays them out as a :class:`cdr_dagster.reports.Report`.

Everything is computed per call: the range, the title and every counter (the legacy module
fixed the range at import and kept class-level counters that grew from run to run).

The legacy range test was ``ISNULL(col, 0) BETWEEN 'start' AND 'end 23:59:59'``; here a value
is in range when it is on or after the first day and before the day after the last, so a
moment in the last second of the range (or a ``YYYY-MM-DDTHH:MM`` text value on the last day)
is not lost. Text values (``query_term`` dates) compare as text, as in the legacy queries.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.monthly_stats_sections import SECTION_NAMES, SECTIONS
from cdr_dagster.cdr.schema import (
    active_doc,
    document,
    pub_proc,
    pub_proc_cg,
    pub_proc_doc,
    query_term,
    query_term_pub,
)
from cdr_dagster.cdr.sql import iequals, ilike

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from cdr_dagster.reports import Report

DEFAULT_TITLE = "PCIB Statistics Report"
LIVE_GROUP = "ICRDB Statistics Notification"
TEST_GROUP = "Test Publishing Notification"
SENDER = "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
BLANK = "\xa0"
CONCEPT = "/GlossaryTermName/GlossaryTermConcept/@cdr:ref"
DEFINITION_DLM = "/GlossaryTermConcept/%TermDefinition/DateLastModified"
TERM_NAME = "/GlossaryTermName/TermName/TermNameString"
TRANSLATED_NAME = "/GlossaryTermName/TranslatedName/TermNameString"
_DEFINITION = "/GlossaryTermConcept/TermDefinition"
_MEMBERSHIP = "/PDQBoardMemberInfo/BoardMembershipDetails"
_MEETING_DATE = "/Organization/PDQBoardInformation/BoardMeetings/BoardMeeting/MeetingDate"
_ORG_NAME = "/Organization/OrganizationNameInformation/OfficialName/Name"


@dataclass(frozen=True)
class StatsRange:
    """The report's days, first and last included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")

    @property
    def after(self) -> date:
        """The day after the last day."""
        return self.end + timedelta(days=1)

    def moments(self, column: Any) -> ColumnElement:
        """SQL test for a DATETIME column: on or after the first day, before the day after."""
        first = datetime.combine(self.start, datetime.min.time())
        return and_(column >= first, column < datetime.combine(self.after, datetime.min.time()))

    def texts(self, column: Any) -> ColumnElement:
        """SQL test for a text date column (``query_term*.value``), compared as text."""
        return and_(column >= self.start.isoformat(), column < self.after.isoformat())

    def holds(self, value: object) -> bool:
        """The same test in Python, for a datetime, date or text value; None is never in range."""
        if value is None or value == "":
            return False
        if isinstance(value, datetime):
            return self.start <= value.date() < self.after
        if isinstance(value, date):
            return self.start <= value < self.after
        return self.start.isoformat() <= str(value) < self.after.isoformat()


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier, or that month's last day (as SQL Server's DATEADD)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def previous_month(today: date) -> StatsRange:
    """The calendar month before ``today``'s month."""
    last = today.replace(day=1) - timedelta(days=1)
    return StatsRange(last.replace(day=1), last)


def report_title(title: str, days: StatsRange, month: StatsRange | None) -> str:
    """``Monthly {title} for {Month YYYY}`` if ``days`` is ``month``, else ``{title} from ..``."""
    if month is not None and days == month:
        return f"Monthly {title} for {days.start:%B %Y}"
    return f"{title} from {days.start} to {days.end}"


@dataclass(frozen=True)
class Listed:
    """One row of a detail table: the document, its title, and the section's extra columns."""

    id: int
    title: str
    extra: tuple[str, ...] = ()
    sort_key: tuple = ()

    @property
    def key(self) -> tuple:
        """Sort by lowercase title (meetings by board then date)."""
        return self.sort_key or (self.title.lower(),)


@dataclass(frozen=True)
class Listing:
    """One detail table: ``{N} {label}`` over its rows, or ``No {what} found ...`` if empty."""

    label: str
    what: str
    rows: tuple[Listed, ...]
    extra_columns: tuple[str, ...] = ()

    def sorted_rows(self) -> list[Listed]:
        """The rows in display order."""
        return sorted(self.rows, key=lambda row: row.key)


@dataclass(frozen=True)
class Section:
    """A section's rows of the counts table (label, count or None) and its detail tables."""

    name: str
    counts: tuple[tuple[str, int | None], ...]
    listings: tuple[Listing, ...] = field(default=())


def _published(*columns: Any) -> tuple[Any, Any, Any]:
    """``document d`` joined to ``pub_proc_cg c``: active documents on Cancer.gov."""
    d, c = document.alias("d"), pub_proc_cg.alias("c")
    return d, c, d.join(c, c.c.id == d.c.id)


def _block(column: Any, size: int = 4) -> ColumnElement:
    """The leading ``size`` characters of ``node_loc``: rows of the same block share them."""
    return func.substring(column, 1, size)


def _qt(table: Any, alias: str, doc: Any, path: str, like: bool = False) -> tuple[Any, Any]:
    """An alias of an index table and its join condition on ``doc`` and ``path``."""
    t = table.alias(alias)
    test = ilike(t.c.path, path) if like else iequals(t.c.path, path)
    return t, and_(t.c.doc_id == doc, test)


def summary_section(conn: Connection, days: StatsRange) -> Section:
    """New and revised Summaries by audience and language."""
    audiences = {"health professionals": "HP", "patients": "Pat."}
    languages = {"english": "EN", "spanish": "ES"}

    def fetch(new: bool) -> list[Listed]:
        d, _c, source = _published()
        t, on_t = _qt(query_term_pub, "t", d.c.id, "/Summary/SummaryTitle")
        a, on_a = _qt(query_term_pub, "a", d.c.id, "/Summary/SummaryMetaData/SummaryAudience")
        lang, on_l = _qt(query_term_pub, "l", d.c.id, "/Summary/SummaryMetaData/SummaryLanguage")
        source = source.join(t, on_t).join(a, on_a).join(lang, on_l)
        test = days.moments(d.c.first_pub)
        if not new:
            m, on_m = _qt(query_term_pub, "m", d.c.id, "/Summary/DateLastModified")
            source = source.join(m, on_m)
            test = days.texts(m.c.value)
        stmt = select(d.c.id, t.c.value, lang.c.value, a.c.value).select_from(source)
        stmt = stmt.where(d.c.active_status == "A", test).order_by(d.c.id)
        return [Listed(r[0], r[1], (r[2], r[3])) for r in conn.execute(stmt)]

    def block(docs: list[Listed], label: str) -> list[tuple[str, int | None]]:
        counts = {(a, lang): 0 for a in ("HP", "Pat.") for lang in ("EN", "ES")}
        for doc in docs:
            key = (audiences.get(doc.extra[1].lower()), languages.get(doc.extra[0].lower()))
            if key in counts:
                counts[key] += 1
        rows: list[tuple[str, int | None]] = [(f"Total Summaries - {label}", len(docs))]
        rows += [(f" - {a} Summaries ({lang})", n) for (a, lang), n in counts.items()]
        return rows

    new, revised = fetch(True), fetch(False)
    extra = ("Language", "Audience")
    return Section(
        "summary",
        (*block(new, "New"), (BLANK, None), *block(revised, "Revised")),
        (
            Listing("New Summaries", "New Summaries", tuple(new), extra),
            Listing("Revised Summaries", "Revised Summaries", tuple(revised), extra),
        ),
    )


def _names(conn: Connection, concept: int, genetics: bool) -> tuple[list[str], list[str]]:
    """English and Spanish names of the term-name documents pointing to a concept."""
    n = query_term_pub.alias("n")
    c, on_c = _qt(query_term_pub, "c", n.c.doc_id, CONCEPT)
    name_test = (
        iequals(n.c.path, TERM_NAME)
        if genetics
        else ilike(n.c.path, "/GlossaryTermName/T%Name/TermNameString")
    )
    stmt = (
        select(n.c.value, n.c.path)
        .select_from(n.join(c, on_c))
        .where(c.c.int_val == concept, name_test)
        .order_by(n.c.doc_id, n.c.node_loc)
    )
    english: list[str] = []
    spanish: list[str] = []
    for value, path in conn.execute(stmt):
        (spanish if "translated" in path.lower() else english).append(value)
    return english, spanish


def _genetics_definitions(source: Any, concept_id: Any, status_date: bool) -> tuple[Any, ...]:
    """Joins to a Genetics, Health professional definition of the concept; its DLM (and date)."""
    g, on_g = _qt(query_term_pub, "g", concept_id, f"{_DEFINITION}/Dictionary")
    a, on_a = _qt(query_term_pub, "a", g.c.doc_id, f"{_DEFINITION}/Audience")
    m, on_m = _qt(query_term_pub, "m", g.c.doc_id, f"{_DEFINITION}/DateLastModified")
    source = (
        source.join(g, and_(on_g, iequals(g.c.value, "Genetics")))
        .join(
            a,
            and_(
                on_a,
                _block(a.c.node_loc) == _block(g.c.node_loc),
                iequals(a.c.value, "Health professional"),
            ),
        )
        .outerjoin(m, and_(on_m, _block(m.c.node_loc) == _block(g.c.node_loc)))
    )
    s = None
    if status_date:
        s, on_s = _qt(query_term_pub, "s", g.c.doc_id, f"{_DEFINITION}/StatusDate")
        source = source.outerjoin(s, and_(on_s, _block(s.c.node_loc) == _block(g.c.node_loc)))
    return source, m, s


def glossary_section(conn: Connection, days: StatsRange, audio_only: bool) -> Section:
    """Dictionary terms, revised definitions, pronunciation audio, genetics terms."""
    d, _c, source = _published()
    t, on_t = _qt(query_term, "t", d.c.id, "/Media/MediaTitle")
    p, on_p = _qt(query_term, "p", d.c.id, "/Media/MediaContent/Categories/Category")
    stmt = (
        select(d.c.id, t.c.value)
        .select_from(source.join(t, on_t).join(p, on_p))
        .where(
            d.c.active_status == "A",
            iequals(p.c.value, "pronunciation"),
            days.moments(d.c.first_pub),
        )
    )
    audio = tuple(Listed(row[0], row[1]) for row in conn.execute(stmt))
    audio_label = "New Dictionary w/ pronunciation (Audio)"
    audio_listing = Listing(audio_label, audio_label, audio)
    if audio_only:
        return Section("audio", (("Audio - New", len(audio)),), (audio_listing,))

    # New terms, with all their Spanish names.
    d, _c, source = _published()
    n, on_n = _qt(query_term_pub, "n", d.c.id, TERM_NAME)
    stmt = (
        select(d.c.id, n.c.value)
        .select_from(source.join(n, on_n))
        .where(d.c.active_status == "A", days.moments(d.c.first_pub))
    )
    new_terms: list[Listed] = []
    spanish_names = 0
    for doc_id, name in conn.execute(stmt).all():
        es = query_term_pub.alias("es")
        names = conn.execute(
            select(es.c.value)
            .where(es.c.doc_id == doc_id, iequals(es.c.path, TRANSLATED_NAME))
            .order_by(es.c.node_loc)
        ).scalars()
        names = list(names)
        spanish_names += len(names)
        new_terms.append(Listed(doc_id, name, ("; ".join(names),)))

    # Concepts with any definition modified in range, and how many in each language.
    ad = active_doc.alias("d")
    m, on_m = _qt(query_term_pub, "m", ad.c.id, DEFINITION_DLM, like=True)
    stmt = (
        select(ad.c.id, m.c.path)
        .select_from(ad.join(m, on_m))
        .where(days.texts(m.c.value))
        .order_by(ad.c.id)
    )
    revised_en = revised_es = 0
    concept_ids: list[int] = []
    for concept, path in conn.execute(stmt):
        if "translated" in path.lower():
            revised_es += 1
        else:
            revised_en += 1
        if concept not in concept_ids:
            concept_ids.append(concept)
    revised: list[Listed] = []
    for concept in concept_ids:
        english, spanish = _names(conn, concept, genetics=False)
        revised.append(Listed(concept, "; ".join(english), ("; ".join(spanish),)))

    # New genetics terms: a Genetics HP definition never modified, its status date in range.
    d, _c, source = _published()
    n, on_n = _qt(query_term_pub, "n", d.c.id, TERM_NAME)
    gc, on_gc = _qt(query_term_pub, "gc", d.c.id, CONCEPT)
    source, m, s = _genetics_definitions(source.join(n, on_n).join(gc, on_gc), gc.c.int_val, True)
    stmt = (
        select(d.c.id, n.c.value)
        .select_from(source)
        .where(d.c.active_status == "A", m.c.value.is_(None), days.texts(s.c.value))
        .distinct()
    )
    new_genetics = tuple(Listed(row[0], row[1]) for row in conn.execute(stmt))

    # Concepts whose Genetics HP definition was modified in range.
    ad = active_doc.alias("d")
    source, m, _s = _genetics_definitions(ad, ad.c.id, False)
    stmt = select(ad.c.id).select_from(source).where(days.texts(m.c.value)).distinct()
    revised_genetics = tuple(
        Listed(concept, "; ".join(_names(conn, concept, genetics=True)[0]))
        for concept in conn.execute(stmt).scalars().all()
    )
    spanish_column = ("Title (Spanish)",)
    return Section(
        "glossary",
        (
            ("Dictionary - New Terms", None),
            ("- New (EN)", len(new_terms)),
            ("- New (ES)", spanish_names),
            ("Dictionary - Revised Definitions", None),
            ("- Revised (EN)", revised_en),
            ("- Revised (ES)", revised_es),
            ("Audio - New", len(audio)),
            (BLANK, None),
            ("Genetics Dictionary - New Terms", len(new_genetics)),
            ("Genetics Dictionary - Revised Definitions", len(revised_genetics)),
        ),
        (
            Listing(
                "New Dictionary Terms (EN and ES)",
                "New Dictionary Terms",
                tuple(new_terms),
                spanish_column,
            ),
            Listing(
                "GTCs with Revised Dictionary Definitions (EN and ES)",
                "GTCs with Revised Dictionary Definitions",
                tuple(revised),
                spanish_column,
            ),
            audio_listing,
            Listing("New Genetics Dictionary Terms", "New Genetics Dictionary Terms", new_genetics),
            Listing(
                "Revised Genetics Dictionary Definitions",
                "Revised Genetics Dictionary Definitions",
                revised_genetics,
            ),
        ),
    )


def _new_only(name: str, title: str, docs: Sequence[Listed]) -> Section:
    """A section of new documents only: ``{title} - New`` and ``{N} new {title}``."""
    return Section(
        name,
        ((f"{title} - New", len(docs)),),
        (Listing(f"new {title}", f"new {title}", tuple(docs)),),
    )


def genetics_section(conn: Connection, days: StatsRange) -> Section:
    """New active Person documents listed in the genetics professionals directory."""
    d, _c, source = _published()
    s, on_s = _qt(query_term_pub, "s", d.c.id, "/Person/Status/CurrentStatus")
    i, on_i = _qt(query_term_pub, "i", d.c.id, "/Person/Professional%/Directory/Include", True)
    stmt = (
        select(d.c.id, d.c.title)
        .select_from(source.join(s, on_s).join(i, on_i))
        .where(
            d.c.active_status == "A",
            iequals(s.c.value, "Active"),
            iequals(i.c.value, "Include"),
            days.moments(d.c.first_pub),
        )
        .distinct()
    )
    docs = [Listed(row[0], row[1]) for row in conn.execute(stmt)]
    return _new_only("genetics", "Genetics Professionals", docs)


def drug_section(conn: Connection, days: StatsRange) -> Section:
    """New NCI drug terms: Term documents of a semantic type named Drug/agent."""
    d, _c, source = _published()
    n, on_n = _qt(query_term_pub, "n", d.c.id, "/Term/PreferredName")
    s, on_s = _qt(query_term_pub, "s", d.c.id, "/Term/SemanticType/@cdr:ref")
    t = query_term_pub.alias("t")
    stmt = (
        select(d.c.id, n.c.value)
        .select_from(source.join(n, on_n).join(s, on_s).join(t, t.c.doc_id == s.c.int_val))
        .where(
            d.c.active_status == "A",
            iequals(t.c.value, "Drug/agent"),
            days.moments(d.c.first_pub),
        )
        .distinct()
    )
    docs = [Listed(row[0], row[1]) for row in conn.execute(stmt)]
    return _new_only("drug", "NCI Drug Terms", docs)


def _shown(value: object) -> str:
    """A date or moment as shown in the tables: no fraction of a second; None as empty."""
    if value is None:
        return ""
    return str(value).split(".")[0]


def dis_section(conn: Connection, days: StatsRange) -> Section:
    """Drug Information Summaries first published or last modified in range."""
    d, _c, source = _published()
    t, on_t = _qt(query_term_pub, "t", d.c.id, "/DrugInformationSummary/Title")
    m, on_m = _qt(query_term_pub, "m", d.c.id, "/DrugInformationSummary/DateLastModified")
    stmt = (
        select(d.c.id, t.c.value, d.c.first_pub, m.c.value)
        .select_from(source.join(t, on_t).outerjoin(m, on_m))
        .where(
            d.c.active_status == "A",
            or_(days.moments(d.c.first_pub), days.texts(m.c.value)),
        )
    )
    rows = conn.execute(stmt).all()
    docs = tuple(Listed(r[0], r[1], (_shown(r[2]), _shown(r[3]))) for r in rows)
    title = "Drug Information Summaries"
    return Section(
        "dis",
        (
            (title, None),
            (" - New", sum(1 for r in rows if days.holds(r[2]))),
            (" - Revised", sum(1 for r in rows if days.holds(r[3]))),
        ),
        (Listing(title, title, docs, ("First Pub", "Date Modified")),),
    )


def board_members_section(conn: Connection, days: StatsRange) -> Section:
    """New PDQ board members: invited at most six months before, accepted, term starting in
    range."""
    d = active_doc.alias("d")
    b, on_b = _qt(query_term, "b", d.c.id, f"{_MEMBERSHIP}/BoardName")
    same = []
    joins = d.join(b, on_b)
    for alias, leaf in (
        ("i", "InvitationDate"),
        ("r", "ResponseToInvitation"),
        ("t", "TermStartDate"),
    ):
        table, on = _qt(query_term, alias, d.c.id, f"{_MEMBERSHIP}/{leaf}")
        joins = joins.join(table, and_(on, _block(table.c.node_loc) == _block(b.c.node_loc)))
        same.append(table)
    i, r, t = same
    invited_since = months_before(days.start, 6).isoformat()
    stmt = (
        select(d.c.id, d.c.title, b.c.value)
        .select_from(joins)
        .where(i.c.value >= invited_since, iequals(r.c.value, "Accepted"), days.texts(t.c.value))
    )
    docs = [Listed(row[0], row[1].split(" (board mem")[0], (row[2],)) for row in conn.execute(stmt)]
    advisory = sum(1 for doc in docs if "editorial advisory board" in doc.extra[0].lower())
    title = "PDQ Board Members"
    return Section(
        "boardmembers",
        ((f"{title} - New", None), ("- Editorial", len(docs) - advisory), ("- Advisory", advisory)),
        (Listing(f"new {title}", f"new {title}", tuple(docs), ("Board",)),),
    )


def board_meetings_section(conn: Connection, days: StatsRange) -> Section:
    """PDQ board meetings held in range, on site or by WebEx."""
    d = active_doc.alias("d")
    n, on_n = _qt(query_term, "n", d.c.id, _ORG_NAME)
    m, on_m = _qt(query_term, "m", d.c.id, _MEETING_DATE)
    w, on_w = _qt(query_term, "w", d.c.id, f"{_MEETING_DATE}/@WebEx")
    stmt = (
        select(d.c.id, n.c.value, m.c.value, w.c.value)
        .select_from(
            d.join(n, on_n)
            .join(m, on_m)
            .outerjoin(w, and_(on_w, _block(w.c.node_loc, 12) == _block(m.c.node_loc, 12)))
        )
        .where(days.texts(m.c.value))
    )
    meetings = [
        Listed(row[0], row[1], (row[2], "Yes" if row[3] else ""), (row[1], row[2]))
        for row in conn.execute(stmt)
    ]
    webex = sum(1 for meeting in meetings if meeting.extra[1])
    title = "PDQ Board Meetings"
    return Section(
        "boardmeetings",
        ((title, None), ("- Onsite Meetings", len(meetings) - webex), ("- WebEx Meetings", webex)),
        (Listing(title, title, tuple(meetings), ("Date", "WebEx?")),),
    )


def image_section(conn: Connection, days: StatsRange) -> Section:
    """Image Media documents first published, or last pushed, in range."""
    d, c, source = _published()
    t, on_t = _qt(query_term, "t", d.c.id, "/Media/MediaTitle")
    e, on_e = _qt(query_term, "e", d.c.id, "/Media/PhysicalMedia/ImageData/ImageEncoding")
    p, pd = pub_proc.alias("p"), pub_proc_doc.alias("pd")
    stmt = (
        select(d.c.id, t.c.value, d.c.first_pub, p.c.started)
        .select_from(
            source.join(t, on_t)
            .join(e, on_e)
            .join(p, p.c.id == c.c.pub_proc)
            .join(pd, and_(pd.c.doc_id == d.c.id, pd.c.pub_proc == p.c.id))
        )
        .where(
            d.c.active_status == "A",
            or_(days.moments(d.c.first_pub), days.moments(p.c.started)),
        )
    )
    rows = conn.execute(stmt).all()
    new = sum(1 for r in rows if days.holds(r[2]))
    title = "PDQ Image Files"
    docs = tuple(Listed(r[0], r[1], (_shown(r[2]), _shown(r[3]))) for r in rows)
    return Section(
        "image",
        ((title, None), (" - New", new), (" - Revised", len(rows) - new)),
        (Listing(title, title, docs, ("First Pub", "Date Modified")),),
    )


def stats_sections(
    conn: Connection,
    days: StatsRange,
    sections: Iterable[str] = SECTION_NAMES,
    log: Callable[[str], None] = lambda _message: None,
) -> list[Section]:
    """The requested sections, in the report's fixed order."""
    wanted = set(sections)
    builders: dict[str, Callable[[], Section]] = {
        "summary": lambda: summary_section(conn, days),
        "glossary": lambda: glossary_section(conn, days, audio_only="glossary" not in wanted),
        "genetics": lambda: genetics_section(conn, days),
        "drug": lambda: drug_section(conn, days),
        "dis": lambda: dis_section(conn, days),
        "boardmembers": lambda: board_members_section(conn, days),
        "boardmeetings": lambda: board_meetings_section(conn, days),
        "image": lambda: image_section(conn, days),
    }
    result = []
    for name in SECTIONS:
        if name in wanted or (name == "glossary" and "audio" in wanted):
            section = builders[name]()
            log(
                f"{section.name}: "
                + ", ".join(f"{k.strip()} {v}" for k, v in section.counts if v is not None)
            )
            result.append(section)
    return result


# --- layout -------------------------------------------------------------------------------

CELL_STYLES = {
    "font-family": "Arial",
    "border": "1px solid #999",
    "vertical-align": "top",
    "padding": "1px 5px",
    "margin": "0",
}
TABLE_STYLE = (
    "min-width: 350px; border: 1px solid #999; border-collapse: collapse; "
    "margin-top: 30px; background-color: white"
)
CAPTION_STYLE = (
    "font-weight:bold;font-size:1.2em;font-family:Arial;text-align:left;background-color:white"
)
EMPTY_STYLE = "font-family: Arial; margin-top: 30px; font-style: italic;"


def stats_report(
    title: str,
    days: StatsRange,
    sections: Sequence[Section],
    today: date,
    *,
    docs: bool = True,
    ids: bool = True,
    max_docs: int = 0,
) -> Report:
    """The report: counts table, then (with ``docs``) each section's detail tables."""
    from cdr_dagster.reports import Paragraph, Report, Table, report_date

    def table(columns: Sequence[str], rows: list[list[Any]], caption: str | None) -> Table:
        return Table(
            columns=columns,
            rows=rows,
            caption=caption,
            style=TABLE_STYLE,
            caption_style=CAPTION_STYLE,
            header_styles=CELL_STYLES,
            cell_styles=CELL_STYLES,
        )

    counts: list[list[Any]] = []
    for section in sections:
        counts += [[label, "" if count is None else count] for label, count in section.counts]
        counts.append([BLANK, ""])
    blocks: list[Any] = [
        report_date(today),
        table(["Documents", f"From {days.start} to {days.end}"], counts, None),
    ]
    for listing in (listing for s in sections for listing in s.listings) if docs else ():
        if not listing.rows:
            blocks.append(Paragraph(f"No {listing.what} found during this time", EMPTY_STYLE))
            continue
        rows = listing.sorted_rows()
        caption = f"{len(rows)} {listing.label}"
        if max_docs and len(rows) > max_docs:
            caption += (
                " (showing first row)" if max_docs == 1 else f" (showing first {max_docs} rows)"
            )
            rows = rows[:max_docs]
        columns = (["CDR ID"] if ids else []) + ["Title", *listing.extra_columns]
        body = [([f"CDR{row.id:010d}"] if ids else []) + [row.title, *row.extra] for row in rows]
        blocks.append(table(columns, body, caption))
    return Report(
        title=title,
        blocks=blocks,
        heading_style="font-family: Arial;",
        body_style="font-size: .9em",
    )
