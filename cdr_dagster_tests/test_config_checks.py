"""Every Config-class rule is enforced before a run starts, in each place it applies.

The three places: the ``schedules.yaml`` loader (the code location does not load), the Run-Now
sensor (the request is refused, kept and reported, no run requested) and the run config check
Dagster applies before it creates a run (``validate_run_config``, the check the launchpad and
the daemon make with the job's config schema). The last one knows only what the config schema
holds (types, required fields, choices: ``Literal`` and ``Enum`` fields); Field bounds and
validators are checked by the loader and the sensor (``cdr_dagster/config_checks.py``).

``RULES`` lists each rule of the Config classes of ``cdr_dagster/jobs`` and
``cdr_dagster/assets`` once; ``test_every_rule_is_listed`` fails when a class gains a bounded
field or a validator that is not listed here.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

import cdr_dagster.assets
import cdr_dagster.jobs
from cdr_dagster.cdr.scheduled_jobs import RunNowRequest
from cdr_dagster.control_sensors import RequestRefusedError, plan_request
from cdr_dagster.schedules import ScheduleConfigError, load_schedules

# (job, node, field, bad value, words of the refusal, legacy class and options that produce
# the value through the Run-Now catalogue, or None when no legacy class can express it)
RULES: list[tuple[str, str, str, Any, str, tuple[str, dict[str, str]] | None]] = [
    ("run_batch_job", "run_batch_job_op", "batch_job_id", -5, "greater than 0", None),
    ("run_batch_job", "run_batch_job_op", "timeout_seconds", 0, "greater than 0", None),
    ("run_publishing_job", "run_publishing_job_op", "pub_proc_id", 0, "greater than 0", None),
    ("run_publishing_job", "run_publishing_job_op", "timeout_seconds", -1, "greater than", None),
    ("reload_scheduler", "reload_scheduler_op", "timeout_seconds", 0, "greater than 0", None),
    ("email_schedule_list", "email_schedule_list_op", "timeout_seconds", 0, "greater than", None),
    ("notify_production_health", "notify_production_health_op", "delay", -1, "greater", None),
    (
        "notify_production_health",
        "notify_production_health_op",
        "timeout_seconds",
        0,
        "greater than 0",
        None,
    ),
    (
        "notify_production_health",
        "notify_production_health_op",
        "failures",
        [{"problem": "down", "count": 0}],
        "greater than or equal to 1",
        None,
    ),
    (
        "check_disk_space",
        "check_disk_space_op",
        "cthreshold",
        -1,
        "greater than or equal to 0",
        ("disk_space.Monitor", {"cthreshold": "-1"}),
    ),
    (
        "check_disk_space",
        "check_disk_space_op",
        "dthreshold",
        -1,
        "greater than or equal to 0",
        ("disk_space.Monitor", {"dthreshold": "-1"}),
    ),
    ("check_disk_space", "check_disk_space_op", "timeout_seconds", 0, "greater than 0", None),
    ("purge_run_history", "purge_run_history_op", "keep_days", 0, "greater than or equal", None),
    ("purge_run_history", "purge_run_history_op", "batch_size", 0, "greater than or equal", None),
    (
        "report_expiring_links",
        "report_expiring_links_op",
        "cutoff",
        "not-a-date",
        "not-a-date",
        ("expiring_links.ReportTask", {"cutoff": "not-a-date"}),
    ),
    (
        "remove_expired_links",
        "remove_expired_links_op",
        "cutoff",
        "2024-02-30",
        "2024-02-30",
        ("expired_links.LinkRemover", {"cutoff": "2024-02-30"}),
    ),
    (
        "govdelivery_reports",
        "govdelivery_reports_op",
        "timeout",
        0,
        "timeout 0 must be a positive number",
        ("gov_delivery_reports.ReportTask", {"mode": "live", "timeout": "0"}),
    ),
    (
        "monthly_stats_report",
        "monthly_stats_report_op",
        "start",
        "2024-13-01",
        "2024-13-01",
        ("pcib_stats.ReportTask", {"start": "2024-13-01"}),
    ),
    (
        "monthly_stats_report",
        "monthly_stats_report_op",
        "end",
        "yesterday",
        "yesterday",
        ("pcib_stats.ReportTask", {"end": "yesterday"}),
    ),
    ("monthly_stats_report", "monthly_stats_report_op", "sections", ["bogus"], "bogus", None),
    (
        "monthly_stats_report",
        "monthly_stats_report_op",
        "log_level",
        "LOUD",
        "log_level 'LOUD' is not one of info, debug, error",
        ("pcib_stats.ReportTask", {"log-level": "LOUD"}),
    ),
    (
        "monthly_stats_report",
        "monthly_stats_report_op",
        "max_docs",
        -1,
        "max_docs -1 must be 0 (all) or more",
        ("pcib_stats.ReportTask", {"max-docs": "-1"}),
    ),
    (
        "glossary_dictionary_job",
        "glossary_dictionary",
        "log_level",
        "LOUD",
        "log_level 'LOUD' is not one of DEBUG",
        ("dictionary_api_loader.Loader", {"dictionary": "glossary", "loglevel": "LOUD"}),
    ),
    (
        "drug_dictionary_job",
        "drug_dictionary",
        "limit",
        -1,
        "greater than or equal to 0",
        ("dictionary_api_loader.Loader", {"dictionary": "drugs", "limit": "-1"}),
    ),
    (
        "glossary_dictionary_job",
        "glossary_dictionary",
        "max_shrink_percent",
        101,
        "less than or equal to 100",
        None,
    ),
    (
        "trial_listing_info_job",
        "trial_listing_info",
        "max_shrink_percent",
        -1,
        "greater than or equal to 0",
        None,
    ),
    ("smoke_test", "smoke_test_op", "command", "ls | wc -l", "uses shell syntax", None),
    (
        "glossifier_terms_job",
        "glossifier_terms",
        "log_level",
        "LOUD",
        "log_level 'LOUD' is not one of",
        ("glossifier_refresh.Task", {"log-level": "LOUD"}),
    ),
    (
        "trial_listing_info_job",
        "trial_listing_info",
        "limit",
        -1,
        "greater than or equal to 0",
        ("trial_info.Loader", {"limit": "-1"}),
    ),
    (
        "trial_listing_info_job",
        "trial_listing_info",
        "sleep",
        -0.5,
        "greater than or equal to 0",
        ("trial_info.Loader", {"sleep": "-0.5"}),
    ),
    (
        "recent_ctgov_trials_job",
        "recent_ctgov_trials",
        "cutoff",
        "not-a-date",
        "not-a-date",
        ("recent_trials.RefreshTask", {"cutoff": "not-a-date"}),
    ),
    (
        "pdq_access_report_job",
        "pdq_access_report",
        "month",
        "202413",
        "month '202413' is not a month in the form YYYYMM",
        ("pdq_access_log.Report", {"month": "202413"}),
    ),
]

# Rules the config schema holds (choices): also refused by Dagster's own run config check.
SCHEMA_RULES: list[tuple[str, str, str, Any, str, tuple[str, dict[str, str]] | None]] = [
    (
        "glossary_dictionary_job",
        "glossary_dictionary",
        "tier",
        "MARS",
        "MARS",
        ("dictionary_api_loader.Loader", {"dictionary": "glossary", "tier": "MARS"}),
    ),
    (
        "dictionary_sitemap_job",
        "dictionary_sitemap",
        "tier",
        "MARS",
        "MARS",
        ("sitemap.Loader", {"tier": "MARS"}),
    ),
    (
        "govdelivery_reports",
        "govdelivery_reports_op",
        "tier",
        "MARS",
        "MARS",
        ("gov_delivery_reports.ReportTask", {"mode": "live", "tier": "MARS"}),
    ),
    (
        "govdelivery_reports",
        "govdelivery_reports_op",
        "reports",
        ["bogus"],
        "bogus",
        ("gov_delivery_reports.ReportTask", {"mode": "live", "reports": "bogus"}),
    ),
    (
        "notify_data_partners",
        "notify_data_partners_op",
        "mode",
        "prod",
        "prod",
        None,  # the catalogue itself refuses mode 'prod' (the legacy job failed on it)
    ),
    (
        "translation_queue_reports",
        "translation_queue_reports_op",
        "doctype",
        "Drug",
        "Drug",
        None,
    ),
]

REQUIRED = {
    "govdelivery_reports_op": {"mode": "live"},
    "run_batch_job_op": {"batch_job_id": 1},
    "run_publishing_job_op": {"pub_proc_id": 1},
}
NEEDS_MODE = {
    "notify_data_partners_op",
    "data_partner_list_report_op",
    "govdelivery_reports_op",
    "translation_queue_reports_op",
    "monthly_stats_report_op",
    "report_expiring_links_op",
    "remove_expired_links_op",
}


def _config(node: str, field: str, value: Any) -> dict[str, Any]:
    config = {**REQUIRED.get(node, {}), field: value}
    if node in NEEDS_MODE:
        config.setdefault("mode", "live")
    if node == "translation_queue_reports_op":
        config.setdefault("doctype", "Summary")
    return config


def _rule_id(rule: tuple) -> str:
    return f"{rule[0]}.{rule[2]}={rule[3]!r}"


@pytest.fixture(scope="module")
def location() -> Any:
    import cdr_dagster.definitions as definitions

    return definitions


def _load_one(location: Any, tmp_path: Path, job: str, node: str, field: str, value: Any) -> str:
    """Load a schedules.yaml with one entry giving ``value``; return the loader's message."""
    entry = {
        "name": "bad_entry",
        "job": job,
        "cron": "0 3 * * *",
        "tiers": [],
        "description": "d",
        "run_config": {"ops": {node: {"config": _config(node, field, value)}}},
    }
    if job == "monthly_stats_report" or job == "pdq_access_report_job":
        entry["cron"] = "0 3 2 * *"
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump({"schedules": [entry], "on_demand": []}))
    jobs = {j.name: j for j in location.jobs}
    with pytest.raises(ScheduleConfigError) as info:
        load_schedules(path, jobs, "DEV", assets=location.assets)
    return str(info.value)


@pytest.mark.parametrize("rule", RULES + SCHEMA_RULES, ids=_rule_id)
def test_the_schedule_loader_refuses(location: Any, tmp_path: Path, rule: tuple) -> None:
    job, node, field, value, words, _ = rule
    message = _load_one(location, tmp_path, job, node, field, value)
    assert "schedules[0] 'bad_entry'" in message, message
    assert field in message and words in message, f"{field}={value!r} not named: {message}"


def _request(job_class: str, opts: dict[str, str]) -> RunNowRequest:
    return RunNowRequest(
        id=str(uuid.uuid4()),
        name="Run now",
        job_class=job_class,
        opts=json.dumps(opts),
        schedule=None,
    )


@pytest.mark.parametrize(
    "rule", [r for r in RULES + SCHEMA_RULES if r[5] is not None], ids=_rule_id
)
def test_the_run_now_sensor_refuses(location: Any, rule: tuple) -> None:
    _, _, field, value, words, (job_class, opts) = rule
    repository = location.defs.get_repository_def()
    job_names = {job.name for job in location.jobs}
    with pytest.raises(RequestRefusedError) as info:
        plan_request(_request(job_class, opts), job_names, repository)
    message = str(info.value)
    # The catalogue refuses some values itself (the legacy job failed on them), with its own
    # words; the Config classes refuse the others. Either way, the value is named.
    assert str(value if not isinstance(value, list) else value[0]) in message, message


@pytest.mark.parametrize("rule", SCHEMA_RULES, ids=_rule_id)
def test_dagster_run_config_check_refuses_choices(location: Any, rule: tuple) -> None:
    job, node, field, value, words, _ = rule
    job_def = location.defs.resolve_job_def(job)
    with pytest.raises(dg.DagsterInvalidConfigError) as info:
        dg.validate_run_config(job_def, {"ops": {node: {"config": _config(node, field, value)}}})
    assert field in str(info.value) and words in str(info.value)


def test_good_values_still_pass(location: Any, tmp_path: Path) -> None:
    """The rules refuse the bad values only: edge values that are allowed still load."""
    good = [
        ("purge_run_history", "purge_run_history_op", {"keep_days": 1, "batch_size": 1}),
        ("check_disk_space", "check_disk_space_op", {"cthreshold": 0, "dthreshold": 0}),
        ("glossary_dictionary_job", "glossary_dictionary", {"tier": "PROD", "log_level": "debug"}),
        ("govdelivery_reports", "govdelivery_reports_op", {"mode": "live", "reports": ["spanish"]}),
        ("trial_listing_info_job", "trial_listing_info", {"limit": 0, "sleep": 0}),
        ("recent_ctgov_trials_job", "recent_ctgov_trials", {"cutoff": "2024-02-29"}),
    ]
    entries = [
        {
            "name": f"good_{number}",
            "job": job,
            "cron": "0 3 * * *",
            "tiers": [],
            "description": "d",
            "run_config": {"ops": {node: {"config": config}}},
        }
        for number, (job, node, config) in enumerate(good)
    ]
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump({"schedules": entries, "on_demand": []}))
    loaded = load_schedules(path, {j.name: j for j in location.jobs}, "DEV", assets=location.assets)
    assert len(loaded) == len(good), "an allowed edge value was refused"


def _config_classes() -> list[type[dg.Config]]:
    found = []
    for package in (cdr_dagster.jobs, cdr_dagster.assets):
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{module_info.name}")
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, dg.Config)
                    and value.__module__ == module.__name__
                ):
                    found.append(value)
    return found


def test_every_rule_is_listed() -> None:
    """Each bounded field and each validated field of a Config class has a row above."""
    listed = {rule[2] for rule in RULES + SCHEMA_RULES}
    health_problem_fields = {"count"}  # HealthProblem, reached through failures
    unlisted = []
    for config_class in _config_classes():
        validated = {
            name
            for decorator in config_class.__pydantic_decorators__.field_validators.values()
            for name in decorator.info.fields
        }
        bounded = {name for name, f in config_class.model_fields.items() if f.metadata}
        for name in sorted(validated | bounded):
            if name not in listed and name not in health_problem_fields:
                unlisted.append(f"{config_class.__name__}.{name}")
    assert not unlisted, f"Config rules without a test row in RULES: {unlisted}"
