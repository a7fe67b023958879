"""CDR documents and their versions: reads as plain frozen dataclasses, CDR id helpers, and
the one document save (:func:`save_document`) every job that changes a document uses.

Reads of current documents go to the ``document`` view (deleted documents hidden); versions come
from the ``doc_version`` view. Document type names compare case-insensitively, as on SQL Server.
Saves validate the document against its type's schema first (:mod:`cdr_dagster.cdr.validation`)
and write ``all_docs`` and ``all_doc_versions``, the audit trail, the check-out table and the
path index, in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from sqlalchemy import Select, and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from cdr_dagster.cdr.document_index import reindex
from cdr_dagster.cdr.schema import (
    action,
    all_doc_versions,
    all_docs,
    audit_trail,
    checkout,
    doc_blob,
    doc_blob_usage,
    doc_type,
    doc_version,
    document,
    usr,
    version_blob_usage,
)
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.validation import SchemaCache, SchemaError
from cdr_dagster.cdr.xml import XmlError, parse_xml

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


# ---------------------------------------------------------------------------------------------
# Saving a document (the CDR's ``Doc.save`` with check-out and check-in)
# ---------------------------------------------------------------------------------------------

MODIFY_DOCUMENT = "MODIFY DOCUMENT"
MAX_TITLE = 255
MAX_COMMENT = 255


class SaveError(Exception):
    """A document could not be saved; the message names the document and why."""


class InvalidDocumentError(SaveError):
    """The document does not validate against its type's schema; nothing was saved."""

    def __init__(self, cdr_id: str, type_name: str, errors: tuple[str, ...]) -> None:
        self.errors = errors
        super().__init__(
            f"cannot save {cdr_id}: it does not validate against the {type_name} schema: "
            f"{errors[0]}" + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else "")
        )


class CheckedOutError(SaveError):
    """The document is checked out by another user (named in the message)."""

    def __init__(self, doc_id: int, holder: str, user: str) -> None:
        self.doc_id = doc_id
        self.holder = holder
        self.user = user
        super().__init__(
            f"{format_cdr_id(doc_id)} is checked out by {holder}; {user} cannot save it"
        )


@dataclass(frozen=True)
class SavedDocument:
    """What one save did."""

    doc_id: int
    when: datetime
    version: int | None
    publishable: bool
    blobs_deleted: int = 0
    warnings: tuple[str, ...] = ()


def checked_out_by(conn: Connection, doc_id: int) -> str | None:
    """The login of whoever has the document checked out, or None."""
    stmt = (
        select(usr.c.name)
        .join(checkout, checkout.c.usr == usr.c.id)
        .where(checkout.c.id == doc_id, checkout.c.dt_in.is_(None))
        .order_by(checkout.c.dt_out)
    )
    return conn.execute(stmt).scalars().first()


def _fitted(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters the way the CDR does (ending in `` ...``)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 4] + " ..."


def _free_audit_second(conn: Connection, doc_id: int, when: datetime) -> datetime:
    """``when`` in whole seconds, moved on until neither the audit trail nor the check-out
    table has a row of the document at that time (both are keyed by document and time)."""
    when = when.replace(microsecond=0)
    while (
        conn.execute(
            select(audit_trail.c.dt).where(
                audit_trail.c.document == doc_id, audit_trail.c.dt == when
            )
        ).first()
        or conn.execute(
            select(checkout.c.dt_out).where(checkout.c.id == doc_id, checkout.c.dt_out == when)
        ).first()
    ):
        when += timedelta(seconds=1)
    return when


def _user_id(conn: Connection, name: str, cdr_id: str) -> int:
    user_id = conn.execute(
        select(usr.c.id).where(iequals(usr.c.name, name), usr.c.expired.is_(None))
    ).scalar_one_or_none()
    if user_id is None:
        raise SaveError(f"cannot save {cdr_id}: CDR account {name!r} not found (or expired)")
    return user_id


def _delete_blobs(conn: Connection, doc_id: int) -> int:
    """Delete every blob of the document and of all its versions; return how many blobs."""
    blob_ids: set[int] = set()
    for table in (version_blob_usage, doc_blob_usage):
        blob_ids |= {
            blob
            for blob in conn.execute(select(table.c.blob_id).where(table.c.doc_id == doc_id))
            .scalars()
            .all()
            if blob is not None
        }
        conn.execute(delete(table).where(table.c.doc_id == doc_id))
    if not blob_ids:
        return 0
    still_used: set[int] = set()
    for table in (version_blob_usage, doc_blob_usage):
        still_used |= set(
            conn.execute(select(table.c.blob_id).where(table.c.blob_id.in_(blob_ids))).scalars()
        )
    gone = sorted(blob_ids - still_used)
    if gone:
        conn.execute(delete(doc_blob).where(doc_blob.c.id.in_(gone)))
    return len(gone)


def save_document(
    conn: Connection,
    doc_id: int | str,
    xml: str,
    *,
    user: str,
    comment: str,
    reason: str | None = None,
    version: bool = True,
    publishable: bool = False,
    title: str | None = None,
    program: str = "cdr-dagster",
    force: bool = False,
    delete_blobs: bool = False,
    index_paths: Iterable[str] = (),
    now: datetime | None = None,
    schemas: SchemaCache | None = None,
) -> SavedDocument:
    """Save ``xml`` as the current working copy of a document, optionally as a new version.

    This is the CDR's ``Doc.save`` done by account ``user`` between a check-out and a check-in,
    all in ONE transaction: if ``conn`` has none open, the save begins it and commits it (a
    failure rolls everything back); otherwise the save is part of the caller's transaction,
    which the caller ends (``engine.begin()`` rolls back when the save raises), so several saves
    of one document can stand or fall together. In order:

    1. refuse with :class:`CheckedOutError` when someone else has the document checked out
       (unless ``force``: their check-out is then closed, as the CDR's forced check-out does),
       with :class:`InvalidDocumentError` (naming the document and the first error) when the
       XML does not validate against its document type's schema, and with :class:`SaveError`
       when the document is missing or deleted, the XML is not well-formed, its type's schema
       cannot be had, or ``user`` is not an active account;
    2. check the document out for ``user`` (a check-out ``user`` already holds is reused);
    3. write the working copy (``all_docs``): XML, ``comment``, ``title`` (kept when None; the
       CDR computes it with the document type's title filter, which this layer does not run),
       validation status ``V`` and date (the validation's);
    4. re-index it in ``query_term``, and in ``query_term_pub`` for a publishable version
       (:mod:`cdr_dagster.cdr.document_index`; ``index_paths`` are indexed in addition to
       ``query_term_def``'s);
    5. write the audit trail row (``MODIFY DOCUMENT``, ``program``, ``reason`` or else
       ``comment``) at a whole second no other audit or check-out row of the document uses;
    6. with ``delete_blobs``, delete every blob of the document and of its versions;
    7. with ``version`` (or ``publishable``), add version N+1 (``all_doc_versions``) with the
       new XML, title, comment and validation status, ``updated_dt`` = the audit time, and the
       document's blob if it has one, publishable when ``publishable``;
    8. check the document in: every open check-out of it is closed with the reason and the
       new version number, so nothing is left checked out.

    ``schemas`` keeps the compiled schemas between the saves of a run (default: compiled for
    this save).
    """
    number = normalize_cdr_id(doc_id)
    cdr_id = format_cdr_id(number)
    try:
        root = parse_xml(xml, name=cdr_id)
    except XmlError as exc:
        raise SaveError(f"cannot save {exc}") from exc
    transaction = nullcontext() if conn.in_transaction() else conn.begin()
    with transaction:
        user_id = _user_id(conn, user, cdr_id)
        action_id = _modify_action(conn, cdr_id)
        doc = _stored(conn, number, cdr_id)
        try:
            validation = (schemas or SchemaCache()).validate(conn, doc.type_name, root)
        except SchemaError as exc:
            raise SaveError(f"cannot save {cdr_id}: {exc}") from exc
        if not validation.valid:
            raise InvalidDocumentError(cdr_id, doc.type_name, validation.errors)
        when = _check_out(conn, number, user_id, user, force, reason or comment, now)
        title = _fitted(title, MAX_TITLE) if title is not None else doc.title
        status = validation.status
        val_date = when
        comment = _fitted(comment, MAX_COMMENT)
        conn.execute(
            update(all_docs)
            .where(all_docs.c.id == number)
            .values(xml=xml, comment=comment, title=title, val_status=status, val_date=val_date)
        )
        warnings: list[str] = []
        released = publishable
        extra = tuple(index_paths)
        reindex(conn, number, root, doc.type_name, extra_paths=extra)
        if released:
            reindex(conn, number, root, doc.type_name, published=True, extra_paths=extra)
        conn.execute(
            insert(audit_trail).values(
                document=number,
                dt=when,
                usr=user_id,
                action=action_id,
                program=program[:32],
                comment=_fitted(reason or comment, MAX_COMMENT),
            )
        )
        blobs = _delete_blobs(conn, number) if delete_blobs else 0
        new_version = None
        if version or publishable:
            new_version = _add_version(
                conn,
                number,
                when,
                user_id,
                doc.doc_type,
                xml=xml,
                title=title,
                comment=comment,
                val_status=status,
                val_date=val_date,
                publishable=released,
            )
        conn.execute(
            update(checkout)
            .where(checkout.c.id == number, checkout.c.dt_in.is_(None))
            .values(
                dt_in=when, comment=_fitted(reason or comment, MAX_COMMENT), version=new_version
            )
        )
    return SavedDocument(
        doc_id=number,
        when=when,
        version=new_version,
        publishable=released,
        blobs_deleted=blobs,
        warnings=tuple(warnings),
    )


def _modify_action(conn: Connection, cdr_id: str) -> int:
    action_id = conn.execute(
        select(action.c.id).where(iequals(action.c.name, MODIFY_DOCUMENT))
    ).scalar_one_or_none()
    if action_id is None:
        raise SaveError(f"cannot save {cdr_id}: CDR action {MODIFY_DOCUMENT!r} not found")
    return action_id


def _stored(conn: Connection, number: int, cdr_id: str) -> Row:
    """The stored working copy's columns the save keeps, with its document type's name."""
    doc = conn.execute(
        select(
            all_docs.c.doc_type,
            all_docs.c.title,
            all_docs.c.val_status,
            all_docs.c.val_date,
            all_docs.c.active_status,
            doc_type.c.name.label("type_name"),
        )
        .join(doc_type, doc_type.c.id == all_docs.c.doc_type)
        .where(all_docs.c.id == number)
    ).first()
    if doc is None:
        raise SaveError(f"cannot save {cdr_id}: no such document")
    if doc.active_status == "D":
        raise SaveError(f"cannot save {cdr_id}: the document is deleted")
    return doc


def _check_out(
    conn: Connection,
    number: int,
    user_id: int,
    user: str,
    force: bool,
    reason: str,
    now: datetime | None,
) -> datetime:
    """Check the document out for the save; return the save's time (audit and check-out)."""
    holders = conn.execute(
        select(checkout.c.usr, usr.c.name)
        .join(usr, usr.c.id == checkout.c.usr)
        .where(checkout.c.id == number, checkout.c.dt_in.is_(None))
        .order_by(checkout.c.dt_out)
    ).all()
    others = [row.name for row in holders if row.usr != user_id]
    if others and not force:
        raise CheckedOutError(number, others[0], user)
    when = _free_audit_second(conn, number, now or datetime.now())
    if others:
        conn.execute(
            update(checkout)
            .where(checkout.c.id == number, checkout.c.dt_in.is_(None), checkout.c.usr != user_id)
            .values(dt_in=when)
        )
    if len(holders) == len(others):
        conn.execute(
            insert(checkout).values(
                id=number, dt_out=when, usr=user_id, comment=_fitted(reason, MAX_COMMENT)
            )
        )
    return when


def _add_version(
    conn: Connection,
    number: int,
    when: datetime,
    user_id: int,
    type_id: int,
    **values: object,
) -> int:
    """Add the next version of the document (and version its blob); return its number."""
    latest = conn.execute(
        select(func.max(all_doc_versions.c.num)).where(all_doc_versions.c.id == number)
    ).scalar()
    num = (latest or 0) + 1
    publishable = "Y" if values.pop("publishable") else "N"
    conn.execute(
        insert(all_doc_versions).values(
            id=number,
            num=num,
            dt=when,
            updated_dt=when,
            usr=user_id,
            doc_type=type_id,
            publishable=publishable,
            **values,
        )
    )
    blob = conn.execute(
        select(doc_blob_usage.c.blob_id).where(doc_blob_usage.c.doc_id == number)
    ).scalar_one_or_none()
    if blob is not None:
        conn.execute(
            insert(version_blob_usage).values(doc_id=number, doc_version=num, blob_id=blob)
        )
    return num
