"""Index definitions (settings and mappings) kept in ``ctl``, with a packaged fallback.

The loads into Elasticsearch read the definition of each index they create from a ``ctl``
value of the local CDR (``dictionary/glossary``, ``trials/listing-info`` ...); when the row is
missing, the packaged copy is used and the source says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
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


def read_index_definition(
    conn: Connection, group: str, name: str, packaged: Path
) -> IndexDefinition:
    """The index definition in ctl ``{group}/{name}``, or the ``packaged`` file without one."""
    where = f"ctl {group}/{name}"
    text = control_value(conn, group, name)
    if text is None:
        where = f"packaged {packaged.name} (no active {where} row)"
        text = packaged.read_text(encoding="utf-8")
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise IndexDefinitionError(f"can't load index definition from {where}: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("mappings"), dict):
        raise IndexDefinitionError(f"{where} is not an index definition (no 'mappings' object)")
    return IndexDefinition(body, where)
