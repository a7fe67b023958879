"""E-mail addresses of CDR groups (``usr`` joined to ``grp_usr`` and ``grp``).

Two flavours exist in the legacy code; each job uses the one its legacy job used:

- :func:`group_email_addresses`: active users only (``usr.expired IS NULL``), the scheduler's
  ``Job.get_group_email_addresses``; the default (docs/behaviour-notes.md#group-mail);
- :func:`group_email_addresses_including_expired`: ``cdr.getEmailList``, used by the
  cdr-publishing scripts, which does not look at ``usr.expired``.

Both drop NULL and empty addresses (in Python, as the legacy code did), keep duplicates, compare
the group name case-insensitively (as SQL Server does), and return the addresses in user id
order (the legacy query had no ORDER BY; user id order is the stable form of "database order").
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import grp, grp_usr, usr
from cdr_dagster.cdr.sql import iequals

#: The group that hears about failures when a job names no other.
DEVELOPERS_NOTIFICATION = "Developers Notification"


def _members_email(group_name: str) -> Select:
    return (
        select(usr.c.email)
        .join(grp_usr, grp_usr.c.usr == usr.c.id)
        .join(grp, grp.c.id == grp_usr.c.grp)
        .where(iequals(grp.c.name, group_name))
        .order_by(usr.c.id)
    )


def group_email_addresses(conn: Connection, group_name: str = DEVELOPERS_NOTIFICATION) -> list[str]:
    """E-mail addresses of the group's active (not expired) members; may be empty."""
    stmt = _members_email(group_name).where(usr.c.expired.is_(None))
    return [email for email in conn.execute(stmt).scalars() if email]


def group_email_addresses_including_expired(conn: Connection, group_name: str) -> list[str]:
    """E-mail addresses of all the group's members, expired accounts too (``cdr.getEmailList``)."""
    return [email for email in conn.execute(_members_email(group_name)).scalars() if email]
