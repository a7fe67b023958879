"""SQL helpers shared by the data layer: case-insensitive comparison as the CDR does it.

The CDR's SQL Server collation compares strings case-insensitively and the legacy jobs rely on
that (a subset spelled ``Cancer.gov_Export`` in one query and ``Cancer.Gov_Export`` in the data).
PostgreSQL and SQLite compare case-sensitively. :func:`folded` wraps an expression so that it
compiles to ``lower(x)`` there, and to plain ``x`` on SQL Server, where the collation already
folds case and a bare column keeps its index usable (``query_term`` holds millions of rows).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class folded(FunctionElement[str]):  # noqa: N801 - used like a SQL function
    """``lower(expr)`` on PostgreSQL and SQLite; ``expr`` itself on SQL Server."""

    name = "folded"
    type = String()
    inherit_cache = True


@compiles(folded)
def _folded_default(element: folded, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "mssql")
def _folded_mssql(element: folded, compiler: Any, **kw: Any) -> str:
    (clause,) = element.clauses  # one argument; parenthesised if it is itself an expression
    return compiler.process(clause.self_group(against=operators.eq), **kw)


def iequals(expr: Any, value: Any) -> ColumnElement[bool]:
    """``expr = value`` compared case-insensitively, as on the CDR's SQL Server."""
    return folded(expr) == folded(value)


def ilike(expr: Any, pattern: str) -> ColumnElement[bool]:
    """``expr LIKE pattern`` compared case-insensitively, as on the CDR's SQL Server."""
    return folded(expr).like(folded(pattern))
