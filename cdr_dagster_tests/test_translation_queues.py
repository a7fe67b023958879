"""``translation_queue_reports`` (docs/behaviour-notes.md#translation-queue-reports) on PostgreSQL
and a real SMTP server.

The weekly team-lead report (Glossary, Media and, fixed, Summary) and the nightly
per-translator reports: rows, order, titles of glossary concepts, one table per state,
recipients (groups, translators, test mode, ``recip``), Spanish text, empty queues, the
Markdown preview in the run metadata, the schedule entries and the demo.
"""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml
from lxml import html as lxml_html

from cdr_dagster.cdr.translation_queues import (
    UnknownQueueError,
    assignees,
    open_jobs,
    ready_for_translation,
)
from cdr_dagster.jobs.translation_queues import translation_queue_reports_job
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.schedules import load_schedules
from cdr_dagster.settings import cdr_today
from cdr_dagster_tests.queue_fixtures import op_metadata
from cdr_dagster_tests.shipped_schedules import shipped_schedule_file
from cdr_dagster_tests.test_data_partners_rows import checked_db
from cdr_dagster_tests.translation_rows import QueueRows

LEADS = "Spanish Translation Leads"
TESTERS = "Test Translation Queue Recips"
SENDER = "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
NIGHTLY_HEADER = ["Date", "CDR ID", "Title"]
WEEKLY_HEADER = ["Title", "CDR ID", "Translator", "Date"]


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute)


@pytest.fixture
def rows(cdr_db) -> QueueRows:
    """Team leads, a tester and three translators (one without e-mail, one expired)."""
    rows = QueueRows(cdr_db)
    rows.user("cmorales", "Carlos Morales", "carlos.morales@nci.example.gov")
    rows.user("egarcia", "Elena García", "elena.garcia@nci.example.gov")
    rows.user("oldlead", "Old Lead", "old.lead@nci.example.gov", expired=True)
    rows.user("tester", "Tess Tester", "tester@nci.example.gov")
    rows.user("aruiz", "Ana Ruiz", "ana.ruiz@nci.example.gov", user_id=12)
    rows.user("tnguyen", "Thanh Nguyen", None, user_id=13)
    rows.user("sflores", "Sofía Flores", "sofia.flores@nci.example.gov", user_id=14)
    rows.group(LEADS, ["cmorales", "oldlead", "egarcia"])
    rows.group(TESTERS, ["tester"])
    return rows


def run(cdr_db, mailbox, tier: str = "PROD", instance=None, **config):  # noqa: ANN001
    db = checked_db(cdr_db)
    return translation_queue_reports_job.execute_in_process(
        run_config={"ops": {"translation_queue_reports_op": {"config": config}}},
        resources={
            "cdr_db": db,
            "email": EmailResource(
                tier=tier, smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=db
            ),
        },
        instance=instance,
        raise_on_error=False,
    )


def page_of(message) -> str:  # noqa: ANN001
    return message.get_body(("html",)).get_content()


def tables(page: str) -> list[tuple[str, list[list[str]]]]:
    """Each table of the page: its caption and its rows of cell texts (header first)."""
    tree = lxml_html.fromstring(page)
    return [
        (
            table.findtext("caption"),
            [[cell.text_content() for cell in tr] for tr in table.iter("tr")],
        )
        for table in tree.iter("table")
    ]


def texts(page: str, tag: str) -> list[str]:
    return [e.text_content() for e in lxml_html.fromstring(page).iter(tag)]


def error_logs(instance, result) -> list[str]:  # noqa: ANN001
    return [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level >= 40 and entry.step_key == "translation_queue_reports_op"
    ]


# ---------------------------------------------------------------------------------------------
# Weekly report for the team leads
# ---------------------------------------------------------------------------------------------


def test_weekly_media_to_the_team_leads(cdr_db, mailbox, rows):
    """Weekly: two jobs ready, one in another state; by title; active leads."""
    rows.document(5001, "Media", "Zebra chart")
    rows.document(5002, "Media", "Anatomy of eye")
    rows.document(5003, "Media", "Brain scan")
    rows.job("Media", 5001, "Ready for Translation", "aruiz", at(3, 10, 30))
    rows.job("Media", 5002, "Ready for Translation", "aruiz", at(4))
    rows.job("Media", 5003, "Translation Pending", "aruiz", at(5))

    result = run(cdr_db, mailbox, mode="live", doctype="Media", schedule="weekly")

    assert result.success
    (mail,) = mailbox.messages
    message = mail.message
    assert message["Subject"] == "[PROD] Media Documents Ready For Translation"
    assert message["From"] == SENDER
    assert mail.rcpt_tos == ["carlos.morales@nci.example.gov", "elena.garcia@nci.example.gov"]
    page = page_of(message)
    assert texts(page, "title") == texts(page, "h3") == ["New Media Translation Jobs"]
    assert f"Report date: {cdr_today().isoformat()}" in texts(page, "p")[0]
    assert tables(page) == [
        (
            "Ready For Translation",
            [
                WEEKLY_HEADER,
                ["Anatomy of eye", "5002", "Ana Ruiz", "2025-03-04"],
                ["Zebra chart", "5001", "Ana Ruiz", "2025-03-03"],
            ],
        )
    ]
    assert "white-space:nowrap" in lxml_html.fromstring(page).xpath("//tr[2]/td[4]/@style")[0]
    metadata = op_metadata(result)
    assert metadata["jobs"] == 2
    assert metadata["messages"] == [
        {
            "about": "weekly Media",
            "to": ["carlos.morales@nci.example.gov", "elena.garcia@nci.example.gov"],
        }
    ]
    preview = metadata["report"]
    assert preview.startswith("### New Media Translation Jobs")
    assert "| Anatomy of eye | 5002 | Ana Ruiz | 2025-03-04 |" in preview
    assert preview.index("Anatomy of eye") < preview.index("Zebra chart")


def test_weekly_glossary_titles_concepts_by_their_first_name(cdr_db, mailbox, rows):
    """Weekly, with a deleted name and a deleted job document left out."""
    rows.document(5001, "GlossaryTermConcept", "alpha term (concept)")
    rows.name_of(6001, 5001, "beta term")
    rows.name_of(6002, 5001, "alpha term")
    rows.name_of(6003, 5001, "aardvark (deleted duplicate)", deleted=True)
    rows.document(5002, "GlossaryTermConcept", "lonely (concept)")
    rows.document(6010, "GlossaryTermName", "Zinc")
    rows.document(6011, "GlossaryTermName", "gone", deleted=True)
    for doc_id in (5001, 5002, 6010, 6011, 6002):
        rows.job("Glossary", doc_id, "Ready for Translation", "sflores", at(7))
    rows.job("Glossary", 6001, "Translation Peer Review", "sflores", at(7))

    with cdr_db.connect() as conn:
        jobs = ready_for_translation(conn, "Glossary")
    assert [(j.title, j.doc_id) for j in jobs] == [
        ("alpha term", 6002),
        ("GTC CDR5002", 5002),
        ("GTC for alpha term", 5001),
        ("Zinc", 6010),
    ]

    result = run(cdr_db, mailbox, mode="live", doctype="Glossary", schedule="weekly")
    assert result.success
    (mail,) = mailbox.messages
    assert mail.message["Subject"] == "[PROD] Glossary Documents Ready For Translation"
    page = page_of(mail.message)
    [(caption, body)] = tables(page)
    assert body[1:] == [
        ["alpha term", "6002", "Sofía Flores", "2025-03-07"],
        ["GTC CDR5002", "5002", "Sofía Flores", "2025-03-07"],
        ["GTC for alpha term", "5001", "Sofía Flores", "2025-03-07"],
        ["Zinc", "6010", "Sofía Flores", "2025-03-07"],
    ]


def test_weekly_summary_report_works_and_keeps_spanish_text(cdr_db, mailbox, rows):
    """The legacy weekly Summary run always failed; now it lists the summaries ready."""
    rows.document(
        62903, "Summary", "Tratamiento del cáncer de pulmón (PDQ®)–Versión para pacientes"
    )
    rows.document(62901, "Summary", "Anal Cancer Treatment (PDQ®)–Patient Version")
    rows.document(62902, "Summary", "Lung Cancer Screening (PDQ®)")
    rows.job("Summary", 62903, "Ready for Translation", "sflores", at(10))
    rows.job("Summary", 62901, "Ready for Translation", "aruiz", at(11))
    rows.job("Summary", 62902, "Translation Made Publishable", "aruiz", at(11))

    result = run(cdr_db, mailbox, mode="live", doctype="Summary", schedule="weekly")

    assert result.success
    (mail,) = mailbox.messages
    assert mail.message["Subject"] == "[PROD] Summary Documents Ready For Translation"
    page = page_of(mail.message)
    assert texts(page, "h3") == ["New Summary Translation Jobs"]
    assert tables(page)[0][1][1:] == [
        ["Anal Cancer Treatment (PDQ®)–Patient Version", "62901", "Ana Ruiz", "2025-03-11"],
        [
            "Tratamiento del cáncer de pulmón (PDQ®)–Versión para pacientes",
            "62903",
            "Sofía Flores",
            "2025-03-10",
        ],
    ]
    preview = op_metadata(result)["report"]
    assert "Tratamiento del cáncer de pulmón" in preview and "Sofía Flores" in preview


def test_weekly_with_an_empty_queue_still_sends_the_table(cdr_db, mailbox, rows):
    rows.document(5001, "Media", "Brain scan")
    rows.job("Media", 5001, "Translation Pending", "aruiz", at(5))
    result = run(cdr_db, mailbox, mode="live", doctype="Media", schedule="weekly")
    assert result.success
    (mail,) = mailbox.messages
    assert tables(page_of(mail.message)) == [("Ready For Translation", [WEEKLY_HEADER])]
    assert op_metadata(result)["jobs"] == 0


def test_weekly_blank_translator_name_and_other_recipients(cdr_db, mailbox, rows):
    """A NULL full name shows blank (the legacy crashed); test mode goes to the test group,
    ``recip`` to that address alone, tier in the subject."""
    rows.user("nofull", None, "nofull@nci.example.gov")
    rows.document(5001, "Media", "Brain scan")
    rows.job("Media", 5001, "Ready for Translation", "nofull", at(5))

    assert run(cdr_db, mailbox, tier="QA", mode="test", doctype="Media", schedule="weekly").success
    (mail,) = mailbox.messages
    assert mail.rcpt_tos == ["tester@nci.example.gov"]
    assert mail.message["Subject"] == "[QA] Media Documents Ready For Translation"
    assert tables(page_of(mail.message))[0][1][1] == ["Brain scan", "5001", "", "2025-03-05"]

    mailbox.clear()
    result = run(
        cdr_db, mailbox, mode="live", doctype="Media", schedule="weekly", recip="qa@example.gov"
    )
    assert result.success
    assert [m.rcpt_tos for m in mailbox.messages] == [["qa@example.gov"]]


def test_weekly_without_recipients_sends_nothing_and_logs(cdr_db, mailbox):
    rows = QueueRows(cdr_db)
    rows.user("aruiz", "Ana Ruiz", "ana.ruiz@nci.example.gov")
    rows.user("gone", "Gone Lead", "gone@nci.example.gov", expired=True)
    rows.group(LEADS, ["gone"])
    rows.document(5001, "Media", "Brain scan")
    rows.job("Media", 5001, "Ready for Translation", "aruiz", at(5))
    instance = dg.DagsterInstance.ephemeral()
    result = run(
        cdr_db, mailbox, instance=instance, mode="live", doctype="Media", schedule="weekly"
    )
    assert result.success
    assert mailbox.messages == []
    assert error_logs(instance, result) == [f"no email recipients for {LEADS}"]
    assert op_metadata(result)["messages"] == []
    assert "Brain scan" in op_metadata(result)["report"]


# ---------------------------------------------------------------------------------------------
# Nightly reports for each translator
# ---------------------------------------------------------------------------------------------


def nightly_summary_queue(rows: QueueRows) -> None:
    """Nightly: user 12 with jobs at positions 10 (two) and 30 (one) and
    one made publishable; user 13 without e-mail (two jobs); user 14 with one job."""
    for doc_id, title in (
        (62901, "Lung Cancer Treatment"),
        (62902, "Anal Cancer Treatment"),
        (62903, "Breast Cancer Screening"),
        (62904, "Colon Cancer Treatment"),
        (62905, "Genetics of Pancreatic Cancer"),
        (62906, "Prostate Cancer Screening"),
        (62907, "Tratamiento del cáncer de pulmón"),
    ):
        rows.document(doc_id, "Summary", title)
    rows.job("Summary", 62901, "Ready for Translation", "aruiz", at(3))
    rows.job("Summary", 62902, "Ready for Translation", "aruiz", at(3))
    rows.job("Summary", 62903, "Translation Peer Review", "aruiz", at(1))
    rows.job("Summary", 62904, "Translation Made Publishable", "aruiz", at(2))
    rows.job("Summary", 62905, "Translation Pending", "tnguyen", at(4))
    rows.job("Summary", 62906, "Translation Peer Review", "tnguyen", at(4))
    rows.job("Summary", 62907, "Translation Pending", "sflores", at(6, 14, 5))


def test_nightly_summary_one_mail_per_translator_one_table_per_state(cdr_db, mailbox, rows):
    nightly_summary_queue(rows)
    instance = dg.DagsterInstance.ephemeral()
    result = run(cdr_db, mailbox, instance=instance, mode="live", doctype="Summary")

    assert result.success
    assert [(m.rcpt_tos, m.message["Subject"]) for m in mailbox.messages] == [
        (["ana.ruiz@nci.example.gov"], "[PROD] Summary Translation Jobs Queue Report"),
        (["sofia.flores@nci.example.gov"], "[PROD] Summary Translation Jobs Queue Report"),
    ]
    ana, sofia = (page_of(m.message) for m in mailbox.messages)
    assert texts(ana, "h3") == ["Summary Translation Jobs for Ana Ruiz"]
    assert tables(ana) == [
        (
            "Ready for Translation",
            [
                NIGHTLY_HEADER,
                ["2025-03-03", "62902", "Anal Cancer Treatment"],
                ["2025-03-03", "62901", "Lung Cancer Treatment"],
            ],
        ),
        (
            "Translation Peer Review",
            [NIGHTLY_HEADER, ["2025-03-01", "62903", "Breast Cancer Screening"]],
        ),
    ]
    assert "TEST MESSAGE" not in ana
    assert texts(sofia, "h3") == ["Summary Translation Jobs for Sofía Flores"]
    assert tables(sofia) == [
        (
            "Translation Pending",
            [NIGHTLY_HEADER, ["2025-03-06", "62907", "Tratamiento del cáncer de pulmón"]],
        )
    ]
    assert error_logs(instance, result) == ["user tnguyen has no email address"]
    metadata = op_metadata(result)
    assert (metadata["jobs"], metadata["translators"]) == (4, 2)
    assert metadata["users_without_email"] == ["tnguyen"]
    preview = metadata["report"]
    assert preview.index("Jobs for Ana Ruiz") < preview.index("Jobs for Sofía Flores")
    assert "**Translation Peer Review**" in preview and "62904" not in preview


def test_nightly_media_lists_jobs_made_publishable(cdr_db, mailbox, rows):
    """Nightly: an expired translator still gets the report."""
    rows.user("retired", "Retired Translator", "retired@nci.example.gov", expired=True)
    rows.document(7001, "Media", "Heart diagram")
    rows.document(7002, "Media", "Kidney diagram")
    rows.document(7003, "Media", "deleted picture", deleted=True)
    rows.job("Media", 7001, "Translation Made Publishable", "retired", at(2))
    rows.job("Media", 7002, "Translation Pending", "retired", at(3))
    rows.job("Media", 7003, "Translation Pending", "retired", at(3))
    result = run(cdr_db, mailbox, mode="live", doctype="Media")
    assert result.success
    (mail,) = mailbox.messages
    assert mail.rcpt_tos == ["retired@nci.example.gov"]
    assert mail.message["Subject"] == "[PROD] Media Translation Jobs Queue Report"
    assert [caption for caption, _ in tables(page_of(mail.message))] == [
        "Translation Pending",
        "Translation Made Publishable",
    ]


def test_nightly_glossary_sorts_by_day_then_title(cdr_db, mailbox, rows):
    rows.document(5001, "GlossaryTermConcept", "x (concept)")
    rows.name_of(6001, 5001, "beta term")
    rows.document(6002, "GlossaryTermName", "Alpha")
    rows.document(6003, "GlossaryTermName", "zeta")
    rows.job("Glossary", 6003, "Translation Pending", "aruiz", at(4, 8))
    rows.job("Glossary", 5001, "Translation Pending", "aruiz", at(4, 9))
    rows.job("Glossary", 6002, "Translation Pending", "aruiz", at(4, 17))
    rows.job("Glossary", 6001, "Translation Pending", "aruiz", at(2, 17))
    with cdr_db.connect() as conn:
        jobs = open_jobs(conn, "Glossary")
    assert [j.title for j in jobs] == ["beta term", "Alpha", "GTC for beta term", "zeta"]
    (person,) = assignees(jobs)
    assert [(state, len(run)) for state, run in person.by_state()] == [("Translation Pending", 4)]

    result = run(cdr_db, mailbox, mode="live", doctype="Glossary")
    assert result.success
    (mail,) = mailbox.messages
    [(caption, body)] = tables(page_of(mail.message))
    assert caption == "Translation Pending"
    assert [r[2] for r in body[1:]] == ["beta term", "Alpha", "GTC for beta term", "zeta"]


def test_nightly_test_mode_goes_to_the_test_group_with_the_banner(cdr_db, mailbox, rows):
    """Nightly in test mode: the test group gets it, with the banner."""
    nightly_summary_queue(rows)
    result = run(cdr_db, mailbox, tier="DEV", mode="test", doctype="Summary")
    assert result.success
    assert [m.rcpt_tos for m in mailbox.messages] == [["tester@nci.example.gov"]] * 2
    banners = [
        [p for p in texts(page_of(m.message), "p") if "TEST MESSAGE" in p] for m in mailbox.messages
    ]
    assert banners == [
        ["*** TEST MESSAGE *** LIVE MODE WOULD HAVE GONE TO ana.ruiz@nci.example.gov"],
        ["*** TEST MESSAGE *** LIVE MODE WOULD HAVE GONE TO sofia.flores@nci.example.gov"],
    ]
    assert mailbox.messages[0].message["Subject"] == "[DEV] Summary Translation Jobs Queue Report"


def test_mode_defaults_to_test(cdr_db, mailbox, rows):
    """Launched without mode (the Launchpad's default), the reports go to the test group."""
    nightly_summary_queue(rows)
    result = run(cdr_db, mailbox, tier="DEV", doctype="Summary")
    assert result.success
    assert [m.rcpt_tos for m in mailbox.messages] == [["tester@nci.example.gov"]] * 2, (
        "both nightly reports should go to the test group"
    )
    assert all("TEST MESSAGE" in page_of(m.message) for m in mailbox.messages)


def test_nightly_recip_in_live_mode_gets_every_report_without_banner(cdr_db, mailbox, rows):
    """Nightly live with recip: every report goes there, without the banner."""
    nightly_summary_queue(rows)
    result = run(cdr_db, mailbox, mode="live", doctype="Summary", recip="qa@example.gov")
    assert result.success
    assert [m.rcpt_tos for m in mailbox.messages] == [["qa@example.gov"]] * 2
    assert all("TEST MESSAGE" not in page_of(m.message) for m in mailbox.messages)
    assert [texts(page_of(m.message), "h3")[0] for m in mailbox.messages] == [
        "Summary Translation Jobs for Ana Ruiz",
        "Summary Translation Jobs for Sofía Flores",
    ]


def test_nightly_with_no_jobs_sends_nothing(cdr_db, mailbox, rows):
    rows.state_ids("Summary")
    result = run(cdr_db, mailbox, mode="live", doctype="Summary")
    assert result.success and mailbox.messages == []
    metadata = op_metadata(result)
    assert (metadata["jobs"], metadata["translators"], metadata["messages"]) == (0, 0, [])
    assert metadata["report"] == "No Summary jobs for a translator with an e-mail address."


def test_nightly_test_mode_with_an_empty_test_group_logs_per_translator(cdr_db, mailbox):
    rows = QueueRows(cdr_db)
    rows.user("aruiz", "Ana Ruiz", "ana.ruiz@nci.example.gov")
    rows.group(TESTERS, [])
    rows.document(7001, "Media", "Heart diagram")
    rows.job("Media", 7001, "Translation Pending", "aruiz", at(3))
    instance = dg.DagsterInstance.ephemeral()
    result = run(cdr_db, mailbox, instance=instance, mode="test", doctype="Media")
    assert result.success and mailbox.messages == []
    assert error_logs(instance, result) == [f"no email recipients for {TESTERS}"]


# ---------------------------------------------------------------------------------------------
# Failures and configuration
# ---------------------------------------------------------------------------------------------


def test_a_relay_failure_fails_the_run_naming_what_was_sent(cdr_db, mailbox, rows):
    nightly_summary_queue(rows)
    db = checked_db(cdr_db)
    result = translation_queue_reports_job.execute_in_process(
        run_config={
            "ops": {"translation_queue_reports_op": {"config": {"mode": "live"}}},
        },
        resources={
            "cdr_db": db,
            "email": EmailResource(tier="PROD", smtp_host="127.0.0.1", smtp_port=9, cdr_db=db),
        },
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.event_specific_data.error
    assert "report for aruiz" in error.message and "127.0.0.1:9" in error.message


def test_bad_options_are_refused_naming_the_value(cdr_db, mailbox, rows):
    with pytest.raises(dg.DagsterInvalidConfigError, match="Brochure"):
        run(cdr_db, mailbox, mode="live", doctype="Brochure")
    with pytest.raises(dg.DagsterInvalidConfigError, match="monthly"):
        run(cdr_db, mailbox, mode="live", schedule="monthly")
    result = run(cdr_db, mailbox, mode="live", recip="not an address")
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "'not an address' is not an e-mail address" in failure.event_specific_data.error.message
    assert mailbox.messages == []
    with cdr_db.connect() as conn, pytest.raises(UnknownQueueError, match="'summary'"):
        open_jobs(conn, "summary")


# ---------------------------------------------------------------------------------------------
# Schedules and the demo
# ---------------------------------------------------------------------------------------------

#: The schedule entries shipped in cdr_dagster/schedules.yaml (legacy rows of the demo's
#: scheduled_job table: nightly Monday-Friday from 21:00, weekly Mondays from 08:00).
SCHEDULES = [
    ("summary_translation_queue_nightly", "0 21 * * 1-5", "Summary", "nightly"),
    ("media_translation_queue_nightly", "5 21 * * 1-5", "Media", "nightly"),
    ("glossary_translation_queue_nightly", "10 21 * * 1-5", "Glossary", "nightly"),
    ("glossary_translation_queue_weekly", "0 8 * * 1", "Glossary", "weekly"),
    ("media_translation_queue_weekly", "5 8 * * 1", "Media", "weekly"),
]


def test_schedule_entries_load_and_request_the_right_runs(tmp_path: Path):
    path = shipped_schedule_file(tmp_path, "translation_queue_reports")
    jobs = {"translation_queue_reports": translation_queue_reports_job}
    loaded = {s.name: s for s in load_schedules(path, jobs, "PROD")}
    assert sorted(loaded) == sorted(name for name, *_ in SCHEDULES)
    weekly = loaded["media_translation_queue_weekly"]
    assert weekly.cron_schedule == "5 8 * * 1"
    assert weekly.execution_timezone == "America/New_York"
    with dg.build_schedule_context() as context:
        request = weekly.evaluate_tick(context).run_requests[0]  # type: ignore[index]
    assert request.run_config == {
        "ops": {
            "translation_queue_reports_op": {
                "config": {"mode": "live", "doctype": "Media", "schedule": "weekly"}
            }
        }
    }


def test_the_demo_produces_every_report(tmp_path: Path):
    from cdr_dagster.demo.seed import seed_demo

    seed_demo(tmp_path / "demo", today=date(2025, 3, 12))
    url = f"sqlite:///{tmp_path / 'demo' / 'cdr.db'}"
    outbox = tmp_path / "outbox"
    db = CdrDatabaseResource(url=url)
    resources = {
        "cdr_db": db,
        "email": EmailResource(tier="DEV", outbox_dir=str(outbox), cdr_db=db),
    }
    previews = {}
    for name, _, doctype, schedule in SCHEDULES:
        result = translation_queue_reports_job.execute_in_process(
            run_config={
                "ops": {
                    "translation_queue_reports_op": {
                        "config": {"mode": "live", "doctype": doctype, "schedule": schedule}
                    }
                }
            },
            resources=resources,
        )
        assert result.success, name
        previews[name] = op_metadata(result)["report"]
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(outbox.glob("*.eml"))
    ]
    assert len(messages) == 2 + 3 + 4 + 1 + 1
    weekly_glossary = previews["glossary_translation_queue_weekly"]
    assert "GTC for liquid biopsy" in weekly_glossary and "799021" not in weekly_glossary
    nightly_glossary = previews["glossary_translation_queue_nightly"]
    assert "Glossary Translation Jobs for Elena García" in nightly_glossary
    assert "GTC for carcinoma" in nightly_glossary and "cancer cell" not in nightly_glossary
    assert "Lungs and airways" in previews["media_translation_queue_weekly"]


def test_legacy_rows_import_into_entries_this_job_accepts(tmp_path: Path):
    """The importer's entries for translation_jobs.ReportTask rows load against this job."""
    import io

    from cdr_dagster.legacy import importer

    export = Path(__file__).parent / "data" / "legacy" / "scheduled_job_export.json"
    out = io.StringIO()
    assert importer.main(export, out=out, err=io.StringIO(), tier="PROD") == 0
    document = yaml.safe_load(out.getvalue())
    kept = [e for e in document["schedules"] if e["job"] == "translation_queue_reports"]
    assert len(kept) == 2
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump({"schedules": kept, "on_demand": []}, sort_keys=False))
    jobs = {"translation_queue_reports": translation_queue_reports_job}
    loaded = {s.name: s for s in load_schedules(path, jobs, "PROD")}
    configs = []
    for schedule in loaded.values():
        with dg.build_schedule_context() as context:
            request = schedule.evaluate_tick(context).run_requests[0]  # type: ignore[index]
        configs.append(request.run_config["ops"]["translation_queue_reports_op"]["config"])
    assert sorted(configs, key=str) == sorted(
        [
            {"doctype": "Glossary", "schedule": "weekly", "mode": "live"},
            {"doctype": "Summary", "mode": "live"},
        ],
        key=str,
    )
