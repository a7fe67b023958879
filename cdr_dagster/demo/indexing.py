"""The demo's version of the CDR search index: ``query_term`` rows computed from document XML.

The CDR indexes the paths listed in ``query_term_def`` each time a document is saved
(``query_term`` for the current working document, ``query_term_pub`` for the latest publishable
version). The demo does the same from its data files, so every path a job queries holds exactly
what the seeded documents say:

- ``path``: ``/Root/Child/Leaf`` for element text, ``/Root/Child/@attr`` for attributes; attributes
  in the CDR namespace are written ``@cdr:name``;
- ``value``: the element's text (all descendant text, stripped) or the attribute value, cut to 800
  characters; empty values are not indexed;
- ``int_val``: the document id of a ``cdr:ref``/``cdr:href`` link (fragment dropped), else NULL;
- ``node_loc``: four hex digits per level below the root, the 0-based position of each ancestor
  among its element siblings; so rows of one top-level block share their first four characters,
  which is how the CDR's queries tie rows of the same block together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from lxml import etree

CDR_NAMESPACE = "cips.nci.nih.gov/cdr"
_DOC_ID = re.compile(r"CDR0*(\d+)", re.IGNORECASE)
_MAX_VALUE = 800


def _attribute_name(name: str) -> str:
    qname = etree.QName(name)
    if qname.namespace == CDR_NAMESPACE:
        return f"@cdr:{qname.localname}"
    return f"@{qname.localname}"


def _int_val(path: str, value: str) -> int | None:
    if path.endswith(("@cdr:ref", "@cdr:href")):
        match = _DOC_ID.match(value.strip())
        if match:
            return int(match.group(1))
    return None


def _elements(root: etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    """Each element with its path and node_loc, in document order."""
    stack: list[tuple[etree._Element, str, str]] = [(root, f"/{etree.QName(root).localname}", "")]
    while stack:
        element, path, loc = stack.pop()
        yield element, path, loc
        children = [c for c in element if isinstance(c.tag, str)]
        for position in range(len(children) - 1, -1, -1):
            child = children[position]
            stack.append(
                (
                    child,
                    f"{path}/{etree.QName(child).localname}",
                    f"{loc}{position:04X}",
                )
            )


def index_document(doc_id: int, root: etree._Element, paths: Iterable[str]) -> list[dict]:
    """The ``query_term`` rows of one document for the indexed ``paths``."""
    wanted = frozenset(paths)
    rows: list[dict] = []
    for element, path, loc in _elements(root):
        if path in wanted:
            value = "".join(element.itertext()).strip()
            if value:
                rows.append(_row(doc_id, path, value, loc))
        for name, value in element.attrib.items():
            attr_path = f"{path}/{_attribute_name(name)}"
            if attr_path in wanted and value.strip():
                rows.append(_row(doc_id, attr_path, value.strip(), loc))
    return rows


def _row(doc_id: int, path: str, value: str, loc: str) -> dict:
    return {
        "doc_id": doc_id,
        "path": path,
        "value": value[:_MAX_VALUE],
        "int_val": _int_val(path, value),
        "node_loc": loc,
    }
