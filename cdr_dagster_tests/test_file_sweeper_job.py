"""``sweep_files`` through Dagster: the SweepSpecifications document in PostgreSQL, real trees,
mail through the SMTP server, the lock file, and the meeting-recording rule's database changes.

The job reads the real clock, so file ages here are set relative to the reference time of the
moment the test runs (with margins of days). No postponed annotations: Dagster reads hints.
"""

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import schema
from cdr_dagster.jobs.file_sweeper import SweepFilesConfig, sweep_files_job
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.sweeper.lock import LOCK_FILE_NAME
from cdr_dagster.sweeper.spec import reference_time
from cdr_dagster_tests.cdr_rows import (
    add_actions,
    add_doc_types,
    add_group_members,
    add_version_row,
    user_ids,
)
from cdr_dagster_tests.queue_fixtures import (
    checked_resource,
    job_resources,
    op_metadata,
)
from cdr_dagster_tests.test_file_sweeper_helpers import TZ, document, listing, rule_xml

DAY = 86400
GROUP = "FileSweeper Error Notification"


def age(days: float) -> float:
    return reference_time(time.time(), TZ) - days * DAY - 3600


def aged_file(path: Path, days: float, size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    os.utime(path, (age(days), age(days)))
    return path


@pytest.fixture
def basedir(tmp_path: Path) -> Path:
    path = tmp_path / "cdr"
    (path / "Log").mkdir(parents=True)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "sweep"
    path.mkdir()
    return path


@pytest.fixture
def resources(cdr_db: Engine, mailbox, basedir: Path) -> dict[str, object]:
    return job_resources(cdr_db, mailbox, basedir)


@pytest.fixture
def cdr_rows(cdr_db: Engine) -> dict[str, int]:
    """Document types, actions, the FileSweeper account and the error group."""
    add_group_members(cdr_db, GROUP, [("rbaker", "rbaker@example.gov", False)])
    with cdr_db.begin() as conn:
        ids = add_doc_types(conn, ("SweepSpecifications", "Media"))
        ids |= add_actions(conn, ("ADD DOCUMENT", "MODIFY DOCUMENT"))
        ids |= user_ids(conn, ("FileSweeper", "mlee"))
    return ids


def add_sweep_document(
    engine: Engine, rows: dict[str, int], doc_id: int, versions: list[tuple[str, str]]
) -> None:
    """A SweepSpecifications document with versions given as (val_status, xml)."""
    when = datetime(2024, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.all_docs).values(
                id=doc_id,
                doc_type=rows["SweepSpecifications"],
                title="Sweep rules",
                xml=versions[-1][1],
                val_status="V",
                active_status="A",
            )
        )
        for num, (status, xml) in enumerate(versions, 1):
            conn.execute(
                insert(schema.all_doc_versions).values(
                    id=doc_id,
                    num=num,
                    dt=when,
                    updated_dt=when,
                    usr=rows["mlee"],
                    val_status=status,
                    publishable="N",
                    doc_type=rows["SweepSpecifications"],
                    title="Sweep rules",
                    xml=xml,
                )
            )


def run(resources, instance=None, **config):
    return sweep_files_job.execute_in_process(
        run_config=dg.RunConfig(ops={"sweep_files_op": SweepFilesConfig(**config)}),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def failure(result: dg.ExecuteInProcessResult) -> str:
    data = result.get_step_failure_events()[0].step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def archive_rule(root: Path, out: Path) -> str:
    return rule_xml(
        "Old logs", "Archive", root, ["*.log"], output=out / "Logs", Oldest=120, Youngest=90
    )


def test_the_latest_valid_version_of_the_cdr_document_drives_a_live_sweep(
    resources, cdr_db: Engine, cdr_rows, root: Path, tmp_path: Path, basedir: Path, mailbox
) -> None:
    out = tmp_path / "archives"
    aged_file(root / "a.log", 130)
    aged_file(root / "b.log", 100)
    aged_file(root / "c.log", 10)
    older = document(rule_xml("Everything", "Delete", root, ["*"], Youngest=1))
    newest_valid = document(archive_rule(root, out))
    invalid = document(rule_xml("Everything", "Delete", root, ["*"], Youngest=1))
    add_sweep_document(
        cdr_db, cdr_rows, 792672, [("V", older), ("V", newest_valid), ("I", invalid)]
    )

    result = run(resources)

    assert result.success, failure(result)
    assert sorted(os.listdir(root)) == ["c.log"]
    [archive] = out.iterdir()
    assert archive.name.endswith(".tar.bz2") and archive.name.startswith("Logs.")
    metadata = op_metadata(result)
    assert metadata["configuration"] == "CDR0000792672 version 2"
    assert metadata["files_deleted"] == 2 and metadata["archives_written"] == 1
    assert metadata["archives"] == [str(archive)]
    assert "| Old logs | Archive | done | 3 | 2 |" in metadata["report"]
    assert mailbox.messages == []  # a clean sweep mails nobody, as the legacy
    assert not (basedir / "Log" / LOCK_FILE_NAME).exists()


def test_a_config_file_is_used_without_consulting_the_cdr(
    mailbox, basedir: Path, root: Path, tmp_path: Path
) -> None:
    aged_file(root / "a.log", 40)
    rules = basedir / "rules.xml"
    rules.write_text(document(rule_xml("Logs", "Delete", root, ["*.log"], Youngest=7)))
    unreachable = checked_resource("postgresql://nobody@127.0.0.1:1/none")
    resources = {
        "cdr_db": unreachable,
        "email": EmailResource(tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port),
        "commands": CommandRunnerResource(basedir=str(basedir)),
    }
    result = run(resources, config_file="rules.xml")  # relative: below CDR_BASEDIR
    assert result.success, failure(result)
    assert not (root / "a.log").exists()
    assert op_metadata(result)["configuration"] == str(rules)


def test_an_invalid_rule_is_fatal_before_anything_is_touched(
    resources, cdr_db: Engine, cdr_rows, root: Path, tmp_path: Path, basedir: Path, mailbox
) -> None:
    aged_file(root / "a.log", 130)
    aged_file(root / "b.log", 100)
    good = rule_xml("Fine", "Delete", root, ["*.log"], Youngest=7)
    bad = rule_xml("Prod archive", "Archive", root, ["*"], tiers="PROD", output="x", Oldest=120)
    add_sweep_document(cdr_db, cdr_rows, 792672, [("V", document(good, bad))])
    before = listing(root)

    result = run(resources)

    assert not result.success
    assert 'SweepSpec 2 "Prod archive" (line 12): Archive needs both' in failure(result)
    assert listing(root) == before
    [mail] = mailbox.messages
    assert mail.message["Subject"] == "FileSweeper failed on DEV tier"
    assert mail.rcpt_tos == ["rbaker@example.gov"]
    assert mail.message["From"] == "FileSweeper-NoRepy@cdr.cancer.gov"
    body = mail.message.get_content()
    assert "The CDR FileSweeper failed on DEV at" in body
    assert "FATAL error: 1 error(s) in CDR0000792672 version 1" in body
    assert not (basedir / "Log" / LOCK_FILE_NAME).exists()


def test_two_sweep_documents_are_fatal_and_mail_the_email_option(
    resources, cdr_db: Engine, cdr_rows, mailbox
) -> None:
    xml = document(rule_xml("R", "Delete", "/cdr/none", ["*"], Youngest=7))
    add_sweep_document(cdr_db, cdr_rows, 10, [("V", xml)])
    add_sweep_document(cdr_db, cdr_rows, 11, [("V", xml)])
    result = run(resources, email="ops@example.gov")
    assert not result.success
    assert "More than one SweepSpecifications document found" in failure(result)
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["ops@example.gov"]


def test_a_held_lock_is_fatal_and_left_alone_until_broken(
    resources, cdr_db: Engine, cdr_rows, root: Path, basedir: Path, mailbox
) -> None:
    aged_file(root / "a.log", 40)
    add_sweep_document(
        cdr_db, cdr_rows, 5, [("V", document(rule_xml("L", "Delete", root, ["*"], Youngest=7)))]
    )
    lock = basedir / "Log" / LOCK_FILE_NAME
    lock.write_text("")  # as the legacy left it: empty

    with dg.instance_for_test() as instance:
        result = run(resources, instance)
        assert not result.success
        assert "another copy of FileSweeper is currently running" in failure(result)
        assert str(lock) in failure(result)
        assert lock.exists() and (root / "a.log").exists()
        assert mailbox.messages[0].message["Subject"] == "FileSweeper failed on DEV tier"

        result = run(resources, instance, break_lock=True)
        assert result.success, failure(result)
        assert not lock.exists() and not (root / "a.log").exists()


def test_break_lock_is_refused_while_another_sweep_run_is_in_progress(
    resources, cdr_db: Engine, cdr_rows, root: Path, basedir: Path
) -> None:
    aged_file(root / "a.log", 40)
    add_sweep_document(
        cdr_db, cdr_rows, 5, [("V", document(rule_xml("L", "Delete", root, ["*"], Youngest=7)))]
    )
    lock = basedir / "Log" / LOCK_FILE_NAME
    lock.write_text("taken by a live run")
    with dg.instance_for_test() as instance:
        other = instance.create_run_for_job(sweep_files_job, run_config={})
        instance.handle_run_event(
            other.run_id,
            dg.DagsterEvent(
                event_type_value="PIPELINE_START", job_name="sweep_files", message="started"
            ),
        )
        assert instance.get_run_by_id(other.run_id).status == dg.DagsterRunStatus.STARTED
        result = run(resources, instance, break_lock=True)
    assert not result.success
    assert f"break_lock refused: sweep_files run {other.run_id} may hold the lock" in failure(
        result
    )
    assert lock.read_text() == "taken by a live run"
    assert (root / "a.log").exists()


def started_sweep_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    """A sweep_files run the instance believes STARTED (as a run whose worker was killed)."""
    other = instance.create_run_for_job(sweep_files_job, run_config={})
    instance.handle_run_event(
        other.run_id,
        dg.DagsterEvent(event_type_value="PIPELINE_START", job_name="sweep_files", message="x"),
    )
    return other


_TAKE_LOCK = """
import os, sys, time
from cdr_dagster.sweeper.lock import SweepLock
SweepLock(sys.argv[1]).acquire(owner="dagster run " + sys.argv[2])
print("taken", flush=True)
if sys.argv[3] == "die":
    os._exit(0)  # as a killed sweep: the lock file stays
time.sleep(120)
"""


def take_lock_in_a_process(lock: Path, run_id: str, die: bool) -> subprocess.Popen:
    """A real process that takes the sweep lock for ``run_id``, then dies or stays alive."""
    process = subprocess.Popen(
        [sys.executable, "-c", _TAKE_LOCK, str(lock), run_id, "die" if die else "live"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "taken"
    return process


def test_break_lock_removes_a_lock_whose_process_died_while_its_run_still_looks_started(
    resources, cdr_db: Engine, cdr_rows, root: Path, basedir: Path
) -> None:
    """The lock mail recommends break_lock: it works as soon as the holder is gone, before run
    monitoring has failed the dead holder's run."""
    aged_file(root / "a.log", 40)
    add_sweep_document(
        cdr_db, cdr_rows, 5, [("V", document(rule_xml("L", "Delete", root, ["*"], Youngest=7)))]
    )
    lock = basedir / "Log" / LOCK_FILE_NAME
    with dg.instance_for_test() as instance:
        dead = started_sweep_run(instance)
        take_lock_in_a_process(lock, dead.run_id, die=True).wait(timeout=30)
        assert lock.exists(), "the dead sweep should have left its lock file"

        refused = run(resources, instance)
        assert not refused.success and lock.exists(), "without break_lock the lock is fatal"
        result = run(resources, instance, break_lock=True)

    assert result.success, failure(result)
    assert not lock.exists(), "break_lock left the dead sweep's lock file"
    assert not (root / "a.log").exists(), "the sweep after break_lock did not sweep"


def test_break_lock_is_refused_while_the_process_holding_the_lock_lives(
    resources, cdr_db: Engine, cdr_rows, root: Path, basedir: Path
) -> None:
    aged_file(root / "a.log", 40)
    add_sweep_document(
        cdr_db, cdr_rows, 5, [("V", document(rule_xml("L", "Delete", root, ["*"], Youngest=7)))]
    )
    lock = basedir / "Log" / LOCK_FILE_NAME
    with dg.instance_for_test() as instance:
        holder_run = started_sweep_run(instance)
        holder = take_lock_in_a_process(lock, holder_run.run_id, die=False)
        try:
            result = run(resources, instance, break_lock=True)
        finally:
            holder.kill()
            holder.wait()

    assert not result.success
    assert f"break_lock refused: process {holder.pid} on " in failure(result)
    assert f"(dagster run {holder_run.run_id}) holds the lock" in failure(result)
    assert lock.exists() and (root / "a.log").exists()


def test_test_mode_changes_nothing_on_disk_or_in_the_database(
    resources, cdr_db: Engine, cdr_rows, root: Path, tmp_path: Path, mailbox
) -> None:
    out = tmp_path / "archives"
    aged_file(root / "a.log", 130)
    aged_file(root / "b.log", 100)
    aged_file(root / "big.txt", 1, 5000)
    old = add_recording(cdr_db, cdr_rows, 801200, days=100)
    xml = document(
        archive_rule(root, out),
        rule_xml(
            "Trunc", "TruncateArchive", root, ["big.txt"], output=out / "T", Biggest=10, Smallest=5
        ),
        rule_xml("Rec", "Custom", None, custom="expireMeetingRecordings", Oldest=90),
    )
    add_sweep_document(cdr_db, cdr_rows, 5, [("V", xml)])
    before = listing(root)
    tables = database_state(cdr_db)

    result = run(resources, test_mode=True)

    assert result.success, failure(result)
    assert listing(root) == before and not out.exists()
    assert database_state(cdr_db) == tables
    metadata = op_metadata(result)
    assert metadata["test_mode"] is True
    assert metadata["files_deleted"] == 2 and metadata["files_truncated"] == 1
    assert metadata["recordings_expired"] == 1
    assert "What a live run would do" in metadata["report"]
    assert f"CDR{old:010d}" in metadata["report"]
    assert mailbox.messages == []


# --- meeting recordings ---------------------------------------------------------------------


def add_recording(
    engine: Engine, rows: dict[str, int], doc_id: int, days: int, category="meeting recording"
) -> int:
    """A Media document added ``days`` ago with a blob on the document and two versions."""
    added = datetime.now().replace(microsecond=0) - timedelta(days=days)
    xml = (
        "<Media><MediaTitle>Board meeting</MediaTitle><MediaContent><Categories>"
        f"<Category>{category}</Category></Categories></MediaContent></Media>"
    )
    with engine.begin() as conn:
        conn.execute(
            insert(schema.all_docs).values(
                id=doc_id, doc_type=rows["Media"], title=f"Recording {doc_id}", xml=xml
            )
        )
        blob = conn.execute(
            insert(schema.doc_blob).values(data=b"ID3 audio").returning(schema.doc_blob.c.id)
        ).scalar_one()
        conn.execute(insert(schema.doc_blob_usage).values(doc_id=doc_id, blob_id=blob))
        for num in (1, 2):
            add_version_row(
                conn,
                doc_id,
                num,
                when=added,
                user=rows["mlee"],
                doc_type=rows["Media"],
                title=f"Recording {doc_id}",
                xml=xml,
            )
            conn.execute(
                insert(schema.version_blob_usage).values(
                    doc_id=doc_id, doc_version=num, blob_id=blob
                )
            )
        conn.execute(
            insert(schema.query_term).values(
                doc_id=doc_id,
                path="/Media/MediaContent/Categories/Category",
                value=category,
                node_loc="000001000001000001",
            )
        )
        conn.execute(
            insert(schema.audit_trail).values(
                document=doc_id, dt=added, usr=rows["mlee"], action=rows["ADD DOCUMENT"]
            )
        )
    return doc_id


def database_state(engine: Engine) -> dict[str, list]:
    names = (
        "all_docs",
        "all_doc_versions",
        "doc_blob",
        "doc_blob_usage",
        "version_blob_usage",
        "audit_trail",
        "checkout",
    )
    with engine.connect() as conn:
        return {
            name: sorted(
                map(tuple, conn.execute(select(schema.metadata.tables[name])).all()), key=repr
            )
            for name in names
        }


def test_meeting_recordings_past_oldest_lose_their_blobs_and_are_checked_in(
    resources, cdr_db: Engine, cdr_rows, mailbox
) -> None:
    old = add_recording(cdr_db, cdr_rows, 801200, days=100)
    young = add_recording(cdr_db, cdr_rows, 801201, days=80)
    other = add_recording(cdr_db, cdr_rows, 801202, days=100, category="pronunciation")
    locked = add_recording(cdr_db, cdr_rows, 801203, days=100)
    with cdr_db.begin() as conn:
        conn.execute(
            insert(schema.checkout).values(
                id=locked, dt_out=datetime(2024, 1, 1), usr=cdr_rows["mlee"]
            )
        )
    xml = document(rule_xml("Rec", "Custom", None, custom="expireMeetingRecordings", Oldest=90))
    add_sweep_document(cdr_db, cdr_rows, 5, [("V", xml)])

    result = run(resources)

    assert result.success, failure(result)
    with cdr_db.connect() as conn:
        blob_docs = set(conn.execute(select(schema.doc_blob_usage.c.doc_id)).scalars())
        version_docs = set(conn.execute(select(schema.version_blob_usage.c.doc_id)).scalars())
        assert blob_docs == version_docs == {young, other, locked}
        assert conn.execute(select(schema.doc_blob)).rowcount != 0
        assert len(conn.execute(select(schema.doc_blob.c.id)).all()) == 3
        saved = conn.execute(
            select(schema.all_docs.c.xml, schema.all_docs.c.comment).where(
                schema.all_docs.c.id == old
            )
        ).one()
        assert saved.comment == "Removed meeting recording blobs"
        assert saved.xml.endswith(
            f'<Comment audience="Internal" user="FileSweeper" date="{datetime.now(TZ).date()}">'
            "Removed meeting recording object after expiration</Comment></Media>"
        )
        audit = conn.execute(
            select(schema.audit_trail.c.comment, schema.audit_trail.c.usr).where(
                schema.audit_trail.c.document == old,
                schema.audit_trail.c.action == cdr_rows["MODIFY DOCUMENT"],
            )
        ).one()
        assert audit == ("Removed meeting recording blobs", cdr_rows["FileSweeper"])
        open_checkouts = (
            conn.execute(select(schema.checkout.c.id).where(schema.checkout.c.dt_in.is_(None)))
            .scalars()
            .all()
        )
        assert open_checkouts == [locked]  # only the user's own lock; the sweeper left none
        versions = (
            conn.execute(
                select(schema.all_doc_versions.c.num).where(schema.all_doc_versions.c.id == old)
            )
            .scalars()
            .all()
        )
        assert sorted(versions) == [1, 2]  # not versioned, as the legacy save
    metadata = op_metadata(result)
    assert metadata["recordings_expired"] == 1
    [mail] = mailbox.messages  # the skipped document is a problem worth a report
    assert mail.message["Subject"] == "[DEV] FileSweeper report"
    assert f"CDR{locked:010d} is checked out by mlee; skipped" in mail.message.get_content()


# --- the demo -------------------------------------------------------------------------------


def test_the_demo_sweep_rules_run_against_the_seeded_sqlite_demo(tmp_path: Path) -> None:
    from cdr_dagster.demo.seed import seed_demo
    from cdr_dagster.resources.cdr_db import CdrDatabaseResource

    demo = tmp_path / "demo"
    seed_demo(demo)
    cdr = CdrDatabaseResource(url=f"sqlite:///{demo / 'cdr.db'}")
    resources = {
        "cdr_db": cdr,
        "email": EmailResource(tier="DEV", outbox_dir=str(demo / "outbox"), cdr_db=cdr),
        "commands": CommandRunnerResource(basedir=str(demo / "cdr")),
    }
    sweep = demo / "sweep"
    result = run(resources)
    assert result.success, failure(result)
    assert not (sweep / "Log" / "ImportLog-a.txt").exists()
    assert (sweep / "Log" / "ImportLog-c.txt").exists()
    assert (sweep / "Log" / "BatchJobs.log").stat().st_size == 50000
    assert sorted(os.listdir(sweep / "Output")) == ["Job3010"]
    assert len(os.listdir(sweep / "GlobalChange")) == 1
    assert os.listdir(sweep / "reports") == ["gd-english-recent.html"]
    assert len(os.listdir(sweep / "CTGov")) == 1
    archives = sorted(p.name.split(".")[0] for p in (sweep / "Archive").glob("*.tar.bz2"))
    assert archives == ["GlobalChange", "ImportLogs", "LogTruncate", "Reports"]
    metadata = op_metadata(result)
    assert metadata["recordings_expired"] == 1
    import sqlite3

    with sqlite3.connect(demo / "cdr.db") as db:
        left = {row[0] for row in db.execute("SELECT doc_id FROM version_blob_usage")}
    assert 801200 not in left and 801201 in left


# --- the code location ----------------------------------------------------------------------

#: The schedules.yaml entries proposed for these jobs (checked here against the real jobs).
PROPOSED_SCHEDULES = """
schedules:
  - name: sweep_files_nightly
    job: sweep_files
    cron: "30 22 * * *"
    tiers: [DEV, QA, STAGE, PROD]
    description: >-
      Nightly at 22:30: the file sweeper (legacy Hoover, file_sweeper_task.FileSweeper) deletes,
      archives or truncates files as this tier's SweepSpecifications document says and expires
      old board meeting recordings.
    legacy_name: Hoover
    legacy_class: file_sweeper_task.FileSweeper

  - name: check_media_daily
    job: check_media
    cron: "15 6 * * *"
    tiers: [DEV, QA, STAGE, PROD]
    description: >-
      Daily at 06:15, outside publishing windows: compares BASEDIR/akamai/media with the
      published Media documents and mails Developers Notification about any difference (no
      fix, no rsync; launch check_media_fix_and_push to correct and push).
    legacy_class: media.Check

on_demand:
  - name: check_media_fix_and_push
    job: check_media
    description: >-
      Correct the Akamai media set from the published Media documents and push it to Akamai.
    legacy_class: media.Check
    run_config:
      ops:
        check_media_op:
          config:
            fix: true
            rsync: true

  - name: sweep_files_test_mode
    job: sweep_files
    description: Report what tonight's sweep would do; changes nothing.
    legacy_class: file_sweeper_task.FileSweeper
    run_config:
      ops:
        sweep_files_op:
          config:
            test_mode: true
"""


def test_the_jobs_load_in_a_location_with_the_proposed_resources_and_schedules(
    tmp_path: Path,
) -> None:
    from cdr_dagster.jobs.media_check import check_media_job
    from cdr_dagster.resources.akamai import akamai_resource_from_environment
    from cdr_dagster.resources.defaults import build_resources
    from cdr_dagster.schedules import load_schedules
    from cdr_dagster.settings import load_settings

    settings = load_settings({"CDR_TIER": "PROD", "CDR_BASEDIR": "/cdr"})
    path = tmp_path / "schedules.yaml"
    path.write_text(PROPOSED_SCHEDULES)
    jobs = [sweep_files_job, check_media_job]
    schedules = load_schedules(path, {job.name: job for job in jobs}, settings.tier)
    resources = build_resources(settings)
    resources["akamai"] = akamai_resource_from_environment(settings.basedir, settings.tier, {})
    defs = dg.Definitions(jobs=jobs, schedules=schedules, resources=resources)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("sweep_files").tags["cdr/lock"] == "sweep_files"
    op = defs.resolve_job_def("check_media").graph.node_defs[0]
    assert op.name == "check_media_op" and op.pool == "akamai_media"
    assert resources["akamai"].ssh_key_file == "/etc/akamai-pdq-prod"
    assert {s.name for s in schedules} == {"sweep_files_nightly", "check_media_daily"}


def test_the_config_fields_are_the_catalogue_fields() -> None:
    from cdr_dagster.jobs.media_check import CheckMediaConfig
    from cdr_dagster.legacy.catalogue import find_job_class

    for job_class, config, extra in (
        ("file_sweeper_task.FileSweeper", SweepFilesConfig, {"break_lock"}),
        ("media.Check", CheckMediaConfig, set()),
    ):
        entry = find_job_class(job_class)
        fields = {option.field for option in entry.options if option.field}
        assert set(config.model_fields) == fields | extra, job_class
