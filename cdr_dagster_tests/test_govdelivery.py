"""GovDelivery weekly reports (docs/behaviour-notes.md#govdelivery-reports): export window, each
table's rows and grouping for
seeded summaries (English and Spanish, empty tables, late versions), the Section(s) column,
and the job's files and mail on PostgreSQL and SMTP."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest
from lxml import html as lxml_html

from cdr_dagster.cdr import govdelivery as gd
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.jobs.govdelivery import (
    GovDeliveryReportsConfig,
    govdelivery_reports_job,
    query_timeout,
    save_report_file,
)
from cdr_dagster.reports import render_html, render_markdown
from cdr_dagster.schedules import load_schedules
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.queue_fixtures import job_resources
from cdr_dagster_tests.report_rows import (
    PUSH,
    Version,
    add_document,
    add_pub_job,
    board_xml,
    dis_xml,
    load_demo,
    output_metadata,
    summary_xml,
)
from cdr_dagster_tests.shipped_schedules import shipped_schedule_file

START = datetime(2024, 5, 3, 16, 0, 2)
END = datetime(2024, 5, 10, 16, 0, 5)
ADULT, PEDIATRIC, ADVISORY = 1001, 1002, 1003
STRONG = "<Para>Changes:</Para><Para><Strong>Treatment Option Overview</Strong></Para>"
EDITORIAL = (
    "<Para>The changes made to this summary since the last update.</Para>"
    "<Para>Editorial changes were made to this summary.</Para>"
)
ES_EDITORIAL = (
    "<Para>Cambios.</Para><Para>Se incorporaron cambios editoriales en este resumen.</Para>"
)


def windows(engine) -> None:
    """A plain week's export window, with jobs that must not count around it."""
    add_pub_job(engine, 90, "Export", datetime(2024, 4, 26, 16, 0, 1))
    add_pub_job(engine, 91, PUSH, datetime(2024, 4, 26, 18, 0))
    add_pub_job(engine, 99, "Export", datetime(2024, 5, 3, 10, 0), status="Failure")
    add_pub_job(engine, 100, "Export", START.replace(microsecond=0))
    add_pub_job(engine, 101, PUSH, datetime(2024, 5, 3, 18, 0))
    add_pub_job(engine, 105, "Interim-Export", datetime(2024, 5, 7, 20, 0))
    add_pub_job(
        engine, 106, "Push_Documents_To_Cancer.Gov_Interim-Export", datetime(2024, 5, 7, 21)
    )
    add_pub_job(engine, 110, "Export", END)
    add_pub_job(engine, 111, PUSH, datetime(2024, 5, 10, 18, 0))
    add_pub_job(engine, 112, PUSH, datetime(2024, 5, 11, 9, 0), status="Failure")


def summary(engine, doc_id: int, title: str, *, first_pub=None, pushed=111, **xml) -> None:
    add_document(
        engine,
        doc_id,
        "Summary",
        summary_xml(title, **xml),
        title=title,
        first_pub=first_pub or datetime(2015, 1, 1),
        cancer_gov=pushed,
        pushed=[(pushed, 1)],
    )


@pytest.fixture
def seeded(cdr_db):
    """Boards, summaries and DISs around the window 2024-05-03 16:00:02 to 2024-05-10 16:00:05."""
    windows(cdr_db)
    for org, name in (
        (ADULT, "PDQ Adult Treatment Editorial Board"),
        (PEDIATRIC, "PDQ Pediatric Treatment Editorial Board"),
        (ADVISORY, "PDQ Adult Treatment Editorial Advisory Board"),
    ):
        add_document(cdr_db, org, "Organization", board_xml(name), title=name)
    # New HP summaries: grouped by board (none first), then by lowercase title.
    summary(
        cdr_db,
        2001,
        "Breast Cancer Treatment",
        first_pub=datetime(2024, 5, 6),
        board=ADULT,
        changes=STRONG,
    )
    summary(cdr_db, 2010, "acute Leukemia", first_pub=datetime(2024, 5, 7, 9), board=PEDIATRIC)
    summary(cdr_db, 2011, "Zebra Tumors", first_pub=datetime(2024, 5, 8), board=ADVISORY)
    summary(cdr_db, 2012, "Adrenal Tumors", first_pub=datetime(2024, 5, 9), board=PEDIATRIC)
    summary(cdr_db, 2002, "Exactly At Start", first_pub=START, board=ADULT)  # not after start
    summary(cdr_db, 2013, "Exactly At End", first_pub=END, board=ADULT)  # on or before end
    # Revised HP summaries.
    summary(
        cdr_db,
        2003,
        "Colon Cancer Treatment",
        modified="2024-05-08",
        board=PEDIATRIC,
        changes=STRONG,
    )
    summary(
        cdr_db, 2004, "Anal Cancer Treatment", modified="2024-05-10", board=ADULT, changes=EDITORIAL
    )
    summary(cdr_db, 2005, "Start Day Revision", modified="2024-05-03", board=ADULT)
    summary(cdr_db, 2014, "After The Window", modified="2024-05-11", board=ADULT)
    # Late versions: version 2 saved after the push was never pushed.
    for doc_id, title, pushed_saved in (
        (2007, "Late Version Dropped", datetime(2024, 4, 1)),
        (2008, "Late Version Kept", datetime(2024, 5, 7, 11)),
    ):
        xml = summary_xml(title, modified="2024-05-09", board=ADULT, changes=STRONG)
        add_document(
            cdr_db,
            doc_id,
            "Summary",
            xml,
            title=title,
            first_pub=datetime(2016, 1, 1),
            versions=[Version(pushed_saved), Version(datetime(2024, 5, 11, 8))],
            cancer_gov=111,
            pushed=[(111, 1)],
        )
    # Patients: one new, nothing revised.
    summary(
        cdr_db,
        2006,
        "Bladder Cancer",
        first_pub=datetime(2024, 5, 7),
        audience="Patients",
        board=ADULT,
    )
    # Not on Cancer.gov, or blocked: never listed.
    add_document(cdr_db, 2009, "Summary", summary_xml("Not Pushed"), first_pub=datetime(2024, 5, 6))
    add_document(
        cdr_db,
        2015,
        "Summary",
        summary_xml("Blocked"),
        first_pub=datetime(2024, 5, 6),
        cancer_gov=111,
        status="I",
    )
    # Spanish.
    summary(
        cdr_db,
        2101,
        "Cáncer de colon",
        modified="2024-05-06",
        language="Spanish",
        translation_of=2003,
        changes=ES_EDITORIAL,
    )
    summary(
        cdr_db,
        2102,
        "Cáncer de vejiga",
        first_pub=datetime(2024, 5, 8),
        language="Spanish",
        audience="Patients",
        translation_of=2006,
    )
    # Drug Information Summaries.
    add_document(
        cdr_db,
        3001,
        "DrugInformationSummary",
        dis_xml("Zanubrutinib"),
        first_pub=datetime(2024, 5, 8),
        cancer_gov=111,
    )
    add_document(
        cdr_db,
        3002,
        "DrugInformationSummary",
        dis_xml("Atezolizumab", "2024-05-09"),
        first_pub=datetime(2018, 1, 1),
        cancer_gov=111,
    )
    return cdr_db


def test_export_window_uses_the_exports_behind_the_two_newest_pushes(cdr_db):
    windows(cdr_db)
    with cdr_db.connect() as conn:
        window = gd.export_window(conn)
    assert (window.start, window.end) == (START, END)
    assert window.label == "Date/Time: (2024-05-03 16:00:02 to 2024-05-10 16:00:05)"
    assert gd.report_title("english", window.start, window.end) == (
        "GovDelivery New/Changed English Summaries Report (2024-05-03 to 2024-05-10)"
    )


def test_export_window_needs_two_pushes_each_after_an_export(cdr_db):
    add_pub_job(cdr_db, 101, PUSH, datetime(2024, 5, 3, 18))
    with cdr_db.connect() as conn, pytest.raises(gd.GovDeliveryError, match="found 1"):
        gd.export_window(conn)
    add_pub_job(cdr_db, 111, PUSH, datetime(2024, 5, 10, 18))
    add_pub_job(cdr_db, 110, "Export", END)
    with cdr_db.connect() as conn, pytest.raises(gd.GovDeliveryError, match="push job 101"):
        gd.export_window(conn)


def rows(table: gd.SummaryTable) -> list[tuple]:
    return [(r.id, r.title, r.board) for r in table.rows]


def test_english_tables_rows_and_grouping(seeded):
    with seeded.connect() as conn:
        tables = gd.report_tables(conn, "english", START, END)
    new_hp, revised_hp, new_patient, revised_patient, new_dis, revised_dis = tables
    assert new_hp.caption == "New Health Professional Summaries (5)"
    assert rows(new_hp) == [
        (2011, "Zebra Tumors", ""),  # the advisory board is not an editorial board
        (2001, "Breast Cancer Treatment", "Adult Treatment"),
        (2013, "Exactly At End", "Adult Treatment"),
        (2010, "acute Leukemia", "Pediatric Treatment"),  # lowercase title order
        (2012, "Adrenal Tumors", "Pediatric Treatment"),
    ]
    breast = new_hp.rows[1]
    assert breast.url == "https://www.cancer.gov/types/breast-cancer-treatment"
    assert breast.fragment == "_9" and new_hp.rows[0].fragment == ""

    assert (
        revised_hp.caption
        == "Revised Health Professional Summaries (2, excluding editorial changes)"
    )
    assert rows(revised_hp) == [
        (2004, "Anal Cancer Treatment", "Adult Treatment"),
        (2008, "Late Version Kept", "Adult Treatment"),
        (2003, "Colon Cancer Treatment", "Pediatric Treatment"),
    ]
    anal, kept, colon = revised_hp.rows
    assert anal.editorial_only and anal.sections == (
        "Editorial changes were made to this summary.",
    )
    assert colon.sections == ("Treatment Option Overview",) and not colon.editorial_only
    assert kept.sections == ("Treatment Option Overview",)

    assert (new_patient.caption, rows(new_patient)) == (
        "New Patient Summaries",
        [(2006, "Bladder Cancer", "")],
    )
    assert (revised_patient.caption, revised_patient.rows) == ("Revised Patient Summaries", ())
    assert (new_dis.caption, rows(new_dis)) == (
        "New Drug Information Summaries",
        [(3001, "Zanubrutinib", "")],
    )
    assert (revised_dis.caption, rows(revised_dis)) == (
        "Revised Drug Information Summaries",
        [(3002, "Atezolizumab", "")],
    )
    assert revised_dis.rows[0].url == "https://www.cancer.gov/drugs/atezolizumab"


def test_spanish_tables_take_the_board_of_the_english_original(seeded):
    with seeded.connect() as conn:
        tables = gd.report_tables(conn, "spanish", START, END)
    assert [t.caption for t in tables] == [
        "New Health Professional Summaries (0)",
        "Revised Health Professional Summaries (0, excluding editorial changes)",
        "New Patient Summaries",
        "Revised Patient Summaries",
    ]
    (colon,) = tables[1].rows
    assert (colon.id, colon.title, colon.board, colon.editorial_only) == (
        2101,
        "Cáncer de colon",
        "Pediatric Treatment",
        True,
    )
    assert colon.sections == ("Se incorporaron cambios editoriales en este resumen.",)
    assert rows(tables[2]) == [(2102, "Cáncer de vejiga", "")]
    assert tables[0].rows == tables[3].rows == ()


def test_late_version_log_and_overridden_range(seeded):
    messages: list[str] = []
    with seeded.connect() as conn:
        table = gd.summary_rows(
            conn,
            doc_type="Summary",
            new=False,
            start=datetime(2024, 5, 8, 12),
            end=datetime(2024, 5, 12),
            language="English",
            audience="Health professionals",
            log=messages.append,
        )
    # 2008's pushed version was saved on 2024-05-07, outside this range: now it is left out.
    assert rows(table) == [
        (2014, "After The Window", "Adult Treatment"),
        (2004, "Anal Cancer Treatment", "Adult Treatment"),
    ]
    assert any("pub version for 2007 created after job started" in m for m in messages)
    assert any("pub version for 2008" in m and "left out" in m for m in messages)


def test_change_sections_strong_fallback_and_nested_elements():
    def changes(inner: str) -> gd.Changes:
        return gd.summary_changes(parse_xml(summary_xml("X", changes=inner)))

    assert changes(STRONG) == gd.Changes(("Treatment Option Overview",), False)
    assert changes(
        "<Para>Intro</Para><Para><Strong> A </Strong> and <Strong></Strong></Para>"
        "<SummarySection><Para><Strong>Nested B</Strong></Para></SummarySection>"
    ).sections == ("A", "Nested B")
    fallback = changes(
        "<Para>First paragraph is dropped.</Para><Para>Updated the   staging.</Para>"
        "<SummarySection><Title>Nested title stays</Title><Para>Nested para stays</Para>"
        "</SummarySection>"
    )
    assert fallback.sections == ("Updated the staging.Nested title staysNested para stays",)
    assert changes("<Para>Only one.</Para>").sections == ()
    assert changes(EDITORIAL.replace("summary.", "module.")).editorial_only
    assert gd.summary_changes(parse_xml(summary_xml("No changes"))) == gd.Changes((), False)


def test_report_layout(seeded):
    with seeded.connect() as conn:
        window = gd.export_window(conn)
        tables = gd.report_tables(conn, "english", window.start, window.end)
    report = gd.govdelivery_report(
        "english", window.start, window.end, window, tables, date(2024, 5, 13)
    )
    root = lxml_html.document_fromstring(render_html(report))
    assert root.findtext("head/title") == (
        "GovDelivery New/Changed English Summaries Report (2024-05-03 to 2024-05-10)"
    )
    assert [p.text_content() for p in root.findall("body/p")] == [
        "Adjusted date range: Date/Time: (2024-05-03 16:00:02 to 2024-05-10 16:00:05)",
        "Report date: 2024-05-13",
    ]
    html_tables = root.findall("body/table")
    assert len(html_tables) == 6
    assert html_tables[0].get("style").startswith("width: 80%")
    headers = [[th.text for th in t.findall("tr/th")] for t in html_tables]
    assert headers == [
        ["CDR ID", "Title", "Board"],
        ["CDR ID", "Title", "Board", "Section(s)"],
        ["CDR ID", "Title"],
        [],
        ["CDR ID", "Title"],
        ["CDR ID", "Title"],
    ]
    breast = html_tables[0].findall("tr")[2].findall("td")
    assert breast[0].find("a").get("href") == "https://www.cancer.gov/types/breast-cancer-treatment"
    assert breast[0].find("a").text == "2001"
    assert breast[1].find("a").get("href").endswith("breast-cancer-treatment#_9")
    zebra = html_tables[0].findall("tr")[1].findall("td")
    assert zebra[1].find("a").get("href").endswith("zebra-tumors#")
    colon = html_tables[1].findall("tr")[3].findall("td")
    assert [p.text for p in colon[3].findall("p")] == ["Treatment Option Overview"]
    patient = html_tables[2].findall("tr")[1].findall("td")
    assert patient[1].find("a") is None and patient[1].text == "Bladder Cancer"
    assert [td.text for td in html_tables[3].findall("tr/td")] == ["None"]
    markdown = render_markdown(report)
    assert "Revised Health Professional Summaries (2, excluding editorial changes)" in markdown
    assert "Treatment Option Overview" in markdown and "None" in markdown


# --- the job --------------------------------------------------------------------------------


def run(engine, mailbox, basedir: Path, **config):
    return govdelivery_reports_job.execute_in_process(
        run_config={"ops": {"govdelivery_reports_op": {"config": config}}},
        resources=job_resources(engine, mailbox, basedir),
        raise_on_error=False,
    )


def test_live_run_mails_each_report_to_its_group_and_saves_it(seeded, mailbox, tmp_path):
    add_group_members(seeded, "GovDelivery EN Docs Notification", [("en", "en@nci.gov", False)])
    add_group_members(
        seeded,
        "GovDelivery ES Docs Notification",
        [("es", "es@nci.gov", False), ("old", "old@nci.gov", True)],
    )
    result = run(seeded, mailbox, tmp_path, mode="live")
    assert result.success
    english, spanish = mailbox.messages
    assert english.rcpt_tos == ["en@nci.gov"] and spanish.rcpt_tos == ["es@nci.gov"]
    assert english.message["Subject"] == (
        "[DEV] GovDelivery New/Changed English Summaries Report (2024-05-03 to 2024-05-10)"
    )
    assert english.message["From"] == "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
    body = english.message.get_body(("html",)).get_content()
    assert "Breast Cancer Treatment" in body and "Zanubrutinib" in body
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert [name.split("-")[1] for name in files] == ["english", "spanish"]
    assert all(not name.endswith(".test.html") for name in files)
    saved = (tmp_path / "reports" / files[1]).read_text(encoding="utf-8")
    assert "Cáncer de colon" in saved and "Drug Information" not in saved
    meta = output_metadata(result)
    assert "Cáncer de vejiga" in meta["spanish_report"].value
    assert meta["english_rows"].value["New Health Professional Summaries (5)"] == 5
    assert meta["english_recipients"].value == ["en@nci.gov"]


def test_test_mode_goes_to_the_test_group_and_recip_overrides(seeded, mailbox, tmp_path):
    add_group_members(seeded, "Test Publishing Notification", [("t", "t@nci.gov", False)])
    assert run(seeded, mailbox, tmp_path, mode="test", reports=["spanish"]).success
    (message,) = mailbox.messages
    assert message.rcpt_tos == ["t@nci.gov"]
    (saved,) = (tmp_path / "reports").iterdir()
    assert saved.name.startswith("gd-spanish-") and saved.name.endswith(".test.html")
    mailbox.clear()
    result = run(
        seeded,
        mailbox,
        tmp_path,
        mode="live",
        recip="me@nci.gov",
        start="2024-05-08",
        end="2024-05-09 23:00:00",
        reports=["english"],
    )
    assert result.success
    (message,) = mailbox.messages
    assert message.rcpt_tos == ["me@nci.gov"]
    assert "Report (2024-05-08 to 2024-05-09)" in message.message["Subject"]
    body = message.message.get_body(("html",)).get_content()
    # first published at the start moment itself (Zebra) is not after it; Adrenal is
    assert "Adrenal Tumors" in body and "Zebra Tumors" not in body
    assert "Date/Time: (2024-05-03 16:00:02 to 2024-05-10 16:00:05)" in body


def test_empty_group_fails_after_saving_and_skip_email_sends_nothing(seeded, mailbox, tmp_path):
    result = run(seeded, mailbox, tmp_path, mode="live")
    assert not result.success
    assert "no email recipients for GovDelivery EN Docs Notification" in str(
        result.failure_data_for_node("govdelivery_reports_op").error
    )
    assert len(list((tmp_path / "reports").iterdir())) == 2 and mailbox.messages == []
    assert run(seeded, mailbox, tmp_path, mode="live", skip_email=True).success
    assert mailbox.messages == []


def test_empty_results_show_none(cdr_db, mailbox, tmp_path):
    windows(cdr_db)
    assert run(cdr_db, mailbox, tmp_path, mode="test", skip_email=True).success
    english = next((tmp_path / "reports").glob("gd-english-*"))
    root = lxml_html.document_fromstring(english.read_text(encoding="utf-8"))
    cells = [[td.text for td in t.findall("tr/td")] for t in root.findall("body/table")]
    assert cells == [["None"]] * 6


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"mode": "live", "start": "May 3"}, "start 'May 3' is not a date"),
        ({"mode": "live", "tier": "PROD"}, "tier 'PROD' is not this location's tier DEV"),
        ({"mode": "live", "start": "2024-05-10", "end": "2024-05-01"}, "is after end"),
    ],
)
def test_bad_options_are_named(seeded, mailbox, tmp_path, config, message):
    result = run(seeded, mailbox, tmp_path, **config)
    assert not result.success
    assert message in str(result.failure_data_for_node("govdelivery_reports_op").error)


def test_config_refuses_unknown_reports_tiers_and_timeouts():
    with pytest.raises(ValueError, match="unknown report.*'french'"):
        GovDeliveryReportsConfig(mode="live", reports=["English", "french"])
    assert GovDeliveryReportsConfig(mode="live", reports=["English"]).reports == ["english"]
    with pytest.raises(ValueError, match="tier 'test'"):
        GovDeliveryReportsConfig(mode="live", tier="test")
    with pytest.raises(ValueError, match="timeout 0"):
        GovDeliveryReportsConfig(mode="live", timeout=0)


def test_no_window_fails_the_run(cdr_db, mailbox, tmp_path):
    result = run(cdr_db, mailbox, tmp_path, mode="live")
    assert not result.success
    assert "need two successful" in str(
        result.failure_data_for_node("govdelivery_reports_op").error
    )


def test_the_demo_produces_both_reports(cdr_db, mailbox, tmp_path):
    """Seeded on Wednesday 2025-03-12: last week's window is 2025-02-28 to 2025-03-07."""
    load_demo(cdr_db, tmp_path, datetime(2025, 3, 12, 9, 0))
    result = run(cdr_db, mailbox, tmp_path, mode="live")
    assert result.success
    english, spanish = mailbox.messages
    assert english.message["Subject"] == (
        "[DEV] GovDelivery New/Changed English Summaries Report (2025-02-28 to 2025-03-07)"
    )
    meta = output_metadata(result)
    assert meta["english_rows"].value == {
        "New Health Professional Summaries (1)": 1,
        "Revised Health Professional Summaries (2, excluding editorial changes)": 3,
        "New Patient Summaries": 1,
        "Revised Patient Summaries": 1,
        "New Drug Information Summaries": 1,
        "Revised Drug Information Summaries": 1,
    }
    assert meta["spanish_rows"].value == {
        "New Health Professional Summaries (1)": 1,
        # the new translation's DateLastModified is in the window too
        "Revised Health Professional Summaries (2, excluding editorial changes)": 2,
        "New Patient Summaries": 0,
        "Revised Patient Summaries": 1,
    }
    markdown = meta["spanish_report"].value
    assert "Cancer Genetics" in markdown and "Adult Treatment" in markdown
    assert "en estadio IV" in markdown


def test_the_shipped_schedule_loads(tmp_path):
    path = shipped_schedule_file(tmp_path, "govdelivery_reports")
    (schedule,) = load_schedules(path, {"govdelivery_reports": govdelivery_reports_job}, "PROD")
    assert schedule.cron_schedule == "0 7 * * 1"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_report_saved_in_the_same_second_gets_its_own_file(tmp_path):
    first = save_report_file(tmp_path / "reports", "gd-english-20240513T070000", ".html", "one")
    second = save_report_file(tmp_path / "reports", "gd-english-20240513T070000", ".html", "twö")
    assert (first.name, second.name) == (
        "gd-english-20240513T070000.html",
        "gd-english-20240513T070000-2.html",
    )
    assert first.read_text() == "one" and second.read_text(encoding="utf-8") == "twö"
    assert {p.name for p in (tmp_path / "reports").iterdir()} == {first.name, second.name}


def test_the_timeout_option_limits_each_query_on_postgresql(cdr_db):
    with cdr_db.connect() as conn, query_timeout(conn, 7):
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "7s"
    with cdr_db.connect() as conn:  # the limit ended with the run's transaction
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
