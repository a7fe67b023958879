"""Media documents as published: which versions are on Cancer.gov, their XML and their blobs.

See docs/behaviour-notes.md#media-check. The versions last pushed are the distinct
(``pub_proc_cg.id``,
``pub_proc_doc.doc_version``) pairs of Media documents in ``pub_proc_cg``, joined to the
``pub_proc_doc`` row of the push that put them there. A version's blob comes from
``version_blob_usage`` and ``doc_blob``; its export file name (which decides image or audio)
from ``/Media/PhysicalMedia`` (``ImageData/ImageEncoding``, else ``SoundData/SoundEncoding``,
lower case, ``jpeg`` -> ``jpg``; cdr-lib ``Doc.export_filename``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.cdr.schema import (
    all_docs,
    doc_blob,
    doc_type,
    doc_version,
    pub_proc_cg,
    pub_proc_doc,
    version_blob_usage,
)
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.xml import get_text, parse_xml


class MediaDocumentError(ValueError):
    """A published Media version cannot give its files (the message names it)."""


@dataclass(frozen=True)
class MediaVersion:
    """One published Media version: its XML and its blob (None when it has none)."""

    doc_id: int
    version: int
    xml: str
    blob: bytes | None

    @property
    def name(self) -> str:
        """``CDR0000012345 version 3`` for messages."""
        return f"{format_cdr_id(self.doc_id)} version {self.version}"

    def export_suffix(self) -> str:
        """``jpg``, ``mp3``, ``gif`` ... from the encoding (cdr-lib ``export_filename``)."""
        return export_suffix(parse_xml(self.xml, name=self.name), self.name)


def export_suffix(root: etree._Element, name: str = "document") -> str:
    """The export file suffix of a Media document; the last encoding element wins."""
    suffix = None
    for node in root.findall("PhysicalMedia"):
        for child in node.findall("ImageData/ImageEncoding"):
            suffix = get_text(child)
        if suffix is None:
            for child in node.findall("SoundData/SoundEncoding"):
                suffix = get_text(child)
    if suffix is None:
        raise MediaDocumentError(f"{name}: Encoding missing or unsupported")
    suffix = suffix.strip().lower()
    return "jpg" if suffix == "jpeg" else suffix


def published_media_versions(conn: Connection) -> list[tuple[int, int]]:
    """(id, version) of every Media document on Cancer.gov, as last pushed, sorted."""
    stmt = (
        select(pub_proc_cg.c.id, pub_proc_doc.c.doc_version)
        .distinct()
        .select_from(all_docs)
        .join(pub_proc_cg, pub_proc_cg.c.id == all_docs.c.id)
        .join(doc_type, doc_type.c.id == all_docs.c.doc_type)
        .join(
            pub_proc_doc,
            and_(
                pub_proc_doc.c.doc_id == pub_proc_cg.c.id,
                pub_proc_doc.c.pub_proc == pub_proc_cg.c.pub_proc,
            ),
        )
        .where(iequals(doc_type.c.name, "Media"))
        .order_by(pub_proc_cg.c.id, pub_proc_doc.c.doc_version)
    )
    return [(row.id, row.doc_version) for row in conn.execute(stmt)]


def media_version(conn: Connection, doc_id: int, version: int) -> MediaVersion:
    """The XML and blob of one Media version; raises when the version does not exist."""
    xml = conn.execute(
        select(doc_version.c.xml).where(doc_version.c.id == doc_id, doc_version.c.num == version)
    ).first()
    if xml is None or xml.xml is None:
        raise MediaDocumentError(f"{format_cdr_id(doc_id)} version {version} not found")
    blob = conn.execute(
        select(doc_blob.c.data)
        .join(version_blob_usage, version_blob_usage.c.blob_id == doc_blob.c.id)
        .where(version_blob_usage.c.doc_id == doc_id, version_blob_usage.c.doc_version == version)
    ).first()
    return MediaVersion(
        doc_id=doc_id,
        version=version,
        xml=xml.xml,
        blob=bytes(blob.data) if blob is not None else None,
    )
