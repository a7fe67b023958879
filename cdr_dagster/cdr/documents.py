"""CDR documents and their versions, read as plain frozen dataclasses; CDR id helpers.

Reads of current documents go to the ``document`` view (deleted documents hidden); versions come
from the ``doc_version`` view. Document type names compare case-insensitively, as on SQL Server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from sqlalchemy import Select, and_, func, select
from sqlalchemy.engine import Connection, Row

from cdr_dagster.cdr.schema import doc_type, doc_version, document
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.xml import parse_xml

_CDR_ID = re.compile(r"^\s*(?:CDR)?(\d+)\s*$", re.IGNORECASE)
_MAX_ID = 9_999_999_999


def normalize_cdr_id(value: int | str) -> int:
    """The integer id of ``12345``, ``"12345"``, ``"CDR12345"`` or ``"CDR0000012345"``.

    Raises ValueError naming the value when it is not a CDR document id (fragments such as
    ``#F1``, other text, zero, negative or more than ten digits).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a CDR id: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := _CDR_ID.match(value)):
        number = int(match.group(1))
    else:
        raise ValueError(f"not a CDR id: {value!r}")
    if not 1 <= number <= _MAX_ID:
        raise ValueError(f"not a CDR id: {value!r} (out of range)")
    return number


def format_cdr_id(value: int | str) -> str:
    """The canonical form ``CDR0000012345`` (ten digits) of any accepted CDR id."""
    return f"CDR{normalize_cdr_id(value):010d}"


@dataclass(frozen=True)
class Document:
    """The current working copy of a CDR document."""

    id: int
    doc_type: str
    title: str
    xml: str
    active_status: str
    val_status: str
    first_pub: datetime | None

    @property
    def cdr_id(self) -> str:
        """``CDR0000012345``."""
        return format_cdr_id(self.id)

    def root(self) -> etree._Element:
        """The parsed XML (safe parser; errors name the document)."""
        return parse_xml(self.xml, name=self.cdr_id)


@dataclass(frozen=True)
class DocumentVersion:
    """One saved version of a CDR document."""

    id: int
    num: int
    doc_type: str
    title: str
    xml: str
    publishable: bool
    val_status: str
    dt: datetime
    updated_dt: datetime

    @property
    def cdr_id(self) -> str:
        """``CDR0000012345``."""
        return format_cdr_id(self.id)

    def root(self) -> etree._Element:
        """The parsed XML (safe parser; errors name the document and version)."""
        return parse_xml(self.xml, name=f"{self.cdr_id} version {self.num}")


def _documents() -> Select:
    d = document.c
    return select(
        d.id,
        doc_type.c.name.label("type_name"),
        d.title,
        d.xml,
        d.active_status,
        d.val_status,
        d.first_pub,
    ).join(doc_type, doc_type.c.id == d.doc_type)


def _document(row: Row) -> Document:
    return Document(
        id=row.id,
        doc_type=row.type_name,
        title=row.title,
        xml=row.xml,
        active_status=row.active_status,
        val_status=row.val_status,
        first_pub=row.first_pub,
    )


def _versions() -> Select:
    v = doc_version.c
    return select(
        v.id,
        v.num,
        doc_type.c.name.label("type_name"),
        v.title,
        v.xml,
        v.publishable,
        v.val_status,
        v.dt,
        v.updated_dt,
    ).join(doc_type, doc_type.c.id == v.doc_type)


def _version(row: Row) -> DocumentVersion:
    return DocumentVersion(
        id=row.id,
        num=row.num,
        doc_type=row.type_name,
        title=row.title,
        xml=row.xml,
        publishable=row.publishable == "Y",
        val_status=row.val_status,
        dt=row.dt,
        updated_dt=row.updated_dt,
    )


def current_document(conn: Connection, doc_id: int | str) -> Document | None:
    """The current working copy of a document, or None if it does not exist or is deleted."""
    stmt = _documents().where(document.c.id == normalize_cdr_id(doc_id))
    row = conn.execute(stmt).first()
    return _document(row) if row else None


def documents_of_type(conn: Connection, type_name: str) -> list[Document]:
    """Current working copies of every (not deleted) document of a type, by id."""
    stmt = _documents().where(iequals(doc_type.c.name, type_name)).order_by(document.c.id)
    return [_document(row) for row in conn.execute(stmt)]


def document_version(conn: Connection, doc_id: int | str, num: int) -> DocumentVersion | None:
    """Version ``num`` of a document (deleted documents included), or None."""
    stmt = _versions().where(doc_version.c.id == normalize_cdr_id(doc_id), doc_version.c.num == num)
    row = conn.execute(stmt).first()
    return _version(row) if row else None


def latest_publishable_version(conn: Connection, doc_id: int | str) -> DocumentVersion | None:
    """The highest-numbered publishable version of a document, or None if it has none."""
    stmt = (
        _versions()
        .where(doc_version.c.id == normalize_cdr_id(doc_id), doc_version.c.publishable == "Y")
        .order_by(doc_version.c.num.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return _version(row) if row else None


def latest_publishable_versions_of_type(conn: Connection, type_name: str) -> list[DocumentVersion]:
    """The latest publishable version of every (not deleted) document of a type, by id.

    Documents of the type without any publishable version are left out.
    """
    v = doc_version.c
    latest = (
        select(v.id, func.max(v.num).label("num"))
        .where(v.publishable == "Y")
        .group_by(v.id)
        .subquery("latest")
    )
    stmt = (
        _versions()
        .join(latest, and_(latest.c.id == v.id, latest.c.num == v.num))
        .join(document, document.c.id == v.id)
        .where(iequals(doc_type.c.name, type_name))
        .order_by(v.id)
    )
    return [_version(row) for row in conn.execute(stmt)]
