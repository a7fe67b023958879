"""Demo data for the DIS temporary-link jobs beyond ``data/documents-dis.xml``.

The seeded Drug Information Summaries (``documents-dis.xml``) already hold temporary links on
both sides of the removal and report cutoffs. This adds one more, CDR0000760005, whose expired
link a live ``remove_expired_links`` run must leave alone because an editor (``mlee``) has the
document checked out: the run lists it as skipped, and ``report_expiring_links`` keeps
listing the link until the editor checks the document in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.dis_links import shift_months
from cdr_dagster.cdr.document_index import reindex
from cdr_dagster.cdr.schema import (
    action,
    all_doc_versions,
    all_docs,
    audit_trail,
    checkout,
    doc_type,
    usr,
)
from cdr_dagster.cdr.xml import parse_xml

CHECKED_OUT_DIS = 760005
EDITOR = "mlee"


def _xml(expired: date, recent: date) -> str:
    return f"""<DrugInformationSummary xmlns:cdr="cips.nci.nih.gov/cdr">
  <DrugInfoMetaData>
    <Description>This page contains brief information about pembrolizumab and a collection of links to more information about the use of this drug, research results, and ongoing clinical trials.</Description>
    <URL cdr:xref="https://www.cancer.gov/about-cancer/treatment/drugs/pembrolizumab">Pembrolizumab</URL>
    <Audience>Patients</Audience>
    <DrugInfoType Combination="No">Brief</DrugInfoType>
    <FDAApproved>Yes</FDAApproved>
    <DrugType>Immune checkpoint inhibitor</DrugType>
  </DrugInfoMetaData>
  <Title>Pembrolizumab</Title>
  <SummarySection cdr:id="_1">
    <Title>Use in Cancer</Title>
    <Para cdr:id="_2">Pembrolizumab is approved to treat many kinds of cancer.</Para>
  </SummarySection>
  <DrugReference section="FDA" TemporaryLink="Yes">
    <DrugReferenceType>FDA</DrugReferenceType>
    <DrugReferencePostedDate>{expired.isoformat()}</DrugReferencePostedDate>
    <DrugReferenceLink cdr:xref="https://www.fda.gov/drugs/resources-information-approved-drugs/demo-pembrolizumab-cervical">FDA approval for cervical cancer (demo link, expired; document checked out)</DrugReferenceLink>
  </DrugReference>
  <DrugReference section="Research_results" TemporaryLink="Yes">
    <DrugReferenceType>NCI</DrugReferenceType>
    <DrugReferencePostedDate>{recent.isoformat()}</DrugReferencePostedDate>
    <DrugReferenceLink cdr:xref="https://www.cancer.gov/news-events/cancer-currents-blog/demo-pembrolizumab-adjuvant">Cancer Currents: pembrolizumab after surgery (demo link, recent)</DrugReferenceLink>
  </DrugReference>
  <EnteredBy>mlee</EnteredBy>
  <EntryDate>{expired.isoformat()}</EntryDate>
</DrugInformationSummary>"""  # noqa: E501 - document text


def add_dis_link_examples(conn: Connection, now: datetime) -> None:
    """Add CDR0000760005: one publishable version, indexed, checked out by ``mlee``."""
    today = now.date()
    xml = _xml(shift_months(today, -40), today - timedelta(days=45))
    type_id = conn.execute(
        select(doc_type.c.id).where(doc_type.c.name == "DrugInformationSummary")
    ).scalar_one()
    editor = conn.execute(select(usr.c.id).where(usr.c.name == EDITOR)).scalar_one()
    added = conn.execute(select(action.c.id).where(action.c.name == "ADD DOCUMENT")).scalar_one()
    created = now.replace(microsecond=0) - timedelta(days=6 * 365)
    title = "Pembrolizumab"
    conn.execute(
        insert(all_docs).values(
            id=CHECKED_OUT_DIS,
            val_status="V",
            val_date=created,
            doc_type=type_id,
            title=title,
            xml=xml,
            first_pub=created + timedelta(days=7),
        )
    )
    conn.execute(
        insert(all_doc_versions).values(
            id=CHECKED_OUT_DIS,
            num=1,
            dt=created + timedelta(days=5),
            updated_dt=created + timedelta(days=5),
            usr=editor,
            val_status="V",
            val_date=created,
            publishable="Y",
            doc_type=type_id,
            title=title,
            xml=xml,
            comment="Demo: first publishable version",
        )
    )
    conn.execute(
        insert(audit_trail).values(
            document=CHECKED_OUT_DIS, dt=created, usr=editor, action=added, program="demo"
        )
    )
    conn.execute(
        insert(checkout).values(
            id=CHECKED_OUT_DIS,
            dt_out=now.replace(microsecond=0) - timedelta(hours=3),
            usr=editor,
            comment="Reviewing the FDA link",
        )
    )
    root = parse_xml(xml)
    reindex(conn, CHECKED_OUT_DIS, root, "DrugInformationSummary")
    reindex(conn, CHECKED_OUT_DIS, root, "DrugInformationSummary", published=True)
