"""Demo batch job that FAILS ON PURPOSE: the "Citations In Summaries" long report.

Usage: ``python CitationsInSummaries.py JOB_ID``. It claims its ``batch_job`` row like a real
report (``Initiating`` -> ``In process``), reports progress over the summaries, then gives up
because the demo has no citation documents: the row becomes ``Aborted`` with the reason as its
progress, the error goes to stderr and the exit status is 1. The demo uses it to show a failed
batch-job run and the failure mail.
"""

from __future__ import annotations

import sys

from cdr_demo import engine, fail, log, pause, set_batch_progress, set_batch_status
from sqlalchemy import text


def run(job_id: int) -> int:
    """Start job ``job_id``, then abort it; returns the exit status (1)."""
    db = engine()
    with db.begin() as conn:
        if not set_batch_status(conn, job_id, "In process", ("Initiating", "Suspended")):
            fail(f"batch job {job_id} is not Initiating; not started", 2)
        count = conn.execute(
            text(
                "SELECT COUNT(*) FROM document d JOIN doc_type t ON t.id = d.doc_type "
                "WHERE t.name = 'Summary'"
            )
        ).scalar_one()
    log(f"started Citations In Summaries (job {job_id})")
    with db.begin() as conn:
        set_batch_progress(conn, job_id, f"Collecting citation links from {count} summaries")
    pause()
    reason = "no Citation documents in the demo CDR (this demo job fails on purpose)"
    with db.begin() as conn:
        set_batch_status(conn, job_id, "Aborted", ("In process",), f"Failure: {reason}")
    print(f"job {job_id} aborted: {reason}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        fail("usage: CitationsInSummaries.py JOB_ID", 2)
    sys.exit(run(int(sys.argv[1])))
