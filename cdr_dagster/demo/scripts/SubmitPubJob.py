"""Demo stand-in for ``Publishing/SubmitPubJob.py``: create an export job and wait for it.

Usage: ``python SubmitPubJob.py --export|--interim --testmode|--livemode`` (the publishing
task passes ``--live``/``--test``, which argparse completes). As in the CDR it refuses to start
while another export job is pending, creates the ``Export`` or ``Interim-Export`` job in
``Ready`` (the publishing queue runs it), then polls until the export and its push have
finished. The wait is limited by the control value ``Publishing/{subset}-wait-seconds``.
Failures print a ``*** Failure`` line and exit 1 (the publishing task looks for that text).
``CDR_DEMO_POLL_SECONDS`` (default 5) sets the polling interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from cdr_demo import (
    basedir,
    control_value,
    engine,
    group_emails,
    inserted_id,
    log,
    now,
    send_mail,
    tier,
)
from sqlalchemy import text

PRIMARY = 178


def _status(db, job_id: int) -> str:
    with db.connect() as conn:
        return conn.execute(
            text("SELECT status FROM pub_proc WHERE id = :id"), {"id": job_id}
        ).scalar_one()


def _wait(db, job_id: int, deadline: float, poll: float) -> str:
    while True:
        status = _status(db, job_id)
        if status in ("Success", "Failure", "Verifying"):
            return status
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(poll)


def main(argv: list[str]) -> int:
    """Create the export job and follow it; returns the exit status."""
    parser = argparse.ArgumentParser(prog="SubmitPubJob.py")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--interim", "--i", action="store_true")
    kind.add_argument("--export", "--e", action="store_true")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--testmode", "--t", action="store_true")
    mode.add_argument("--livemode", "--l", action="store_true")
    args = parser.parse_args(argv)
    subset = "Interim-Export" if args.interim else "Export"
    poll = float(os.environ.get("CDR_DEMO_POLL_SECONDS", "5"))
    db = engine()
    with db.begin() as conn:
        pending = conn.execute(
            text(
                "SELECT id, pub_subset, status FROM pub_proc WHERE pub_system = :sys "
                "AND pub_subset LIKE '%Export' AND status NOT IN ('Success', 'Failure')"
            ),
            {"sys": PRIMARY},
        ).first()
        if pending:
            state = f"{pending.pub_subset}: {pending.status}"
            log(f"*** Failure: Job{pending.id} still in process ({state})")
            return 1
        wait = int(control_value(conn, "Publishing", f"{subset}-wait-seconds", "10800"))
        user = conn.execute(text("SELECT id FROM usr WHERE name = 'cdroperator'")).scalar_one()
        email = ",".join(group_emails(conn, "Operator Publishing Notification", True))
        created = conn.execute(
            text(
                "INSERT INTO pub_proc (pub_system, pub_subset, usr, output_dir, started, status, "
                "email, external, no_output) VALUES (:sys, :subset, :usr, '', :dt, 'Ready', "
                ":email, 'N', 'N')"
            ),
            {"sys": PRIMARY, "subset": subset, "usr": user, "dt": now(), "email": email},
        )
        job_id = inserted_id(conn, created, "pub_proc")
        conn.execute(
            text("UPDATE pub_proc SET output_dir = :out WHERE id = :id"),
            {"out": str(basedir() / "Output" / f"Job{job_id}"), "id": job_id},
        )
    log(f"created {subset} job {job_id}; waiting up to {wait} seconds")
    deadline = time.monotonic() + wait
    status = _wait(db, job_id, deadline, poll)
    if status == "timeout":
        log("*** Failure: Publishing Failure: Max time exceeded")
        with db.begin() as conn:
            conn.execute(
                text(
                    "UPDATE pub_proc SET status = 'Failure' "
                    "WHERE id = :id AND status = 'In process'"
                ),
                {"id": job_id},
            )
        return 1
    if status == "Failure":
        log("*** Failure: Publishing Failure: The current job did not succeed!")
        return 1
    with db.connect() as conn:
        push = conn.execute(
            text(
                "SELECT MIN(id) FROM pub_proc WHERE id > :id AND pub_system = :sys "
                "AND (pub_subset LIKE '%_Interim-Export' OR pub_subset LIKE '%_Export')"
            ),
            {"id": job_id, "sys": PRIMARY},
        ).scalar_one()
    if push is None:
        log("*** Failure: no push job followed the export")
        return 1
    log(f"export job {job_id} succeeded; waiting for push job {push}")
    if _wait(db, push, deadline, poll) != "Success":
        log(f"*** Failure: push job {push} did not succeed")
        return 1
    name = "Weekly" if subset == "Export" else "Nightly"
    group = (
        f"{name} Publishing Notification" if tier() == "PROD" else "Test Publishing Notification"
    )
    with db.connect() as conn:
        recipients = group_emails(conn, group, include_expired=True)
    send_mail(
        recipients,
        f"[{tier()}] Status and Error Report for {name} Publishing",
        f"Publishing job: PubStatus.py?id={job_id}\nPush job: PubStatus.py?id={push}\n",
    )
    log(f"{subset} job {job_id} and push job {push} finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
