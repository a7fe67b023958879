"""schedules.yaml loading: definitions, tiers, ticks, and every validation error naming its entry.

The jobs here are small stand-ins built like the real job families (a Config class, a resource
bound only in Definitions, an asset job, a monthly partitioned job), so each error kind can be
produced on purpose. (No ``from __future__ import annotations``: Dagster reads the Config
annotations of ops and assets when they are decorated.)
"""

import textwrap
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time
from pydantic import Field

from cdr_dagster.schedules import (
    SCHEDULES_PATH,
    ScheduleConfigError,
    load_schedules,
    read_schedule_table,
)
from cdr_dagster.settings import TIERS

TZ = ZoneInfo("America/New_York")


class ArchiveResource(dg.ConfigurableResource):
    """A resource the jobs need but that only Definitions binds (as in definitions.py)."""

    root: str


class SweepConfig(dg.Config):
    """Like the file sweeper's options."""

    test_mode: bool = Field(default=False, description="delete nothing")
    email: str | None = Field(default=None, description="one recipient")
    output_dir: str = Field(default=".", description="archive folder")


@dg.op(name="sweep_files_op")
def sweep_files_op(config: SweepConfig, archive: ArchiveResource) -> None:
    """Stand-in for the sweeper op."""


@dg.job(name="sweep_files", description="stand-in sweeper")
def sweep_files_job() -> None:
    """Stand-in for the sweeper job."""
    sweep_files_op()


class ReportConfig(dg.Config):
    """A Config with a required field."""

    mode: str = Field(description="test or live")
    recips: list[str] = Field(default_factory=list, description="recipients")


@dg.op(name="report_op")
def report_op(config: ReportConfig) -> None:
    """Stand-in report op."""


@dg.job(name="report")
def report_job() -> None:
    """Stand-in report job."""
    report_op()


class DictionaryConfig(dg.Config):
    """Like the dictionary loader's options."""

    test: bool = False
    recips: list[str] = Field(default_factory=list)


@dg.asset(name="glossary_dictionary")
def glossary_dictionary(config: DictionaryConfig, archive: ArchiveResource) -> dg.MaterializeResult:
    """Stand-in asset."""
    return dg.MaterializeResult()


glossary_dictionary_job = dg.define_asset_job("glossary_dictionary_job", [glossary_dictionary])

MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", timezone="America/New_York")


@dg.op(name="monthly_report_op")
def monthly_report_op(config: ReportConfig) -> None:
    """Stand-in monthly op."""


@dg.job(name="monthly_report", partitions_def=MONTHLY)
def monthly_report_job() -> None:
    """Stand-in monthly partitioned job."""
    monthly_report_op()


JOBS: dict[str, Any] = {
    job.name: job
    for job in (sweep_files_job, report_job, glossary_dictionary_job, monthly_report_job)
}
ASSETS = [glossary_dictionary]

GOOD = """
schedules:
  - name: sweep_files_nightly
    job: sweep_files
    cron: "30 22 * * *"
    tiers: [DEV, QA]
    description: Nightly sweep.
    legacy_name: Hoover
    legacy_class: file_sweeper_task.FileSweeper
    run_config:
      ops:
        sweep_files_op:
          config:
            test_mode: true
  - name: glossary_nightly
    job: glossary_dictionary_job
    cron: "*/2 * * * *"
    tiers: [PROD]
    description: Glossary load.
    run_config:
      ops:
        glossary_dictionary:
          config:
            recips: [a@example.gov]
  - name: report_monthly
    job: monthly_report
    cron: "0 8 1 * *"
    tiers: []
    description: Monthly report of the previous month.
    run_config:
      ops:
        monthly_report_op:
          config:
            mode: live
on_demand:
  - name: report_by_hand
    job: report
    description: Run when asked.
    run_config:
      ops:
        report_op:
          config:
            mode: test
"""


def write(tmp_path: Path, text: str) -> Path:
    """Write a schedules.yaml and return its path."""
    path = tmp_path / "schedules.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, tier: str = "DEV", jobs: Mapping[str, Any] = JOBS) -> list:
    """Load ``text`` as schedules.yaml with the stand-in jobs and assets."""
    return load_schedules(write(tmp_path, text), jobs, tier, assets=ASSETS)


def by_name(schedules: list[dg.ScheduleDefinition]) -> dict[str, dg.ScheduleDefinition]:
    """Schedules keyed by name."""
    return {schedule.name: schedule for schedule in schedules}


def problems_of(tmp_path: Path, text: str, **kwargs: Any) -> list[str]:
    """The problems a failing load reports."""
    with pytest.raises(ScheduleConfigError) as info:
        load(tmp_path, text, **kwargs)
    assert str(tmp_path / "schedules.yaml") in str(info.value)
    return info.value.problems


def test_definitions(tmp_path: Path) -> None:
    """Each schedules entry becomes a ScheduleDefinition; on_demand entries do not."""
    schedules = by_name(load(tmp_path, GOOD, tier="QA"))
    assert set(schedules) == {"sweep_files_nightly", "glossary_nightly", "report_monthly"}
    sweep = schedules["sweep_files_nightly"]
    assert sweep.cron_schedule == "30 22 * * *"
    assert sweep.execution_timezone == "America/New_York"
    assert sweep.job_name == "sweep_files"
    assert sweep.description == 'Legacy "Hoover" (file_sweeper_task.FileSweeper). Nightly sweep.'
    assert sweep.tags == {
        "cdr/legacy_class": "file_sweeper_task.FileSweeper",
        "cdr/legacy_name": "Hoover",
    }
    assert sweep.metadata["legacy_class"].value == "file_sweeper_task.FileSweeper"
    assert sweep.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedules["glossary_nightly"].default_status == dg.DefaultScheduleStatus.STOPPED


@pytest.mark.parametrize("tier", TIERS)
def test_default_status_follows_tiers(tmp_path: Path, tier: str) -> None:
    """RUNNING on the listed tiers, STOPPED elsewhere; tiers: [] is STOPPED everywhere."""
    schedules = by_name(load(tmp_path, GOOD, tier=tier))
    running = {name for name, s in schedules.items() if s.default_status.value == "RUNNING"}
    expected = {"sweep_files_nightly"} if tier in ("DEV", "QA") else set()
    if tier == "PROD":
        expected = {"glossary_nightly"}
    assert running == expected


def test_tick_gives_the_run_config(tmp_path: Path) -> None:
    """Evaluating a tick of a loaded schedule requests a run with the entry's run config."""
    schedules = by_name(load(tmp_path, GOOD))
    when = datetime(2025, 5, 1, 22, 30, tzinfo=TZ)
    for name, node, config in (
        ("sweep_files_nightly", "sweep_files_op", {"test_mode": True}),
        ("glossary_nightly", "glossary_dictionary", {"recips": ["a@example.gov"]}),
    ):
        with dg.build_schedule_context(scheduled_execution_time=when) as context, freeze_time(when):
            result = schedules[name].evaluate_tick(context)
        assert result.run_requests is not None and len(result.run_requests) == 1
        assert result.run_requests[0].run_config == {"ops": {node: {"config": config}}}


def test_partitioned_job_runs_the_last_complete_month(tmp_path: Path) -> None:
    """A monthly partitioned job's schedule requests the previous month, with the run config."""
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=list(JOBS.values()),
        schedules=load(tmp_path, GOOD),
        resources={"archive": ArchiveResource(root=str(tmp_path))},
    )
    schedule = defs.resolve_schedule_def("report_monthly")
    when = datetime(2025, 4, 1, 8, 0, tzinfo=TZ)
    with (
        dg.build_schedule_context(
            scheduled_execution_time=when, repository_def=defs.get_repository_def()
        ) as context,
        freeze_time(when),
    ):
        result = schedule.evaluate_tick(context)
    assert result.run_requests is not None
    (request,) = result.run_requests
    assert request.partition_key == "2025-03-01"
    assert request.run_key == "2025-03-01"
    assert request.run_config == {"ops": {"monthly_report_op": {"config": {"mode": "live"}}}}


def test_loaded_schedules_work_in_definitions(tmp_path: Path) -> None:
    """The schedules load into a Definitions with the resources bound there."""
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=list(JOBS.values()),
        schedules=load(tmp_path, GOOD),
        resources={"archive": ArchiveResource(root=str(tmp_path))},
    )
    dg.Definitions.validate_loadable(defs)
    schedule = defs.resolve_schedule_def("glossary_nightly")
    assert schedule.job_name == "glossary_dictionary_job"
    when = datetime(2025, 5, 1, tzinfo=TZ)
    with freeze_time(when):
        tick = by_name(load(tmp_path, GOOD))["sweep_files_nightly"].evaluate_tick(
            dg.build_schedule_context(scheduled_execution_time=when)
        )
    result = sweep_files_job.execute_in_process(
        run_config=tick.run_requests[0].run_config,
        resources={"archive": ArchiveResource(root=str(tmp_path))},
    )
    assert result.success


def test_read_schedule_table(tmp_path: Path) -> None:
    """The structure alone can be read without jobs (the exporter does)."""
    table = read_schedule_table(write(tmp_path, GOOD))
    assert [entry.name for entry in table.schedules] == [
        "sweep_files_nightly",
        "glossary_nightly",
        "report_monthly",
    ]
    (on_demand,) = table.on_demand
    assert on_demand.cron is None
    assert on_demand.label == "on_demand[0] 'report_by_hand'"
    assert table.schedules[0].legacy_name == "Hoover"


def test_the_code_location_schedules_yaml_loads() -> None:
    """cdr_dagster/schedules.yaml loads with the code location's jobs on every tier."""
    from cdr_dagster import definitions

    jobs = {job.name: job for job in definitions.jobs}
    for tier in TIERS:
        schedules = by_name(load_schedules(SCHEDULES_PATH, jobs, tier, assets=definitions.assets))
        schedule = schedules["automated_testing_job"]
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
        assert schedule.cron_schedule == "59 3 * * *"
    when = datetime(2025, 6, 2, 3, 59, tzinfo=TZ)
    with dg.build_schedule_context(scheduled_execution_time=when) as context, freeze_time(when):
        request = schedule.evaluate_tick(context).run_requests[0]  # type: ignore[index]
    config = request.run_config["ops"]
    assert list(config) == ["smoke_test_op"]
    assert config["smoke_test_op"]["config"]["options"] == {"stooge": "Larry", "pep-boy": "Manny"}


# --- errors: each one names its entry --------------------------------------------------------

ENTRY = """
schedules:
  - name: {name}
    job: {job}
    cron: "{cron}"
    tiers: {tiers}
    description: A schedule.
    run_config: {run_config}
"""


def entry(
    name: str = "nightly",
    job: str = "sweep_files",
    cron: str = "0 1 * * *",
    tiers: str = "[DEV]",
    run_config: str = "{}",
) -> str:
    """A one-entry schedules.yaml."""
    return ENTRY.format(name=name, job=job, cron=cron, tiers=tiers, run_config=run_config)


def test_unknown_job(tmp_path: Path) -> None:
    """A job that does not exist."""
    (problem,) = problems_of(tmp_path, entry(job="sweep_file"))
    assert problem.startswith("schedules[0] 'nightly': unknown job 'sweep_file'")
    assert "sweep_files" in problem  # the known jobs are listed


@pytest.mark.parametrize("cron", ["0 25 * * *", "every day", "0 0 30 2 *", "* * * * * *"])
def test_bad_cron(tmp_path: Path, cron: str) -> None:
    """A cron string Dagster rejects."""
    (problem,) = problems_of(tmp_path, entry(cron=cron))
    assert problem == f"schedules[0] 'nightly': cron {cron!r} is not a valid five-field cron string"


def test_unquoted_cron_is_a_yaml_error(tmp_path: Path) -> None:
    """An unquoted leading * is a YAML alias; the message says where."""
    text = entry().replace('"0 1 * * *"', "*/2 * * * *")
    (problem,) = problems_of(tmp_path, text)
    assert problem.startswith("not valid YAML")
    assert "line 5" in problem


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ("[DEV, PRODUCTION]", "tier 'PRODUCTION' is not one of DEV, QA, STAGE, PROD"),
        ("[dev]", "tier 'dev' is not one of"),
        ("DEV", "tiers must be a list"),
        ("[DEV, DEV]", "a tier is listed twice"),
    ],
)
def test_bad_tiers(tmp_path: Path, tiers: str, expected: str) -> None:
    """Tiers must be a list of CDR tier names."""
    (problem,) = problems_of(tmp_path, entry(tiers=tiers))
    assert problem.startswith(f"schedules[0] 'nightly': {expected}")


def test_duplicate_names(tmp_path: Path) -> None:
    """Names are unique across schedules and on_demand."""
    text = entry() + "\n  - name: nightly\n    job: report\n    cron: '0 2 * * *'\n"
    text += "    tiers: []\n    description: again\n"
    text += "    run_config: {ops: {report_op: {config: {mode: x}}}}\n"
    text += "on_demand:\n  - {name: nightly, job: report, description: by hand,"
    text += " run_config: {ops: {report_op: {config: {mode: x}}}}}\n"
    problems = problems_of(tmp_path, text)
    assert problems == [
        "schedules[1] 'nightly': name already used by schedules[0] 'nightly'",
        "on_demand[0] 'nightly': name already used by schedules[0] 'nightly'",
    ]


@pytest.mark.parametrize(
    ("run_config", "expected"),
    [
        ("{ops: {sweep_files_op: {config: {test_mode: maybe}}}}", 'Value "maybe"'),
        ("{ops: {sweep_files_op: {config: {test_mode: true, dry_run: true}}}}", "dry_run"),
        ("{ops: {sweep_files: {config: {test_mode: true}}}}", "sweep_files"),
        ("{ops: {sweep_files_op: {config: {email: [a, b]}}}}", "email"),
        ("{opss: {}}", "opss"),
    ],
)
def test_run_config_the_job_rejects(tmp_path: Path, run_config: str, expected: str) -> None:
    """Run config is validated against the job's Config when the file loads."""
    (problem,) = problems_of(tmp_path, entry(run_config=run_config))
    assert problem.startswith("schedules[0] 'nightly': job 'sweep_files' rejects the run_config")
    assert expected in problem


def test_missing_required_config(tmp_path: Path) -> None:
    """A required Config field left out is caught too."""
    (problem,) = problems_of(tmp_path, entry(job="report", run_config="{}"))
    assert "schedules[0] 'nightly': job 'report' rejects the run_config" in problem
    assert "mode" in problem


def test_asset_job_config_is_validated(tmp_path: Path) -> None:
    """An asset job from define_asset_job is resolved with its assets and validated."""
    bad = "{ops: {glossary_dictionary: {config: {recips: a@example.gov}}}}"
    (problem,) = problems_of(tmp_path, entry(job="glossary_dictionary_job", run_config=bad))
    assert "job 'glossary_dictionary_job' rejects the run_config" in problem
    assert "recips" in problem


def test_asset_job_without_its_assets(tmp_path: Path) -> None:
    """Without the assets an asset job cannot be validated, and loading says so."""
    path = write(tmp_path, entry(job="glossary_dictionary_job"))
    with pytest.raises(ScheduleConfigError, match="pass its assets to load_schedules"):
        load_schedules(path, JOBS, "DEV")


def test_resource_config_for_a_resource_bound_later(tmp_path: Path) -> None:
    """Config for a resource bound only in Definitions is accepted (checked at launch)."""
    run_config = "{resources: {archive: {config: {root: /tmp}}}}"
    assert load(tmp_path, entry(run_config=run_config))


def test_on_demand_entries_are_validated(tmp_path: Path) -> None:
    """An on_demand entry names an existing job and config the job accepts."""
    text = "on_demand:\n  - {name: by_hand, job: nosuch, description: x}\n"
    text += (
        "  - {name: by_hand_2, job: report, description: x, run_config: {ops: {report_op: {}}}}\n"
    )
    problems = problems_of(tmp_path, text)
    assert problems[0].startswith("on_demand[0] 'by_hand': unknown job 'nosuch'")
    assert problems[1].startswith("on_demand[1] 'by_hand_2': job 'report' rejects the run_config")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (entry().replace("    tiers: [DEV]\n", ""), "schedules[0] 'nightly': tiers is required"),
        (entry().replace("    description: A schedule.\n", ""), "description is required"),
        (entry().replace("    cron:", "    when:"), "unknown key 'when'"),
        (entry().replace("tiers:", "tier:"), "unknown key 'tier'"),
        (entry(name="nightly sweep"), "name must use only letters, digits and underscores"),
        (entry(run_config="[a]"), "run_config must be a mapping"),
        (entry().replace("    job: sweep_files\n", ""), "schedules[0] 'nightly': job is required"),
        (entry().replace("  - name: nightly\n", "  - name: 5\n"), "name must be a string"),
        ("schedules:\n  - just a string\n", "schedules[0]: an entry must be a mapping"),
        ("schedules: {a: 1}\n", "schedules must be a list"),
        ("timetable: []\n", "unknown top-level key 'timetable'"),
        ("- a\n- b\n", "the file must be a mapping"),
        (entry() + "    cron: '0 2 * * *'\n", "key 'cron' appears twice"),
        ("on_demand:\n  - {name: x, job: report, description: d, cron: '0 1 * * *'}\n", "'cron'"),
    ],
)
def test_structure_errors(tmp_path: Path, text: str, expected: str) -> None:
    """Keys, types and names are checked, and each problem names its entry."""
    problems = problems_of(tmp_path, text)
    assert any(expected in problem for problem in problems), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """One error lists all the problems of the file."""
    text = entry(job="nosuch") + "\n  - name: second\n    job: sweep_files\n    cron: 'x'\n"
    text += "    tiers: [MARS]\n    description: d\n"
    with pytest.raises(ScheduleConfigError) as info:
        load(tmp_path, text)
    problems = info.value.problems
    assert len(problems) == 3
    assert "schedules[1] 'second': cron 'x'" in problems[0]
    assert "schedules[1] 'second': tier 'MARS'" in problems[1]
    assert "schedules[0] 'nightly': unknown job 'nosuch'" in problems[2]
    assert "3 problems" in str(info.value)


def test_bad_tier_argument(tmp_path: Path) -> None:
    """The caller's tier must be a CDR tier."""
    with pytest.raises(ScheduleConfigError, match="tier 'LOCAL'"):
        load(tmp_path, GOOD, tier="LOCAL")


def test_jobs_mapping_must_be_keyed_by_name(tmp_path: Path) -> None:
    """A jobs mapping whose keys are not the job names is a caller mistake."""
    with pytest.raises(ScheduleConfigError, match="keyed by job name"):
        load(tmp_path, GOOD, jobs={"sweeper": sweep_files_job})


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is reported, not a traceback."""
    with pytest.raises(ScheduleConfigError, match="cannot read the file"):
        load_schedules(tmp_path / "nope.yaml", JOBS, "DEV")


def test_empty_file_means_no_schedules(tmp_path: Path) -> None:
    """An empty table is valid."""
    assert load(tmp_path, "") == []
    assert load(tmp_path, "schedules: []\non_demand: []\n") == []
