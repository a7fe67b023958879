"""Demo stand-in for ``Publishing/Publish.py``: run one publishing job of ``pub_proc``.

Usage: ``python Publish.py JOB_ID`` (the publishing queue starts it for a ``Ready`` job after
setting it ``Started``). It moves the job to ``In process``, then:

- an export job writes the exported XML of its documents under ``output_dir`` (the documents
  named in ``pub_proc_doc``, or, when none are named, every document whose newest publishable
  version is newer than what Cancer.gov has) and creates the matching
  ``Push_Documents_To_Cancer.Gov_{subset}`` job in ``Ready``, as cdrpub does;
- a push job records its documents in ``pub_proc_cg`` (a document already there keeps its
  exported XML, since the demo has no vendor filters) and sets ``first_pub`` on new ones.

The job ends in ``Success`` and a mail goes to ``pub_proc.email`` (or the Operator Publishing
Notification group); any error ends it in ``Failure`` and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cdr_demo import (
    engine,
    fail,
    group_emails,
    inserted_id,
    log,
    now,
    pause,
    send_mail,
    split_addresses,
    tier,
)
from sqlalchemy import text

PUSH_PREFIX = "Push_Documents_To_Cancer.Gov_"


def _message(conn, job_id: int, status: str, message: str, final: bool = False) -> None:
    completed = ", completed = :dt" if final else ""
    conn.execute(
        text(f"UPDATE pub_proc SET status = :s, messages = :m{completed} WHERE id = :id"),
        {"s": status, "m": f"[{now()}] {message}", "dt": now(), "id": job_id},
    )
    log(f"job {job_id}: {status}: {message}")


def _changed_documents(conn) -> list[tuple[int, int]]:
    rows = conn.execute(
        text(
            "SELECT v.id, MAX(v.num) AS num FROM doc_version v JOIN document d ON d.id = v.id "
            "WHERE v.publishable = 'Y' AND d.active_status = 'A' GROUP BY v.id"
        )
    )
    latest = {row.id: row.num for row in rows}
    pushed = conn.execute(
        text(
            "SELECT c.id, MAX(p.doc_version) AS num FROM pub_proc_cg c "
            "JOIN pub_proc_doc p ON p.doc_id = c.id AND p.pub_proc = c.pub_proc GROUP BY c.id"
        )
    )
    return [(doc_id, latest[doc_id]) for doc_id, num in pushed if latest.get(doc_id, 0) > num]


def _export(conn, job) -> str:
    docs = [
        (row.doc_id, row.doc_version)
        for row in conn.execute(
            text("SELECT doc_id, doc_version FROM pub_proc_doc WHERE pub_proc = :id"),
            {"id": job.id},
        )
    ]
    if not docs:
        docs = _changed_documents(conn)
        for doc_id, version in docs:
            conn.execute(
                text(
                    "INSERT INTO pub_proc_doc (pub_proc, doc_id, doc_version) VALUES (:p, :d, :v)"
                ),
                {"p": job.id, "d": doc_id, "v": version},
            )
    output = Path(job.output_dir) if job.output_dir else None
    for doc_id, version in docs:
        row = conn.execute(
            text("SELECT xml FROM doc_version WHERE id = :id AND num = :num"),
            {"id": doc_id, "num": version},
        ).first()
        if output is not None and row is not None:
            output.mkdir(parents=True, exist_ok=True)
            (output / f"CDR{doc_id:010d}.xml").write_text(row.xml or "", encoding="utf-8")
        pause()
    push = conn.execute(
        text(
            "INSERT INTO pub_proc (pub_system, pub_subset, usr, output_dir, started, status, "
            "email, external, no_output) VALUES (:sys, :subset, :usr, '', :dt, 'Ready', :email, "
            "'N', 'Y')"
        ),
        {
            "sys": job.pub_system,
            "subset": PUSH_PREFIX + job.pub_subset,
            "usr": job.usr,
            "dt": now(),
            "email": job.email,
        },
    )
    push_id = inserted_id(conn, push, "pub_proc")
    for doc_id, version in docs:
        conn.execute(
            text("INSERT INTO pub_proc_doc (pub_proc, doc_id, doc_version) VALUES (:p, :d, :v)"),
            {"p": push_id, "d": doc_id, "v": version},
        )
    return f"Exported {len(docs)} documents; push job {push_id} queued"


def _push(conn, job) -> str:
    docs = list(
        conn.execute(
            text("SELECT doc_id, doc_version FROM pub_proc_doc WHERE pub_proc = :id"),
            {"id": job.id},
        )
    )
    for doc in docs:
        xml = conn.execute(
            text("SELECT xml FROM doc_version WHERE id = :id AND num = :num"),
            {"id": doc.doc_id, "num": doc.doc_version},
        ).scalar_one()
        params = {"id": doc.doc_id, "job": job.id, "xml": xml}
        # The demo has no vendor filters: a document already on Cancer.gov keeps the exported
        # XML it has (the dictionary loads read it); a new one gets its version's XML.
        updated = conn.execute(
            text("UPDATE pub_proc_cg SET pub_proc = :job WHERE id = :id"), params
        )
        if updated.rowcount == 0:
            conn.execute(
                text("INSERT INTO pub_proc_cg (id, pub_proc, xml) VALUES (:id, :job, :xml)"),
                params,
            )
        conn.execute(
            text("UPDATE all_docs SET first_pub = :dt WHERE id = :id AND first_pub IS NULL"),
            {"dt": now(), "id": doc.doc_id},
        )
        pause()
    return f"Pushed {len(docs)} documents"


def run(job_id: int) -> int:
    """Run publishing job ``job_id``; returns the exit status."""
    db = engine()
    with db.begin() as conn:
        claimed = conn.execute(
            text(
                "UPDATE pub_proc SET status = 'In process', messages = :m WHERE id = :id "
                "AND status IN ('Ready', 'Started')"
            ),
            {"m": f"[{now()}] Job started", "id": job_id},
        )
        if claimed.rowcount != 1:
            fail(f"publishing job {job_id} is not Ready or Started; not run", 2)
        job = conn.execute(text("SELECT * FROM pub_proc WHERE id = :id"), {"id": job_id}).first()
    log(f"job {job_id} ({job.pub_subset}) started")
    try:
        with db.begin() as conn:
            is_push = job.pub_subset.lower().startswith(PUSH_PREFIX.lower())
            message = _push(conn, job) if is_push else _export(conn, job)
            _message(conn, job_id, "Success", message, final=True)
            recipients = split_addresses(job.email) or group_emails(
                conn, "Operator Publishing Notification", include_expired=True
            )
        send_mail(recipients, f"[{tier()}] CDR Publishing Job {job_id}", f"Job {job_id}: {message}")
        return 0
    except Exception as exc:  # noqa: BLE001 - the job fails with its reason
        with db.begin() as conn:
            _message(conn, job_id, "Failure", f"Job failed: {exc}", final=True)
        print(f"job {job_id} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        fail("usage: Publish.py JOB_ID", 2)
    sys.exit(run(int(sys.argv[1])))
