"""Catalogue of legacy job classes: Dagster target, run-config path and typed options.

The names are those of docs/architecture.md#legacy-jobs. For each legacy ``job_class`` the catalogue
says
which Dagster job runs it, where its options go in the run config, and, for each option the
legacy class accepted (its ``SUPPORTED_PARAMETERS``), the Config field it became,
that field's type and the legacy meaning.

The convention (the job families built later must follow it):

1. A legacy class maps to its Dagster name (docs/architecture.md). For an op-based job that name is
the
   job (``sweep_files``); its Config is taken by the op node ``<job>_op`` (``sweep_files_op``),
   so the run config is ``{"ops": {"sweep_files_op": {"config": {<fields>}}}}``. Dagster does
   not allow an op named exactly like its job (op and graph names share one namespace in a
   code location). When one op serves several jobs, alias it: ``op.alias("<job>_op")``.
2. For an asset (``glossary_dictionary``, ``trial_listing_info``, ...) the job is
   ``define_asset_job("<asset>_job", selection=[<asset>])`` (again: not the asset's own name),
   and the asset (key without prefix) takes the Config:
   ``{"ops": {"glossary_dictionary": {"config": {...}}}}``.
   See :func:`JobClass.job_of`, :func:`JobClass.node_of` and :func:`run_config_for`.
3. A Config field is named after the legacy option in snake_case (``TestMode`` ->
   ``test_mode``, ``skip-email`` -> ``skip_email``, ``job-id`` -> ``job_id``; the one exception
   is the dictionary loader's ``loglevel`` -> ``log_level``, spelled like the other classes'
   ``log-level``). It keeps the legacy default and meaning, typed:

   ========== ====================================================================
   flag       ``bool``; legacy: on when the value was any non-empty string
   int/float  ``int``/``float``
   str        ``str`` (paths, host names, free text)
   choice     ``str``, one of the listed values
   tier       ``str``, one of DEV, QA, STAGE, PROD
   email      ``str``, ONE address (legacy passed the whole value as one recipient)
   emails     ``list[str]`` (legacy split the value; how is given per option)
   words      ``list[str]`` (report or section names)
   ids        ``list[int]`` (CDR document ids)
   date       ``str`` ``YYYY-MM-DD`` (Dagster Config has no date type)
   datetime   ``str`` ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD``
   month      ``str`` ``YYYYMM``
   ========== ====================================================================

4. Options marked *not imported* have no Config field: ``auth`` (credentials live in resource
   configuration from the environment, never in ``schedules.yaml``, which is in git) and options
   the scheduled legacy job ignored (the dictionary loader's ``dump``, ``stop_scheduler``'s
   ``dbserver``).
5. A class may choose its job by one option (``publishing_task``: ``schedule`` weekly/nightly;
   ``dictionary_api_loader``: ``dictionary`` glossary/drugs). That option picks the job and is
   not a Config field.

Classes replaced by sensors (the two queues, the health check) have no schedule entry.
``test.*`` (``smoke_test``) accepts any option: ``command`` goes to ``command``, every other
option to the ``options`` mapping, as strings.

Legacy values are strings and the legacy code read them loosely; :func:`convert_options` turns
them into typed values with the legacy meaning and returns a warning wherever that meaning is
surprising (``TestMode: "False"`` was test mode). Values the legacy job failed on, and option
names outside ``SUPPORTED_PARAMETERS``, are refused. :func:`legacy_options` is the reverse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from cdr_dagster.settings import TIERS


class Kind(str, Enum):
    """How a legacy option value becomes a typed Config value."""

    FLAG = "flag"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    CHOICE = "choice"
    TIER = "tier"
    EMAIL = "email"
    EMAILS = "emails"
    WORDS = "words"
    IDS = "ids"
    DATE = "date"
    DATETIME = "datetime"
    MONTH = "month"
    NOT_IMPORTED = "not imported"


class Split(str, Enum):
    """How a legacy job split a list-valued option."""

    COMMA = "comma"  # split on commas, items trimmed
    WHITESPACE = "whitespace"  # split on whitespace only
    COMMA_OR_WHITESPACE = "comma or whitespace"  # commas turned into spaces, then whitespace
    JSON_OR_COMMA = "JSON list or comma"  # a JSON array, else comma-separated
    COMMA_ELSE_WHITESPACE = "comma, else whitespace"  # commas if any, else whitespace
    JSON_COMMA_OR_WHITESPACE = "JSON list, comma or whitespace"


class OptionError(ValueError):
    """Legacy options that cannot be imported (or config that has no legacy form)."""


@dataclass(frozen=True)
class LegacyOption:
    """One legacy option of a job class and the Config field it became."""

    legacy: str
    field: str | None
    kind: Kind
    meaning: str
    choices: tuple[str, ...] = ()
    # choice or int: the value any other legacy value meant, with a warning (None: refused)
    fallback: str | None = None
    split: Split | None = None
    default: Any = None
    note: str | None = None  # printed whenever the option is imported: a legacy surprise

    @property
    def type_name(self) -> str:
        """The Config type, for documentation (``list[str]``, ``bool``...)."""
        return {
            Kind.FLAG: "bool",
            Kind.INT: "int",
            Kind.FLOAT: "float",
            Kind.EMAILS: "list[str]",
            Kind.WORDS: "list[str]",
            Kind.IDS: "list[int]",
            Kind.NOT_IMPORTED: "-",
        }.get(self.kind, "str")


@dataclass(frozen=True)
class JobClass:
    """A legacy ``job_class`` (or a family, ``module.*``) and the Dagster side of it."""

    pattern: str
    title: str
    target: str
    trigger: str  # "schedule", "sensor" or "on demand"
    options: tuple[LegacyOption, ...] | None  # None: any option (test.Stub)
    asset: bool = False
    sensor: str | None = None
    # A sensor-backed class: the legacy row's APScheduler fields and the tiers on which the
    # sensor is RUNNING by default (what export-schedules writes back for a rollback).
    legacy_schedule: Mapping[str, str] = field(default_factory=dict)
    sensor_tiers: tuple[str, ...] = ()
    selector: str | None = None
    targets: Mapping[str, str] = field(default_factory=dict)
    default_class: str | None = None

    @property
    def legacy_class(self) -> str:
        """The class written back by the exporter (a concrete name for ``module.*``)."""
        return self.default_class or self.pattern

    @property
    def names(self) -> tuple[str, ...]:
        """The Dagster names (jobs, or assets) this class can map to."""
        return tuple(self.targets.values()) if self.targets else (self.target,)

    @property
    def jobs(self) -> tuple[str, ...]:
        """Every Dagster job this class can map to."""
        return tuple(self.job_of(name) for name in self.names)

    def job_of(self, name: str) -> str:
        """The job that runs ``name``: the job itself, or ``<asset>_job`` for an asset."""
        return f"{name}_job" if self.asset else name

    def node_of(self, name: str) -> str:
        """The node taking the Config of ``name``: ``<job>_op``, or the asset itself."""
        return name if self.asset else f"{name}_op"

    def name_of_job(self, job: str) -> str:
        """The Dagster name whose job is ``job`` (KeyError if none)."""
        for name in self.names:
            if self.job_of(name) == job:
                return name
        raise KeyError(job)

    def option(self, legacy: str) -> LegacyOption | None:
        """The catalogue entry of a legacy option name, if the class supports it."""
        for option in self.options or ():
            if option.legacy == legacy:
                return option
        return None


def _o(legacy: str, field_name: str | None, kind: Kind, meaning: str, **kw: Any) -> LegacyOption:
    return LegacyOption(legacy, field_name, kind, meaning, **kw)


def _mode(meaning: str, *, fallback: str | None) -> LegacyOption:
    return _o("mode", "mode", Kind.CHOICE, meaning, choices=("test", "live"), fallback=fallback)


_TIER_OPTION = "tier whose CDR database, settings and hosts are used"
_SECRET = "credentials are configured on the resource, from the environment"
_ES_OPTIONS = (
    _o("auth", None, Kind.NOT_IMPORTED, "Elasticsearch basic auth 'user,password'", note=_SECRET),
    _o("host", "host", Kind.STR, "Elasticsearch host (default: the tier's DICTIONARY host)"),
    _o("port", "port", Kind.INT, "Elasticsearch port (default: the tier's dictionary port)"),
)

CATALOGUE: tuple[JobClass, ...] = (
    JobClass(
        "batch_job_queue.Sweeper",
        "Batch Job Queue",
        "run_batch_job",
        "sensor",
        (),
        sensor="batch_job_queue_sensor",
        legacy_schedule={"minute": "*/2"},
        sensor_tiers=TIERS,
    ),
    JobClass(
        "publishing_queue.Sweeper",
        "Publishing queue monitor",
        "run_publishing_job",
        "sensor",
        (),
        sensor="publishing_queue_sensor",
        legacy_schedule={"minute": "*/3"},
        sensor_tiers=TIERS,
    ),
    JobClass(
        "publishing_task.PublishingTask",
        "Publishing Tasks",
        "weekly_publishing",
        "schedule",
        (
            _mode("passed to the publishing scripts as --test or --live", fallback=None),
            _o(
                "job-id",
                "job_id",
                Kind.INT,
                "export job whose output CG2Public.py converts (--inputdir=Job{id})",
            ),
            _o("skip-publish-step", "skip_publish_step", Kind.FLAG, "skip SubmitPubJob.py"),
            _o("publish-only", "publish_only", Kind.FLAG, "run only SubmitPubJob.py"),
        ),
        selector="schedule",
        targets={"weekly": "weekly_publishing", "nightly": "nightly_publishing"},
    ),
    JobClass(
        "media.Check",
        "Check Media Files",
        "check_media",
        "schedule",
        (
            _o("debug", "debug", Kind.FLAG, "debug logging and a listing of the media folder"),
            _o("fix", "fix", Kind.FLAG, "correct the discrepancies (always locks)"),
            _o("force", "force", Kind.FLAG, "run rsync even without discrepancies"),
            _o("nolock", "nolock", Kind.FLAG, "do not lock the media folder (ignored with fix)"),
            _o(
                "recip",
                "recip",
                Kind.EMAILS,
                "report recipients (default: Developers Notification)",
                split=Split.COMMA_OR_WHITESPACE,
            ),
            _o("rsync", "rsync", Kind.FLAG, "push the fixed files to Akamai (only with fix)"),
        ),
    ),
    JobClass(
        "health_check.Monitor",
        "Production Server Health Check",
        "notify_production_health",
        "sensor",
        (
            _o(
                "delay",
                "delay",
                Kind.INT,
                "minutes between notifications (default 60)",
                fallback="60",
            ),
            _o(
                "recips",
                "recips",
                Kind.EMAILS,
                "recipients (default: Developers Notification)",
                split=Split.COMMA_ELSE_WHITESPACE,
            ),
        ),
        sensor="production_health_sensor",
        legacy_schedule={"minute": "*"},
        sensor_tiers=("DEV",),
    ),
    JobClass(
        "disk_space.Monitor",
        "Disk Space Check",
        "check_disk_space",
        "schedule",
        (
            _o(
                "recips",
                "recips",
                Kind.EMAILS,
                "alert recipients (default: Developers Notification)",
                split=Split.JSON_OR_COMMA,
            ),
            _o("cthreshold", "cthreshold", Kind.INT, "C: drive alert threshold in GiB", default=10),
            _o(
                "dthreshold", "dthreshold", Kind.INT, "D: drive alert threshold in GiB", default=100
            ),
        ),
    ),
    JobClass(
        "stop_scheduler.Stop",
        "Restart Scheduler",
        "reload_scheduler",
        "on demand",
        (
            _o(
                "dbserver",
                None,
                Kind.NOT_IMPORTED,
                "database server whose scheduler the admin page stopped",
                note="the job itself ignored it (the admin page used it to pick a database)",
            ),
        ),
    ),
    JobClass(
        "job_list.Reporter",
        "Scheduled Job List",
        "email_schedule_list",
        "on demand",
        (
            _o(
                "recips",
                "recips",
                Kind.EMAILS,
                "recipients (default: Developers Notification)",
                split=Split.COMMA,
            ),
        ),
    ),
    JobClass(
        "test.*",
        "Test stub",
        "smoke_test",
        "on demand",
        None,
        default_class="test.Stub",
    ),
    JobClass(
        "dictionary_api_loader.Loader",
        "Dictionary Loader",
        "glossary_dictionary",
        "schedule",
        (
            *_ES_OPTIONS,
            _o("tier", "tier", Kind.TIER, _TIER_OPTION + " (default: the local tier)"),
            _o(
                "test",
                "test",
                Kind.FLAG,
                "no Elasticsearch writes; the documents are printed instead",
            ),
            _o(
                "limit",
                "limit",
                Kind.INT,
                "stop after this many documents",
                note=(
                    "the legacy loader applied limit only together with verbose, and the "
                    "limited index still replaced the live one"
                ),
            ),
            _o(
                "ids",
                "ids",
                Kind.IDS,
                "load only these CDR ids",
                note=(
                    "from the legacy scheduler this option made every run fail (the string "
                    "was read character by character); imported, it restricts the load"
                ),
            ),
            _o("loglevel", "log_level", Kind.STR, "logger level name", default="INFO"),
            _o("verbose", "verbose", Kind.FLAG, "progress messages"),
            _o(
                "recips",
                "recips",
                Kind.EMAILS,
                "notification recipients (default: Developers Notification)",
                split=Split.COMMA,
            ),
            _o(
                "dump",
                None,
                Kind.NOT_IMPORTED,
                "write the bulk NDJSON instead of loading (command line only)",
                note="the scheduled legacy job accepted and ignored it",
            ),
        ),
        asset=True,
        selector="dictionary",
        targets={"glossary": "glossary_dictionary", "drugs": "drug_dictionary"},
    ),
    JobClass(
        "trial_info.*",
        "Dynamic Listing Pages Loader",
        "trial_listing_info",
        "schedule",
        (
            *_ES_OPTIONS,
            _o(
                "limit",
                "limit",
                Kind.INT,
                "approximate maximum number of concepts fetched",
                note="with limit the legacy loader swapped no aliases and cleaned nothing up",
            ),
            _o("sleep", "sleep", Kind.FLOAT, "maximum back-off in seconds between EVS retries"),
            _o("test", "test", Kind.FLAG, "write JSON files instead of loading Elasticsearch"),
            _o("dump", "dump", Kind.FLAG, "also write the bulk dump files"),
            _o("concepts", "concepts", Kind.STR, "cached concepts JSON file instead of EVS"),
            _o("groups", "groups", Kind.STR, "cached bulk dump used as finished documents"),
            _o("debug", "debug", Kind.FLAG, "debug logging"),
            _o("verbose", "verbose", Kind.FLAG, "progress messages"),
        ),
        asset=True,
        default_class="trial_info.Loader",
    ),
    JobClass(
        "expired_links.LinkRemover",
        "Expiring Links, removal",
        "remove_expired_links",
        "schedule",
        (
            _mode("live writes to the repository; anything else is a test run", fallback="test"),
            _o("cutoff", "cutoff", Kind.DATE, "links posted on or before this date are removed"),
        ),
    ),
    JobClass(
        "expiring_links.ReportTask",
        "Expiring Links, report",
        "report_expiring_links",
        "schedule",
        (
            _mode("live, or anything else for test", fallback="test"),
            _o("recip", "recip", Kind.EMAIL, "the one recipient replacing all others"),
            _o("cutoff", "cutoff", Kind.DATE, "report links posted on or before this date"),
        ),
    ),
    JobClass(
        "glossifier_refresh.Task",
        "Glossifier Refresh",
        "glossifier_terms",
        "schedule",
        (
            _o("log-level", "log_level", Kind.STR, "logger level name", default="INFO"),
            _o("recip", "recip", Kind.EMAIL, "the one recipient of both messages"),
        ),
        asset=True,
    ),
    JobClass(
        "gov_delivery_reports.ReportTask",
        "Gov Delivery Weekly Reports",
        "govdelivery_reports",
        "schedule",
        (
            _o("end", "end", Kind.DATETIME, "end of the date range (default: export window)"),
            _mode("test, or anything else for live", fallback="live"),
            _o("recip", "recip", Kind.EMAIL, "the one recipient replacing all others"),
            _o(
                "reports",
                "reports",
                Kind.WORDS,
                "reports to build, in order (default english, spanish)",
                split=Split.JSON_COMMA_OR_WHITESPACE,
                choices=("english", "spanish"),
            ),
            _o("skip-email", "skip_email", Kind.FLAG, "save the reports without e-mailing them"),
            _o("start", "start", Kind.DATETIME, "start of the date range (default: export window)"),
            _o("tier", "tier", Kind.TIER, _TIER_OPTION + " (report folder and groups stay local)"),
            _o("timeout", "timeout", Kind.INT, "database timeout in seconds", default=300),
        ),
    ),
    JobClass(
        "file_sweeper_task.FileSweeper",
        "Hoover",
        "sweep_files",
        "schedule",
        (
            _o("ConfigFile", "config_file", Kind.STR, "read the sweep rules from this file"),
            _o("TestMode", "test_mode", Kind.FLAG, "write archives but delete nothing"),
            _o("Email", "email", Kind.EMAIL, "the one recipient of the fatal-error message"),
            _o("OutputDir", "output_dir", Kind.STR, "folder for relative archive names"),
        ),
    ),
    JobClass(
        "data_partners.Notify",
        "Notify PDQ Data Partners",
        "notify_data_partners",
        "schedule",
        (
            _o("job", "job", Kind.INT, "pub_proc id of the export to announce (default: latest)"),
            _o("superlog", "superlog", Kind.FLAG, "log each whole message at DEBUG level"),
            _o("recip", "recip", Kind.EMAIL, "the one recipient of the summary (and tests)"),
            _mode("test or live", fallback=None),
        ),
    ),
    JobClass(
        "pcib_stats.*",
        "PCIB Report",
        "monthly_stats_report",
        "schedule",
        (
            _o("docs", "docs", Kind.FLAG, "include the detail tables", default=True),
            _o("email", "email", Kind.FLAG, "e-mail the report", default=True),
            _o("end", "end", Kind.DATE, "last day of the range (default: end of last month)"),
            _o("ids", "ids", Kind.FLAG, "include a CDR ID column", default=True),
            _o("log-level", "log_level", Kind.STR, "logger level (info, debug, error)"),
            _o("max-docs", "max_docs", Kind.INT, "rows per detail table, 0 = all", default=0),
            _mode("test, or anything else for live", fallback="live"),
            _o(
                "recips",
                "recips",
                Kind.EMAILS,
                "recipients replacing the default group",
                split=Split.WHITESPACE,
            ),
            _o(
                "sections",
                "sections",
                Kind.WORDS,
                "sections to include (default all)",
                choices=(
                    "summary",
                    "glossary",
                    "genetics",
                    "drug",
                    "dis",
                    "boardmembers",
                    "boardmeetings",
                    "image",
                    "audio",
                ),
            ),
            _o("start", "start", Kind.DATE, "first day of the range (default: last month)"),
            _o("title", "title", Kind.STR, "report title", default="PCIB Statistics Report"),
        ),
        default_class="pcib_stats.ReportTask",
    ),
    JobClass(
        "pdq_access_log.Report",
        "PDQ Access Report",
        "pdq_access_report",
        "schedule",
        (
            _o("month", "month", Kind.MONTH, "month to report (default: the previous month)"),
            _o("noemail", "noemail", Kind.FLAG, "save the workbook without sending it"),
            _o(
                "recips",
                "recips",
                Kind.EMAILS,
                "recipients (default NCIContentDissemination@nih.gov)",
                split=Split.COMMA,
            ),
            _o("resend", "resend", Kind.FLAG, "only e-mail the workbook saved for that month"),
        ),
        asset=True,
    ),
    JobClass(
        "licensee_list.ReportTask",
        "PDQ Partner List",
        "data_partner_list_report",
        "schedule",
        (
            _mode("test or live", fallback=None),
            _o("recip", "recip", Kind.EMAIL, "the one recipient replacing all others"),
            _o("skip-email", "skip_email", Kind.FLAG, "save the report without sending it"),
        ),
    ),
    JobClass(
        "recent_trials.*",
        "Recent CT.gov Trials",
        "recent_ctgov_trials",
        "schedule",
        (
            _o(
                "cutoff",
                "cutoff",
                Kind.DATE,
                "fetch trials first received since this date (default: a year before the "
                "latest one)",
            ),
        ),
        asset=True,
        default_class="recent_trials.RefreshTask",
    ),
    JobClass(
        "sitemap.Loader",
        "Refresh Sitemap",
        "dictionary_sitemap",
        "schedule",
        (
            _o("tier", "tier", Kind.TIER, _TIER_OPTION + " (default PROD)"),
            _o("hostname", "hostname", Kind.STR, "NetStorage SFTP host"),
            _o("username", "username", Kind.STR, "SFTP login"),
            _o("keep", "keep", Kind.FLAG, "keep the local temporary file"),
            _o("dump", "dump", Kind.FLAG, "print the XML instead of uploading it"),
        ),
        asset=True,
    ),
    JobClass("sftp_logs.Refresh", "Sync s/FTP Logs", "sftp_access_log", "schedule", (), asset=True),
    JobClass(
        "translation_jobs.ReportTask",
        "Translation Job Reports",
        "translation_queue_reports",
        "schedule",
        (
            _mode("test, or anything else for live", fallback="live"),
            _o(
                "doctype",
                "doctype",
                Kind.CHOICE,
                "translation queue",
                choices=("Summary", "Media", "Glossary"),
                default="Summary",
            ),
            _o("recip", "recip", Kind.EMAIL, "the one recipient of every message"),
            _o(
                "schedule",
                "schedule",
                Kind.CHOICE,
                "nightly per-translator reports, or the weekly team-lead report",
                choices=("nightly", "weekly"),
                fallback="weekly",
                default="nightly",
            ),
        ),
    ),
)


def find_job_class(job_class: str) -> JobClass | None:
    """The catalogue entry for a legacy ``job_class`` string (exact name or ``module.*``)."""
    module = job_class.split(".", 1)[0]
    for entry in CATALOGUE:
        if entry.pattern == job_class or entry.pattern == f"{module}.*":
            return entry
    return None


def classes_for_job(job: str) -> list[JobClass]:
    """The catalogue entries that map to the Dagster job ``job``."""
    return [entry for entry in CATALOGUE if job in entry.jobs]


#: Run and definition tags naming what a Dagster job, schedule or sensor replaces.
LEGACY_CLASS_TAG = "cdr/legacy_class"
LEGACY_NAME_TAG = "cdr/legacy_name"

#: The names operators know a Dagster job, asset or sensor target by (the ``scheduled_job.name``
#: of the legacy rows), where they differ from the class title above or one class has several
#: Dagster names. Keyed by the Dagster name of :attr:`JobClass.names`.
LEGACY_NAMES: Mapping[str, tuple[str, ...]] = {
    "run_publishing_job": ("Publishing Queue",),
    "weekly_publishing": ("Weekly Publishing",),
    "nightly_publishing": ("Nightly Publishing",),
    "smoke_test": ("Automated Testing Job",),
    "glossary_dictionary": ("Glossary Dictionary Loader",),
    "drug_dictionary": ("Drug Dictionary Loader",),
    "remove_expired_links": ("Remove Expired Links",),
    "report_expiring_links": ("Expiring Links Report",),
    "sweep_files": ("Hoover", "File Sweeper"),
    "monthly_stats_report": ("PCIB Statistics Report",),
    "govdelivery_reports": ("Gov Delivery Weekly Reports", "GovDelivery Weekly Reports"),
}


@dataclass(frozen=True)
class LegacyLabel:
    """The legacy job class(es) and display name(s) a Dagster job, schedule or sensor replaces."""

    classes: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def tags(self) -> dict[str, str]:
        """``cdr/legacy_class`` and ``cdr/legacy_name`` (several values joined; empty left out)."""
        tags = {LEGACY_CLASS_TAG: ", ".join(self.classes), LEGACY_NAME_TAG: " / ".join(self.names)}
        return {key: value for key, value in tags.items() if value}

    @property
    def prefix(self) -> str:
        """``Legacy "Nightly Publishing" (publishing_task.PublishingTask).``"""
        names = " / ".join(f'"{name}"' for name in self.names)
        classes = f" ({', '.join(self.classes)})" if self.classes else ""
        return f"Legacy {names}{classes}."

    def describe(self, description: str | None) -> str:
        """``description`` starting with :attr:`prefix` (unchanged if it already does)."""
        text = (description or "").strip()
        if text.startswith(self.prefix):
            return text
        return f"{self.prefix} {text}".rstrip()


def _label(pairs: Sequence[tuple[JobClass, str]]) -> LegacyLabel | None:
    if not pairs:
        return None
    classes = tuple(dict.fromkeys(entry.legacy_class for entry, _ in pairs))
    names = tuple(
        dict.fromkeys(n for entry, name in pairs for n in LEGACY_NAMES.get(name, (entry.title,)))
    )
    return LegacyLabel(classes, names)


def label_for_job(job: str) -> LegacyLabel | None:
    """What the Dagster job ``job`` replaces, or None for a job the legacy scheduler lacked."""
    return _label([(entry, entry.name_of_job(job)) for entry in classes_for_job(job)])


def label_for_sensor(sensor: str) -> LegacyLabel | None:
    """What the sensor ``sensor`` replaces (a queue sweeper, the health monitor), or None."""
    return _label([(entry, entry.target) for entry in CATALOGUE if entry.sensor == sensor])


def run_config_for(node: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The run config giving ``config`` to ``node`` (empty config: no run config)."""
    if not config:
        return {}
    return {"ops": {node: {"config": dict(config)}}}


def config_from_run_config(node: str, run_config: Mapping[str, Any]) -> dict[str, Any]:
    """The Config values for ``node`` in a run config that follows the convention.

    Raises :class:`OptionError` for any other shape.
    """
    if not run_config:
        return {}
    shape = f"the run_config is not of the form {{ops: {{{node}: {{config: ...}}}}}}"
    ops = run_config.get("ops") if isinstance(run_config, Mapping) else None
    if set(run_config) != {"ops"} or not isinstance(ops, Mapping) or set(ops) != {node}:
        raise OptionError(shape)
    entry = ops[node]
    if not isinstance(entry, Mapping) or set(entry) - {"config"}:
        raise OptionError(shape)
    config = entry.get("config") or {}
    if not isinstance(config, Mapping):
        raise OptionError("the op config must be a mapping")
    return dict(config)


@dataclass
class Converted:
    """Legacy options turned into a job, the node taking its Config, the values and warnings."""

    job: str
    node: str
    config: dict[str, Any]
    warnings: list[str]


def convert_options(entry: JobClass, opts: Mapping[str, Any]) -> Converted:
    """Turn the legacy ``opts`` of a row of class ``entry`` into typed Config values.

    Raises :class:`OptionError` listing every unsupported option name and every value the
    legacy job failed on (or that has no typed form).
    """
    problems: list[str] = []
    warnings: list[str] = []
    name = entry.target
    if entry.selector:
        value = opts.get(entry.selector)
        if value not in entry.targets:
            expected = " or ".join(repr(v) for v in entry.targets)
            problems.append(
                f"option {entry.selector!r} is {value!r}; it must be {expected} (it chooses the "
                "job, and the legacy job failed on anything else)"
            )
        else:
            name = entry.targets[value]
    job, node = entry.job_of(name), entry.node_of(name)
    if entry.options is None:
        return _convert_free_form(job, node, opts)
    config: dict[str, Any] = {}
    for name, value in opts.items():
        if name == entry.selector:
            continue
        option = entry.option(name)
        if option is None:
            supported = [o.legacy for o in entry.options]
            if entry.selector:
                supported.append(entry.selector)
            problems.append(
                f"option {name!r} is not supported by {entry.pattern} (supported: "
                f"{', '.join(sorted(supported)) or 'none'})"
            )
            continue
        try:
            typed, notes = _convert_value(option, value)
        except OptionError as exc:
            problems.append(f"option {name!r}: {exc}")
            continue
        warnings.extend(f"option {name!r}: {note}" for note in notes)
        if option.field is not None:
            config[option.field] = typed
    if problems:
        raise OptionError("; ".join(problems))
    return Converted(job, node, config, warnings)


def _convert_free_form(job: str, node: str, opts: Mapping[str, Any]) -> Converted:
    config: dict[str, Any] = {}
    options = {str(k): _text(v) for k, v in opts.items() if k != "command"}
    if options:
        config["options"] = options
    if opts.get("command"):
        from cdr_dagster.jobs.smoke import check_command

        try:
            config["command"] = check_command(_text(opts["command"]))
        except ValueError as exc:
            raise OptionError(f"option 'command': {exc}") from None
    return Converted(job, node, config, [])


_FALSE_WORDS = {"false", "0", "no", "off", "n", "f", "none", "null", "nil"}
_MONTH = re.compile(r"(\d{6})")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _convert_value(option: LegacyOption, value: Any) -> tuple[Any, list[str]]:
    """``value`` typed for ``option``, and the notes an operator should read."""
    notes = [option.note] if option.note else []
    text = _text(value).strip()
    kind = option.kind
    if kind is Kind.NOT_IMPORTED:
        return None, [f"not imported ({option.note or option.meaning})"]
    if kind is Kind.FLAG:
        on = bool(value)
        if on and text.lower() in _FALSE_WORDS:
            notes.append(
                f"{text!r} turned the option ON in the legacy scheduler (any non-empty value "
                f"did); imported as {option.field}: true"
            )
        return on, notes
    if kind is Kind.INT:
        try:
            return int(text), notes
        except ValueError:
            if option.fallback is None:
                raise OptionError(
                    f"{text!r} is not an integer (the legacy job failed on it)"
                ) from None
        notes.append(
            f"{text!r} is not an integer; the legacy job logged a warning and used "
            f"{option.fallback}, so it was imported as {option.fallback}"
        )
        return int(option.fallback), notes
    if kind is Kind.FLOAT:
        try:
            return float(text), notes
        except ValueError:
            raise OptionError(f"{text!r} is not a number (the legacy job failed on it)") from None
    if kind is Kind.STR:
        return text, notes
    if kind is Kind.CHOICE:
        if text in option.choices:
            return text, notes
        if option.fallback is None:
            raise OptionError(
                f"{text!r} is not one of {', '.join(option.choices)} (the legacy job failed on it)"
            )
        notes.append(
            f"{text!r} is not one of {', '.join(option.choices)}; the legacy job treated it "
            f"as {option.fallback!r}, so it was imported as {option.fallback!r}"
        )
        return option.fallback, notes
    if kind is Kind.TIER:
        if text.upper() not in TIERS:
            raise OptionError(f"{text!r} is not a CDR tier ({', '.join(TIERS)})")
        return text.upper(), notes
    if kind is Kind.EMAIL:
        if re.search(r"[,;\s]", text):
            notes.append(
                f"{text!r} looks like several addresses, but the legacy job used the whole "
                "value as ONE recipient; imported unchanged"
            )
        return text, notes
    if kind is Kind.EMAILS:
        items = _split(text, option.split or Split.COMMA)
        odd = [item for item in items if re.search(r"[,;\s]", item)]
        if odd:
            notes.append(
                f"the legacy job split this value on {option.split.value if option.split else ''}"
                f" only, so {', '.join(repr(i) for i in odd)} stayed one recipient"
            )
        return items, notes
    if kind is Kind.WORDS:
        if option.legacy == "sections":
            # The legacy report tested each section name as a substring of the value.
            chosen = [name for name in option.choices if name in text]
            words = _split(text, Split.COMMA_OR_WHITESPACE)
            if sorted(chosen) != sorted(words):
                notes.append(
                    f"the legacy report picked sections by substring, so {text!r} meant "
                    f"{chosen}; imported as {chosen}"
                )
            return chosen, notes
        words = _split(text, option.split or Split.COMMA)
        unknown = [word for word in words if option.choices and word not in option.choices]
        if unknown:
            notes.append(
                f"{unknown} are not known names; the legacy job skipped them with an error"
            )
        return words, notes
    if kind is Kind.IDS:
        try:
            return [int(item) for item in re.split(r"[\s,]+", text) if item], notes
        except ValueError:
            raise OptionError(f"{text!r} is not a list of CDR ids") from None
    if kind is Kind.DATE:
        try:
            date.fromisoformat(text)
        except ValueError:
            raise OptionError(f"{text!r} is not a YYYY-MM-DD date") from None
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise OptionError(f"{text!r} is not a YYYY-MM-DD date")
        return text, notes
    if kind is Kind.DATETIME:
        for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                datetime.strptime(text, pattern)
            except ValueError:
                continue
            if pattern == "%Y-%m-%d":
                notes.append(
                    "a date without a time worked for the legacy query but crashed its "
                    "late-version check"
                )
            return text, notes
        raise OptionError(f"{text!r} is not 'YYYY-MM-DD HH:MM:SS' or 'YYYY-MM-DD'")
    if kind is Kind.MONTH:
        match = _MONTH.match(text)
        if not match or not 1 <= int(text[4:6]) <= 12:
            raise OptionError(f"{text!r} is not a YYYYMM month (the legacy job failed on it)")
        if len(text) > 6:
            notes.append(f"the legacy job ignored {text[6:]!r} after the month")
        return match.group(1), notes
    raise AssertionError(kind)  # pragma: no cover


def _split(text: str, split: Split) -> list[str]:
    if split in (Split.JSON_OR_COMMA, Split.JSON_COMMA_OR_WHITESPACE) and text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list):
            return [str(item).strip() for item in items if str(item).strip()]
    if split in (Split.COMMA, Split.JSON_OR_COMMA):
        parts = text.split(",")
    elif split is Split.WHITESPACE:
        parts = text.split()
    elif split in (Split.COMMA_OR_WHITESPACE, Split.JSON_COMMA_OR_WHITESPACE):
        parts = text.replace(",", " ").split()
    else:  # COMMA_ELSE_WHITESPACE
        parts = text.split(",") if "," in text else text.split()
    return [part.strip() for part in parts if part.strip()]


_JOINERS = {
    Split.COMMA: ", ",
    Split.WHITESPACE: " ",
    Split.COMMA_OR_WHITESPACE: ", ",
    Split.JSON_OR_COMMA: ", ",
    Split.COMMA_ELSE_WHITESPACE: ", ",
    Split.JSON_COMMA_OR_WHITESPACE: ", ",
}


def legacy_options(entry: JobClass, job: str, config: Mapping[str, Any]) -> dict[str, str]:
    """The legacy ``opts`` (all strings) with the same meaning as ``config`` for ``job``.

    Raises :class:`OptionError` for a field the class does not have or a value the legacy
    options cannot carry.
    """
    opts: dict[str, str] = {}
    problems: list[str] = []
    if entry.selector:
        name = entry.name_of_job(job)
        opts[entry.selector] = next(value for value, n in entry.targets.items() if n == name)
    if entry.options is None:
        unknown = set(config) - {"options", "command"}
        if unknown:
            raise OptionError(f"unknown field(s) {', '.join(sorted(unknown))} for {job}")
        opts.update({str(k): str(v) for k, v in (config.get("options") or {}).items()})
        if config.get("command"):
            opts["command"] = str(config["command"])
        return opts
    by_field = {option.field: option for option in entry.options if option.field}
    for name, value in config.items():
        option = by_field.get(name)
        if option is None:
            problems.append(f"field {name!r} has no legacy option in {entry.legacy_class}")
            continue
        try:
            text = _legacy_value(option, value)
        except OptionError as exc:
            problems.append(f"field {name!r}: {exc}")
            continue
        if text is not None:
            opts[option.legacy] = text
    if problems:
        raise OptionError("; ".join(problems))
    return opts


def _legacy_value(option: LegacyOption, value: Any) -> str | None:
    if value is None:
        return None
    if option.kind is Kind.FLAG:
        if not isinstance(value, bool):
            raise OptionError(f"{value!r} is not true or false")
        if value == bool(option.default):
            return None
        if not value:
            raise OptionError("the legacy option could not be turned off (any value meant on)")
        return "1"
    if option.kind in (Kind.EMAILS, Kind.WORDS):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise OptionError(f"{value!r} is not a list")
        joiner = " " if option.legacy == "sections" else _JOINERS[option.split or Split.COMMA]
        return joiner.join(str(item) for item in value)
    if option.kind is Kind.IDS:
        raise OptionError("the legacy scheduler could not pass a list of ids")
    if isinstance(value, bool):
        raise OptionError(f"{value!r} is not a {option.type_name}")
    return str(value)


def describe() -> str:
    """The catalogue as Markdown: one table of classes and one of options (for docs)."""
    lines = ["| legacy job_class | Dagster job | trigger | run config path |", "|---|---|---|---|"]
    for entry in CATALOGUE:
        jobs = ", ".join(entry.jobs)
        via = f"sensor {entry.sensor} -> " if entry.sensor else ""
        path = ", ".join(f"ops.{entry.node_of(name)}.config" for name in entry.names)
        lines.append(f"| {entry.pattern} | {via}{jobs} | {entry.trigger} | {path} |")
    lines += ["", "| class | legacy option | field | type | meaning |", "|---|---|---|---|---|"]
    for entry in CATALOGUE:
        for option in entry.options or ():
            lines.append(
                f"| {entry.pattern} | {option.legacy} | {option.field or '-'} | "
                f"{option.kind.value}: {option.type_name} | {option.meaning} |"
            )
    return "\n".join(lines)
