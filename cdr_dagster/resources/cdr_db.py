"""The CDR database as a Dagster resource: one pooled SQLAlchemy engine per URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:  # SQLAlchemy is imported on first use: code-location load stays fast.
    from sqlalchemy.engine import Connection, Engine

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    """Return the process-wide engine for ``url``, creating it on first use.

    Engines are pooled and pre-pinged so a connection dropped by SQL Server between two ticks
    of a sensor is replaced instead of failing the tick.
    """
    from sqlalchemy import create_engine

    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = create_engine(url, pool_pre_ping=True, future=True)
            _ENGINES[url] = engine
        return engine


class CdrDatabaseResource(dg.ConfigurableResource):
    """The CDR database (SQL Server in production, PostgreSQL in tests, SQLite in the demo)."""

    url: str = Field(
        description="SQLAlchemy URL of the CDR database; set from the CDR_DB_URL variable."
    )

    @property
    def engine(self) -> Engine:
        """The pooled engine for this URL."""
        return engine_for(self.url)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads; nothing is committed."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        with self.engine.begin() as conn:
            yield conn
