"""The one safe XML parser of cdr-dagster, and the CDR's text-extraction rule.

Everything parsed from the CDR or the file system (documents, filters, SweepSpecifications,
sitemaps) goes through :func:`parse_xml`. The parser resolves no entities, loads no DTD, touches
no network, refuses huge trees and keeps CDATA as text, so a document is always data, never a
way to read files or hosts.
"""

from __future__ import annotations

import re

from lxml import etree

#: The shared parser. lxml parsers may be shared between threads (only less efficiently).
PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    attribute_defaults=False,
    huge_tree=False,
    decompress=False,
    remove_blank_text=False,
)

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class XmlError(ValueError):
    """A document is not well-formed XML; the message names the document."""


def parse_xml(data: bytes | str, name: str = "document") -> etree._Element:
    """Parse ``data`` with the safe parser and return the root element.

    ``name`` (e.g. ``"CDR0000012345"`` or a file path) is put in the error message. A ``str``
    may carry an XML declaration (CDR ``NTEXT`` values usually do); it is dropped, since the
    text is already decoded.
    """
    if isinstance(data, str):
        data = _XML_DECLARATION.sub("", data, count=1).encode("utf-8")
    try:
        return etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"{name} is not well-formed XML: {exc}") from exc


def get_text(
    node: etree._Element | None,
    path: str | None = None,
    default: str | None = None,
    namespaces: dict[str, str] | None = None,
) -> str | None:
    """The text of ``node`` (or of its first descendant matching ``path``), as the CDR reads it.

    - element absent (``node`` is None or ``path`` matches nothing) -> ``default``;
    - element present but empty -> ``""``;
    - otherwise all descendant text concatenated, without comments or processing instructions
      (``cdr.get_text`` of cdr-lib).
    """
    if node is not None and path is not None:
        node = node.find(path, namespaces=namespaces)
    if node is None:
        return default
    return "".join(node.itertext("*"))
