"""PCIB monthly statistics (docs/behaviour-notes.md#pcib-statistics): each section's counts and rows
for seeded documents,
month boundaries of the partitions, the layout, and the partitioned job's file and mail on
PostgreSQL and SMTP."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time
from lxml import html as lxml_html

from cdr_dagster.cdr import monthly_stats as ms
from cdr_dagster.jobs.monthly_stats import (
    MonthlyStatsConfig,
    monthly_stats_partitions,
    monthly_stats_report_job,
    split_sections,
)
from cdr_dagster.legacy.catalogue import convert_options, find_job_class
from cdr_dagster.reports import render_html
from cdr_dagster.schedules import load_schedules
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.queue_fixtures import job_resources
from cdr_dagster_tests.report_rows import (
    NS,
    PUSH,
    add_document,
    add_pub_job,
    dis_xml,
    load_demo,
    output_metadata,
    summary_xml,
)
from cdr_dagster_tests.shipped_schedules import shipped_schedule_file

MAY = ms.StatsRange(date(2024, 5, 1), date(2024, 5, 31))
OLD = datetime(2015, 3, 1)


def published(engine, doc_id, doc_type, xml, first_pub, title=None, on_cg=900):
    add_document(engine, doc_id, doc_type, xml, title=title, first_pub=first_pub, cancer_gov=on_cg)


def concept_xml(*definitions: str) -> str:
    return f"<GlossaryTermConcept {NS}>{''.join(definitions)}</GlossaryTermConcept>"


def definition(
    dictionary="Cancer.gov", audience="Patient", status=None, modified=None, translated=False
) -> str:
    tag = "TranslatedTermDefinition" if translated else "TermDefinition"
    return (
        f"<{tag}><DefinitionText>Text</DefinitionText><Dictionary>{dictionary}</Dictionary>"
        f"<Audience>{audience}</Audience>"
        + (f"<StatusDate>{status}</StatusDate>" if status else "")
        + (f"<DateLastModified>{modified}</DateLastModified>" if modified else "")
        + f"</{tag}>"
    )


def term_name_xml(name: str, concept: int, *spanish: str) -> str:
    translated = "".join(
        f"<TranslatedName><TermNameString>{es}</TermNameString></TranslatedName>" for es in spanish
    )
    return (
        f"<GlossaryTermName {NS}><TermName><TermNameString>{name}</TermNameString></TermName>"
        f'{translated}<GlossaryTermConcept cdr:ref="CDR{concept:010d}"/></GlossaryTermName>'
    )


def media_xml(title: str, *, audio: bool) -> str:
    body = (
        "<MediaContent><Categories><Category>pronunciation</Category></Categories></MediaContent>"
        if audio
        else "<PhysicalMedia><ImageData><ImageEncoding>JPEG</ImageEncoding></ImageData>"
        "</PhysicalMedia>"
    )
    return f"<Media {NS}><MediaTitle>{title}</MediaTitle>{body}</Media>"


def person_xml(status: str, include: str) -> str:
    return (
        f"<Person><Status><CurrentStatus>{status}</CurrentStatus></Status>"
        "<ProfessionalInformation><GeneticsProfessionalDetails><Directory>"
        f"<Include>{include}</Include></Directory></GeneticsProfessionalDetails>"
        "</ProfessionalInformation></Person>"
    )


def term_xml(name: str, semantic_type: int | None = None) -> str:
    link = (
        f'<SemanticType cdr:ref="CDR{semantic_type:010d}">x</SemanticType>' if semantic_type else ""
    )
    return f"<Term {NS}><PreferredName>{name}</PreferredName>{link}</Term>"


def member_xml(board: str, invited: str, response: str, start: str) -> str:
    return (
        "<PDQBoardMemberInfo><BoardMembershipDetails><BoardName>"
        f"{board}</BoardName><InvitationDate>{invited}</InvitationDate>"
        f"<ResponseToInvitation>{response}</ResponseToInvitation>"
        f"<TermStartDate>{start}</TermStartDate></BoardMembershipDetails></PDQBoardMemberInfo>"
    )


def meetings_xml(name: str, *meetings: tuple[str, bool]) -> str:
    webex = ' WebEx="Yes"'
    blocks = "".join(
        f"<BoardMeeting><MeetingDate{webex if on_line else ''}>{day}</MeetingDate></BoardMeeting>"
        for day, on_line in meetings
    )
    return (
        "<Organization><OrganizationNameInformation><OfficialName><Name>"
        f"{name}</Name></OfficialName></OrganizationNameInformation>"
        f"<PDQBoardInformation><BoardMeetings>{blocks}</BoardMeetings></PDQBoardInformation>"
        "</Organization>"
    )


@pytest.fixture
def seeded(cdr_db):
    """Documents of every section in and around May 2024."""
    e = cdr_db
    add_pub_job(e, 900, PUSH, datetime(2024, 3, 1, 18))
    add_pub_job(e, 902, PUSH, datetime(2024, 5, 10, 18))
    # Summaries.
    published(
        e,
        4001,
        "Summary",
        summary_xml("Breast Cancer", modified="2024-05-20"),
        datetime(2024, 5, 10),
        "Breast Cancer",
    )
    published(
        e,
        4002,
        "Summary",
        summary_xml("Cáncer de seno", audience="Patients", language="Spanish"),
        datetime(2024, 5, 31, 18),
        "Cáncer de seno",
    )
    published(e, 4003, "Summary", summary_xml("June Summary"), datetime(2024, 6, 1), "June")
    published(
        e,
        4004,
        "Summary",
        summary_xml("anal Cancer", audience="Patients", modified="2024-05-01"),
        OLD,
        "anal Cancer",
    )
    published(e, 4005, "Summary", summary_xml("April Revision", modified="2024-04-30"), OLD)
    add_document(e, 4006, "Summary", summary_xml("Never Pushed"), first_pub=datetime(2024, 5, 2))
    # Glossary: concepts, term names, audio.
    add_document(
        e,
        5001,
        "GlossaryTermConcept",
        concept_xml(
            definition(modified="2024-05-12"), definition(modified="2024-05-13", translated=True)
        ),
    )
    published(
        e,
        5002,
        "GlossaryTermName",
        term_name_xml("tumor", 5001, "tumor", "tumoración"),
        datetime(2024, 5, 5),
    )
    add_document(
        e,
        5003,
        "GlossaryTermConcept",
        concept_xml(definition("Genetics", "Health professional", status="2024-05-15")),
    )
    published(e, 5004, "GlossaryTermName", term_name_xml("BRCA1", 5003), datetime(2019, 1, 1))
    add_document(
        e,
        5005,
        "GlossaryTermConcept",
        concept_xml(
            definition(
                "Genetics", "Health professional", status="2020-01-01", modified="2024-05-20"
            )
        ),
    )
    published(
        e,
        5006,
        "GlossaryTermName",
        term_name_xml("Lynch syndrome", 5005, "síndrome"),
        datetime(2020, 1, 1),
    )
    published(
        e, 5010, "Media", media_xml("tumor (pronunciation)", audio=True), datetime(2024, 5, 2)
    )
    # Genetics professionals.
    published(
        e, 6001, "Person", person_xml("Active", "Include"), datetime(2024, 5, 9), "Haddad, Omar"
    )
    published(e, 6002, "Person", person_xml("Inactive", "Include"), datetime(2024, 5, 9))
    published(e, 6003, "Person", person_xml("Active", "Exclude"), datetime(2024, 5, 9))
    # Drug terms.
    add_document(e, 6101, "Term", term_xml("Drug/agent"))
    add_document(e, 6104, "Term", term_xml("Disease"))
    published(e, 6102, "Term", term_xml("nivolumab", 6101), datetime(2024, 5, 3))
    published(e, 6103, "Term", term_xml("melanoma", 6104), datetime(2024, 5, 3))
    # Drug Information Summaries.
    published(
        e,
        7001,
        "DrugInformationSummary",
        dis_xml("Zanubrutinib", "2024-05-20"),
        datetime(2024, 5, 2, 10, 0, 0, 500000),
    )
    published(e, 7002, "DrugInformationSummary", dis_xml("Atezolizumab", "2024-05-25"), OLD)
    published(e, 7003, "DrugInformationSummary", dis_xml("Old Drug", "2023-01-01"), OLD)
    # Board members (no publication needed).
    for doc_id, name, board, invited, start in (
        (
            8001,
            "Smith, Ann",
            "PDQ Adult Treatment Editorial Advisory Board",
            "2024-03-01",
            "2024-05-15",
        ),
        (
            8002,
            "Jones, Bo",
            "PDQ Adult Treatment Editorial Advisory Board",
            "2023-01-01",
            "2024-05-15",
        ),
        (8003, "Brown, Cy", "PDQ Pediatric Treatment Editorial Board", "2024-04-01", "2024-05-02"),
    ):
        add_document(
            e,
            doc_id,
            "PDQBoardMemberInfo",
            member_xml(board, invited, "Accepted", start),
            title=f"{name} (board membership information)",
        )
    # Board meetings.
    add_document(
        e,
        8101,
        "Organization",
        meetings_xml(
            "PDQ Pediatric Treatment Editorial Board", ("2024-05-14", True), ("2024-06-11", False)
        ),
    )
    add_document(
        e,
        8102,
        "Organization",
        meetings_xml(
            "PDQ Adult Treatment Editorial Board", ("2024-05-28", False), ("2024-05-07", True)
        ),
    )
    # Images: re-pushed in May (revised) and first published in May (new).
    for doc_id, title, first in (
        (9001, "Breast anatomy", datetime(2024, 4, 2)),
        (9002, "Lung anatomy", datetime(2024, 5, 3)),
    ):
        add_document(
            e,
            doc_id,
            "Media",
            media_xml(title, audio=False),
            first_pub=first,
            cancer_gov=902,
            pushed=[(902, 1)],
        )
    return e


def counts(section: ms.Section) -> list[tuple[str, int | None]]:
    return list(section.counts)


def titles(listing: ms.Listing) -> list[tuple]:
    return [(row.id, row.title, *row.extra) for row in listing.sorted_rows()]


def test_every_section_counts_and_lists_may(seeded):
    with seeded.connect() as conn:
        sections = {s.name: s for s in ms.stats_sections(conn, MAY)}
    summary = sections["summary"]
    assert counts(summary) == [
        ("Total Summaries - New", 2),
        (" - HP Summaries (EN)", 1),
        (" - HP Summaries (ES)", 0),
        (" - Pat. Summaries (EN)", 0),
        (" - Pat. Summaries (ES)", 1),
        ("\xa0", None),
        ("Total Summaries - Revised", 2),
        (" - HP Summaries (EN)", 1),
        (" - HP Summaries (ES)", 0),
        (" - Pat. Summaries (EN)", 1),
        (" - Pat. Summaries (ES)", 0),
    ]
    new, revised = summary.listings
    assert titles(new) == [
        (4001, "Breast Cancer", "English", "Health professionals"),
        (4002, "Cáncer de seno", "Spanish", "Patients"),
    ]
    assert titles(revised) == [
        (4004, "anal Cancer", "English", "Patients"),
        (4001, "Breast Cancer", "English", "Health professionals"),
    ]

    glossary = sections["glossary"]
    assert counts(glossary) == [
        ("Dictionary - New Terms", None),
        ("- New (EN)", 1),
        ("- New (ES)", 2),
        ("Dictionary - Revised Definitions", None),
        ("- Revised (EN)", 2),
        ("- Revised (ES)", 1),
        ("Audio - New", 1),
        ("\xa0", None),
        ("Genetics Dictionary - New Terms", 1),
        ("Genetics Dictionary - Revised Definitions", 1),
    ]
    new_terms, revised_concepts, audio, new_genetics, revised_genetics = glossary.listings
    assert titles(new_terms) == [(5002, "tumor", "tumor; tumoración")]
    assert titles(revised_concepts) == [
        (5005, "Lynch syndrome", "síndrome"),
        (5001, "tumor", "tumor; tumoración"),
    ]
    assert titles(audio) == [(5010, "tumor (pronunciation)")]
    assert titles(new_genetics) == [(5004, "BRCA1")]
    assert titles(revised_genetics) == [(5005, "Lynch syndrome")]

    assert counts(sections["genetics"]) == [("Genetics Professionals - New", 1)]
    assert titles(sections["genetics"].listings[0]) == [(6001, "Haddad, Omar")]
    assert counts(sections["drug"]) == [("NCI Drug Terms - New", 1)]
    assert titles(sections["drug"].listings[0]) == [(6102, "nivolumab")]

    assert counts(sections["dis"]) == [
        ("Drug Information Summaries", None),
        (" - New", 1),
        (" - Revised", 2),
    ]
    assert titles(sections["dis"].listings[0]) == [
        (7002, "Atezolizumab", "2015-03-01 00:00:00", "2024-05-25"),
        (7001, "Zanubrutinib", "2024-05-02 10:00:00", "2024-05-20"),
    ]

    assert counts(sections["boardmembers"]) == [
        ("PDQ Board Members - New", None),
        ("- Editorial", 1),
        ("- Advisory", 1),
    ]
    assert titles(sections["boardmembers"].listings[0]) == [
        (8003, "Brown, Cy", "PDQ Pediatric Treatment Editorial Board"),
        (8001, "Smith, Ann", "PDQ Adult Treatment Editorial Advisory Board"),
    ]
    assert counts(sections["boardmeetings"]) == [
        ("PDQ Board Meetings", None),
        ("- Onsite Meetings", 1),
        ("- WebEx Meetings", 2),
    ]
    assert titles(sections["boardmeetings"].listings[0]) == [
        (8102, "PDQ Adult Treatment Editorial Board", "2024-05-07", "Yes"),
        (8102, "PDQ Adult Treatment Editorial Board", "2024-05-28", ""),
        (8101, "PDQ Pediatric Treatment Editorial Board", "2024-05-14", "Yes"),
    ]
    assert counts(sections["image"]) == [
        ("PDQ Image Files", None),
        (" - New", 1),
        (" - Revised", 1),
    ]
    assert titles(sections["image"].listings[0]) == [
        (9001, "Breast anatomy", "2024-04-02 00:00:00", "2024-05-10 18:00:00"),
        (9002, "Lung anatomy", "2024-05-03 00:00:00", "2024-05-10 18:00:00"),
    ]


def test_runs_count_afresh_each_time(seeded):
    with seeded.connect() as conn:
        first = ms.stats_sections(conn, MAY)
        second = ms.stats_sections(conn, MAY)
    assert first == second


def test_an_empty_month_and_audio_alone(seeded):
    with seeded.connect() as conn:
        empty = ms.stats_sections(conn, ms.StatsRange(date(2022, 2, 1), date(2022, 2, 28)))
        audio = ms.stats_sections(conn, MAY, ["audio", "dis"])
    assert all(n in (None, 0) for section in empty for _label, n in section.counts)
    report = ms.stats_report("T", MAY, empty, date(2022, 3, 1))
    root = lxml_html.document_fromstring(render_html(report))
    assert len(root.findall("body/table")) == 1
    notes = [p.text for p in root.findall("body/p")][1:]
    assert notes[:3] == [
        "No New Summaries found during this time",
        "No Revised Summaries found during this time",
        "No New Dictionary Terms found during this time",
    ]
    assert "No new Genetics Professionals found during this time" in notes
    assert [s.name for s in audio] == ["audio", "dis"]
    assert counts(audio[0]) == [("Audio - New", 1)]
    assert [listing.label for listing in audio[0].listings] == [
        "New Dictionary w/ pronunciation (Audio)"
    ]


def test_layout_ids_and_max_docs(seeded):
    with seeded.connect() as conn:
        sections = ms.stats_sections(conn, MAY, ["summary", "boardmeetings"])
    report = ms.stats_report(
        ms.report_title("PCIB Statistics Report", MAY, MAY),
        MAY,
        sections,
        date(2024, 6, 1),
        max_docs=1,
    )
    root = lxml_html.document_fromstring(render_html(report))
    assert root.findtext("head/title") == "Monthly PCIB Statistics Report for May 2024"
    assert root.find("body").get("style") == "font-size: .9em"
    counts_table, new, revised, meetings = root.findall("body/table")
    assert [th.text for th in counts_table.findall("tr/th")] == [
        "Documents",
        "From 2024-05-01 to 2024-05-31",
    ]
    rows = [[td.text or "" for td in tr.findall("td")] for tr in counts_table.findall("tr")[1:]]
    assert rows[0] == ["Total Summaries - New", "2"]
    assert rows[5] == ["\xa0", ""] and rows[11] == ["\xa0", ""]
    assert rows[12] == ["PDQ Board Meetings", ""]
    assert new.findtext("caption") == "2 New Summaries (showing first row)"
    assert [[td.text for td in tr.findall("td")] for tr in new.findall("tr")[1:]] == [
        ["CDR0000004001", "Breast Cancer", "English", "Health professionals"]
    ]
    assert meetings.findtext("caption") == "3 PDQ Board Meetings (showing first row)"
    assert [th.text for th in meetings.findall("tr/th")] == ["CDR ID", "Title", "Date", "WebEx?"]
    cell = new.find("tr/td").get("style")
    assert (
        cell
        == "font-family:Arial;border:1px solid #999;vertical-align:top;padding:1px 5px;margin:0"
    )

    plain = ms.stats_report("T", MAY, sections, date(2024, 6, 1), ids=False, max_docs=2)
    table = lxml_html.document_fromstring(render_html(plain)).findall("body/table")[1]
    assert table.findtext("caption") == "2 New Summaries"
    assert [th.text for th in table.findall("tr/th")] == ["Title", "Language", "Audience"]
    brief = ms.stats_report("T", MAY, sections, date(2024, 6, 1), docs=False)
    assert len(lxml_html.document_fromstring(render_html(brief)).findall("body/table")) == 1


def test_titles_and_month_bounds():
    assert ms.report_title("PCIB Statistics Report", MAY, MAY) == (
        "Monthly PCIB Statistics Report for May 2024"
    )
    q1 = ms.StatsRange(date(2024, 1, 1), date(2024, 3, 31))
    assert ms.report_title("PCIB Statistics Report", q1, MAY) == (
        "PCIB Statistics Report from 2024-01-01 to 2024-03-31"
    )
    assert ms.previous_month(date(2024, 6, 1)) == MAY
    assert ms.months_before(date(2024, 8, 31), 6) == date(2024, 2, 29)
    assert ms.months_before(date(2024, 5, 1), 6) == date(2023, 11, 1)
    assert ms.previous_month(date(2024, 1, 31)) == ms.StatsRange(
        date(2023, 12, 1), date(2023, 12, 31)
    )
    assert q1.holds(datetime(2024, 3, 31, 23, 59, 59, 900000))
    assert q1.holds("2024-03-31T18:00") and not q1.holds("2024-04-01")
    assert not q1.holds(None) and not q1.holds(datetime(2023, 12, 31, 23, 59))
    with pytest.raises(ValueError, match="start 2024-02-01 is after end 2024-01-31"):
        ms.StatsRange(date(2024, 2, 1), date(2024, 1, 31))


def test_partitions_are_calendar_months_ending_with_the_last_complete_one():
    window = monthly_stats_partitions.time_window_for_partition_key("2024-02-01")
    assert (window.start.date(), window.end.date()) == (date(2024, 2, 1), date(2024, 3, 1))
    assert str(window.start.tzinfo) == "America/New_York"
    with dg.partition_loading_context(effective_dt=datetime(2024, 6, 1, 8, 0)):
        assert monthly_stats_partitions.get_last_partition_key() == "2024-05-01"
    with dg.partition_loading_context(effective_dt=datetime(2024, 5, 31, 23, 0)):
        assert monthly_stats_partitions.get_last_partition_key() == "2024-04-01"
    assert monthly_stats_partitions.get_first_partition_key() == "2016-01-01"


# --- the job --------------------------------------------------------------------------------


def run(engine, mailbox, basedir: Path, partition: str | None = "2024-05-01", **config):
    return monthly_stats_report_job.execute_in_process(
        run_config={"ops": {"monthly_stats_report_op": {"config": config}}},
        partition_key=partition,
        resources=job_resources(engine, mailbox, basedir),
        raise_on_error=False,
    )


def test_live_partition_run_mails_the_statistics_group(seeded, mailbox, tmp_path):
    add_group_members(
        seeded,
        "ICRDB Statistics Notification",
        [("boss", "boss@nci.gov", False), ("gone", "gone@nci.gov", True)],
    )
    result = run(seeded, mailbox, tmp_path, mode="live")
    assert result.success
    (message,) = mailbox.messages
    assert message.rcpt_tos == ["boss@nci.gov"]
    assert message.message["Subject"] == "[DEV] Monthly PCIB Statistics Report for May 2024"
    assert message.message["From"] == "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
    (saved,) = (tmp_path / "reports").iterdir()
    assert saved.name.startswith("cdr-stats-") and not saved.name.endswith(".test.html")
    assert message.message.get_body(("html",)).get_content().replace("\r\n", "\n") == (
        saved.read_text(encoding="utf-8")
    )
    meta = output_metadata(result)
    assert meta["range"].value == "2024-05-01 to 2024-05-31"
    assert meta["counts"].value["dis"] == [["- New", 1], ["- Revised", 2]]
    assert "| CDR0000007001 | Zanubrutinib |" in meta["report"].value


def test_backfilled_month_and_overrides(seeded, mailbox, tmp_path):
    add_group_members(seeded, "Test Publishing Notification", [("t", "t@nci.gov", False)])
    assert run(seeded, mailbox, tmp_path, partition="2024-04-01", mode="test").success
    (message,) = mailbox.messages
    assert message.rcpt_tos == ["t@nci.gov"]
    assert message.message["Subject"] == "[DEV] Monthly PCIB Statistics Report for April 2024"
    body = message.message.get_body(("html",)).get_content()
    assert "Breast anatomy" in body and "Zanubrutinib" not in body
    assert next((tmp_path / "reports").iterdir()).name.endswith(".test.html")
    mailbox.clear()
    result = run(
        seeded,
        mailbox,
        tmp_path,
        mode="live",
        start="2024-05-31",
        end="2024-05-31",
        recips=["a@nci.gov", "b@nci.gov"],
        sections=["summary"],
        title="CDR Stats",
    )
    assert result.success
    (message,) = mailbox.messages
    assert message.rcpt_tos == ["a@nci.gov", "b@nci.gov"]
    assert message.message["Subject"] == "[DEV] CDR Stats from 2024-05-31 to 2024-05-31"
    assert output_metadata(result)["counts"].value == {
        "summary": [
            ["Total Summaries - New", 1],
            ["- HP Summaries (EN)", 0],
            ["- HP Summaries (ES)", 0],
            ["- Pat. Summaries (EN)", 0],
            ["- Pat. Summaries (ES)", 1],
            ["Total Summaries - Revised", 0],
            ["- HP Summaries (EN)", 0],
            ["- HP Summaries (ES)", 0],
            ["- Pat. Summaries (EN)", 0],
            ["- Pat. Summaries (ES)", 0],
        ]
    }


def test_no_email_and_bad_ranges(seeded, mailbox, tmp_path):
    assert run(seeded, mailbox, tmp_path, mode="live", email=False).success
    assert mailbox.messages == [] and len(list((tmp_path / "reports").iterdir())) == 1
    result = run(seeded, mailbox, tmp_path, mode="live", email=False, start="2024-06-01")
    assert not result.success
    assert "start 2024-06-01 is after end 2024-05-31" in str(
        result.failure_data_for_node("monthly_stats_report_op").error
    )
    failed = run(seeded, mailbox, tmp_path, mode="live")  # the group has nobody
    assert not failed.success and len(list((tmp_path / "reports").iterdir())) == 2


def test_config_validation_and_legacy_options():
    with pytest.raises(ValueError, match="start '2024-5-x' is not a date"):
        MonthlyStatsConfig(mode="live", start="2024-5-x")
    with pytest.raises(ValueError, match="unknown section.*'pictures'"):
        MonthlyStatsConfig(mode="live", sections=["summary pictures"])
    with pytest.raises(ValueError, match="max_docs -1"):
        MonthlyStatsConfig(mode="live", max_docs=-1)
    assert split_sections(MonthlyStatsConfig(mode="live", sections=["Summary, dis"]).sections) == [
        "summary",
        "dis",
    ]
    converted = convert_options(
        find_job_class("pcib_stats.ReportTask"),
        {
            "mode": "live",
            "email": "0",
            "sections": "summary dis",
            "max-docs": "5",
            "recips": "a@x.gov b@x.gov",
            "start": "2024-01-01",
            "end": "2024-03-31",
            "log-level": "debug",
            "docs": "yes",
            "ids": "1",
            "title": "Stats",
        },
    )
    assert (converted.job, converted.node) == ("monthly_stats_report", "monthly_stats_report_op")
    config = MonthlyStatsConfig(**converted.config)
    assert config.email and split_sections(config.sections) == ["summary", "dis"]
    assert config.max_docs == 5 and config.log_level == "debug"


def test_the_demo_produces_last_months_report(cdr_db, mailbox, tmp_path):
    """Seeded on 2025-03-12: the newest partition is February 2025, which the demo fills."""
    load_demo(cdr_db, tmp_path, datetime(2025, 3, 12, 9, 0))
    with dg.partition_loading_context(effective_dt=datetime(2025, 3, 12, 9, 0)):
        partition = monthly_stats_partitions.get_last_partition_key()
    assert partition == "2025-02-01"
    result = run(cdr_db, mailbox, tmp_path, partition=partition, mode="live")
    assert result.success
    (message,) = mailbox.messages
    assert message.message["Subject"] == "[DEV] Monthly PCIB Statistics Report for February 2025"
    counts = {name: dict(rows) for name, rows in output_metadata(result)["counts"].value.items()}
    assert counts["summary"]["Total Summaries - New"] == 2
    assert counts["summary"]["- Pat. Summaries (ES)"] == 1
    assert counts["glossary"]["Audio - New"] >= 1
    assert counts["genetics"] == {"Genetics Professionals - New": 1}
    assert counts["boardmembers"] == {"- Editorial": 1, "- Advisory": 1}
    assert counts["boardmeetings"]["- WebEx Meetings"] >= 1
    assert counts["image"]["- New"] + counts["image"]["- Revised"] >= 1


def test_the_shipped_schedule_requests_the_previous_month(tmp_path):
    path = shipped_schedule_file(tmp_path, "monthly_stats_report")
    schedules = load_schedules(path, {"monthly_stats_report": monthly_stats_report_job}, "PROD")
    none = dg.ResourceDefinition.none_resource()
    defs = dg.Definitions(
        jobs=[monthly_stats_report_job],
        schedules=schedules,
        resources={"cdr_db": none, "email": none, "commands": none},
    )
    schedule = defs.resolve_schedule_def("monthly_stats_report_monthly")
    assert schedule.execution_timezone == "America/New_York"
    tick = datetime(2024, 6, 1, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    with (
        dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        ) as context,
        freeze_time(tick),
    ):
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-05-01" and request.run_key == "2024-05-01"
    assert request.run_config == {"ops": {"monthly_stats_report_op": {"config": {"mode": "live"}}}}
