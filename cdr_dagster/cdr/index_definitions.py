"""Index definitions (settings and mappings) kept in ``ctl``.

The loads into Elasticsearch read the definition of each index they create from a ``ctl``
value of the CDR they read (``dictionary/glossary``, ``dictionary/drugs``,
``trials/listing-info``, ``trials/trial-type-info``), as the legacy loaders did. There is no
fallback: a live index is only ever built with the settings the CDR holds, so a missing or
inactive row is an error naming the group and the name. The demo seeds these rows from its
own data files (``demo/data/ctl--{group}--{name}.json``); see ``docs/search-loads.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from cdr_dagster.cdr.control import control_value


class IndexDefinitionError(ValueError):
    """The index definition cannot be read; the message names the ctl row or file."""


@dataclass(frozen=True)
class IndexDefinition:
    """Settings and mappings of one index, and where they were read."""

    body: dict[str, Any]
    source: str


def read_index_definition(conn: Connection, group: str, name: str) -> IndexDefinition:
    """The index definition in ctl ``{group}/{name}``; raises :class:`IndexDefinitionError`
    naming the row when there is no active one."""
    where = f"ctl {group}/{name}"
    text = control_value(conn, group, name)
    if text is None or not text.strip():
        raise IndexDefinitionError(
            f"no index definition: the CDR has no active ctl row with group {group!r} and "
            f"name {name!r}; the load builds an index only with the definition the CDR holds"
        )
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise IndexDefinitionError(f"can't load index definition from {where}: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("mappings"), dict):
        raise IndexDefinitionError(f"{where} is not an index definition (no 'mappings' object)")
    return IndexDefinition(body, where)
