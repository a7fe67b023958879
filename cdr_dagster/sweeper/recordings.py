"""The ``expireMeetingRecordings`` Custom rule as a sweep handler
(docs/behaviour-notes.md#meeting-recordings).

The data work is in :mod:`cdr_dagster.cdr.sweep_recordings`; this module turns a rule into
the cut-off date, runs one transaction per document, and records the outcome. Test mode reads
only: it lists the documents that would lose their blobs (and any that would be skipped
because someone has them checked out). A document that cannot be expired is reported and the
others are still done; the rest of the sweep always goes on.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cdr_dagster.cdr.documents import current_document, format_cdr_id
from cdr_dagster.cdr.sweep_recordings import (
    RecordingError,
    checked_out_by,
    expire_recording,
    expired_meeting_recordings,
    with_expiration_comment,
)
from cdr_dagster.cdr.xml import XmlError
from cdr_dagster.sweeper.results import CustomOutcome
from cdr_dagster.sweeper.spec import SweepRule

_LOG = logging.getLogger(__name__)


def expire_meeting_recordings(
    engine: Engine,
    rule: SweepRule,
    test_mode: bool,
    *,
    now: float,
    tz: tzinfo,
    log: Any = None,
) -> CustomOutcome:
    """Expire the meeting recordings older than the rule's ``Oldest`` days."""
    logger = log or _LOG
    outcome = CustomOutcome(rule)
    assert rule.old is not None
    early = datetime.fromtimestamp(rule.old, tz).date()
    moment = datetime.fromtimestamp(now, tz).replace(tzinfo=None, microsecond=0)
    today = moment.date()
    logger.info(f"Looking for meeting recordings added on or before {early}")
    try:
        with engine.connect() as conn:
            outcome.documents = expired_meeting_recordings(conn, early)
    except SQLAlchemyError as exc:
        outcome.problems.append(f"cannot look for meeting recordings: {exc}")
        logger.error(outcome.problems[-1])
        return outcome
    if not outcome.documents:
        outcome.message = "No meeting recordings needed to be deleted"
        logger.info(outcome.message)
        return outcome
    for doc_id, title in outcome.documents:
        cdr_id = format_cdr_id(doc_id)
        if test_mode:
            try:
                with engine.connect() as conn:
                    holder = checked_out_by(conn, doc_id)
                    doc = current_document(conn, doc_id)
                if doc is not None:
                    with_expiration_comment(doc.xml, today, name=cdr_id)
            except (SQLAlchemyError, XmlError) as exc:
                outcome.problems.append(f"{cdr_id}: {exc}")
                continue
            if holder is not None:
                outcome.skipped.append(f"{cdr_id} is checked out by {holder}; would be skipped")
                continue
            outcome.done.append(doc_id)
            logger.info(f"FileSweeper would delete blobs for cdrId: {doc_id}\n{title}")
            continue
        try:
            with engine.begin() as conn:
                blobs = expire_recording(conn, doc_id, today, moment)
        except RecordingError as exc:
            outcome.skipped.append(str(exc))
            logger.warning(str(exc))
            continue
        except (SQLAlchemyError, XmlError) as exc:
            outcome.problems.append(f"{cdr_id}: the save failed and was rolled back: {exc}")
            logger.error(outcome.problems[-1])
            continue
        outcome.done.append(doc_id)
        logger.info(f"FileSweeper deleted {blobs} blobs for cdrId: {doc_id}\n{title}")
    return outcome
