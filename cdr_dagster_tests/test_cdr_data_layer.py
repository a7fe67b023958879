"""The CDR data layer on PostgreSQL with real rows, and every statement it builds on SQL Server."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import create_engine, insert, inspect, select
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Connection, Engine

from cdr_dagster.cdr import control, documents, groups, query_terms
from cdr_dagster.cdr.admin import init_db
from cdr_dagster.cdr.schema import (
    all_docs,
    ctl,
    doc_type,
    grp,
    grp_usr,
    query_term,
    query_term_pub,
    usr,
)
from cdr_dagster.cdr.xml import XmlError, get_text, parse_xml
from cdr_dagster.cli import main as cli_main
from cdr_dagster_tests.cdr_rows import add_version_row

T0 = datetime(2024, 5, 1, 12, 0, 0)

# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


def add_user(conn: Connection, user_id: int, email: str | None, expired: bool = False) -> None:
    conn.execute(
        insert(usr).values(
            id=user_id,
            name=f"user{user_id}",
            fullname=f"User {user_id}",
            email=email,
            created=T0,
            expired=T0 if expired else None,
        )
    )


def seed_groups(conn: Connection) -> None:
    conn.execute(insert(grp).values(id=1, name="Developers Notification"))
    conn.execute(insert(grp).values(id=2, name="VOL Notification"))
    add_user(conn, 10, "dev1@example.gov")
    add_user(conn, 11, "retired@example.gov", expired=True)
    add_user(conn, 12, "")
    add_user(conn, 13, None)
    add_user(conn, 14, "dev2@example.gov")
    add_user(conn, 15, "vol@example.gov")
    for user_id in (14, 10, 11, 12, 13):
        conn.execute(insert(grp_usr).values(grp=1, usr=user_id))
    conn.execute(insert(grp_usr).values(grp=2, usr=15))


def add_doc(conn: Connection, doc_id: int, type_id: int, xml: str, status: str = "A") -> None:
    conn.execute(
        insert(all_docs).values(
            id=doc_id, doc_type=type_id, title=f"Title {doc_id}", xml=xml, active_status=status
        )
    )


def add_version(conn: Connection, doc_id: int, num: int, type_id: int, publishable: str) -> None:
    add_version_row(
        conn,
        doc_id,
        num,
        when=datetime(2024, 1, num),
        user=10,
        doc_type=type_id,
        title=f"Title {doc_id} v{num}",
        xml=f"<Summary version='{num}'/>",
        publishable=publishable == "Y",
    )


def seed_documents(conn: Connection) -> None:
    for type_id, name in ((1, "Summary"), (2, "Media")):
        conn.execute(insert(doc_type).values(id=type_id, name=name, format=1, created=T0))
    add_doc(conn, 100, 1, "<Summary>current 100</Summary>")
    add_doc(conn, 101, 1, "<Summary>deleted 101</Summary>", status="D")
    add_doc(conn, 102, 1, "<Summary>inactive 102</Summary>", status="I")
    add_doc(conn, 103, 2, "<Media/>")
    add_doc(conn, 104, 1, "<Summary>never published</Summary>")
    for num, publishable in ((1, "Y"), (2, "Y"), (3, "N")):
        add_version(conn, 100, num, 1, publishable)
    add_version(conn, 101, 1, 1, "Y")
    add_version(conn, 102, 4, 1, "Y")
    add_version(conn, 104, 1, 1, "N")


def seed_query_terms(conn: Connection) -> None:
    status = "/Licensee/LicenseeInformation/LicenseeStatus"
    rows = [
        (200, status, "Production", None, "0000"),
        (201, status, "production", None, "0000"),
        (202, status, "Test", None, "0000"),
        (203, "/GlossaryTermName/GlossaryTermConcept/@cdr:ref", "CDR0000000300", 300, "0001"),
        (204, "/GlossaryTermName/GlossaryTermConcept/@cdr:ref", "CDR0000000300", 300, "0001"),
        (200, "/Licensee/FtpInformation/UserName", "second", None, "0002"),
        (200, "/Licensee/FtpInformation/UserName", "first", None, "0001"),
    ]
    keys = ("doc_id", "path", "value", "int_val", "node_loc")
    conn.execute(insert(query_term), [dict(zip(keys, row, strict=True)) for row in rows])
    conn.execute(
        insert(query_term_pub),
        [dict(zip(keys, (200, status, "Test", None, "0000"), strict=True))],
    )


@pytest.fixture
def conn(cdr_db: Engine):
    """A connection on the emptied PostgreSQL CDR database, rolled back afterwards."""
    with cdr_db.connect() as connection:
        yield connection
        connection.rollback()


# ---------------------------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------------------------


def test_group_addresses_exclude_expired_users_and_empty_emails(conn):
    seed_groups(conn)
    assert groups.group_email_addresses(conn, "Developers Notification") == [
        "dev1@example.gov",
        "dev2@example.gov",
    ]
    assert groups.group_email_addresses(conn) == ["dev1@example.gov", "dev2@example.gov"]
    assert groups.group_email_addresses(conn, "VOL Notification") == ["vol@example.gov"]
    assert groups.group_email_addresses(conn, "No Such Group") == []


def test_group_names_compare_case_insensitively(conn):
    seed_groups(conn)
    assert groups.group_email_addresses(conn, "developers notification") == [
        "dev1@example.gov",
        "dev2@example.gov",
    ]


def test_legacy_group_list_includes_expired_users(conn):
    seed_groups(conn)
    assert groups.group_email_addresses_including_expired(conn, "Developers Notification") == [
        "dev1@example.gov",
        "retired@example.gov",
        "dev2@example.gov",
    ]


# ---------------------------------------------------------------------------------------------
# Control values
# ---------------------------------------------------------------------------------------------


def test_control_value_ignores_inactivated_rows(conn):
    conn.execute(
        insert(ctl),
        [
            dict(grp="Publishing", name="batchsize", val="10", created=T0, inactivated=T0),
            dict(grp="Publishing", name="batchsize", val="25", created=T0, inactivated=None),
            dict(grp="Publishing", name="numprocs", val="4", created=T0, inactivated=T0),
        ],
    )
    assert control.control_value(conn, "Publishing", "batchsize") == "25"
    assert control.control_value(conn, "publishing", "BatchSize") == "25"
    assert control.control_value(conn, "Publishing", "numprocs") is None
    assert control.control_value(conn, "Publishing", "numprocs", "8") == "8"
    assert control.control_group(conn, "Publishing") == {"batchsize": "25"}


def test_set_control_value_inactivates_the_old_value(conn):
    control.set_control_value(conn, "glossary-servers", "Primary", "https://a.example.gov")
    control.set_control_value(conn, "glossary-servers", "Primary", "https://b.example.gov")
    control.set_control_value(conn, "glossary-servers", "Secondary", "https://c.example.gov")
    assert control.control_group(conn, "glossary-servers") == {
        "Primary": "https://b.example.gov",
        "Secondary": "https://c.example.gov",
    }
    rows = conn.execute(select(ctl.c.val, ctl.c.inactivated).order_by(ctl.c.id)).all()
    assert rows[0].val == "https://a.example.gov" and rows[0].inactivated is not None
    assert rows[1].inactivated is None


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "number"),
    [(12345, 12345), ("12345", 12345), ("CDR12345", 12345), ("CDR0000012345", 12345),
     ("cdr0000012345", 12345), (" CDR0000000001 ", 1), (9_999_999_999, 9_999_999_999)],
)  # fmt: skip
def test_cdr_ids_normalize(value, number):
    assert documents.normalize_cdr_id(value) == number
    assert documents.format_cdr_id(value) == f"CDR{number:010d}"


@pytest.mark.parametrize(
    "value", ["", "CDR", "CDRabc", "12345#F1", "CDR-5", "0", 0, -3, 10**10, True, None, 1.5]
)
def test_bad_cdr_ids_are_named(value):
    with pytest.raises(ValueError, match="not a CDR id") as info:
        documents.normalize_cdr_id(value)
    assert repr(value) in str(info.value)


def test_current_document_comes_from_the_document_view(conn):
    seed_documents(conn)
    doc = documents.current_document(conn, "CDR0000000100")
    assert doc is not None
    assert (doc.id, doc.doc_type, doc.title, doc.active_status) == (
        100,
        "Summary",
        "Title 100",
        "A",
    )
    assert doc.cdr_id == "CDR0000000100"
    assert doc.root().text == "current 100"
    assert documents.current_document(conn, 101) is None  # deleted
    assert documents.current_document(conn, 102).active_status == "I"  # inactive, still there
    assert documents.current_document(conn, 999) is None


def test_documents_of_type_hide_deleted_documents(conn):
    seed_documents(conn)
    assert [d.id for d in documents.documents_of_type(conn, "Summary")] == [100, 102, 104]
    assert [d.id for d in documents.documents_of_type(conn, "media")] == [103]
    assert documents.documents_of_type(conn, "Nothing") == []


def test_latest_publishable_version(conn):
    seed_documents(conn)
    version = documents.latest_publishable_version(conn, 100)
    assert (version.id, version.num, version.publishable) == (100, 2, True)
    assert version.root().get("version") == "2"
    assert version.doc_type == "Summary"
    assert documents.latest_publishable_version(conn, 104) is None
    # doc_version covers deleted documents too
    assert documents.latest_publishable_version(conn, 101).num == 1


def test_document_version(conn):
    seed_documents(conn)
    version = documents.document_version(conn, "CDR100", 3)
    assert (version.num, version.publishable, version.title) == (3, False, "Title 100 v3")
    assert documents.document_version(conn, 100, 9) is None


def test_latest_publishable_versions_of_type(conn):
    seed_documents(conn)
    found = documents.latest_publishable_versions_of_type(conn, "Summary")
    assert [(v.id, v.num) for v in found] == [(100, 2), (102, 4)]


# ---------------------------------------------------------------------------------------------
# query_term
# ---------------------------------------------------------------------------------------------

STATUS = "/Licensee/LicenseeInformation/LicenseeStatus"


def test_query_term_values_compare_case_insensitively(conn):
    seed_query_terms(conn)
    assert query_terms.doc_ids_with_value(conn, STATUS, "Production") == [200, 201]
    assert query_terms.doc_ids_with_value(conn, STATUS, "PRODUCTION") == [200, 201]
    assert query_terms.doc_ids_with_value(conn, STATUS.upper(), "test") == [202]
    assert query_terms.doc_ids_with_value(conn, STATUS, "Test", published=True) == [200]


def test_query_term_values_for_paths_and_documents(conn):
    seed_query_terms(conn)
    user_name = "/Licensee/FtpInformation/UserName"
    assert query_terms.values_for_doc(conn, 200, user_name) == ["first", "second"]
    assert query_terms.values_for_doc(conn, 201, user_name) == []
    assert query_terms.values_for_path(conn, STATUS) == {
        200: ["Production"],
        201: ["production"],
        202: ["Test"],
    }
    terms = query_terms.terms_for_path(conn, STATUS, doc_id=202)
    assert [(t.doc_id, t.value, t.int_val, t.node_loc) for t in terms] == [
        (202, "Test", None, "0000")
    ]
    concept = "/GlossaryTermName/GlossaryTermConcept/@cdr:ref"
    assert query_terms.doc_ids_linking_to(conn, concept, 300) == [203, 204]
    assert query_terms.doc_ids_linking_to(conn, concept, 300, published=True) == []


# ---------------------------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------------------------


def test_parse_xml_takes_bytes_and_text_with_a_declaration():
    assert parse_xml(b"<?xml version='1.0' encoding='UTF-8'?><a>\xc3\xa9</a>").text == "\u00e9"
    assert parse_xml("<?xml version='1.0' encoding='ISO-8859-1'?><a>\u00e9</a>").text == "\u00e9"


def test_parse_xml_names_the_bad_document():
    with pytest.raises(XmlError, match="CDR0000012345 is not well-formed XML"):
        parse_xml("<Summary><unclosed></Summary>", name="CDR0000012345")
    with pytest.raises(ValueError):  # XmlError is a ValueError
        parse_xml(b"")


def test_parse_xml_resolves_no_external_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    doc = f"""<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>"""
    root = parse_xml(doc)
    assert "TOP SECRET" not in "".join(root.itertext())


def test_parse_xml_does_not_expand_entity_bombs():
    bomb = (
        '<!DOCTYPE a [<!ENTITY b "bbbbbbbbbb">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><a>&d;</a>'
    )
    assert "bbbb" not in "".join(parse_xml(bomb).itertext())


def test_get_text_follows_the_cdr_rule():
    root = parse_xml("<a><b>x<!-- note -->y<i>z</i><?pi ignored?></b><empty/></a>")
    assert get_text(root, "b") == "xyz"
    assert get_text(root, "empty") == ""
    assert get_text(root, "empty", default="d") == ""
    assert get_text(root, "missing") is None
    assert get_text(root, "missing", default="d") == "d"
    assert get_text(None, default="d") == "d"
    assert get_text(root.find("b")) == "xyz"
    ns = parse_xml('<a xmlns:cdr="cips.nci.nih.gov/cdr"><cdr:b>v</cdr:b></a>')
    assert get_text(ns, "cdr:b", namespaces={"cdr": "cips.nci.nih.gov/cdr"}) == "v"


# ---------------------------------------------------------------------------------------------
# init-db
# ---------------------------------------------------------------------------------------------


def test_init_db_command_on_sqlite(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'new' / 'cdr.db'}"
    assert cli_main(["init-db", "--url", url]) == 0
    assert "CDR schema created" in capsys.readouterr().out
    engine = create_engine(url)
    assert "document" in inspect(engine).get_view_names()
    assert "all_docs" in inspect(engine).get_table_names()
    engine.dispose()
    assert cli_main(["init-db", "--url", url]) == 0  # idempotent


def test_init_db_refuses_sql_server(capsys):
    url = "mssql+pyodbc://cdr:s3cret@cdr-db.example.gov:1433/cdr?driver=ODBC+Driver+18"
    assert cli_main(["init-db", "--url", url]) == 2
    error = capsys.readouterr().err
    assert "managed by the CDR itself" in error
    assert "s3cret" not in error
    assert "cdr-db.example.gov" in error
    with pytest.raises(ValueError):
        init_db("mssql://sa@host/cdr")


# ---------------------------------------------------------------------------------------------
# Every statement the data layer builds has a SQL Server form
# ---------------------------------------------------------------------------------------------


class RecordingConnection:
    """A connection that remembers every statement sent through it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.statements: list = []

    def execute(self, statement, *args, **kwargs):
        self.statements.append(statement)
        return self._conn.execute(statement, *args, **kwargs)


def test_every_data_layer_statement_compiles_for_sql_server(conn):
    seed_groups(conn)
    seed_documents(conn)
    seed_query_terms(conn)
    rec = RecordingConnection(conn)
    groups.group_email_addresses(rec, "Developers Notification")
    groups.group_email_addresses_including_expired(rec, "Developers Notification")
    control.set_control_value(rec, "Publishing", "batchsize", "10")
    control.control_value(rec, "Publishing", "batchsize")
    control.control_group(rec, "Publishing")
    documents.current_document(rec, 100)
    documents.documents_of_type(rec, "Summary")
    documents.document_version(rec, 100, 1)
    documents.latest_publishable_version(rec, 100)
    documents.latest_publishable_versions_of_type(rec, "Summary")
    query_terms.terms_for_path(rec, STATUS, doc_id=200, published=True)
    query_terms.values_for_path(rec, STATUS)
    query_terms.values_for_doc(rec, 200, STATUS)
    query_terms.doc_ids_with_value(rec, STATUS, "Test")
    query_terms.doc_ids_linking_to(rec, STATUS, 300)
    assert len(rec.statements) == 16

    compiled = [str(s.compile(dialect=mssql.dialect())) for s in rec.statements]
    for sql in compiled:
        # SQL Server's collation folds case itself; lower() would hide the indexes.
        assert "lower(" not in sql.lower(), sql
    latest = compiled[9]
    assert "TOP __[POSTCOMPILE_param_1]" in latest or "TOP 1" in latest
    # ...while PostgreSQL and SQLite fold case explicitly.
    pg_sql = str(rec.statements[-2].compile(dialect=conn.dialect))
    assert pg_sql.count("lower(") == 4
