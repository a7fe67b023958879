"""The misfire policy of schedules.yaml: a tick evaluated too long after its time is skipped
with the reason, and mailed about when the entry asks; bad settings are refused by name.

Ticks are evaluated with Dagster's clock set to a chosen moment (the clock its scheduler daemon
reads); the daemon test stopped across a tick is in ``test_run_lifecycle_e2e.py``.
(No ``from __future__ import annotations``: Dagster reads the Config annotations of the ops.)
"""

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time
from sqlalchemy.engine import Engine

from cdr_dagster.schedules import (
    DEFAULT_MISFIRE_GRACE_MINUTES,
    SCHEDULES_PATH,
    read_schedule_table,
)
from cdr_dagster_tests.cdr_rows import developers_email
from cdr_dagster_tests.test_schedules import TZ, by_name, load, problems_of

ENTRIES = """
schedules:
  - name: sweep_files_nightly
    job: sweep_files
    cron: "30 22 * * *"
    tiers: [DEV]
    description: Nightly sweep, default grace.
  - name: report_friday
    job: report
    cron: "0 16 * * 5"
    tiers: [DEV]
    description: A report that matters.
    misfire_grace_minutes: 30
    misfire_mail: true
    run_config:
      ops:
        report_op:
          config:
            mode: live
"""

FRIDAY = datetime(2026, 12, 4, 16, 0, tzinfo=TZ)


def evaluate(schedule: dg.ScheduleDefinition, scheduled: datetime, now: datetime, **resources):
    """Evaluate ``schedule``'s tick of ``scheduled`` with Dagster's clock at ``now``."""
    with (
        dg.build_schedule_context(scheduled_execution_time=scheduled, resources=resources) as ctx,
        freeze_time(now),
    ):
        return schedule.evaluate_tick(ctx)


def test_a_tick_within_its_grace_runs(tmp_path: Path) -> None:
    schedules = by_name(load(tmp_path, ENTRIES))
    nightly = datetime(2026, 12, 4, 22, 30, tzinfo=TZ)

    late_but_allowed = evaluate(
        schedules["sweep_files_nightly"], nightly, nightly + timedelta(minutes=59)
    )

    assert late_but_allowed.skip_message is None
    assert len(late_but_allowed.run_requests) == 1


def test_a_tick_past_its_grace_is_skipped_with_the_reason(tmp_path: Path) -> None:
    schedules = by_name(load(tmp_path, ENTRIES))
    nightly = datetime(2026, 12, 4, 22, 30, tzinfo=TZ)

    result = evaluate(schedules["sweep_files_nightly"], nightly, nightly + timedelta(hours=3))

    assert result.run_requests == []
    assert result.skip_message == (
        "missed: the tick of 2026-12-04 22:30 EST came 180 min late, more than the 60 min "
        "this schedule allows (misfire_grace_minutes); it is skipped, the next tick runs as "
        "usual"
    )


def test_a_missed_tick_of_a_schedule_that_matters_is_mailed(
    tmp_path: Path, cdr_db: Engine, mailbox
) -> None:
    schedules = by_name(load(tmp_path, ENTRIES))
    email = developers_email(cdr_db, mailbox)
    saturday = FRIDAY + timedelta(hours=17)  # the daemon came back on Saturday morning

    on_time = evaluate(
        schedules["report_friday"], FRIDAY, FRIDAY + timedelta(minutes=29), email=email
    )
    missed = evaluate(schedules["report_friday"], FRIDAY, saturday, email=email)

    assert len(on_time.run_requests) == 1, "29 minutes late is within its 30"
    assert missed.run_requests == []
    assert "came 1020 min late, more than the 30 min this schedule allows" in missed.skip_message
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["ann@example.gov"]
    assert mail.message["Subject"] == "[DEV] Missed schedule report_friday (2026-12-04 16:00 EST)"
    assert "Launch the job from the Dagster UI if it should still run." in (
        mail.message.get_content()
    )


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("misfire_grace_minutes: 0", "misfire_grace_minutes must be a number of minutes above 0"),
        ("misfire_grace_minutes: soon", "not 'soon'"),
        ("misfire_grace_minutes: true", "not True"),
        ("misfire_mail: sometimes", "misfire_mail must be true or false, not 'sometimes'"),
    ],
)
def test_bad_misfire_settings_are_refused_naming_the_entry(
    tmp_path: Path, setting: str, expected: str
) -> None:
    text = ENTRIES.replace("    misfire_mail: true\n", f"    {setting}\n", 1)
    if setting.startswith("misfire_grace"):
        text = ENTRIES.replace("    misfire_grace_minutes: 30\n", f"    {setting}\n", 1)
    problems = problems_of(tmp_path, text)
    assert any("schedules[1] 'report_friday'" in p and expected in p for p in problems), problems


def test_the_shipped_publishing_schedules_have_a_tight_grace_and_mail() -> None:
    entries = {entry.name: entry for entry in read_schedule_table(SCHEDULES_PATH).schedules}
    for name in ("weekly_publishing", "nightly_publishing"):
        assert entries[name].misfire_grace_minutes < DEFAULT_MISFIRE_GRACE_MINUTES, name
        assert entries[name].misfire_mail, name
    defaults = [e for e in entries.values() if e.misfire_grace_minutes == 60]
    assert len(defaults) > len(entries) / 2, "most schedules keep the default grace"
