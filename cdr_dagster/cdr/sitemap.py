"""The sitemap of the cancer.gov dictionary pages (legacy ``sitemap.Loader``,
docs/behaviour-notes.md#dictionary-sitemap).

The CDR keeps, in ctl ``dictionary``/``sitemap-entries``, one line ``CDRID,key,language`` per
dictionary definition page to list: key ``term`` (cancer terms), ``genetic`` (genetics
dictionary) or ``drug`` (drug dictionary); language ``English`` or ``Spanish``. For each line
the page's URL is built from the document as it was last exported to cancer.gov
(``pub_proc_cg.xml``): the glossary's ``TermName``/``SpanishTermName``, a drug's
``CGovInfo/NCITName`` or else its ``PreferredName``, made a pretty URL by the dictionaries' rule
(docs/behaviour-notes.md#pretty-urls), or the CDR id when that gives nothing.

What this module does differently from the legacy job, on purpose:

- every bad line of the CSV is reported at once, with its line number and what is wrong (the
  legacy job stopped at the first one with a bare ``ValueError``); blank lines are skipped;
- the children of ``<url>`` follow the schema's order (``loc``, ``changefreq``, ``priority``;
  the legacy job wrote ``priority`` first, which the sitemap 0.9 schema rejects);
- a URL listed by several lines for the same CDR id is written once; a URL shared by different
  CDR ids is still left out, as before (the page is ambiguous), but is returned in
  ``Sitemap.duplicates`` so the caller reports it, not only a log line.

No Dagster here: :func:`build_sitemap` takes a SQLAlchemy connection and returns a
:class:`Sitemap`; :func:`validate_sitemap` checks the XML against ``schemas/sitemap-0.9.xsd``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.control import control_value
from cdr_dagster.cdr.dictionaries.text import clean_pretty_url
from cdr_dagster.cdr.schema import doc_type, document, pub_proc_cg
from cdr_dagster.cdr.xml import XmlError, parse_xml

#: Where the CDR keeps the CSV of sitemap entries.
ENTRIES_GROUP, ENTRIES_NAME = "dictionary", "sitemap-entries"
#: Where the sitemap goes, relative to the NetStorage login folder (and the local folder).
DESTINATION = "sitemaps/dictionaries.xml"
NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITE = "https://www.cancer.gov"
CHANGEFREQ = "weekly"
PRIORITY = "0.5"
#: The protocol's limits for one sitemap file.
MAX_URLS = 50_000
MAX_BYTES = 50 * 1024 * 1024
SCHEMA_PATH = Path(__file__).with_name("schemas") / "sitemap-0.9.xsd"

#: The page path of each (key, language) pair; any other pair is a bad line.
URL_PATTERNS = {
    ("term", "English"): "publications/dictionaries/cancer-terms",
    ("term", "Spanish"): "espanol/publicaciones/diccionarios/diccionario-cancer",
    ("genetic", "English"): "publications/dictionaries/genetics-dictionary",
    ("genetic", "Spanish"): "espanol/publicaciones/diccionarios/diccionario-genetica",
    ("drug", "English"): "publications/dictionaries/cancer-drug",
}
KEYS = ("term", "genetic", "drug")
LANGUAGES = ("English", "Spanish")
#: Ids per query: well under SQL Server's 2,100 parameters.
_BATCH = 500


class SitemapEntriesError(ValueError):
    """The CSV of sitemap entries has bad lines; ``bad_lines`` lists every one."""

    def __init__(self, bad_lines: list[BadLine], message: str | None = None) -> None:
        self.bad_lines = bad_lines
        if message is None:
            listed = "; ".join(f"line {b.line}: {b.text!r}: {b.reason}" for b in bad_lines[:20])
            more = f"; and {len(bad_lines) - 20} more" if len(bad_lines) > 20 else ""
            message = (
                f"ctl {ENTRIES_GROUP}/{ENTRIES_NAME} has {len(bad_lines)} bad line(s): "
                f"{listed}{more}"
            )
        super().__init__(message)


class SitemapDocumentError(ValueError):
    """Entries point at documents that cannot give a URL (wrong type, broken XML)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class BadLine:
    """A line of the CSV that is not ``CDRID,key,language``: its number, text and the reason."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class SitemapEntry:
    """One line of the CSV: line number, CDR id, key and language."""

    line: int
    cdr_id: int
    key: str
    language: str

    def describe(self) -> str:
        """``Spanish term entry CDR46710 (line 3)``, for messages."""
        return f"{self.language} {self.key} entry CDR{self.cdr_id} (line {self.line})"


@dataclass(frozen=True)
class EntryUrl:
    """The URL of one entry; ``by_id`` when the name gave none and the CDR id was used."""

    entry: SitemapEntry
    url: str
    by_id: bool


@dataclass
class Sitemap:
    """The sitemap built from the entries, and what happened to each entry."""

    xml: bytes
    urls: list[str]
    entries: int
    by_key: dict[str, int] = field(default_factory=dict)
    unpublished: list[SitemapEntry] = field(default_factory=list)
    by_id: list[EntryUrl] = field(default_factory=list)
    #: URL -> the entries of different CDR ids that gave it (left out of the sitemap).
    duplicates: dict[str, list[SitemapEntry]] = field(default_factory=dict)
    #: URL -> the entries of one CDR id that gave it more than once (written once).
    repeated: dict[str, list[SitemapEntry]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Names:
    """What one exported document offers for URLs."""

    doc_type: str
    english: str | None
    spanish: str | None
    drug: str | None


# -- the CSV ------------------------------------------------------------------------------------


def parse_entries(text: str) -> list[SitemapEntry]:
    """The entries of the CSV ``text``, in file order.

    Raises :class:`SitemapEntriesError` listing every bad line (wrong number of fields, an id
    that is not a positive integer, an unknown key or language, a pair with no dictionary such
    as drug/Spanish). Blank lines are skipped.
    """
    entries: list[SitemapEntry] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [part.strip() for part in line.split(",")]
        if len(fields) != 3:
            bad.append(BadLine(number, line, f"{len(fields)} fields, expected CDRID,key,language"))
            continue
        cdr_id, key, language = fields
        reason = _bad_fields(cdr_id, key, language)
        if reason:
            bad.append(BadLine(number, line, reason))
            continue
        entries.append(SitemapEntry(number, int(cdr_id), key, language))
    if bad:
        raise SitemapEntriesError(bad)
    return entries


def _bad_fields(cdr_id: str, key: str, language: str) -> str | None:
    if not cdr_id.isdigit() or int(cdr_id) == 0:
        return f"CDR id {cdr_id!r} is not a positive integer"
    if key not in KEYS:
        return f"key {key!r} is not one of {', '.join(KEYS)}"
    if language not in LANGUAGES:
        return f"language {language!r} is not one of {', '.join(LANGUAGES)}"
    if (key, language) not in URL_PATTERNS:
        return f"there is no {language} {key} dictionary"
    return None


def read_entries(conn: Connection) -> list[SitemapEntry]:
    """The entries in the CDR's ctl row; an error when the row is missing."""
    text = control_value(conn, ENTRIES_GROUP, ENTRIES_NAME)
    if text is None:
        raise SitemapEntriesError(
            [], f"there is no active ctl row {ENTRIES_GROUP}/{ENTRIES_NAME} with the entries"
        )
    return parse_entries(text)


# -- URLs ---------------------------------------------------------------------------------------


def page_url(key: str, language: str, segment: str | int) -> str:
    """``https://www.cancer.gov/{pattern}/def/{segment}`` for the (key, language) dictionary."""
    return f"{SITE}/{URL_PATTERNS[(key, language)]}/def/{segment}"


def _node_text(root: etree._Element, path: str) -> str | None:
    """The element's own text (not its children's), as the legacy URL rule read it."""
    node = root.find(path)
    return node.text if node is not None else None


def _names(doc_id: int, type_name: str, xml: str) -> _Names:
    root = parse_xml(xml, f"CDR{doc_id} (pub_proc_cg)")
    drug = _node_text(root, "CGovInfo/NCITName") or _node_text(root, "PreferredName")
    return _Names(
        doc_type=type_name,
        english=_node_text(root, "TermName"),
        spanish=_node_text(root, "SpanishTermName"),
        drug=drug,
    )


def _published(conn: Connection, ids: Iterable[int]) -> tuple[dict[int, _Names], dict[int, str]]:
    """Names of the documents on cancer.gov among ``ids``, and why others failed to parse."""
    wanted = sorted(set(ids))
    names: dict[int, _Names] = {}
    broken: dict[int, str] = {}
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        stmt = (
            select(pub_proc_cg.c.id, doc_type.c.name, pub_proc_cg.c.xml)
            .join(document, document.c.id == pub_proc_cg.c.id)
            .join(doc_type, doc_type.c.id == document.c.doc_type)
            .where(pub_proc_cg.c.id.in_(batch))
        )
        for row in conn.execute(stmt):
            try:
                names[row.id] = _names(row.id, row.name, row.xml)
            except XmlError as exc:
                broken[row.id] = str(exc)
    return names, broken


def _segment(entry: SitemapEntry, names: _Names) -> str | None:
    if entry.key == "drug":
        text = names.drug
    else:
        text = names.english if entry.language == "English" else names.spanish
    return (clean_pretty_url(text) or None) if text else None


def entry_urls(
    conn: Connection, entries: list[SitemapEntry], warn: Callable[[str], None] | None = None
) -> tuple[list[EntryUrl], list[SitemapEntry]]:
    """The URL of each entry on cancer.gov, and the entries whose document is not there.

    Raises :class:`SitemapDocumentError` naming every entry whose document cannot give a URL:
    a ``drug`` entry that is not a Term document, or exported XML that does not parse.
    """
    warn = warn or (lambda message: None)
    published, broken = _published(conn, (entry.cdr_id for entry in entries))
    problems = [broken[doc_id] for doc_id in sorted(broken)]
    urls: list[EntryUrl] = []
    unpublished: list[SitemapEntry] = []
    for entry in entries:
        names = published.get(entry.cdr_id)
        if names is None:
            if entry.cdr_id not in broken:
                warn(f"{entry.describe()} not published")
                unpublished.append(entry)
            continue
        if entry.key == "drug" and names.doc_type != "Term":
            problems.append(f"{entry.describe()}: CDR{entry.cdr_id} has doctype {names.doc_type}")
            continue
        segment = _segment(entry, names)
        if segment is None:
            warn(f"{entry.describe()} has no URL; using CDR ID")
        url = page_url(entry.key, entry.language, segment or entry.cdr_id)
        urls.append(EntryUrl(entry, url, by_id=segment is None))
    if problems:
        raise SitemapDocumentError(problems)
    return urls, unpublished


# -- the XML ------------------------------------------------------------------------------------


def render_sitemap(urls: Iterable[str]) -> bytes:
    """The ``urlset`` document listing ``urls`` in the given order: UTF-8, indented by two
    spaces, no XML declaration (as the legacy file); children in the schema's order."""
    ns = f"{{{NAMESPACE}}}"
    urlset = etree.Element(f"{ns}urlset", nsmap={None: NAMESPACE})
    for url in urls:
        node = etree.SubElement(urlset, f"{ns}url")
        etree.SubElement(node, f"{ns}loc").text = url
        etree.SubElement(node, f"{ns}changefreq").text = CHANGEFREQ
        etree.SubElement(node, f"{ns}priority").text = PRIORITY
    return etree.tostring(urlset, pretty_print=True, encoding="utf-8")


def build_sitemap(
    conn: Connection, entries: list[SitemapEntry], warn: Callable[[str], None] | None = None
) -> Sitemap:
    """The sitemap of ``entries`` (see the module docstring for the rules)."""
    warn = warn or (lambda message: None)
    found, unpublished = entry_urls(conn, entries, warn)
    users: dict[str, list[EntryUrl]] = {}
    for item in found:
        users.setdefault(item.url, []).append(item)
    kept: list[str] = []
    duplicates: dict[str, list[SitemapEntry]] = {}
    repeated: dict[str, list[SitemapEntry]] = {}
    for url in sorted(users):
        listed = [item.entry for item in users[url]]
        if len({entry.cdr_id for entry in listed}) > 1:
            warn(f"duplicate URL {url!r} left out")
            for entry in listed:
                warn(f"... used by {entry.describe()}")
            duplicates[url] = listed
            continue
        if len(listed) > 1:
            repeated[url] = listed
        kept.append(url)
    by_key: dict[str, int] = {}
    for url in kept:
        entry = users[url][0].entry
        label = f"{entry.key}/{entry.language}"
        by_key[label] = by_key.get(label, 0) + 1
    return Sitemap(
        xml=render_sitemap(kept),
        urls=kept,
        entries=len(entries),
        by_key=dict(sorted(by_key.items())),
        unpublished=unpublished,
        by_id=[item for item in found if item.by_id],
        duplicates=duplicates,
        repeated=repeated,
    )


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(parse_xml(SCHEMA_PATH.read_bytes(), str(SCHEMA_PATH)))


def validate_sitemap(xml: bytes) -> list[str]:
    """What is wrong with ``xml`` as a sitemap 0.9 file (empty when it is valid): schema
    errors with their line numbers, and the protocol's 50,000-URL and 50 MB limits."""
    try:
        root = parse_xml(xml, "sitemap")
    except XmlError as exc:
        return [str(exc)]
    schema = _schema()
    problems = [
        f"line {error.line}: {error.message}"
        for error in (schema.error_log if not schema.validate(root) else [])
    ]
    count = len(root.findall(f"{{{NAMESPACE}}}url"))
    if count > MAX_URLS:
        problems.append(f"{count} URLs; a sitemap file may hold at most {MAX_URLS}")
    if len(xml) > MAX_BYTES:
        problems.append(f"{len(xml)} bytes; a sitemap file may be at most {MAX_BYTES}")
    return problems
