"""Session fixtures: real services on loopback and clean CDR state for every test.

- ``pg_url``: a PostgreSQL database created for this session on 127.0.0.1:5432 and dropped after.
- ``cdr_engine`` / ``cdr_db``: the CDR schema created there; ``cdr_db`` empties it per test.
- ``smtp_server`` / ``mailbox``: an aiosmtpd server; ``mailbox`` is emptied per test.
- ``sftp_server``: an asyncssh SFTP server with key authentication and its own folder.
- ``httpserver``: pytest-httpserver (its own plugin).
- ``sqlite_url``: a CDR database file for tests of the demo path.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Engine
from sqlalchemy.sql import ClauseElement

from cdr_dagster_tests.services.postgres import temporary_database
from cdr_dagster_tests.services.sftp import SftpEndpoint, SftpServer
from cdr_dagster_tests.services.smtp import SmtpServer

# Dagster warns about its own beta APIs when a sensor targets a job with Definitions-level
# resources (docs/architecture.md#run-monitoring); that noise is not ours.
warnings.filterwarnings("ignore", category=Warning, module="dagster")

# The tests must never reach a real tier: no inherited tier or database settings.
for _name in ("CDR_DB_URL", "CDR_MAIL_OUTBOX", "CDR_SFTP_LOCAL_DIR", "CDR_SMTP_HOST"):
    os.environ.pop(_name, None)
os.environ["CDR_TIER"] = "DEV"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database that lives for this test session."""
    with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def cdr_engine(pg_url: str) -> Iterator[Engine]:
    """Engine on the session database with the whole CDR schema created."""
    from cdr_dagster.cdr.schema import create_schema

    engine = create_engine(pg_url, pool_pre_ping=True)
    create_schema(engine)
    event.listen(engine, "before_execute", compile_for_sql_server)
    yield engine
    engine.dispose()


class SqlServerCompileError(AssertionError):
    """A statement the code issued would not compile for SQL Server."""


def compile_for_sql_server(conn, clauseelement, multiparams, params, execution_options):
    """Compile every Core statement sent to the test database with the mssql dialect too.

    Production runs on SQL Server, which no test machine has; this makes every statement that
    any test drives through the code also prove that it has a T-SQL form.
    """
    if isinstance(clauseelement, ClauseElement):
        try:
            str(clauseelement.compile(dialect=mssql.dialect()))
        except Exception as exc:  # noqa: BLE001 - re-raised with the statement named
            raise SqlServerCompileError(
                f"not valid for SQL Server: {clauseelement}: {exc}"
            ) from exc


def empty_all_tables(engine: Engine) -> None:
    """Delete every row of every CDR table, children before parents (views are skipped)."""
    from cdr_dagster.cdr.schema import base_tables

    with engine.begin() as conn:
        for table in reversed(base_tables()):
            conn.execute(table.delete())


@pytest.fixture
def cdr_db(cdr_engine: Engine) -> Engine:
    """The session CDR database, emptied before the test."""
    empty_all_tables(cdr_engine)
    return cdr_engine


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of an empty SQLite file for this test."""
    return f"sqlite:///{tmp_path / 'cdr.db'}"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback for the whole session."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer) -> SmtpServer:
    """The SMTP server with no messages yet."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture(scope="session")
def sftp_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpEndpoint]:
    server = SftpServer(tmp_path_factory.mktemp("sftp"))
    endpoint = server.start()
    yield endpoint
    server.stop()


@pytest.fixture
def sftp_server(sftp_session: SftpEndpoint) -> SftpEndpoint:
    """The SFTP server with an empty folder."""
    for child in sftp_session.root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return sftp_session
