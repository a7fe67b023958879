"""Settings of the code location, read from the environment.

Everything that differs between a CDR tier, the embedded demo and the tests comes from here:

- ``CDR_TIER``: DEV, QA, STAGE or PROD (default DEV, as the legacy scheduler assumed when its
  tier file was missing). Any other value stops the code location from loading.
- ``CDR_DB_URL``: SQLAlchemy URL of the CDR database (``mssql+pyodbc://`` in production,
  ``postgresql://`` in tests, ``sqlite:///`` in the demo). It may hold a password, so it is
  passed to resources as a Dagster ``EnvVar`` and never read into code-location state.
- ``CDR_BASEDIR``: the CDR base folder where batch-job and publishing scripts live.
- ``CDR_MAIL_OUTBOX``: when set, mail is written as ``.eml`` files to this folder instead of
  being sent through SMTP (``CDR_SMTP_HOST``, ``CDR_SMTP_PORT``, ``CDR_SMTP_STARTTLS``,
  ``CDR_SMTP_USER``, ``CDR_SMTP_PASSWORD``). ``CDR_MAIL_SENDER``, when set, is the From
  address of every message, replacing each job's own legacy sender.
- ``CDR_SFTP_LOCAL_DIR``: when set, the s/FTP server is replaced by this folder; otherwise
  ``CDR_SFTP_HOST``, ``CDR_SFTP_PORT``, ``CDR_SFTP_USER``, ``CDR_SFTP_KEY_FILE`` or
  ``CDR_SFTP_PASSWORD`` (or ``CDR_SFTP_KEY_PASSPHRASE`` for an encrypted key),
  ``CDR_SFTP_KNOWN_HOSTS`` and ``CDR_SFTP_HOST_KEY_POLICY`` (reject, warn or auto-add).
- ``CDR_SCRIPT_ENV_ALLOW``: names of further environment variables the CDR scripts may see,
  separated by commas or spaces (``docs/script-environment.md``). A name that looks like a
  secret (:data:`SECRET_NAME`) stops the code location from loading.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

TIERS = ("DEV", "QA", "STAGE", "PROD")


class Tier(StrEnum):
    """A CDR tier, for Config fields: Dagster's config schema then lists the four names."""

    DEV = "DEV"
    QA = "QA"
    STAGE = "STAGE"
    PROD = "PROD"


DEFAULT_TIER = "DEV"
TIMEZONE = "America/New_York"
LOCATION_NAME = "cdr_dagster"
LEGACY_SENDER = "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
# the bare address the legacy disk, health and dictionary-loader mails came from
OPERATOR_ADDRESS = "NCIPDQoperator@mail.nih.gov"
DEFAULT_SMTP_HOST = "MAILFWD.NIH.GOV"
DEVELOPERS_GROUP = "Developers Notification"
SCRIPT_ENV_ALLOW_VARIABLE = "CDR_SCRIPT_ENV_ALLOW"
#: Variable names that hold (or point at) credentials: never given to a CDR script.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(ValueError):
    """A setting in the environment has a value the code location cannot run with."""


def parse_tier(value: str | None) -> str:
    """Return the canonical tier name for ``value`` (None or empty means the default tier)."""
    if value is None or not value.strip():
        return DEFAULT_TIER
    tier = value.strip().upper()
    if tier not in TIERS:
        raise SettingsError(
            f"CDR_TIER={value!r} is not a CDR tier; expected one of {', '.join(TIERS)}"
        )
    return tier


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={environ[name]!r} is not a boolean (use true or false)")


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not an integer") from None


def seconds_setting(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    whole: bool = False,
    minimum: float = 0,
    under: float | None = None,
) -> float:
    """The seconds in variable ``name`` (``default`` when unset or blank): a number (a whole
    number with ``whole``) of at least ``minimum`` and, with ``under``, less than that.
    Anything else raises :class:`SettingsError` naming the variable and its value."""
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = int(value) if whole else float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        kind = "a whole number" if whole else "a number"
        raise SettingsError(f"{name}={value!r} is not {kind} of seconds")
    if seconds < minimum or (under is not None and seconds >= under):
        limit = f"at least {minimum:g}" + (f" and under {under:g}" if under is not None else "")
        raise SettingsError(f"{name}={value!r} must be {limit} seconds")
    return seconds


@dataclass(frozen=True)
class Settings:
    """The non-secret settings of one code-location process."""

    tier: str
    basedir: Path
    python: str
    mail_outbox: Path | None
    mail_sender: str | None
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_user: str | None
    sftp_local_dir: Path | None
    sftp_host: str | None
    sftp_port: int
    sftp_user: str | None
    sftp_key_file: str | None
    sftp_known_hosts: str | None
    sftp_host_key_policy: str
    script_env_allow: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        """True on the PROD tier."""
        return self.tier == "PROD"


def script_env_allow(value: str | None) -> tuple[str, ...]:
    """The variable names of ``CDR_SCRIPT_ENV_ALLOW`` (commas or spaces between them).

    Raises :class:`SettingsError` naming a name that is not a variable name or that looks
    like a secret (:data:`SECRET_NAME`): secrets never reach a script.
    """
    names = tuple(dict.fromkeys(part for part in re.split(r"[\s,]+", value or "") if part))
    bad = [name for name in names if not _VARIABLE_NAME.match(name)]
    if bad:
        raise SettingsError(
            f"{SCRIPT_ENV_ALLOW_VARIABLE}: {', '.join(map(repr, bad))} is not a variable name"
        )
    secret = [name for name in names if SECRET_NAME.search(name)]
    if secret:
        raise SettingsError(
            f"{SCRIPT_ENV_ALLOW_VARIABLE}: {', '.join(map(repr, secret))} looks like a secret "
            "(PASSWORD, SECRET, TOKEN, KEY...); CDR scripts never get secrets"
        )
    return names


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    outbox = env.get("CDR_MAIL_OUTBOX", "").strip()
    sftp_dir = env.get("CDR_SFTP_LOCAL_DIR", "").strip()
    policy = env.get("CDR_SFTP_HOST_KEY_POLICY", "reject").strip().lower() or "reject"
    if policy not in ("reject", "warn", "auto-add"):
        raise SettingsError(
            f"CDR_SFTP_HOST_KEY_POLICY={policy!r} is not one of reject, warn, auto-add"
        )
    return Settings(
        tier=parse_tier(env.get("CDR_TIER")),
        basedir=Path(env.get("CDR_BASEDIR", "").strip() or "/cdr"),
        python=env.get("CDR_PYTHON", "").strip() or sys.executable,
        mail_outbox=Path(outbox) if outbox else None,
        mail_sender=env.get("CDR_MAIL_SENDER", "").strip() or None,
        smtp_host=env.get("CDR_SMTP_HOST", "").strip() or DEFAULT_SMTP_HOST,
        smtp_port=_int(env, "CDR_SMTP_PORT", 25),
        smtp_starttls=_flag(env, "CDR_SMTP_STARTTLS"),
        smtp_user=env.get("CDR_SMTP_USER", "").strip() or None,
        sftp_local_dir=Path(sftp_dir) if sftp_dir else None,
        sftp_host=env.get("CDR_SFTP_HOST", "").strip() or None,
        sftp_port=_int(env, "CDR_SFTP_PORT", 22),
        sftp_user=env.get("CDR_SFTP_USER", "").strip() or None,
        sftp_key_file=env.get("CDR_SFTP_KEY_FILE", "").strip() or None,
        sftp_known_hosts=env.get("CDR_SFTP_KNOWN_HOSTS", "").strip() or None,
        sftp_host_key_policy=policy,
        script_env_allow=script_env_allow(env.get(SCRIPT_ENV_ALLOW_VARIABLE)),
    )


def cdr_today() -> date:
    """Today's date where the CDR runs (America/New_York), whatever the host's time zone: a
    report or a notice dated by the host's clock would be a day ahead every evening on a UTC
    host."""
    return datetime.now(ZoneInfo(TIMEZONE)).date()
