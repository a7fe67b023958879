"""Helpers (no tests): Licensee documents, export jobs and control values for the partner tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.schema import (
    action,
    all_doc_versions,
    all_docs,
    doc_type,
    pub_proc,
    query_term,
    usr,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource, engine_for
from cdr_dagster_tests.cdr_rows import add_schemas

NAMES = (
    "TestActivation",
    "TestInactivation",
    "TestExtension",
    "ProductionActivation",
    "ProductionInactivation",
)
TEXTS = {
    # longer than the NVARCHAR(255) of tables.sql: it must come through whole
    "data-partner-notification": "<p>New PDQ data is on the s/FTP server.</p>"
    + "".join(f"<p>Paragraph {n} of the partner notice, in full.</p>" for n in range(40)),
    "test-notification": "<p>TEST: new PDQ data.</p>",
    "test-partner-warning": "<p>Your test account expires on @@EXPIRING@@.</p>",
    "test-partner-disabled": "<p>Your test account has expired.</p>",
}


def checked_db(engine: Engine) -> CdrDatabaseResource:
    """A CDR database resource on the test database whose statements compile for SQL Server."""
    from cdr_dagster_tests.conftest import compile_for_sql_server

    url = engine.url.render_as_string(hide_password=False)
    pooled = engine_for(url)
    if not event.contains(pooled, "before_execute", compile_for_sql_server):
        event.listen(pooled, "before_execute", compile_for_sql_server)
    return CdrDatabaseResource(url=url)


def licensee_xml(
    name: str,
    status: str,
    kind: str = "Regular",
    dates: dict[str, str] | None = None,
    contacts: list[tuple[str, str, str]] = (),
    username: str | None = None,
    modified: str | None = "2020-01-01",
    with_dates: bool = True,
) -> str:
    """A Licensee document; contacts are (type, person, email) with fragment ids _1, _2..."""
    dates = dates or {}
    date_xml = "".join(f"<{n}>{dates[n]}</{n}>" for n in NAMES if n in dates)
    people = "".join(
        f'<ContactPerson Type="{t}"><ContactName>{escape(person)}</ContactName>'
        f"<ContactRole>Technical</ContactRole>"
        f'<ContactDetail cdr:id="_{n}">{f"<Email>{escape(mail)}</Email>" if mail else ""}'
        f"</ContactDetail></ContactPerson>"
        for n, (t, person, mail) in enumerate(contacts, 1)
    )
    ftp = f"<UserName>{username}</UserName>" if username else ""
    return (
        '<Licensee xmlns:cdr="cips.nci.nih.gov/cdr"><LicenseeInformation>'
        f"<LicenseeNameInformation><OfficialName><Name>{escape(name)}</Name></OfficialName>"
        f"</LicenseeNameInformation><LicenseeType>{kind}</LicenseeType>"
        f"<LicenseeStatus>{status}</LicenseeStatus>"
        + (f"<LicenseeStatusDates>{date_xml}</LicenseeStatusDates>" if with_dates else "")
        + f"</LicenseeInformation><ContactPersons>{people}</ContactPersons>"
        f"<FtpInformation>{ftp}<AccountBlocked>No</AccountBlocked></FtpInformation>"
        + (f"<DateLastModified>{modified}</DateLastModified>" if modified else "")
        + "</Licensee>"
    )


def licensee_type_id(engine: Engine) -> int:
    with engine.begin() as conn:
        found = conn.execute(select(doc_type.c.id).where(doc_type.c.name == "Licensee")).scalar()
        if found is None:
            found = conn.execute(
                insert(doc_type)
                .values(name="Licensee", format=1, created=datetime(2002, 1, 1))
                .returning(doc_type.c.id)
            ).scalar_one()
            add_schemas(conn, ["Licensee"])
    return found


def add_licensee(engine: Engine, doc_id: int, xml: str, index: bool = True) -> None:
    """Store a Licensee document (version 1) and index its status, name, dates and login."""
    from cdr_dagster.cdr.xml import parse_xml
    from cdr_dagster.demo.indexing import index_document

    type_id = licensee_type_id(engine)
    root = parse_xml(xml) if index else None
    title = f"{root.findtext('.//Name')};{root.findtext('.//LicenseeStatus')}" if index else "?"
    paths = [
        "/Licensee/LicenseeInformation/LicenseeNameInformation/OfficialName/Name",
        "/Licensee/LicenseeInformation/LicenseeStatus",
        *(f"/Licensee/LicenseeInformation/LicenseeStatusDates/{n}" for n in NAMES),
        "/Licensee/FtpInformation/UserName",
    ]
    with engine.begin() as conn:
        conn.execute(insert(all_docs).values(id=doc_id, doc_type=type_id, title=title, xml=xml))
        conn.execute(
            insert(all_doc_versions).values(
                id=doc_id,
                num=1,
                dt=datetime(2020, 1, 1),
                updated_dt=datetime(2020, 1, 1),
                usr=1,
                val_status="V",
                publishable="Y",
                doc_type=type_id,
                title=title,
                xml=xml,
            )
        )
        if index:
            for row in index_document(doc_id, root, paths):
                conn.execute(insert(query_term).values(**row))


def add_export(
    engine: Engine, job_id: int, started: datetime, subset: str = "Export", status: str = "Success"
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(pub_proc).values(
                id=job_id,
                pub_system=1,
                pub_subset=subset,
                usr=1,
                output_dir="d:/cdr/Output",
                started=started,
                status=status,
            )
        )


def write_changes(basedir: Path, job_id: int, stamp: str, lines: list[str]) -> Path:
    path = basedir / "Output" / "LicenseeDocs" / f"Job{job_id}" / f"{stamp}.changes"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_texts(engine: Engine, texts: dict[str, str] = TEXTS) -> None:
    with engine.begin() as conn:
        for name, value in texts.items():
            set_control_value(conn, "Publishing", name, value)


def add_save_account(engine: Engine) -> None:
    """The pdqcontent account and the MODIFY DOCUMENT action the Licensee save needs."""
    with engine.begin() as conn:
        conn.execute(insert(usr).values(name="pdqcontent", created=datetime(2010, 1, 1)))
        conn.execute(insert(action).values(name="MODIFY DOCUMENT"))
