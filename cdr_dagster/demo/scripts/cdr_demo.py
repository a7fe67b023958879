"""Shared helpers of the cdr-dagster demo scripts, copied next to them under CDR_BASEDIR.

The demo scripts stand in for the CDR's batch-job and publishing programs (CdrLongReports.py,
Publish.py, SubmitPubJob.py, ...). They reach the demo CDR database through ``CDR_DB_URL``
(SQLAlchemy), write mail as ``.eml`` files to ``CDR_MAIL_OUTBOX`` and log to stdout, which the
runner streams into the Dagster run log. ``CDR_DEMO_STEP_SECONDS`` (default 0.5) paces their
progress so it can be watched in the UI.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, CursorResult, Engine

OPERATOR = "NCIPDQoperator@mail.nih.gov"
SENDER = f"PDQ Operator <{OPERATOR}>"


def now() -> datetime:
    """The current local time, to the second (as the CDR stores it)."""
    return datetime.now().replace(microsecond=0)


def log(message: str) -> None:
    """Print a time-stamped line to stdout."""
    print(f"{now():%Y-%m-%d %H:%M:%S} {message}", flush=True)


def fail(message: str, status: int = 1) -> None:
    """Print ``message`` to stderr and exit with ``status``."""
    print(f"{now():%Y-%m-%d %H:%M:%S} {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def tier() -> str:
    """The CDR tier (``CDR_TIER``, default DEV)."""
    return (os.environ.get("CDR_TIER") or "DEV").strip().upper()


def basedir() -> Path:
    """The CDR base folder (``CDR_BASEDIR``, else two levels above this file)."""
    configured = os.environ.get("CDR_BASEDIR", "").strip()
    return Path(configured) if configured else Path(__file__).resolve().parents[2]


def engine() -> Engine:
    """An engine on the CDR database named by ``CDR_DB_URL``."""
    url = os.environ.get("CDR_DB_URL", "").strip()
    if not url:
        fail("CDR_DB_URL is not set", 2)
    return create_engine(url)


def pause() -> None:
    """Wait one demo step (``CDR_DEMO_STEP_SECONDS``)."""
    time.sleep(float(os.environ.get("CDR_DEMO_STEP_SECONDS", "0.5")))


def group_emails(conn: Connection, group: str, include_expired: bool = False) -> list[str]:
    """E-mail addresses of the members of CDR group ``group``.

    ``include_expired`` gives the legacy ``cdr.getEmailList`` behaviour, which the publishing
    scripts use; the scheduler's own jobs leave expired users out.
    """
    query = (
        "SELECT u.email FROM usr u JOIN grp_usr gu ON gu.usr = u.id JOIN grp g ON g.id = gu.grp "
        "WHERE g.name = :group AND u.email IS NOT NULL AND u.email <> ''"
    )
    if not include_expired:
        query += " AND u.expired IS NULL"
    rows = conn.execute(text(query), {"group": group})
    return sorted({row.email for row in rows})


def control_value(conn: Connection, group: str, name: str, default: str) -> str:
    """The active ``ctl`` value (group, name), or ``default``."""
    row = conn.execute(
        text(
            "SELECT val FROM ctl WHERE grp = :g AND name = :n AND inactivated IS NULL ORDER BY id"
        ),
        {"g": group, "n": name},
    ).first()
    return row.val if row else default


def send_mail(
    recipients: Sequence[str], subject: str, body: str, subtype: str = "plain", sender: str = SENDER
) -> Path | None:
    """Write the message to ``CDR_MAIL_OUTBOX`` as an ``.eml`` file (the demo never uses SMTP)."""
    if not recipients:
        log(f"no recipients for {subject!r}; nothing sent")
        return None
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="cdr-demo.example.org")
    message.set_content(body or ".", subtype=subtype)
    outbox = os.environ.get("CDR_MAIL_OUTBOX", "").strip()
    if not outbox:
        log(f"CDR_MAIL_OUTBOX is not set; would have mailed {subject!r} to {', '.join(recipients)}")
        return None
    path = Path(outbox) / f"{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(message))
    log(f"mailed {subject!r} to {', '.join(recipients)} ({path.name})")
    return path


def split_addresses(value: str | None) -> list[str]:
    """Addresses separated by commas, semicolons or spaces."""
    return [a for a in (value or "").replace(",", " ").replace(";", " ").split() if a]


def set_batch_status(
    conn: Connection, job_id: int, status: str, allowed: Iterable[str], progress: str | None = None
) -> bool:
    """Compare-and-set a ``batch_job`` status (the cdrbatch rules); True when the row changed."""
    allowed = list(allowed)
    names = ", ".join(f":s{n}" for n in range(len(allowed)))
    params = {f"s{n}": value for n, value in enumerate(allowed)}
    params |= {"id": job_id, "status": status, "dt": now(), "progress": progress}
    sets = "status = :status, status_dt = :dt" + (", progress = :progress" if progress else "")
    result = conn.execute(
        text(f"UPDATE batch_job SET {sets} WHERE id = :id AND status IN ({names})"), params
    )
    return result.rowcount == 1


def set_batch_progress(conn: Connection, job_id: int, progress: str) -> None:
    """Record progress of a running batch job."""
    conn.execute(
        text("UPDATE batch_job SET progress = :p, status_dt = :dt WHERE id = :id"),
        {"p": progress, "dt": now(), "id": job_id},
    )
    log(progress)


def inserted_id(conn: Connection, result: CursorResult, table: str) -> int:
    """The IDENTITY value of the row ``result`` inserted into ``table``."""
    if result.lastrowid:
        return int(result.lastrowid)
    return int(conn.execute(text(f"SELECT MAX(id) FROM {table}")).scalar_one())
