"""``documents.save_document``, the one CDR save, against PostgreSQL: versions, working copy,
path index, audit trail, check-out and check-in, refusals, and all-or-nothing failure."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.document_index import collect_terms, int_val
from cdr_dagster.cdr.documents import (
    CheckedOutError,
    InvalidDocumentError,
    SaveError,
    save_document,
)
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster_tests.test_dis_links_rows import (
    SAVE_TABLES,
    Link,
    add_document,
    base_rows,
    check_out,
    dis_xml,
    table_rows,
    versions_refused_for,
)

NOW = datetime(2024, 5, 15, 10, 30, 12, 345678)
OLD = dis_xml("Alpha", [Link("https://old.example/a", "2020-01-01")])
NEW = dis_xml("Alpha", [Link("https://new.example/b", "2024-05-01", temporary=None)])


@pytest.fixture
def ids(cdr_db: Engine) -> dict[str, int]:
    rows = base_rows(cdr_db)
    add_document(cdr_db, rows, 5001, OLD, [(OLD, True)])
    return rows


def rows_of(engine: Engine, table: str, doc_id: int = 5001) -> list:
    t = schema.metadata.tables[table]
    key = t.c.document if table == "audit_trail" else (t.c.doc_id if "doc_id" in t.c else t.c.id)
    with engine.connect() as conn:
        return conn.execute(select(t).where(key == doc_id)).all()


def index_of(engine: Engine, table: str = "query_term") -> set[tuple[str, str, str, int | None]]:
    return {(r.path, r.node_loc, r.value, r.int_val) for r in rows_of(engine, table)}


def test_a_publishable_save_writes_everything_in_one_go(cdr_db: Engine, ids) -> None:
    with cdr_db.connect() as conn:
        saved = save_document(
            conn,
            "CDR5001",
            NEW,
            user="linksweeper",
            comment="Removing expired temporary links",
            publishable=True,
            program="remove_expired_links",
            now=NOW,
        )
    assert saved.version == 2 and saved.publishable and saved.warnings == ()
    assert saved.when == datetime(2024, 5, 15, 10, 30, 12)
    (doc,) = rows_of(cdr_db, "all_docs")
    assert doc.xml == NEW and doc.comment == "Removing expired temporary links"
    assert doc.title == "Document 5001" and doc.val_status == "V"
    version = {v.num: v for v in rows_of(cdr_db, "all_doc_versions")}[2]
    assert version.xml == NEW and version.publishable == "Y" and version.val_status == "V"
    assert version.comment == "Removing expired temporary links"
    assert version.usr == ids["linksweeper"] and version.updated_dt == saved.when
    audit = [a for a in rows_of(cdr_db, "audit_trail") if a.action == ids["MODIFY DOCUMENT"]]
    assert [(a.dt, a.usr, a.program, a.comment) for a in audit] == [
        (saved.when, ids["linksweeper"], "remove_expired_links", "Removing expired temporary links")
    ]
    (lock,) = rows_of(cdr_db, "checkout")
    assert (lock.usr, lock.dt_out, lock.dt_in, lock.version) == (
        ids["linksweeper"],
        saved.when,
        saved.when,
        2,
    )
    expected = {
        ("/DrugInformationSummary/Title", "0001", "Alpha", None),
        ("/DrugInformationSummary/DrugInfoMetaData/TerminologyLink/@cdr:ref", "00000001",
         "CDR0000038891", 38891),
        ("/DrugInformationSummary/DrugReference/DrugReferencePostedDate", "00030001",
         "2024-05-01", 2024),
        ("/DrugInformationSummary/DrugReference/DrugReferenceLink/@cdr:xref", "00030002",
         "https://new.example/b", None),
    }  # fmt: skip
    assert index_of(cdr_db) == expected
    assert index_of(cdr_db, "query_term_pub") == expected


def test_a_save_validates_against_the_schema_and_sets_the_status(cdr_db: Engine, ids) -> None:
    """The stored copy was unvalidated; the save validates it (schema with an include)."""
    with cdr_db.begin() as conn:
        conn.execute(update(schema.all_docs).values(val_status="U", val_date=None))
    with cdr_db.connect() as conn:
        saved = save_document(conn, 5001, NEW, user="linksweeper", comment="c", now=NOW)
    (doc,) = rows_of(cdr_db, "all_docs")
    version = {v.num: v for v in rows_of(cdr_db, "all_doc_versions")}[saved.version]
    assert (doc.val_status, doc.val_date) == ("V", saved.when), "the status is the validation's"
    assert (version.val_status, version.val_date) == ("V", saved.when)


BAD_DATE = NEW.replace("2024-05-01", "2024-13-01")
NO_TITLE = NEW.replace("<Title>Alpha</Title>", "")


@pytest.mark.parametrize(
    ("xml", "error"),
    [
        (BAD_DATE, "'2024-13-01' is not a valid value of the atomic type 'xs:date'"),
        (NO_TITLE, "Element 'SummarySection': This element is not expected. Expected is ( Title )"),
    ],
    ids=["bad-date", "missing-title"],
)
def test_a_document_that_does_not_validate_is_refused_naming_it_and_the_first_error(
    cdr_db: Engine, ids, xml: str, error: str
) -> None:
    before = table_rows(cdr_db, *SAVE_TABLES)
    with cdr_db.connect() as conn, pytest.raises(InvalidDocumentError) as caught:
        save_document(conn, 5001, xml, user="linksweeper", comment="c", publishable=True)
    message = str(caught.value)
    assert message.startswith(
        "cannot save CDR0000005001: it does not validate against the DrugInformationSummary "
        "schema: line "
    ), message
    assert error in message, message
    assert table_rows(cdr_db, *SAVE_TABLES) == before, "a refused save must change nothing"


def test_a_type_without_a_schema_is_refused_naming_it(cdr_db: Engine, ids) -> None:
    with cdr_db.begin() as conn:
        conn.execute(update(schema.doc_type).values(xml_schema=None))
    with cdr_db.connect() as conn, pytest.raises(SaveError) as caught:
        save_document(conn, 5001, NEW, user="linksweeper", comment="c")
    assert str(caught.value) == (
        "cannot save CDR0000005001: document type 'DrugInformationSummary' has no schema "
        "(doc_type.xml_schema)"
    )


def test_a_missing_included_schema_is_refused_naming_it(cdr_db: Engine, ids) -> None:
    with cdr_db.begin() as conn:
        conn.execute(
            update(schema.all_docs)
            .where(schema.all_docs.c.title == "CdrCommonSchema.xml")
            .values(title="Renamed.xml")
        )
    with cdr_db.connect() as conn, pytest.raises(SaveError, match="CdrCommonSchema.xml"):
        save_document(conn, 5001, NEW, user="linksweeper", comment="c")


def test_a_working_copy_save_makes_no_version_and_can_purge_blobs(cdr_db: Engine, ids) -> None:
    with cdr_db.begin() as conn:
        blob = conn.execute(
            insert(schema.doc_blob).values(data=b"audio").returning(schema.doc_blob.c.id)
        ).scalar_one()
        conn.execute(insert(schema.doc_blob_usage).values(doc_id=5001, blob_id=blob))
        conn.execute(
            insert(schema.version_blob_usage).values(doc_id=5001, doc_version=1, blob_id=blob)
        )
    with cdr_db.connect() as conn:
        saved = save_document(
            conn, 5001, NEW, user="FileSweeper", comment="purge", version=False, delete_blobs=True
        )
    assert saved.version is None and saved.blobs_deleted == 1
    assert [v.num for v in rows_of(cdr_db, "all_doc_versions")] == [1]
    assert rows_of(cdr_db, "all_docs")[0].xml == NEW
    assert rows_of(cdr_db, "doc_blob_usage") == [] and rows_of(cdr_db, "version_blob_usage") == []
    with cdr_db.connect() as conn:
        assert conn.execute(select(schema.doc_blob)).all() == []


def test_a_new_version_carries_the_documents_blob(cdr_db: Engine, ids) -> None:
    with cdr_db.begin() as conn:
        blob = conn.execute(
            insert(schema.doc_blob).values(data=b"image").returning(schema.doc_blob.c.id)
        ).scalar_one()
        conn.execute(insert(schema.doc_blob_usage).values(doc_id=5001, blob_id=blob))
    with cdr_db.connect() as conn:
        save_document(conn, 5001, NEW, user="linksweeper", comment="c")
    assert [(r.doc_version, r.blob_id) for r in rows_of(cdr_db, "version_blob_usage")] == [
        (2, blob)
    ]


def test_a_document_checked_out_by_someone_else_is_refused_and_left_alone(
    cdr_db: Engine, ids
) -> None:
    check_out(cdr_db, ids, 5001, "mlee")
    before = table_rows(cdr_db, *SAVE_TABLES)
    with cdr_db.connect() as conn, pytest.raises(CheckedOutError) as caught:
        save_document(conn, 5001, NEW, user="linksweeper", comment="c")
    assert str(caught.value) == "CDR0000005001 is checked out by mlee; linksweeper cannot save it"
    assert caught.value.holder == "mlee"
    assert table_rows(cdr_db, *SAVE_TABLES) == before


def test_force_closes_the_other_users_check_out(cdr_db: Engine, ids) -> None:
    check_out(cdr_db, ids, 5001, "mlee")
    with cdr_db.connect() as conn:
        saved = save_document(conn, 5001, NEW, user="linksweeper", comment="c", force=True)
    locks = {r.usr: r for r in rows_of(cdr_db, "checkout")}
    assert locks[ids["mlee"]].dt_in == saved.when
    assert locks[ids["linksweeper"]].dt_in == saved.when


def test_the_savers_own_check_out_is_used_and_released(cdr_db: Engine, ids) -> None:
    check_out(cdr_db, ids, 5001, "linksweeper")
    with cdr_db.connect() as conn:
        saved = save_document(conn, 5001, NEW, user="linksweeper", comment="c")
    (lock,) = rows_of(cdr_db, "checkout")
    assert lock.dt_out == datetime(2024, 5, 1, 8, 0) and lock.dt_in == saved.when


def test_a_failing_save_rolls_everything_back(cdr_db: Engine, ids) -> None:
    before = table_rows(cdr_db, *SAVE_TABLES)
    with versions_refused_for(cdr_db, 5001):
        with cdr_db.connect() as conn, pytest.raises(Exception, match="version refused"):
            save_document(conn, 5001, NEW, user="linksweeper", comment="c", publishable=True)
    assert table_rows(cdr_db, *SAVE_TABLES) == before


def test_saves_in_one_caller_transaction_stand_or_fall_together(cdr_db: Engine, ids) -> None:
    before = table_rows(cdr_db, *SAVE_TABLES)
    with versions_refused_for(cdr_db, 5001):
        with pytest.raises(Exception, match="version refused"), cdr_db.begin() as conn:
            first = save_document(conn, 5001, NEW, user="linksweeper", comment="c", version=False)
            assert first.version is None
            save_document(conn, 5001, OLD, user="linksweeper", comment="c", publishable=True)
    assert table_rows(cdr_db, *SAVE_TABLES) == before
    with cdr_db.begin() as conn:
        one = save_document(conn, 5001, NEW, user="linksweeper", comment="c", now=NOW)
        two = save_document(conn, 5001, OLD, user="linksweeper", comment="c", now=NOW)
    assert (one.version, two.version) == (2, 3)
    assert two.when == datetime(2024, 5, 15, 10, 30, 13)  # the audit key moved on a second
    assert [r.dt_in is not None for r in rows_of(cdr_db, "checkout")] == [True, True]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("deleted", "cannot save CDR0000005001: the document is deleted"),
        ("expired", "cannot save CDR0000005001: CDR account 'linksweeper' not found (or expired)"),
        ("missing", "cannot save CDR0000009999: no such document"),
        ("malformed", "cannot save CDR0000005001 is not well-formed XML"),
    ],
)
def test_bad_saves_are_refused_naming_the_document(
    cdr_db: Engine, ids, change: str, message: str
) -> None:
    doc_id, xml = 5001, NEW
    with cdr_db.begin() as conn:
        if change == "deleted":
            conn.execute(update(schema.all_docs).values(active_status="D"))
        if change == "expired":
            conn.execute(
                update(schema.usr)
                .where(schema.usr.c.name == "linksweeper")
                .values(expired=datetime(2024, 1, 1))
            )
    doc_id = 9999 if change == "missing" else doc_id
    xml = "<DrugInformationSummary>" if change == "malformed" else xml
    before = table_rows(cdr_db, *SAVE_TABLES)
    with cdr_db.connect() as conn, pytest.raises(SaveError) as caught:
        save_document(conn, doc_id, xml, user="linksweeper", comment="c")
    assert str(caught.value).startswith(message)
    assert table_rows(cdr_db, *SAVE_TABLES) == before


def test_the_index_follows_the_cdr_rules() -> None:
    root = parse_xml(
        '<Doc xmlns:cdr="cips.nci.nih.gov/cdr"><A x="1"><B cdr:ref="CDR0000000042">t<!--c-->'
        "<?pi x?>ext <I>in</I></B><B/></A><C>  spaced  </C></Doc>"
    )
    terms = collect_terms(root, ["/Doc/A/B", "//@cdr:ref", "/Doc/C", "/Doc/A/@x"])
    assert terms == {
        ("/Doc/A/@x", "0000", "1"),
        ("/Doc/A/B", "00000000", "text in"),
        ("/Doc/A/B/@cdr:ref", "00000000", "CDR0000000042"),
        ("/Doc/A/B", "00000001", ""),
        ("/Doc/C", "0001", "  spaced  "),
    }
    assert int_val("CDR0000000042") == 42 and int_val("none") is None
    assert int_val("99999999999") == 0
