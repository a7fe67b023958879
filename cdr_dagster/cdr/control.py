"""Control values: the CDR ``ctl`` table (``cdr.getControlValue`` and friends).

A value is identified by (group, name); only the row with ``inactivated IS NULL`` counts. Group
and name compare case-insensitively, as on the CDR's SQL Server.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import ctl
from cdr_dagster.cdr.sql import iequals


def _active(group: str, name: str | None = None) -> list:
    conditions = [iequals(ctl.c.grp, group), ctl.c.inactivated.is_(None)]
    if name is not None:
        conditions.append(iequals(ctl.c.name, name))
    return conditions


def control_value(
    conn: Connection, group: str, name: str, default: str | None = None
) -> str | None:
    """The active ``ctl.val`` for (group, name), or ``default`` when there is none.

    Should several active rows exist (the CDR prevents it), the oldest row wins.
    """
    stmt = select(ctl.c.val).where(*_active(group, name)).order_by(ctl.c.id).limit(1)
    value = conn.execute(stmt).scalar_one_or_none()
    return default if value is None else value


def control_group(conn: Connection, group: str) -> dict[str, str]:
    """All active values of ``group`` as {name: val} (``cdr.getControlGroup``), oldest first."""
    stmt = select(ctl.c.name, ctl.c.val).where(*_active(group)).order_by(ctl.c.id)
    return {row.name: row.val for row in conn.execute(stmt)}


def set_control_value(
    conn: Connection,
    group: str,
    name: str,
    value: str,
    comment: str | None = None,
    now: datetime | None = None,
) -> None:
    """Make ``value`` the active value of (group, name): the old row is inactivated, not lost.

    Used by the demo seeder and tests; in production the CDR admin pages maintain ``ctl``.
    """
    now = now or datetime.now()
    conn.execute(update(ctl).where(*_active(group, name)).values(inactivated=now))
    conn.execute(insert(ctl).values(grp=group, name=name, val=value, comment=comment, created=now))
