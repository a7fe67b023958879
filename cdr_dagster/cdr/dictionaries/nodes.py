"""The filter's ``<nodes>`` output turned into Elasticsearch documents
(docs/behaviour-notes.md#dictionary-nodes).

A filter returns ``<nodes><node doc_type="terms" id="...">...</node>...</nodes>``. Each ``node``
is one document: its ``id`` attribute is the ``_id`` and its children make the ``_source``:

- an element with a ``processor`` attribute is the named rule applied to its text
  (``clean_pretty_url``, ``lowercase_first_letter``);
- an element with child elements is an object keyed by the children's tags, in order; a
  repeated tag without ``array-member`` keeps the last value;
- ``type`` holds space-separated words: ``array-member`` appends the value to a list under
  the tag; ``false``, ``true`` and ``null`` give those constants; ``int`` gives an integer;
- a leaf without text is ``null``; otherwise its text (the first text node, as lxml's
  ``.text``), never stripped.

Where the legacy loader crashed with a ``TypeError`` (a processor or ``int`` element without
text), :class:`NodeError` names the document, node and element instead; the load still fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from cdr_dagster.cdr.dictionaries.text import clean_pretty_url, lowercase_first_letter

#: The rules a filter may name in a ``processor`` attribute.
PROCESSORS: dict[str, Callable[[str], Any]] = {
    "clean_pretty_url": clean_pretty_url,
    "lowercase_first_letter": lowercase_first_letter,
}

_CONSTANTS = {"false": False, "true": True, "null": None}


class NodeError(ValueError):
    """A filter node cannot be turned into a document; the message says where and why."""


@dataclass(frozen=True)
class IndexDocument:
    """One Elasticsearch document: ``_id`` (None lets Elasticsearch choose one) and source."""

    id: str | None
    source: dict[str, Any]


def _typed(value: Any, words: list[str], element: etree._Element, where: str) -> Any:
    """``value`` as the ``type`` words say (checked in the legacy order: false, true, null,
    int; any other word leaves the value alone)."""
    for word, constant in _CONSTANTS.items():
        if word in words:
            return constant
    if "int" in words:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise NodeError(
                f'{where}: <{element.tag} type="int"> holds {value!r}, not an integer'
            ) from None
    return value


def _processed(element: etree._Element, processor: str, where: str) -> Any:
    rule = PROCESSORS.get(processor)
    if rule is None:
        raise NodeError(f"{where}: <{element.tag}> names unknown processor {processor!r}")
    text = element.text
    if text is None and processor == "clean_pretty_url":
        raise NodeError(
            f'{where}: <{element.tag} processor="clean_pretty_url"> has no text '
            "(the exported document lacks the name it is made from)"
        )
    return rule(text)


def _children(element: etree._Element, where: str) -> Any:
    """The value of an element without a processor: an object of its children, else text.

    Written for speed (it runs for every element of every document): one ``items()`` call per
    child, and plain leaves without attributes handled inline.
    """
    values: dict[str, Any] = {}
    for child in element:
        tag = child.tag
        if tag.__class__ is not str:
            continue  # comments and processing instructions carry no value
        attributes = child.items()
        if not attributes:
            values[tag] = _children(child, where) if len(child) else (child.text or None)
            continue
        attrs = dict(attributes)
        processor = attrs.get("processor")
        if processor is not None:
            value = _processed(child, processor, where)
        elif len(child):
            value = _children(child, where)
        else:
            value = child.text or None
        kind = attrs.get("type")
        if kind is None:
            values[tag] = value
            continue
        words = kind.split()
        if "array-member" in words:
            words.remove("array-member")
            if words:
                value = _typed(value, words, child, where)
            existing = values.get(tag)
            if existing.__class__ is list:
                existing.append(value)
            else:
                values[tag] = [value]
        else:
            values[tag] = _typed(value, words, child, where)
    if values:
        return values
    return element.text or None


def element_value(element: etree._Element, where: str = "node") -> Any:
    """The JSON value of one filter output element (see the module docstring)."""
    processor = element.get("processor")
    if processor is not None:
        return _processed(element, processor, where)
    return _children(element, where)


def node_documents(result: etree._Element | None, where: str) -> Iterator[IndexDocument]:
    """The documents of a filter result (its root ``nodes`` element); ``where`` names the
    CDR document in errors. A result without a root element is an error."""
    if result is None:
        raise NodeError(f"{where}: the filter produced no <nodes> element")
    for node in result.iterchildren("node"):
        node_id = node.get("id")
        label = f"{where} node {node_id!r}" if node_id is not None else f"{where} node"
        source = _children(node, label)
        if not isinstance(source, dict):
            raise NodeError(f"{label}: the node has no child elements")
        yield IndexDocument(node_id, source)
