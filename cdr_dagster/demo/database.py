"""Writing the demo content into a CDR database created with ``create_schema``.

:func:`load_database` fills every table the scheduler's job families read, from the data files:
users and groups, document types, documents with their versions, blobs, audit trail and search
index, the publishing history, the batch-job queue, the legacy schedule table, translation
queues, control values, trials, glossifier phrases and data-partner notifications. It returns
the number of rows written per table.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import Connection

from cdr_dagster.cdr import schema
from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.demo.datafiles import DataFiles
from cdr_dagster.demo.documents import DemoDocument
from cdr_dagster.demo.indexing import index_document
from cdr_dagster.demo.publishing import PRIMARY_SYSTEM, PublishingPlan, is_push
from cdr_dagster.demo.templates import to_datetime

#: The account that owns the publishing jobs (SubmitPubJob.py logs in as cdroperator).
PUBLISHING_USER = "cdroperator"
#: The XML format row every document type points at (the CDR's ``format`` table: 1 = xml).
XML_FORMAT = 1


class _Writer:
    """Inserts rows and counts them per table."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.counts: Counter[str] = Counter()

    def rows(self, table: Table, rows: Iterable[dict]) -> None:
        batch = list(rows)
        if batch:
            self.conn.execute(insert(table), batch)
            self.counts[table.name] += len(batch)

    def row(self, table: Table, values: dict) -> Any:
        result = self.conn.execute(insert(table).values(**values))
        self.counts[table.name] += 1
        return result.inserted_primary_key[0]


def _users(w: _Writer, files: DataFiles) -> dict[str, int]:
    ids: dict[str, int] = {}
    created = files.now - timedelta(days=365 * 12)
    for row in files.csv("users.csv"):
        ids[row["name"]] = w.row(
            schema.usr,
            {
                "name": row["name"],
                "fullname": row["fullname"] or None,
                "email": row["email"] or None,
                "office": row["office"] or None,
                "expired": to_datetime(row["expired"]),
                "comment": row["comment"] or None,
                "created": created,
            },
        )
    for row in files.csv("groups.csv"):
        group_id = w.row(schema.grp, {"name": row["name"], "comment": row["comment"] or None})
        w.rows(
            schema.grp_usr,
            ({"grp": group_id, "usr": ids[name]} for name in row["members"].split()),
        )
    return ids


def _doc_types(w: _Writer, files: DataFiles) -> dict[str, int]:
    created = files.now - timedelta(days=365 * 20)
    return {
        row["name"]: w.row(
            schema.doc_type,
            {
                "name": row["name"],
                "format": XML_FORMAT,
                "created": created,
                "versioning": "Y",
                "active": "Y",
                "comment": row["comment"] or None,
            },
        )
        for row in files.csv("doc_types.csv")
    }


def _actions(w: _Writer, files: DataFiles) -> dict[str, int]:
    return {
        name: w.row(schema.action, {"name": name, "doctype_specific": specific})
        for name, specific in files.json("misc.json")["actions"]
    }


def _documents(
    w: _Writer,
    documents: list[DemoDocument],
    types: dict[str, int],
    users: dict[str, int],
    actions: dict[str, int],
    paths: list[str],
    files: DataFiles,
) -> None:
    w.rows(schema.query_term_def, ({"path": p, "term_rule": None} for p in paths))
    for doc in documents:
        doc_type = types[doc.doc_type]
        editor = users[doc.editor]
        last = doc.versions[-1]
        w.row(
            schema.all_docs,
            {
                "id": doc.id,
                "val_status": "V",
                "val_date": last.dt,
                "doc_type": doc_type,
                "title": doc.title,
                "xml": doc.xml,
                "active_status": doc.status,
                "last_frag_id": 0,
                "first_pub": doc.first_pub,
                "first_pub_knowable": "Y",
            },
        )
        w.rows(
            schema.all_doc_versions,
            (
                {
                    "id": doc.id,
                    "num": v.num,
                    "dt": v.dt,
                    "updated_dt": v.dt,
                    "usr": editor,
                    "val_status": v.val_status,
                    "val_date": v.dt,
                    "publishable": "Y" if v.publishable else "N",
                    "doc_type": doc_type,
                    "title": doc.title,
                    "xml": v.xml,
                    "comment": v.comment,
                }
                for v in doc.versions
            ),
        )
        w.rows(schema.query_term, index_document(doc.id, doc.root, paths))
        publishable = doc.latest_publishable
        if publishable is not None:
            w.rows(schema.query_term_pub, index_document(doc.id, publishable.root, paths))
        if doc.blob:
            blob_id = w.row(schema.doc_blob, {"data": files.blob(doc.blob)})
            w.row(schema.doc_blob_usage, {"doc_id": doc.id, "blob_id": blob_id})
            w.rows(
                schema.version_blob_usage,
                (
                    {"doc_id": doc.id, "doc_version": v.num, "blob_id": blob_id}
                    for v in doc.versions
                ),
            )
        w.rows(schema.audit_trail, _audit(doc, editor, actions))


def _audit(doc: DemoDocument, editor: int, actions: dict[str, int]) -> list[dict]:
    """ADD DOCUMENT when created, MODIFY DOCUMENT for each saved version (distinct times)."""
    used: set[datetime] = set()
    rows = []
    events = [(doc.created, "ADD DOCUMENT", "Document created")]
    events += [(v.dt, "MODIFY DOCUMENT", v.comment or "Version saved") for v in doc.versions]
    if doc.status == "D":
        events.append((doc.versions[-1].dt + timedelta(days=1), "DELETE DOCUMENT", "Duplicate"))
    for when, action, comment in events:
        while when in used:
            when += timedelta(seconds=1)
        used.add(when)
        rows.append(
            {
                "document": doc.id,
                "dt": when,
                "usr": editor,
                "action": actions[action],
                "program": "XMetaL CDR",
                "comment": comment,
            }
        )
    return rows


def _publishing(
    w: _Writer,
    plan: PublishingPlan,
    documents: list[DemoDocument],
    users: dict[str, int],
    files: DataFiles,
) -> None:
    operators = "jay.patel@nci.example.org,lena.dubois@nci.example.org"
    output = files.folders.get("cdr", "")
    for job in plan.jobs:
        push = is_push(job.subset)
        w.row(
            schema.pub_proc,
            {
                "id": job.id,
                "pub_system": PRIMARY_SYSTEM,
                "pub_subset": job.subset,
                "usr": users[PUBLISHING_USER],
                "output_dir": "" if push else f"{output}/Output/Job{job.id}",
                "started": job.started,
                "completed": job.completed,
                "status": job.status,
                "messages": f"[{job.completed or job.started}] {job.messages}"
                if job.messages
                else None,
                "email": job.email or operators,
                "external": "N",
                "no_output": "Y" if push else "N",
            },
        )
        parms = _job_parms(job.subset, push) | job.parms
        w.rows(
            schema.pub_proc_parm,
            (
                {"id": n, "pub_proc": job.id, "parm_name": name, "parm_value": value}
                for n, (name, value) in enumerate(parms.items(), start=1)
            ),
        )
        w.rows(
            schema.pub_proc_doc,
            (
                {
                    "pub_proc": job.id,
                    "doc_id": doc_id,
                    "doc_version": version,
                    "failure": None,
                    "messages": None,
                    "removed": "N",
                    "subdir": subdir,
                }
                for doc_id, version, subdir in job.docs
            ),
        )
    for doc in documents:
        version = doc.on_cancer_gov
        if version is None:
            continue
        w.row(
            schema.pub_proc_cg,
            {
                "id": doc.id,
                "pub_proc": plan.pushed_by[doc.id].id,
                "xml": doc.exported or version.xml,
                "force_push": "N",
                "cg_new": "N",
            },
        )


def _job_parms(subset: str, push: bool) -> dict[str, str]:
    if push:
        return {
            "SubSetName": subset.split("_")[-1],
            "DrupalServer": "",
            "InteractiveMode": "No",
        }
    return {
        "PubType": "Export",
        "ReportOnly": "No",
        "InteractiveMode": "No",
        "ValidateDocs": "Yes",
        "DTDFileName": "pdqCG.dtd",
        "MaxDocUpdatedDate": "JobStartDateTime",
        "MaxSummaryErrors": "3",
        "DrupalServer": "",
    }


def _batch_jobs(w: _Writer, files: DataFiles) -> None:
    for job in files.json("batch_jobs.json")["jobs"]:
        job_id = w.row(
            schema.batch_job,
            {
                "name": job["name"],
                "command": job["command"],
                "process_id": None,
                "started": to_datetime(job["started"]),
                "status_dt": to_datetime(job["status_dt"]),
                "status": job["status"],
                "email": job.get("email"),
                "progress": job.get("progress"),
            },
        )
        w.rows(
            schema.batch_job_parm,
            ({"job": job_id, "name": name, "value": value} for name, value in job["parms"]),
        )


def _scheduled_jobs(w: _Writer, files: DataFiles) -> None:
    w.rows(
        schema.scheduled_job,
        (
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"cdr-dagster-demo/{n}/{job['name']}"),
                "name": job["name"],
                "enabled": job["enabled"],
                "job_class": job["class"],
                "opts": json.dumps(job["opts"]),
                "schedule": None if job["schedule"] is None else json.dumps(job["schedule"]),
            }
            for n, job in enumerate(files.json("scheduled_jobs.json")["jobs"])
        ),
    )


def _translation(w: _Writer, files: DataFiles, users: dict[str, int]) -> None:
    data = files.json("translation.json")
    states: dict[str, dict[str, int]] = {}
    for table_name, values in data["states"].items():
        table = schema.metadata.tables[table_name]
        states[table_name] = {
            name: w.row(table, {"value_name": name, "value_pos": pos}) for name, pos in values
        }
    for job in data["glossary_translation_job"]:
        w.row(
            schema.glossary_translation_job,
            {
                "doc_id": job["doc_id"],
                "state_id": states["glossary_translation_state"][job["state"]],
                "state_date": to_datetime(job["state_date"]),
                "assigned_to": users[job["assigned_to"]],
                "comments": job.get("comments"),
            },
        )
    for job in data["media_translation_job"]:
        w.row(
            schema.media_translation_job,
            {
                "english_id": job["english_id"],
                "state_id": states["media_translation_state"][job["state"]],
                "state_date": to_datetime(job["state_date"]),
                "assigned_to": users[job["assigned_to"]],
                "comments": job.get("comments"),
            },
        )
    for job in data["summary_translation_job"]:
        w.row(
            schema.summary_translation_job,
            {
                "english_id": job["english_id"],
                "state_id": states["summary_translation_state"][job["state"]],
                "state_date": to_datetime(job["state_date"]),
                "change_type": states["summary_change_type"][job["change_type"]],
                "assigned_to": users[job["assigned_to"]],
                "comments": job.get("comments"),
                "notified": to_datetime(job.get("notified")),
            },
        )


def _ctl_rows(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(schema.ctl)).scalar_one()


def _control_values(w: _Writer, files: DataFiles) -> None:
    """Short values from ctl.csv, long ones from ``ctl--{group}--{name}.*`` files; a name set
    twice leaves its first value inactivated, as the CDR admin page does."""
    start = _ctl_rows(w.conn)
    moment = files.now - timedelta(days=400)
    for row in files.csv("ctl.csv"):
        moment += timedelta(days=1)
        set_control_value(w.conn, row["grp"], row["name"], row["val"], row["comment"], moment)
    for name in files.names("ctl--*"):
        group, key = name[len("ctl--") :].rsplit(".", 1)[0].split("--", 1)
        moment += timedelta(days=1)
        set_control_value(w.conn, group, key, files.text(name), f"Loaded from {name}", moment)
    w.counts[schema.ctl.name] += _ctl_rows(w.conn) - start


def _misc(w: _Writer, files: DataFiles, users: dict[str, int], actions: dict[str, int]) -> None:
    data = files.json("misc.json")
    usages = {
        usage["name"]: w.row(
            schema.external_map_usage,
            {
                "name": usage["name"],
                "auth_action": actions[usage["auth_action"]],
                "comment": usage["comment"],
            },
        )
        for usage in data["external_map_usage"]
    }
    w.rows(
        schema.external_map,
        (
            {
                "usage": usages[m["usage"]],
                "value": m["value"],
                "doc_id": m["doc_id"],
                "usr": users[m["usr"]],
                "last_mod": to_datetime(m["last_mod"]),
                "bogus": "N",
                "mappable": m.get("mappable", "Y"),
            }
            for m in data["external_map"]
        ),
    )
    for trial in data["ctgov_trials"]:
        w.row(
            schema.ctgov_trial,
            {
                "nct_id": trial["nct_id"],
                "trial_title": trial["title"],
                "trial_phase": trial["phase"],
                "first_received": to_datetime(trial["first_received"]),
            },
        )
        w.rows(
            schema.ctgov_trial_other_id,
            (
                {"nct_id": trial["nct_id"], "position": n, "other_id": other}
                for n, other in enumerate(trial["other_ids"], start=1)
            ),
        )
        w.rows(
            schema.ctgov_trial_sponsor,
            (
                {"nct_id": trial["nct_id"], "position": n, "sponsor": sponsor}
                for n, sponsor in enumerate(trial["sponsors"], start=1)
            ),
        )
    w.rows(
        schema.data_partner_notification,
        (
            {"email_addr": n["email_addr"], "notif_date": to_datetime(n["notif_date"])}
            for n in data["data_partner_notification"]
        ),
    )
    glossifier = data["glossifier"]
    w.row(
        schema.glossifier,
        {"pk": 1, "refreshed": to_datetime(glossifier["refreshed"]), "terms": glossifier["terms"]},
    )


def load_database(
    conn: Connection, files: DataFiles, documents: list[DemoDocument], plan: PublishingPlan
) -> dict[str, int]:
    """Write the whole demo content through ``conn``; returns rows written per table."""
    w = _Writer(conn)
    users = _users(w, files)
    types = _doc_types(w, files)
    actions = _actions(w, files)
    _documents(w, documents, types, users, actions, files.lines("query_term_def.txt"), files)
    _publishing(w, plan, documents, users, files)
    _batch_jobs(w, files)
    _scheduled_jobs(w, files)
    _translation(w, files, users)
    _control_values(w, files)
    _misc(w, files, users, actions)
    _filters(conn, files)
    _schemas(conn, files)
    return dict(w.counts)


#: The demo's schema documents (``data/schemas``): title -> the document type it is the
#: schema of (None: included by the others).
DEMO_SCHEMAS = {
    "CdrCommonSchema.xml": None,
    "DrugInformationSummary.xml": "DrugInformationSummary",
    "Licensee.xml": "Licensee",
    "Media.xml": "Media",
}


def _schemas(conn: Connection, files: DataFiles) -> None:
    """The XML schemas document saves validate against, stored as ``schema`` documents."""
    from cdr_dagster.cdr.validation import install_schema

    for title, type_name in DEMO_SCHEMAS.items():
        xml = files.path(f"schemas/{title}").read_text(encoding="utf-8")
        install_schema(conn, title, xml, doc_types=(type_name,) if type_name else (), now=files.now)


def _filters(conn: Connection, files: DataFiles) -> None:
    """The dictionary loaders' XSLT filters, stored in the CDR as Filter documents."""
    from cdr_dagster.cdr.dictionaries.filters import PACKAGED_FILTERS, install_filter

    for title in PACKAGED_FILTERS:
        install_filter(conn, title, now=files.now)
