"""Which CDR database and which Elasticsearch cluster a run's ``tier`` option means.

As in the legacy loaders, a tier is a whole place: its CDR database, the index definitions and
filters it holds, and its Elasticsearch cluster. The local tier (``CDR_TIER``) is what the
``cdr_db`` and ``search_index`` resources are configured for. Another tier is reached through
its own settings, read when the run starts (never when the code location loads):

- ``CDR_DB_URL_<TIER>``: its CDR database (a read-only login is enough);
- ``CDR_ES_HOST_<TIER>`` with optional ``CDR_ES_PORT_<TIER>`` (default 9200),
  ``CDR_ES_SCHEME_<TIER>`` (default http), ``CDR_ES_USER_<TIER>`` and
  ``CDR_ES_PASSWORD_<TIER>``; or ``CDR_ES_DUMP_DIR_<TIER>`` for a dump folder.

A run for a tier whose settings are missing is refused before it reads or writes anything,
naming every missing variable. The other search settings (name prefix, bulk sizes, how many
old indexes stay) are the local resource's. Used by the dictionary loads, the trial listing
load and the dictionary sitemap; see ``docs/search-loads.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dagster as dg

from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.search_index import SearchIndexResource
from cdr_dagster.settings import TIERS, parse_tier

#: The settings of a tier other than the local one.
DB_URL = "CDR_DB_URL_{tier}"
ES_HOST = "CDR_ES_HOST_{tier}"
ES_PORT = "CDR_ES_PORT_{tier}"
ES_SCHEME = "CDR_ES_SCHEME_{tier}"
ES_USER = "CDR_ES_USER_{tier}"
ES_PASSWORD = "CDR_ES_PASSWORD_{tier}"
ES_DUMP_DIR = "CDR_ES_DUMP_DIR_{tier}"
#: Settings of the local search_index resource that hold for every tier.
_SHARED_SEARCH_SETTINGS = (
    "timeout",
    "index_prefix",
    "keep_indexes",
    "keep_days",
    "bulk_documents",
    "bulk_bytes",
)


@dataclass(frozen=True)
class TierSources:
    """The tier a run is for, and its CDR database and search cluster (None when the run
    needs no cluster)."""

    tier: str
    local: bool
    cdr_db: CdrDatabaseResource
    search_index: SearchIndexResource | None


def local_tier(environ: Mapping[str, str] | None = None) -> str:
    """The tier this code location runs on (``CDR_TIER``, default DEV)."""
    env = os.environ if environ is None else environ
    return parse_tier(env.get("CDR_TIER"))


def chosen_tier(value: str | None, default: str) -> str:
    """The canonical name of the tier option ``value`` (``default`` when unset); anything
    else fails the run naming it."""
    tier = (value or default).strip().upper()
    if tier not in TIERS:
        raise dg.Failure(f"tier {value!r} is not one of {', '.join(TIERS)}")
    return tier


def tier_sources(
    tier: str,
    cdr_db: CdrDatabaseResource,
    search_index: SearchIndexResource | None,
    environ: Mapping[str, str] | None = None,
) -> TierSources:
    """``cdr_db`` and ``search_index`` for the local tier; for another, the ones its
    settings name (module docstring). Pass ``search_index`` None when the run writes to no
    cluster. Raises ``dg.Failure`` naming every missing variable."""
    env = os.environ if environ is None else environ
    if tier == local_tier(env):
        return TierSources(tier, True, cdr_db, search_index)

    def value(template: str) -> str:
        return env.get(template.format(tier=tier), "").strip()

    missing = [] if value(DB_URL) else [DB_URL.format(tier=tier)]
    search = None
    if search_index is not None:
        search, missing_search = _tier_search_index(tier, search_index, value)
        missing += missing_search
    if missing:
        raise dg.Failure(
            f"tier {tier} is not configured on this {local_tier(env)} code location: set "
            f"{', '.join(missing)} (or run with the local tier)"
        )
    return TierSources(tier, False, CdrDatabaseResource(url=value(DB_URL)), search)


def _tier_search_index(
    tier: str, local: SearchIndexResource, value: Callable[[str], str]
) -> tuple[SearchIndexResource | None, list[str]]:
    """The tier's search resource from its settings, or the variables it lacks."""
    shared = {name: getattr(local, name) for name in _SHARED_SEARCH_SETTINGS}
    if value(ES_DUMP_DIR):
        return SearchIndexResource(dump_dir=value(ES_DUMP_DIR), **shared), []
    missing = [] if value(ES_HOST) else [ES_HOST.format(tier=tier)]
    if value(ES_USER) and not value(ES_PASSWORD):
        missing.append(ES_PASSWORD.format(tier=tier))
    if missing:
        return None, missing
    port = value(ES_PORT) or "9200"
    if not port.isdigit():
        raise dg.Failure(f"{ES_PORT.format(tier=tier)}={port!r} is not a port number")
    return (
        SearchIndexResource(
            host=value(ES_HOST),
            port=int(port),
            scheme=value(ES_SCHEME) or "http",
            username=value(ES_USER) or None,
            password=value(ES_PASSWORD) or None,
            **shared,
        ),
        [],
    )
