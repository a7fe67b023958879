"""The CDR's path index of a saved document: the ``query_term`` / ``query_term_pub`` rows.

When the CDR saves a document it re-indexes it: every element or attribute whose path is listed
in ``query_term_def`` (``/DocType/A/B``, ``/DocType/A/@attr``, or ``//B`` and ``//@attr`` for any
depth) gets one row, for ``query_term`` always and for ``query_term_pub`` when the save made a
publishable version. The rules, as the CDR applies them:

- ``path``: the element path from the root; attributes in the CDR namespace are ``@cdr:name``;
- ``value``: all descendant text of the element (comments and processing instructions left out),
  or the attribute value, as is (not stripped; an empty value is indexed too), cut to 800
  characters;
- ``int_val``: the first run of digits in the value (``CDR0000012345`` -> 12345), 0 when it
  does not fit an INT, NULL when there is none;
- ``node_loc``: four hex digits per level below the root, the 0-based position of the element
  (or of the attribute's element) among its element siblings.

Rows are changed surgically: only the rows that differ are deleted and inserted. The paths
re-indexed are the defined ones plus any the document already has rows for (an index built
before a definition was dropped is refreshed, never left stale) plus any the caller names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree
from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import query_term, query_term_def, query_term_pub
from cdr_dagster.cdr.sql import ilike
from cdr_dagster.cdr.xml import get_text

CDR_NAMESPACE = "cips.nci.nih.gov/cdr"
MAX_VALUE = 800
MAX_INT = 2_147_483_647
_DIGITS = re.compile(r"\d+")

#: (path, node_loc, value) of one index row.
Term = tuple[str, str, str]


def _name(qualified: str, attribute: bool) -> str:
    qname = etree.QName(qualified)
    if attribute and qname.namespace == CDR_NAMESPACE:
        return f"cdr:{qname.localname}"
    return qname.localname


def collect_terms(root: etree._Element, paths: Iterable[str]) -> set[Term]:
    """The index rows (path, node_loc, value) of a parsed document for ``paths``."""
    wanted = frozenset(paths)
    terms: set[Term] = set()
    stack: list[tuple[etree._Element, str, str]] = [(root, f"/{_name(root.tag, False)}", "")]
    while stack:
        element, path, loc = stack.pop()
        tag = path.rsplit("/", 1)[1]
        if path in wanted or f"//{tag}" in wanted:
            terms.add((path, loc, (get_text(element) or "")[:MAX_VALUE]))
        for qualified, value in element.attrib.items():
            name = _name(qualified, True)
            if f"{path}/@{name}" in wanted or f"//@{name}" in wanted:
                terms.add((f"{path}/@{name}", loc, value[:MAX_VALUE]))
        children = [child for child in element if isinstance(child.tag, str)]
        for position, child in enumerate(children):
            stack.append((child, f"{path}/{_name(child.tag, False)}", f"{loc}{position:04X}"))
    return terms


def int_val(value: str) -> int | None:
    """The ``int_val`` of an index value: its first integer (0 if too big for INT), or None."""
    match = _DIGITS.search(value)
    if match is None:
        return None
    number = int(match.group())
    return number if number <= MAX_INT else 0


def defined_paths(conn: Connection, doc_type_name: str) -> set[str]:
    """The ``query_term_def`` paths that apply to a document type (its own and ``//`` ones)."""
    path = query_term_def.c.path
    stmt = select(path).where(or_(ilike(path, f"/{doc_type_name}/%"), path.like("//%")))
    return set(conn.execute(stmt).scalars())


def reindex(
    conn: Connection,
    doc_id: int,
    root: etree._Element,
    doc_type_name: str,
    *,
    published: bool = False,
    extra_paths: Iterable[str] = (),
) -> tuple[int, int]:
    """Bring one document's rows in ``query_term`` (or ``query_term_pub``) up to ``root``.

    Returns (rows deleted, rows inserted).
    """
    table: Table = query_term_pub if published else query_term
    old_rows = conn.execute(
        select(table.c.path, table.c.node_loc, table.c.value).where(table.c.doc_id == doc_id)
    ).all()
    old: set[Term] = {(row.path, row.node_loc, row.value) for row in old_rows}
    paths = defined_paths(conn, doc_type_name) | {term[0] for term in old} | set(extra_paths)
    new = collect_terms(root, paths)
    unwanted, wanted = old - new, new - old
    for path, loc, value in sorted(unwanted):
        conn.execute(
            delete(table).where(
                and_(
                    table.c.doc_id == doc_id,
                    table.c.path == path,
                    table.c.node_loc == loc,
                    table.c.value == value,
                )
            )
        )
    if wanted:
        conn.execute(
            insert(table),
            [
                {
                    "doc_id": doc_id,
                    "path": path,
                    "value": value,
                    "int_val": int_val(value),
                    "node_loc": loc,
                }
                for path, loc, value in sorted(wanted)
            ],
        )
    return len(unwanted), len(wanted)
