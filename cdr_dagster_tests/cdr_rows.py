"""Small helpers that put CDR rows into the test database (users, groups, document types with
their schemas, actions, document versions, scheduled_job rows), and the mail resource of the
developers' group."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from cdr_dagster.cdr.schema import (
    action,
    all_doc_versions,
    doc_type,
    metadata,
    scheduled_job,
    usr,
)
from cdr_dagster.cdr.validation import install_schema
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource


def add_group_members(
    engine: Engine, group: str, members: list[tuple[str, str | None, bool]]
) -> None:
    """Create CDR group ``group`` with members given as (login, email, expired)."""
    grp, grp_usr = (metadata.tables[name] for name in ("grp", "grp_usr"))
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


def developers_email(engine: Engine, mailbox, tier: str = "DEV") -> EmailResource:  # noqa: ANN001
    """Mail through the test SMTP server ``mailbox``, with the CDR group "Developers
    Notification" holding ann@example.gov and the expired account old@example.gov."""
    add_group_members(
        engine,
        "Developers Notification",
        [("ann", "ann@example.gov", False), ("old", "old@example.gov", True)],
    )
    return EmailResource(
        tier=tier,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        cdr_db=CdrDatabaseResource(url=engine.url.render_as_string(hide_password=False)),
    )


#: The tests' own small schemas: ``<type>.xml`` for a document type, and what they include.
SCHEMAS = Path(__file__).parent / "data" / "schemas"
COMMON_SCHEMA = "CdrCommonSchema.xml"
#: Ids of the schema documents, clear of the ids the tests give their documents.
SCHEMA_IDS = {
    COMMON_SCHEMA: 990001,
    "DrugInformationSummary.xml": 990002,
    "Licensee.xml": 990003,
    "Media.xml": 990004,
}


def add_schemas(conn: Connection, names: Iterable[str]) -> None:
    """Store the tests' schema of each document type in ``names`` that has one (with the
    common schema they include) as ``schema`` documents, and point the types at them."""
    with_schema = [name for name in names if (SCHEMAS / f"{name}.xml").is_file()]
    if not with_schema:
        return
    common = (SCHEMAS / COMMON_SCHEMA).read_text(encoding="utf-8")
    install_schema(conn, COMMON_SCHEMA, common, doc_id=SCHEMA_IDS[COMMON_SCHEMA])
    for name in with_schema:
        title = f"{name}.xml"
        xml = (SCHEMAS / title).read_text(encoding="utf-8")
        install_schema(conn, title, xml, doc_types=(name,), doc_id=SCHEMA_IDS[title])


def add_doc_types(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Create the document types ``names`` with the tests' schemas; their ids by name."""
    ids = {
        name: conn.execute(
            insert(doc_type)
            .values(name=name, format=1, created=datetime(2010, 1, 1))
            .returning(doc_type.c.id)
        ).scalar_one()
        for name in names
    }
    add_schemas(conn, ids)
    return ids


def add_actions(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Create the audit trail actions ``names`` (``ADD DOCUMENT`` ...); their ids by name."""
    return {
        name: conn.execute(insert(action).values(name=name).returning(action.c.id)).scalar_one()
        for name in names
    }


def user_ids(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """The ids of the CDR accounts ``names``, creating those that do not exist yet."""
    ids = {}
    for name in names:
        ids[name] = conn.execute(select(usr.c.id).where(usr.c.name == name)).scalar_one_or_none()
        if ids[name] is None:
            ids[name] = conn.execute(
                insert(usr).values(name=name, created=datetime(2010, 1, 1)).returning(usr.c.id)
            ).scalar_one()
    return ids


def add_version_row(
    conn: Connection,
    doc_id: int,
    num: int,
    *,
    when: datetime,
    user: int,
    doc_type: int,
    title: str,
    xml: str,
    publishable: bool = True,
    **columns: object,
) -> None:
    """One validated ``all_doc_versions`` row, saved (and last updated) at ``when``; any other
    column (``comment`` ...) as ``columns``."""
    conn.execute(
        insert(all_doc_versions).values(
            id=doc_id,
            num=num,
            dt=when,
            updated_dt=when,
            usr=user,
            val_status="V",
            publishable="Y" if publishable else "N",
            doc_type=doc_type,
            title=title,
            xml=xml,
            **columns,
        )
    )


def add_scheduled_job(
    engine: Engine,
    name: str,
    job_class: str,
    opts: dict[str, Any] | str,
    schedule: dict[str, Any] | str | None = None,
    enabled: bool = True,
) -> str:
    """Insert a ``scheduled_job`` row as the CDR admin page does; return its id.

    ``opts`` and ``schedule`` are stored as given when strings, else as JSON."""
    row_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            insert(scheduled_job).values(
                id=row_id,
                name=name,
                enabled=enabled,
                job_class=job_class,
                opts=opts if isinstance(opts, str) else json.dumps(opts),
                schedule=schedule
                if schedule is None or isinstance(schedule, str)
                else json.dumps(schedule),
            )
        )
    return str(row_id)
