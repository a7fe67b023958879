"""Demo stand-in for ``Publishing/CheckHotfixRemove.py``: documents to remove from Cancer.gov.

Usage: ``python CheckHotfixRemove.py --test|--live``. Lists the documents on Cancer.gov
(``pub_proc_cg``) whose status now calls for removal
(docs/behaviour-notes.md#weekly-post-publishing): glossary names no longer
approved, drug terms taken offline, genetics professionals left out of the directory. Mails
Hotfix Remove Notification (Test Publishing Notification in test mode); sends nothing when
there are no candidates.
"""

from __future__ import annotations

import argparse
import html
import sys

from cdr_demo import engine, group_emails, log, send_mail, tier
from sqlalchemy import text

CHECKS = [
    (
        "GlossaryTermName",
        "/GlossaryTermName/TermNameStatus",
        ("Approved", "Revision pending"),
    ),
    ("Term", "/Term/TermStatus", ("Reviewed-problematic", "Reviewed-retain", "Unreviewed")),
    (
        "Person",
        "/Person/ProfessionalInformation/GeneticsProfessionalDetails/AdministrativeInformation"
        "/Directory/Include",
        ("Include",),
    ),
]


def main(argv: list[str]) -> int:
    """Report the candidates; returns the exit status."""
    parser = argparse.ArgumentParser(prog="CheckHotfixRemove.py")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--test", action="store_true")
    mode.add_argument("--live", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    with engine().connect() as conn:
        for doc_type, path, keep in CHECKS:
            for row in conn.execute(
                text(
                    "SELECT d.id, d.title, q.value FROM pub_proc_cg c "
                    "JOIN document d ON d.id = c.id JOIN doc_type t ON t.id = d.doc_type "
                    "JOIN query_term q ON q.doc_id = d.id AND q.path = :path WHERE t.name = :type"
                ),
                {"path": path, "type": doc_type},
            ):
                if row.value.lower() not in {k.lower() for k in keep}:
                    rows.append((doc_type, row.id, row.title, row.value))
        group = "Test Publishing Notification" if args.test else "Hotfix Remove Notification"
        recipients = group_emails(conn, group, include_expired=True)
    if not rows:
        log("no documents to remove")
        return 0
    cells = "".join(
        f"<tr><td>{t}</td><td>CDR{i:010d}</td><td>{html.escape(title)}</td>"
        f"<td>{html.escape(status)}</td></tr>"
        for t, i, title, status in rows
    )
    body = (
        "<html><body><table><tr><th>Doc Type</th><th>CDR-ID</th><th>Doc Title</th>"
        f"<th>Status</th></tr>{cells}</table></body></html>"
    )
    subject = f"[{tier()}] Document Candidates to be removed from Cancer.gov"
    send_mail(recipients, subject, body, "html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
