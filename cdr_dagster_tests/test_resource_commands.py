"""CommandRunnerResource with real scripts written into a temporary CDR base folder.

No postponed annotations here: Dagster reads the ops' context and resource type hints.
"""

import logging
import os
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.resources.commands import (
    CommandError,
    CommandPathRefusedError,
    CommandResult,
    CommandRunnerResource,
    ScriptNotFoundError,
)


def write_script(path: Path, text: str, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    if executable:
        path.chmod(0o755)
    return path


@pytest.fixture
def basedir(tmp_path: Path) -> Path:
    base = tmp_path / "cdr"
    write_script(
        base / "lib" / "Python" / "CdrLongReports.py",
        """
        import os, sys
        print("report job", sys.argv[1], flush=True)
        print("progress: 50%", file=sys.stderr, flush=True)
        print("términos: cáncer", flush=True)
        print("cwd", os.getcwd(), flush=True)
        print("basedir", os.environ["CDR_BASEDIR"], flush=True)
        print("extra", os.environ.get("CDR_JOB_NAME", "-"), flush=True)
        sys.exit(int(os.environ.get("EXIT_WITH", "0")))
        """,
    )
    return base


@pytest.fixture
def runner(basedir: Path) -> CommandRunnerResource:
    return CommandRunnerResource(basedir=str(basedir))


def run_in_job(runner: CommandRunnerResource, script: str, args: list[str], **kwargs):
    """Run the command inside an op of an in-process job; return (result, run log messages)."""

    @dg.op
    def run_script(context: dg.OpExecutionContext, commands: CommandRunnerResource) -> int:
        result = commands.run(script, args, log=context.log, **kwargs)
        context.add_output_metadata({"exit_code": result.exit_code})
        return result.exit_code

    @dg.job
    def script_job() -> None:
        run_script()

    instance = dg.DagsterInstance.ephemeral()
    outcome = script_job.execute_in_process(instance=instance, resources={"commands": runner})
    messages = [
        entry.user_message
        for entry in instance.all_logs(outcome.run_id)
        if entry.dagster_event is None and entry.step_key == "run_script"
    ]
    return outcome.output_for_node("run_script"), messages


def test_success_output_goes_to_the_run_log(runner: CommandRunnerResource, basedir: Path) -> None:
    exit_code, messages = run_in_job(
        runner, "lib/Python/CdrLongReports.py", ["42"], env={"CDR_JOB_NAME": "Broken URLs"}
    )

    assert exit_code == 0
    output = [m for m in messages if not m.startswith(("running ", "CdrLongReports.py exited"))]
    assert output == [
        "report job 42",
        "progress: 50%",
        "términos: cáncer",
        f"cwd {basedir.resolve()}",
        f"basedir {basedir.resolve()}",
        "extra Broken URLs",
    ]
    assert messages[0].startswith(f"running {sys.executable} ")
    assert messages[-1].startswith("CdrLongReports.py exited with status 0")


def test_non_zero_exit_is_returned_not_raised(runner: CommandRunnerResource) -> None:
    exit_code, messages = run_in_job(
        runner, "lib/Python/CdrLongReports.py", ["7"], env={"EXIT_WITH": "3"}
    )

    assert exit_code == 3
    assert any("exited with status 3" in m for m in messages)


def test_result_fields_and_tail(basedir: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_script(
        basedir / "bin" / "chatty.py",
        """
        for n in range(120):
            print(f"line {n}")
        """,
    )
    runner = CommandRunnerResource(basedir=str(basedir), tail_lines=5)
    logger = logging.getLogger("cdr-test-runner")

    with caplog.at_level(logging.INFO, logger="cdr-test-runner"):
        result = runner.run(basedir / "bin" / "chatty.py", log=logger)  # absolute, inside

    assert isinstance(result, CommandResult)
    assert result.succeeded and result.exit_code == 0 and not result.timed_out
    assert result.line_count == 120
    assert result.output_tail == tuple(f"line {n}" for n in range(115, 120))
    assert result.command == (sys.executable, str((basedir / "bin" / "chatty.py").resolve()))
    assert result.duration_seconds >= 0
    logged = [r.getMessage() for r in caplog.records if r.name == "cdr-test-runner"]
    assert [m for m in logged if m.startswith("line ")] == [f"line {n}" for n in range(120)]


def test_with_build_op_context(runner: CommandRunnerResource) -> None:
    context = dg.build_op_context(resources={"commands": runner})

    result = context.resources.commands.run(
        "lib/Python/CdrLongReports.py", ["1"], log=context, env={"EXIT_WITH": "5"}
    )

    assert result.exit_code == 5
    assert "report job 1" in result.output_tail


def test_py_scripts_use_the_configured_python(basedir: Path, tmp_path: Path) -> None:
    wrapper = write_script(
        tmp_path / "interpreters" / "cdr-python",
        f"""
        #!/bin/sh
        echo "interpreter wrapper: $1"
        exec {sys.executable} "$@"
        """,
        executable=True,
    )
    runner = CommandRunnerResource(basedir=str(basedir), python=str(wrapper))

    result = runner.run("lib/Python/CdrLongReports.py", ["9"])

    script = (basedir / "lib" / "Python" / "CdrLongReports.py").resolve()
    assert result.command == (str(wrapper), str(script), "9")
    assert result.output_tail[0] == f"interpreter wrapper: {script}"
    assert result.output_tail[1] == "report job 9"


def test_other_scripts_run_directly_without_a_shell(basedir: Path, tmp_path: Path) -> None:
    write_script(
        basedir / "bin" / "args.sh",
        """
        #!/bin/sh
        for arg in "$@"; do echo "arg=[$arg]"; done
        exit 4
        """,
        executable=True,
    )
    runner = CommandRunnerResource(basedir=str(basedir))
    marker = tmp_path / "pwned"

    result = runner.run("bin/args.sh", ["two words", f"$(touch {marker})", "; exit 0", "*"])

    assert result.exit_code == 4
    assert result.output_tail == (
        "arg=[two words]",
        f"arg=[$(touch {marker})]",
        "arg=[; exit 0]",
        "arg=[*]",
    )
    assert not marker.exists()


def test_paths_outside_the_base_folder_are_refused(basedir: Path, tmp_path: Path) -> None:
    outside = write_script(tmp_path / "outside.py", "print('escaped')\n")
    (basedir / "bin").mkdir(exist_ok=True)
    (basedir / "bin" / "link.py").symlink_to(outside)
    (basedir / "elsewhere").symlink_to(tmp_path)
    runner = CommandRunnerResource(basedir=str(basedir))

    refused = [
        "../outside.py",
        "lib/../../outside.py",
        str(outside),
        "bin/link.py",
        "elsewhere/outside.py",
    ]
    for script in refused:
        with pytest.raises(CommandPathRefusedError) as caught:
            runner.run(script)
        assert repr(script) in str(caught.value)
    with pytest.raises(CommandPathRefusedError, match="/etc"):
        runner.run("lib/Python/CdrLongReports.py", ["1"], cwd="/etc")


def test_missing_and_unusable_scripts(basedir: Path) -> None:
    write_script(basedir / "bin" / "not-executable.sh", "#!/bin/sh\necho hi\n")
    runner = CommandRunnerResource(basedir=str(basedir))

    with pytest.raises(ScriptNotFoundError) as caught:
        runner.run("lib/Python/NoSuchReport.py", ["1"])
    assert "lib/Python/NoSuchReport.py" in str(caught.value)
    with pytest.raises(CommandError, match="not executable"):
        runner.run("bin/not-executable.sh")
    with pytest.raises(CommandError, match="not a file"):
        runner.run("lib")
    with pytest.raises(CommandError, match="does not exist"):
        CommandRunnerResource(basedir=str(basedir / "absent")).run("x.py")


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_timeout_kills_the_process_tree(basedir: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    write_script(
        basedir / "bin" / "hang.py",
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(600)
        """,
    )
    runner = CommandRunnerResource(basedir=str(basedir), kill_grace_seconds=2)

    exit_code, messages = run_in_job(runner, "bin/hang.py", [], timeout_seconds=3)

    assert exit_code != 0
    assert "started" in messages
    assert any("exceeded its time limit of 3" in m for m in messages)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child)


def test_a_left_behind_child_does_not_hang_the_run(basedir: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "orphan.pid"
    write_script(
        basedir / "bin" / "detach.py",
        f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("spawned", flush=True)
        sys.exit(6)
        """,
    )
    runner = CommandRunnerResource(basedir=str(basedir))

    try:
        exit_code, messages = run_in_job(runner, "bin/detach.py", [])
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)

    assert exit_code == 6
    assert "spawned" in messages
    assert any("still holds its output open" in m for m in messages)


def test_timed_out_result(basedir: Path) -> None:
    write_script(
        basedir / "bin" / "slow.py", "import time\nprint('tick', flush=True)\ntime.sleep(600)\n"
    )
    runner = CommandRunnerResource(basedir=str(basedir), timeout_seconds=2, kill_grace_seconds=1)

    result = runner.run("bin/slow.py")

    assert result.timed_out and not result.succeeded
    assert result.exit_code != 0
    assert result.output_tail == ("tick",)


def test_resource_config_from_environment(basedir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDR_BASEDIR", str(basedir))
    runner = CommandRunnerResource(basedir=dg.EnvVar("CDR_BASEDIR"))

    exit_code, _ = run_in_job(runner, "lib/Python/CdrLongReports.py", ["2"])

    assert exit_code == 0
    assert os.environ["CDR_BASEDIR"] == str(basedir)


# --- the script's environment ------------------------------------------------------------------

SECRETS = {
    "DAGSTER_PG_PASSWORD": "pg-secret",
    "CDR_SMTP_PASSWORD": "smtp-secret",
    "CDR_SFTP_PASSWORD": "sftp-secret",
    "CDR_SFTP_KEY_PASSPHRASE": "passphrase-secret",
    "CDR_ES_PASSWORD": "es-secret",
    "CDR_CMS_PASSWORD": "cms-secret",
    "CDR_NETSTORAGE_KEY_FILE": "/etc/akamai/key",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "GITHUB_TOKEN": "gh-token",
    "my_api_key": "lower-case-key",
}


def dump_environment_script(basedir: Path) -> str:
    """A script that writes its whole environment as JSON into the file in argv[1]."""
    write_script(
        basedir / "bin" / "dump_env.py",
        """
        import json, os, sys
        with open(sys.argv[1], "w", encoding="utf-8") as out:
            json.dump(dict(os.environ), out)
        """,
    )
    return "bin/dump_env.py"


def environment_seen(runner: CommandRunnerResource, basedir: Path, **kwargs) -> dict:
    import json

    out = basedir / "env.json"
    exit_code, _ = run_in_job(runner, dump_environment_script(basedir), [str(out)], **kwargs)
    assert exit_code == 0, "the environment-dumping script failed"
    return json.loads(out.read_text(encoding="utf-8"))


def test_no_secret_reaches_a_script(basedir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CDR_TIER", "QA")
    monkeypatch.setenv("CDR_DB_URL", "postgresql://cdr@127.0.0.1/cdr")
    monkeypatch.setenv("CDR_MAIL_OUTBOX", str(basedir / "outbox"))
    monkeypatch.setenv("UNRELATED_SETTING", "not for scripts")
    runner = CommandRunnerResource(basedir=str(basedir))

    seen = environment_seen(runner, basedir)

    leaked = sorted(name for name in seen if name in SECRETS or "PASSWORD" in name.upper())
    assert not leaked, f"secret variables reached the script: {leaked}"
    values = set(seen.values())
    assert not values & set(SECRETS.values()), "a secret value reached the script"
    assert "UNRELATED_SETTING" not in seen, "a variable outside the list reached the script"
    assert seen["CDR_TIER"] == "QA" and seen["CDR_DB_URL"] == "postgresql://cdr@127.0.0.1/cdr"
    assert seen["CDR_MAIL_OUTBOX"] == str(basedir / "outbox")
    assert seen["CDR_BASEDIR"] == str(basedir)
    assert seen["PATH"] == os.environ["PATH"], "scripts need PATH to find programs"
    assert seen["PYTHONIOENCODING"] == "utf-8" and seen["PYTHONUNBUFFERED"] == "1"
    from cdr_dagster.resources.commands import SCRIPT_VARIABLES

    fixed = {"CDR_BASEDIR", "PYTHONIOENCODING", "PYTHONUNBUFFERED"}
    # Python itself may add a few (LC_CTYPE on some platforms); nothing else may appear.
    unexpected = sorted(
        set(seen) - set(SCRIPT_VARIABLES) - fixed - {"LC_CTYPE", "__CF_USER_TEXT_ENCODING"}
    )
    assert not unexpected, f"variables outside SCRIPT_VARIABLES reached the script: {unexpected}"


def test_the_allow_list_adds_variables_but_never_secrets(
    basedir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdr_dagster.settings import SettingsError, load_settings

    monkeypatch.setenv("ORACLE_HOME", "/opt/oracle")
    monkeypatch.setenv("CDR_SMTP_PASSWORD", "smtp-secret")
    settings = load_settings({"CDR_SCRIPT_ENV_ALLOW": "ORACLE_HOME, NLS_LANG"})
    assert settings.script_env_allow == ("ORACLE_HOME", "NLS_LANG")
    runner = CommandRunnerResource(basedir=str(basedir), env_allow=list(settings.script_env_allow))

    seen = environment_seen(runner, basedir)

    assert seen.get("ORACLE_HOME") == "/opt/oracle", "an allow-listed variable did not arrive"
    assert "NLS_LANG" not in seen, "an allow-listed variable that is not set must stay unset"
    assert "CDR_SMTP_PASSWORD" not in seen
    for value in ("CDR_SMTP_PASSWORD", "X_TOKEN,PATH", "API_KEY", "MY_SECRET"):
        with pytest.raises(SettingsError, match="looks like a secret"):
            load_settings({"CDR_SCRIPT_ENV_ALLOW": value})
    with pytest.raises(SettingsError, match="'1BAD' is not a variable name"):
        load_settings({"CDR_SCRIPT_ENV_ALLOW": "1BAD"})


def test_a_secret_asked_for_directly_is_refused(
    basedir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDR_ES_PASSWORD", "es-secret")
    dump_environment_script(basedir)
    configured = CommandRunnerResource(basedir=str(basedir), env_allow=["CDR_ES_PASSWORD"])
    with pytest.raises(CommandError, match="'CDR_ES_PASSWORD' look"):
        configured.run("bin/dump_env.py", [str(basedir / "env.json")])
    plain = CommandRunnerResource(basedir=str(basedir))
    with pytest.raises(CommandError, match="'SERVICE_TOKEN' look"):
        plain.run("bin/dump_env.py", [str(basedir / "env.json")], env={"SERVICE_TOKEN": "t"})
    assert not (basedir / "env.json").exists(), "the script ran although its env was refused"
