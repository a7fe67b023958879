"""scheduled_job_admin_sensor: the CDR admin page's scheduled rows start and stop schedules.

Rows go into the real ``scheduled_job`` table on PostgreSQL. The sensor of the real code
location (``cdr_dagster.definitions``, with the shipped ``schedules.yaml``) is evaluated on a
real temporary Dagster instance, with the code location origin the daemon would give it (a
``SensorEvaluationContext`` built like ``build_sensor_context`` builds it, plus that origin).
What it did is read back as the webserver reads it: through the loaded code location's
remote schedules and sensors and the instance's stored instigator state. Mail goes to the
test SMTP server.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from sqlalchemy import update
from sqlalchemy.engine import Engine

from cdr_dagster.admin_page_sensor import ADMIN_SENSOR_NAME
from cdr_dagster.cdr.schema import scheduled_job
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.cdr_rows import add_scheduled_job, developers_email

HOOVER_SCHEDULE = {"hour": "22", "minute": "30"}  # sweep_files_nightly: "30 22 * * *"


@pytest.fixture(scope="module")
def code_location() -> Iterator[tuple[Any, Any, InProcessCodeLocationOrigin]]:
    """The real code location: its repository definition, its remote repository, its origin."""
    import cdr_dagster.definitions as definitions

    origin = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable, module_name="cdr_dagster.definitions"
        ),
        location_name="cdr_dagster",
    )
    with dg.instance_for_test() as scratch:
        location = origin.create_location(scratch)
        repository_def = definitions.defs.get_repository_def()
        yield repository_def, location.get_repository(repository_def.name), origin


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def resources(cdr_db: Engine, mailbox) -> dict[str, Any]:  # noqa: ANN001
    email = developers_email(cdr_db, mailbox)
    return {
        "cdr_db": CdrDatabaseResource(url=cdr_db.url.render_as_string(hide_password=False)),
        "email": email,
    }


class AdminPage:
    """The admin page as an operator uses it (rows in scheduled_job) and the sensor's ticks."""

    def __init__(self, engine: Engine, instance: dg.DagsterInstance, code_location: Any) -> None:
        self.engine = engine
        self.instance = instance
        self.repository_def, self.remote_repository, self.origin = code_location
        self.sensor = self.repository_def.get_sensor_def(ADMIN_SENSOR_NAME)
        self.cursor: str | None = None

    def add(
        self, name: str, job_class: str, schedule: dict, opts: dict | None = None, enabled=True
    ) -> str:
        return add_scheduled_job(self.engine, name, job_class, opts or {}, schedule, enabled)

    def edit(self, row_id: str, **values: Any) -> None:
        if "schedule" in values:
            values["schedule"] = json.dumps(values["schedule"])
        if "opts" in values:
            values["opts"] = json.dumps(values["opts"])
        with self.engine.begin() as conn:
            conn.execute(
                update(scheduled_job).where(scheduled_job.c.id == uuid.UUID(row_id)).values(values)
            )

    def tick(self, resources: dict[str, Any]) -> Any:
        with dg.SensorEvaluationContext(
            instance_ref=None,
            cursor=self.cursor,
            repository_name=self.repository_def.name,
            repository_def=self.repository_def,
            instance=self.instance,
            sensor_name=ADMIN_SENSOR_NAME,
            resources=resources,
            code_location_origin=self.origin,
        ) as context:
            result = self.sensor.evaluate_tick(context)
        assert not result.run_requests, "the admin sensor never requests runs"
        self.cursor = result.cursor
        return result

    def running(self, kind: str, name: str) -> bool:
        """Whether the UI would show schedule/sensor ``name`` as running."""
        remote = (
            self.remote_repository.get_schedule(name)
            if kind == "schedule"
            else self.remote_repository.get_sensor(name)
        )
        stored = self.instance.get_instigator_state(
            remote.get_remote_origin_id(), remote.selector_id
        )
        return remote.get_current_instigator_state(stored).is_running


@pytest.fixture
def page(cdr_db: Engine, instance: dg.DagsterInstance, code_location: Any) -> AdminPage:
    return AdminPage(cdr_db, instance, code_location)


def mails(mailbox) -> list[tuple[str, str]]:  # noqa: ANN001
    return [
        (m.message["Subject"], m.message.get_body(("plain",)).get_content())
        for m in mailbox.messages
    ]


def test_enable_and_disable_start_and_stop_the_schedule(page: AdminPage, resources, mailbox):
    hoover = page.add("Hoover", "file_sweeper_task.FileSweeper", HOOVER_SCHEDULE)
    assert page.running("schedule", "sweep_files_nightly"), "RUNNING by default on DEV"

    first = page.tick(resources)
    assert "1 scheduled row(s) recorded" in (first.skip_message or "")

    page.edit(hoover, enabled=False)
    page.tick(resources)
    assert not page.running("schedule", "sweep_files_nightly"), "disabling did not stop it"
    page.tick(resources)
    assert not page.running("schedule", "sweep_files_nightly"), "a later tick started it again"

    page.edit(hoover, enabled=True)
    page.tick(resources)
    assert page.running("schedule", "sweep_files_nightly"), "enabling did not start it"
    assert mails(mailbox) == [], "a toggle of a matching row needs no mail"
    other = ("nightly_publishing", "weekly_publishing", "glossary_dictionary_nightly")
    assert all(page.running("schedule", name) for name in other), "another schedule changed"


def test_the_first_tick_records_the_table_without_acting(page: AdminPage, resources, mailbox):
    page.add("Hoover", "file_sweeper_task.FileSweeper", HOOVER_SCHEDULE, enabled=False)
    page.add("Check Media Files", "media.Check", {"hour": "1"})

    page.tick(resources)

    assert page.running("schedule", "sweep_files_nightly"), "a deployment replayed a stale row"
    assert mails(mailbox) == [], "standing differences are not edits"


def test_queue_and_health_rows_control_their_sensors(page: AdminPage, resources, mailbox):
    batch = page.add("Batch Job Queue", "batch_job_queue.Sweeper", {"minute": "*/2"})
    health = page.add("Production Server Health Check", "health_check.Monitor", {"minute": "*"})
    page.tick(resources)

    page.edit(batch, enabled=False)
    page.edit(health, enabled=False)
    page.tick(resources)
    assert not page.running("sensor", "batch_job_queue_sensor")
    assert not page.running("sensor", "production_health_sensor")
    assert page.running("sensor", "publishing_queue_sensor"), "an untouched sensor stopped"

    page.edit(batch, enabled=True)
    page.tick(resources)
    assert page.running("sensor", "batch_job_queue_sensor"), "enabling did not start it"
    assert mails(mailbox) == []


def test_a_timing_edit_is_reported_once_naming_row_and_entry(page: AdminPage, resources, mailbox):
    hoover = page.add("Hoover", "file_sweeper_task.FileSweeper", HOOVER_SCHEDULE)
    page.tick(resources)

    page.edit(hoover, schedule={"hour": "21", "minute": "0"})
    page.tick(resources)
    page.tick(resources)
    page.tick(resources)

    got = mails(mailbox)
    assert len(got) == 1, f"expected one notice for one edit, got {len(got)}"
    subject, body = got[0]
    assert "'Hoover'" in subject
    assert "schedules.yaml schedules[" in body and "'sweep_files_nightly'" in body
    assert "cron '0 21 * * *'" in body and "'30 22 * * *'" in body
    assert page.running("schedule", "sweep_files_nightly"), "a timing edit must not stop it"
    remote = page.remote_repository.get_schedule("sweep_files_nightly")
    assert remote.cron_schedule == "30 22 * * *"

    page.edit(hoover, opts={"TestMode": "1"})
    page.tick(resources)
    got = mails(mailbox)
    assert len(got) == 2, "an options edit is a second change: one more notice"
    assert "'test_mode': True" in got[1][1] and "run_config" in got[1][1]

    page.edit(hoover, schedule=HOOVER_SCHEDULE, opts={})
    page.tick(resources)
    assert len(mails(mailbox)) == 2, "an edit back in line with schedules.yaml is no notice"


def test_a_row_without_a_single_entry_is_reported(page: AdminPage, resources, mailbox):
    row = page.add(
        "Translation Queue Summary Nightly",
        "translation_jobs.ReportTask",
        {"hour": "20"},
        {"doctype": "Summary"},
    )
    page.tick(resources)
    schedules = [entry.name for entry in page.repository_def.schedule_defs]
    before = {name: page.running("schedule", name) for name in schedules}

    page.edit(row, enabled=False)
    page.tick(resources)
    page.tick(resources)

    after = {name: page.running("schedule", name) for name in schedules}
    assert after == before, "a row without a single entry must not start or stop anything"
    got = mails(mailbox)
    assert len(got) == 1, f"expected one notice, got {len(got)}"
    body = got[0][1]
    assert "several schedules.yaml entries run translation_queue_reports" in body
    assert "add legacy_name: Translation Queue Summary Nightly" in body
    assert "changes nothing in Dagster" in body
    page.add("Mystery", "nowhere.Job", {"hour": "1"})
    page.tick(resources)
    got = mails(mailbox)
    assert len(got) == 2, "a new row of an unknown class is reported"
    assert "'nowhere.Job' is not a known legacy job class" in got[1][1]


def test_a_notice_whose_mail_failed_is_sent_on_a_later_tick(
    page: AdminPage, resources, mailbox, cdr_db: Engine
):
    hoover = page.add("Hoover", "file_sweeper_task.FileSweeper", HOOVER_SCHEDULE)
    page.tick(resources)
    page.edit(hoover, schedule={"hour": "3"})
    broken = dict(resources)
    broken["email"] = EmailResource(
        tier="DEV", smtp_host="127.0.0.1", smtp_port=9, cdr_db=resources["cdr_db"]
    )

    result = page.tick(broken)
    assert "1 notice(s) wait for mail" in (result.skip_message or "")
    assert mails(mailbox) == []

    page.tick(resources)
    page.tick(resources)
    assert len(mails(mailbox)) == 1, "the kept notice must go out exactly once"


def test_rows_match_entries_deterministically(tmp_path) -> None:  # noqa: ANN001
    """legacy_name first (narrowed by the job the class and options choose), else the only
    entry running that job; several or none is a NoMatchError that says what to do."""
    from cdr_dagster.legacy.admin_page import NoMatchError, match_row
    from cdr_dagster.schedules import read_schedule_table

    path = tmp_path / "schedules.yaml"
    path.write_text(
        """
schedules:
  - {name: weekly, job: weekly_publishing, cron: "0 1 * * 6", tiers: [], description: d,
     legacy_name: Publishing}
  - {name: nightly, job: nightly_publishing, cron: "0 2 * * 1", tiers: [], description: d,
     legacy_name: Publishing}
  - {name: drugs, job: drug_dictionary_job, cron: "0 3 * * *", tiers: [], description: d}
  - {name: media_a, job: check_media, cron: "0 4 * * *", tiers: [], description: d}
  - {name: media_b, job: check_media, cron: "0 5 * * *", tiers: [], description: d}
"""
    )
    table = read_schedule_table(path)
    publishing = "publishing_task.PublishingTask"
    assert match_row("Publishing", publishing, {"schedule": "nightly"}, table).name == "nightly"
    assert match_row(" Publishing ", publishing, {"schedule": "weekly"}, table).name == "weekly"
    with pytest.raises(NoMatchError, match="several entries have legacy_name 'Publishing'"):
        match_row("Publishing", publishing, {}, table)
    drugs = match_row("Any name", "dictionary_api_loader.Loader", {"dictionary": "drugs"}, table)
    assert (drugs.name, drugs.rule) == ("drugs", "only entry running drug_dictionary_job")
    with pytest.raises(NoMatchError, match="no schedules.yaml entry runs glossary_dictionary_job"):
        match_row("Glossary", "dictionary_api_loader.Loader", {"dictionary": "glossary"}, table)
    with pytest.raises(NoMatchError, match="add legacy_name: Media to the entry"):
        match_row("Media", "media.Check", {}, table)
    queue = match_row("Whatever", "publishing_queue.Sweeper", {}, table)
    assert (queue.kind, queue.name) == ("sensor", "publishing_queue_sensor")


def test_every_shipped_schedule_and_sensor_can_be_stopped_and_started(page: AdminPage) -> None:
    """What set_running changes is the state the loaded code location (the UI) shows, for
    every schedule of schedules.yaml (partitioned ones included) and every sensor."""
    from cdr_dagster.admin_page_sensor import set_running

    context = dg.SensorEvaluationContext(
        instance_ref=None,
        repository_name=page.repository_def.name,
        repository_def=page.repository_def,
        instance=page.instance,
        code_location_origin=page.origin,
    )
    instigators = [("schedule", s.name) for s in page.repository_def.schedule_defs] + [
        ("sensor", s.name) for s in page.repository_def.sensor_defs
    ]
    wrong = []
    for kind, name in instigators:
        for running in (False, True, False):
            set_running(context, kind, name, running)
            if page.running(kind, name) != running:
                wrong.append((kind, name, running))
    assert not wrong, f"state not as set: {wrong}"
    assert len(instigators) > 30, "the code location's schedules and sensors were not all seen"
    with pytest.raises(ValueError, match="schedule 'no_such_schedule' is not in this code"):
        set_running(context, "schedule", "no_such_schedule", True)
