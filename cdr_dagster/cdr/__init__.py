"""The CDR data layer: what cdr-dagster knows about the PDQ Clinical Data Repository.

No Dagster here (docs/architecture.md#layers). Functions take a SQLAlchemy ``Connection`` (or plain
values) and
return plain values or frozen dataclasses; all SQL is SQLAlchemy Core, so the same statements run
on SQL Server (production), PostgreSQL (tests) and SQLite (demo).

- ``schema``: the CDR tables and views with their real names; ``create_schema``/``drop_schema``.
- ``sql``: case-insensitive comparison as the CDR's SQL Server collation does it.
- ``documents``: current documents, versions, latest publishable versions; CDR id helpers.
- ``query_terms``: the ``query_term``/``query_term_pub`` path index.
- ``groups``: e-mail addresses of CDR groups.
- ``control``: ``ctl`` control values.
- ``xml``: the one safe XML parser and the CDR's ``get_text``.
- ``admin``: ``init_db`` for the tests and the demo (never SQL Server).
"""
