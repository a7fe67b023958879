"""Row helpers for the translation queue tests: document types, documents, translators,
workflow states, queue jobs and the query_term rows linking glossary names to concepts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.translation_queues import NAME_CONCEPT_PATH

#: Workflow states as the CDR's state tables number them (name, value_pos).
STATES = (
    ("Ready for Translation", 10),
    ("Translation Pending", 20),
    ("Translation Peer Review", 30),
    ("Translation Made Publishable", 40),
)
_STATE_TABLES = {
    "Summary": schema.summary_translation_state,
    "Media": schema.media_translation_state,
    "Glossary": schema.glossary_translation_state,
}
_JOB_TABLES = {
    "Summary": (schema.summary_translation_job, "english_id"),
    "Media": (schema.media_translation_job, "english_id"),
    "Glossary": (schema.glossary_translation_job, "doc_id"),
}


class QueueRows:
    """Inserts queue content into the test CDR database, remembering ids by name."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.doc_types: dict[str, int] = {}
        self.users: dict[str, int] = {}
        self.states: dict[tuple[str, str], int] = {}
        self._change_type: int | None = None

    def _insert(self, table, **values) -> int | None:  # noqa: ANN001
        """Insert one row; its primary key, or None for a table without one."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(table).values(**values))
            key = result.inserted_primary_key
            return key[0] if key else None

    def doc_type(self, name: str) -> int:
        """The id of document type ``name``, created on first use."""
        if name not in self.doc_types:
            self.doc_types[name] = self._insert(
                schema.doc_type, name=name, format=1, created=datetime(2002, 6, 1)
            )
        return self.doc_types[name]

    def document(self, doc_id: int, doc_type: str, title: str, *, deleted: bool = False) -> int:
        """A document (``deleted``: active_status D, hidden by the ``document`` view)."""
        return self._insert(
            schema.all_docs,
            id=doc_id,
            doc_type=self.doc_type(doc_type),
            title=title,
            xml=f"<{doc_type}/>",
            active_status="D" if deleted else "A",
        )

    def name_of(self, name_id: int, concept_id: int, title: str, *, deleted: bool = False) -> None:
        """A GlossaryTermName document linked to concept ``concept_id`` through query_term."""
        self.document(name_id, "GlossaryTermName", title, deleted=deleted)
        self._insert(
            schema.query_term,
            doc_id=name_id,
            path=NAME_CONCEPT_PATH,
            value=f"CDR{concept_id:010d}",
            int_val=concept_id,
            node_loc="000002",
        )

    def user(
        self,
        login: str,
        fullname: str | None,
        email: str | None,
        *,
        expired: bool = False,
        user_id: int | None = None,
    ) -> int:
        """A CDR account; ids are given explicitly (``user_id``, else from 101 on), so the
        order of translators by id is known and never meets the table's own sequence."""
        values = {
            "name": login,
            "fullname": fullname,
            "email": email,
            "created": datetime(2015, 3, 2),
            "expired": datetime(2024, 1, 1) if expired else None,
        }
        values["id"] = user_id if user_id is not None else 101 + len(self.users)
        self.users[login] = self._insert(schema.usr, **values)
        return self.users[login]

    def group(self, name: str, logins: list[str]) -> None:
        """A CDR group whose members are the given (already created) users."""
        group_id = self._insert(schema.grp, name=name)
        for login in logins:
            self._insert(schema.grp_usr, grp=group_id, usr=self.users[login])

    def state_ids(self, doctype: str, states=STATES) -> None:  # noqa: ANN001
        """The workflow states of one queue."""
        for name, pos in states:
            self.states[doctype, name] = self._insert(
                _STATE_TABLES[doctype], value_name=name, value_pos=pos
            )

    def job(self, doctype: str, doc_id: int, state: str, login: str, when: datetime) -> None:
        """A queue job for ``doc_id`` in ``state``, assigned to ``login`` since ``when``."""
        if not any(queue == doctype for queue, _ in self.states):
            self.state_ids(doctype)
        table, key = _JOB_TABLES[doctype]
        values = {
            key: doc_id,
            "state_id": self.states[doctype, state],
            "state_date": when,
            "assigned_to": self.users[login],
        }
        if doctype == "Summary":
            if self._change_type is None:
                self._change_type = self._insert(
                    schema.summary_change_type, value_name="Major Changes", value_pos=20
                )
            values["change_type"] = self._change_type
        self._insert(table, **values)
