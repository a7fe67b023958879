"""PDQ data partners: contact selection, expiry dates, the Licensee edit, the notification run
(live, test, resumed after an SMTP failure) and the partner list, on PostgreSQL and SMTP."""

from __future__ import annotations

import html
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from lxml import html as lxml_html
from sqlalchemy import func, insert, select, update

from cdr_dagster.cdr.partners import (
    EXPIRED,
    EXPIRING,
    Contact,
    NotifySettings,
    PartnerError,
    PartnerNotifier,
    expire_licensee_xml,
    licensee_list,
    partner_contacts,
    standing,
)
from cdr_dagster.cdr.schema import (
    all_doc_versions,
    all_docs,
    audit_trail,
    checkout,
    data_partner_notification,
    query_term,
)
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.jobs.data_partners import data_partner_list_report_job, notify_data_partners_job
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import cdr_today
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.queue_fixtures import job_resources
from cdr_dagster_tests.services.smtp import _free_port
from cdr_dagster_tests.test_data_partners_rows import (
    TEXTS,
    add_export,
    add_licensee,
    add_save_account,
    add_texts,
    checked_db,
    licensee_xml,
    write_changes,
)

STARTED = datetime(2025, 3, 7, 18, 0, 1)
CHANGES = [
    "Media.202510:added:1",
    "Media.202510:modified:0",
    "Media.202510:removed:0",
    "Summary.202510:added:2",
    "Summary.202510:modified:5",
    "Summary.202510:removed:1",
]
OPS = [("ops1", "ops1@nci.example.gov", False), ("gone", "gone@nci.example.gov", True)]
TESTERS = [("tester", "tester@nci.example.gov", False)]


def contact(status: str = "T", activation: str = "", renewal: str = "") -> Contact:
    return Contact("1_1", "a@x", "A", "Org", status, "P", activation, renewal, None, 1)


# ---------------------------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "renewal", "kind", "expires"),
    [
        ("2024-12-01", "", EXPIRING, date(2025, 3, 11)),  # warned before expiry
        ("2024-06-01", "2024-12-20", "current", None),  # scenario 4: D-80 is not < D-80
        ("2024-12-19", "", EXPIRING, date(2025, 3, 29)),  # D-81
        ("2024-11-30", "", EXPIRING, date(2025, 3, 10)),  # D-100 is not < D-100
        ("2024-11-29", "", EXPIRED, None),  # D-101, scenario 5
        ("2020-01-01", "2024-11-29", EXPIRED, None),
        ("", "", EXPIRED, None),  # no start date at all
    ],
)
def test_test_accounts_expire_after_100_days_and_are_warned_from_day_80(
    activation, renewal, kind, expires
):
    found = standing(contact("T", activation, renewal), date(2025, 3, 10))
    assert (found.kind, found.expires) == (kind, expires)


def test_production_accounts_never_expire_and_bad_dates_are_errors():
    assert standing(contact("A", "1999-01-01"), date(2025, 3, 10)).kind == "current"
    assert standing(contact("S", ""), date(2025, 3, 10)).kind == "current"
    with pytest.raises(ValueError):
        standing(contact("T", "2024-12-xx"), date(2025, 3, 10))


def children(xml: str, path: str) -> list[tuple[str, str | None]]:
    element = parse_xml(xml).find(path)
    return [(child.tag, child.text) for child in element]


def test_licensee_edit_element_by_element():
    xml = licensee_xml(
        "Acme", "Test", dates={"TestActivation": "2024-11-29", "TestExtension": "2024-12-01"}
    )
    edit = expire_licensee_xml(xml, date(2025, 3, 10))
    assert not edit.already_expired and edit.warnings == ()
    root = parse_xml(edit.xml)
    assert root.findtext("LicenseeInformation/LicenseeStatus") == "Test-expired"
    assert children(edit.xml, "LicenseeInformation/LicenseeStatusDates") == [
        ("TestActivation", "2024-11-29"),
        ("TestInactivation", "2025-03-10"),
        ("TestExtension", "2024-12-01"),
    ]
    assert [(c.tag, c.text) for c in root][-1] == ("DateLastModified", "2025-03-10")
    assert [c.tag for c in root] == [
        "LicenseeInformation",
        "ContactPersons",
        "FtpInformation",
        "DateLastModified",
    ]
    # everything else is untouched
    assert children(edit.xml, "ContactPersons") == children(xml, "ContactPersons")
    assert root.findtext(".//Name") == "Acme"


def test_licensee_edit_keeps_an_existing_inactivation_and_adds_missing_elements():
    xml = licensee_xml(
        "Acme",
        "Test",
        dates={"TestActivation": "2024-01-01", "TestInactivation": "2025-01-01"},
        modified=None,
    )
    edit = expire_licensee_xml(xml, date(2025, 3, 10))
    assert children(edit.xml, "LicenseeInformation/LicenseeStatusDates") == [
        ("TestActivation", "2024-01-01"),
        ("TestInactivation", "2025-01-01"),
    ]
    assert [c.tag for c in parse_xml(edit.xml)][-1] == "DateLastModified"
    first = expire_licensee_xml(
        licensee_xml("B", "Test", dates={"TestExtension": "2024-01-01"}), date(2025, 3, 10)
    )
    assert children(first.xml, "LicenseeInformation/LicenseeStatusDates")[0] == (
        "TestInactivation",
        "2025-03-10",
    )
    no_dates = expire_licensee_xml(licensee_xml("C", "Test", with_dates=False), date(2025, 3, 10))
    assert "no LicenseeStatusDates" in no_dates.warnings[0]
    assert parse_xml(no_dates.xml).findtext(".//LicenseeStatus") == "Test-expired"


def test_licensee_already_expired_is_not_changed_and_a_missing_status_fails():
    edit = expire_licensee_xml(licensee_xml("A", "Test-expired"), date(2025, 3, 10))
    assert edit.already_expired and edit.xml is None
    with pytest.raises(PartnerError, match="LicenseeStatus"):
        expire_licensee_xml("<Licensee><LicenseeInformation/></Licensee>", date(2025, 3, 10))


# ---------------------------------------------------------------------------------------------
# Contact selection (docs/behaviour-notes.md#licensee-documents) on PostgreSQL
# ---------------------------------------------------------------------------------------------


def test_contact_selection_for_every_status(cdr_db):
    people = [
        ("P", "Pat Primary", "pat@a.example"),
        ("S", "Sam  Second", "  sam@a.example "),
        ("I", "Ian Internal", "ian@nci.example"),
        ("D", "Dee Gone", "dee@a.example"),
        ("P", "No Mail", ""),
    ]
    one = [("P", "Only One", "one@{}.example")]
    cases = [
        (1, "Zeta Health", "Production", "Regular", {}, people),
        (2, "beta special", "Production", "Special", {}, one),
        (3, "Alpha Test", "Test", "Regular", {"TestActivation": "2025-01-01"}, one),
        (4, "Idle Production", "Production-inactive", "Regular", {}, one),
        (5, "Idle Test", "Test-inactive", "Regular", {"TestActivation": "2025-01-02"}, one),
        (6, "Expired", "Test-expired", "Regular", {}, one),
        (7, "Terminated", "Production-terminated", "Regular", {}, one),
        (8, "Store", "NA-Storefront", "Storefront", {}, one),
        (9, "Closed", "Production", "Regular", {"ProductionInactivation": "2024-01-01"}, one),
        (10, "Ended Test", "Test", "Regular", {"TestInactivation": "2024-01-01"}, one),
        (11, "Odd", "Production-deactivated", "Regular", {}, one),
        (12, "Empty inactivation", "Production", "Regular", {"ProductionInactivation": ""}, one),
    ]
    for doc_id, name, status, kind, dates, contacts in cases:
        contacts = [(t, p, m.format(doc_id)) for t, p, m in contacts]
        add_licensee(cdr_db, doc_id, licensee_xml(name, status, kind, dates, contacts))
    add_licensee(cdr_db, 13, "<Licensee><not-closed", index=False)
    with cdr_db.begin() as conn:
        conn.execute(
            insert(query_term).values(
                doc_id=13,
                path="/Licensee/LicenseeInformation/LicenseeStatus",
                value="Production",
                node_loc="00000002",
            )
        )
        conn.execute(
            insert(data_partner_notification),
            [
                {"email_addr": "PAT@a.example", "notif_date": datetime(2025, 3, 1, 9, 0, 0)},
                {"email_addr": "pat@a.example", "notif_date": datetime(2025, 3, 8, 9, 0, 0)},
            ],
        )
    with cdr_db.connect() as conn:
        found = partner_contacts(conn)
    assert [(c.org_status, c.org_name, c.email, c.contact_type) for c in found.contacts] == [
        ("A", "Empty inactivation", "one@12.example", "P"),
        ("A", "Idle Production", "one@4.example", "P"),
        ("A", "Zeta Health", "pat@a.example", "P"),
        ("A", "Zeta Health", "sam@a.example", "S"),
        ("A", "Zeta Health", "ian@nci.example", "I"),
        ("S", "beta special", "one@2.example", "P"),
        ("T", "Alpha Test", "one@3.example", "P"),
        ("T", "Idle Test", "one@5.example", "P"),
    ]
    pat = found.contacts[2]
    assert pat.pid == "1__1" and pat.person == "Pat Primary" and pat.org_id == 1
    assert pat.notified == datetime(2025, 3, 8, 9, 0, 0)
    assert found.contacts[3].person == "Sam Second" and found.contacts[3].notified is None
    assert found.contacts[6].activation_date == "2025-01-01"
    assert len(found.skipped_partners) == 1 and "CDR13" in found.skipped_partners[0]


# ---------------------------------------------------------------------------------------------
# The notification run
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def partners(cdr_db, tmp_path: Path):
    """Export 20001 (week 10), its change counts, texts, groups and three partners:
    Acme (A, never notified), Trial Co (T, expiring today+1) and Old Trial (T, expired)."""
    today = cdr_today()
    add_export(cdr_db, 19990, datetime(2025, 2, 1), subset="Interim-Export", status="Failure")
    add_export(cdr_db, 20001, STARTED)
    add_export(cdr_db, 20002, datetime(2025, 3, 8), subset="Export", status="Failure")
    write_changes(tmp_path, 20001, "202510", CHANGES)
    add_texts(cdr_db)
    add_group_members(cdr_db, "PDQ Partner Notification", OPS)
    add_group_members(cdr_db, "Test Publishing Notification", TESTERS)
    add_save_account(cdr_db)
    add_licensee(
        cdr_db,
        500,
        licensee_xml(
            "Acme Health",
            "Production",
            dates={"TestActivation": "2020-01-01"},
            contacts=[("P", "Jane Roe", "JRoe@acme.example")],
            username="acmehealth",
        ),
    )
    add_licensee(
        cdr_db,
        501,
        licensee_xml(
            "Trial Co",
            "Test",
            dates={"TestActivation": (today - timedelta(days=99)).isoformat()},
            contacts=[("P", "Tom Trial", "tom@trial.example")],
        ),
    )
    add_licensee(
        cdr_db,
        502,
        licensee_xml(
            "Old Trial",
            "Test",
            dates={"TestActivation": (today - timedelta(days=101)).isoformat()},
            contacts=[("S", "Olga Old", "olga@old.example")],
        ),
    )
    return tmp_path


def notify(cdr_db, mailbox, basedir, tier="PROD", instance=None, **config):
    return notify_data_partners_job.execute_in_process(
        run_config={"ops": {"notify_data_partners_op": {"config": config}}},
        resources=job_resources(cdr_db, mailbox, basedir, tier),
        instance=instance,
    )


def logged(instance, result) -> list[str]:
    """The messages the run logged."""
    return [record.user_message for record in instance.all_logs(result.run_id)]


def mails(mailbox) -> list[tuple[str, list[str], str]]:
    return [
        (
            m.message["Subject"].strip(),
            m.rcpt_tos,
            m.message.get_body(("html", "plain")).get_content().replace("\r\n", "\n").rstrip("\n"),
        )
        for m in mailbox.messages
    ]


def test_live_run_on_prod(cdr_db, mailbox, partners):
    today = cdr_today()
    result = notify(cdr_db, mailbox, partners, mode="live")
    assert result.success
    sent = mails(mailbox)
    data_subject = "PDQ XML Data for 2025-03-07 (Week 10)"
    expiry = "Expiration notice: NCI PDQ Test Account for Old Trial, 2025-03-07 (Week 10)"
    warning = "Warning notice: NCI PDQ Test Account for Trial Co, 2025-03-07 (Week 10)"
    assert [(s, r) for s, r, _ in sent] == [
        (data_subject, ["JRoe@acme.example"]),
        (expiry, ["olga@old.example"]),
        (expiry, ["ops1@nci.example.gov"]),
        (data_subject, ["tom@trial.example"]),
        (warning, ["tom@trial.example"]),
        (warning, ["ops1@nci.example.gov"]),
        (f"Summary Report on Notification: {data_subject}", ["ops1@nci.example.gov"]),
    ]
    first = mailbox.messages[0].message
    assert first["From"] == "NCI PDQ\u00ae Operator <NCIPDQoperator@mail.nih.gov>"
    assert first["To"] == "Jane Roe <JRoe@acme.example>"
    body = sent[0][2]
    assert body.startswith(TEXTS["data-partner-notification"] + "\n")
    assert "Changed Documents for Week 10, 2025" in body
    table = lxml_html.fromstring(body.split("\n", 1)[1])
    cells = [[c.text_content() for c in row] for row in table.iter("tr")]
    assert cells == [
        ["Document Type", "Added", "Modified", "Removed"],
        ["Media", "1", "0", "0"],
        ["Summary", "2", "5", "1"],
    ]
    assert sent[1][2] == TEXTS["test-partner-disabled"]
    assert sent[2][2].startswith(
        "<p><i>The following message was sent to Olga Old at Old Trial "
        "&lt;olga@old.example&gt;</i></p>"
    )
    expires = (today + timedelta(days=1)).isoformat()
    assert sent[4][2] == f"<p>Your test account expires on {expires}.</p>"
    summary = sent[-1][2]
    assert "<li>Active Vendor: Jane Roe at Acme Health &lt;JRoe@acme.example&gt;</li>" in summary
    assert (
        "<li>Disabled test account for Olga Old at Old Trial &lt;olga@old.example&gt;</li>"
        in summary
    )
    assert (
        "<li>Test Vendor: Tom Trial at Trial Co &lt;tom@trial.example&gt; "
        "(warning notice sent)</li>" in summary
    )
    assert summary.endswith("</ul>") and " Vendor Memo " in summary
    with cdr_db.connect() as conn:
        rows = conn.execute(select(data_partner_notification.c.email_addr)).scalars().all()
        version = conn.execute(
            select(all_doc_versions).where(
                all_doc_versions.c.id == 502, all_doc_versions.c.num == 2
            )
        ).one()
        doc = conn.execute(select(all_docs).where(all_docs.c.id == 502)).one()
        status = conn.execute(
            select(query_term.c.value).where(
                query_term.c.doc_id == 502,
                query_term.c.path == "/Licensee/LicenseeInformation/LicenseeStatus",
            )
        ).scalar_one()
        lock = conn.execute(select(checkout).where(checkout.c.id == 502)).one()
        audit = conn.execute(select(audit_trail).where(audit_trail.c.document == 502)).one()
    assert sorted(rows) == ["jroe@acme.example", "tom@trial.example"]
    assert version.publishable == "N" and version.comment == "Marking account as expired"
    assert doc.title == "Old Trial;Test-expired" and doc.xml == version.xml
    assert status == "Test-expired"
    assert lock.comment == "Marking account as expired" and lock.dt_in is not None
    assert lock.version == 2 and audit.comment == "Marking account as expired"
    saved = parse_xml(doc.xml)
    assert children(doc.xml, "LicenseeInformation/LicenseeStatusDates") == [
        ("TestActivation", (today - timedelta(days=101)).isoformat()),
        ("TestInactivation", today.isoformat()),
    ]
    assert saved.findtext("DateLastModified") == today.isoformat()
    materialization = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"][
        0
    ].event_specific_data.metadata
    assert materialization["notified"].value == 2 and materialization["expired"].value == 1
    assert materialization["licensee_versions_saved"].value == {"502": 2}

    # a second live run for the same export notifies nobody again
    mailbox.clear()
    assert notify(cdr_db, mailbox, partners, mode="live").success
    assert [s for s, _, _ in mails(mailbox)] == [f"Summary Report on Notification: {data_subject}"]


def test_test_mode_reroutes_partner_mail_and_changes_nothing(cdr_db, mailbox, partners):
    result = notify(cdr_db, mailbox, partners, mode="test")
    assert result.success
    sent = mails(mailbox)
    subject = "Test XML Data for 2025-03-07 (Week 10)"
    assert sent[0][0] == subject and sent[0][1] == ["tester@nci.example.gov"]
    banner = html.escape(repr("Jane Roe <JRoe@acme.example>"))
    assert sent[0][2].startswith(
        f"<h3>In live prod mode, would have gone to {banner}</h3>\n{TEXTS['test-notification']}\n"
    )
    ops_copies = [
        r for s, r, _ in sent if s.startswith(("Expiration", "Warning")) and "ops1" in r[0]
    ]
    assert len(ops_copies) == 2
    assert " Test Vendor Memo " in sent[-1][2]
    with cdr_db.connect() as conn:
        assert conn.execute(select(data_partner_notification)).first() is None
        assert (
            conn.execute(select(all_doc_versions).where(all_doc_versions.c.num == 2)).first()
            is None
        )
    assert (partners / "Output/LicenseeDocs/Job20001/report-test").is_file()
    assert not (partners / "Output/LicenseeDocs/Job20001/report").exists()
    # a fresh test run sends everything again (nothing is recorded in test mode)
    mailbox.clear()
    assert notify(cdr_db, mailbox, partners, mode="test", recip="qa@example.gov").success
    assert len(mailbox.messages) == 7
    assert {tuple(r) for s, r, _ in mails(mailbox) if s == subject} == {("qa@example.gov",)}


def test_live_run_off_prod_reroutes_mail_but_records(cdr_db, mailbox, partners):
    assert notify(cdr_db, mailbox, partners, tier="DEV", mode="live", recip="qa@x.gov").success
    sent = mails(mailbox)
    partner_mail = [m for m in sent if "ops1@nci.example.gov" not in m[1]]
    assert all(r == ["qa@x.gov"] for _, r, _ in partner_mail)
    assert sent[-1][1] == ["qa@x.gov"]  # the summary goes to recip
    with cdr_db.connect() as conn:
        assert len(conn.execute(select(data_partner_notification)).all()) == 2


def test_explicit_job_skips_and_missing_changes(cdr_db, mailbox, partners):
    with cdr_db.begin() as conn:
        conn.execute(
            insert(data_partner_notification).values(
                email_addr="jroe@acme.example", notif_date=datetime(2025, 3, 10, 15, 0, 9)
            )
        )
    write_changes(partners, 19990, "202505", CHANGES)
    result = notify(cdr_db, mailbox, partners, mode="live", job=19990)
    assert result.success
    subjects = [s for s, _, _ in mails(mailbox)]
    assert "PDQ XML Data for 2025-02-01 (Week 5)" in subjects
    # notified after 19990 started: Jane Roe is skipped, still listed in no <li>
    assert not any(r == ["JRoe@acme.example"] for _, r, _ in mails(mailbox))
    mailbox.clear()
    with pytest.raises(dg.DagsterInvalidConfigError):
        notify(cdr_db, mailbox, partners, mode="foo")
    (partners / "Output/LicenseeDocs/Job20001/202510.changes").unlink()
    failed = notify_data_partners_job.execute_in_process(
        run_config={"ops": {"notify_data_partners_op": {"config": {"mode": "live"}}}},
        resources=job_resources(cdr_db, mailbox, partners, "PROD"),
        raise_on_error=False,
    )
    assert not failed.success and mailbox.messages == []


class _FlakyRelay:
    """An SMTP server that accepts ``accept`` messages, then refuses everything (451)."""

    def __init__(self, accept: int) -> None:
        self.accept = accept
        self.received: list[str] = []
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if len(self.received) >= self.accept:
            self.refused += 1
            return "451 try again later"
        self.received.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


def test_resume_after_a_relay_failure_mails_nobody_twice(cdr_db, mailbox, partners):
    relay = _FlakyRelay(accept=3)
    port = _free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    delays: list[float] = []
    try:
        db = checked_db(cdr_db)
        flaky = EmailResource(tier="PROD", smtp_host="127.0.0.1", smtp_port=port, cdr_db=db)
        settings = NotifySettings(mode="live", tier="PROD", basedir=partners, today=cdr_today())

        def via(resource):
            return lambda subject, body, to: resource.send(
                subject, body, to=to, html=True, tier_prefix=False
            )

        notifier = PartnerNotifier(
            db.engine, settings, via(flaky), logging.getLogger("t"), delays.append
        )
        with pytest.raises(Exception, match="send_mail"):
            notifier.run()
    finally:
        controller.stop()
    assert relay.refused == 5
    # Jane's notice, Olga's expiry notice and its ops copy went out (a pause between
    # contacts), then Tom's notice failed five times with the legacy delays between attempts
    assert delays == [3.0, 3.0, 5.0, 10.0, 15.0, 20.0]
    assert len(relay.received) == 3
    with cdr_db.connect() as conn:
        assert conn.execute(select(data_partner_notification.c.email_addr)).scalars().all() == [
            "jroe@acme.example"
        ]
    good = EmailResource(tier="PROD", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=db)
    resumed = PartnerNotifier(
        db.engine, settings, via(good), logging.getLogger("t"), delays.append
    ).run()
    sent = mails(mailbox)
    # Jane (recorded) is skipped, Olga's steps are in the journal: only Tom's mail and the summary
    assert [(s.split(":")[0], r) for s, r, _ in sent] == [
        ("PDQ XML Data for 2025-03-07 (Week 10)", ["tom@trial.example"]),
        ("Warning notice", ["tom@trial.example"]),
        ("Warning notice", ["ops1@nci.example.gov"]),
        ("Summary Report on Notification", ["ops1@nci.example.gov"]),
    ]
    assert resumed.skipped == ["Jane Roe at Acme Health <JRoe@acme.example>"]
    # Olga's Licensee is Test-expired now, so she is no longer selected; Tom's report line
    # was written before his notice failed and is not written again
    assert resumed.contacts == 2 and resumed.resumed_steps == 1
    summary = sent[-1][2]
    assert summary.count("<li>") == 3 and summary.count("Jane Roe") == 1


# ---------------------------------------------------------------------------------------------
# The partner list (docs/behaviour-notes.md#partner-list)
# ---------------------------------------------------------------------------------------------


def test_partner_list(cdr_db, mailbox, tmp_path: Path):
    add_licensee(
        cdr_db,
        10,
        licensee_xml(
            "Acme",
            "Production",
            dates={"TestActivation": "2023-01-05", "ProductionActivation": "2023-04-01"},
            username="AcmeSFTP",
        ),
    )
    add_licensee(
        cdr_db, 11, licensee_xml("B Partner", "Production", dates={"TestActivation": "2023-02-01"})
    )
    add_licensee(
        cdr_db,
        12,
        licensee_xml(
            "C Trial", "Test", dates={"TestActivation": "2025-02-01", "TestExtension": "2025-05-01"}
        ),
    )
    add_licensee(
        cdr_db, 13, licensee_xml("Société X", "Production", dates={"TestActivation": "2020-01-01"})
    )
    add_licensee(
        cdr_db,
        14,
        licensee_xml("Gone", "Production-inactive", dates={"TestActivation": "2020-01-01"}),
    )
    add_licensee(
        cdr_db, 15, licensee_xml("Expired", "Test-expired", dates={"TestActivation": "2020-01-01"})
    )
    add_licensee(cdr_db, 16, licensee_xml("No start", "Production"))
    add_group_members(cdr_db, "Test Publishing Notification", TESTERS)
    log = tmp_path / "sftp_log" / "cumulative.log"
    log.parent.mkdir()
    log.write_text(
        "2025-03-28 10:00:00 h sshd[5]: session opened for local user acmesftp from [x]\n"
        '2025-03-28 10:00:01 h sshd[5]: open "/pdq/full/a" flags READ mode 0666\n'
    )
    with cdr_db.connect() as conn:
        rows = licensee_list(conn)
    assert [(r.doc_id, r.status) for r in rows] == [
        (10, "Production"),
        (11, "Production"),
        (13, "Production"),
        (12, "Test"),
    ]
    res = job_resources(cdr_db, mailbox, tmp_path, "DEV")
    result = data_partner_list_report_job.execute_in_process(
        run_config={"ops": {"data_partner_list_report_op": {"config": {"mode": "test"}}}},
        resources=res,
    )
    assert result.success
    (message,) = mailbox.messages
    assert message.message["Subject"] == "[DEV] PDQ Distribution Partner List"
    assert message.rcpt_tos == ["tester@nci.example.gov"]
    assert message.message["From"] == "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
    page = message.message.get_body(("html",)).get_content()
    assert "Active Partners: 3 - Test Partners: 1" in page
    assert "Soci&#233;t&#233; X" in page
    tree = lxml_html.fromstring(page.encode("ascii"))
    cells = [[td.text_content() for td in tr] for tr in tree.iter("tr")]
    assert cells[0] == [
        "CDR ID",
        "Partner Name",
        "Status",
        "Test Started",
        "Test Renewed",
        "Test Removed",
        "Prod Started",
        "Prod Removed",
        "Last Access",
    ]
    assert cells[1] == [
        "10",
        "Acme",
        "Production",
        "2023-01-05",
        "",
        "",
        "2023-04-01",
        "",
        "2025-03-28",
    ]
    assert cells[2][1] == "B Partner" and cells[2][-1] == ""
    assert cells[4] == ["12", "C Trial", "Test", "2025-02-01", "2025-05-01", "", "", "", ""]
    saved = list((tmp_path / "reports").glob("licensees-*.html"))
    assert len(saved) == 1 and b"Soci&#233;t&#233; X" in saved[0].read_bytes()

    mailbox.clear()
    result = data_partner_list_report_job.execute_in_process(
        run_config={
            "ops": {"data_partner_list_report_op": {"config": {"mode": "live", "skip_email": True}}}
        },
        resources=res,
    )
    assert result.success and mailbox.messages == []


# ---------------------------------------------------------------------------------------------
# The journal is keyed on the address; notif_date is the database's clock
# ---------------------------------------------------------------------------------------------


def database_time(cdr_db) -> datetime:
    with cdr_db.connect() as conn:
        return conn.execute(select(func.localtimestamp())).scalar_one()


def test_a_corrected_address_gets_the_notice_on_a_live_rerun(cdr_db, mailbox, partners):
    assert notify(cdr_db, mailbox, partners, mode="live").success
    fixed = licensee_xml(
        "Acme Health",
        "Production",
        dates={"TestActivation": "2020-01-01"},
        contacts=[("P", "Jane Roe", "jane.roe@acme.example")],
        username="acmehealth",
    )
    with cdr_db.begin() as conn:
        conn.execute(update(all_docs).where(all_docs.c.id == 500).values(xml=fixed))
    mailbox.clear()
    with dg.instance_for_test() as instance:
        rerun = notify(cdr_db, mailbox, partners, mode="live", instance=instance)
        messages = logged(instance, rerun)
    assert rerun.success
    sent = [(s, r) for s, r, _ in mails(mailbox)]
    data_subject = "PDQ XML Data for 2025-03-07 (Week 10)"
    assert (data_subject, ["jane.roe@acme.example"]) in sent, (
        f"the corrected address got nothing: {sent}"
    )
    assert len(sent) == 2, f"only the new address and the summary were due: {sent}"
    with cdr_db.connect() as conn:
        rows = conn.execute(select(data_partner_notification.c.email_addr)).scalars().all()
    assert sorted(rows) == ["jane.roe@acme.example", "jroe@acme.example", "tom@trial.example"]
    # Tom's address was notified by the first run: the skip is logged with its reason
    assert any(
        "skipping Tom Trial at Trial Co <tom@trial.example>: the address was notified" in m
        for m in messages
    ), messages


def test_a_second_contact_with_a_notified_address_is_skipped_and_logged(cdr_db, mailbox, partners):
    add_licensee(
        cdr_db,
        503,
        licensee_xml(
            "Acme Labs",
            "Production",
            dates={"TestActivation": "2020-01-01"},
            contacts=[("P", "Jane Roe", "jroe@ACME.example")],
        ),
    )
    with dg.instance_for_test() as instance:
        result = notify(cdr_db, mailbox, partners, mode="live", instance=instance)
        messages = logged(instance, result)
    assert result.success
    to_jane = [
        s for s, r, _ in mails(mailbox) if r == ["jroe@ACME.example"] or r == ["JRoe@acme.example"]
    ]
    assert to_jane == ["PDQ XML Data for 2025-03-07 (Week 10)"], (
        f"one address must get one notice per export: {to_jane}"
    )
    skips = [m for m in messages if m.startswith("skipping 'data' for Jane Roe at Acme")]
    assert len(skips) == 1 and "already done for jroe@acme.example" in skips[0], messages


def test_notif_date_is_the_database_clock_not_the_hosts(cdr_db, mailbox, partners):
    db = checked_db(cdr_db)
    good = EmailResource(tier="PROD", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=db)
    settings = NotifySettings(mode="live", tier="PROD", basedir=partners, today=cdr_today())

    def send(subject, body, to):
        good.send(subject, body, to=to, html=True, tier_prefix=False)

    def wrong_host_clock() -> datetime:
        return datetime(2001, 1, 1, 5, 0, 0)  # a host clock the database does not share

    before = database_time(cdr_db)
    PartnerNotifier(
        db.engine, settings, send, logging.getLogger("t"), lambda _: None, wrong_host_clock
    ).run()
    after = database_time(cdr_db)
    with cdr_db.connect() as conn:
        dates = conn.execute(select(data_partner_notification.c.notif_date)).scalars().all()
    assert len(dates) == 2, "two contacts are notified live"
    assert all(before <= when <= after for when in dates), (
        f"notif_date {dates} is not the database's time (between {before} and {after})"
    )


def test_the_partner_list_file_is_stamped_in_new_york_time(cdr_db, mailbox, tmp_path: Path):
    from zoneinfo import ZoneInfo

    add_licensee(
        cdr_db, 10, licensee_xml("Acme", "Production", dates={"TestActivation": "2023-01-05"})
    )
    add_group_members(cdr_db, "Test Publishing Notification", TESTERS)
    (tmp_path / "sftp_log").mkdir()
    (tmp_path / "sftp_log" / "cumulative.log").write_text("")
    new_york = ZoneInfo("America/New_York")
    before = datetime.now(new_york).replace(microsecond=0, tzinfo=None)
    result = data_partner_list_report_job.execute_in_process(
        run_config={"ops": {"data_partner_list_report_op": {"config": {"mode": "test"}}}},
        resources=job_resources(cdr_db, mailbox, tmp_path, "DEV"),
    )
    after = datetime.now(new_york).replace(tzinfo=None)
    assert result.success
    (saved,) = (tmp_path / "reports").glob("licensees-*.html")
    stamp = datetime.strptime(saved.stem.removeprefix("licensees-"), "%Y%m%dT%H%M%S")
    assert before <= stamp <= after, f"{saved.name} is not New York time ({before} to {after})"


def test_an_expiry_that_would_leave_the_licensee_invalid_is_refused(cdr_db, mailbox, partners):
    """A Licensee schema without the Test-expired status: the expiry save is refused, naming
    the document and the first error, and the Licensee is left as it was."""
    from cdr_dagster.cdr.validation import install_schema
    from cdr_dagster_tests.cdr_rows import SCHEMAS

    xml = (SCHEMAS / "Licensee.xml").read_text(encoding="utf-8")
    status = '<xsd:element name="LicenseeStatus" type="NotEmptyString"/>'
    assert status in xml
    strict = xml.replace(
        status,
        '<xsd:element name="LicenseeStatus"><xsd:simpleType><xsd:restriction base="xsd:string">'
        '<xsd:enumeration value="Test"/><xsd:enumeration value="Production"/>'
        "</xsd:restriction></xsd:simpleType></xsd:element>",
    )
    with cdr_db.begin() as conn:
        install_schema(conn, "Licensee.xml", strict)
    result = notify_data_partners_job.execute_in_process(
        run_config={"ops": {"notify_data_partners_op": {"config": {"mode": "live"}}}},
        resources=job_resources(cdr_db, mailbox, partners, "PROD"),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith(
        "cannot save CDR0000000502: it does not validate against the Licensee schema: line 1: "
        "Element 'LicenseeStatus': [facet 'enumeration'] The value 'Test-expired' is not an "
        "element of the set {'Test', 'Production'}."
    ), message
    with cdr_db.connect() as conn:
        numbers = conn.execute(
            select(all_doc_versions.c.num).where(all_doc_versions.c.id == 502)
        ).scalars()
        assert list(numbers) == [1], "the refused expiry saved a version"
        doc = conn.execute(select(all_docs.c.xml).where(all_docs.c.id == 502)).scalar_one()
    assert "<LicenseeStatus>Test</LicenseeStatus>" in doc
