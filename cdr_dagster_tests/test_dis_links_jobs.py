"""``report_expiring_links`` and ``remove_expired_links`` through Dagster, on PostgreSQL and
the SMTP server: the report mail, a global change in live and test mode (versions, comments,
checked-out documents, a failing save), the changed XML element by element, and both jobs on
the seeded SQLite demo. No postponed annotations: Dagster reads hints."""

import email
import email.policy
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from lxml import html as lxml_html
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.dis_links import removal_cutoff, report_cutoff, shift_months
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.jobs.dis_links import (
    RemoveExpiredLinksConfig,
    ReportExpiringLinksConfig,
    remove_expired_links_job,
    report_expiring_links_job,
)
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.queue_fixtures import (
    job_resources,
    op_metadata,
)
from cdr_dagster_tests.shipped_schedules import shipped_schedule_file
from cdr_dagster_tests.test_dis_links_rows import (
    SAVE_TABLES,
    Link,
    add_document,
    base_rows,
    check_out,
    dis_xml,
    table_rows,
    versions_refused_for,
)

CUTOFF = "2021-05-14"  # OLD_B was posted on the cutoff day: it expires
OLD_A = Link("https://old.example/a", "2020-03-01")
OLD_B = Link("https://old.example/b", "2021-05-14", section="Research_results")
DAY_AFTER = Link("https://keep.example/day-after", "2021-05-15")
NEW = Link("https://keep.example/new", "2024-01-10")
PERMANENT = Link("https://keep.example/permanent", "2010-01-01", temporary=None)
COMMENT = "Removing expired temporary links"


@pytest.fixture
def resources(cdr_db: Engine, mailbox, tmp_path: Path) -> dict[str, object]:
    basedir = tmp_path / "cdr"
    basedir.mkdir()
    return job_resources(cdr_db, mailbox, basedir)


def xml_of(name: str, links: list[Link], comment: str | None = None) -> str:
    return dis_xml(name, links, comment)


@pytest.fixture
def library(cdr_db: Engine) -> dict[str, int]:
    """Documents in every version state a global change meets."""
    ids = base_rows(cdr_db)
    simple = xml_of("Simple", [OLD_A, NEW])
    add_document(cdr_db, ids, 7001, simple, [(simple, True)])
    published = xml_of("Unversioned", [OLD_A, DAY_AFTER])
    edited = xml_of("Unversioned", [OLD_A, DAY_AFTER], comment="work in progress")
    add_document(cdr_db, ids, 7002, edited, [(published, True)])
    pub = xml_of("Draft", [OLD_A, PERMANENT])
    draft = xml_of("Draft", [OLD_A, OLD_B, PERMANENT, NEW])
    add_document(cdr_db, ids, 7003, draft, [(pub, True), (draft, False)])
    locked = xml_of("Locked", [OLD_B])
    add_document(cdr_db, ids, 7004, locked, [(locked, True)])
    check_out(cdr_db, ids, 7004, "mlee")
    failing = xml_of("Failing", [OLD_B, NEW])
    add_document(cdr_db, ids, 7005, failing, [(failing, True)])
    never = xml_of("Never published", [OLD_B])
    add_document(cdr_db, ids, 7006, never, [(never, False)])
    kept = xml_of("Day after", [DAY_AFTER])
    add_document(cdr_db, ids, 7007, kept, [(kept, True)])
    return ids


def remove(resources, **config) -> dg.ExecuteInProcessResult:
    return remove_expired_links_job.execute_in_process(
        run_config=dg.RunConfig(
            ops={"remove_expired_links_op": RemoveExpiredLinksConfig(**config)}
        ),
        resources=resources,
        raise_on_error=False,
    )


def report(resources, **config) -> dg.ExecuteInProcessResult:
    return report_expiring_links_job.execute_in_process(
        run_config=dg.RunConfig(
            ops={"report_expiring_links_op": ReportExpiringLinksConfig(**config)}
        ),
        resources={k: v for k, v in resources.items() if k != "commands"},
        raise_on_error=False,
    )


def versions(engine: Engine, doc_id: int) -> list[tuple[int, str, str | None, int]]:
    v = schema.all_doc_versions.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(v.num, v.publishable, v.comment, v.usr, v.xml)
            .where(v.id == doc_id)
            .order_by(v.num)
        ).all()
    return rows


def working_xml(engine: Engine, doc_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(
            select(schema.all_docs.c.xml).where(schema.all_docs.c.id == doc_id)
        ).scalar_one()


def elements(xml: str) -> list[tuple]:
    """(path, attributes, stripped text) of every element, in document order."""
    root = parse_xml(xml)
    tree = root.getroottree()
    return [(tree.getpath(e), dict(e.attrib), (e.text or "").strip()) for e in root.iter()]


def expected(name: str, links: list[Link], comment: str | None = None) -> list[tuple]:
    return elements(xml_of(name, links, comment))


# --- the removal, live -----------------------------------------------------------------------


def test_a_live_removal_saves_new_versions_as_the_legacy_global_change_did(
    cdr_db: Engine, library: dict[str, int], resources
) -> None:
    ids = library
    with versions_refused_for(cdr_db, 7005):
        result = remove(resources, mode="live", cutoff=CUTOFF)
    assert not result.success  # one document failed; the run says so after doing the others
    metadata = op_metadata(result)
    assert metadata["documents_examined"] == 6  # 7007's link is a day after the cutoff
    assert metadata["checked_out_by_others"] == {"CDR0000007004": "mlee"}
    assert list(metadata["failed"]) == ["CDR0000007005"]
    assert "version refused for the test" in metadata["failed"]["CDR0000007005"]
    assert metadata["saves"] == {"old cwd": 1, "new pub": 3, "new ver": 2, "new cwd": 1}
    assert metadata["links_removed"] == 5
    assert "| CDR0000007004 |" in metadata["report"] and "checked out by mlee" in metadata["report"]
    sweeper = ids["linksweeper"]

    # 7001: CWD = last publishable version -> one new publishable version, nothing else
    rows = versions(cdr_db, 7001)
    assert [(r.num, r.publishable, r.comment, r.usr) for r in rows] == [
        (1, "Y", "version 1", ids["mlee"]),
        (2, "Y", COMMENT, sweeper),
    ]
    assert elements(rows[1].xml) == expected("Simple", [NEW])
    assert working_xml(cdr_db, 7001) == rows[1].xml

    # 7002: unversioned edits are kept as a version first; the CWD keeps its edit
    rows = versions(cdr_db, 7002)
    assert [(r.num, r.publishable, r.comment) for r in rows] == [
        (1, "Y", "version 1"),
        (2, "N", COMMENT),
        (3, "Y", COMMENT),
    ]
    assert elements(rows[1].xml) == expected("Unversioned", [OLD_A, DAY_AFTER], "work in progress")
    assert elements(rows[2].xml) == expected("Unversioned", [DAY_AFTER])
    assert elements(working_xml(cdr_db, 7002)) == expected(
        "Unversioned", [DAY_AFTER], "work in progress"
    )

    # 7003: a later non-publishable version -> new publishable from v1, new version from v2
    rows = versions(cdr_db, 7003)
    assert [(r.num, r.publishable) for r in rows] == [(1, "Y"), (2, "N"), (3, "Y"), (4, "N")]
    assert elements(rows[2].xml) == expected("Draft", [PERMANENT])
    assert elements(rows[3].xml) == expected("Draft", [PERMANENT, NEW])
    assert working_xml(cdr_db, 7003) == rows[3].xml

    # 7006: no publishable version -> a new non-publishable version only
    rows = versions(cdr_db, 7006)
    assert [(r.num, r.publishable) for r in rows] == [(1, "N"), (2, "N")]
    assert elements(rows[1].xml) == expected("Never published", [])

    # 7004 (checked out) and 7005 (its save failed) are untouched; so is 7007
    for doc_id, name, links in (
        (7004, "Locked", [OLD_B]),
        (7005, "Failing", [OLD_B, NEW]),
        (7007, "Day after", [DAY_AFTER]),
    ):
        assert [r.num for r in versions(cdr_db, doc_id)] == [1]
        assert elements(working_xml(cdr_db, doc_id)) == expected(name, links)
    with cdr_db.connect() as conn:
        audit = conn.execute(
            select(
                schema.audit_trail.c.document,
                schema.audit_trail.c.usr,
                schema.audit_trail.c.comment,
            ).where(schema.audit_trail.c.action == ids["MODIFY DOCUMENT"])
        ).all()
        open_locks = conn.execute(
            select(schema.checkout.c.id, schema.checkout.c.usr).where(
                schema.checkout.c.dt_in.is_(None)
            )
        ).all()
    assert sorted({row.document for row in audit}) == [7001, 7002, 7003, 7006]
    assert {(row.usr, row.comment) for row in audit} == {(sweeper, COMMENT)}
    assert open_locks == [(7004, ids["mlee"])]

    # the index follows: only the links of the two untouched documents are reported now
    after = report(resources, mode="live", cutoff=CUTOFF)
    assert after.success and op_metadata(after)["documents"] == 2


def test_a_removal_that_would_leave_a_document_invalid_is_refused_naming_it(
    cdr_db: Engine, library: dict[str, int], resources
) -> None:
    """A schema that wants at least one DrugReference: 7006's only link is expired, so its
    new version would not validate; the save is refused, the others go on."""
    from cdr_dagster.cdr.validation import install_schema
    from cdr_dagster_tests.cdr_rows import SCHEMAS

    strict = (SCHEMAS / "DrugInformationSummary.xml").read_text(encoding="utf-8")
    optional = '<xsd:element name="DrugReference" type="DrugReference" minOccurs="0"'
    assert optional in strict
    strict = strict.replace(optional, '<xsd:element name="DrugReference" type="DrugReference"')
    with cdr_db.begin() as conn:
        install_schema(conn, "DrugInformationSummary.xml", strict)
    before = versions(cdr_db, 7006)
    result = remove(resources, mode="live", cutoff=CUTOFF)
    assert not result.success, "the run must fail, naming the refused document"
    metadata = op_metadata(result)
    assert list(metadata["failed"]) == ["CDR0000007006"], metadata["failed"]
    message = metadata["failed"]["CDR0000007006"]
    assert message.startswith(
        "InvalidDocumentError: cannot save CDR0000007006: it does not validate against the "
        "DrugInformationSummary schema: line 10: Element 'EnteredBy': This element is not "
        "expected. Expected is one of ( SummarySection, DrugReference )."
    ), message
    assert versions(cdr_db, 7006) == before, "the refused document must be left as it was"
    assert elements(working_xml(cdr_db, 7006)) == expected("Never published", [OLD_B])
    assert [r.num for r in versions(cdr_db, 7001)] == [1, 2], "the other documents are saved"
    with cdr_db.connect() as conn:
        statuses = conn.execute(
            select(schema.all_doc_versions.c.val_status).where(
                schema.all_doc_versions.c.id == 7001, schema.all_doc_versions.c.num == 2
            )
        ).scalar_one()
    assert statuses == "V", "the new version's status is the validation's"


def test_a_second_live_run_changes_nothing_more(
    cdr_db: Engine, library: dict[str, int], resources
) -> None:
    assert remove(resources, mode="live", cutoff=CUTOFF).success
    before = table_rows(cdr_db, *SAVE_TABLES)
    again = remove(resources, mode="live", cutoff=CUTOFF)
    assert again.success
    metadata = op_metadata(again)
    assert metadata["documents_examined"] == 1  # only the checked-out document is left
    assert metadata["saves"] == {}
    assert table_rows(cdr_db, *SAVE_TABLES) == before


# --- the removal, test mode ------------------------------------------------------------------


def test_test_mode_writes_before_and_after_files_and_saves_nothing(
    cdr_db: Engine, library: dict[str, int], resources
) -> None:
    before = table_rows(cdr_db, *SAVE_TABLES)
    result = remove(resources, cutoff=CUTOFF)
    assert result.success
    assert table_rows(cdr_db, *SAVE_TABLES) == before
    metadata = op_metadata(result)
    folder = Path(metadata["test_output"])
    assert folder.parent == Path(resources["commands"].basedir) / "GlobalChange"
    assert datetime.strptime(folder.name, "%Y-%m-%d_%H-%M-%S")
    names = sorted(p.name for p in folder.iterdir())
    stems = {
        7001: ["cwd", "pub"],
        7002: ["cwd", "pub"],
        7003: ["cwd", "pub", "lastv"],
        7004: ["cwd", "pub"],
        7005: ["cwd", "pub"],
        7006: ["cwd", "lastv"],
    }
    assert names == sorted(
        f"CDR{doc_id:010d}.{kind}{suffix}"
        for doc_id, kinds in stems.items()
        for kind in kinds
        for suffix in ("old.xml", "new.xml", ".diff")
    )
    cwd_old = (folder / "CDR0000007002.cwdold.xml").read_text(encoding="utf-8")
    cwd_new = (folder / "CDR0000007002.cwdnew.xml").read_text(encoding="utf-8")
    assert cwd_old == working_xml(cdr_db, 7002)
    assert elements(cwd_new) == expected("Unversioned", [DAY_AFTER], "work in progress")
    pub_new = (folder / "CDR0000007003.pubnew.xml").read_text(encoding="utf-8")
    assert elements(pub_new) == expected("Draft", [PERMANENT])
    diff = (folder / "CDR0000007001.cwd.diff").read_text(encoding="utf-8").splitlines()
    # only deletions: the five lines of the removed block (ndiff may pick equal lines of the
    # next block, so the order is not fixed)
    assert sorted(diff) == sorted(
        [
            '-  <DrugReference TemporaryLink="Yes" section="FDA">',
            "-   <DrugReferenceType>FDA</DrugReferenceType>",
            "-   <DrugReferencePostedDate>2020-03-01</DrugReferencePostedDate>",
            '-   <DrugReferenceLink cdr:xref="https://old.example/a">Link text</DrugReferenceLink>',
            "-  </DrugReference>",
        ]
    )
    assert metadata["checked_out_by_others"] == {"CDR0000007004": "mlee"}
    assert "a live run would skip it" in metadata["report"]
    assert metadata["saves"] == {"old cwd": 1, "new pub": 5, "new ver": 2, "new cwd": 1}


def test_a_cutoff_that_is_not_a_date_is_refused_by_the_config() -> None:
    with pytest.raises(Exception, match="cutoff '2021-13-01' is not a YYYY-MM-DD date"):
        RemoveExpiredLinksConfig(mode="live", cutoff="2021-13-01")
    with pytest.raises(Exception, match="cutoff '15/05/2021' is not a YYYY-MM-DD date"):
        ReportExpiringLinksConfig(cutoff="15/05/2021")


def test_the_default_removal_cutoff_is_three_years_ago(cdr_db: Engine, resources) -> None:
    ids = base_rows(cdr_db)
    today = date.today()
    three_years = date.fromisoformat(removal_cutoff(today))
    links = [
        Link("https://old.example/day-before", (three_years - timedelta(days=1)).isoformat()),
        Link("https://old.example/on-the-day", three_years.isoformat()),
        Link("https://keep.example/day-after", (three_years + timedelta(days=1)).isoformat()),
    ]
    xml = xml_of("Today", links)
    add_document(cdr_db, ids, 7100, xml, [(xml, True)])
    result = remove(resources, mode="live")
    assert result.success
    assert op_metadata(result)["cutoff"] == three_years.isoformat()
    assert elements(working_xml(cdr_db, 7100)) == expected("Today", links[2:])


# --- the report ------------------------------------------------------------------------------


def mail_table(message: email.message.Message) -> tuple[str, list[list[str]]]:
    page = lxml_html.fromstring(message.get_content().encode("utf-8"))
    table = page.find(".//table")
    return table.findtext("caption"), [
        [cell.text_content() for cell in row] for row in table.iter("tr")
    ]


def test_the_report_lists_what_the_next_removal_will_take(
    cdr_db: Engine, library: dict[str, int], resources, mailbox
) -> None:
    result = report(resources, mode="live", cutoff="2021-05-16")
    assert result.success
    (mail,) = mailbox.messages
    assert mail.rcpt_tos == ["pw@example.gov"]
    assert mail.message["From"] == "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
    assert mail.message["Subject"] == "[DEV] Drug Information Summaries Expiring Links"
    caption, rows = mail_table(mail.message)
    assert caption == f"Expiring Links Report - {date.today().isoformat()}"
    assert rows == [
        ["Expires", "CDR ID", "URL"],
        ["2020-03-01", "CDR7001", OLD_A.url],
        ["2021-05-15", "CDR7002", DAY_AFTER.url],
        ["2020-03-01", "CDR7002", OLD_A.url],
        ["2021-05-14", "CDR7003", OLD_B.url],
        ["2020-03-01", "CDR7003", OLD_A.url],
        ["2021-05-14", "CDR7004", OLD_B.url],
        ["2021-05-14", "CDR7005", OLD_B.url],
        ["2021-05-14", "CDR7006", OLD_B.url],
        ["2021-05-15", "CDR7007", DAY_AFTER.url],
    ]
    metadata = op_metadata(result)
    assert metadata["links"] == 9 and metadata["recipients"] == ["pw@example.gov"]
    assert "| 2021-05-15 | CDR7007 | https://keep.example/day-after |" in metadata["report"]


def test_the_report_goes_to_the_test_group_in_test_mode_and_to_recip_when_given(
    cdr_db: Engine, library: dict[str, int], resources, mailbox
) -> None:
    assert report(resources, cutoff=CUTOFF).success
    assert report(resources, mode="live", recip="editor@example.gov", cutoff=CUTOFF).success
    assert [m.rcpt_tos for m in mailbox.messages] == [["t@example.gov"], ["editor@example.gov"]]


def test_with_nothing_to_expire_the_report_says_so(cdr_db: Engine, resources, mailbox) -> None:
    base_rows(cdr_db)
    result = report(resources, mode="live")
    assert result.success
    caption, rows = mail_table(mailbox.messages[0].message)
    assert rows == [["Expires", "CDR ID", "URL"], ["No links are scheduled to expire."]]
    page = lxml_html.fromstring(mailbox.messages[0].message.get_content().encode("utf-8"))
    assert page.find(".//td").get("colspan") == "3"
    assert op_metadata(result)["cutoff"] == report_cutoff(date.today())


# --- the demo --------------------------------------------------------------------------------


def test_both_jobs_on_the_seeded_demo(tmp_path: Path) -> None:
    from cdr_dagster.demo.dis_links import CHECKED_OUT_DIS
    from cdr_dagster.demo.seed import seed_demo
    from cdr_dagster.resources.cdr_db import CdrDatabaseResource

    demo = tmp_path / "demo"
    seed_demo(demo)  # seeds add_dis_link_examples too
    cdr = CdrDatabaseResource(url=f"sqlite:///{demo / 'cdr.db'}")
    resources = {
        "cdr_db": cdr,
        "email": EmailResource(tier="DEV", outbox_dir=str(demo / "outbox"), cdr_db=cdr),
        "commands": CommandRunnerResource(basedir=str(demo / "cdr")),
    }
    reported = report(resources, mode="live")
    assert reported.success
    (eml,) = (demo / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    _, rows = mail_table(message)
    today = date.today()
    listed = {(r[1], r[0]) for r in rows[1:]}
    assert {doc for doc, _ in listed} == {"CDR760001", "CDR760002", "CDR760005", "CDR746112"}
    assert ("CDR760002", shift_months(today, -36).isoformat()) in listed  # gone next month
    assert ("CDR760005", shift_months(today, -40).isoformat()) in listed
    assert all(posted <= report_cutoff(today) for _, posted in listed)

    assert remove(resources).success  # test mode first: files only
    removed = remove(resources, mode="live")
    assert removed.success
    metadata = op_metadata(removed)
    assert metadata["checked_out_by_others"] == {f"CDR{CHECKED_OUT_DIS:010d}": "mlee"}
    assert metadata["documents_changed"] == 2
    assert metadata["saves"]["new pub"] == 2 and metadata["saves"]["old cwd"] == 1
    with CdrDatabaseResource(url=cdr.url).connect() as conn:
        from cdr_dagster.cdr.dis_links import expiring_links

        left = {(link.doc_id, link.posted) for link in expiring_links(conn, removal_cutoff(today))}
    assert left == {(CHECKED_OUT_DIS, shift_months(today, -40).isoformat())}


# --- the code location -----------------------------------------------------------------------


def test_the_jobs_load_with_their_shipped_schedules(tmp_path: Path) -> None:
    from cdr_dagster.resources.defaults import build_resources
    from cdr_dagster.schedules import load_schedules
    from cdr_dagster.settings import load_settings

    settings = load_settings({"CDR_TIER": "PROD", "CDR_BASEDIR": "/cdr"})
    path = shipped_schedule_file(tmp_path, "remove_expired_links", "report_expiring_links")
    jobs = [remove_expired_links_job, report_expiring_links_job]
    schedules = load_schedules(path, {job.name: job for job in jobs}, settings.tier)
    defs = dg.Definitions(jobs=jobs, schedules=schedules, resources=build_resources(settings))
    dg.Definitions.validate_loadable(defs)
    assert {s.name for s in schedules} == {
        "remove_expired_links_monthly",
        "report_expiring_links_monthly",
    }


def test_the_config_fields_are_the_catalogue_fields() -> None:
    from cdr_dagster.legacy.catalogue import find_job_class

    for job_class, config in (
        ("expired_links.LinkRemover", RemoveExpiredLinksConfig),
        ("expiring_links.ReportTask", ReportExpiringLinksConfig),
    ):
        entry = find_job_class(job_class)
        fields = {option.field for option in entry.options if option.field}
        assert set(config.model_fields) == fields, job_class
