"""``smoke_test``: logs the row's name and options, runs a script under CDR_BASEDIR, and
refuses a shell command with an error that names the alternative."""

from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.jobs.smoke import SmokeTestConfig, smoke_test_job
from cdr_dagster.resources.commands import CommandRunnerResource


def run(basedir: Path, instance: dg.DagsterInstance, tags=None, **config):  # noqa: ANN001, ANN201
    return smoke_test_job.execute_in_process(
        run_config=dg.RunConfig(ops={"smoke_test_op": SmokeTestConfig(**config)}),
        resources={"commands": CommandRunnerResource(basedir=str(basedir))},
        instance=instance,
        tags=tags or {},
        raise_on_error=False,
    )


def messages(instance: dg.DagsterInstance, result) -> list[str]:  # noqa: ANN001
    return [record.user_message for record in instance.all_logs(result.run_id)]


def failure_text(result) -> str:  # noqa: ANN001
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return event.step_failure_data.error.message


def test_the_run_now_rows_name_and_the_options_are_logged(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        result = run(
            tmp_path,
            instance,
            tags={"cdr/scheduled-job-name": "Scheduler Test"},
            options={"stooge": "Larry"},
        )
        logged = messages(instance, result)
    assert result.success
    assert "Running Scheduler Test job with opts {'stooge': 'Larry'}" in logged, (
        f"the row's name is missing from the log: {logged}"
    )


def test_a_schedules_name_is_logged_when_no_row_started_the_run(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        result = run(tmp_path, instance, tags={"dagster/schedule_name": "automated_testing_job"})
        logged = messages(instance, result)
    assert "Running automated_testing_job job with opts {}" in logged, logged


def test_a_script_under_the_base_folder_runs_with_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "Bin").mkdir()
    (tmp_path / "Bin" / "hello.py").write_text("import sys\nprint('hello', sys.argv[1])\n")
    with dg.instance_for_test() as instance:
        result = run(tmp_path, instance, command="Bin/hello.py 'big world'")
        logged = messages(instance, result)
    assert result.success
    assert any("hello big world" in line for line in logged), f"no script output in {logged}"
    assert "returncode: 0" in logged


def test_a_program_that_is_not_a_script_under_the_base_folder_is_refused_naming_why(
    tmp_path: Path,
) -> None:
    with dg.instance_for_test() as instance:
        result = run(tmp_path, instance, command="echo hi")
    assert not result.success
    text = failure_text(result)
    assert "command 'echo hi'" in text and "script 'echo' not found" in text, text
    assert "never runs a shell command" in text and "Bin/check.py" in text, (
        f"the error must say a shell is refused and name the alternative: {text}"
    )


@pytest.mark.parametrize("command", ["echo hi | wc -l", "Bin/x.py > out.txt", "a.py; rm -rf /"])
def test_shell_syntax_is_refused_when_the_config_is_checked(command: str) -> None:
    with pytest.raises(ValueError, match="uses shell syntax") as info:
        SmokeTestConfig(command=command)
    assert repr(command) in str(info.value) and "never runs a shell command" in str(info.value)


def test_a_failing_script_fails_the_run_with_its_status(tmp_path: Path) -> None:
    (tmp_path / "fail.py").write_text("raise SystemExit(3)\n")
    with dg.instance_for_test() as instance:
        result = run(tmp_path, instance, command="fail.py")
    assert not result.success
    assert "ended with exit status 3" in failure_text(result)
