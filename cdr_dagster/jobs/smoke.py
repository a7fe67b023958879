"""``smoke_test``: the scheduler's test job (legacy ``test.Stub``).

It proves that a schedule or a launch reaches a run: it logs the options it was given and,
when asked, runs one command under the CDR base folder and reports its exit status.
"""

import shlex

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.commands import CommandRunnerResource


class SmokeTestConfig(dg.Config):
    """Options of the smoke test; any option name is accepted, as the legacy stub did."""

    options: dict[str, str] = Field(
        default_factory=dict, description="Free-form options, logged as given."
    )
    command: str | None = Field(
        default=None,
        description=(
            "Optional script under the CDR base folder, with arguments (split like a shell "
            "would, but never run through one). Its output goes to the run log."
        ),
    )


@dg.op(name="smoke_test_op", description="Log the options and optionally run one CDR script.")
def smoke_test_op(
    context: dg.OpExecutionContext, config: SmokeTestConfig, commands: CommandRunnerResource
) -> None:
    """Log the options; run the command if one is given and fail the run on a non-zero exit."""
    context.log.info(f"Running {context.job_name} job with opts {config.options}")
    metadata: dict[str, dg.RawMetadataValue] = {"options": dg.MetadataValue.json(config.options)}
    if config.command:
        try:
            script, *args = shlex.split(config.command)
        except ValueError as exc:
            raise dg.Failure(f"command {config.command!r} cannot be parsed: {exc}") from exc
        result = commands.run(script, args, log=context.log)
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
        "Test job (legacy test.Stub): logs its options and optionally runs one script under "
        "CDR_BASEDIR. Use it to check that schedules, launches and alerts work."
    ),
    tags={**lane_tags("chores"), "cdr/family": "control"},
)
def smoke_test_job() -> None:
    """The one-op smoke test job."""
    smoke_test_op()
