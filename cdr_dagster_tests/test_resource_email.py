"""EmailResource against a real SMTP server, a CDR group on PostgreSQL, and the outbox folder.

No postponed annotations here: Dagster reads the ops' context and resource type hints.
"""

import base64
import email
import email.policy
import os
from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import (
    EmailError,
    EmailResource,
    EmailSendError,
    NoRecipientsError,
)
from cdr_dagster.settings import LEGACY_SENDER
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.resource_test_servers import LoginSmtpServer, free_port


def _text(part) -> str:
    """The decoded text of a part, with SMTP's CRLF line ends turned back into LF."""
    return part.get_content().replace("\r\n", "\n")


def _db(engine) -> CdrDatabaseResource:
    return CdrDatabaseResource(url=engine.url.render_as_string(hide_password=False))


@pytest.fixture
def smtp_email(mailbox) -> EmailResource:
    return EmailResource(tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port)


def test_plain_message_through_smtp(smtp_email: EmailResource, mailbox) -> None:
    sent = smtp_email.send(
        "Scheduled Job List",
        "two jobs\n",
        to=["ann@example.gov", " bob@example.gov ", "ann@example.gov"],
    )

    assert sent.recipients == ("ann@example.gov", "bob@example.gov")
    assert sent.subject == "[DEV] Scheduled Job List"
    assert sent.where == f"smtp://{mailbox.host}:{mailbox.port}"
    assert sent.refused == {}
    [received] = mailbox.messages
    assert received.mail_from == "NCIPDQoperator@mail.nih.gov"
    assert received.rcpt_tos == ["ann@example.gov", "bob@example.gov"]
    message = received.message
    assert message["From"] == LEGACY_SENDER
    assert message["To"] == "ann@example.gov, bob@example.gov"
    assert message["Subject"] == "[DEV] Scheduled Job List"
    assert message["Message-ID"] == sent.message_id
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert _text(message) == "two jobs\n"


def test_html_utf8_and_attachments(smtp_email: EmailResource, mailbox, tmp_path: Path) -> None:
    workbook = tmp_path / "PDQPartnerDownloads_2025-02.xlsx"
    workbook.write_bytes(b"PK\x03\x04 not really a workbook \x00\xff")
    listing = tmp_path / "partners.csv"
    listing.write_text("name,login\nAcme,acmesftp\n", encoding="utf-8")
    blob = tmp_path / "dump.unknownext"
    blob.write_bytes(bytes(range(256)))
    body = "<html><body><p>Término: cáncer de mama</p></body></html>"

    smtp_email.send(
        "Informe mensual: cáncer",
        body,
        to=["ann@example.gov"],
        html=True,
        attachments=[workbook, listing, str(blob)],
    )

    [received] = mailbox.messages
    message = received.message
    assert message["Subject"] == "[DEV] Informe mensual: cáncer"
    assert message.get_content_type() == "multipart/mixed"
    parts = list(message.iter_parts())
    assert parts[0].get_content_type() == "text/html"
    assert _text(parts[0]).strip() == body
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(attachments) == {workbook.name, listing.name, blob.name}
    expected_types = {
        workbook.name: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        listing.name: "text/csv",
        blob.name: "application/octet-stream",
    }
    for name, path in ((workbook.name, workbook), (listing.name, listing), (blob.name, blob)):
        part = attachments[name]
        assert part.get_content_type() == expected_types[name]
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_content_disposition() == "attachment"
        assert base64.b64decode(part.get_payload()) == path.read_bytes()


def test_blank_body_becomes_a_dot(smtp_email: EmailResource, mailbox) -> None:
    smtp_email.send("nothing to say", "  \n", to=["ann@example.gov"])

    assert _text(mailbox.messages[0].message).strip() == "."


def test_tier_prefix_is_added_once_and_can_be_left_off(mailbox) -> None:
    resource = EmailResource(tier="prod", smtp_host=mailbox.host, smtp_port=mailbox.port)

    resource.send("[PROD] already tagged", "x", to=["a@example.gov"])
    resource.send("SFTP Log - PDQ Access Report", "x", to=["a@example.gov"], tier_prefix=False)

    subjects = [mail.message["Subject"] for mail in mailbox.messages]
    assert subjects == ["[PROD] already tagged", "SFTP Log - PDQ Access Report"]


def test_group_recipients_are_the_active_members(cdr_db, mailbox) -> None:
    add_group_members(
        cdr_db,
        "VOL Notification",
        [
            ("ann", "ann@example.gov", False),
            ("gone", "gone@example.gov", True),
            ("nomail", None, False),
            ("cy", "cy@example.gov", False),
        ],
    )
    resource = EmailResource(
        tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=_db(cdr_db)
    )

    assert sorted(resource.group_addresses("VOL Notification")) == [
        "ann@example.gov",
        "cy@example.gov",
    ]
    sent = resource.send("List of Updated Media Documents", "<p>x</p>", group="VOL Notification")

    assert sorted(sent.recipients) == ["ann@example.gov", "cy@example.gov"]
    [received] = mailbox.messages
    assert sorted(received.rcpt_tos) == ["ann@example.gov", "cy@example.gov"]
    assert received.message["To"] == ", ".join(sent.recipients)


def test_empty_group_is_an_error_naming_group_and_subject(cdr_db, mailbox) -> None:
    add_group_members(cdr_db, "Hotfix Remove Notification", [("gone", "g@example.gov", True)])
    resource = EmailResource(
        tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=_db(cdr_db)
    )

    for group in ("Hotfix Remove Notification", "No Such Group"):
        with pytest.raises(NoRecipientsError) as caught:
            resource.send("Document Candidates", "body", group=group)
        assert group in str(caught.value)
        assert "Document Candidates" in str(caught.value)
    assert mailbox.messages == []


def test_recipient_errors(smtp_email: EmailResource, mailbox) -> None:
    with pytest.raises(NoRecipientsError, match="recipient list is empty"):
        smtp_email.send("report", "body", to=["", "  "])
    with pytest.raises(EmailError, match="either explicit recipients or a CDR group"):
        smtp_email.send("report", "body")
    with pytest.raises(EmailError, match="either explicit recipients or a CDR group"):
        smtp_email.send("report", "body", to=["a@example.gov"], group="Developers Notification")
    with pytest.raises(EmailError, match="no cdr_db configured"):
        smtp_email.send("report", "body", group="Developers Notification")
    with pytest.raises(EmailError, match="list of addresses"):
        smtp_email.send("report", "body", to="a@example.gov")
    with pytest.raises(EmailError, match="missing.xlsx"):
        smtp_email.send("report", "body", to=["a@example.gov"], attachments=["missing.xlsx"])
    assert mailbox.messages == []


def test_send_failure_names_host_and_recipients() -> None:
    port = free_port()
    resource = EmailResource(tier="DEV", smtp_host="127.0.0.1", smtp_port=port, timeout=5)

    with pytest.raises(EmailSendError) as caught:
        resource.send("report", "body", to=["ann@example.gov", "bob@example.gov"])

    text = str(caught.value)
    assert text.startswith("send_mail: ")
    assert f"127.0.0.1:{port}" in text
    assert "ann@example.gov, bob@example.gov" in text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_login_with_password_from_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDR_SMTP_PASSWORD", "s3cret")

    @dg.op
    def mail_it(email: EmailResource) -> None:
        email.send("with login", "body", to=["ann@example.gov"])

    @dg.job
    def mail_job() -> None:
        mail_it()

    with LoginSmtpServer("cdrmailer", "s3cret") as server:
        resource = EmailResource(
            tier="QA",
            smtp_host=server.host,
            smtp_port=server.port,
            username="cdrmailer",
            password=dg.EnvVar("CDR_SMTP_PASSWORD"),
        )
        defs = dg.Definitions(jobs=[mail_job], resources={"email": resource})
        assert defs.get_job_def("mail_job").execute_in_process().success
        assert server.keeper.logins == ["cdrmailer"]
        assert [m.message["Subject"] for m in server.messages] == ["[QA] with login"]

        monkeypatch.setenv("CDR_SMTP_PASSWORD", "wrong")
        result = defs.get_job_def("mail_job").execute_in_process(raise_on_error=False)
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert "send_mail: " in failure.step_failure_data.error.cause.message
        assert len(server.messages) == 1


def test_in_a_job_with_a_group(cdr_db, mailbox) -> None:
    add_group_members(cdr_db, "Developers Notification", [("ann", "ann@example.gov", False)])

    @dg.op
    def notify(context: dg.OpExecutionContext, email: EmailResource) -> str:
        sent = email.send("Disk space", "<b>low</b>", group="Developers Notification", html=True)
        context.log.info(f"sent to {sent.recipients}")
        return sent.message_id

    @dg.job
    def notify_job() -> None:
        notify()

    result = notify_job.execute_in_process(
        resources={
            "email": EmailResource(
                tier="STAGE", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=_db(cdr_db)
            )
        }
    )

    [received] = mailbox.messages
    assert received.message["Message-ID"] == result.output_for_node("notify")
    assert received.message["Subject"] == "[STAGE] Disk space"
    assert received.message.get_content_type() == "text/html"


def _parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def test_outbox_files_parse_back_and_sort_by_time(tmp_path: Path, mailbox) -> None:
    outbox = tmp_path / "outbox"
    resource = EmailResource(tier="DEV", outbox_dir=str(outbox))
    attachment = tmp_path / "list.csv"
    attachment.write_text("a,b\n", encoding="utf-8")

    sent = [
        resource.send(f"message {n}", f"body {n} – ü", to=["ann@example.gov"], attachments=[])
        for n in range(5)
    ]
    with_file = resource.send(
        "with attachment", "see file", to=["a@x.gov", "b@x.gov"], attachments=[attachment]
    )

    assert resource.mode == "outbox"
    files = sorted(outbox.iterdir())
    assert [f.name for f in files] == sorted(os.listdir(outbox))
    assert all(f.suffix == ".eml" and not f.name.startswith(".") for f in files)
    assert [str(f) for f in files] == [s.where for s in [*sent, with_file]]
    first = _parse(files[0])
    assert first["From"] == LEGACY_SENDER
    assert first["To"] == "ann@example.gov"
    assert first["Subject"] == "[DEV] message 0"
    assert first["Message-ID"] == sent[0].message_id
    assert first.get_content() == "body 0 – ü\n"
    last = _parse(files[-1])
    assert last["To"] == "a@x.gov, b@x.gov"
    assert last.get_content_type() == "multipart/mixed"
    [part] = list(last.iter_attachments())
    assert part.get_filename() == "list.csv"
    assert part.get_content() == "a,b\n"
    assert mailbox.messages == []


def test_outbox_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = tmp_path / "outbox"
    resource = EmailResource(tier="DEV", outbox_dir=str(outbox))
    seen: list[tuple[str, bool, bytes]] = []
    real_replace = os.replace

    def observing_replace(src, dst):
        # At the moment of the rename the final name does not exist and the temp file is whole.
        seen.append((Path(src).name, Path(dst).exists(), Path(src).read_bytes()))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", observing_replace)
    sent = resource.send("atomic", "body", to=["ann@example.gov"])

    [(temp_name, final_existed, content)] = seen
    assert temp_name.startswith(".") and temp_name.endswith(".tmp")
    assert not final_existed
    assert content == Path(sent.where).read_bytes()
    assert [p.name for p in outbox.iterdir()] == [Path(sent.where).name]


def test_outbox_failure_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    resource = EmailResource(tier="DEV", outbox_dir=str(blocker / "outbox"))

    with pytest.raises(EmailSendError, match="could not be written to outbox"):
        resource.send("report", "body", to=["ann@example.gov"])


def test_bad_tier_is_refused(mailbox) -> None:
    resource = EmailResource(tier="TEST", smtp_host=mailbox.host, smtp_port=mailbox.port)

    with pytest.raises(EmailError, match="tier 'TEST'"):
        resource.send("report", "body", to=["ann@example.gov"])


def test_a_job_sender_is_used_unless_one_setting_overrides_every_sender(mailbox) -> None:
    """Each job sends from its legacy sender; CDR_MAIL_SENDER replaces them all."""
    from cdr_dagster.resources.defaults import build_resources
    from cdr_dagster.settings import load_settings

    plain = EmailResource(tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port)
    plain.from_sender("cdr@host1.nci.nih.gov").send("one", "x", to=["ann@example.gov"])
    settings = load_settings({"CDR_MAIL_SENDER": "Operators <ops@example.gov>"})
    configured = build_resources(settings)["email"]
    assert configured.sender_override == "Operators <ops@example.gov>"
    overridden = plain.model_copy(update={"sender_override": configured.sender_override})
    overridden.from_sender("cdr@host1.nci.nih.gov").send("two", "x", to=["ann@example.gov"])
    first, second = mailbox.messages
    assert (first.mail_from, first.message["From"]) == (
        "cdr@host1.nci.nih.gov",
        "cdr@host1.nci.nih.gov",
    ), "the job's own sender was not used"
    assert (second.mail_from, second.message["From"]) == (
        "ops@example.gov",
        "Operators <ops@example.gov>",
    ), "CDR_MAIL_SENDER did not replace the job's sender"
    assert load_settings({}).mail_sender is None
