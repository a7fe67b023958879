"""Schema validation of CDR documents, as the CDR's save path validates them.

The CDR keeps its XML schemas in the database, as documents of type ``schema`` titled with a
file name (``DrugInformationSummary.xml``); ``doc_type.xml_schema`` is the id of a document
type's schema document, and ``xsd:include`` and ``xsd:import`` name other schema documents by
title (``CdrCommonSchema.xml``). Every one of them is read from the database here; nothing is
ever read from the file system or the network.

As the CDR does, the attributes in the CDR namespace (``cdr:id``, ``cdr:ref``) are renamed
``cdr-id``, ``cdr-ref`` before validation (XML Schema cannot let such attributes vary from one
type to another across schema documents), so the schemas declare them under those names.
The CDR's revision-markup filtering, link validation and custom rule sets are not run: the
documents these jobs change carry no revision markup and the changes touch no links.

:class:`SchemaCache` compiles each document type's schema once for a run;
:func:`install_schema` stores schema documents in the demo and test databases.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.control_documents import document_type_id, install_control_document
from cdr_dagster.cdr.schema import all_docs, doc_type, document
from cdr_dagster.cdr.sql import iequals

SCHEMA_DOC_TYPE = "schema"
CDR_NS = "cips.nci.nih.gov/cdr"
VALID, INVALID = "V", "I"


class SchemaError(Exception):
    """A document type's schema is missing or cannot be compiled; the text says which."""


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one document: its validation status and the errors."""

    status: str
    errors: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        """True when the document validates (status ``V``)."""
        return self.status == VALID

    @property
    def first_error(self) -> str | None:
        """The first error, as ``line N: message``, or None."""
        return self.errors[0] if self.errors else None


def schema_xml(conn: Connection, title: str) -> str:
    """The XML of the schema document titled ``title`` (compared without regard to case).

    Raises :class:`SchemaError` naming the title when there is none or several.
    """
    rows = conn.execute(
        select(document.c.id, document.c.xml)
        .join(doc_type, doc_type.c.id == document.c.doc_type)
        .where(iequals(doc_type.c.name, SCHEMA_DOC_TYPE), iequals(document.c.title, title))
    ).all()
    if not rows:
        raise SchemaError(f"the CDR has no schema document titled {title!r}")
    if len(rows) > 1:
        raise SchemaError(f"several CDR schema documents are titled {title!r}")
    return rows[0].xml


class _DatabaseResolver(etree.Resolver):
    """Gives ``xsd:include``/``xsd:import`` the schema documents they name, by title."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def resolve(self, system_url, public_id, context):  # noqa: ANN001, ANN201 - lxml's API
        title = posixpath.basename(str(system_url or "").replace("\\", "/"))
        xml = schema_xml(self.conn, title)
        return self.resolve_string(xml.encode("utf-8"), context, base_url=title)


def compile_schema(conn: Connection, type_name: str) -> etree.XMLSchema:
    """The compiled schema of document type ``type_name``, its includes read by title.

    Raises :class:`SchemaError` when the type has no schema document or it does not compile.
    """
    row = conn.execute(
        select(doc_type.c.xml_schema, document.c.title, document.c.xml)
        .select_from(doc_type)
        .outerjoin(document, document.c.id == doc_type.c.xml_schema)
        .where(iequals(doc_type.c.name, type_name))
    ).first()
    if row is None or row.xml_schema is None:
        raise SchemaError(f"document type {type_name!r} has no schema (doc_type.xml_schema)")
    if row.xml is None:
        raise SchemaError(
            f"the schema of document type {type_name!r} (CDR{row.xml_schema}) does not exist"
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    parser.resolvers.add(_DatabaseResolver(conn))
    try:
        root = etree.fromstring(row.xml.encode("utf-8"), parser, base_url=row.title)
        return etree.XMLSchema(root)
    except SchemaError:
        raise
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise SchemaError(
            f"the schema {row.title!r} of {type_name} does not compile: {exc}"
        ) from exc


def _namespaces_off(root: etree._Element) -> etree._Element:
    """A copy of ``root`` with every ``cdr:`` attribute renamed ``cdr-`` (the CDR's rule)."""
    copy = etree.fromstring(etree.tostring(root))
    prefix = f"{{{CDR_NS}}}"
    for node in copy.iter("*"):
        for name in [n for n in node.attrib if n.startswith(prefix)]:
            node.set("cdr-" + name[len(prefix) :], node.attrib.pop(name))
    return copy


@dataclass
class SchemaCache:
    """Compiled schemas by document type, for the saves of one run (or one save)."""

    schemas: dict[str, etree.XMLSchema] = field(default_factory=dict)

    def validate(self, conn: Connection, type_name: str, root: etree._Element) -> Validation:
        """Validate the parsed document ``root`` against its type's schema.

        Raises :class:`SchemaError` when the schema cannot be had.
        """
        key = type_name.lower()
        schema = self.schemas.get(key)
        if schema is None:
            schema = self.schemas[key] = compile_schema(conn, type_name)
        if schema.validate(_namespaces_off(root)):
            return Validation(VALID)
        errors = tuple(f"line {e.line}: {e.message}" for e in schema.error_log)
        return Validation(INVALID, errors or ("the document does not match its schema",))


def install_schema(
    conn: Connection,
    title: str,
    xml: str,
    doc_types: tuple[str, ...] = (),
    now: datetime | None = None,
    doc_id: int | None = None,
) -> int:
    """Store ``xml`` as the schema document titled ``title`` (updated, or added with the
    ``schema`` document type, created if missing) and make it the schema of ``doc_types``.
    A new document gets ``doc_id``, or the next free id. Returns the document id. For the
    demo and test databases only; the CDR keeps its own."""
    if conn.dialect.name == "mssql":
        raise SchemaError("install_schema is for the demo and test databases, never the CDR")
    now = now or datetime.now()
    type_id = document_type_id(conn, SCHEMA_DOC_TYPE, "XML schemas", now)
    existing = select(all_docs.c.id).where(
        all_docs.c.doc_type == type_id, all_docs.c.title == title
    )
    doc_id = install_control_document(
        conn, existing, type_id, title, xml, comment="cdr-dagster schema", now=now, doc_id=doc_id
    )
    for name in doc_types:
        conn.execute(
            update(doc_type).where(iequals(doc_type.c.name, name)).values(xml_schema=doc_id)
        )
    return doc_id
