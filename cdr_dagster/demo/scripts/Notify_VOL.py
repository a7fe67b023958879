"""Demo stand-in for ``Publishing/Notify_VOL.py``: media documents changed in the last week.

Usage: ``python Notify_VOL.py --test|--live``. Lists the Media documents with a publishable
version saved in the last seven days and mails the list to the VOL Notification group; in test
mode, or when that group is empty, to Developers Notification.
"""

from __future__ import annotations

import argparse
import html
import sys
from datetime import timedelta

from cdr_demo import engine, group_emails, now, send_mail, tier
from sqlalchemy import text


def main(argv: list[str]) -> int:
    """Send the weekly list; returns the exit status."""
    parser = argparse.ArgumentParser(prog="Notify_VOL.py")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--test", action="store_true")
    mode.add_argument("--live", action="store_true")
    args = parser.parse_args(argv)
    with engine().connect() as conn:
        rows = list(
            conn.execute(
                text(
                    "SELECT v.id, v.num, v.title, v.dt FROM doc_version v "
                    "JOIN doc_type t ON t.id = v.doc_type WHERE t.name = 'Media' "
                    "AND v.publishable = 'Y' AND v.dt >= :since ORDER BY v.id, v.num"
                ),
                {"since": now() - timedelta(days=7)},
            )
        )
        recipients = [] if args.test else group_emails(conn, "VOL Notification", True)
        if not recipients:
            recipients = group_emails(conn, "Developers Notification", True)
    cells = "".join(
        f"<tr><td>CDR{r.id:010d}</td><td>{r.num}</td><td>{html.escape(r.title)}</td>"
        f"<td>{str(r.dt)[:10]}</td></tr>"
        for r in rows
    )
    body = (
        "<html><body><h3>List of Updated Media Documents</h3>"
        "<table><tr><th>CDR-ID</th><th>Doc Version</th><th>Media Title</th><th>Version Date</th>"
        f"</tr>{cells or '<tr><td colspan=4>None</td></tr>'}</table></body></html>"
    )
    send_mail(recipients, f"[{tier()}] List of Updated Media Documents", body, "html")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
