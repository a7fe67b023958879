"""The CDR's XSLT filters for the dictionary loads: fetched by title, run with no I/O at all.

The legacy loader took the filter from the CDR ``Filter`` document titled
``Index Glossary Dictionary`` or ``Index Drug Dictionary`` (current working XML), so a filter
change made in the CDR flows through to the next load. We keep that contract. The filter is
parsed with the one safe parser (:mod:`cdr_dagster.cdr.xml`) and compiled with an access
control that denies reading and writing files and network resources (``document()``,
``xsl:include``, ``exsl:document`` all fail). No extension functions of ours are registered;
lxml's EXSLT functions (``re:``, ``str:``, ``set:``, ...) stay available, as they were to the
legacy loader, so a CDR filter that uses them keeps working.

Our own filters (``cdr_dagster/filters/*.xsl``) give exactly the documented document shapes;
:func:`install_filter` stores them as CDR Filter documents for the demo and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.control_documents import document_type_id, install_control_document
from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.cdr.schema import doc_type, document
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.xml import XmlError, parse_xml

#: The CDR document type of XSLT filters.
FILTER_DOC_TYPE = "Filter"
#: The folder of our own filters (packaged with ``filters/*.xsl``).
FILTERS_DIR = Path(__file__).resolve().parent.parent.parent / "filters"
#: Our filter file for each CDR filter title.
PACKAGED_FILTERS = {
    "Index Glossary Dictionary": "index-glossary-dictionary.xsl",
    "Index Drug Dictionary": "index-drug-dictionary.xsl",
}

_NO_ACCESS = etree.XSLTAccessControl.DENY_ALL


class FilterError(ValueError):
    """A filter is missing, ambiguous, not XSLT, or failed on a document; the message says which."""


@dataclass(frozen=True)
class FilterSource:
    """Where a filter came from: the CDR document (id and title), and its XML."""

    doc_id: int | None
    title: str
    xml: str

    @property
    def name(self) -> str:
        """``'Index Glossary Dictionary' (CDR0000800355)`` or the title alone."""
        where = f" ({format_cdr_id(self.doc_id)})" if self.doc_id else ""
        return f"{self.title!r}{where}"


class DictionaryFilter:
    """A compiled filter; call :meth:`apply` with a parsed document and the tier."""

    def __init__(self, source: FilterSource) -> None:
        self.source = source
        try:
            root = parse_xml(source.xml, name=f"filter {source.name}")
            self._transform = etree.XSLT(root, access_control=_NO_ACCESS)
        except (XmlError, etree.XSLTParseError) as exc:
            raise FilterError(f"filter {source.name} is not a usable XSLT filter: {exc}") from exc
        self._tiers: dict[str, object] = {}

    def apply(self, document: etree._Element, tier: str) -> etree._Element | None:
        """The root of the filter's result for ``document`` (``tier`` is the ``tier``
        parameter, a string). Raises :class:`FilterError` naming the filter on an XSLT error."""
        param = self._tiers.get(tier)
        if param is None:  # quoted once per tier, not once per document
            param = self._tiers[tier] = etree.XSLT.strparam(tier)
        try:
            result = self._transform(document, tier=param)
        except etree.XSLTApplyError as exc:
            raise FilterError(f"filter {self.source.name} failed: {exc}") from exc
        return result.getroot()


def _filters_titled(title: str):
    d = document.c
    return (
        select(d.id, d.title, d.xml)
        .join(doc_type, doc_type.c.id == d.doc_type)
        .where(iequals(doc_type.c.name, FILTER_DOC_TYPE), iequals(d.title, title))
        .order_by(d.id)
    )


def filter_source(conn: Connection, title: str) -> FilterSource:
    """The current working XML of the CDR Filter document titled ``title`` (compared without
    regard to case, as the CDR's SQL Server does). Raises :class:`FilterError` when there is no
    such document or more than one."""
    rows = conn.execute(_filters_titled(title)).all()
    if not rows:
        raise FilterError(f"the CDR has no Filter document titled {title!r}")
    if len(rows) > 1:
        ids = ", ".join(format_cdr_id(row.id) for row in rows)
        raise FilterError(f"several CDR Filter documents are titled {title!r}: {ids}")
    row = rows[0]
    return FilterSource(row.id, row.title, row.xml)


def load_filter(conn: Connection, title: str) -> DictionaryFilter:
    """The CDR filter titled ``title``, compiled (see :func:`filter_source`)."""
    return DictionaryFilter(filter_source(conn, title))


def packaged_filter(title: str) -> FilterSource:
    """Our own filter for ``title`` (no CDR id)."""
    try:
        name = PACKAGED_FILTERS[title]
    except KeyError:
        raise FilterError(f"cdr-dagster ships no filter titled {title!r}") from None
    return FilterSource(None, title, (FILTERS_DIR / name).read_text(encoding="utf-8"))


def install_filter(
    conn: Connection, title: str, xml: str | None = None, now: datetime | None = None
) -> int:
    """Store ``xml`` (default: our own filter for ``title``) as the CDR Filter document titled
    ``title``: the existing one is updated, or a new one is added (with the ``Filter`` document
    type, created if missing). Returns the document id. For the demo and the tests only; in
    production the CDR's filters are maintained in the CDR."""
    if conn.dialect.name == "mssql":
        raise FilterError("install_filter is for the demo and test databases, never the CDR")
    xml = packaged_filter(title).xml if xml is None else xml
    now = now or datetime.now()
    type_id = document_type_id(conn, FILTER_DOC_TYPE, "XSL/T filters", now)
    return install_control_document(
        conn, _filters_titled(title), type_id, title, xml, comment="cdr-dagster filter", now=now
    )
