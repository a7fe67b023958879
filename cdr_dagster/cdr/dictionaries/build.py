"""The two dictionaries, their index definitions, and the document builder.

:class:`DocumentBuilder` does for one CDR document what the legacy loader's ``Doc.nodes`` did:
parse the exported XML with the safe parser, run the CDR filter with the ``tier`` parameter,
and turn each ``<node>`` into an (``_id``, ``_source``) pair. It also works out, from the XML
alone, which documents the index must hold for that term (:mod:`.expected`).

The index definition (settings and ``"dynamic": "strict"`` mappings) is the ``ctl`` value
``dictionary/glossary`` or ``dictionary/drugs`` of the CDR the load reads; a missing row is
an error naming it (:mod:`cdr_dagster.cdr.index_definitions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.dictionaries import expected, terms
from cdr_dagster.cdr.dictionaries.filters import DictionaryFilter, FilterError
from cdr_dagster.cdr.dictionaries.nodes import IndexDocument, node_documents
from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.cdr.index_definitions import (
    IndexDefinition,
    read_index_definition,
)
from cdr_dagster.cdr.xml import parse_xml

CONTROL_GROUP = "dictionary"


@dataclass(frozen=True)
class Dictionary:
    """One dictionary load: its names, where its data come from, and what it must hold."""

    name: str  # the legacy ``dictionary`` option: glossary or drugs
    label: str  # the legacy TYPE, in log lines: glossary or drug
    alias: str
    filter_title: str
    control_name: str
    term_ids: Callable[[Connection], list[int]]
    expected_ids: Callable[[etree._Element], set[str]]
    problems: Callable[[str | None, Mapping[str, Any]], list[str]]
    consumer: str


GLOSSARY = Dictionary(
    name="glossary",
    label="glossary",
    alias="glossaryv1",
    filter_title="Index Glossary Dictionary",
    control_name="glossary",
    term_ids=terms.glossary_term_ids,
    expected_ids=expected.glossary_ids,
    problems=expected.glossary_problems,
    consumer="glossary API (NCIOCPL/glossary-api)",
)
DRUGS = Dictionary(
    name="drugs",
    label="drug",
    alias="drugv1",
    filter_title="Index Drug Dictionary",
    control_name="drugs",
    term_ids=terms.drug_term_ids,
    expected_ids=expected.drug_ids,
    problems=expected.drug_problems,
    consumer="drug dictionary API (NCIOCPL/drug-dictionary-api)",
)
DICTIONARIES = {d.name: d for d in (GLOSSARY, DRUGS)}


def index_definition(conn: Connection, dictionary: Dictionary) -> IndexDefinition:
    """The index definition from ctl ``dictionary/{glossary|drugs}`` (required)."""
    return read_index_definition(conn, CONTROL_GROUP, dictionary.control_name)


@dataclass(frozen=True)
class BuiltTerm:
    """The documents built for one CDR document, and the ``_id``\\ s it should have."""

    doc_id: int
    documents: list[IndexDocument]
    expected: set[str]


class DocumentBuilder:
    """Builds the documents of one dictionary with a compiled CDR filter for one tier."""

    def __init__(self, dictionary: Dictionary, transform: DictionaryFilter, tier: str) -> None:
        self.dictionary = dictionary
        self.transform = transform
        self.tier = tier

    def build(self, doc_id: int, xml: str | bytes) -> BuiltTerm:
        """The documents for the exported XML of CDR document ``doc_id``."""
        where = format_cdr_id(doc_id)
        root = parse_xml(xml, name=f"exported {where}")
        try:
            result = self.transform.apply(root, self.tier)
        except FilterError as exc:
            raise FilterError(f"{where}: {exc}") from exc
        documents = list(node_documents(result, where))
        return BuiltTerm(doc_id, documents, self.dictionary.expected_ids(root))
