"""The global change harness: apply one transformation to many CDR documents
(docs/behaviour-notes.md#global-change).

For each document, the transformation is applied to the current working copy (CWD), the last
version and the last publishable version, and the results are saved the way the CDR's
``ModifyDocs`` harness saved them:

1. ``old cwd``: before anything else, a CWD holding edits that were never versioned (it differs
   from the last version, or there is no version) is kept as a new non-publishable version,
   so no one's unversioned work is lost;
2. ``new pub``: the transformed last publishable version, if it changed, becomes a new
   publishable version;
3. ``new ver``: the transformed last version, if it is not the publishable one and changed,
   becomes a new non-publishable version;
4. ``new cwd``: the transformed CWD, if it differs from what was saved last (or from the CWD),
   becomes the working copy, without a version.

Two XML strings "differ" when they differ once parsed and serialized again, so quoting and
spacing inside tags are ignored but text is not. Every save is
:func:`cdr_dagster.cdr.documents.save_document` with the job's comment as comment and audit reason,
so each new version is validated against its document type's schema (validation status ``V``)
and a change that leaves a version invalid is refused, naming the document and the first error:
the document is left as it was and reported as failed.

What differs from the legacy harness, on purpose:

- all saves of one document are one transaction: a failing save leaves the document exactly as
  it was (no half-saved document, nothing checked out); the failure is recorded and the run
  goes on with the next document (the legacy stopped at the first error and left the failing
  document checked out);
- a document checked out by another user is skipped and reported ("could not lock"); in test
  mode it is still written out for review and marked as one a live run would skip;
- test mode never touches the database (the legacy still checked documents in, which could
  break another user's lock or abort the run);
- test-mode files are written to a temporary name and renamed, so a file is never half written.

Test mode writes, per document, into the run's output folder, for each kind T of version that a
live run would save (``cwd`` always, ``pub`` and ``lastv`` when they change):
``CDR{id:010d}.{T}old.xml``, ``CDR{id:010d}.{T}new.xml`` and ``CDR{id:010d}.{T}.diff`` (the changed
lines of a normalized rendering, one element per line, or ``-- No differences --``).
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from lxml import etree
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from cdr_dagster.cdr.documents import (
    CheckedOutError,
    DocumentVersion,
    checked_out_by,
    document_version,
    format_cdr_id,
    latest_publishable_version,
    save_document,
)
from cdr_dagster.cdr.schema import all_doc_versions, document
from cdr_dagster.cdr.validation import SchemaCache
from cdr_dagster.cdr.xml import parse_xml

#: What a transformation gets (document id, XML of one version) and returns (the new XML).
Transform = Callable[[int, str], str]

OLD_CWD, NEW_PUB, NEW_VER, NEW_CWD = "old cwd", "new pub", "new ver", "new cwd"
SAVE_KINDS = (OLD_CWD, NEW_PUB, NEW_VER, NEW_CWD)
NO_DIFFERENCES = "-- No differences --\n"


class Log(Protocol):
    """The logger interface the harness writes to (Dagster's or the standard library's)."""

    def info(self, msg: str) -> object: ...

    def warning(self, msg: str) -> object: ...

    def error(self, msg: str) -> object: ...


def canonical(xml: str, name: str = "document") -> bytes:
    """A document parsed and serialized again, for comparisons (quoting, spacing inside tags,
    the XML declaration and the encoding no longer matter; text, order and values do).

    Not C14N: libxml2 refuses to canonicalize the CDR's relative namespace URI."""
    return etree.tostring(parse_xml(xml, name=name), encoding="utf-8")


def differ(old: str, new: str, name: str = "document") -> bool:
    """True when two serializations are not the same document."""
    return canonical(old, name) != canonical(new, name)


# ---------------------------------------------------------------------------------------------
# Planning one document
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Save:
    """One save a live run makes."""

    kind: str
    xml: str
    version: bool
    publishable: bool


@dataclass(frozen=True)
class Pair:
    """A before/after pair a test run writes (``cwd``, ``pub`` or ``lastv``)."""

    kind: str
    old: str
    new: str


@dataclass(frozen=True)
class Plan:
    """What the change means for one document."""

    saves: tuple[Save, ...]
    pairs: tuple[Pair, ...]


@dataclass(frozen=True)
class WorkingCopy:
    """The current working copy as the harness needs it."""

    xml: str


def plan_document(
    doc_id: int,
    cwd: WorkingCopy,
    last: DocumentVersion | None,
    last_publishable: DocumentVersion | None,
    transform: Transform,
) -> Plan:
    """The saves (and test pairs) the transformation calls for (see the module doc)."""
    name = format_cdr_id(doc_id)
    unversioned = last is None or differ(cwd.xml, last.xml, name)
    new_cwd = transform(doc_id, cwd.xml)
    pairs = [Pair("cwd", cwd.xml, new_cwd)]
    saves: list[Save] = []
    last_saved: str | None = None
    new_last = None
    if last is not None:
        new_last = transform(doc_id, last.xml) if unversioned else new_cwd
    same = last_publishable is not None and last is not None and last_publishable.num == last.num
    if last_publishable is not None:
        new_pub = new_last if same else transform(doc_id, last_publishable.xml)
        assert new_pub is not None
        if differ(last_publishable.xml, new_pub, name):
            pairs.append(Pair("pub", last_publishable.xml, new_pub))
            saves.append(Save(NEW_PUB, new_pub, True, True))
            last_saved = new_pub
    if last is not None and not same and new_last is not None and differ(last.xml, new_last, name):
        pairs.append(Pair("lastv", last.xml, new_last))
        saves.append(Save(NEW_VER, new_last, True, False))
        last_saved = new_last
    if differ(last_saved if last_saved is not None else cwd.xml, new_cwd, name):
        saves.append(Save(NEW_CWD, new_cwd, False, False))
    if saves and unversioned:
        saves.insert(0, Save(OLD_CWD, cwd.xml, True, False))
    return Plan(tuple(saves), tuple(pairs))


def _last_version(conn: Connection, doc_id: int) -> DocumentVersion | None:
    num = conn.execute(
        select(all_doc_versions.c.num)
        .where(all_doc_versions.c.id == doc_id)
        .order_by(all_doc_versions.c.num.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if num is None else document_version(conn, doc_id, num)


def _working_copy(conn: Connection, doc_id: int) -> WorkingCopy | None:
    row = conn.execute(select(document.c.xml).where(document.c.id == doc_id)).first()
    return None if row is None else WorkingCopy(row.xml)


# ---------------------------------------------------------------------------------------------
# Test-mode output
# ---------------------------------------------------------------------------------------------


def _flat(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _rendered_name(name: str) -> str:
    qname = etree.QName(name)
    return f"cdr:{qname.localname}" if qname.namespace == "cips.nci.nih.gov/cdr" else name


def normalized_lines(xml: str) -> list[str]:
    """A document laid out one element per line, one space of indent per level, attributes
    sorted, ``cdr:`` prefixes and whitespace collapsed (for diffs a reviewer can read)."""
    lines: list[str] = []

    def render(element: etree._Element, depth: int) -> None:
        pad = " " * depth
        named = sorted((_rendered_name(k), v) for k, v in element.attrib.items())
        attributes = "".join(f' {name}="{value}"' for name, value in named)
        tag = etree.QName(element).localname
        children = [child for child in element if isinstance(child.tag, str)]
        text = _flat(element.text)
        if not children:
            lines.append(
                f"{pad}<{tag}{attributes}>{text}</{tag}>" if text else f"{pad}<{tag}{attributes}/>"
            )
        else:
            lines.append(f"{pad}<{tag}{attributes}>")
            if text:
                lines.append(f"{pad} {text}")
            for child in children:
                render(child, depth + 1)
            lines.append(f"{pad}</{tag}>")
        tail = _flat(element.tail) if depth else ""
        if tail:
            lines.append(f"{pad}{tail}")

    render(parse_xml(xml), 0)
    return [f"{line}\n" for line in lines]


def xml_diff(old: str, new: str) -> str:
    """The changed lines (``- ``/``+ ``/``? ``) between two normalized documents."""
    changed = [
        line
        for line in difflib.ndiff(normalized_lines(old), normalized_lines(new))
        if not line.startswith(" ")
    ]
    return "".join(changed) or NO_DIFFERENCES


def _write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_pairs(folder: Path, doc_id: int, pairs: Iterable[Pair]) -> list[str]:
    """Write each pair's old, new and diff files; return the file names written."""
    stem = format_cdr_id(doc_id)
    names = []
    for pair in pairs:
        files = {
            f"{stem}.{pair.kind}old.xml": pair.old,
            f"{stem}.{pair.kind}new.xml": pair.new,
            f"{stem}.{pair.kind}.diff": xml_diff(pair.old, pair.new),
        }
        for name, text in files.items():
            _write(folder / name, text)
            names.append(name)
    return names


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class DocumentOutcome:
    """What happened to one document."""

    doc_id: int
    saved: dict[str, int | None] = field(default_factory=dict)
    would_save: tuple[str, ...] = ()
    checked_out_by: str | None = None
    error: str | None = None
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def cdr_id(self) -> str:
        """``CDR0000012345``."""
        return format_cdr_id(self.doc_id)

    @property
    def changed(self) -> bool:
        """Whether the document was (or, in test mode, would be) saved."""
        return bool(self.saved or self.would_save)


@dataclass
class GlobalChangeResult:
    """What a run did, for the run's metadata."""

    test_mode: bool
    comment: str
    output_folder: Path | None
    documents: list[DocumentOutcome] = field(default_factory=list)

    @property
    def changed(self) -> list[DocumentOutcome]:
        """Documents saved (or, in test mode, that would be)."""
        return [d for d in self.documents if d.changed and d.error is None]

    @property
    def locked(self) -> list[DocumentOutcome]:
        """Documents checked out by another user (skipped in live mode)."""
        return [d for d in self.documents if d.checked_out_by is not None]

    @property
    def failed(self) -> list[DocumentOutcome]:
        """Documents whose change failed (and was rolled back)."""
        return [d for d in self.documents if d.error is not None]

    def save_counts(self) -> dict[str, int]:
        """Documents per kind of save (``old cwd``, ``new pub``, ``new ver``, ``new cwd``)."""
        counts: Counter[str] = Counter()
        for outcome in self.documents:
            counts.update(list(outcome.would_save if self.test_mode else outcome.saved))
        return {kind: counts[kind] for kind in SAVE_KINDS if counts[kind]}


@dataclass(frozen=True)
class GlobalChange:
    """One global change: which transformation, by whom, why, and in which mode."""

    transform: Transform
    user: str
    comment: str
    test_mode: bool = True
    output_folder: Path | None = None
    program: str = "cdr-dagster"
    #: the schemas each save validates against, compiled once for the run
    schemas: SchemaCache = field(default_factory=SchemaCache)


def output_folder(basedir: Path, started: datetime) -> Path:
    """``{basedir}/GlobalChange/{YYYY-MM-DD_HH-MM-SS}``, where a test run writes its files."""
    return basedir / "GlobalChange" / started.strftime("%Y-%m-%d_%H-%M-%S")


def run_global_change(
    engine: Engine, doc_ids: Iterable[int], change: GlobalChange, log: Log
) -> GlobalChangeResult:
    """Apply ``change`` to each document in turn; one document's failure stops no other."""
    if change.test_mode:
        if change.output_folder is None:
            raise ValueError("a test run needs an output folder for its before/after files")
        change.output_folder.mkdir(parents=True, exist_ok=True)
        log.info(f"test run: before/after files go to {change.output_folder}")
    else:
        log.info("live run: changed documents are saved in the CDR")
    log.info(f"purpose: {change.comment!r}")
    result = GlobalChangeResult(change.test_mode, change.comment, change.output_folder)
    for doc_id in doc_ids:
        outcome = DocumentOutcome(doc_id)
        result.documents.append(outcome)
        try:
            if change.test_mode:
                _try_document(engine, outcome, change, log)
            else:
                _change_document(engine, outcome, change, log)
        except CheckedOutError as exc:
            outcome.checked_out_by = exc.holder
            log.warning(f"{outcome.cdr_id} skipped: checked out by {exc.holder}")
        except Exception as exc:  # noqa: BLE001 - one document's failure must not stop the run
            outcome.error = f"{type(exc).__name__}: {exc}"
            outcome.saved.clear()
            log.error(f"{outcome.cdr_id}: {outcome.error}; nothing of it was saved")
    log.info(
        f"docs examined {len(result.documents)}, changed {len(result.changed)}, "
        f"could not lock {len(result.locked)}, errors {len(result.failed)}; "
        f"saves {result.save_counts()}"
    )
    return result


def _read(
    conn: Connection, doc_id: int
) -> tuple[WorkingCopy, DocumentVersion | None, DocumentVersion | None]:
    cwd = _working_copy(conn, doc_id)
    if cwd is None:
        raise LookupError(f"{format_cdr_id(doc_id)} does not exist or is deleted")
    return cwd, _last_version(conn, doc_id), latest_publishable_version(conn, doc_id)


def _try_document(engine: Engine, outcome: DocumentOutcome, change: GlobalChange, log: Log) -> None:
    assert change.output_folder is not None
    with engine.connect() as conn:
        holder = checked_out_by(conn, outcome.doc_id)
        cwd, last, publishable = _read(conn, outcome.doc_id)
        conn.rollback()
    plan = plan_document(outcome.doc_id, cwd, last, publishable, change.transform)
    outcome.files = write_pairs(change.output_folder, outcome.doc_id, plan.pairs)
    outcome.would_save = tuple(save.kind for save in plan.saves)
    if holder is not None and holder.lower() != change.user.lower():
        outcome.checked_out_by = holder
        log.warning(f"{outcome.cdr_id} is checked out by {holder}; a live run would skip it")
    log.info(f"{outcome.cdr_id}: would save {', '.join(outcome.would_save) or 'nothing'}")


def _change_document(
    engine: Engine, outcome: DocumentOutcome, change: GlobalChange, log: Log
) -> None:
    with engine.begin() as conn:
        holder = checked_out_by(conn, outcome.doc_id)
        if holder is not None and holder.lower() != change.user.lower():
            raise CheckedOutError(outcome.doc_id, holder, change.user)
        cwd, last, publishable = _read(conn, outcome.doc_id)
        plan = plan_document(outcome.doc_id, cwd, last, publishable, change.transform)
        for save in plan.saves:
            saved = save_document(
                conn,
                outcome.doc_id,
                save.xml,
                user=change.user,
                comment=change.comment,
                version=save.version,
                publishable=save.publishable,
                program=change.program,
                schemas=change.schemas,
            )
            outcome.saved[save.kind] = saved.version
            outcome.warnings.extend(saved.warnings)
            for warning in saved.warnings:
                log.warning(warning)
    if outcome.saved:
        done = ", ".join(
            f"{kind} (version {num})" if num else kind for kind, num in outcome.saved.items()
        )
        log.info(f"{outcome.cdr_id}: saved {done}")
    else:
        log.info(f"{outcome.cdr_id}: unchanged")
