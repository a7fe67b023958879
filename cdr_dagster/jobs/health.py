"""Health chores: ``notify_production_health`` and ``check_disk_space``.

``notify_production_health`` (legacy ``health_check.Monitor``,
docs/behaviour-notes.md#production-health) mails the problems
``production_health_sensor`` (``cdr_dagster/control_sensors.py``) counted while checking the
production ``cdrping.py`` page: subject ``*** CDR PRODUCTION SERVER FAILURES ***``, one line
``{problem} ({count})`` per problem, to ``recips`` or the Developers Notification group. The
sensor decides when a notification is due and puts the problems in the run config. Launched by
hand (or by the admin's "Run Job Now") without problems, the job checks ``cdrping.py`` once
itself and mails what it finds, so an operator can test the path end to end.

``check_disk_space`` (legacy ``disk_space.Monitor``, docs/behaviour-notes.md#disk-space) reads each
tier's ``df.py``
page (PROD, STAGE, QA, DEV), records every drive's free space as run metadata and mails
``*** WARNING: CDR DISK SPACE CHECK ***`` when a drive is below its threshold (C: 10 GiB and
D: 100 GiB by default, per drive configurable) or a server cannot be checked. Differences from
the legacy monitor, on purpose: requests time out (``timeout_seconds``); an answer without any
drive figures (an error page) is reported instead of silently passing; a drive without a
threshold is reported instead of crashing the check; and a failure of the check itself (the
legacy ``DISK CHECK FAILURE`` mail) also fails the run, so it shows in Dagster.

Both mail without the ``[TIER]`` prefix, as the legacy did (these subjects name the server).
"""

import os
from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.settings import DEVELOPERS_GROUP, OPERATOR_ADDRESS

#: Environment variable with the production cdrping.py address (default: the legacy one).
PING_URL_VARIABLE = "CDR_HEALTH_CHECK_URL"
#: Environment variable with the time limit of one cdrping.py request, in seconds.
PING_TIMEOUT_VARIABLE = "CDR_HEALTH_CHECK_TIMEOUT_SECONDS"
DEFAULT_PING_TIMEOUT_SECONDS = 30.0
#: df.py address of a tier: CDR_DISK_SPACE_URL_<TIER> (default: the legacy address).
DF_URL_VARIABLE = "CDR_DISK_SPACE_URL_{tier}"


def ping_url(configured: str | None = None) -> str:
    """The cdrping.py address: ``configured``, else ``CDR_HEALTH_CHECK_URL``, else the legacy."""
    from cdr_dagster.cdr.health import LEGACY_PING_URL

    return configured or os.environ.get(PING_URL_VARIABLE, "").strip() or LEGACY_PING_URL


def send_alert(
    email: EmailResource, subject: str, body: str, recips: Sequence[str]
) -> tuple[str, ...]:
    """Mail ``body`` to ``recips`` or, when empty, the Developers Notification group.

    The subject is used as given (no ``[TIER]`` prefix); the sender is the bare operator
    address, as the legacy disk and health monitors sent it. Returns the recipients.
    """
    email = email.from_sender(OPERATOR_ADDRESS)
    if recips:
        sent = email.send(subject, body, to=list(recips), tier_prefix=False)
    else:
        sent = email.send(subject, body, group=DEVELOPERS_GROUP, tier_prefix=False)
    return sent.recipients


# --- notify_production_health -----------------------------------------------------------------


class HealthProblem(dg.Config):
    """One problem the health sensor saw, and how often since the last notification."""

    problem: str = Field(description="What cdrping.py answered, or why it could not be asked.")
    count: int = Field(ge=1, description="How many checks saw it.")


class ProductionHealthConfig(dg.Config):
    """Options of the production health notification (legacy ``health_check.Monitor``)."""

    delay: int = Field(
        default=60,
        ge=0,
        description=(
            "Minutes between notifications. The sensor applies it (its own setting, "
            "CDR_HEALTH_CHECK_DELAY_MINUTES) and records it here; the run itself sends at once."
        ),
    )
    recips: list[str] = Field(
        default_factory=list,
        description="Recipients; empty means the Developers Notification group.",
    )
    failures: list[HealthProblem] = Field(
        default_factory=list,
        description=(
            "The problems to report, in the order first seen (filled in by "
            "production_health_sensor). Empty: check cdrping.py once now and report a failure."
        ),
    )
    url: str | None = Field(
        default=None,
        description="cdrping.py address for a check of its own (default: CDR_HEALTH_CHECK_URL "
        "or https://cdr.cancer.gov/cgi-bin/cdr/cdrping.py).",
    )
    timeout_seconds: float = Field(
        default=DEFAULT_PING_TIMEOUT_SECONDS, gt=0, description="Time limit of that check."
    )


@dg.op(
    name="notify_production_health_op",
    description="Mail the production server problems with their counts.",
)
def notify_production_health_op(
    context: dg.OpExecutionContext, config: ProductionHealthConfig, email: EmailResource
) -> None:
    """Send ``*** CDR PRODUCTION SERVER FAILURES ***`` listing the problems."""
    from cdr_dagster.cdr.health import SUBJECT, check_cdrping, format_problems

    failures: dict[str, int] = {}
    for item in config.failures:
        failures[item.problem] = failures.get(item.problem, 0) + item.count
    if not failures:
        url = ping_url(config.url)
        problem = check_cdrping(url, config.timeout_seconds)
        if problem is None:
            context.log.info(f"{url} answered CDR OK; nothing to report")
            context.add_output_metadata({"problems": 0, "url": url})
            return
        context.log.error(problem)
        failures = {problem: 1}
    body = format_problems(failures)
    recipients = send_alert(email, SUBJECT, body, config.recips)
    context.log.info(f"reported {len(failures)} problem(s) to {', '.join(recipients)}")
    lines = ["| problem | count |", "|---|---|"]
    lines += [f"| {_md(problem)} | {count} |" for problem, count in failures.items()]
    context.add_output_metadata(
        {
            "problems": len(failures),
            "failed_checks": sum(failures.values()),
            "recipients": ", ".join(recipients),
            "report": dg.MetadataValue.md("\n".join(lines)),
        }
    )


@dg.job(
    name="notify_production_health",
    description=(
        "Mails the problems production_health_sensor saw on the production CDR server "
        "(cdrping.py) with their counts (legacy health_check.Monitor). Launched without "
        "problems, it checks cdrping.py once and reports a failure."
    ),
    tags={**lane_tags("health"), "cdr/family": "health"},
)
def notify_production_health() -> None:
    """One op: the notification."""
    notify_production_health_op()


# --- check_disk_space -------------------------------------------------------------------------


class DiskSpaceConfig(dg.Config):
    """Options of the disk space check (legacy ``disk_space.Monitor``)."""

    recips: list[str] = Field(
        default_factory=list,
        description="Alert recipients; empty means the Developers Notification group.",
    )
    cthreshold: int = Field(default=10, ge=0, description="C: drive alert threshold in GiB.")
    dthreshold: int = Field(default=100, ge=0, description="D: drive alert threshold in GiB.")
    thresholds: dict[str, int] = Field(
        default_factory=dict,
        description="Thresholds in GiB for other drives, or overriding C and D, by letter.",
    )
    tiers: list[str] = Field(
        default_factory=lambda: ["PROD", "STAGE", "QA", "DEV"],
        description="The tiers whose CDR server is checked, in this order.",
    )
    urls: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "df.py address by tier; default CDR_DISK_SPACE_URL_<TIER>, else "
            "https://cdr{-tier}.cancer.gov/cgi-bin/cdr/df.py."
        ),
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Time limit of each df.py request."
    )

    def thresholds_gib(self) -> dict[str, int]:
        """Threshold of each drive letter in GiB."""
        limits = {"C": self.cthreshold, "D": self.dthreshold}
        limits.update(
            {letter.strip().upper()[:1]: value for letter, value in self.thresholds.items()}
        )
        return limits

    def url_of(self, tier: str) -> str:
        """The df.py address of ``tier``."""
        from cdr_dagster.cdr.disk_space import default_df_url

        configured = {key.upper(): value for key, value in self.urls.items()}.get(tier)
        from_env = os.environ.get(DF_URL_VARIABLE.format(tier=tier), "").strip()
        return configured or from_env or default_df_url(tier)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


@dg.op(
    name="check_disk_space_op",
    description="Read every tier's df.py, record free space per drive, alert below thresholds.",
)
def check_disk_space_op(
    context: dg.OpExecutionContext, config: DiskSpaceConfig, email: EmailResource
) -> None:
    """Check the drives of each tier's CDR server and mail the problems."""
    from cdr_dagster.cdr.disk_space import (
        FAILURE_SUBJECT,
        TIERS,
        WARNING_SUBJECT,
        DfParseError,
        DriveSpace,
        drive_problems,
        fetch_df,
        parse_df,
    )
    from cdr_dagster.cdr.health import describe_error

    try:
        tiers = [tier.strip().upper() for tier in config.tiers]
        unknown = [tier for tier in tiers if tier not in TIERS]
        if unknown:
            raise dg.Failure(f"unknown tier(s) {', '.join(unknown)}; expected {', '.join(TIERS)}")
        thresholds = config.thresholds_gib()
        problems: list[str] = []
        seen: dict[str, dict[str, DriveSpace]] = {}
        for tier in tiers:
            url = config.url_of(tier)
            problem = None
            try:
                status, text = fetch_df(url, config.timeout_seconds)
            except Exception as exc:  # noqa: BLE001 - every failure of one tier is reported
                problem = describe_error(exc, url, config.timeout_seconds)
            else:
                try:
                    seen[tier] = parse_df(text)
                except DfParseError as exc:
                    problem = f"{exc} (HTTP {status} from {url})"
            if problem is not None:
                problem = f"failure checking {tier}: {problem}"
                context.log.error(problem)
                problems.append(problem)
                continue
            for problem in drive_problems(tier, seen[tier], thresholds):
                context.log.warning(problem)
                problems.append(problem)
        metadata: dict[str, dg.RawMetadataValue] = {}
        rows = [
            "| tier | drive | free | free GiB | threshold GiB | total |",
            "|---|---|---|---|---|---|",
        ]
        for tier, drives in seen.items():
            for letter in sorted(drives):
                space = drives[letter]
                metadata[f"{tier}_{letter}_free_bytes"] = dg.MetadataValue.int(space.free_bytes)
                limit = thresholds.get(letter)
                rows.append(
                    f"| {tier} | {letter} | {_md(space.free_human)} | {space.free_gib:.1f} | "
                    f"{'-' if limit is None else limit} | {space.total_bytes or ''} |"
                )
        metadata["drives"] = dg.MetadataValue.md("\n".join(rows))
        metadata["problems"] = dg.MetadataValue.int(len(problems))
        if problems:
            recipients = send_alert(email, WARNING_SUBJECT, "\n".join(problems), config.recips)
            context.log.info(f"sent alert to {', '.join(recipients)}")
            metadata["alert"] = dg.MetadataValue.md(
                "\n".join(f"- {_md(problem)}" for problem in problems)
            )
        else:
            context.log.info("disk space OK")
        context.add_output_metadata(metadata)
    except Exception as exc:
        context.log.error(f"disk space check failed: {exc}")
        try:
            send_alert(email, FAILURE_SUBJECT, str(exc), config.recips)
        except Exception as mail_error:  # noqa: BLE001 - the check's own error is raised
            context.log.error(f"could not send the {FAILURE_SUBJECT} mail: {mail_error}")
        raise


@dg.job(
    name="check_disk_space",
    description=(
        "Reads df.py on the CDR server of every tier (PROD, STAGE, QA, DEV), records each "
        "drive's free space as run metadata, and mails Developers Notification when a drive "
        "is below its threshold (C: 10 GiB, D: 100 GiB) or a server cannot be checked "
        "(legacy disk_space.Monitor; hourly on DEV)."
    ),
    tags={**lane_tags("health"), "cdr/family": "health"},
)
def check_disk_space() -> None:
    """One op: the check."""
    check_disk_space_op()
