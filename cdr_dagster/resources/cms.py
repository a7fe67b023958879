"""The Drupal CMS servers that receive the glossifier terms, as a Dagster resource.

Each cancer.gov CMS runs the ``pdq_glossifier`` module, which takes the whole glossary map in
one ``POST {base}/pdq/api/glossifier/refresh`` (JSON, HTTP basic auth as the ``PDQ`` user, who
needs the ``pdq_importer`` role) and answers ``{"message": "Stored N glossary terms at ..."}``
(docs/behaviour-notes.md#glossifier).

Which servers: the CDR registers them per tier in ctl rows ``glossary-servers``/alias -> base
URL (cdr-admin ``glossary-servers.py``); the caller reads those. When a tier has none, the legacy
job posted to ``https://{the tier's DRUPAL host}``: that host is ``drupal_host`` here
(``CDR_DRUPAL_HOST``; a value with a scheme, ``http://127.0.0.1:8080``, is used as given).

Configuration from the environment (:func:`build_cms_resource`): ``CDR_CMS_USER`` (default
``PDQ``), the password as ``EnvVar("CDR_CMS_PASSWORD")`` (the legacy ``pdq`` entry of
``cdrpw``), ``CDR_CMS_TIMEOUT`` (seconds to wait for each server to answer; the legacy job
waited forever), and ``CDR_CMS_LOCAL_DIR``: local mode, each server's payload is written to
``{dir}/{alias}.json`` instead of being posted (the demo).

Redirects are followed and any final status under 400 counts as delivered, as the legacy job
(``requests.post``) did; a 301/302/303 therefore reaches its target as a GET without the
payload, as it did then, and the result names where the push ended up.

One server failing never stops the others: :meth:`CmsResource.push` returns one
:class:`PushResult` per server and raises nothing for a server's failure.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

REFRESH_PATH = "/pdq/api/glossifier/refresh"
DEFAULT_ALIAS = "Primary"


@dataclass(frozen=True)
class PushResult:
    """What one server did with the payload: ``ok``, and the reply or the reason it failed."""

    alias: str
    base: str
    ok: bool
    detail: str
    status: int | None = None


class CmsResource(dg.ConfigurableResource):
    """Posts the glossifier terms to the CMS servers (or writes them to a local folder)."""

    username: str = Field(default="PDQ", description="CMS login for basic auth (CDR_CMS_USER).")
    password: str | None = Field(
        default=None,
        description="CMS password; give it as EnvVar('CDR_CMS_PASSWORD'), never as text.",
    )
    drupal_host: str | None = Field(
        default=None,
        description="The tier's Drupal CMS host (CDR_DRUPAL_HOST), posted to as "
        "https://HOST when the CDR registers no glossary servers.",
    )
    connect_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for a connection to a server."
    )
    timeout: float = Field(
        default=300.0,
        gt=0,
        description="Seconds to wait for a server's answer (CDR_CMS_TIMEOUT).",
    )
    local_dir: str | None = Field(
        default=None,
        description="Local mode (CDR_CMS_LOCAL_DIR): write each server's payload to "
        "DIR/ALIAS.json instead of posting it.",
    )

    def servers(self, registered: Mapping[str, str]) -> dict[str, str]:
        """The servers to push to: ``registered`` (alias -> base URL, from ctl), or the tier's
        Drupal host as ``Primary``; an empty base means no host is configured."""
        if registered:
            return {alias: base.rstrip("/") for alias, base in registered.items()}
        host = (self.drupal_host or "").strip().rstrip("/")
        if host and "://" not in host:
            host = f"https://{host}"
        return {DEFAULT_ALIAS: host}

    def push(self, servers: Mapping[str, str], payload: Any) -> list[PushResult]:
        """Send ``payload`` (JSON-ready) to each server in turn; one result per server."""
        # Serialised as the legacy job's requests.post(json=...) did.
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        results = []
        for alias, base in servers.items():
            if self.local_dir:
                results.append(self._write(alias, base, body))
            else:
                results.append(self._post(alias, base, body))
        return results

    def _post(self, alias: str, base: str, body: bytes) -> PushResult:
        import requests

        if not base:
            return PushResult(alias, base, False, "no CMS host configured (CDR_DRUPAL_HOST)")
        if not self.password:
            return PushResult(alias, base, False, "Unable to find PDQ CMS credentials")
        url = f"{base}{REFRESH_PATH}"
        try:
            response = requests.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
                auth=(self.username, self.password),
                timeout=(self.connect_timeout, self.timeout),
                allow_redirects=True,
            )
        except requests.Timeout as exc:
            return PushResult(alias, base, False, f"no answer within the time limit: {exc}")
        except requests.RequestException as exc:
            return PushResult(alias, base, False, f"{exc.__class__.__name__}: {exc}")
        moved = f" (redirected to {response.url})" if response.history else ""
        if response.status_code < 400:
            detail = _message(response) + moved
            return PushResult(alias, base, True, detail, response.status_code)
        reason = f"{response.status_code} {response.reason}".strip() + moved
        return PushResult(alias, base, False, reason, response.status_code)

    def _write(self, alias: str, base: str, body: bytes) -> PushResult:
        folder = Path(self.local_dir or "")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", alias).strip(".") or "server"
        target = folder / f"{name}.json"
        temp = folder / f".{name}.{uuid.uuid4().hex[:8]}.part"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(body)
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            return PushResult(alias, base, False, f"cannot write {target}: {exc}")
        return PushResult(alias, base, True, f"written to {target} (local mode)")


def _message(response: Any) -> str:
    """The receiver's ``message`` when it sent one, else the start of the body."""
    try:
        return str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200].strip() or f"{response.status_code} {response.reason}"


def build_cms_resource(environ: Mapping[str, str] | None = None) -> CmsResource:
    """The ``cms`` resource as the environment configures it (module docstring)."""
    env = os.environ if environ is None else environ

    def value(name: str) -> str | None:
        return env.get(name, "").strip() or None

    local_dir = value("CDR_CMS_LOCAL_DIR")
    if local_dir:
        return CmsResource(local_dir=local_dir)
    settings: dict[str, Any] = {
        "username": value("CDR_CMS_USER") or "PDQ",
        "drupal_host": value("CDR_DRUPAL_HOST"),
    }
    if value("CDR_CMS_PASSWORD"):
        settings["password"] = dg.EnvVar("CDR_CMS_PASSWORD")
    timeout = value("CDR_CMS_TIMEOUT")
    if timeout:
        try:
            settings["timeout"] = float(timeout)
        except ValueError:
            raise ValueError(f"CDR_CMS_TIMEOUT={timeout!r} is not a number of seconds") from None
    return CmsResource(**settings)


def missing_cms_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables a push will need and that are not set (for ``check-env``)."""
    env = os.environ if environ is None else environ
    if env.get("CDR_CMS_LOCAL_DIR", "").strip():
        return []
    return [] if env.get("CDR_CMS_PASSWORD", "").strip() else ["CDR_CMS_PASSWORD"]
