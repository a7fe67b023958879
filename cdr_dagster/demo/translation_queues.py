"""Demo rows that show the translation queue reports' finer rules.

The demo's translation queues (``data/translation.json``, loaded by ``database.py``) give every
report of ``translation_queue_reports`` something to list. :func:`add_translation_queue_examples`
adds, after that load, the cases an operator would otherwise not see in the demo:

- a glossary job on concept 45962 (carcinoma), whose names include a deleted duplicate
  (799021, "cancer cell (duplicate, deleted)"): the reports title it ``GTC for carcinoma``,
  because deleted documents are invisible through the ``document`` view;
- a glossary job on that deleted name itself: it appears in no report;
- a media job for the team lead Elena García, in peer review: her nightly Media report.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr import schema

#: (queue table, document id, state, translator login, days before the seeding moment).
EXAMPLES = (
    (schema.glossary_translation_job, 45962, "Translation Pending", "egarcia", 2),
    (schema.glossary_translation_job, 799021, "Ready for Translation", "aruiz", 7),
    (schema.media_translation_job, 704104, "Translation Peer Review", "egarcia", 1),
)
_STATES = {
    schema.glossary_translation_job.name: schema.glossary_translation_state,
    schema.media_translation_job.name: schema.media_translation_state,
}


def add_translation_queue_examples(conn: Connection, now: datetime) -> dict[str, int]:
    """Insert the example jobs (the users and states must be loaded); returns rows per table."""
    counts: dict[str, int] = {}
    for table, doc_id, state, login, days in EXAMPLES:
        states = _STATES[table.name]
        state_id = conn.execute(
            select(states.c.value_id).where(states.c.value_name == state)
        ).scalar_one()
        user_id = conn.execute(
            select(schema.usr.c.id).where(schema.usr.c.name == login)
        ).scalar_one()
        key = "doc_id" if table is schema.glossary_translation_job else "english_id"
        conn.execute(
            insert(table).values(
                {
                    key: doc_id,
                    "state_id": state_id,
                    "state_date": (now - timedelta(days=days)).replace(microsecond=0),
                    "assigned_to": user_id,
                }
            )
        )
        counts[table.name] = counts.get(table.name, 0) + 1
    return counts
