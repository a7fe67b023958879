"""Legacy scheduled_job export -> schedules.yaml entries (import-schedules), and back (export).

The realistic export (``data/legacy/scheduled_job_export.json``) has rows for every job class of
the catalogue, including the legacy example row. The imported YAML is parsed and loaded:

- the entries whose jobs exist in the code location load with the real jobs;
- every entry loads against stand-in jobs built from the catalogue by its convention
  (``<job>_op`` nodes, ``<asset>_job`` asset jobs, typed Config fields), which checks that the
  catalogue, the importer and the convention agree.

(No ``from __future__ import annotations``: Dagster reads Config annotations at decoration.)
"""

import io
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
import pytest
import yaml

from cdr_dagster import cli
from cdr_dagster.legacy import exporter, importer
from cdr_dagster.legacy.catalogue import (
    CATALOGUE,
    JobClass,
    Kind,
    OptionError,
    convert_options,
    describe,
    find_job_class,
    legacy_options,
)
from cdr_dagster.legacy.cron import apscheduler_to_cron
from cdr_dagster.schedules import SCHEDULES_PATH, load_schedules, read_schedule_table

DATA = Path(__file__).parent / "data" / "legacy"
EXPORT = DATA / "scheduled_job_export.json"
REFUSED = DATA / "scheduled_job_export_refused.json"
SPEC_EXAMPLE = [
    "Automated Testing Job",
    False,
    "test.Stub",
    '{"stooge": "Larry", "pep-boy": "Manny"}',
    '{"hour": "3", "minute": "59"}',
]


def run_import(path: Path, tier: str = "PROD") -> tuple[int, str, str]:
    """Run the importer; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = importer.main(path, out=out, err=err, tier=tier)
    return status, out.getvalue(), err.getvalue()


def entries_by_name(text: str) -> dict[str, dict[str, Any]]:
    """All entries of a schedules.yaml text, keyed by name."""
    document = yaml.safe_load(text)
    return {e["name"]: e for section in ("schedules", "on_demand") for e in document[section]}


# --- stand-in jobs built from the catalogue --------------------------------------------------

_TYPES: dict[Kind, tuple[Any, Any]] = {
    Kind.INT: (int | None, None),
    Kind.FLOAT: (float | None, None),
    Kind.EMAILS: (list[str], []),
    Kind.WORDS: (list[str], []),
    Kind.IDS: (list[int], []),
}


def _config_class(entry: JobClass, name: str) -> type[dg.Config] | None:
    fields: dict[str, Any] = {}
    for option in entry.options or ():
        if option.field is None:
            continue
        if option.kind is Kind.FLAG:
            fields[option.field] = (bool, bool(option.default))
        else:
            fields[option.field] = _TYPES.get(option.kind, (str | None, None))
    if not fields:
        return None
    return pydantic.create_model(f"{name}_config", __base__=dg.Config, **fields)


def _stand_in_asset(name: str, config_class: type[dg.Config] | None) -> dg.AssetsDefinition:
    if config_class is None:

        @dg.asset(name=name)
        def plain_asset() -> dg.MaterializeResult:
            return dg.MaterializeResult()

        return plain_asset

    @dg.asset(name=name)
    def configured_asset(config: config_class) -> dg.MaterializeResult:  # type: ignore[valid-type]
        return dg.MaterializeResult()

    return configured_asset


def _stand_in_op(name: str, config_class: type[dg.Config] | None) -> dg.OpDefinition:
    if config_class is None:

        @dg.op(name=name)
        def plain_op() -> None:
            pass

        return plain_op

    @dg.op(name=name)
    def configured_op(config: config_class) -> None:  # type: ignore[valid-type]
        pass

    return configured_op


def catalogue_jobs() -> tuple[dict[str, Any], list[dg.AssetsDefinition]]:
    """A job (or asset job and asset) per catalogue name, following the convention."""
    from cdr_dagster.jobs.smoke import smoke_test_job

    jobs: dict[str, Any] = {"smoke_test": smoke_test_job}
    assets: list[dg.AssetsDefinition] = []
    for entry in CATALOGUE:
        if entry.options is None or entry.trigger == "sensor":
            continue
        for name in entry.names:
            config_class = _config_class(entry, name)
            if entry.asset:
                asset = _stand_in_asset(entry.node_of(name), config_class)
                assets.append(asset)
                jobs[entry.job_of(name)] = dg.define_asset_job(entry.job_of(name), [asset])
            else:
                op = _stand_in_op(entry.node_of(name), config_class)
                jobs[name] = dg.GraphDefinition(name=name, node_defs=[op]).to_job()
    return jobs, assets


# --- import ----------------------------------------------------------------------------------


def test_import_realistic_export(tmp_path: Path) -> None:
    """Every row of the realistic export is imported; the YAML parses and loads."""
    status, out, err = run_import(EXPORT)
    assert status == 0, err
    document = yaml.safe_load(out)
    entries = entries_by_name(out)
    rows = json.loads(EXPORT.read_text())
    sensors = {"batch_job_queue.Sweeper", "publishing_queue.Sweeper", "health_check.Monitor"}
    assert len(entries) == len([row for row in rows if row[2] not in sensors])
    assert len(document["schedules"]) == 22 and len(document["on_demand"]) == 3

    # Every entry loads against stand-ins that follow the catalogue's convention.
    path = tmp_path / "schedules.yaml"
    path.write_text(out)
    jobs, assets = catalogue_jobs()
    schedules = load_schedules(path, jobs, "PROD", assets=assets)
    assert len(schedules) == 22
    defs = dg.Definitions(
        assets=assets,
        jobs=list(jobs.values()),
        schedules=schedules,
        resources={"commands": dg.ResourceDefinition.none_resource()},
    )
    dg.Definitions.validate_loadable(defs)


def test_imported_entries_whose_jobs_exist_load_with_the_real_jobs(tmp_path: Path) -> None:
    """The entries for jobs the code location has load as they are."""
    from cdr_dagster import definitions

    jobs = {job.name: job for job in definitions.jobs}
    _, out, _ = run_import(EXPORT)
    document = yaml.safe_load(out)
    kept = {
        section: [e for e in document[section] if e["job"] in jobs]
        for section in ("schedules", "on_demand")
    }
    # The list grows as job families land; every entry for an existing job must load.
    assert "automated_testing_job" in [e["name"] for e in kept["schedules"]]
    assert "smoke_test_with_command" in [e["name"] for e in kept["on_demand"]]
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump(kept, sort_keys=False))
    loaded = load_schedules(path, jobs, "PROD", assets=definitions.assets)
    assert len(loaded) == len(kept["schedules"])
    schedule = next(s for s in loaded if s.name == "automated_testing_job")
    with dg.build_schedule_context() as context:
        request = schedule.evaluate_tick(context).run_requests[0]  # type: ignore[index]
    assert request.run_config == {
        "ops": {"smoke_test_op": {"config": {"options": {"stooge": "Larry", "pep-boy": "Manny"}}}}
    }


def test_spec_example_row() -> None:
    """The legacy example row: disabled, so STOPPED everywhere, with a comment saying why."""
    _, out, _ = run_import(EXPORT)
    entry = entries_by_name(out)["automated_testing_job"]
    assert entry["job"] == "smoke_test"
    assert entry["cron"] == "59 3 * * *"
    assert entry["tiers"] == []
    assert entry["legacy_name"] == "Automated Testing Job"
    assert entry["legacy_class"] == "test.Stub"
    assert entry["run_config"]["ops"]["smoke_test_op"]["config"]["options"] == {
        "stooge": "Larry",
        "pep-boy": "Manny",
    }
    block = out.split("- name: automated_testing_job")[0].rsplit("# row", 1)[1]
    assert "disabled (paused) in the legacy table: STOPPED on every tier" in block


def test_enabled_rows_run_on_the_importing_tier() -> None:
    """An enabled row is RUNNING on the tier the export is imported for."""
    _, out, _ = run_import(EXPORT, tier="DEV")
    entries = entries_by_name(out)
    assert entries["hoover"]["tiers"] == ["DEV"]
    assert entries["weekly_publishing"]["tiers"] == ["DEV"]
    assert entries["weekly_publishing"]["cron"] == "0 16 * * 5"
    assert entries["nightly_publishing"]["cron"] == "0 19 * * 1-4"
    assert entries["notify_pdq_data_partners"]["cron"] == "0 15 * * 1"


def test_surprising_legacy_meanings_are_warned_about() -> None:
    """TestMode "False" meant test mode: imported as true, with a warning on stderr and in YAML."""
    _, out, err = run_import(EXPORT)
    entries = entries_by_name(out)
    hoover = entries["hoover"]["run_config"]["ops"]["sweep_files_op"]["config"]
    assert hoover == {"test_mode": True, "output_dir": "d:/cdr/Output/Sweeper"}
    warning = "option 'TestMode': 'False' turned the option ON in the legacy scheduler"
    assert f"row 12 ('Hoover', file_sweeper_task.FileSweeper): {warning}" in err
    assert f"# WARNING: {warning}" in out.split("- name: hoover")[0].rsplit("# row", 1)[1]
    pcib = entries["pcib_statistics_report"]["run_config"]["ops"]["monthly_stats_report_op"]
    assert pcib["config"]["email"] is True
    assert "option 'email': '0' turned the option ON" in err


def test_typed_values() -> None:
    """Lists, selectors, assets and nodes follow the catalogue."""
    _, out, _ = run_import(EXPORT)
    entries = entries_by_name(out)
    media = entries["check_media_files"]
    assert media["job"] == "check_media"
    assert media["run_config"]["ops"]["check_media_op"]["config"] == {
        "recip": ["a@example.gov", "b@example.gov", "c@example.gov"],
        "nolock": True,
    }
    drugs = entries["drug_dictionary_loader"]
    assert drugs["job"] == "drug_dictionary_job"
    assert drugs["run_config"] == {
        "ops": {"drug_dictionary": {"config": {"recips": ["ops@example.gov"]}}}
    }
    assert entries["glossary_dictionary_loader"]["job"] == "glossary_dictionary_job"
    assert "run_config" not in entries["glossary_dictionary_loader"]
    assert entries["dynamic_listing_pages"]["job"] == "trial_listing_info_job"
    assert entries["dynamic_listing_pages"]["cron"] == "0 22 * * *"
    weekly = entries["translation_queue_glossary_weekly"]["run_config"]["ops"]
    assert weekly["translation_queue_reports_op"]["config"] == {
        "doctype": "Glossary",
        "schedule": "weekly",
        "mode": "live",
    }


def test_sensor_rows_become_comments() -> None:
    """The queues and the health check are sensors now: a comment, no entry."""
    _, out, _ = run_import(EXPORT)
    notes = out.split("# Rows replaced by sensors (no entry):")[1]
    assert "'Batch Job Queue', batch_job_queue.Sweeper), enabled" in notes
    assert "replaced by sensor batch_job_queue_sensor -> job run_batch_job" in notes
    assert "sensor publishing_queue_sensor -> job run_publishing_job" in notes
    assert "production_health_sensor -> job notify_production_health; no schedule entry" in notes
    assert 'options {"delay": 30}' in notes
    assert "batch" not in " ".join(entries_by_name(out))


def test_rows_without_schedule_are_on_demand() -> None:
    """NULL and {} schedules give documented on_demand entries with the command to run them."""
    _, out, _ = run_import(EXPORT)
    document = yaml.safe_load(out)
    on_demand = {e["name"]: e for e in document["on_demand"]}
    assert set(on_demand) == {"restart_scheduler", "scheduled_job_list", "smoke_test_with_command"}
    assert "cron" not in on_demand["restart_scheduler"]
    assert on_demand["smoke_test_with_command"]["run_config"] == {
        "ops": {"smoke_test_op": {"config": {"command": "Bin/hello.py --greeting hi"}}}
    }
    assert (
        "# on demand; run it with: dagster job execute -m cdr_dagster.definitions -j "
        "email_schedule_list -c <file with run_config>"
    ) in out
    assert "# or paste the run_config into the Launchpad of job reload_scheduler" in out


def test_refused_rows_are_all_reported_by_row(tmp_path: Path) -> None:
    """Each refused row is named on stderr; the rest is still printed; status 1."""
    status, out, err = run_import(REFUSED)
    assert status == 1
    expected = {
        1: "row 1 ('Last Day Report', licensee_list.ReportTask): day 'last' is the last day",
        2: "row 2 ('First Monday Report', licensee_list.ReportTask): day '1st mon' is a weekday "
        "position",
        3: "row 3 ('Last Friday Report', licensee_list.ReportTask): day 'last fri' is a weekday",
        4: "row 4 ('Day And Weekday', licensee_list.ReportTask): day and day_of_week are both",
        5: "row 5 ('Half Minute', test.Stub): it fires at second(s) 30",
        6: "row 6 ('Jittery', test.Stub): jitter=120",
        7: "row 7 ('Bounded', test.Stub): start_date='2025-01-01'",
        8: "row 8 ('Week Two', test.Stub): week 2: an ISO week number",
        9: "row 9 ('Wrapping Weekdays', test.Stub): APScheduler rejects day_of_week 'fri-mon'",
        10: "row 10 ('Bogus Option', disk_space.Monitor): option 'bogus' is not supported by "
        "disk_space.Monitor (supported: cthreshold, dthreshold, recips)",
        11: "row 11 ('No Such Class', nosuch.Class): unknown job class 'nosuch.Class'",
        12: "row 12 ('Broken Opts'): opts is not valid JSON",
        13: "row 13 ('Partner Mode', data_partners.Notify): option 'mode': 'prod' is not one of "
        "test, live",
        14: "row 14 ('Which Dictionary', dictionary_api_loader.Loader): option 'dictionary' is "
        "'terms'",
    }
    lines = err.splitlines()
    for number, message in expected.items():
        assert any(line.startswith(f"import-schedules: error: {message}") for line in lines), (
            number,
            err,
        )
    assert lines[-1] == "import-schedules: 14 row(s) refused"
    entries = entries_by_name(out)
    assert list(entries) == ["fine_row"]
    assert "#   row 10 ('Bogus Option', disk_space.Monitor): option 'bogus'" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read"),
        ("{not json", "cannot read"),
        ('{"a": 1}', "is not a JSON array of rows"),
    ],
)
def test_unreadable_export(tmp_path: Path, text: str | None, message: str) -> None:
    """A missing or malformed file gives status 2 and a message."""
    path = tmp_path / "export.json"
    if text is not None:
        path.write_text(text)
    status, out, err = run_import(path)
    assert status == 2 and out == ""
    assert message in err


def test_malformed_rows(tmp_path: Path) -> None:
    """Rows of the wrong shape are refused by row number."""
    path = tmp_path / "export.json"
    rows = [["x", True, "test.Stub", "{}"], [5, True, "test.Stub", "{}", None], "row"]
    rows.append(["Y", True, "stub", "{}", None])
    rows.append(["Z", True, "test.Stub", "[1]", None])
    path.write_text(json.dumps(rows))
    status, _, err = run_import(path)
    assert status == 1
    assert "row 1 ('x'): a row must be [name, enabled, job_class, opts, schedule]" in err
    assert "row 2: the name 5 is not a non-empty string" in err
    assert "row 3: a row must be" in err
    assert "row 4 ('Y', stub): job_class must be in the form module.ClassName" in err
    assert "row 5 ('Z'): opts '[1]' is not a JSON object" in err


def test_cli_import_schedules(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cdr-dagster import-schedules EXPORT.json` runs the importer for CDR_TIER."""
    monkeypatch.setenv("CDR_TIER", "QA")
    status = cli.main(["import-schedules", str(EXPORT)])
    captured = capsys.readouterr()
    assert status == 0
    assert entries_by_name(captured.out)["hoover"]["tiers"] == ["QA"]
    assert "TestMode" in captured.err


# --- options ---------------------------------------------------------------------------------


def convert(job_class: str, opts: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """Convert the options of a legacy class."""
    entry = find_job_class(job_class)
    assert entry is not None
    converted = convert_options(entry, opts)
    return converted.job, converted.config, converted.warnings


@pytest.mark.parametrize("value", ["False", "false", "0", "no", "off", "N"])
def test_flags_keep_their_legacy_meaning(value: str) -> None:
    """Any non-empty value turned a flag on; a false-looking one gets a warning."""
    _, config, warnings = convert("file_sweeper_task.FileSweeper", {"TestMode": value})
    assert config == {"test_mode": True}
    assert len(warnings) == 1 and "turned the option ON" in warnings[0]


def test_flags_plain() -> None:
    """A plain "yes" is on without a warning; an empty value was off."""
    assert convert("media.Check", {"fix": "yes"}) == ("check_media", {"fix": True}, [])
    assert convert("media.Check", {"fix": ""})[1] == {"fix": False}


def test_publish_only_false_is_true() -> None:
    """publish-only "false" is treated as true."""
    job, config, warnings = convert(
        "publishing_task.PublishingTask",
        {"schedule": "weekly", "mode": "test", "job-id": "123", "publish-only": "false"},
    )
    assert job == "weekly_publishing"
    assert config == {"mode": "test", "job_id": 123, "publish_only": True}
    assert warnings


@pytest.mark.parametrize(
    ("job_class", "opts", "message"),
    [
        ("publishing_task.PublishingTask", {"schedule": "daily", "mode": "live"}, "'schedule'"),
        ("publishing_task.PublishingTask", {"schedule": "weekly", "mode": "Live"}, "'Live'"),
        ("publishing_task.PublishingTask", {"schedule": "weekly", "log-level": "x"}, "log-level"),
        ("publishing_task.PublishingTask", {"schedule": "nightly", "job-id": "12a"}, "integer"),
        ("sftp_logs.Refresh", {"x": "1"}, "option 'x' is not supported by sftp_logs.Refresh"),
        ("batch_job_queue.Sweeper", {"x": "1"}, "supported: none"),
        ("disk_space.Monitor", {"cthreshold": "lots"}, "'lots' is not an integer"),
        ("expired_links.LinkRemover", {"cutoff": "last year"}, "YYYY-MM-DD"),
        ("pdq_access_log.Report", {"month": "202513"}, "YYYYMM"),
        ("dictionary_api_loader.Loader", {"dictionary": "drugs", "tier": "LIVE"}, "CDR tier"),
        ("dictionary_api_loader.Loader", {"dictionary": "drugs", "ids": "1,x"}, "CDR ids"),
        ("licensee_list.ReportTask", {"mode": "prod"}, "'prod' is not one of test, live"),
    ],
)
def test_refused_options(job_class: str, opts: dict[str, Any], message: str) -> None:
    """Unsupported names and values the legacy job failed on are refused, naming the option."""
    entry = find_job_class(job_class)
    assert entry is not None
    with pytest.raises(OptionError, match=message):
        convert_options(entry, opts)


def test_several_problems_in_one_row() -> None:
    """All the bad options of a row are named together."""
    entry = find_job_class("disk_space.Monitor")
    assert entry is not None
    with pytest.raises(OptionError) as info:
        convert_options(entry, {"bogus": "1", "cthreshold": "x", "other": "2"})
    assert "'bogus'" in str(info.value) and "'other'" in str(info.value)
    assert "'cthreshold'" in str(info.value)


def test_option_conversions() -> None:
    """Each kind of option keeps the legacy meaning."""
    # mode: anything but "live" was a test run for the link remover.
    _, config, warnings = convert("expired_links.LinkRemover", {"mode": "LIVE"})
    assert config == {"mode": "test"} and "treated it as 'test'" in warnings[0]
    # ...and anything but "test" was live for the GovDelivery reports.
    assert convert("gov_delivery_reports.ReportTask", {"mode": "yes"})[1] == {"mode": "live"}
    # PCIB sections were matched by substring.
    _, config, warnings = convert("pcib_stats.ReportTask", {"mode": "live", "sections": "drugs"})
    assert config["sections"] == ["drug"] and warnings
    assert convert("pcib_stats.ReportTask", {"sections": "summary, dis"})[1] == {
        "sections": ["summary", "dis"]
    }
    # PCIB recips were split on whitespace only.
    _, config, warnings = convert("pcib_stats.ReportTask", {"recips": "a@x.gov,b@x.gov c@x.gov"})
    assert config == {"recips": ["a@x.gov,b@x.gov", "c@x.gov"]}
    assert "stayed one recipient" in warnings[0]
    # disk_space recips: a JSON list or a comma list.
    assert convert("disk_space.Monitor", {"recips": '["a@x.gov", "b@x.gov"]'})[1] == {
        "recips": ["a@x.gov", "b@x.gov"]
    }
    # health check recips: commas if any, else whitespace.
    assert convert("health_check.Monitor", {"recips": "a@x.gov b@x.gov"})[1] == {
        "recips": ["a@x.gov", "b@x.gov"]
    }
    # health check delay: not a whole number meant 60 minutes, with a logged warning.
    _, config, warnings = convert("health_check.Monitor", {"delay": "abc"})
    assert config == {"delay": 60}, "a bad delay must be imported as 60, as the legacy used it"
    assert "'abc' is not an integer" in warnings[0] and "used 60" in warnings[0]
    assert convert("health_check.Monitor", {"delay": "15"})[1] == {"delay": 15}
    # A one-recipient option keeps the whole value, with a warning when it looks like several.
    _, config, warnings = convert("file_sweeper_task.FileSweeper", {"Email": "a@x.gov+b@x.gov"})
    assert config == {"email": "a@x.gov+b@x.gov"} and not warnings
    _, config, warnings = convert("expiring_links.ReportTask", {"recip": "a@x.gov, b@x.gov"})
    assert config == {"recip": "a@x.gov, b@x.gov"} and "ONE recipient" in warnings[0]
    # Report names: JSON, comma or whitespace lists.
    assert convert("gov_delivery_reports.ReportTask", {"reports": '["spanish"]'})[1] == {
        "reports": ["spanish"]
    }
    assert convert("gov_delivery_reports.ReportTask", {"reports": "english spanish"})[1] == {
        "reports": ["english", "spanish"]
    }
    # Month: trailing characters were ignored.
    _, config, warnings = convert("pdq_access_log.Report", {"month": "202502xx"})
    assert config == {"month": "202502"} and "ignored 'xx'" in warnings[0]
    # Dates and date-times.
    assert convert("recent_trials.RefreshTask", {"cutoff": "2024-05-01"})[1] == {
        "cutoff": "2024-05-01"
    }
    _, config, warnings = convert("gov_delivery_reports.ReportTask", {"start": "2024-05-01"})
    assert config == {"start": "2024-05-01"} and "late-version check" in warnings[0]
    # Tiers, floats, ints.
    assert convert("sitemap.Loader", {"tier": "qa"})[1] == {"tier": "QA"}
    assert convert("trial_info.Loader", {"sleep": "2.5"})[1] == {"sleep": 2.5}
    assert convert("trial_info.Loader", {"port": "9200"})[1] == {"port": 9200}
    # ids broke every scheduled run in the legacy loader; imported with a warning.
    _, config, warnings = convert(
        "dictionary_api_loader.Loader", {"dictionary": "glossary", "ids": "1, 2"}
    )
    assert config == {"ids": [1, 2]} and "every run fail" in warnings[0]


def test_credentials_and_ignored_options_are_not_imported() -> None:
    """auth is never copied into schedules.yaml (nor echoed); ignored options are dropped."""
    job, config, warnings = convert(
        "dictionary_api_loader.Loader",
        {"dictionary": "drugs", "auth": "admin,s3cret", "dump": "1", "host": "es.example.gov"},
    )
    assert job == "drug_dictionary_job"
    assert config == {"host": "es.example.gov"}
    assert not any("s3cret" in w for w in warnings)
    assert any("'auth': not imported" in w for w in warnings)
    assert any("'dump': not imported" in w for w in warnings)
    assert convert("stop_scheduler.Stop", {"dbserver": "db2"})[1] == {}


def test_free_form_options() -> None:
    """test.* accepts any option; command is separate."""
    job, config, _ = convert("test.Anything", {"command": "Bin/x.py", "a": "1", "n": 2})
    assert job == "smoke_test"
    assert config == {"command": "Bin/x.py", "options": {"a": "1", "n": "2"}}
    # the legacy stub ran a shell; a shell command is refused with the alternative named
    with pytest.raises(OptionError, match="uses shell syntax .*name a script under CDR_BASEDIR"):
        convert("test.Anything", {"command": "dir > out.txt"})


def test_catalogue_covers_design_6a() -> None:
    """Every legacy class of docs/architecture.md#legacy-jobs has a catalogue entry."""
    for job_class in (
        "batch_job_queue.Sweeper",
        "publishing_queue.Sweeper",
        "publishing_task.PublishingTask",
        "media.Check",
        "dictionary_api_loader.Loader",
        "disk_space.Monitor",
        "trial_info.Loader",
        "expired_links.LinkRemover",
        "expiring_links.ReportTask",
        "glossifier_refresh.Task",
        "gov_delivery_reports.ReportTask",
        "file_sweeper_task.FileSweeper",
        "data_partners.Notify",
        "pcib_stats.ReportTask",
        "pdq_access_log.Report",
        "licensee_list.ReportTask",
        "health_check.Monitor",
        "recent_trials.RefreshTask",
        "sitemap.Loader",
        "stop_scheduler.Stop",
        "job_list.Reporter",
        "sftp_logs.Refresh",
        "translation_jobs.ReportTask",
        "test.Stub",
    ):
        assert find_job_class(job_class) is not None, job_class
    assert find_job_class("nosuch.Class") is None
    table = describe()
    assert (
        "| file_sweeper_task.FileSweeper | sweep_files | schedule | ops.sweep_files_op.config |"
        in table
    )
    assert "| file_sweeper_task.FileSweeper | TestMode | test_mode | flag: bool |" in table


# --- export ----------------------------------------------------------------------------------


def run_export(path: Path, tier: str = "PROD") -> tuple[int, list[list[Any]], str]:
    """Run the exporter; return (status, rows, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = exporter.main(out, path=path, tier=tier, err=err)
    return status, json.loads(out.getvalue() or "null"), err.getvalue()


def test_export_of_the_code_location_table() -> None:
    """Our schedules.yaml gives back the legacy example row; jobs that only Dagster has are
    named on stderr as notes, which do not fail the export."""
    status, rows, err = run_export(SCHEDULES_PATH)
    assert SPEC_EXAMPLE in rows
    table = read_schedule_table(SCHEDULES_PATH)
    without_legacy = [e for e in table.schedules if e.job == "purge_run_history"]
    assert without_legacy
    assert status == 0
    for entry in without_legacy:
        assert f"note: {entry.label}: job 'purge_run_history' has no legacy job class" in err


def meaning(entry: JobClass, opts: dict[str, Any]) -> dict[str, Any]:
    """The typed config of legacy options, leaving out flags at their default."""
    defaults = {o.field: bool(o.default) for o in entry.options or () if o.kind is Kind.FLAG}
    config = convert_options(entry, opts).config
    return {k: v for k, v in config.items() if k not in defaults or v != defaults[k]}


def test_import_then_export_round_trip(tmp_path: Path) -> None:
    """Importing the export and exporting it again gives rows with the same meaning."""
    _, out, _ = run_import(EXPORT)
    path = tmp_path / "schedules.yaml"
    path.write_text(out)
    status, rows, err = run_export(path)
    assert status == 0, err
    originals = {row[0]: row for row in json.loads(EXPORT.read_text())}
    sensors = {"Batch Job Queue", "Production Server Health Check", "Publishing Queue"}
    sensor_titles = {
        "Batch Job Queue",
        "Production Server Health Check",
        "Publishing queue monitor",
    }
    assert {row[0] for row in rows} == (set(originals) - sensors) | sensor_titles
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    for name, enabled, job_class, opts, schedule in rows:
        if name in sensor_titles:
            continue
        original = originals[name]
        assert enabled == original[1], name
        assert job_class == original[2], name
        entry = find_job_class(job_class)
        assert entry is not None
        assert meaning(entry, json.loads(opts)) == meaning(entry, json.loads(original[3])), name
        original_schedule = json.loads(original[4]) if original[4] else None
        if not original_schedule:
            assert schedule is None
        else:
            assert apscheduler_to_cron(json.loads(schedule)).cron == (
                apscheduler_to_cron(original_schedule).cron
            ), name
    assert ["Automated Testing Job", False, "test.Stub"] == [
        r for r in rows if r[0] == "Automated Testing Job"
    ][0][:3]


def test_export_includes_the_sensor_backed_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The batch queue, publishing queue and health check rows are in the export (a complete
    rollback backup), in the legacy format, enabled where their sensor runs by default, and
    the importer reads them back as rows that sensors replaced."""
    monkeypatch.setenv("CDR_HEALTH_CHECK_DELAY_MINUTES", "30")
    monkeypatch.setenv("CDR_HEALTH_CHECK_RECIPS", "a@example.gov b@example.gov")
    expected = {
        "batch_job_queue.Sweeper": ["Batch Job Queue", "{}", '{"minute": "*/2"}'],
        "publishing_queue.Sweeper": ["Publishing queue monitor", "{}", '{"minute": "*/3"}'],
        "health_check.Monitor": [
            "Production Server Health Check",
            '{"delay": "30", "recips": "a@example.gov, b@example.gov"}',
            '{"minute": "*"}',
        ],
    }
    for tier, health_enabled in (("PROD", False), ("DEV", True)):
        status, rows, err = run_export(SCHEDULES_PATH, tier=tier)
        assert status == 0, err
        by_class = {row[2]: row for row in rows if row[2] in expected}
        missing = set(expected) - set(by_class)
        assert not missing, f"sensor-backed rows missing from the {tier} export: {missing}"
        for job_class, (name, opts, schedule) in expected.items():
            enabled = health_enabled if job_class == "health_check.Monitor" else True
            assert by_class[job_class] == [name, enabled, job_class, opts, schedule], job_class
    path = tmp_path / "export.json"
    path.write_text(json.dumps(rows))
    status, out, err = run_import(path)
    assert status == 0, err
    for sensor in ("batch_job_queue_sensor", "publishing_queue_sensor", "production_health_sensor"):
        assert f"replaced by sensor {sensor}" in out, f"{sensor} row not read back"


def test_export_refusals(tmp_path: Path) -> None:
    """Entries with no legacy form are named; the others are still printed."""
    path = tmp_path / "schedules.yaml"
    path.write_text(
        """
schedules:
  - {name: both_days, job: smoke_test, cron: "0 1 1 * 1", tiers: [], description: d}
  - {name: bad_field, job: smoke_test, cron: "0 1 * * *", tiers: [], description: d,
     run_config: {ops: {smoke_test_op: {config: {verbose: true}}}}}
  - {name: wrong_node, job: check_media, cron: "0 1 * * *", tiers: [], description: d,
     run_config: {ops: {check_media: {config: {fix: true}}}}}
  - {name: unflaggable, job: monthly_stats_report, cron: "0 1 1 * *", tiers: [], description: d,
     run_config: {ops: {monthly_stats_report_op: {config: {email: false}}}}}
  - {name: wrong_class, job: check_media, cron: "0 1 * * *", tiers: [], description: d,
     legacy_class: disk_space.Monitor}
  - {name: fine, job: check_media, cron: "0 1 * * *", tiers: [PROD], description: d,
     run_config: {ops: {check_media_op: {config: {fix: true, recip: [a@x.gov, b@x.gov]}}}}}
on_demand:
  - {name: no_legacy, job: purge_run_history, description: d}
"""
    )
    status, rows, err = run_export(path)
    assert status == 1
    sensor_classes = {"batch_job_queue.Sweeper", "publishing_queue.Sweeper", "health_check.Monitor"}
    assert {row[2] for row in rows if row[2] in sensor_classes} == sensor_classes
    assert [row for row in rows if row[2] not in sensor_classes] == [
        [
            "fine",
            True,
            "media.Check",
            '{"fix": "1", "recip": "a@x.gov, b@x.gov"}',
            '{"hour": "1", "minute": "0"}',
        ]
    ]
    assert (
        "schedules[0] 'both_days': '0 1 1 * 1' restricts both day of month and day of week" in err
    )
    assert "schedules[1] 'bad_field': unknown field(s) verbose for smoke_test" in err
    assert (
        "schedules[2] 'wrong_node': the run_config is not of the form {ops: {check_media_op:" in err
    )
    assert (
        "schedules[3] 'unflaggable': field 'email': the legacy option could not be turned off"
        in err
    )
    assert "schedules[4] 'wrong_class': legacy_class 'disk_space.Monitor' does not run" in err
    assert "note: on_demand[0] 'no_legacy': job 'purge_run_history' has no legacy job" in err


def test_export_of_an_unloadable_table(tmp_path: Path) -> None:
    """A schedules.yaml with structural problems gives status 2."""
    path = tmp_path / "schedules.yaml"
    path.write_text("schedules: [1]\n")
    status, rows, err = run_export(path)
    assert status == 2 and rows is None
    assert "schedules[0]: an entry must be a mapping" in err


def test_legacy_options_reverse() -> None:
    """Typed config back to legacy strings, with the meaning kept."""
    entry = find_job_class("file_sweeper_task.FileSweeper")
    assert entry is not None
    assert legacy_options(entry, "sweep_files", {"test_mode": True, "email": "a@x.gov"}) == {
        "TestMode": "1",
        "Email": "a@x.gov",
    }
    assert legacy_options(entry, "sweep_files", {"test_mode": False}) == {}
    publishing = find_job_class("publishing_task.PublishingTask")
    assert publishing is not None
    assert legacy_options(publishing, "nightly_publishing", {"mode": "live"}) == {
        "schedule": "nightly",
        "mode": "live",
    }
    dictionary = find_job_class("dictionary_api_loader.Loader")
    assert dictionary is not None
    assert legacy_options(dictionary, "drug_dictionary_job", {}) == {"dictionary": "drugs"}
    with pytest.raises(OptionError, match="could not pass a list of ids"):
        legacy_options(dictionary, "drug_dictionary_job", {"ids": [1, 2]})
    pcib = find_job_class("pcib_stats.ReportTask")
    assert pcib is not None
    assert legacy_options(pcib, "monthly_stats_report", {"sections": ["summary", "dis"]}) == {
        "sections": "summary dis"
    }
