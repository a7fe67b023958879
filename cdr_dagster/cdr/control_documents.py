"""Putting the CDR's control documents (XSL/T filters, XML schemas) into a demo or test database.

The CDR keeps its filters and schemas as documents of the types ``Filter`` and ``schema``; the
jobs read them from there. The demo and the tests have no CDR to take them from, so they store
their own with :func:`install_control_document`. Never used on a real CDR (SQL Server).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import all_docs, doc_type
from cdr_dagster.cdr.sql import iequals


def document_type_id(conn: Connection, name: str, comment: str, now: datetime) -> int:
    """The id of document type ``name``, created (with ``comment``) when it is missing."""
    type_id = conn.execute(
        select(doc_type.c.id).where(iequals(doc_type.c.name, name))
    ).scalar_one_or_none()
    if type_id is None:
        type_id = conn.execute(
            insert(doc_type).values(name=name, format=1, created=now, comment=comment)
        ).inserted_primary_key[0]
    return type_id


def install_control_document(
    conn: Connection,
    existing: Select,
    type_id: int,
    title: str,
    xml: str,
    *,
    comment: str,
    now: datetime,
    doc_id: int | None = None,
) -> int:
    """Update the document ``existing`` selects (its first row's ``id``) to ``xml``, or add it
    as a valid, active document of type ``type_id`` titled ``title`` with ``doc_id`` (default:
    the next free id). Returns the document id."""
    found = conn.execute(existing).first()
    if found is not None:
        conn.execute(update(all_docs).where(all_docs.c.id == found.id).values(xml=xml))
        return found.id
    if doc_id is None:
        doc_id = conn.execute(select(func.coalesce(func.max(all_docs.c.id), 0) + 1)).scalar_one()
    conn.execute(
        insert(all_docs).values(
            id=doc_id,
            doc_type=type_id,
            title=title,
            xml=xml,
            val_status="V",
            val_date=now,
            active_status="A",
            comment=comment,
        )
    )
    return doc_id
