"""The resources of the code location, configured from the settings.

Each resource key is defined here, once. Which mode a resource runs in (SMTP or an outbox
folder, an s/FTP server or a local folder) is resource configuration chosen from the
environment; ops and assets never ask which mode they are in. Secrets stay ``EnvVar``s, read
when a run starts, never when the code location loads.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from cdr_dagster.resources.akamai import akamai_resource_from_environment
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.sftp import SftpResource
from cdr_dagster.settings import Settings


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resource instances keyed by the names ops, assets and sensors ask for."""
    cdr_db = CdrDatabaseResource(url=dg.EnvVar("CDR_DB_URL"))
    if settings.mail_outbox is not None:
        email = EmailResource(
            tier=settings.tier,
            outbox_dir=str(settings.mail_outbox),
            sender_override=settings.mail_sender,
            cdr_db=cdr_db,
        )
    else:
        email = EmailResource(
            tier=settings.tier,
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_user,
            password=dg.EnvVar("CDR_SMTP_PASSWORD") if settings.smtp_user else None,
            sender_override=settings.mail_sender,
            cdr_db=cdr_db,
        )
    if settings.sftp_local_dir is not None:
        sftp = SftpResource(local_dir=str(settings.sftp_local_dir))
    else:
        secrets: dict[str, Any] = (
            {"passphrase": dg.EnvVar("CDR_SFTP_KEY_PASSPHRASE")}
            if settings.sftp_key_file and os.environ.get("CDR_SFTP_KEY_PASSPHRASE")
            else {}
        )
        if not settings.sftp_key_file:
            secrets["password"] = dg.EnvVar("CDR_SFTP_PASSWORD")
        if settings.sftp_known_hosts:
            secrets["known_hosts_file"] = settings.sftp_known_hosts
        sftp = SftpResource(
            host=settings.sftp_host or "",
            port=settings.sftp_port,
            username=settings.sftp_user or "",
            key_file=settings.sftp_key_file,
            host_key_policy=settings.sftp_host_key_policy,
            **secrets,
        )
    commands = CommandRunnerResource(
        basedir=str(settings.basedir),
        python=settings.python,
        env_allow=list(settings.script_env_allow),
    )
    akamai = akamai_resource_from_environment(settings.basedir, settings.tier)
    return {
        "cdr_db": cdr_db,
        "email": email,
        "sftp": sftp,
        "commands": commands,
        "akamai": akamai,
    }
