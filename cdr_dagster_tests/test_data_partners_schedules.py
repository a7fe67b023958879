"""The schedule entries proposed for schedules.yaml for the partner and s/FTP log work load,
validate against the real jobs, start on the right tiers and tick as the legacy rows did."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time

from cdr_dagster.assets.sftp_logs import (
    pdq_access_report,
    pdq_access_report_job,
    sftp_access_log,
    sftp_access_log_job,
)
from cdr_dagster.jobs.data_partners import data_partner_list_report_job, notify_data_partners_job
from cdr_dagster.resources.defaults import build_resources
from cdr_dagster.schedules import load_schedules
from cdr_dagster.settings import load_settings

ENTRIES = """\
schedules:
  - name: notify_data_partners_weekly
    job: notify_data_partners
    cron: "0 15 * * 1"
    tiers: [PROD]
    description: >-
      Mondays at 15:00 (legacy "Notify PDQ Data Partners"): tells the PDQ data partners that
      this week's export is on the s/FTP site, warns test accounts nearing expiry and expires
      those past it, then mails the operators a summary.
    legacy_name: Notify PDQ Data Partners
    legacy_class: data_partners.Notify
    run_config:
      ops:
        notify_data_partners_op:
          config:
            mode: live

  - name: sftp_access_log_daily
    job: sftp_access_log_job
    cron: "0 5 * * *"
    tiers: [DEV]
    description: >-
      Daily at 05:00 on DEV (legacy "Sync s/FTP Logs"): mirrors the s/FTP server's access logs
      and appends the new session and retrieval lines to the cumulative log.
    legacy_name: Sync s/FTP Logs
    legacy_class: sftp_logs.Refresh

  - name: pdq_access_report_monthly
    job: pdq_access_report_job
    cron: "0 7 1 * *"
    tiers: [DEV]
    description: >-
      The 1st of each month at 07:00 on DEV (legacy "PDQ Access Report"), after the daily log
      sync: the previous month's partner retrievals as a workbook, mailed to
      NCIContentDissemination.
    legacy_name: PDQ Access Report
    legacy_class: pdq_access_log.Report

  - name: data_partner_list_monthly
    job: data_partner_list_report
    cron: "0 8 1 * *"
    tiers: [DEV]
    description: >-
      The 1st of each month at 08:00 on DEV, where the s/FTP access log is kept (legacy
      "PDQ Partner List"): the Production and Test partner accounts with their last access,
      mailed to the Licensee Report Notification group.
    legacy_name: PDQ Partner List
    legacy_class: licensee_list.ReportTask
    run_config:
      ops:
        data_partner_list_report_op:
          config:
            mode: live
"""

JOBS = [
    notify_data_partners_job,
    data_partner_list_report_job,
    sftp_access_log_job,
    pdq_access_report_job,
]


def schedules(tmp_path: Path, tier: str) -> dict[str, dg.ScheduleDefinition]:
    path = tmp_path / "schedules.yaml"
    path.write_text(ENTRIES)
    loaded = load_schedules(
        path, {job.name: job for job in JOBS}, tier, assets=[sftp_access_log, pdq_access_report]
    )
    return {s.name: s for s in loaded}


@pytest.mark.parametrize(
    ("tier", "running"),
    [
        ("PROD", {"notify_data_partners_weekly"}),
        (
            "DEV",
            {"sftp_access_log_daily", "pdq_access_report_monthly", "data_partner_list_monthly"},
        ),
        ("QA", set()),
    ],
)
def test_entries_load_and_run_on_their_tiers(tmp_path: Path, tier, running):
    found = schedules(tmp_path, tier)
    assert set(found) == {
        "notify_data_partners_weekly",
        "sftp_access_log_daily",
        "pdq_access_report_monthly",
        "data_partner_list_monthly",
    }
    started = {n for n, s in found.items() if s.default_status == dg.DefaultScheduleStatus.RUNNING}
    assert started == running
    assert all(s.execution_timezone == "America/New_York" for s in found.values())


def test_the_access_report_schedule_asks_for_the_month_just_ended(tmp_path: Path):
    schedule = schedules(tmp_path, "DEV")["pdq_access_report_monthly"]
    defs = dg.Definitions(
        assets=[sftp_access_log, pdq_access_report],
        jobs=[pdq_access_report_job],
        schedules=[schedule],
        resources=build_resources(load_settings()),
    )
    with dg.instance_for_test() as instance:
        when = datetime(2025, 3, 1, 7, 0, tzinfo=ZoneInfo("America/New_York"))
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        )
        with freeze_time(when):  # the tick is evaluated on time (the misfire policy)
            data = schedule.evaluate_tick(context)
    (request,) = data.run_requests
    assert request.partition_key == "2025-02-01" and request.run_key == "2025-02-01"


def test_definitions_with_the_partner_jobs_load():
    defs = dg.Definitions(
        assets=[sftp_access_log, pdq_access_report],
        jobs=JOBS,
        resources=build_resources(load_settings()),
    )
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {job.name for job in JOBS}
