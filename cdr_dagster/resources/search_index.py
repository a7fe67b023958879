"""Elasticsearch as a Dagster resource: the cluster behind the cancer.gov APIs, or a dump folder.

The client is the ``elasticsearch`` package at major version 7, the version of the clusters the
legacy loaders wrote to (they used ``elasticsearch7``; the consumer APIs test against 7.17) -
a client must match its cluster's major version. It is imported when a run first talks to a
cluster, never when the code location loads.

Two modes, chosen by configuration (docs/architecture.md#local-modes), never inside an asset:

- cluster: ``host``/``port``/``scheme`` (or ``url``), optional basic auth ``username`` and
  ``password`` (given as ``EnvVar``\\ s), the legacy 300-second timeout;
- dump: with ``dump_dir`` set, every operation goes to that folder instead, and the bulk bodies
  are written there as NDJSON exactly as they would be sent (the legacy ``dump`` option, and
  the demo's local mode; see :mod:`cdr_dagster.search.backends`).

:func:`build_search_index_resource` makes the resource from the environment:
``CDR_ES_DUMP_DIR`` (dump mode), else ``CDR_ES_HOST``, ``CDR_ES_PORT`` (default 9200),
``CDR_ES_SCHEME`` (default http, as the legacy loaders used), and ``CDR_ES_USER`` with
``CDR_ES_PASSWORD`` when the cluster wants a login. Variables are read as Dagster ``EnvVar``\\ s,
so a missing one fails the run that needs it, naming it, not the code location.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:  # the search package and the client load on first use
    from cdr_dagster.search.backends import SearchBackend

DEFAULT_PORT = 9200


class SearchIndexResource(dg.ConfigurableResource):
    """The Elasticsearch cluster the dictionary and trial loads write to, or a dump folder."""

    url: str | None = Field(
        default=None,
        description="Cluster URL such as https://es.example.gov:9200; overrides host, port "
        "and scheme.",
    )
    host: str | None = Field(
        default=None, description="Cluster host (CDR_ES_HOST; the tier's DICTIONARY host)."
    )
    port: int = Field(
        default=DEFAULT_PORT, description="Cluster port (CDR_ES_PORT; the tier's dictionary port)."
    )
    scheme: str = Field(
        default="http", description="http or https (CDR_ES_SCHEME); the legacy loaders used http."
    )
    username: str | None = Field(
        default=None, description="Basic-auth user (CDR_ES_USER); unset means no login."
    )
    password: str | None = Field(
        default=None,
        description="Basic-auth password; give it as EnvVar('CDR_ES_PASSWORD'), never as text.",
    )
    timeout: float = Field(default=300.0, description="Seconds a cluster request may take.")
    dump_dir: str | None = Field(
        default=None,
        description="When set (CDR_ES_DUMP_DIR), indexes are kept in this folder as NDJSON "
        "bulk bodies instead of being sent to a cluster.",
    )
    index_prefix: str = Field(
        default="",
        description="Put before every alias and index name (for a cluster shared by several "
        "tiers or by tests); empty in production.",
    )
    keep_indexes: int = Field(
        default=5, ge=0, description="Old indexes of an alias always kept after a swap."
    )
    keep_days: int = Field(
        default=5, ge=0, description="Older indexes are dropped once this many days old."
    )
    bulk_documents: int = Field(default=500, ge=1, description="Documents per bulk request.")
    bulk_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1, description="Size at which a bulk request is sent."
    )

    @property
    def mode(self) -> str:
        """``"dump"`` with a dump folder, else ``"cluster"``."""
        return "dump" if self.dump_dir else "cluster"

    def _parts(self) -> tuple[str, str | None, int]:
        """(scheme, host, port) of the configured cluster."""
        if self.url:
            from urllib.parse import urlsplit

            parts = urlsplit(self.url)
            default = 443 if parts.scheme == "https" else DEFAULT_PORT
            return parts.scheme or "http", parts.hostname, parts.port or default
        return self.scheme, self.host, self.port

    def _endpoint(self, host: str | None, port: int | None) -> str:
        if self.url and host is None and port is None:
            return self.url.rstrip("/")
        scheme, configured_host, configured_port = self._parts()
        name = host or configured_host
        if not name:
            raise ValueError(
                "no Elasticsearch host: set CDR_ES_HOST (or the resource's host or url), or "
                "CDR_ES_DUMP_DIR for the dump folder"
            )
        return f"{scheme}://{name}:{port or configured_port}"

    def target(self, host: str | None = None, port: int | None = None) -> str:
        """The host (or dump folder) a load goes to, as the notification subject names it."""
        if self.dump_dir:
            return self.dump_dir
        return host or self._parts()[1] or "(no host)"

    def backend(self, host: str | None = None, port: int | None = None) -> SearchBackend:
        """The backend for one run; ``host``/``port`` override the configured cluster (they
        mean nothing for a dump folder and are ignored there)."""
        from cdr_dagster.search.backends import DumpFolderBackend, ElasticsearchBackend

        if self.dump_dir:
            return DumpFolderBackend(self.dump_dir)
        from elasticsearch import Elasticsearch

        endpoint = self._endpoint(host, port)
        auth = (self.username, self.password or "") if self.username else None
        client = Elasticsearch(
            [endpoint], http_auth=auth, timeout=self.timeout, max_retries=3, retry_on_timeout=True
        )
        return ElasticsearchBackend(client, endpoint)


def build_search_index_resource(environ: Mapping[str, str] | None = None) -> SearchIndexResource:
    """The ``search_index`` resource as the environment configures it (module docstring)."""
    env = os.environ if environ is None else environ
    dump_dir = env.get("CDR_ES_DUMP_DIR", "").strip()
    if dump_dir:
        return SearchIndexResource(dump_dir=dump_dir)
    settings: dict = {"host": dg.EnvVar("CDR_ES_HOST")}
    if env.get("CDR_ES_PORT", "").strip():
        settings["port"] = dg.EnvVar.int("CDR_ES_PORT")
    if env.get("CDR_ES_SCHEME", "").strip():
        settings["scheme"] = dg.EnvVar("CDR_ES_SCHEME")
    if env.get("CDR_ES_USER", "").strip():
        settings["username"] = dg.EnvVar("CDR_ES_USER")
        settings["password"] = dg.EnvVar("CDR_ES_PASSWORD")
    return SearchIndexResource(**settings)


def missing_search_index_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables :func:`build_search_index_resource` will need at run time and that are
    not set (for ``cdr-dagster check-env``)."""
    env = os.environ if environ is None else environ

    def unset(name: str) -> bool:
        return not env.get(name, "").strip()

    if not unset("CDR_ES_DUMP_DIR"):
        return []
    missing = ["CDR_ES_HOST"] if unset("CDR_ES_HOST") else []
    if not unset("CDR_ES_USER") and unset("CDR_ES_PASSWORD"):
        missing.append("CDR_ES_PASSWORD")
    return missing
