"""The one ``Definitions`` object of the CDR scheduler's code location.

Everything the Dagster UI shows is assembled here: jobs, assets, schedules (from
``schedules.yaml``), sensors and the resources they share. Nothing else builds a
``Definitions``. The tier in ``CDR_TIER`` decides which schedules start RUNNING.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cdr_dagster import _frozen_imports  # noqa: F401 - first: Dagster, then gc.freeze()
from cdr_dagster.admin_page_sensor import build_scheduled_job_admin_sensor
from cdr_dagster.assets.ctgov_trials import recent_ctgov_trials, recent_ctgov_trials_job
from cdr_dagster.assets.dictionaries import (
    drug_dictionary,
    drug_dictionary_job,
    glossary_dictionary,
    glossary_dictionary_job,
)
from cdr_dagster.assets.glossifier import glossifier_terms, glossifier_terms_job
from cdr_dagster.assets.sftp_logs import (
    pdq_access_report,
    pdq_access_report_job,
    sftp_access_log,
    sftp_access_log_job,
)
from cdr_dagster.assets.sitemap import dictionary_sitemap, dictionary_sitemap_job
from cdr_dagster.assets.trial_listing_info import trial_listing_info, trial_listing_info_job
from cdr_dagster.control_sensors import (
    build_scheduled_job_request_sensor,
    production_health_sensor,
)
from cdr_dagster.job_resources import with_needed_resources
from cdr_dagster.jobs.batch_jobs import run_batch_job
from cdr_dagster.jobs.control import email_schedule_list, reload_scheduler
from cdr_dagster.jobs.data_partners import data_partner_list_report_job, notify_data_partners_job
from cdr_dagster.jobs.dis_links import remove_expired_links_job, report_expiring_links_job
from cdr_dagster.jobs.file_sweeper import sweep_files_job
from cdr_dagster.jobs.govdelivery import govdelivery_reports_job
from cdr_dagster.jobs.health import check_disk_space, notify_production_health
from cdr_dagster.jobs.maintenance import purge_run_history_job
from cdr_dagster.jobs.media_check import check_media_job
from cdr_dagster.jobs.monthly_stats import monthly_stats_report_job
from cdr_dagster.jobs.publishing_queue import run_publishing_job
from cdr_dagster.jobs.publishing_tasks import nightly_publishing, weekly_publishing
from cdr_dagster.jobs.smoke import smoke_test_job
from cdr_dagster.jobs.translation_queues import translation_queue_reports_job
from cdr_dagster.legacy.labels import labelled_jobs, labelled_sensors
from cdr_dagster.queue_sensors import batch_job_queue_sensor, publishing_queue_sensor
from cdr_dagster.resources.cms import build_cms_resource
from cdr_dagster.resources.ctgov import build_ctgov_resource
from cdr_dagster.resources.defaults import build_resources
from cdr_dagster.resources.evs import build_evs_resource
from cdr_dagster.resources.netstorage import build_netstorage_resource
from cdr_dagster.resources.search_index import build_search_index_resource
from cdr_dagster.schedules import load_schedules
from cdr_dagster.sensors import queue_run_canceled_sensor, run_failure_email_sensor
from cdr_dagster.settings import load_settings

SCHEDULES_PATH = Path(__file__).with_name("schedules.yaml")

settings = load_settings()

assets = [
    glossary_dictionary,
    drug_dictionary,
    sftp_access_log,
    pdq_access_report,
    recent_ctgov_trials,
    trial_listing_info,
    dictionary_sitemap,
    glossifier_terms,
]

jobs = [
    smoke_test_job,
    purge_run_history_job,
    run_batch_job,
    run_publishing_job,
    notify_data_partners_job,
    data_partner_list_report_job,
    sftp_access_log_job,
    pdq_access_report_job,
    weekly_publishing,
    nightly_publishing,
    notify_production_health,
    check_disk_space,
    email_schedule_list,
    reload_scheduler,
    glossary_dictionary_job,
    drug_dictionary_job,
    sweep_files_job,
    check_media_job,
    translation_queue_reports_job,
    recent_ctgov_trials_job,
    trial_listing_info_job,
    dictionary_sitemap_job,
    glossifier_terms_job,
    report_expiring_links_job,
    remove_expired_links_job,
    govdelivery_reports_job,
    monthly_stats_report_job,
]
resources = {
    **build_resources(settings),
    "search_index": build_search_index_resource(),
    "ctgov": build_ctgov_resource(),
    "evs": build_evs_resource(),
    "netstorage": build_netstorage_resource(),
    "cms": build_cms_resource(),
}
# Jobs that replace a legacy job carry its class and name (tags, description): legacy/labels.py.
# Each op job carries only the resources it uses (job_resources.py: a smaller snapshot).
jobs = with_needed_resources(labelled_jobs(jobs), resources, assets)

defs = dg.Definitions(
    assets=assets,
    jobs=jobs,
    schedules=load_schedules(
        SCHEDULES_PATH, {job.name: job for job in jobs}, settings.tier, assets=assets
    ),
    sensors=labelled_sensors(
        [
            run_failure_email_sensor,
            queue_run_canceled_sensor,
            batch_job_queue_sensor,
            publishing_queue_sensor,
            production_health_sensor,
            build_scheduled_job_request_sensor(jobs),
            build_scheduled_job_admin_sensor(SCHEDULES_PATH),
        ],
        jobs,
    ),
    resources=resources,
)
