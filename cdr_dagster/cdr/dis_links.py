"""Temporary links of Drug Information Summaries: which have expired, and their removal.

A ``DrugReference`` block at the top of a ``DrugInformationSummary`` is a *temporary link*
when its ``TemporaryLink`` attribute is ``Yes`` (compared case-insensitively, as the CDR's
SQL Server does), it has a ``DrugReferenceLink/@cdr:xref`` URL and a non-empty
``DrugReferencePostedDate``. It has *expired* against a cutoff date when it was posted
**on or before** the cutoff (the dates compare as ``YYYY-MM-DD`` strings), as the legacy
jobs selected it.

The same rule decides both what is selected (from the path index, for the report and for the
documents the removal visits) and what the removal takes out of the XML. The legacy removal
took out only links posted strictly before the cutoff, so a link posted on the cutoff day was
selected, its document visited and saved unchanged; here the removal takes it out too (see
``docs/differences-from-legacy.md``).

Cutoffs (docs/behaviour-notes.md#expiring-dis-links): removal, today minus three calendar
years; report, one month later than that, so the report lists what next month's removal will
take. 29 February maps to 28 February, as ``dateutil.relativedelta`` did for the legacy jobs.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from lxml import etree
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import document, query_term
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.xml import get_text, parse_xml

CDR_NS = "cips.nci.nih.gov/cdr"
DRUG_REFERENCE = "/DrugInformationSummary/DrugReference"
URL_PATH = f"{DRUG_REFERENCE}/DrugReferenceLink/@cdr:xref"
POSTED_PATH = f"{DRUG_REFERENCE}/DrugReferencePostedDate"
TEMPORARY_PATH = f"{DRUG_REFERENCE}/@TemporaryLink"
REMOVAL_COMMENT = "Removing expired temporary links"
LINK_ACCOUNT = "linksweeper"
RETENTION_YEARS = 3
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def shift_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def removal_cutoff(today: date) -> str:
    """The default removal cutoff: ``today`` minus three years, ``YYYY-MM-DD``."""
    return shift_months(today, -12 * RETENTION_YEARS).isoformat()


def report_cutoff(today: date) -> str:
    """The default report cutoff: ``today`` minus three years plus one month, ``YYYY-MM-DD``."""
    return shift_months(today, -12 * RETENTION_YEARS + 1).isoformat()


def check_cutoff(value: str) -> str:
    """``value`` if it is a ``YYYY-MM-DD`` date, else ValueError naming it."""
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"cutoff {value!r} is not a YYYY-MM-DD date") from None
    if not _DATE.fullmatch(value):
        raise ValueError(f"cutoff {value!r} is not a YYYY-MM-DD date")
    return value


def is_expired(temporary: str | None, posted: str | None, cutoff: str) -> bool:
    """The expiry rule on a block's ``TemporaryLink`` value and posted date text."""
    return (temporary or "").lower() == "yes" and bool(posted) and posted <= cutoff  # type: ignore[operator]


@dataclass(frozen=True)
class ExpiringLink:
    """One temporary link posted on or before the cutoff."""

    doc_id: int
    url: str
    posted: str


def _expired_blocks(cutoff: str):  # noqa: ANN202 - a SQLAlchemy Select
    """Index rows of expired links: the URL, posted date and temporary flag of one block.

    Rows of one block share the first four characters of ``node_loc``.
    """
    u, d, t = query_term.alias("u"), query_term.alias("d"), query_term.alias("t")
    block = func.substring(u.c.node_loc, 1, 4)
    return (
        select(u.c.doc_id, u.c.value.label("url"), d.c.value.label("posted"))
        .select_from(u)
        .join(d, and_(d.c.doc_id == u.c.doc_id, func.substring(d.c.node_loc, 1, 4) == block))
        .join(t, and_(t.c.doc_id == u.c.doc_id, func.substring(t.c.node_loc, 1, 4) == block))
        .join(document, document.c.id == u.c.doc_id)
        .where(
            u.c.path == URL_PATH,
            d.c.path == POSTED_PATH,
            t.c.path == TEMPORARY_PATH,
            iequals(t.c.value, "Yes"),
            d.c.value != "",
            d.c.value <= check_cutoff(cutoff),
        )
    )


def expiring_links(conn: Connection, cutoff: str) -> list[ExpiringLink]:
    """Distinct expired links (by document, then newest posting first) for the report."""
    blocks = _expired_blocks(cutoff).distinct().subquery("blocks")
    stmt = select(blocks).order_by(blocks.c.doc_id, blocks.c.posted.desc(), blocks.c.url)
    return [ExpiringLink(row.doc_id, row.url or "", row.posted) for row in conn.execute(stmt)]


def documents_with_expired_links(conn: Connection, cutoff: str) -> list[int]:
    """Ids of the (not deleted) documents with an expired link, ascending."""
    blocks = _expired_blocks(cutoff).subquery("blocks")
    stmt = select(blocks.c.doc_id).distinct().order_by(blocks.c.doc_id)
    return list(conn.execute(stmt).scalars())


@dataclass(frozen=True)
class RemovedLink:
    """A ``DrugReference`` block taken out of a document."""

    posted: str
    url: str


@dataclass(frozen=True)
class LinkRemoval:
    """A document's XML without its expired links, and what was taken out."""

    xml: str
    removed: tuple[RemovedLink, ...]


def remove_expired_links(xml: str, cutoff: str, name: str = "document") -> LinkRemoval:
    """Take every expired temporary link block out of a DrugInformationSummary.

    Only top-level ``DrugReference`` blocks with a URL are considered, as in the selection.
    The XML comes back unchanged (same string) when nothing expired.
    """
    check_cutoff(cutoff)
    root = parse_xml(xml, name=name)
    removed = []
    for block in root.findall("DrugReference"):
        link = block.find("DrugReferenceLink")
        url = link.get(f"{{{CDR_NS}}}xref") if link is not None else None
        posted = get_text(block, "DrugReferencePostedDate")
        if url is None or not is_expired(block.get("TemporaryLink"), posted, cutoff):
            continue
        _drop(block)
        removed.append(RemovedLink(posted or "", url))
    if not removed:
        return LinkRemoval(xml, ())
    return LinkRemoval(etree.tostring(root, encoding="unicode"), tuple(removed))


def _drop(element: etree._Element) -> None:
    """Remove an element, keeping the whitespace layout of its siblings."""
    parent = element.getparent()
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail if element.tail is not None else previous.tail
    else:
        parent.text = element.tail if element.tail is not None else parent.text
    parent.remove(element)
