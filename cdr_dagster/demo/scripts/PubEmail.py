"""Demo stand-in for ``Publishing/PubEmail.py``: the publishing task's mail channel.

Usage: ``python PubEmail.py "Subject" "Message"``. Mails the Operator Publishing Notification
group (the legacy lookup, which includes expired users); when that group is empty it falls back
to Developers Notification and prefixes the subject with ``*** DL Missing ***``. Exits 1 when
given fewer than two arguments.
"""

from __future__ import annotations

import sys

from cdr_demo import OPERATOR, engine, fail, group_emails, send_mail, tier


def main(argv: list[str]) -> int:
    """Send the notification; returns the exit status."""
    if len(argv) < 2:
        fail("usage: PubEmail.py SUBJECT MESSAGE", 1)
    subject, message = argv[0], argv[1]
    with engine().connect() as conn:
        recipients = group_emails(conn, "Operator Publishing Notification", include_expired=True)
        if not recipients:
            recipients = group_emails(conn, "Developers Notification", include_expired=True)
            subject = f"*** DL Missing *** {subject}"
    body = f"Automated Publishing Email Notification:\n\n{message}"
    send_mail(recipients, f"[{tier()}] {subject}", body, sender=OPERATOR)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
