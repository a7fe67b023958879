"""Small helpers that put CDR rows into the test database (users, groups)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from cdr_dagster.cdr.schema import metadata


def add_group_members(
    engine: Engine, group: str, members: list[tuple[str, str | None, bool]]
) -> None:
    """Create CDR group ``group`` with members given as (login, email, expired)."""
    usr, grp, grp_usr = (metadata.tables[name] for name in ("usr", "grp", "grp_usr"))
    with engine.begin() as conn:
        group_id = conn.execute(grp.insert().values(name=group).returning(grp.c.id)).scalar_one()
        for login, address, expired in members:
            values = {
                "name": login,
                "fullname": login.title(),
                "email": address,
                "created": datetime(2010, 1, 4),
            }
            if expired:
                values["expired"] = datetime(2020, 1, 1)
            user_id = conn.execute(usr.insert().values(**values).returning(usr.c.id)).scalar_one()
            conn.execute(grp_usr.insert().values(grp=group_id, usr=user_id))
