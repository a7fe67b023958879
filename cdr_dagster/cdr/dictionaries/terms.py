"""Which CDR documents make each dictionary, and the exported XML of each
(docs/behaviour-notes.md#dictionary-terms).

- Glossary: every document in ``pub_proc_cg`` (on cancer.gov) whose document type is
  ``GlossaryTermName``.
- Drugs: every document in ``pub_proc_cg`` whose ``/Term/SemanticType/@cdr:ref`` (in
  ``query_term``, the current working documents, as the legacy query read it) points at a Term
  whose ``/Term/PreferredName`` is ``Drug/agent``.

The XML is the exported (vendor-filtered) document last pushed to cancer.gov, read from
``pub_proc_cg`` in batches so that memory does not grow with the number of terms.
Names compare without regard to case, as on the CDR's SQL Server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.cdr.schema import doc_type, document, pub_proc_cg, query_term
from cdr_dagster.cdr.sql import iequals

GLOSSARY_DOC_TYPE = "GlossaryTermName"
SEMANTIC_TYPE_PATH = "/Term/SemanticType/@cdr:ref"
PREFERRED_NAME_PATH = "/Term/PreferredName"
DRUG_SEMANTIC_TYPE = "Drug/agent"
#: Documents fetched per query.
BATCH_SIZE = 200


class MissingExportError(LookupError):
    """A document left ``pub_proc_cg`` while the load was reading it."""


def glossary_term_ids(conn: Connection) -> list[int]:
    """Ids of the GlossaryTermName documents on cancer.gov, ascending."""
    stmt = (
        select(pub_proc_cg.c.id)
        .join(document, document.c.id == pub_proc_cg.c.id)
        .join(doc_type, doc_type.c.id == document.c.doc_type)
        .where(iequals(doc_type.c.name, GLOSSARY_DOC_TYPE))
        .order_by(pub_proc_cg.c.id)
    )
    return list(conn.execute(stmt).scalars())


def drug_term_ids(conn: Connection) -> list[int]:
    """Ids of the Term documents on cancer.gov whose semantic type is Drug/agent, ascending."""
    link = query_term.alias("t")
    semantic = query_term.alias("s")
    stmt = (
        select(pub_proc_cg.c.id)
        .join(link, link.c.doc_id == pub_proc_cg.c.id)
        .join(semantic, semantic.c.doc_id == link.c.int_val)
        .where(
            iequals(link.c.path, SEMANTIC_TYPE_PATH),
            iequals(semantic.c.path, PREFERRED_NAME_PATH),
            iequals(semantic.c.value, DRUG_SEMANTIC_TYPE),
        )
        .distinct()
        .order_by(pub_proc_cg.c.id)
    )
    return list(conn.execute(stmt).scalars())


def exported_documents(
    conn: Connection, ids: Sequence[int], batch_size: int = BATCH_SIZE
) -> Iterator[tuple[int, str]]:
    """(id, exported XML) for each of ``ids`` in the given order, ``batch_size`` rows per query.

    Raises :class:`MissingExportError` naming the document when one is no longer on cancer.gov.
    """
    for start in range(0, len(ids), batch_size):
        batch = list(ids[start : start + batch_size])
        stmt = select(pub_proc_cg.c.id, pub_proc_cg.c.xml).where(pub_proc_cg.c.id.in_(batch))
        found = {row.id: row.xml for row in conn.execute(stmt)}
        for doc_id in batch:
            xml = found.get(doc_id)
            if xml is None:
                raise MissingExportError(
                    f"{format_cdr_id(doc_id)} is no longer in pub_proc_cg (removed from "
                    "cancer.gov while the load ran)"
                )
            yield doc_id, xml
