"""The file sweeper's Custom rule ``expireMeetingRecordings``
(docs/behaviour-notes.md#meeting-recordings).

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

The save is the data layer's one document save
(:func:`cdr_dagster.cdr.documents.save_document`), which also re-indexes the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree
from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.documents import (
    CheckedOutError,
    SaveError,
    format_cdr_id,
    save_document,
)
from cdr_dagster.cdr.documents import (
    checked_out_by as checked_out_by,  # re-exported for the sweep handler
)
from cdr_dagster.cdr.schema import (
    action,
    audit_trail,
    doc_blob_usage,
    document,
    query_term,
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


def expire_recording(conn: Connection, doc_id: int, today: date, now: datetime) -> int:
    """Comment, save and purge the blobs of one recording, in ``conn``'s transaction.

    The save is the data layer's :func:`~cdr_dagster.cdr.documents.save_document` by the
    ``FileSweeper`` account, without a new version (as the legacy saved it), with the blobs
    deleted in the same transaction. Raises :class:`RecordingError` when the document is
    checked out by someone else, gone, or cannot be saved. Returns the number of blobs deleted.
    """
    cdr_id = format_cdr_id(doc_id)
    row = conn.execute(select(document.c.xml).where(document.c.id == doc_id)).first()
    if row is None:
        raise RecordingError(f"{cdr_id} no longer exists; skipped")
    new_xml = with_expiration_comment(row.xml, today, name=cdr_id)
    try:
        saved = save_document(
            conn,
            doc_id,
            new_xml,
            user=ACCOUNT,
            comment=SAVE_REASON,
            version=False,
            program=PROGRAM,
            delete_blobs=True,
            now=now,
        )
    except CheckedOutError as exc:
        raise RecordingError(f"{cdr_id} is checked out by {exc.holder}; skipped") from exc
    except SaveError as exc:
        raise RecordingError(str(exc)) from exc
    return saved.blobs_deleted
