"""The file sweeper's Custom rule ``expireMeetingRecordings`` (spec 03 1.9.5).

Board meeting recordings are Media documents in the category ``meeting recording``. Once a
recording was added more than ``Oldest`` days ago, its audio may not be kept: every blob of the
document and of all its versions is deleted, and the document gets a last child
``<Comment audience="Internal" user="FileSweeper" date="YYYY-MM-DD">Removed meeting recording
object after expiration</Comment>``, saved (not as a new version) by the ``FileSweeper``
account with the audit reason ``Removed meeting recording blobs``.

Differences from the legacy, on purpose:

- each document is changed in one transaction: the check-out, the save, the audit row, the
  blob deletion and the check-in commit together or not at all, so no document is left
  checked out (the legacy left every one locked: it passed ``check_in=True`` where ``"Y"``
  was needed) and a failed save is noticed (the legacy never saw one);
- a document checked out by someone else is skipped and reported, the others still done
  (the legacy stopped at the first);
- test mode changes nothing and reports which documents would lose their blobs.

The save here is deliberately small (the working copy's XML and comment, audit trail,
check-out row): the data layer's general versioned save is being written for the global
change jobs (issue 6) and this module should call it once it is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from lxml import etree
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.cdr.schema import (
    action,
    all_docs,
    audit_trail,
    checkout,
    doc_blob,
    doc_blob_usage,
    document,
    query_term,
    usr,
    version_blob_usage,
)
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.xml import parse_xml

CATEGORY_PATH = "/Media/MediaContent/Categories/Category"
CATEGORY = "meeting recording"
ACCOUNT = "FileSweeper"
COMMENT_TEXT = "Removed meeting recording object after expiration"
SAVE_REASON = "Removed meeting recording blobs"
PROGRAM = "FileSweeper"
ADD_DOCUMENT = "ADD DOCUMENT"
MODIFY_DOCUMENT = "MODIFY DOCUMENT"


class RecordingError(Exception):
    """A recording could not be expired (the message names it and why)."""


@dataclass
class ExpiryOutcome:
    """What ``expire_meeting_recordings`` found and did."""

    found: list[tuple[int, str]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    blobs_deleted: int = 0


def expired_meeting_recordings(conn: Connection, early: date) -> list[tuple[int, str]]:
    """(id, title) of meeting recordings added on or before ``early`` that still have blobs.

    ``early`` is the local date ``Oldest`` days before the reference time; an ADD DOCUMENT
    audit row at or before midnight starting that day qualifies (the legacy compared with
    the bare date string).
    """
    cutoff = datetime.combine(early, datetime.min.time())
    d = document.c
    stmt = (
        select(d.id, d.title)
        .distinct()
        .join(query_term, query_term.c.doc_id == d.id)
        .join(audit_trail, audit_trail.c.document == d.id)
        .join(action, action.c.id == audit_trail.c.action)
        .where(
            query_term.c.path == CATEGORY_PATH,
            iequals(query_term.c.value, CATEGORY),
            action.c.name == ADD_DOCUMENT,
            audit_trail.c.dt <= cutoff,
            or_(
                d.id.in_(select(doc_blob_usage.c.doc_id)),
                d.id.in_(select(version_blob_usage.c.doc_id)),
            ),
        )
        .order_by(d.id)
    )
    return [(row.id, row.title) for row in conn.execute(stmt)]


def with_expiration_comment(xml: str, today: date, name: str = "document") -> str:
    """The document XML with the expiration ``Comment`` appended as the root's last child."""
    root = parse_xml(xml, name=name)
    comment = etree.SubElement(
        root, "Comment", audience="Internal", user=ACCOUNT, date=today.isoformat()
    )
    comment.text = COMMENT_TEXT
    return etree.tostring(root, encoding="unicode")


def _user_id(conn: Connection, name: str) -> int:
    user_id = conn.execute(
        select(usr.c.id).where(iequals(usr.c.name, name), usr.c.expired.is_(None))
    ).scalar_one_or_none()
    if user_id is None:
        raise RecordingError(f"CDR account {name!r} not found (or expired)")
    return user_id


def _action_id(conn: Connection, name: str) -> int:
    action_id = conn.execute(select(action.c.id).where(action.c.name == name)).scalar_one_or_none()
    if action_id is None:
        raise RecordingError(f"CDR action {name!r} not found")
    return action_id


def checked_out_by(conn: Connection, doc_id: int) -> str | None:
    """The login of whoever has the document checked out, or None."""
    stmt = (
        select(usr.c.name)
        .join(checkout, checkout.c.usr == usr.c.id)
        .where(checkout.c.id == doc_id, checkout.c.dt_in.is_(None))
    )
    return conn.execute(stmt).scalars().first()


def _free_second(conn: Connection, doc_id: int, when: datetime) -> datetime:
    """``when`` (whole seconds), moved on until no audit row of the document has that time."""
    when = when.replace(microsecond=0)
    while conn.execute(
        select(audit_trail.c.dt).where(audit_trail.c.document == doc_id, audit_trail.c.dt == when)
    ).first():
        when += timedelta(seconds=1)
    return when


def delete_all_blobs(conn: Connection, doc_id: int) -> int:
    """Delete every blob of the document and of all its versions; return how many blobs."""
    blob_ids: set[int] = set()
    for table in (version_blob_usage, doc_blob_usage):
        blob_ids |= set(
            conn.execute(select(table.c.blob_id).where(table.c.doc_id == doc_id)).scalars()
        )
        conn.execute(delete(table).where(table.c.doc_id == doc_id))
    blob_ids.discard(None)  # type: ignore[arg-type]
    still_used = set()
    if blob_ids:
        for table in (version_blob_usage, doc_blob_usage):
            still_used |= set(
                conn.execute(select(table.c.blob_id).where(table.c.blob_id.in_(blob_ids))).scalars()
            )
        gone = sorted(blob_ids - still_used)
        if gone:
            conn.execute(delete(doc_blob).where(doc_blob.c.id.in_(gone)))
    return len(blob_ids - still_used)


def expire_recording(conn: Connection, doc_id: int, today: date, now: datetime) -> int:
    """Comment, save, purge the blobs of, and check in one recording, in ``conn``'s transaction.

    Raises :class:`RecordingError` when the document is checked out by someone else or gone.
    Returns the number of blobs deleted.
    """
    cdr_id = format_cdr_id(doc_id)
    holder = checked_out_by(conn, doc_id)
    if holder is not None:
        raise RecordingError(f"{cdr_id} is checked out by {holder}; skipped")
    row = conn.execute(select(document.c.xml).where(document.c.id == doc_id)).first()
    if row is None:
        raise RecordingError(f"{cdr_id} no longer exists; skipped")
    user_id = _user_id(conn, ACCOUNT)
    modify = _action_id(conn, MODIFY_DOCUMENT)
    new_xml = with_expiration_comment(row.xml, today, name=cdr_id)
    when = _free_second(conn, doc_id, now)
    conn.execute(insert(checkout).values(id=doc_id, dt_out=when, usr=user_id, comment=SAVE_REASON))
    changed = conn.execute(
        update(all_docs).where(all_docs.c.id == doc_id).values(xml=new_xml, comment=SAVE_REASON)
    ).rowcount
    if changed != 1:
        raise RecordingError(f"{cdr_id}: the save changed {changed} rows, not 1")
    conn.execute(
        insert(audit_trail).values(
            document=doc_id,
            dt=when,
            usr=user_id,
            action=modify,
            program=PROGRAM,
            comment=SAVE_REASON,
        )
    )
    blobs = delete_all_blobs(conn, doc_id)
    conn.execute(
        update(checkout)
        .where(and_(checkout.c.id == doc_id, checkout.c.dt_out == when, checkout.c.dt_in.is_(None)))
        .values(dt_in=when, comment=SAVE_REASON)
    )
    return blobs
