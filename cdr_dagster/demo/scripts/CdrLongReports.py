"""Demo stand-in for ``lib/Python/CdrLongReports.py``: run one queued long report.

Usage: ``python CdrLongReports.py JOB_ID``. The batch-job queue marks the ``batch_job`` row
``Initiating`` and starts this script; it moves the row to ``In process`` (compare-and-set,
as cdrbatch does), reports progress while it searches the documents, writes
``BASEDIR/reports/{Name}-{id}.html``, mails the requester and marks the job ``Completed``.
Any error marks it ``Aborted`` with the reason and exits 1.
"""

from __future__ import annotations

import html
import sys

from cdr_demo import (
    basedir,
    engine,
    fail,
    log,
    now,
    pause,
    send_mail,
    set_batch_progress,
    set_batch_status,
    split_addresses,
    tier,
)
from sqlalchemy import text

DEFAULT_TYPES = ("Summary", "GlossaryTermName", "DrugInformationSummary")


def _documents(conn, types: list[str]) -> list:
    names = ", ".join(f":t{n}" for n in range(len(types)))
    return list(
        conn.execute(
            text(
                "SELECT d.id, d.title, d.xml, t.name AS doc_type FROM document d "
                f"JOIN doc_type t ON t.id = d.doc_type WHERE t.name IN ({names}) ORDER BY d.id"
            ),
            {f"t{n}": value for n, value in enumerate(types)},
        )
    )


def run(job_id: int) -> int:
    """Run report job ``job_id``; returns the exit status."""
    db = engine()
    with db.begin() as conn:
        job = conn.execute(
            text("SELECT name, email, status FROM batch_job WHERE id = :id"), {"id": job_id}
        ).first()
        if job is None:
            fail(f"batch job {job_id} does not exist", 2)
        if not set_batch_status(conn, job_id, "In process", ("Initiating", "Suspended")):
            fail(f"batch job {job_id} is {job.status}, not Initiating; not started", 2)
        parms: dict[str, list[str]] = {}
        for row in conn.execute(
            text("SELECT name, value FROM batch_job_parm WHERE job = :id"), {"id": job_id}
        ):
            parms.setdefault(row.name, []).append(row.value)
    log(f"started {job.name} report (job {job_id})")
    try:
        phrases = [p.strip() for p in ";".join(parms.get("names", [])).split(";") if p.strip()]
        phrases = phrases or [job.name]
        with db.begin() as conn:
            documents = _documents(conn, parms.get("types") or list(DEFAULT_TYPES))
        hits = []
        for n, doc in enumerate(documents, start=1):
            body = doc.xml.lower()
            found = [p for p in phrases if p.lower() in body]
            if found:
                hits.append((doc, found))
            if n % 5 == 0 or n == len(documents):
                with db.begin() as conn:
                    set_batch_progress(conn, job_id, f"Examined {n} of {len(documents)} documents")
                pause()
        name = job.name.replace(" ", "")
        report = basedir() / "reports" / f"{name}-{job_id}.html"
        report.parent.mkdir(parents=True, exist_ok=True)
        rows = "".join(
            f"<tr><td>CDR{doc.id:010d}</td><td>{html.escape(doc.doc_type)}</td>"
            f"<td>{html.escape(doc.title)}</td><td>{html.escape(', '.join(found))}</td></tr>"
            for doc, found in hits
        )
        report.write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(job.name)}"
            f"</title></head><body><h1>{html.escape(job.name)} Report</h1>"
            f"<p>Report date: {now():%Y-%m-%d}; phrases: {html.escape('; '.join(phrases))}</p>"
            f"<table><tr><th>CDR ID</th><th>Type</th><th>Title</th><th>Found</th></tr>{rows}"
            "</table></body></html>",
            encoding="utf-8",
        )
        url = f"/CdrReports/{report.name}"
        send_mail(
            split_addresses(job.email),
            f"[CDR {tier()}] Report results - {job.name} Report",
            f"The {job.name} report you requested is ready:\n\n{url}\n\n"
            f"{len(hits)} of {len(documents)} documents matched.",
        )
        with db.begin() as conn:
            done = f"Found {len(hits)} documents. <a href='{url}'>{report.name}</a>"
            set_batch_status(conn, job_id, "Completed", ("In process",), done)
        log(f"job {job_id} completed: {report}")
        return 0
    except Exception as exc:  # noqa: BLE001 - every failure aborts the job with its reason
        with db.begin() as conn:
            set_batch_status(
                conn, job_id, "Aborted", ("In process", "Initiating"), f"Failure: {exc}"
            )
        print(f"job {job_id} aborted: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        fail("usage: CdrLongReports.py JOB_ID", 2)
    sys.exit(run(int(sys.argv[1])))
