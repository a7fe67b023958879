"""Helpers (no tests): CDR documents, versions, search index and publishing rows for the
GovDelivery and PCIB statistics report tests, and the output metadata of their report jobs.

Documents are written as the CDR keeps them: ``all_docs`` with the current XML, one
``all_doc_versions`` row per version, ``query_term`` rows of the current XML and
``query_term_pub`` rows of the latest publishable version (every path the XML holds is
indexed, the way the demo's indexer does it), ``pub_proc_cg`` when the document is on
Cancer.gov, and ``pub_proc_doc`` rows for the versions push jobs sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
from lxml import etree
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from cdr_dagster.cdr.schema import (
    all_doc_versions,
    all_docs,
    doc_type,
    pub_proc,
    pub_proc_cg,
    pub_proc_doc,
    query_term,
    query_term_pub,
)
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.demo.indexing import CDR_NAMESPACE, index_document

NS = f'xmlns:cdr="{CDR_NAMESPACE}"'
PUSH = "Push_Documents_To_Cancer.Gov_Export"


@dataclass(frozen=True)
class Version:
    """One version: when it was saved, whether it is publishable, and its XML (None: current)."""

    dt: datetime
    publishable: bool = True
    xml: str | None = None


def _paths(root: etree._Element) -> Iterator[str]:
    """Every element and attribute path of a document, as the CDR index spells them."""
    stack = [(root, f"/{etree.QName(root).localname}")]
    while stack:
        element, path = stack.pop()
        yield path
        for name in element.attrib:
            qname = etree.QName(name)
            prefix = "cdr:" if qname.namespace == CDR_NAMESPACE else ""
            yield f"{path}/@{prefix}{qname.localname}"
        stack.extend(
            (child, f"{path}/{etree.QName(child).localname}")
            for child in element
            if isinstance(child.tag, str)
        )


def index_rows(doc_id: int, xml: str) -> list[dict]:
    """The index rows of one document's XML, every path included."""
    root = parse_xml(xml)
    return index_document(doc_id, root, set(_paths(root)))


def _type_id(conn: Connection, name: str) -> int:
    found = conn.execute(select(doc_type.c.id).where(doc_type.c.name == name)).scalar()
    if found is not None:
        return found
    return conn.execute(
        insert(doc_type)
        .values(name=name, format=1, created=datetime(2002, 1, 1))
        .returning(doc_type.c.id)
    ).scalar_one()


def output_metadata(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata of the job's one step output."""
    (event,) = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    return event.event_specific_data.metadata


def add_pub_job(
    engine: Engine, job_id: int, subset: str, started: datetime, status: str = "Success"
) -> None:
    """One ``pub_proc`` row of the Primary publishing system."""
    with engine.begin() as conn:
        conn.execute(
            insert(pub_proc).values(
                id=job_id,
                pub_system=178,
                pub_subset=subset,
                usr=1,
                output_dir="",
                started=started,
                completed=started,
                status=status,
            )
        )


def add_document(
    engine: Engine,
    doc_id: int,
    type_name: str,
    xml: str,
    *,
    title: str | None = None,
    first_pub: datetime | None = None,
    versions: Sequence[Version] = (),
    cancer_gov: int | None = None,
    pushed: Sequence[tuple[int, int]] = (),
    status: str = "A",
) -> None:
    """A document with its versions, index rows and publishing rows.

    ``versions`` default to one publishable version saved a day before ``first_pub`` (or in
    2010). ``cancer_gov`` is the push job id recorded in ``pub_proc_cg`` (None: not on
    Cancer.gov); ``pushed`` lists (push job id, version) rows of ``pub_proc_doc``.
    """
    if not versions:
        saved = first_pub.replace(hour=0, minute=0, second=0) if first_pub else None
        versions = [Version(saved or datetime(2010, 1, 4))]
    with engine.begin() as conn:
        type_id = _type_id(conn, type_name)
        doc_title = title or f"{type_name} {doc_id}"
        conn.execute(
            insert(all_docs).values(
                id=doc_id,
                val_status="V",
                doc_type=type_id,
                title=doc_title,
                xml=xml,
                active_status=status,
                first_pub=first_pub,
            )
        )
        conn.execute(
            insert(all_doc_versions),
            [
                {
                    "id": doc_id,
                    "num": num,
                    "dt": version.dt,
                    "updated_dt": version.dt,
                    "usr": 1,
                    "val_status": "V",
                    "publishable": "Y" if version.publishable else "N",
                    "doc_type": type_id,
                    "title": doc_title,
                    "xml": version.xml or xml,
                }
                for num, version in enumerate(versions, 1)
            ],
        )
        current = index_rows(doc_id, xml)
        if current:
            conn.execute(insert(query_term), current)
        publishable = [v for v in versions if v.publishable]
        if publishable:
            published = index_rows(doc_id, publishable[-1].xml or xml)
            if published:
                conn.execute(insert(query_term_pub), published)
        if cancer_gov is not None:
            conn.execute(insert(pub_proc_cg).values(id=doc_id, pub_proc=cancer_gov, xml=xml))
        for job_id, num in pushed:
            conn.execute(
                insert(pub_proc_doc).values(pub_proc=job_id, doc_id=doc_id, doc_version=num)
            )


def board_xml(name: str) -> str:
    """An Organization document for a PDQ board."""
    return (
        "<Organization><OrganizationNameInformation><OfficialName>"
        f"<Name>{name}</Name></OfficialName></OrganizationNameInformation></Organization>"
    )


def summary_xml(
    title: str,
    *,
    audience: str = "Health professionals",
    language: str = "English",
    url: str | None = None,
    board: int | None = None,
    translation_of: int | None = None,
    changes: str | None = None,
    modified: str | None = None,
) -> str:
    """A Summary; ``changes`` is the inner XML of a "Changes to summary" section (cdr:id _9)."""
    link = url or f"https://www.cancer.gov/types/{title.lower().replace(' ', '-')}"
    parts = [
        f"<Summary {NS}><SummaryMetaData>",
        f"<SummaryAudience>{audience}</SummaryAudience>",
        f"<SummaryLanguage>{language}</SummaryLanguage>",
        f'<SummaryURL cdr:xref="{link}">{title}</SummaryURL>',
    ]
    if board:
        parts.append(f'<PDQBoard><Board cdr:ref="CDR{board:010d}">Board</Board></PDQBoard>')
    parts.append(f"</SummaryMetaData><SummaryTitle>{title}</SummaryTitle>")
    if translation_of:
        parts.append(f'<TranslationOf cdr:ref="CDR{translation_of:010d}">Original</TranslationOf>')
    parts.append(
        '<SummarySection cdr:id="_1"><SectMetaData><SectionType>Introductory Text'
        "</SectionType></SectMetaData><Para>About it.</Para></SummarySection>"
    )
    if changes is not None:
        parts.append(
            '<SummarySection cdr:id="_9"><SectMetaData><SectionType>Changes to summary'
            f"</SectionType></SectMetaData><Title>Latest Updates</Title>{changes}"
            "</SummarySection>"
        )
    if modified:
        parts.append(f"<DateLastModified>{modified}</DateLastModified>")
    parts.append("</Summary>")
    return "".join(parts)


def dis_xml(title: str, modified: str | None = None) -> str:
    """A Drug Information Summary."""
    slug = title.lower().replace(" ", "-")
    return (
        f"<DrugInformationSummary {NS}><Title>{title}</Title><DrugInfoMetaData>"
        f'<URL cdr:xref="https://www.cancer.gov/drugs/{slug}">{title}</URL></DrugInfoMetaData>'
        + (f"<DateLastModified>{modified}</DateLastModified>" if modified else "")
        + "</DrugInformationSummary>"
    )


def load_demo(engine: Engine, folder: Path, now: datetime) -> None:
    """The demo's CDR content, with the extra report documents, seeded at ``now``."""
    from cdr_dagster.demo import seed
    from cdr_dagster.demo.database import load_database
    from cdr_dagster.demo.datafiles import DataFiles
    from cdr_dagster.demo.documents import load_documents
    from cdr_dagster.demo.publishing import plan_publishing
    from cdr_dagster.demo.reports_data import report_documents

    files = DataFiles(now=now, folders={name: str(folder / name) for name in seed.FOLDERS})
    documents = sorted(load_documents(files) + report_documents(files), key=lambda d: d.id)
    plan = plan_publishing(files.json("publishing.json")["jobs"], documents)
    with engine.begin() as conn:
        load_database(conn, files, documents, plan)
