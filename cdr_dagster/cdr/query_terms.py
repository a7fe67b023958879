"""Look-ups in the CDR's path index: ``query_term`` (current working documents) and
``query_term_pub`` (latest publishable versions).

Each row indexes one value found at ``path`` in document ``doc_id``; ``int_val`` holds the CDR id
of a link (``@cdr:ref``) and ``node_loc`` the position of the node (4 hex characters per level,
so rows with equal leading characters come from the same block).

Paths and values compare case-insensitively on purpose: the CDR's SQL Server collation does,
and the legacy queries rely on it (docs/behaviour-notes.md#case-insensitive-strings). Pass
``published=True`` to read ``query_term_pub``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import query_term, query_term_pub
from cdr_dagster.cdr.sql import iequals


@dataclass(frozen=True)
class QueryTerm:
    """One indexed value."""

    doc_id: int
    path: str
    value: str
    int_val: int | None
    node_loc: str


def index_table(published: bool = False) -> Table:
    """``query_term_pub`` when ``published``, else ``query_term``."""
    return query_term_pub if published else query_term


def terms_for_path(
    conn: Connection, path: str, doc_id: int | None = None, published: bool = False
) -> list[QueryTerm]:
    """Every indexed value at ``path`` (of one document if ``doc_id`` is given).

    Ordered by document id, then node location (document order).
    """
    qt = index_table(published)
    stmt = select(qt).where(iequals(qt.c.path, path))
    if doc_id is not None:
        stmt = stmt.where(qt.c.doc_id == doc_id)
    stmt = stmt.order_by(qt.c.doc_id, qt.c.node_loc)
    return [QueryTerm(**row._mapping) for row in conn.execute(stmt)]


def values_for_path(conn: Connection, path: str, published: bool = False) -> dict[int, list[str]]:
    """{doc_id: [values in document order]} for every document with a value at ``path``."""
    result: dict[int, list[str]] = {}
    for term in terms_for_path(conn, path, published=published):
        result.setdefault(term.doc_id, []).append(term.value)
    return result


def values_for_doc(conn: Connection, doc_id: int, path: str, published: bool = False) -> list[str]:
    """The values at ``path`` in one document, in document order (empty if none)."""
    return [t.value for t in terms_for_path(conn, path, doc_id=doc_id, published=published)]


def doc_ids_with_value(
    conn: Connection, path: str, value: str, published: bool = False
) -> list[int]:
    """Ids of the documents whose ``path`` holds ``value`` (case-insensitive), ascending."""
    qt = index_table(published)
    stmt = (
        select(qt.c.doc_id)
        .where(iequals(qt.c.path, path), iequals(qt.c.value, value))
        .distinct()
        .order_by(qt.c.doc_id)
    )
    return list(conn.execute(stmt).scalars())


def doc_ids_linking_to(
    conn: Connection, path: str, target_id: int, published: bool = False
) -> list[int]:
    """Ids of the documents whose link at ``path`` (an ``@cdr:ref``) points to ``target_id``."""
    qt = index_table(published)
    stmt = (
        select(qt.c.doc_id)
        .where(iequals(qt.c.path, path), qt.c.int_val == target_id)
        .distinct()
        .order_by(qt.c.doc_id)
    )
    return list(conn.execute(stmt).scalars())
