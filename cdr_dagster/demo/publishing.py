"""The demo's publishing history: which job pushed which document version to Cancer.gov.

``data/publishing.json`` lists the ``pub_proc`` jobs. :func:`plan_publishing` decides, for each
document on Cancer.gov, which push job sent its current version (the first successful push that
started after the version was saved) and which export produced it (the latest successful export
of the matching subset before that push), so that ``pub_proc_cg``, ``pub_proc_doc`` and the
version tables tell one consistent story.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cdr_dagster.demo.documents import DemoDocument
from cdr_dagster.demo.templates import to_datetime

PUSH_PREFIX = "push_documents_to_cancer.gov_"
PRIMARY_SYSTEM = 178

#: Sub-folder of an export job's output for each document type (cdrpub export specifications).
EXPORT_SUBDIRS = {
    "DrugInformationSummary": "DrugInfoSummary",
    "GlossaryTermName": "GlossaryTerm",
    "Media": "Media",
    "Summary": "Summary",
    "Term": "Terminology",
}


def is_push(subset: str) -> bool:
    """True for a push job's subset (``Push_Documents_To_Cancer.Gov_...``, any case)."""
    return subset.lower().startswith(PUSH_PREFIX)


@dataclass
class PubJob:
    """One ``pub_proc`` row and the documents it handled."""

    id: int
    subset: str
    started: datetime
    completed: datetime | None
    status: str
    messages: str | None
    email: str | None
    parms: dict[str, str]
    docs: list[tuple[int, int, str]] = field(default_factory=list)  # (doc_id, version, subdir)
    explicit_messages: bool = False

    @property
    def push(self) -> bool:
        """True when the job is a push to Cancer.gov."""
        return is_push(self.subset)


@dataclass
class PublishingPlan:
    """The jobs, and for each document on Cancer.gov the push job that sent it."""

    jobs: list[PubJob]
    pushed_by: dict[int, PubJob]

    def job(self, job_id: int) -> PubJob:
        """The job with id ``job_id``."""
        return next(j for j in self.jobs if j.id == job_id)

    def latest_export(self) -> PubJob | None:
        """The newest successful weekly ``Export`` job (what the partner notice reports on)."""
        exports = [j for j in self.jobs if j.subset == "Export" and j.status == "Success"]
        return exports[-1] if exports else None

    def previous_export(self, job: PubJob) -> PubJob | None:
        """The successful weekly ``Export`` before ``job``."""
        exports = [
            j for j in self.jobs if j.subset == "Export" and j.status == "Success" and j.id < job.id
        ]
        return exports[-1] if exports else None


def _export_for(push: PubJob, jobs: list[PubJob]) -> PubJob | None:
    subset = push.subset[len(PUSH_PREFIX) :].lower()
    candidates = [
        j for j in jobs if j.id < push.id and j.status == "Success" and j.subset.lower() == subset
    ]
    return candidates[-1] if candidates else None


def _job(raw: dict) -> PubJob:
    started = to_datetime(raw["started"])
    if started is None:
        raise ValueError(f"publishing job {raw.get('id')} has no start time")
    return PubJob(
        id=int(raw["id"]),
        subset=raw["subset"],
        started=started,
        completed=to_datetime(raw.get("completed")),
        status=raw["status"],
        messages=raw.get("messages"),
        email=raw.get("email"),
        parms=dict(raw.get("parms", {})),
        docs=[],
        explicit_messages="messages" in raw,
    )


def plan_publishing(raw_jobs: Iterable[dict], documents: Iterable[DemoDocument]) -> PublishingPlan:
    """Assign every document on Cancer.gov to the push (and export) that published it."""
    raw_jobs = list(raw_jobs)
    jobs = sorted((_job(raw) for raw in raw_jobs), key=lambda j: j.id)
    by_id = {j.id: j for j in jobs}
    for raw in raw_jobs:
        for doc_id, version in raw.get("docs", []):
            by_id[int(raw["id"])].docs.append((int(doc_id), int(version), ""))
    pushes = sorted((j for j in jobs if j.push and j.status == "Success"), key=lambda j: j.started)
    if not pushes:
        raise ValueError("the demo publishing history needs at least one successful push")
    pushed_by: dict[int, PubJob] = {}
    for document in documents:
        version = document.on_cancer_gov
        if version is None:
            continue
        push = next((p for p in pushes if p.started > version.dt), pushes[-1])
        subdir = EXPORT_SUBDIRS.get(document.doc_type, document.doc_type)
        push.docs.append((document.id, version.num, ""))
        export = _export_for(push, jobs)
        if export is not None:
            export.docs.append((document.id, version.num, subdir))
        pushed_by[document.id] = push
    for job in jobs:
        if job.status == "Success" and not job.explicit_messages and job.completed:
            seconds = int((job.completed - job.started).total_seconds())
            verb = "Pushed" if job.push else "Exported"
            job.messages = f"{verb} {len(job.docs)} documents in {seconds} seconds"
    return PublishingPlan(jobs=jobs, pushed_by=pushed_by)


def weekly_changes(
    plan: PublishingPlan, documents: Iterable[DemoDocument], export: PubJob
) -> dict[str, dict[str, int]]:
    """Added/modified/removed counts per exported type for the week ending with ``export``.

    This is what ``sftp-export-data.py`` writes to the ``YYYYWW.changes`` file: documents first
    published since the previous weekly export are added, documents whose version on
    Cancer.gov was saved in that window are modified.
    """
    previous = plan.previous_export(export)
    start = previous.started if previous else datetime.min
    counts = {
        subdir: {"added": 0, "modified": 0, "removed": 0} for subdir in EXPORT_SUBDIRS.values()
    }
    for document in documents:
        version = document.on_cancer_gov
        subdir = EXPORT_SUBDIRS.get(document.doc_type)
        if version is None or subdir is None:
            continue
        if document.first_pub and start < document.first_pub <= export.started:
            counts[subdir]["added"] += 1
        elif start < version.dt <= export.started:
            counts[subdir]["modified"] += 1
    return counts
