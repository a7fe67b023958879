"""E-mail as a Dagster resource: the CDR's SMTP relay, or an outbox folder of ``.eml`` files.

The message format keeps the legacy ``cdr.EmailMessage`` contract
(docs/behaviour-notes.md#mail-format): the ``To`` header is the recipients joined with
``", "``, the body is ``plain`` or
``html``, a blank body becomes ``"."``, attachments are base64 with a MIME type guessed from the
file name and ``Content-Disposition: attachment; filename=...``, and a message with attachments
is ``multipart/mixed``. Text is UTF-8. Subjects carry the tier (``[DEV] ...``).

Where the message goes is configuration, not code: with ``outbox_dir`` set (``CDR_MAIL_OUTBOX``)
each message is written atomically as one ``.eml`` file whose name sorts by time; otherwise it is
sent through SMTP (``CDR_SMTP_HOST``/``PORT``/``STARTTLS``/``USER``, the password from the
``CDR_SMTP_PASSWORD`` variable as a Dagster ``EnvVar``; the CDR relay needs no login).

The From address is each job's legacy sender (:meth:`EmailResource.from_sender`), unless
``sender_override`` (``CDR_MAIL_SENDER``) names one address for every message.

Recipients are an explicit list or a CDR group (active users' addresses from the CDR database,
the nested ``cdr_db`` resource). An empty recipient list is an error, never a silent skip.
"""

from __future__ import annotations

import itertools
import mimetypes
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import dagster as dg
from pydantic import Field

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.settings import DEFAULT_SMTP_HOST, LEGACY_SENDER, TIERS


class EmailError(Exception):
    """A message could not be built or delivered; the text says which and why."""


class NoRecipientsError(EmailError):
    """A message has nobody to go to (an empty list, or a group without active members)."""


class EmailSendError(EmailError):
    """The SMTP relay or the outbox folder did not take the message."""


@dataclass(frozen=True)
class SentEmail:
    """What was sent: to whom, with which subject and Message-ID, and where it went.

    ``where`` is ``smtp://host:port`` for SMTP or the path of the ``.eml`` file in the outbox.
    ``refused`` lists recipients the relay refused while accepting the others (address -> reply).
    """

    recipients: tuple[str, ...]
    subject: str
    message_id: str
    where: str
    refused: dict[str, str]


_OUTBOX_SEQUENCE = itertools.count()
_OUTBOX_LOCK = threading.Lock()


def _outbox_name() -> str:
    """A file name that sorts by creation time and is unique across processes and threads."""
    with _OUTBOX_LOCK:
        sequence = next(_OUTBOX_SEQUENCE)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{os.getpid()}-{sequence:06d}-{uuid.uuid4().hex[:8]}.eml"


def _text(reply: bytes | str) -> str:
    """An SMTP reply as text."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _clean_recipients(recipients: Sequence[str]) -> list[str]:
    """Strip addresses, drop blanks and duplicates, keep the order."""
    if isinstance(recipients, str):
        raise EmailError(f"recipients must be a list of addresses, not the string {recipients!r}")
    seen: dict[str, None] = {}
    for address in recipients:
        address = (address or "").strip()
        if address:
            seen.setdefault(address, None)
    return list(seen)


class EmailResource(dg.ConfigurableResource):
    """Sends CDR notification mail through the SMTP relay, or writes it to an outbox folder.

    Give ``outbox_dir`` for the local/demo mode; leave it unset to send through ``smtp_host``.
    Give ``cdr_db`` to address messages to CDR groups.
    """

    tier: str = Field(
        description="CDR tier (DEV, QA, STAGE, PROD); subjects are prefixed with '[TIER] '."
    )
    sender: str = Field(
        default=LEGACY_SENDER,
        description="From header (a job sets its own legacy sender); the envelope sender is "
        "its address.",
    )
    sender_override: str | None = Field(
        default=None,
        description="When set (CDR_MAIL_SENDER), the From header of every message, replacing "
        "each job's own sender.",
    )
    smtp_host: str = Field(
        default=DEFAULT_SMTP_HOST, description="SMTP relay host (CDR_SMTP_HOST)."
    )
    smtp_port: int = Field(default=25, description="SMTP relay port (CDR_SMTP_PORT).")
    starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS (CDR_SMTP_STARTTLS)."
    )
    username: str | None = Field(
        default=None, description="SMTP login name (CDR_SMTP_USER); unset means no login."
    )
    password: str | None = Field(
        default=None,
        description="SMTP password; give it as EnvVar('CDR_SMTP_PASSWORD'), never as text.",
    )
    timeout: float = Field(
        default=60.0, description="Seconds to wait for the SMTP relay before giving up."
    )
    outbox_dir: str | None = Field(
        default=None,
        description="When set (CDR_MAIL_OUTBOX), messages are written here as .eml files "
        "instead of being sent through SMTP.",
    )
    cdr_db: CdrDatabaseResource | None = Field(
        default=None, description="The CDR database, needed to send to CDR groups."
    )

    @property
    def effective_sender(self) -> str:
        """The From header messages get: the override when one is set, else ``sender``."""
        return (self.sender_override or "").strip() or self.sender

    def from_sender(self, sender: str) -> EmailResource:
        """This resource sending from ``sender`` (a job's legacy sender); the override wins."""
        return self.model_copy(update={"sender": sender})

    @property
    def mode(self) -> str:
        """``"outbox"`` when messages are written to ``outbox_dir``, else ``"smtp"``."""
        return "outbox" if self.outbox_dir else "smtp"

    def group_addresses(self, group: str) -> list[str]:
        """E-mail addresses of the active members of CDR group ``group``, in database order.

        Raises ``EmailError`` when no CDR database is configured. The list may be empty.
        """
        if self.cdr_db is None:
            raise EmailError(
                f"cannot look up CDR group {group!r}: the e-mail resource has no cdr_db configured"
            )
        from cdr_dagster.cdr.groups import group_email_addresses

        with self.cdr_db.connect() as conn:
            return list(group_email_addresses(conn, group))

    def resolve_recipients(
        self, subject: str, to: Sequence[str] | None = None, group: str | None = None
    ) -> list[str]:
        """The recipients of a message: ``to`` or the members of ``group`` (exactly one of them).

        Raises ``NoRecipientsError`` naming the group and subject when the list is empty.
        """
        if (to is None) == (group is None):
            raise EmailError(
                f"message {subject!r}: give either explicit recipients or a CDR group, "
                "not both and not neither"
            )
        if group is not None:
            recipients = _clean_recipients(self.group_addresses(group))
            if not recipients:
                raise NoRecipientsError(
                    f"message {subject!r} not sent: CDR group {group!r} has no active member "
                    "with an e-mail address"
                )
            return recipients
        recipients = _clean_recipients(to or [])
        if not recipients:
            raise NoRecipientsError(f"message {subject!r} not sent: the recipient list is empty")
        return recipients

    def full_subject(self, subject: str) -> str:
        """``subject`` with the ``[TIER] `` prefix (not added twice)."""
        tier = self.tier.strip().upper()
        if tier not in TIERS:
            raise EmailError(f"tier {self.tier!r} is not one of {', '.join(TIERS)}")
        prefix = f"[{tier}] "
        return subject if subject.startswith(prefix) else prefix + subject

    def build_message(
        self,
        subject: str,
        body: str,
        recipients: Sequence[str],
        *,
        html: bool = False,
        attachments: Sequence[Path | str] = (),
    ) -> EmailMessage:
        """The complete message, as the legacy ``cdr.EmailMessage`` built it (see module doc).

        ``subject`` is used as given (no tier prefix is added here). A missing attachment file
        raises ``EmailError`` naming it.
        """
        sender = self.effective_sender
        if not sender.strip():
            raise EmailError("the e-mail resource has an empty sender")
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        domain = parseaddr(sender)[1].rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        if not body or not body.strip():
            body = "."
        message.set_content(body, subtype="html" if html else "plain", charset="utf-8")
        for attachment in attachments:
            path = Path(attachment)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise EmailError(
                    f"message {subject!r}: cannot read attachment {path}: {exc}"
                ) from exc
            mime_type, encoding = mimetypes.guess_type(path.name)
            if mime_type is None or encoding is not None:
                mime_type = "application/octet-stream"
            maintype, _, subtype = mime_type.partition("/")
            message.add_attachment(
                data, maintype=maintype, subtype=subtype, filename=path.name, cte="base64"
            )
        return message

    def send(
        self,
        subject: str,
        body: str,
        *,
        to: Sequence[str] | None = None,
        group: str | None = None,
        html: bool = False,
        attachments: Sequence[Path | str] = (),
        tier_prefix: bool = True,
    ) -> SentEmail:
        """Send one message to ``to`` or to the active members of CDR group ``group``.

        The subject gets the ``[TIER] `` prefix unless ``tier_prefix`` is false. Returns what was
        sent; raises ``NoRecipientsError`` when nobody would receive it and ``EmailSendError``
        (naming host and recipients, or the outbox path) when delivery fails.
        """
        recipients = self.resolve_recipients(subject, to, group)
        full_subject = self.full_subject(subject) if tier_prefix else subject
        message = self.build_message(
            full_subject, body, recipients, html=html, attachments=attachments
        )
        if self.outbox_dir:
            where, refused = self._write_outbox(message, recipients), {}
        else:
            where, refused = self._send_smtp(message, recipients)
        return SentEmail(
            recipients=tuple(recipients),
            subject=full_subject,
            message_id=str(message["Message-ID"]),
            where=where,
            refused=refused,
        )

    def _send_smtp(
        self, message: EmailMessage, recipients: list[str]
    ) -> tuple[str, dict[str, str]]:
        """Hand the message to the relay; return its URL and any refused recipients."""
        import smtplib
        import ssl

        where = f"smtp://{self.smtp_host}:{self.smtp_port}"
        envelope_from = parseaddr(self.effective_sender)[1] or self.effective_sender
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(message, from_addr=envelope_from, to_addrs=recipients)
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailSendError(
                f"send_mail: {message['Subject']!r} to {', '.join(recipients)} through "
                f"{where} failed: {exc.__class__.__name__}: {exc}"
            ) from exc
        return where, {
            address: f"{code} {_text(reply)}" for address, (code, reply) in refused.items()
        }

    def _write_outbox(self, message: EmailMessage, recipients: list[str]) -> str:
        """Write the message as one ``.eml`` file, atomically (temp file, then rename)."""
        folder = Path(self.outbox_dir or "")
        final = folder / _outbox_name()
        temp = folder / f".{final.name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                handle.write(message.as_bytes())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, final)
        except OSError as exc:
            try:
                temp.unlink(missing_ok=True)
            except OSError:
                pass
            raise EmailSendError(
                f"send_mail: {message['Subject']!r} to {', '.join(recipients)} could not be "
                f"written to outbox {folder}: {exc}"
            ) from exc
        return str(final)
