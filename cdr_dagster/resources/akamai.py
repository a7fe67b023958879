"""Akamai NetStorage as a Dagster resource: the media folders and the rsync push.

The CDR keeps the media set that Cancer.gov serves from Akamai in ``BASEDIR/akamai/media``
and pushes it with ``rsync --delete -rav`` over ssh (cdrpub ``Control.Media.rsync``:
``rsync --delete -rave "ssh -i /etc/akamai-pdq-{tier} ..." ./ sshacs@{AKAMAI host}:media``,
run from inside the folder being pushed).

- Production: ``host`` (the tier's AKAMAI host), ``user`` (``sshacs``), ``remote_path``
  (``media``), ``ssh_key_file``; host keys are checked against ``known_hosts_file`` when given,
  otherwise first use is accepted (``StrictHostKeyChecking=accept-new``; the legacy checked
  nothing). ``extra_ssh_options`` passes anything else to ssh (the legacy added
  ``-oHostKeyAlgorithms=+ssh-dss`` for an old host key; recent OpenSSH has no DSA at all).
- Local mode (the demo): ``local_target`` is a folder; rsync mirrors into it without ssh.

Commands are argument vectors, never shell strings; the ssh command rsync runs is given to
its ``-e`` option with each word quoted. ``fix_permissions_script`` names the CDR's permission
fixer (``Bin/fix-permissions.cmd`` on the Windows servers) below the CDR base folder; unset
means no such step (Linux hosts need none).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

#: The one lock on BASEDIR/akamai/media, as a Dagster pool name and a ``cdr/lock`` run tag: the
#: media check and the publishing push (which renames ``media`` to ``media.locked`` while it
#: syncs the media set) never run at the same time.
MEDIA_LOCK = "akamai_media"


class RsyncError(Exception):
    """rsync could not be run or ended with a non-zero status (the output is in the message)."""


class AkamaiResource(dg.ConfigurableResource):
    """The Akamai media area under the CDR base folder and the rsync that pushes it."""

    akamai_dir: str = Field(
        description="BASEDIR/akamai: holds media, media.locked, media.old and working clones."
    )
    local_target: str | None = Field(
        default=None,
        description="Local mode: rsync into this folder instead of Akamai (no ssh).",
    )
    host: str | None = Field(
        default=None, description="Akamai rsync host (the tier's AKAMAI host in cdrapphosts)."
    )
    user: str = Field(default="sshacs", description="Account on the Akamai host.")
    remote_path: str = Field(default="media", description="Folder on the Akamai host.")
    ssh_key_file: str | None = Field(
        default=None, description="Private key for the Akamai host (/etc/akamai-pdq-{tier})."
    )
    known_hosts_file: str | None = Field(
        default=None,
        description="known_hosts file to check the host key against (strict when given).",
    )
    extra_ssh_options: list[str] = Field(
        default_factory=list, description="More ssh options, e.g. -oHostKeyAlgorithms=+ssh-rsa."
    )
    rsync_binary: str = Field(default="rsync", description="The rsync program.")
    ssh_binary: str = Field(default="ssh", description="The ssh program rsync runs.")
    timeout_seconds: float | None = Field(
        default=3600.0, description="Kill rsync after this many seconds; unset means no limit."
    )
    fix_permissions_script: str | None = Field(
        default=None,
        description=(
            "Permission fixer below CDR_BASEDIR, run on a media folder after it is copied or "
            "promoted (legacy Bin/fix-permissions.cmd); unset means none."
        ),
    )

    @property
    def is_local(self) -> bool:
        """True in local mode (``local_target`` set)."""
        return bool(self.local_target)

    def media_folders(self) -> Any:
        """The :class:`~cdr_dagster.media.folders.MediaFolders` of ``akamai_dir``."""
        from cdr_dagster.media.folders import MediaFolders

        return MediaFolders(Path(self.akamai_dir))

    def ssh_command(self) -> list[str]:
        """The ssh command rsync runs, as words."""
        if not self.ssh_key_file:
            raise RsyncError("no ssh_key_file configured for the Akamai host")
        words = [self.ssh_binary, "-i", self.ssh_key_file, "-oIdentitiesOnly=yes"]
        if self.known_hosts_file:
            words += [
                f"-oUserKnownHostsFile={self.known_hosts_file}",
                "-oStrictHostKeyChecking=yes",
            ]
        else:
            words.append("-oStrictHostKeyChecking=accept-new")
        words += list(self.extra_ssh_options)
        return words

    def rsync_command(self) -> list[str]:
        """The rsync argument vector, run from inside the folder being pushed."""
        if self.local_target:
            target = os.path.abspath(self.local_target).rstrip("/") + "/"
            return [self.rsync_binary, "--delete", "-rav", "./", target]
        if not self.host:
            raise RsyncError("no Akamai host configured (and no local_target)")
        ssh = " ".join(shlex.quote(word) for word in self.ssh_command())
        return [
            self.rsync_binary,
            "--delete",
            "-rav",
            "-e",
            ssh,
            "./",
            f"{self.user}@{self.host}:{self.remote_path}",
        ]

    def rsync(self, source: str | os.PathLike[str], log: Any = None) -> str:
        """Push ``source`` (a media folder) to Akamai; return rsync's output.

        Raises :class:`RsyncError` ("rsync failure: ...") on a non-zero exit, a time-out, or a
        program that cannot be started.
        """
        command = self.rsync_command()
        if self.local_target:
            try:
                Path(self.local_target).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RsyncError(
                    f"rsync failure: cannot create {self.local_target}: {exc}"
                ) from exc
        if log is not None:
            log.info(f"Running {shlex.join(command)} in {source}")
        try:
            process = subprocess.run(
                command,
                cwd=os.fspath(source),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self.timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RsyncError(f"rsync failure: no end after {self.timeout_seconds} s") from exc
        except OSError as exc:
            raise RsyncError(f"rsync failure: cannot run {command[0]}: {exc}") from exc
        output = process.stdout.decode("utf-8", "replace")
        if process.returncode:
            tail = "\n".join(output.strip().splitlines()[-20:])
            raise RsyncError(f"rsync failure (exit status {process.returncode}): {tail}")
        if log is not None:
            log.info(f"rsync output: {output}")
        return output


def akamai_resource_from_environment(
    basedir: str | os.PathLike[str], tier: str, environ: Any = None
) -> AkamaiResource:
    """The resource as the code location configures it, from the environment.

    ``CDR_AKAMAI_LOCAL_DIR`` (local mode: push into this folder), else ``CDR_AKAMAI_HOST``,
    ``CDR_AKAMAI_USER`` (default sshacs), ``CDR_AKAMAI_KEY_FILE`` (default
    ``/etc/akamai-pdq-{tier}``), ``CDR_AKAMAI_KNOWN_HOSTS``, ``CDR_AKAMAI_SSH_OPTIONS`` (words,
    shell-split); ``CDR_FIX_PERMISSIONS_SCRIPT`` (below CDR_BASEDIR). The media folders are
    ``{basedir}/akamai``. Nothing is checked here: a missing host fails only a run that needs
    rsync.
    """
    env = os.environ if environ is None else environ

    def value(name: str) -> str | None:
        return (env.get(name) or "").strip() or None

    return AkamaiResource(
        akamai_dir=str(Path(basedir) / "akamai"),
        local_target=value("CDR_AKAMAI_LOCAL_DIR"),
        host=value("CDR_AKAMAI_HOST"),
        user=value("CDR_AKAMAI_USER") or "sshacs",
        ssh_key_file=value("CDR_AKAMAI_KEY_FILE") or f"/etc/akamai-pdq-{tier.lower()}",
        known_hosts_file=value("CDR_AKAMAI_KNOWN_HOSTS"),
        extra_ssh_options=shlex.split(value("CDR_AKAMAI_SSH_OPTIONS") or ""),
        fix_permissions_script=value("CDR_FIX_PERMISSIONS_SCRIPT"),
    )
