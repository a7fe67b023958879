"""The embedded demo: ``cdr-dagster seed-demo`` builds a CDR database and folders every job
family can run against, idempotently, and its demo scripts really update their queue rows.

The demo is seeded once per module on a fixed day (Wednesday 2025-03-12, so the last weekly
publishing ran on Friday 2025-03-07, ISO week 10) and read with the project's own data layer.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.control import control_value
from cdr_dagster.cdr.groups import (
    group_email_addresses,
    group_email_addresses_including_expired,
)
from cdr_dagster.cdr.queues import claim_batch_job
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.demo import seed as seed_module
from cdr_dagster.demo.datafiles import DataFiles
from cdr_dagster.demo.documents import load_documents
from cdr_dagster.demo.publishing import plan_publishing
from cdr_dagster.demo.seed import seed_demo
from cdr_dagster.demo.templates import resolve

TODAY = date(2025, 3, 12)
LAST_FRIDAY = date(2025, 3, 7)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo directory seeded on TODAY."""
    root = tmp_path_factory.mktemp("demo")
    seed_demo(root, today=TODAY)
    return root


@pytest.fixture(scope="module")
def engine(demo: Path) -> Iterator[Engine]:
    """An engine on the demo database."""
    engine = create_engine(f"sqlite:///{demo / 'cdr.db'}")
    yield engine
    engine.dispose()


def demo_env(root: Path) -> dict[str, str]:
    """The variables of ``root/demo.env``, as a shell sourcing it would see them."""
    values = {}
    for line in (root / "demo.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = shlex.split(value)[0]
    return values


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# ---------------------------------------------------------------------------------------------
# Relative dates in the data files
# ---------------------------------------------------------------------------------------------


def test_relative_dates_resolve_from_the_seeding_moment() -> None:
    now = datetime(2025, 3, 12, 9, 30)
    assert resolve("-3y", now) == datetime(2022, 3, 12, 9, 30)
    assert resolve("-20min", now) == datetime(2025, 3, 12, 9, 10)
    assert resolve("fri@16:00:05", now) == datetime(2025, 3, 7, 16, 0, 5)
    assert resolve("fri-7d", now) == datetime(2025, 2, 28, 12, 0)
    assert resolve("lm+9d@10:30", now) == datetime(2025, 2, 10, 10, 30)
    assert resolve("tm", now) == datetime(2025, 3, 1, 12, 0)
    # On a Friday, "fri" is the Friday before.
    assert resolve("fri", datetime(2025, 3, 14, 8, 0)).date() == LAST_FRIDAY


# ---------------------------------------------------------------------------------------------
# Users, groups, control values
# ---------------------------------------------------------------------------------------------


def test_groups_of_every_family_have_members_and_expired_users_are_left_out(
    engine: Engine,
) -> None:
    groups = [
        "Developers Notification",
        "Operator Publishing Notification",
        "Test Publishing Notification",
        "Weekly Publishing Notification",
        "Nightly Publishing Notification",
        "VOL Notification",
        "Hotfix Remove Notification",
        "FileSweeper Error Notification",
        "Expiring Links Notification",
        "GovDelivery EN Docs Notification",
        "GovDelivery ES Docs Notification",
        "ICRDB Statistics Notification",
        "PDQ Partner Notification",
        "Licensee Report Notification",
        "Spanish Translation Leads",
        "Test Translation Queue Recips",
        "GlossaryDupGroup",
    ]
    with engine.connect() as conn:
        for group in groups:
            assert group_email_addresses(conn, group), group
        developers = group_email_addresses(conn, "Developers Notification")
        everyone = group_email_addresses_including_expired(conn, "Developers Notification")
        expired = conn.execute(
            select(schema.usr.c.name).where(schema.usr.c.expired.is_not(None))
        ).scalars()
    assert "olivia.vasquez@nci.example.org" not in developers
    assert "olivia.vasquez@nci.example.org" in everyone
    assert {"ovasquez", "kowens", "oldadmin"} <= set(expired)


def test_control_values_are_readable_and_old_values_inactivated(engine: Engine) -> None:
    with engine.connect() as conn:
        glossary = json.loads(control_value(conn, "dictionary", "glossary"))
        drugs = json.loads(control_value(conn, "dictionary", "drugs"))
        labels = control_value(conn, "trials", "labels").splitlines()
        tokens = control_value(conn, "trials", "tokens").splitlines()
        overrides = control_value(conn, "trials", "overrides").splitlines()
        sitemap = control_value(conn, "dictionary", "sitemap-entries").splitlines()
        assert control_value(conn, "Publishing", "numprocs") == "4"
        assert control_value(conn, "PDQ", "non-partners") == "cbiittest,devuser"
        assert control_value(conn, "glossary-servers", "Primary").startswith("https://")
        warning = control_value(conn, "Publishing", "test-partner-warning")
        for name in ("data-partner-notification", "test-notification", "test-partner-disabled"):
            assert control_value(conn, "Publishing", name)
        assert json.loads(control_value(conn, "trials", "listing-info"))["mappings"]
        assert json.loads(control_value(conn, "trials", "trial-type-info"))["mappings"]
    assert glossary["mappings"]["dynamic"] == "strict"
    assert "other_languages" in glossary["mappings"]["properties"]
    assert drugs["mappings"]["properties"]["aliases"]["type"] == "nested"
    assert len(labels) == 8 and all(len(line.split("|")) == 3 for line in labels)
    assert len(tokens) == 28 and len(overrides) == 15
    assert "@@EXPIRING@@" in warning
    assert all(len(line.split(",")) == 3 for line in sitemap)


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


def test_document_view_hides_deleted_documents(engine: Engine) -> None:
    with engine.connect() as conn:
        deleted = conn.execute(
            select(schema.all_docs.c.id).where(schema.all_docs.c.active_status == "D")
        ).scalars()
        deleted = set(deleted)
        visible = set(conn.execute(select(schema.document.c.id)).scalars())
    assert 799021 in deleted
    assert not deleted & visible
    assert count(engine, schema.all_docs) == len(visible) + len(deleted)


def test_glossary_in_both_languages_and_both_dictionaries(engine: Engine) -> None:
    with engine.connect() as conn:
        published = conn.execute(
            select(schema.pub_proc_cg.c.id, schema.pub_proc_cg.c.xml)
            .join(schema.document, schema.document.c.id == schema.pub_proc_cg.c.id)
            .join(schema.doc_type, schema.doc_type.c.id == schema.document.c.doc_type)
            .where(schema.doc_type.c.name == "GlossaryTermName")
        ).all()
        spanish_names = conn.execute(
            text(
                "SELECT value FROM query_term_pub "
                "WHERE path = '/GlossaryTermName/TranslatedName/TermNameString'"
            )
        ).scalars()
        concepts = conn.execute(
            text(
                "SELECT int_val FROM query_term_pub "
                "WHERE path = '/GlossaryTermName/GlossaryTermConcept/@cdr:ref'"
            )
        ).scalars()
        concept_docs = set(
            conn.execute(
                text(
                    "SELECT d.id FROM document d JOIN doc_type t ON t.id = d.doc_type "
                    "WHERE t.name = 'GlossaryTermConcept'"
                )
            ).scalars()
        )
    assert len(published) >= 10
    assert {"metastásico", "cáncer de pulmón", "alelo"} <= set(spanish_names)
    assert set(concepts) <= concept_docs | {45962}
    dictionaries, audiences = set(), set()
    for doc_id, xml in published:
        root = parse_xml(xml, f"CDR{doc_id}")
        assert root.tag == "GlossaryTerm" and root.get("id") == f"CDR{doc_id:010d}"
        assert root.findtext("TermName")
        for definition in root.iter("TermDefinition", "SpanishTermDefinition"):
            dictionaries.update(d.text for d in definition.findall("Dictionary"))
            audiences.update(a.text for a in definition.findall("Audience"))
    assert dictionaries == {"Cancer.gov", "Genetics"}
    assert audiences == {"Patient", "Health professional"}
    metastatic = parse_xml(dict(published)[44058])
    assert metastatic.findtext("SpanishTermName") == "metastásico"
    assert metastatic.find("MediaLink[@type='audio/mpeg'][@language='en']") is not None
    assert metastatic.find("EmbeddedVideo") is not None


def test_drug_dictionary_terms_with_other_names(engine: Engine) -> None:
    """docs/behaviour-notes.md#dictionary-terms: drug ids come from query_term through the
    Drug/agent semantic type."""
    with engine.connect() as conn:
        drug_ids = set(
            conn.execute(
                text(
                    "SELECT DISTINCT c.id FROM pub_proc_cg c "
                    "JOIN query_term t ON t.doc_id = c.id "
                    "AND t.path = '/Term/SemanticType/@cdr:ref' "
                    "JOIN query_term s ON s.doc_id = t.int_val "
                    "AND s.path = '/Term/PreferredName' AND s.value = 'Drug/agent'"
                )
            ).scalars()
        )
        atezolizumab = conn.execute(
            select(schema.pub_proc_cg.c.xml).where(schema.pub_proc_cg.c.id == 702758)
        ).scalar_one()
    assert {702758, 539733, 43234, 695789, 746111} <= drug_ids
    assert 38891 not in drug_ids  # a disease term
    term = parse_xml(atezolizumab)
    types = [n.findtext("OtherNameType") for n in term.findall("OtherName")]
    assert types == ["Synonym", "Code name", "Code name", "US brand name"]
    assert term.get("NCIThesaurusConceptID") == "C106250"
    assert term.findtext("CGovInfo/DISUrl").endswith("/drugs/atezolizumab")


EXPIRING_LINKS = """
    SELECT DISTINCT u.doc_id, u.value AS url, d.value AS posted
      FROM query_term u
      JOIN query_term d ON d.doc_id = u.doc_id
       AND SUBSTR(d.node_loc, 1, 4) = SUBSTR(u.node_loc, 1, 4)
      JOIN query_term t ON t.doc_id = u.doc_id
       AND SUBSTR(t.node_loc, 1, 4) = SUBSTR(u.node_loc, 1, 4)
     WHERE u.path = '/DrugInformationSummary/DrugReference/DrugReferenceLink/@cdr:xref'
       AND d.path = '/DrugInformationSummary/DrugReference/DrugReferencePostedDate'
       AND t.path = '/DrugInformationSummary/DrugReference/@TemporaryLink'
       AND t.value = 'Yes' AND d.value <= :cutoff
"""


def test_drug_information_summaries_have_links_on_both_sides_of_the_cutoffs(
    engine: Engine,
) -> None:
    """docs/behaviour-notes.md#expiring-dis-links: removal cutoff today - 3 years, report cutoff one
    month later."""
    with engine.connect() as conn:
        removal = conn.execute(text(EXPIRING_LINKS), {"cutoff": "2022-03-12"}).all()
        report = conn.execute(text(EXPIRING_LINKS), {"cutoff": "2022-04-12"}).all()
    removed = {(r.doc_id, r.posted) for r in removal}
    assert removed == {
        (760001, "2021-03-12"),
        (760002, "2022-01-12"),
        (760002, "2022-03-12"),
        (760005, "2021-11-12"),
    }
    assert {(r.doc_id, r.posted) for r in report} - removed == {
        (760001, "2022-03-24"),
        (746112, "2022-04-06"),
    }


def test_versions_and_latest_publishable(engine: Engine) -> None:
    with engine.connect() as conn:
        versions = conn.execute(
            text("SELECT num, publishable FROM doc_version WHERE id = 46264 ORDER BY num")
        ).all()
        rejected = conn.execute(
            text(
                "SELECT value FROM query_term_pub WHERE doc_id = 46264 "
                "AND path = '/GlossaryTermName/TermNameStatus'"
            )
        ).scalar_one()
        never = conn.execute(
            text("SELECT COUNT(*) FROM query_term_pub WHERE doc_id = 799041")
        ).scalar_one()
    assert versions == [(1, "Y"), (2, "Y")]
    assert rejected == "Rejected"
    assert never == 0  # a new name without a publishable version


def test_media_documents_have_versions_blobs_and_an_akamai_set(engine: Engine, demo: Path) -> None:
    with engine.connect() as conn:
        published = conn.execute(
            text(
                "SELECT DISTINCT c.id, d.doc_version FROM all_docs a "
                "JOIN pub_proc_cg c ON c.id = a.id JOIN doc_type t ON t.id = a.doc_type "
                "JOIN pub_proc_doc d ON d.doc_id = c.id AND d.pub_proc = c.pub_proc "
                "WHERE t.name = 'Media' ORDER BY c.id"
            )
        ).all()
        blobs = {
            row.doc_id: row.data
            for row in conn.execute(
                text(
                    "SELECT u.doc_id, b.data FROM version_blob_usage u "
                    "JOIN doc_blob b ON b.id = u.blob_id "
                    "JOIN pub_proc_cg c ON c.id = u.doc_id"
                )
            )
        }
        recordings = conn.execute(
            text(
                "SELECT q.doc_id FROM query_term q JOIN doc_blob_usage u ON u.doc_id = q.doc_id "
                "WHERE q.path = '/Media/MediaContent/Categories/Category' "
                "AND q.value = 'meeting recording'"
            )
        ).scalars()
    assert (799501, 2) in published and len(published) == 7
    assert set(blobs) == {doc_id for doc_id, _ in published}
    assert blobs[764135][:2] == b"\xff\xd8"  # JPEG
    assert blobs[704104][:3] == b"ID3"  # MP3
    assert set(recordings) == {801200, 801201}
    media = demo / "cdr" / "akamai" / "media"
    assert (media / "audio" / "704104.mp3").read_bytes() == blobs[704104]
    assert not (media / "audio" / "714623.mp3").exists()  # a check finds it missing
    assert (media / "audio" / "703000.mp3").exists()  # and this one no longer published
    assert (media / "images" / "764135-571.jpg").exists()


def test_every_document_on_cancer_gov_was_pushed_by_its_job(engine: Engine) -> None:
    with engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT c.id FROM pub_proc_cg c LEFT JOIN pub_proc_doc d "
                "ON d.doc_id = c.id AND d.pub_proc = c.pub_proc WHERE d.doc_id IS NULL"
            )
        ).all()
        pushes = conn.execute(
            text(
                "SELECT id, started FROM pub_proc WHERE status = 'Success' "
                "AND LOWER(pub_subset) = 'push_documents_to_cancer.gov_export' "
                "ORDER BY id DESC LIMIT 2"
            )
        ).all()
        ready = conn.execute(
            select(schema.pub_proc.c.id, schema.pub_proc.c.pub_subset).where(
                schema.pub_proc.c.status == "Ready"
            )
        ).all()
    assert orphans == []
    assert [str(p.started)[:10] for p in pushes] == ["2025-03-07", "2025-02-28"]
    assert {subset for _, subset in ready} == {
        "Hotfix-Export",
        "Push_Documents_To_Cancer.Gov_Interim-Export",
    }


def test_licensees_in_test_and_production_states(engine: Engine) -> None:
    """The partner list query (docs/behaviour-notes.md#partner-list); titles carry the status."""
    with engine.connect() as conn:
        listed = conn.execute(
            text(
                "SELECT n.value AS name, s.value AS status FROM query_term n "
                "JOIN query_term s ON s.doc_id = n.doc_id "
                "AND s.path = '/Licensee/LicenseeInformation/LicenseeStatus' "
                "JOIN query_term ta ON ta.doc_id = n.doc_id "
                "AND ta.path = '/Licensee/LicenseeInformation/LicenseeStatusDates/TestActivation'"
                " WHERE n.path = "
                "'/Licensee/LicenseeInformation/LicenseeNameInformation/OfficialName/Name'"
                " AND s.value IN ('Test', 'Production') ORDER BY s.value, n.value"
            )
        ).all()
        titles = set(
            conn.execute(
                text(
                    "SELECT d.title FROM document d JOIN doc_type t ON t.id = d.doc_type "
                    "WHERE t.name = 'Licensee'"
                )
            ).scalars()
        )
    assert [row.status for row in listed] == ["Production"] * 2 + ["Test"] * 3
    assert "Société Clinique Numérique" in {row.name for row in listed}
    assert "Great Lakes Cancer Registry;Production" in titles  # but no TestActivation
    assert {"Old Partner LLC;Test-expired", "Legacy Medical Media;Production-terminated"} <= titles


def test_sweep_specifications_parse_and_point_inside_the_demo(engine: Engine, demo: Path) -> None:
    """docs/behaviour-notes.md#sweep-specifications: the latest valid version of the one
    SweepSpecifications document."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT v.id, MAX(v.num) AS num FROM doc_version v "
                "JOIN doc_type t ON t.id = v.doc_type "
                "WHERE t.name = 'SweepSpecifications' AND v.val_status = 'V' GROUP BY v.id"
            )
        ).all()
        assert len(rows) == 1
        xml = conn.execute(
            text("SELECT xml FROM doc_version WHERE id = :id AND num = :num"),
            {"id": rows[0].id, "num": rows[0].num},
        ).scalar_one()
    root = parse_xml(xml, "SweepSpecifications")
    assert root.tag == "SweepSpecifications"
    specs = root.findall("SweepSpec")
    actions = {spec.findtext("Action") for spec in specs}
    assert actions == {"Archive", "Delete", "TruncateArchive", "Custom"}
    for spec in specs:
        input_root = spec.findtext("InputRoot")
        if input_root:
            assert Path(input_root).is_relative_to(demo / "sweep")
            assert Path(input_root).is_dir()
    old = demo / "sweep" / "Log" / "ImportLog-a.txt"
    assert (datetime.now().timestamp() - old.stat().st_mtime) > 120 * 86400


def test_translation_queues(engine: Engine) -> None:
    with engine.connect() as conn:
        weekly_media = conn.execute(
            text(
                "SELECT d.title FROM media_translation_job j JOIN usr u ON u.id = j.assigned_to "
                "JOIN document d ON d.id = j.english_id "
                "JOIN media_translation_state s ON s.value_id = j.state_id "
                "WHERE s.value_name = 'Ready for Translation' ORDER BY d.title"
            )
        ).scalars()
        no_email = conn.execute(
            text(
                "SELECT DISTINCT u.name FROM summary_translation_job j "
                "JOIN usr u ON u.id = j.assigned_to WHERE u.email IS NULL"
            )
        ).scalars()
    assert list(weekly_media) == ["Lungs and airways", "Metastasis"]
    assert list(no_email) == ["tnguyen"]
    for table in (
        schema.glossary_translation_job,
        schema.summary_translation_job,
        schema.summary_change_type,
    ):
        assert count(engine, table) >= 4


def test_scheduled_jobs_like_the_legacy_table(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.scheduled_job)).all()
    classes = {row.job_class for row in rows}
    assert {"batch_job_queue.Sweeper", "file_sweeper_task.FileSweeper", "test.Stub"} <= classes
    for row in rows:
        assert isinstance(json.loads(row.opts), dict)
        assert all(isinstance(v, str) for v in json.loads(row.opts).values())
    kinds = {(row.enabled, row.schedule is None) for row in rows}
    assert kinds == {(True, False), (False, False), (False, True), (True, True)}


# ---------------------------------------------------------------------------------------------
# Folders and files
# ---------------------------------------------------------------------------------------------


def test_demo_env_names_absolute_demo_paths(demo: Path) -> None:
    env = demo_env(demo)
    assert env == {
        "CDR_TIER": "DEV",
        "CDR_DB_URL": f"sqlite:///{demo / 'cdr.db'}",
        "CDR_BASEDIR": str(demo / "cdr"),
        "CDR_MAIL_OUTBOX": str(demo / "outbox"),
        "CDR_SFTP_LOCAL_DIR": str(demo / "sftp"),
        "CDR_ES_DUMP_DIR": str(demo / "es-dump"),
        "CDR_CTGOV_LOCAL_DIR": str(demo / "ctgov"),
        "CDR_EVS_LOCAL_FILE": str(demo / "evs" / "ncit-concepts.json"),
        "CDR_NETSTORAGE_LOCAL_DIR": str(demo / "netstorage"),
        "CDR_CMS_LOCAL_DIR": str(demo / "cms"),
        "CDR_DB_URL_PROD": f"sqlite:///{demo / 'cdr.db'}",
        "DAGSTER_HOME": str(demo / "dagster_home"),
        "CDR_AKAMAI_LOCAL_DIR": str(demo / "akamai-netstorage"),
        # Health and disk-space checks read local stand-in pages.
        "CDR_HEALTH_CHECK_URL": (demo / "stand-ins" / "cdrping.txt").as_uri(),
        "CDR_DISK_SPACE_URL_DEV": (demo / "stand-ins" / "df-DEV.txt").as_uri(),
        "CDR_DISK_SPACE_URL_QA": (demo / "stand-ins" / "df-QA.txt").as_uri(),
        "CDR_DISK_SPACE_URL_STAGE": (demo / "stand-ins" / "df-STAGE.txt").as_uri(),
        "CDR_DISK_SPACE_URL_PROD": (demo / "stand-ins" / "df-PROD.txt").as_uri(),
    }
    # Folders the seeder makes; the Akamai stand-in is made by its first push.
    made = {key: value for key, value in env.items() if key.endswith(("_DIR", "_HOME", "OUTBOX"))}
    made.pop("CDR_AKAMAI_LOCAL_DIR")
    made["CDR_BASEDIR"] = env["CDR_BASEDIR"]
    for key, value in made.items():
        assert Path(value).is_absolute() and Path(value).is_dir(), key


def test_dagster_yaml_is_a_valid_sqlite_instance(demo: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(demo / "dagster_home"))
    assert config["telemetry"]["enabled"] is False
    assert config["nux"]["enabled"] is False  # no "Join the community" dialog
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 8
    assert config["sensors"]["use_threads"] is True
    assert config["sensors"]["num_workers"] == 8
    assert config["run_queue"]["dequeue_interval_seconds"] == 1
    assert "storage" not in config


def test_queued_batch_jobs_name_scripts_under_the_base_folder(engine: Engine, demo: Path) -> None:
    with engine.connect() as conn:
        queued = conn.execute(
            select(schema.batch_job.c.command).where(schema.batch_job.c.status == "Queued")
        ).scalars()
        queued = list(queued)
    assert len(queued) == 2
    for command in queued:
        assert (demo / "cdr" / command).is_file()
    for script in ("Publish.py", "SubmitPubJob.py", "PubEmail.py", "CG2Public.py"):
        assert (demo / "cdr" / "Publishing" / script).is_file()
    assert (demo / "cdr" / "Log").is_dir()


def test_partner_changes_file_of_the_last_weekly_export(demo: Path) -> None:
    changes = demo / "cdr" / "Output" / "LicenseeDocs" / "Job20114" / "202510.changes"
    lines = changes.read_text().splitlines()
    assert lines == sorted(lines)
    assert "Summary.202510:added:3" in lines
    assert all(len(line.split(":")) == 3 for line in lines)


def test_sftp_logs_in_syslog_form(demo: Path) -> None:
    logs = demo / "sftp" / "sftp" / "sftphome" / "cdrstaging" / "logs"
    assert sorted(p.name for p in logs.iterdir()) == [
        "pdq.log",
        "pdq.log-20250201.gz",
        "pdq.log-20250301.gz",
    ]
    february = gzip.decompress((logs / "pdq.log-20250301.gz").read_bytes()).decode()
    opened = [line.split() for line in february.splitlines() if "session opened" in line]
    assert opened and all(tokens[0] == "2025" and tokens[1] == "Feb" for tokens in opened)
    assert {tokens[11] for tokens in opened} >= {"acmehealth", "devuser"}
    assert (demo / "cdr" / "sftp_log" / "cumulative.log").read_text().startswith("2025-01-")


# ---------------------------------------------------------------------------------------------
# The demo scripts against the seeded database
# ---------------------------------------------------------------------------------------------


def script_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(demo_env(root))
    env["CDR_DEMO_STEP_SECONDS"] = "0"
    return env


def test_demo_batch_script_completes_its_row(tmp_path: Path) -> None:
    seed_demo(tmp_path, today=TODAY)
    engine = create_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    try:
        with engine.begin() as conn:
            job = conn.execute(
                text("SELECT id, command FROM batch_job WHERE name = 'Glossary Term Search'")
            ).one()
            assert claim_batch_job(conn, job.id)  # what the queue sensor does first
        done = subprocess.run(
            [sys.executable, str(tmp_path / "cdr" / job.command), str(job.id)],
            env=script_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, progress FROM batch_job WHERE id = :id"), {"id": job.id}
            ).one()
    finally:
        engine.dispose()
    assert row.status == "Completed"
    assert f"GlossaryTermSearch-{job.id}.html" in row.progress
    assert (tmp_path / "cdr" / "reports" / f"GlossaryTermSearch-{job.id}.html").is_file()
    mail = list((tmp_path / "outbox").glob("*.eml"))
    assert len(mail) == 1 and b"Report results - Glossary Term Search" in mail[0].read_bytes()


def test_failing_demo_script_aborts_its_row(tmp_path: Path) -> None:
    seed_demo(tmp_path, today=TODAY)
    engine = create_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    try:
        with engine.begin() as conn:
            job = conn.execute(
                text("SELECT id, command FROM batch_job WHERE name = 'Citations In Summaries'")
            ).one()
            assert claim_batch_job(conn, job.id)
        done = subprocess.run(
            [sys.executable, str(tmp_path / "cdr" / job.command), str(job.id)],
            env=script_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, progress FROM batch_job WHERE id = :id"), {"id": job.id}
            ).one()
    finally:
        engine.dispose()
    assert done.returncode == 1
    assert "fails on purpose" in done.stderr
    assert row.status == "Aborted" and row.progress.startswith("Failure:")


def test_demo_publish_script_runs_a_ready_export(tmp_path: Path) -> None:
    seed_demo(tmp_path, today=TODAY)
    engine = create_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    try:
        with engine.connect() as conn:
            job_id = conn.execute(
                text("SELECT id FROM pub_proc WHERE pub_subset = 'Hotfix-Export'")
            ).scalar_one()
        done = subprocess.run(
            [sys.executable, str(tmp_path / "cdr" / "Publishing" / "Publish.py"), str(job_id)],
            env=script_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM pub_proc WHERE id = :id"), {"id": job_id}
            ).scalar_one()
            push = conn.execute(
                text(
                    "SELECT status FROM pub_proc "
                    "WHERE pub_subset = 'Push_Documents_To_Cancer.Gov_Hotfix-Export'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert (status, push) == ("Success", "Ready")
    assert (tmp_path / "cdr" / "Output" / f"Job{job_id}" / "CDR0000760002.xml").is_file()


def test_demo_publish_script_pushes_a_ready_push_job(tmp_path: Path) -> None:
    """Last night's interim push is Ready; running it moves 44178 version 2 to Cancer.gov."""
    seed_demo(tmp_path, today=TODAY)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "cdr" / "Publishing" / "Publish.py"), "20117"],
        env=script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    try:
        with engine.connect() as conn:
            job = conn.execute(text("SELECT status, messages FROM pub_proc WHERE id = 20117")).one()
            cg = conn.execute(text("SELECT pub_proc, xml FROM pub_proc_cg WHERE id = 44178")).one()
    finally:
        engine.dispose()
    assert job.status == "Success" and "Pushed 1 documents" in job.messages
    assert cg.pub_proc == 20117
    assert parse_xml(cg.xml).tag == "GlossaryTerm"  # still the exported form


# ---------------------------------------------------------------------------------------------
# Idempotence, --force, no half-built database, the command line
# ---------------------------------------------------------------------------------------------


def test_seeding_twice_leaves_the_demo_alone_and_force_rebuilds(tmp_path: Path) -> None:
    first = seed_demo(tmp_path, today=TODAY)
    assert "seeded now" in first
    database = tmp_path / "cdr.db"
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE batch_job SET status = 'Completed'"))
            (tmp_path / "outbox" / "note.eml").write_text("kept")
        again = seed_demo(tmp_path, today=TODAY)
        assert "already seeded" in again
        assert (tmp_path / "outbox" / "note.eml").exists()
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM batch_job WHERE status = 'Queued'")
                ).scalar_one()
                == 0
            )
        engine.dispose()
        rebuilt = seed_demo(tmp_path, force=True, today=TODAY)
        assert "seeded now" in rebuilt
        assert not (tmp_path / "outbox" / "note.eml").exists()
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM batch_job WHERE status = 'Queued'")
                ).scalar_one()
                == 2
            )
    finally:
        engine.dispose()


def test_a_failed_build_leaves_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> dict[str, int]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(seed_module, "load_database", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        seed_demo(tmp_path, today=TODAY)
    assert not (tmp_path / "cdr.db").exists()
    assert not list(tmp_path.glob(".cdr.db.*"))
    monkeypatch.undo()
    assert "seeded now" in seed_demo(tmp_path, today=TODAY)


def test_a_directory_the_seeder_did_not_make_is_never_cleared(tmp_path: Path) -> None:
    keep = tmp_path / "cdr" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("mine")
    with pytest.raises(seed_module.DemoDirectoryError, match="not made by cdr-dagster"):
        seed_demo(tmp_path, force=True, today=TODAY)
    assert keep.read_text() == "mine"
    assert not (tmp_path / "cdr.db").exists()


def test_summary_lists_tables_and_folders(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cdr_dagster.cli import main

    assert main(["seed-demo", str(demo)]) == 0
    out = capsys.readouterr().out
    assert "already seeded" in out
    for word in ("all_docs", "query_term_pub", "pub_proc", "batch_job", "ctl", "usr"):
        assert f"  {word} " in out
    for folder in ("cdr", "outbox", "sftp", "es-dump", "sweep", "dagster_home"):
        assert str(demo / folder) in out


def test_the_demo_content_also_loads_into_postgresql(cdr_db: Engine, tmp_path: Path) -> None:
    """The same rows fit the PostgreSQL schema (and every statement compiles for SQL Server)."""
    from cdr_dagster.demo.database import load_database

    now = datetime.combine(TODAY, datetime.min.time().replace(hour=9))
    folders = {name: str(tmp_path / name) for name in seed_module.FOLDERS}
    files = DataFiles(now=now, folders=folders)
    documents = load_documents(files)
    plan = plan_publishing(files.json("publishing.json")["jobs"], documents)
    with cdr_db.begin() as conn:
        counts = load_database(conn, files, documents, plan)
    assert counts["all_docs"] == len(documents)
    assert count(cdr_db, schema.query_term_pub) == counts["query_term_pub"] > 100
    with cdr_db.connect() as conn:
        assert control_value(conn, "PUBLISHING", "NUMPROCS") == "4"  # case-insensitive


def test_data_files_parse(tmp_path: Path) -> None:
    """Every bundle parses and every document has XML whose root matches its type."""
    files = DataFiles(now=datetime(2025, 3, 12, 9), folders={"sweep": "/s", "cdr": "/c"})
    roots = {
        "GlossaryTermName",
        "GlossaryTermConcept",
        "Term",
        "DrugInformationSummary",
        "Summary",
        "Media",
        "Licensee",
        "Organization",
        "Person",
        "PDQBoardMemberInfo",
        "SweepSpecifications",
        "PublishingSystem",
    }
    for document in load_documents(files):
        assert etree.QName(document.root).localname == document.doc_type
        assert document.doc_type in roots


def test_the_demo_documents_validate_against_the_demo_schemas(tmp_path: Path) -> None:
    """Every document and version of a type with a demo schema validates, so the demo's
    live saves (link removal, Licensee expiry, recording expiry) are not refused."""
    from sqlalchemy import create_engine, select

    from cdr_dagster.cdr.schema import all_doc_versions, all_docs, doc_type
    from cdr_dagster.cdr.validation import SchemaCache
    from cdr_dagster.cdr.xml import parse_xml
    from cdr_dagster.demo.database import DEMO_SCHEMAS
    from cdr_dagster.demo.seed import seed_demo

    demo = tmp_path / "demo"
    seed_demo(demo)
    types = [name for name in DEMO_SCHEMAS.values() if name]
    schemas = SchemaCache()
    engine = create_engine(f"sqlite:///{demo / 'cdr.db'}")
    checked, invalid = 0, []
    with engine.connect() as conn:
        for table in (all_docs, all_doc_versions):
            rows = conn.execute(
                select(table.c.id, table.c.xml, doc_type.c.name)
                .join(doc_type, doc_type.c.id == table.c.doc_type)
                .where(doc_type.c.name.in_(types))
            ).all()
            for row in rows:
                checked += 1
                result = schemas.validate(conn, row.name, parse_xml(row.xml))
                if not result.valid:
                    invalid.append((table.name, row.id, result.first_error))
    engine.dispose()
    assert checked > 50, f"only {checked} documents were checked"
    assert invalid == [], f"demo documents that do not validate: {invalid}"
