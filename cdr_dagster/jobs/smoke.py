"""``smoke_test``: the scheduler's test job (legacy ``test.Stub``).

It proves that a schedule or a launch reaches a run: it logs the name of the schedule or
Run-Now row that started it and the options it was given and, when asked, runs one command and
reports its exit status.

What ``command`` may run (see ``docs/differences-from-legacy.md``): one script under the CDR
base folder (``CDR_BASEDIR``) with its arguments, through the same runner as the batch jobs.
The legacy stub handed the text to a shell; this job never does. A shell would let anyone who
can edit a schedule or a Run-Now row run any program on the host, so shell syntax (pipes,
redirections, ``;``, ``&&``, ``$``...) is refused when the config is checked and a program that
is not a script under the base folder (``echo hi``) fails the run, each error saying so and
naming the alternative: put the shell command in a script under ``CDR_BASEDIR`` and name it.
"""

import shlex

import dagster as dg
from pydantic import Field, field_validator

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.commands import CommandError, CommandRunnerResource

#: Characters that only mean something to a shell.
SHELL_SYNTAX = frozenset("|&;<>()$`*?\n")
NO_SHELL = (
    "smoke_test never runs a shell command (a shell would let anyone who can edit a schedule "
    "or a Run-Now row run any program on the host); name a script under CDR_BASEDIR with its "
    "arguments instead, e.g. 'Bin/check.py --quick', and put pipes, redirections or shell "
    "built-ins inside that script"
)
#: Run tags that name what started the run, most specific first.
NAME_TAGS = ("cdr/scheduled-job-name", "dagster/schedule_name")


def check_command(value: str | None) -> str | None:
    """``value`` when it is a script and arguments; ValueError naming it when it needs a shell."""
    if value is None:
        return None
    shell = sorted(SHELL_SYNTAX & set(value))
    if shell:
        shown = " ".join(repr(c) for c in shell)
        raise ValueError(f"command {value!r} uses shell syntax ({shown}): {NO_SHELL}")
    try:
        shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"command {value!r} cannot be parsed: {exc}") from None
    return value


class SmokeTestConfig(dg.Config):
    """Options of the smoke test; any option name is accepted, as the legacy stub did."""

    options: dict[str, str] = Field(
        default_factory=dict, description="Free-form options, logged as given."
    )
    command: str | None = Field(
        default=None,
        description=(
            "Optional script under the CDR base folder (CDR_BASEDIR) with its arguments, split "
            "like a shell would split them but never run through one: shell syntax and "
            "programs outside the base folder ('echo hi') are refused, for security. A .py "
            "script runs with CDR_PYTHON. Its output goes to the run log; a non-zero exit "
            "status fails the run."
        ),
    )

    @field_validator("command")
    @classmethod
    def _command_is_a_script(cls, value: str | None) -> str | None:
        return check_command(value)


def started_by(context: dg.OpExecutionContext) -> str:
    """The name of the Run-Now row or schedule that started the run, else the job's name."""
    tags = context.run.tags
    return next((tags[tag] for tag in NAME_TAGS if tags.get(tag)), context.job_name)


@dg.op(name="smoke_test_op", description="Log the options and optionally run one CDR script.")
def smoke_test_op(
    context: dg.OpExecutionContext, config: SmokeTestConfig, commands: CommandRunnerResource
) -> None:
    """Log the options; run the command if one is given and fail the run on a non-zero exit."""
    name = started_by(context)
    context.log.info(f"Running {name} job with opts {config.options}")
    metadata: dict[str, dg.RawMetadataValue] = {
        "name": name,
        "options": dg.MetadataValue.json(config.options),
    }
    if config.command:
        script, *args = shlex.split(check_command(config.command) or "")
        try:
            result = commands.run(script, args, log=context.log)
        except CommandError as exc:
            raise dg.Failure(f"command {config.command!r}: {exc}; {NO_SHELL}") from exc
        context.log.info(f"returncode: {result.exit_code}")
        metadata["returncode"] = dg.MetadataValue.int(result.exit_code)
        if result.exit_code != 0:
            raise dg.Failure(
                f"command {config.command!r} ended with exit status {result.exit_code}",
                metadata=metadata,
            )
    context.add_output_metadata(metadata)


@dg.job(
    name="smoke_test",
    description=(
        "Test job (legacy test.Stub): logs the name of the schedule or Run-Now row that "
        "started it and its options, and optionally runs one script under CDR_BASEDIR (never "
        "a shell command). Use it to check that schedules, launches and alerts work."
    ),
    tags={**lane_tags("chores"), "cdr/family": "control"},
)
def smoke_test_job() -> None:
    """The one-op smoke test job."""
    smoke_test_op()
