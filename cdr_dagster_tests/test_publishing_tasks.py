"""weekly_publishing and nightly_publishing run real scripts written into a CDR base folder.

Each stand-in script (``Publishing/<name>``) appends its name and arguments to
``invocations.jsonl`` and then behaves as ``behaviour.json`` says (print a line, exit with a
status), so the tests see the order, the arguments and every failure path of the legacy task.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from cdr_dagster.jobs.publishing_tasks import (
    PUBLISHING_TASK_TAGS,
    nightly_publishing,
    weekly_publishing,
)
from cdr_dagster.legacy.catalogue import convert_options, find_job_class, run_config_for
from cdr_dagster.resources.commands import CommandRunnerResource

SCRIPTS = (
    "PubEmail.py",
    "SubmitPubJob.py",
    "CG2Public.py",
    "sftp-export-data.py",
    "Notify_VOL.py",
    "CheckHotfixRemove.py",
)

STAND_IN = r"""
import json, os, sys
base = os.environ["CDR_BASEDIR"]
name = os.path.basename(__file__)
with open(os.path.join(base, "invocations.jsonl"), "a", encoding="utf-8") as log:
    log.write(json.dumps({"script": name, "argv": sys.argv[1:]}) + "\n")
path = os.path.join(base, "behaviour.json")
behaviour = {}
if os.path.exists(path):
    with open(path, encoding="utf-8") as handle:
        behaviour = json.load(handle).get(name, {})
if behaviour.get("print"):
    print(behaviour["print"], flush=True)
sys.exit(behaviour.get("exit", 0))
"""

STARTED = {
    "script": "PubEmail.py",
    "argv": ["Weekly Publishing Started", "Weekly job started successfully"],
}
FINISHED = {
    "script": "PubEmail.py",
    "argv": ["Weekly Publishing Finished", "Weekly job finished successfully"],
}


def error_mail(script: str) -> dict[str, Any]:
    return {
        "script": "PubEmail.py",
        "argv": [f"*** Error in {script}", "Program returned with error code. See log file."],
    }


@pytest.fixture
def base(tmp_path: Path) -> Path:
    folder = tmp_path / "cdr"
    (folder / "Publishing").mkdir(parents=True)
    for name in SCRIPTS:
        (folder / "Publishing" / name).write_text(STAND_IN, encoding="utf-8")
    return folder


def behave(base: Path, table: dict[str, dict[str, Any]]) -> None:
    """Give scripts a behaviour: ``behave(base, {"SubmitPubJob.py": {"exit": 1}})``."""
    (base / "behaviour.json").write_text(json.dumps(table), encoding="utf-8")


def invocations(base: Path) -> list[dict[str, Any]]:
    path = base / "invocations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(
    job: dg.JobDefinition,
    base: Path,
    instance: dg.DagsterInstance | None = None,
    **config: Any,
) -> dg.ExecuteInProcessResult:
    node = f"{job.name}_op"
    return job.execute_in_process(
        run_config={"ops": {node: {"config": config}}},
        resources={"commands": CommandRunnerResource(basedir=str(base), python=sys.executable)},
        instance=instance,
        raise_on_error=False,
    )


def test_weekly_live_runs_every_step_in_legacy_order_with_legacy_arguments(base: Path) -> None:
    result = run(weekly_publishing, base, mode="live")
    assert result.success
    assert invocations(base) == [
        STARTED,
        {"script": "SubmitPubJob.py", "argv": ["--live", "--export"]},
        {"script": "CG2Public.py", "argv": ["--live", "--export"]},
        {"script": "sftp-export-data.py", "argv": []},
        {"script": "Notify_VOL.py", "argv": ["--live"]},
        {"script": "CheckHotfixRemove.py", "argv": ["--live"]},
        FINISHED,
    ]
    assert result.dagster_run.tags["cdr/lock"] == "publishing-task"


def test_nightly_live_runs_only_submit_pub_job_interim(base: Path) -> None:
    """Nightly live: Started and Finished mails and one SubmitPubJob --live --interim."""
    result = run(nightly_publishing, base, mode="live")
    assert result.success
    assert invocations(base) == [
        {
            "script": "PubEmail.py",
            "argv": ["Nightly Publishing Started", "Nightly job started successfully"],
        },
        {"script": "SubmitPubJob.py", "argv": ["--live", "--interim"]},
        {
            "script": "PubEmail.py",
            "argv": ["Nightly Publishing Finished", "Nightly job finished successfully"],
        },
    ]


def test_weekly_test_mode_with_job_id_and_skip_publish_step(base: Path) -> None:
    """Weekly test mode with a job id and no publish step: the four weekly scripts only."""
    result = run(weekly_publishing, base, mode="test", job_id=123, skip_publish_step=True)
    assert result.success
    calls = invocations(base)
    assert [c["script"] for c in calls].count("SubmitPubJob.py") == 0
    assert calls[1:-1] == [
        {"script": "CG2Public.py", "argv": ["--test", "--export", "--inputdir=Job123"]},
        {"script": "sftp-export-data.py", "argv": []},
        {"script": "Notify_VOL.py", "argv": ["--test"]},
        {"script": "CheckHotfixRemove.py", "argv": ["--test"]},
    ]
    assert result.output_for_node("submit_pub_job").skip_publish_step


def test_failure_text_from_submit_pub_job_stops_the_task_despite_exit_zero(base: Path) -> None:
    """'Failure' in the output with status 0 is a failure of step 1."""
    behave(
        base, {"SubmitPubJob.py": {"print": "*** Failure: Job41 still in process (Export: Ready)"}}
    )
    result = run(weekly_publishing, base, mode="live")
    assert not result.success
    assert invocations(base) == [
        STARTED,
        {"script": "SubmitPubJob.py", "argv": ["--live", "--export"]},
        error_mail("SubmitPubJob.py"),
    ]
    assert result.is_node_failed("submit_pub_job")
    for later in ("cg2public", "sftp_export_data", "notify_vol", "publishing_finished"):
        assert not result.is_node_success(later)
        assert not result.is_node_failed(later)
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "failure in SubmitPubJob.py" in failure.step_failure_data.user_failure_data.description


def test_non_zero_exit_of_submit_pub_job_stops_the_nightly_task(base: Path) -> None:
    behave(base, {"SubmitPubJob.py": {"exit": 1}})
    result = run(nightly_publishing, base, mode="test")
    assert not result.success
    assert [c["argv"][0] for c in invocations(base) if c["script"] == "PubEmail.py"] == [
        "Nightly Publishing Started",
        "*** Error in SubmitPubJob.py",
    ]


def test_failed_later_step_is_reported_and_the_others_still_run(base: Path) -> None:
    """CG2Public exits 1; the rest runs and Finished is mailed."""
    behave(base, {"CG2Public.py": {"exit": 1, "print": "validation warnings in 3 documents"}})
    result = run(weekly_publishing, base, mode="live")
    assert invocations(base) == [
        STARTED,
        {"script": "SubmitPubJob.py", "argv": ["--live", "--export"]},
        {"script": "CG2Public.py", "argv": ["--live", "--export"]},
        error_mail("CG2Public.py"),
        {"script": "sftp-export-data.py", "argv": []},
        {"script": "Notify_VOL.py", "argv": ["--live"]},
        {"script": "CheckHotfixRemove.py", "argv": ["--live"]},
        FINISHED,
    ]
    # Every step had its turn; the run is failed at the end, naming the step.
    assert not result.success
    assert result.is_node_success("check_hotfix_remove")
    assert result.is_node_failed("publishing_finished")
    assert result.output_for_node("cg2public").failed_steps == ("CG2Public.py",)
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "publishing_finished"
    assert "these steps failed: CG2Public.py" in (
        failure.step_failure_data.user_failure_data.description
    )


def test_missing_later_script_counts_as_a_failed_step(base: Path) -> None:
    (base / "Publishing" / "Notify_VOL.py").unlink()
    behave(base, {"CheckHotfixRemove.py": {"exit": 2}})
    result = run(weekly_publishing, base, mode="test")
    assert not result.success
    assert result.output_for_node("check_hotfix_remove").failed_steps == (
        "Notify_VOL.py",
        "CheckHotfixRemove.py",
    )
    mails = [c["argv"][0] for c in invocations(base) if c["script"] == "PubEmail.py"]
    assert mails == [
        "Weekly Publishing Started",
        "*** Error in Notify_VOL.py",
        "*** Error in CheckHotfixRemove.py",
        "Weekly Publishing Finished",
    ]


def test_failing_notification_is_logged_and_does_not_stop_the_task(base: Path) -> None:
    behave(base, {"PubEmail.py": {"exit": 1, "print": "SMTP relay refused the message"}})
    instance = dg.DagsterInstance.ephemeral()
    result = run(nightly_publishing, base, instance, mode="live")
    assert result.success
    assert [c["script"] for c in invocations(base)] == [
        "PubEmail.py",
        "SubmitPubJob.py",
        "PubEmail.py",
    ]
    errors = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level >= 40 and "sending email" in entry.user_message
    ]
    assert len(errors) == 2
    assert "PubEmail.py exited with status 1" in errors[0]


def test_legacy_row_options_map_to_the_weekly_job(base: Path) -> None:
    """A legacy row's options (catalogue, as import-schedules and Run Job Now use it) run.

    ``publish-only: "false"`` counted as true.
    """
    entry = find_job_class("publishing_task.PublishingTask")
    assert entry is not None
    converted = convert_options(
        entry, {"schedule": "weekly", "mode": "live", "publish-only": "false"}
    )
    assert converted.job == "weekly_publishing"
    run_config = run_config_for(converted.node, converted.config)
    result = weekly_publishing.execute_in_process(
        run_config=run_config,
        resources={"commands": CommandRunnerResource(basedir=str(base), python=sys.executable)},
    )
    assert result.success
    assert [c["script"] for c in invocations(base)] == [
        "PubEmail.py",
        "SubmitPubJob.py",
        "PubEmail.py",
    ]


def test_config_refuses_a_bad_mode_when_the_schedule_table_loads() -> None:
    with pytest.raises(dg.DagsterInvalidConfigError, match="mode"):
        dg.validate_run_config(
            weekly_publishing,
            {"ops": {"weekly_publishing_op": {"config": {"mode": "daily"}}}},
        )


def test_tasks_never_take_the_publishing_queue_lane() -> None:
    """SubmitPubJob.py waits for run_publishing_job runs, which hold that one-run lane."""
    for job in (weekly_publishing, nightly_publishing):
        assert job.tags.get("cdr/queue") != "publishing"
        assert job.tags["cdr/lock"] == PUBLISHING_TASK_TAGS["cdr/lock"]
