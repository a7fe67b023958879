"""Rows and documents for the document-save and DIS-link tests (no tests of its own).

Drug Information Summaries are built from (section, TemporaryLink, posted date, URL) blocks;
each document is stored with its versions and indexed in ``query_term`` (working copy) and
``query_term_pub`` (latest publishable version) for the paths ``query_term_def`` lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.document_index import reindex
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster_tests.cdr_rows import (
    add_actions,
    add_doc_types,
    add_group_members,
    add_version_row,
    user_ids,
)

CDR_NS = "cips.nci.nih.gov/cdr"
DIS = "DrugInformationSummary"
DIS_PATHS = (
    "/DrugInformationSummary/Title",
    "/DrugInformationSummary/DrugReference/@TemporaryLink",
    "/DrugInformationSummary/DrugReference/DrugReferencePostedDate",
    "/DrugInformationSummary/DrugReference/DrugReferenceLink/@cdr:xref",
    "//@cdr:ref",
)
USERS = ("linksweeper", "mlee", "pwright", "FileSweeper")


@dataclass(frozen=True)
class Link:
    """One DrugReference block."""

    url: str | None
    posted: str | None
    temporary: str | None = "Yes"
    section: str = "FDA"

    def xml(self) -> str:
        temporary = f' TemporaryLink="{self.temporary}"' if self.temporary else ""
        posted = (
            f"\n    <DrugReferencePostedDate>{self.posted}</DrugReferencePostedDate>"
            if self.posted is not None
            else ""
        )
        xref = f' cdr:xref="{self.url}"' if self.url is not None else ""
        return (
            f'  <DrugReference section="{self.section}"{temporary}>\n'
            f"    <DrugReferenceType>FDA</DrugReferenceType>{posted}\n"
            f"    <DrugReferenceLink{xref}>Link text</DrugReferenceLink>\n"
            "  </DrugReference>\n"
        )


def dis_xml(title: str, links: Sequence[Link], comment: str | None = None) -> str:
    """A Drug Information Summary with ``links`` after its summary section."""
    blocks = "".join(link.xml() for link in links)
    note = f'  <Comment audience="Internal" user="mlee">{comment}</Comment>\n' if comment else ""
    return (
        f'<DrugInformationSummary xmlns:cdr="{CDR_NS}">\n'
        "  <DrugInfoMetaData>\n"
        f"    <Description>About {title}.</Description>\n"
        '    <TerminologyLink cdr:ref="CDR0000038891">term</TerminologyLink>\n'
        "  </DrugInfoMetaData>\n"
        f"  <Title>{title}</Title>\n"
        '  <SummarySection cdr:id="_1">\n'
        f'    <Para cdr:id="_2">{title} is a drug.</Para>\n'
        "  </SummarySection>\n"
        f"{blocks}"
        "  <EnteredBy>mlee</EnteredBy>\n"
        f"{note}"
        "</DrugInformationSummary>"
    )


def base_rows(engine: Engine) -> dict[str, int]:
    """Document types, actions, users, the report groups and the DIS index definitions."""
    add_group_members(engine, "Expiring Links Notification", [("pwright", "pw@example.gov", False)])
    add_group_members(engine, "Test Publishing Notification", [("tester", "t@example.gov", False)])
    with engine.begin() as conn:
        ids = add_doc_types(conn, (DIS, "Media", "Licensee"))
        ids |= add_actions(conn, ("ADD DOCUMENT", "MODIFY DOCUMENT"))
        ids |= user_ids(conn, USERS)
        conn.execute(insert(schema.query_term_def), [{"path": path} for path in DIS_PATHS])
    return ids


def add_document(
    engine: Engine,
    ids: dict[str, int],
    doc_id: int,
    cwd: str,
    versions: Sequence[tuple[str, bool]] = (),
    *,
    doc_type: str = DIS,
    val_status: str = "V",
    active_status: str = "A",
) -> None:
    """Store a document: working copy ``cwd`` and versions given as (xml, publishable)."""
    start = datetime(2020, 1, 6, 9, 0)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.all_docs).values(
                id=doc_id,
                doc_type=ids[doc_type],
                title=f"Document {doc_id}",
                xml=cwd,
                val_status=val_status,
                active_status=active_status,
            )
        )
        conn.execute(
            insert(schema.audit_trail).values(
                document=doc_id, dt=start, usr=ids["mlee"], action=ids["ADD DOCUMENT"]
            )
        )
        for num, (xml, publishable) in enumerate(versions, 1):
            when = start + timedelta(days=num)
            add_version_row(
                conn,
                doc_id,
                num,
                when=when,
                user=ids["mlee"],
                doc_type=ids[doc_type],
                title=f"Document {doc_id}",
                xml=xml,
                publishable=publishable,
                comment=f"version {num}",
            )
        index(conn, doc_id, cwd, doc_type)
        published = [xml for xml, publishable in versions if publishable]
        if published:
            index(conn, doc_id, published[-1], doc_type, published=True)


def index(conn: Connection, doc_id: int, xml: str, doc_type: str, published: bool = False) -> None:
    """Index one document as the CDR does on a save."""
    reindex(conn, doc_id, parse_xml(xml), doc_type, published=published)


def check_out(engine: Engine, ids: dict[str, int], doc_id: int, user: str) -> None:
    """Leave the document checked out by ``user``."""
    with engine.begin() as conn:
        conn.execute(
            insert(schema.checkout).values(
                id=doc_id, dt_out=datetime(2024, 5, 1, 8, 0), usr=ids[user], comment="editing"
            )
        )


#: The tables a CDR save writes (a refused or failed save must leave them as they were).
SAVE_TABLES = (
    "all_docs",
    "all_doc_versions",
    "audit_trail",
    "checkout",
    "query_term",
    "query_term_pub",
)


def table_rows(engine: Engine, *tables: str) -> dict[str, list[tuple]]:
    """Every row of each named table, sorted, to compare before and after."""
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(select(schema.metadata.tables[name]))),
                key=repr,
            )
            for name in tables
        }


@contextmanager
def versions_refused_for(engine: Engine, doc_id: int, publishable: str = "Y") -> Iterator[None]:
    """Make PostgreSQL refuse new versions of one document (a real failing save)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION refuse_test_version() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.id = {int(doc_id)} AND NEW.publishable = '{publishable}' THEN "
            "RAISE EXCEPTION 'version refused for the test'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_test_version BEFORE INSERT ON all_doc_versions "
            "FOR EACH ROW EXECUTE FUNCTION refuse_test_version()"
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS refuse_test_version ON all_doc_versions")
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS refuse_test_version()")
