"""Creating a CDR database for the tests and the demo (``cdr-dagster init-db``).

Only PostgreSQL and SQLite are accepted: the real CDR database on SQL Server is created and
migrated by the CDR itself, and this tool never issues DDL there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from cdr_dagster.cdr.schema import create_schema


def init_db(url: str) -> None:
    """Create the CDR tables and views (:func:`create_schema`) in the database at ``url``.

    Existing tables are kept. For a SQLite file the parent folder is created. An ``mssql`` URL
    is refused with a ValueError that names the URL without its password.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "mssql":
        shown = parsed.render_as_string(hide_password=True)
        raise ValueError(
            f"refusing to create tables in {shown}: the real CDR schema on SQL Server "
            "is managed by the CDR itself"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    try:
        create_schema(engine)
    finally:
        engine.dispose()
