"""The file sweeper's configuration document in the CDR
(docs/behaviour-notes.md#sweep-specifications).

The sweeper reads the latest schema-valid version (``val_status = 'V'``) of the one
``SweepSpecifications`` document, whether or not it is publishable; the working copy is not
used. Versions of a deleted document still count (``doc_version`` includes them). More than
one such document, or none, is an error; the legacy died on "none" without telling anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.cdr.schema import doc_type, doc_version
from cdr_dagster.cdr.sql import iequals

DOC_TYPE = "SweepSpecifications"


class SweepDocumentError(LookupError):
    """No usable SweepSpecifications document (none, or more than one)."""


@dataclass(frozen=True)
class SweepDocument:
    """The XML of the version the sweeper uses, and which version that is."""

    doc_id: int
    version: int
    xml: str

    @property
    def source(self) -> str:
        """``CDR0000792672 version 2`` for messages."""
        return f"{format_cdr_id(self.doc_id)} version {self.version}"


def latest_valid_sweep_document(conn: Connection) -> SweepDocument:
    """The latest valid version of the one ``SweepSpecifications`` document."""
    v = doc_version.c
    latest = (
        select(v.id, func.max(v.num).label("num"))
        .join(doc_type, doc_type.c.id == v.doc_type)
        .where(iequals(doc_type.c.name, DOC_TYPE), v.val_status == "V")
        .group_by(v.id)
        .order_by(v.id)
    )
    rows = conn.execute(latest).all()
    if len(rows) > 1:
        ids = ", ".join(format_cdr_id(row.id) for row in rows)
        raise SweepDocumentError(f"More than one SweepSpecifications document found ({ids})")
    if not rows:
        raise SweepDocumentError(
            "No SweepSpecifications document with a valid version found in the CDR"
        )
    doc_id, num = rows[0].id, rows[0].num
    xml = conn.execute(select(v.xml).where(v.id == doc_id, v.num == num)).scalar_one()
    if xml is None:
        raise SweepDocumentError(
            f"{format_cdr_id(doc_id)} version {num} (SweepSpecifications) has no XML"
        )
    return SweepDocument(doc_id=doc_id, version=num, xml=xml)
