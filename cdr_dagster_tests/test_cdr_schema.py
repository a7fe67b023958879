"""The CDR schema: real table names, DDL that compiles for SQL Server, views on PostgreSQL and
SQLite, and the guards that keep the schema off SQL Server."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, create_mock_engine, insert, inspect, select
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateIndex, CreateTable

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.schema import (
    all_doc_versions,
    all_docs,
    base_tables,
    create_schema,
    ctl,
    drop_schema,
    metadata,
    views,
)

#: Every table the jobs use, with the names of tables.sql.
SPEC_TABLES = {
    "action", "all_doc_versions", "all_docs", "audit_trail", "batch_job", "batch_job_parm",
    "checkout", "ctgov_trial", "ctgov_trial_other_id", "ctgov_trial_sponsor", "ctl",
    "data_partner_notification", "doc_blob", "doc_blob_usage", "doc_type", "export_spec",
    "external_map", "external_map_usage", "glossary_translation_job",
    "glossary_translation_state", "glossifier", "grp", "grp_usr", "media_manifest",
    "media_translation_job", "media_translation_state", "pub_proc", "pub_proc_cg",
    "pub_proc_cg_work", "pub_proc_doc", "pub_proc_parm", "query_term", "query_term_def",
    "query_term_pub", "scheduled_job", "summary_change_type", "summary_translation_job",
    "summary_translation_state", "usr", "version_blob_usage",
}  # fmt: skip
SPEC_VIEWS = {"active_doc", "doc_version", "document"}


def test_metadata_holds_the_spec_tables_and_views():
    assert {t.name for t in base_tables()} == SPEC_TABLES
    assert {t.name for t in views()} == SPEC_VIEWS
    assert set(metadata.tables) == SPEC_TABLES | SPEC_VIEWS


def test_views_have_the_columns_of_their_base_tables():
    assert [c.name for c in schema.document.c] == [c.name for c in all_docs.c]
    assert [c.name for c in schema.active_doc.c] == [c.name for c in all_docs.c]
    assert [c.name for c in schema.doc_version.c] == [c.name for c in all_doc_versions.c]


@pytest.mark.parametrize("table", metadata.sorted_tables, ids=lambda t: t.name)
def test_every_table_compiles_for_sql_server(table):
    ddl = str(CreateTable(table).compile(dialect=mssql.dialect()))
    assert f"CREATE TABLE {table.name}" in ddl or f"CREATE TABLE [{table.name}]" in ddl
    for index in table.indexes:
        str(CreateIndex(index).compile(dialect=mssql.dialect()))


def test_sql_server_ddl_uses_the_cdr_types():
    def ddl(table):
        return str(CreateTable(table).compile(dialect=mssql.dialect()))

    assert "id INTEGER NOT NULL IDENTITY" in ddl(schema.pub_proc)
    assert "[external] VARCHAR(1) NULL DEFAULT 'N'" in ddl(schema.pub_proc)
    assert "id UNIQUEIDENTIFIER NOT NULL" in ddl(schema.scheduled_job)
    assert "enabled BIT NOT NULL" in ddl(schema.scheduled_job)
    assert "xml NTEXT NOT NULL" in ddl(all_docs)
    # Not IDENTITY in the CDR: the id is a document id assigned elsewhere.
    assert "IDENTITY" not in ddl(schema.pub_proc_cg)
    assert "IDENTITY" not in ddl(schema.glossary_translation_job)
    # ctl.val is wider than tables.sql's NVARCHAR(255), on purpose.
    assert "val NTEXT NOT NULL" in ddl(ctl)


def test_create_all_refuses_to_make_views_into_tables(sqlite_url):
    engine = create_engine(sqlite_url)
    with pytest.raises(RuntimeError, match="create_schema"):
        metadata.create_all(engine)
    assert inspect(engine).get_table_names() == []


def test_create_and_drop_schema_refuse_sql_server():
    engine = create_mock_engine("mssql://", lambda *a, **k: None)
    with pytest.raises(ValueError, match="managed by the CDR itself"):
        create_schema(engine)
    with pytest.raises(ValueError, match="managed by the CDR itself"):
        drop_schema(engine)
    with pytest.raises(ValueError, match="managed by the CDR itself"):
        metadata.create_all(engine, tables=base_tables())


def _add_docs(conn) -> None:
    for doc_id, status in ((1, "A"), (2, "D"), (3, "I")):
        conn.execute(
            insert(all_docs).values(
                id=doc_id, doc_type=1, title=f"doc {doc_id}", xml="<Doc/>", active_status=status
            )
        )
    for num, publishable in ((1, "Y"), (2, "N")):
        conn.execute(
            insert(all_doc_versions).values(
                id=1, num=num, dt=datetime(2024, 1, num), updated_dt=datetime(2024, 1, num),
                usr=1, val_status="V", publishable=publishable, doc_type=1, title="doc 1",
                xml=f"<Doc v='{num}'/>",
            )
        )  # fmt: skip


def _check_views(engine: Engine) -> None:
    with engine.begin() as conn:
        _add_docs(conn)
        assert conn.execute(select(schema.document.c.id).order_by("id")).scalars().all() == [1, 3]
        assert conn.execute(select(schema.active_doc.c.id)).scalars().all() == [1]
        rows = conn.execute(
            select(schema.doc_version.c.num, schema.doc_version.c.xml).order_by("num")
        ).all()
        assert rows == [(1, "<Doc v='1'/>"), (2, "<Doc v='2'/>")]


def test_schema_on_postgresql(cdr_db):
    # Reflection issues PostgreSQL catalogue queries; keep them away from the mssql listener.
    plain = create_engine(cdr_db.url)
    inspector = inspect(plain)
    assert set(inspector.get_table_names()) == SPEC_TABLES
    assert set(inspector.get_view_names()) == SPEC_VIEWS
    plain.dispose()
    _check_views(cdr_db)


def test_schema_on_sqlite(sqlite_url):
    engine = create_engine(sqlite_url)
    create_schema(engine)
    create_schema(engine)  # a second run keeps the tables and replaces the views
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == SPEC_TABLES
    assert set(inspector.get_view_names()) == SPEC_VIEWS
    _check_views(engine)
    drop_schema(engine)
    inspector = inspect(engine)
    assert inspector.get_table_names() == [] and inspector.get_view_names() == []


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_long_control_values_are_not_truncated(backend, cdr_db, sqlite_url):
    engine = cdr_db if backend == "postgresql" else create_engine(sqlite_url)
    if backend == "sqlite":
        create_schema(engine)
    long_value = "CDR0000012345,glossary,en\n" * 3000  # ~78 KB, like the sitemap entries
    with engine.begin() as conn:
        conn.execute(
            insert(ctl).values(grp="dictionary", name="sitemap-entries", val=long_value,
                               created=datetime(2024, 1, 1))
        )  # fmt: skip
        assert conn.execute(select(ctl.c.val)).scalar_one() == long_value


def test_identity_keys_and_uuid_defaults_on_postgresql(cdr_db):
    with cdr_db.begin() as conn:
        job_id = conn.execute(
            insert(schema.batch_job)
            .values(name="Broken URLs", command="lib/Python/CdrLongReports.py",
                    started=datetime(2024, 1, 1), status_dt=datetime(2024, 1, 1),
                    status="Queued")
            .returning(schema.batch_job.c.id)
        ).scalar_one()  # fmt: skip
        assert isinstance(job_id, int)
        conn.execute(
            insert(schema.scheduled_job).values(
                name="Test", enabled=True, job_class="test.Stub", opts="{}", schedule=None
            )
        )
        row = conn.execute(select(schema.scheduled_job)).one()
        assert isinstance(row.id, uuid.UUID) and row.enabled is True


def test_emptying_skips_views(cdr_db):
    from cdr_dagster_tests.conftest import empty_all_tables

    with cdr_db.begin() as conn:
        _add_docs(conn)
    empty_all_tables(cdr_db)
    with cdr_db.connect() as conn:
        assert conn.execute(select(all_docs.c.id)).all() == []
