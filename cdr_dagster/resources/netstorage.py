"""Akamai NetStorage over SFTP (the dictionary sitemap's destination), as a Dagster resource.

NetStorage is one more SFTP server, so the resource is an :class:`SftpResource` (paramiko,
host-key checking, atomic uploads, a local folder standing in for the server), configured from
its own variables and registered under its own key, ``netstorage``:

- ``CDR_NETSTORAGE_LOCAL_DIR``: local mode (the demo); files land under this folder at the
  same relative paths as on NetStorage;
- otherwise ``CDR_NETSTORAGE_HOST`` and ``CDR_NETSTORAGE_USER`` (both may be left to the run,
  which names them, as the legacy job's ``hostname`` and ``username`` options did),
  ``CDR_NETSTORAGE_PORT``, ``CDR_NETSTORAGE_KEY_FILE`` (the legacy job used
  ``/etc/akamai-sitemap``, ``-dev`` or ``-test``), ``CDR_NETSTORAGE_KEY_PASSPHRASE`` for an
  encrypted key, ``CDR_NETSTORAGE_KNOWN_HOSTS`` and ``CDR_NETSTORAGE_HOST_KEY_POLICY`` (reject,
  warn or auto-add; the legacy job accepted any host key, we reject unknown ones by default).

Paths are relative to the login folder, as NetStorage's SFTP accounts see them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from cdr_dagster.resources.sftp import SftpResource

HOST_KEY_POLICIES = ("reject", "warn", "auto-add")


def _value(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def build_netstorage_resource(environ: Mapping[str, str] | None = None) -> SftpResource:
    """The ``netstorage`` resource as the environment configures it (module docstring)."""
    env = os.environ if environ is None else environ
    local_dir = _value(env, "CDR_NETSTORAGE_LOCAL_DIR")
    if local_dir:
        return SftpResource(local_dir=local_dir)
    policy = (_value(env, "CDR_NETSTORAGE_HOST_KEY_POLICY") or "reject").lower()
    if policy not in HOST_KEY_POLICIES:
        expected = ", ".join(HOST_KEY_POLICIES)
        raise ValueError(f"CDR_NETSTORAGE_HOST_KEY_POLICY={policy!r} is not one of {expected}")
    port = _value(env, "CDR_NETSTORAGE_PORT") or "22"
    if not port.isdigit():
        raise ValueError(f"CDR_NETSTORAGE_PORT={port!r} is not a port number")
    settings: dict = {
        "host": _value(env, "CDR_NETSTORAGE_HOST") or "",
        "port": int(port),
        "username": _value(env, "CDR_NETSTORAGE_USER") or "",
        "key_file": _value(env, "CDR_NETSTORAGE_KEY_FILE"),
        "known_hosts_file": _value(env, "CDR_NETSTORAGE_KNOWN_HOSTS"),
        "host_key_policy": policy,
    }
    if _value(env, "CDR_NETSTORAGE_KEY_PASSPHRASE"):
        settings["passphrase"] = dg.EnvVar("CDR_NETSTORAGE_KEY_PASSPHRASE")
    return SftpResource(**settings)


def missing_netstorage_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables a NetStorage upload will need and that are not set (for ``check-env``).

    Host and user may come from the run instead, so only the key file is required here.
    """
    env = os.environ if environ is None else environ
    if _value(env, "CDR_NETSTORAGE_LOCAL_DIR"):
        return []
    return [] if _value(env, "CDR_NETSTORAGE_KEY_FILE") else ["CDR_NETSTORAGE_KEY_FILE"]


def with_login(
    netstorage: SftpResource, hostname: str | None = None, username: str | None = None
) -> SftpResource:
    """``netstorage`` with another host and/or login name for one run (the legacy
    ``hostname``/``username`` options); unchanged in local mode or when neither is given."""
    if netstorage.local_dir or not (hostname or username):
        return netstorage
    values = {name: getattr(netstorage, name) for name in SftpResource.model_fields}
    if hostname:
        values["host"] = hostname
    if username:
        values["username"] = username
    return SftpResource(**values)
