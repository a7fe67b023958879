"""The CDR tables the jobs use, as SQLAlchemy Core ``Table`` objects with the real CDR names.

Names, columns, nullability, keys and defaults follow ``Database/tables.sql`` of NCIOCPL/cdr-server.
The types are SQLAlchemy's generic ones, so the same tables compile for SQL Server (production),
PostgreSQL (tests) and SQLite (the demo):

- ``IDENTITY`` primary keys: ``Integer`` with ``autoincrement=True``; plain integer keys that are
  not IDENTITY in the CDR say ``autoincrement=False``;
- ``NVARCHAR(n)`` -> ``Unicode(n)``, ``VARCHAR(n)`` -> ``String(n)``, ``NTEXT``/``NVARCHAR(MAX)`` ->
  ``UnicodeText``, ``TEXT`` -> ``Text``, ``IMAGE``/``VARBINARY`` -> ``LargeBinary``;
- ``CHAR`` flags (``'Y'``/``'N'``, status letters) -> ``String(1)``; ``BIT`` -> ``Boolean``;
  ``UNIQUEIDENTIFIER`` -> ``Uuid``; ``DATETIME`` -> ``DateTime``.

Deliberate differences from tables.sql:

- ``ctl.val`` is declared ``NVARCHAR(255)`` there, but the values the jobs read (index mappings, the
  sitemap CSV, partner mail templates) are far longer, so the production column must be wider;
  we declare it ``UnicodeText`` so nothing we create truncates them
  (docs/behaviour-notes.md#long-text-columns).
- Foreign keys are kept only between a table and the sub-rows it owns (group membership, job
  parameters, trial ids and sponsors, blob usage). References across families (to ``all_docs``,
  ``usr``, ``doc_type``, ``action``, ``pub_proc`` from the cancer.gov tables) are left out so a test
  can seed one family of rows without building the whole repository around it.

Views. ``document`` and ``active_doc`` are views of ``all_docs`` and ``doc_version`` is a view of
``all_doc_versions`` (in production it also falls back to the archive database's
``doc_version_xml``, which no job reads directly). They are ``Table`` objects here too, marked
``info={"view": True}``, so code selects from them the same way everywhere. Write to ``all_docs``
and ``all_doc_versions``; read active documents from ``document``.

Create the schema with :func:`create_schema`, never with ``metadata.create_all()`` (which would
create the views as tables; a guard below refuses that). SQL Server is never touched: the CDR owns
its own schema there.
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    Text,
    Unicode,
    UnicodeText,
    UniqueConstraint,
    Uuid,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()

#: The value of ``Table.info["view"]`` that marks a view.
VIEW = "view"


def _flag(name: str, default: str | None = None, nullable: bool = False) -> Column:
    """A one-character CDR flag column (CHAR in tables.sql), with its server default."""
    return Column(
        name,
        String(1),
        nullable=nullable,
        server_default=text(f"'{default}'") if default is not None else None,
    )


def _identity(name: str = "id") -> Column:
    """An ``INTEGER IDENTITY PRIMARY KEY`` column."""
    return Column(name, Integer, primary_key=True, autoincrement=True)


def _key(name: str) -> Column:
    """An integer primary key that the CDR assigns itself (not IDENTITY)."""
    return Column(name, Integer, primary_key=True, autoincrement=False)


# ---------------------------------------------------------------------------------------------
# Users, groups and actions: every e-mail group lookup (every job), translation reports,
# audit trail joins (GovDelivery, statistics).
# ---------------------------------------------------------------------------------------------

usr = Table(
    "usr",
    metadata,
    _identity(),
    Column("name", String(32), nullable=False, unique=True),
    Column("hashedpw", LargeBinary, nullable=True),
    Column("login_failed", Integer, nullable=False, server_default=text("0")),
    Column("created", DateTime, nullable=False),
    Column("fullname", String(100)),
    Column("office", String(100)),
    Column("email", String(128)),
    Column("phone", String(20)),
    Column("expired", DateTime),
    Column("comment", String(255)),
    comment="CDR user accounts; group e-mail lists (all job families), translation reports",
)

grp = Table(
    "grp",
    metadata,
    _identity(),
    Column("name", Unicode(32), nullable=False, unique=True),
    Column("comment", Unicode(255)),
    comment="CDR groups; e-mail recipient groups of every job family",
)

grp_usr = Table(
    "grp_usr",
    metadata,
    Column("grp", Integer, ForeignKey("grp.id"), primary_key=True, autoincrement=False),
    Column("usr", Integer, ForeignKey("usr.id"), primary_key=True, autoincrement=False),
    Column("comment", Unicode(255)),
    comment="Group membership; group e-mail lists",
)

action = Table(
    "action",
    metadata,
    _identity(),
    Column("name", String(32), nullable=False, unique=True),
    _flag("doctype_specific", "N", nullable=True),
    Column("comment", Unicode(255)),
    comment="Things users do to documents (ADD DOCUMENT, ...); file sweeper meeting recordings",
)

# ---------------------------------------------------------------------------------------------
# Control values: dictionary/trial/sitemap loaders (02), glossifier servers (02), partner
# notification templates (04), PDQ access report (04), publishing batch sizes (01).
# ---------------------------------------------------------------------------------------------

ctl = Table(
    "ctl",
    metadata,
    _identity(),
    Column("grp", Unicode(255), nullable=False),
    Column("name", Unicode(255), nullable=False),
    Column("val", UnicodeText, nullable=False),  # NVARCHAR(255) in tables.sql; see module doc
    Column("comment", Unicode(255)),
    Column("created", DateTime, nullable=False),
    Column("inactivated", DateTime),
    comment="Named control values (grp, name) -> val; only rows with inactivated NULL count",
)

# ---------------------------------------------------------------------------------------------
# Documents and versions: every family that reads CDR documents (01 media, 02 dictionaries and
# glossifier, 03 sweeper/links/GovDelivery/stats, 04 partners and translation reports).
# ---------------------------------------------------------------------------------------------

doc_type = Table(
    "doc_type",
    metadata,
    _identity(),
    Column("name", String(32), nullable=False, unique=True),
    Column("format", Integer, nullable=False),
    Column("created", DateTime, nullable=False),
    _flag("versioning", "Y"),
    Column("xml_schema", Integer),
    Column("schema_date", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("title_filter", Integer),
    _flag("active", "Y"),
    Column("comment", Unicode(255)),
    comment="Document types (Summary, Media, GlossaryTermName, ...)",
)


def _all_docs_columns() -> list[Column]:
    return [
        _identity(),
        _flag("val_status", "U"),
        Column("val_date", DateTime),
        Column("doc_type", Integer, nullable=False),
        Column("title", Unicode(255), nullable=False),
        Column("xml", UnicodeText, nullable=False),
        Column("comment", Unicode(255)),
        _flag("active_status", "A"),
        Column("last_frag_id", Integer, nullable=False, server_default=text("0")),
        Column("first_pub", DateTime),
        _flag("first_pub_knowable", "Y"),
    ]


all_docs = Table(
    "all_docs",
    metadata,
    *_all_docs_columns(),
    Index("doc_doc_type_idx", "doc_type", "active_status"),
    Index("doc_title_idx", "title"),
    Index("doc_status_idx", "active_status", "id"),
    comment="Every CDR document, deleted ones included (active_status 'D'); write here",
)


def _all_doc_versions_columns() -> list[Column]:
    return [
        Column("id", Integer, nullable=False),
        Column("num", Integer, nullable=False),
        Column("dt", DateTime, nullable=False),
        Column("updated_dt", DateTime, nullable=False),
        Column("usr", Integer, nullable=False),
        _flag("val_status"),
        Column("val_date", DateTime),
        _flag("publishable"),
        Column("doc_type", Integer, nullable=False),
        Column("title", Unicode(255), nullable=False),
        Column("xml", UnicodeText),
        Column("comment", Unicode(255)),
        PrimaryKeyConstraint("id", "num"),
    ]


all_doc_versions = Table(
    "all_doc_versions",
    metadata,
    *_all_doc_versions_columns(),
    comment="Every saved version of every document; write here, read through doc_version",
)

doc_blob = Table(
    "doc_blob",
    metadata,
    _identity(),
    Column("data", LargeBinary, nullable=False),
    comment="Binary payloads of Media documents (images, audio); media check (01)",
)

doc_blob_usage = Table(
    "doc_blob_usage",
    metadata,
    _key("doc_id"),
    Column("blob_id", Integer, ForeignKey("doc_blob.id")),
    Index("doc_blob_blob_idx", "blob_id"),
    comment="Blob of the current working document; file sweeper meeting recordings (03)",
)

version_blob_usage = Table(
    "version_blob_usage",
    metadata,
    Column("doc_id", Integer),
    Column("doc_version", Integer),
    Column("blob_id", Integer, ForeignKey("doc_blob.id")),
    Index("ver_blob_doc_idx", "doc_id", "doc_version"),
    Index("ver_blob_blob_idx", "blob_id"),
    comment="Blob of each document version; media check (01), file sweeper (03)",
)

# ---------------------------------------------------------------------------------------------
# Workflow: audit trail and locks, written by CDR document saves (03 link removal and meeting
# recordings, 04 licensee expiry) and read by the file sweeper (03).
# ---------------------------------------------------------------------------------------------

audit_trail = Table(
    "audit_trail",
    metadata,
    Column("document", Integer, nullable=False),
    Column("dt", DateTime, nullable=False),
    Column("usr", Integer, nullable=False),
    Column("action", Integer, nullable=False),
    Column("program", String(32)),
    Column("comment", Unicode(255)),
    PrimaryKeyConstraint("document", "dt"),
    comment="Who did what to which document when",
)

checkout = Table(
    "checkout",
    metadata,
    Column("id", Integer, nullable=False),
    Column("dt_out", DateTime, nullable=False),
    Column("usr", Integer, nullable=False),
    Column("dt_in", DateTime),
    Column("version", Integer),
    Column("comment", Unicode(255)),
    PrimaryKeyConstraint("id", "dt_out"),
    comment="Document locks (checked out while dt_in is NULL)",
)

# ---------------------------------------------------------------------------------------------
# Search index of document paths: dictionaries, trials and glossifier (02), expiring links,
# GovDelivery and PCIB statistics (03), licensee list and translation titles (04).
# ---------------------------------------------------------------------------------------------


def _query_term_columns() -> list[Column]:
    return [
        Column("doc_id", Integer, nullable=False),
        Column("path", String(512), nullable=False),
        Column("value", String(800), nullable=False),
        Column("int_val", Integer),
        Column("node_loc", String(160), nullable=False),
    ]


query_term = Table(
    "query_term",
    metadata,
    *_query_term_columns(),
    Index("ix_query_term1", "value", "doc_id"),
    Index("ix_query_term2", "path", "doc_id"),
    Index("ix_query_term3", "doc_id", "node_loc"),
    Index("ix_query_term4", "int_val", "doc_id"),
    comment="Indexed path values of the current working documents",
)

query_term_pub = Table(
    "query_term_pub",
    metadata,
    *_query_term_columns(),
    Index("ix_query_term_pub1", "value", "doc_id"),
    Index("ix_query_term_pub2", "path", "doc_id"),
    Index("ix_query_term_pub3", "doc_id", "node_loc"),
    Index("ix_query_term_pub4", "int_val", "doc_id"),
    comment="Indexed path values of the latest publishable versions",
)

query_term_def = Table(
    "query_term_def",
    metadata,
    Column("path", String(512), nullable=False),
    Column("term_rule", Integer),
    comment="Which paths are indexed in query_term/query_term_pub",
)

# ---------------------------------------------------------------------------------------------
# Scheduler and work queues (01): the legacy schedule table, batch jobs, publishing jobs.
# ---------------------------------------------------------------------------------------------

scheduled_job = Table(
    "scheduled_job",
    metadata,
    Column("id", Uuid, primary_key=True, default=uuid.uuid4),  # DEFAULT NEWID() in the CDR
    Column("name", Unicode(512), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("job_class", Unicode(128), nullable=False),
    Column("opts", String(1024), nullable=False),
    Column("schedule", String(256)),
    comment="Legacy scheduler jobs (schedule import, run-now requests)",
)

batch_job = Table(
    "batch_job",
    metadata,
    _identity(),
    Column("name", Unicode(512), nullable=False),
    Column("command", Unicode(512), nullable=False),
    Column("process_id", Integer),
    Column("started", DateTime, nullable=False),
    Column("status_dt", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("email", String(256)),
    Column("progress", UnicodeText),
    comment="Batch job queue (Queued -> Initiating -> In process -> Completed/Aborted)",
)

batch_job_parm = Table(
    "batch_job_parm",
    metadata,
    Column("job", Integer, ForeignKey("batch_job.id"), nullable=False),
    Column("name", Unicode(32), nullable=False),
    Column("value", UnicodeText, nullable=False),
    comment="Parameters of a batch job",
)

pub_proc = Table(
    "pub_proc",
    metadata,
    _identity(),
    Column("pub_system", Integer, nullable=False),
    Column("pub_subset", String(255), nullable=False),
    Column("usr", Integer, nullable=False),
    Column("output_dir", String(255), nullable=False),
    Column("started", DateTime, nullable=False),
    Column("completed", DateTime),
    Column("status", String(32), nullable=False),
    Column("messages", UnicodeText),
    Column("email", String(255)),
    Column("external", String(1), server_default=text("'N'")),
    _flag("no_output", "N"),
    Index("pub_proc_status_completed_idx", "status", "completed"),
    comment="Publishing jobs (queue 01; export/push windows 03; partner notification 04)",
)

pub_proc_parm = Table(
    "pub_proc_parm",
    metadata,
    Column("id", Integer, nullable=False, autoincrement=False),
    Column("pub_proc", Integer, ForeignKey("pub_proc.id"), nullable=False),
    Column("parm_name", Unicode(32), nullable=False),
    Column("parm_value", UnicodeText),
    PrimaryKeyConstraint("pub_proc", "id", name="pub_proc_parm_pk"),
    comment="Parameters of a publishing job (1-based ordinal id)",
)

pub_proc_doc = Table(
    "pub_proc_doc",
    metadata,
    Column("pub_proc", Integer, nullable=False, autoincrement=False),
    Column("doc_id", Integer, nullable=False, autoincrement=False),
    Column("doc_version", Integer, nullable=False),
    Column("failure", String(1)),
    Column("messages", UnicodeText),
    Column("removed", String(1), server_default=text("'N'")),
    Column("subdir", String(32), server_default=text("''")),
    PrimaryKeyConstraint("pub_proc", "doc_id", name="pub_proc_doc_pk"),
    Index("pub_proc_doc_failure_index", "failure"),
    comment="Documents (and versions) handled by each publishing job",
)

pub_proc_cg = Table(
    "pub_proc_cg",
    metadata,
    _key("id"),
    Column("pub_proc", Integer, nullable=False),
    Column("xml", UnicodeText, nullable=False),
    _flag("force_push", "N"),
    _flag("cg_new", "N"),
    comment="Documents currently on cancer.gov, with the exported XML last pushed",
)

pub_proc_cg_work = Table(
    "pub_proc_cg_work",
    metadata,
    _key("id"),
    Column("num", Integer, nullable=False),
    Column("vendor_job", Integer, nullable=False),
    Column("cg_job", Integer, nullable=False),
    Column("doc_type", String(32), nullable=False),
    Column("xml", UnicodeText),
    comment="Push staging: changed, new and (xml NULL) removed documents",
)

export_spec = Table(
    "export_spec",
    metadata,
    Column("job_id", Integer, nullable=False, autoincrement=False),
    Column("spec_id", Integer, nullable=False, autoincrement=False),
    Column("filters", UnicodeText, nullable=False),
    Column("subdir", Unicode(32)),
    PrimaryKeyConstraint("job_id", "spec_id"),
    comment="Filters and subdirectory of each export specification of a job",
)

media_manifest = Table(
    "media_manifest",
    metadata,
    Column("job_id", Integer, nullable=False, autoincrement=False),
    Column("doc_id", Integer, nullable=False, autoincrement=False),
    Column("blob_date", DateTime, nullable=False),
    Column("filename", Unicode(32), nullable=False),
    Column("title", UnicodeText, nullable=False),
    PrimaryKeyConstraint("job_id", "doc_id"),
    comment="Media files of each publishing job",
)

# ---------------------------------------------------------------------------------------------
# Dictionaries, trials and glossifier (02).
# ---------------------------------------------------------------------------------------------

glossifier = Table(
    "glossifier",
    metadata,
    _key("pk"),
    Column("refreshed", DateTime, nullable=False),
    Column("terms", Text, nullable=False),
    comment="Copy of the glossifier term map last sent to the CMS (one row, pk 1)",
)

external_map_usage = Table(
    "external_map_usage",
    metadata,
    _identity(),
    Column("name", Unicode(32), nullable=False, unique=True),
    Column("auth_action", Integer, nullable=False),
    Column("comment", Unicode(255)),
    comment="Kinds of external mapping (GlossaryTerm Phrases, ...)",
)

external_map = Table(
    "external_map",
    metadata,
    _identity(),
    Column("usage", Integer, nullable=False),
    Column("value", Unicode(356), nullable=False),
    Column("doc_id", Integer),
    Column("usr", Integer),
    Column("last_mod", DateTime, nullable=False),
    _flag("bogus", "N"),
    _flag("mappable", "Y"),
    UniqueConstraint("usage", "value", name="external_map_unique"),
    comment="External strings mapped to CDR documents (glossifier extra phrases)",
)

ctgov_trial = Table(
    "ctgov_trial",
    metadata,
    Column("nct_id", String(11), primary_key=True),
    Column("trial_title", Unicode(1024), nullable=False),
    Column("trial_phase", Unicode(20)),
    Column("first_received", DateTime, nullable=False),
    comment="New trials recorded from ClinicalTrials.gov (recent trials)",
)

ctgov_trial_other_id = Table(
    "ctgov_trial_other_id",
    metadata,
    Column("nct_id", String(11), ForeignKey("ctgov_trial.nct_id"), nullable=False),
    Column("position", Integer, nullable=False, autoincrement=False),
    Column("other_id", Unicode(1024), nullable=False),
    PrimaryKeyConstraint("nct_id", "position"),
    comment="Other ids of a recorded trial, in source order",
)

ctgov_trial_sponsor = Table(
    "ctgov_trial_sponsor",
    metadata,
    Column("nct_id", String(11), ForeignKey("ctgov_trial.nct_id"), nullable=False),
    Column("position", Integer, nullable=False, autoincrement=False),
    Column("sponsor", Unicode(1024), nullable=False),
    PrimaryKeyConstraint("nct_id", "position"),
    comment="Sponsors and collaborators of a recorded trial, in source order",
)

# ---------------------------------------------------------------------------------------------
# Data partners (04).
# ---------------------------------------------------------------------------------------------

data_partner_notification = Table(
    "data_partner_notification",
    metadata,
    Column("email_addr", Unicode(64), nullable=False),
    Column("notif_date", DateTime, nullable=False),
    comment="Each notification mail sent to a PDQ data partner (no key in the CDR)",
)

# ---------------------------------------------------------------------------------------------
# Translation queues (04): one job table and one state table per document family.
# ---------------------------------------------------------------------------------------------


def _state_table(name: str, comment: str) -> Table:
    return Table(
        name,
        metadata,
        _identity("value_id"),
        Column("value_name", Unicode(128), nullable=False, unique=True),
        Column("value_pos", Integer, nullable=False),
        comment=comment,
    )


glossary_translation_state = _state_table(
    "glossary_translation_state", "Workflow states of glossary translation jobs"
)
media_translation_state = _state_table(
    "media_translation_state", "Workflow states of media translation jobs"
)
summary_translation_state = _state_table(
    "summary_translation_state", "Workflow states of summary translation jobs"
)
summary_change_type = _state_table(
    "summary_change_type", "Kinds of change that start a summary translation job"
)

glossary_translation_job = Table(
    "glossary_translation_job",
    metadata,
    _key("doc_id"),
    Column("state_id", Integer, ForeignKey("glossary_translation_state.value_id"), nullable=False),
    Column("state_date", DateTime, nullable=False),
    Column("assigned_to", Integer, nullable=False),
    Column("comments", UnicodeText),
    comment="Open glossary translation jobs (GlossaryTermName or GlossaryTermConcept doc_id)",
)

media_translation_job = Table(
    "media_translation_job",
    metadata,
    _key("english_id"),
    Column("state_id", Integer, ForeignKey("media_translation_state.value_id"), nullable=False),
    Column("state_date", DateTime, nullable=False),
    Column("assigned_to", Integer, nullable=False),
    Column("comments", UnicodeText),
    comment="Open media translation jobs",
)

summary_translation_job = Table(
    "summary_translation_job",
    metadata,
    _key("english_id"),
    Column("state_id", Integer, ForeignKey("summary_translation_state.value_id"), nullable=False),
    Column("state_date", DateTime, nullable=False),
    Column("change_type", Integer, ForeignKey("summary_change_type.value_id"), nullable=False),
    Column("assigned_to", Integer, nullable=False),
    Column("comments", UnicodeText),
    Column("notified", DateTime),
    comment="Open summary translation jobs",
)

# ---------------------------------------------------------------------------------------------
# Views. Same columns as the base table; created by create_schema() off SQL Server.
# ---------------------------------------------------------------------------------------------


def _view(name: str, columns: list[Column], comment: str) -> Table:
    return Table(name, metadata, *columns, info={VIEW: True}, comment=comment)


document = _view(
    "document",
    _all_docs_columns(),
    "VIEW of all_docs WHERE active_status != 'D': the documents most code reads",
)
active_doc = _view(
    "active_doc",
    _all_docs_columns(),
    "VIEW of all_docs WHERE active_status = 'A' (PCIB statistics)",
)
doc_version = _view(
    "doc_version",
    _all_doc_versions_columns(),
    "VIEW of all_doc_versions (production falls back to archived XML)",
)


def view_definitions() -> dict[str, Select]:
    """The SELECT behind each view, by view name, built from the base tables."""
    docs = select(*all_docs.c)
    return {
        "document": docs.where(all_docs.c.active_status != "D"),
        "active_doc": docs.where(all_docs.c.active_status == "A"),
        "doc_version": select(*all_doc_versions.c),
    }


def is_view(table: Table) -> bool:
    """True for the view stand-ins (``document``, ``active_doc``, ``doc_version``)."""
    return bool(table.info.get(VIEW))


def base_tables() -> list[Table]:
    """The real tables of :data:`metadata`, parents before children."""
    return [t for t in metadata.sorted_tables if not is_view(t)]


def views() -> list[Table]:
    """The view stand-ins of :data:`metadata`."""
    return [t for t in metadata.sorted_tables if is_view(t)]


@event.listens_for(metadata, "before_create")
def _refuse_views_as_tables(target: MetaData, connection: Connection, **kw: object) -> None:
    _refuse_mssql(connection)
    tables = kw.get("tables") or []
    wrong = sorted(t.name for t in tables if is_view(t))  # type: ignore[union-attr]
    if wrong:
        raise RuntimeError(
            f"metadata.create_all() would create the views {', '.join(wrong)} as tables; "
            "use cdr_dagster.cdr.schema.create_schema(engine)"
        )


def _refuse_mssql(bind: Engine | Connection) -> None:
    if bind.dialect.name == "mssql":
        raise ValueError(
            "the CDR schema on SQL Server is managed by the CDR itself; "
            "create_schema/drop_schema only work on PostgreSQL and SQLite"
        )


def create_schema(bind: Engine | Connection) -> None:
    """Create every CDR table, then the views, on PostgreSQL or SQLite (never SQL Server).

    Existing tables are kept (``checkfirst``); existing views are replaced.
    """
    _refuse_mssql(bind)
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            create_schema(conn)
        return
    conn = bind
    metadata.create_all(conn, tables=base_tables())
    preparer = conn.dialect.identifier_preparer
    for name, query in view_definitions().items():
        view = metadata.tables[name]
        body = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {preparer.format_table(view)}")
        conn.exec_driver_sql(f"CREATE VIEW {preparer.format_table(view)} AS {body}")


def drop_schema(bind: Engine | Connection) -> None:
    """Drop the views and every CDR table (PostgreSQL or SQLite only)."""
    _refuse_mssql(bind)
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            drop_schema(conn)
        return
    conn = bind
    preparer = conn.dialect.identifier_preparer
    for view in views():
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {preparer.format_table(view)}")
    metadata.drop_all(conn, tables=base_tables())
