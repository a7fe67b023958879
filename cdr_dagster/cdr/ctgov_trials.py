"""Recent ClinicalTrials.gov trials in the CDR: the search, the mapping and the stored rows.

The CDR keeps the cancer-relevant trials registered at ClinicalTrials.gov since a cutoff in
``ctgov_trial`` (one row per NCT ID), ``ctgov_trial_other_id`` and ``ctgov_trial_sponsor``
(numbered sub-rows); the CDR admin's "Recent CT.gov Protocols" report reads them
(docs/behaviour-notes.md#recent-ctgov-trials).

- :func:`default_cutoff`: a year (365 days) before the latest ``first_received``, or
  2015-01-01 when the table is empty (the fallback the legacy documented but never reached);
- :func:`search_parameters`: the ``/api/v2/studies`` query (conditions, NCI as sponsor, the
  first-submitted range, the fields, 1,000 studies a page);
- :func:`trial_from_study` / :func:`select_trials`: one API study to one :class:`Trial`,
  validated before anything is written so no single study can fail a database statement;
- :func:`store_trials`: inserts the new trials and updates the known ones whose data changed
  (their sub-rows are replaced), so re-runs never duplicate. It writes in the caller's
  transaction and issues only portable Core statements (no dialect upsert).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.schema import ctgov_trial, ctgov_trial_other_id, ctgov_trial_sponsor
from cdr_dagster.cdr.sql import folded

#: Used when ``ctgov_trial`` is empty (the first run).
FALLBACK_CUTOFF = date(2015, 1, 1)
#: How far before the latest recorded trial the next search starts.
CUTOFF_WINDOW = timedelta(days=365)
#: Conditions searched. The legacy wrote "myelodysplastic+syndromes" into a URL it did not
#: encode, where the plus reaches the server as a space; we send the space (encoded as "+").
CONDITIONS = (
    "cancer",
    "lymphedema",
    "myelodysplastic syndromes",
    "neutropenia",
    "aspergillosis",
    "mucositis",
    "neoplasm",
)
DISEASES = ("cancer", "neoplasm")
SPONSOR = "National Cancer Institute"
FIELDS = (
    "NCTId",
    "OrgStudyId",
    "SecondaryId",
    "OfficialTitle",
    "BriefTitle",
    "Phase",
    "StudyFirstSubmitDate",
    "SponsorCollaboratorsModule",
)
PAGE_SIZE = 1000
PHASES = {
    "NA": "N/A",
    "EARLY_PHASE1": "Early Phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
}
#: Column widths of the CDR tables (longer values are cut, as the legacy did).
NCT_ID_WIDTH = 11
TITLE_WIDTH = 1024
PHASE_WIDTH = 20
OTHER_ID_WIDTH = 1024
SPONSOR_WIDTH = 1024
#: NCT IDs per ``IN (...)`` list (SQL Server accepts at most 2,100 parameters a statement).
LOOKUP_CHUNK = 500


class StudyError(ValueError):
    """A study from the API cannot be stored; the message says why."""


@dataclass(frozen=True)
class Cutoff:
    """The first-submitted date the search starts from, and where it came from."""

    day: date
    source: str


@dataclass(frozen=True)
class Trial:
    """One trial as the CDR tables hold it (values already cut to the column widths)."""

    nct_id: str
    title: str
    phase: str | None
    first_received: date
    other_ids: tuple[str, ...] = ()
    sponsors: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedStudy:
    """A study that was not stored, with its NCT ID (if any) and the reason."""

    nct_id: str | None
    reason: str


@dataclass(frozen=True)
class Selection:
    """The trials of a search, each NCT ID once, and the studies that could not be used."""

    trials: list[Trial]
    skipped: list[SkippedStudy]
    duplicates: int


@dataclass
class StoreResult:
    """What :func:`store_trials` wrote."""

    inserted: list[Trial] = field(default_factory=list)
    updated: list[Trial] = field(default_factory=list)
    unchanged: int = 0

    @property
    def earliest_new(self) -> date | None:
        """The smallest ``first_received`` of the inserted trials (the legacy logged it)."""
        return min((t.first_received for t in self.inserted), default=None)


def parse_cutoff(text: str) -> date:
    """The date of a ``YYYY-MM-DD`` cutoff option; ValueError naming the value otherwise."""
    try:
        if len(text.strip()) != 10:
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"cutoff {text!r} is not a date in the form YYYY-MM-DD") from None


def default_cutoff(conn: Connection) -> Cutoff:
    """365 days before the latest ``ctgov_trial.first_received``; 2015-01-01 if there is none."""
    latest = conn.execute(select(func.max(ctgov_trial.c.first_received))).scalar_one()
    if latest is None:
        return Cutoff(FALLBACK_CUTOFF, "no trial recorded yet: the 2015-01-01 fallback")
    latest_day = latest.date() if isinstance(latest, datetime) else latest
    return Cutoff(
        latest_day - CUTOFF_WINDOW, f"365 days before the latest first_received, {latest_day}"
    )


def query_term(cutoff: date) -> str:
    """The Essie ``query.term``: cancer conditions or NCI sponsorship, submitted since cutoff."""
    conditions = f"AREA[Condition]({' OR '.join(CONDITIONS)})"
    diseases = f"AREA[ConditionSearch]({' OR '.join(DISEASES)})"
    sponsor = f"AREA[SponsorSearch]({SPONSOR})"
    submitted = f"AREA[StudyFirstSubmitDate]RANGE[{cutoff.isoformat()},MAX]"
    return f"({conditions} OR {diseases} OR {sponsor}) AND {submitted}"


def search_parameters(cutoff: date) -> dict[str, str]:
    """The query parameters of ``GET /api/v2/studies`` (the page token is the client's)."""
    return {
        "query.term": query_term(cutoff),
        "fields": ",".join(FIELDS),
        "pageSize": str(PAGE_SIZE),
    }


def map_phases(phases: Iterable[Any] | None) -> str | None:
    """``["PHASE2", "PHASE1"]`` -> ``"Phase 1/Phase 2"``; no phase gives None."""
    names = []
    for phase in phases or ():
        value = str(phase or "").strip()
        if value:
            names.append(PHASES.get(value, value))
    return "/".join(sorted(names)) or None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first_received(value: Any, nct_id: str) -> date:
    text = _text(value)
    if not text:
        raise StudyError(f"{nct_id} has no studyFirstSubmitDate")
    try:
        if len(text) == 7:  # the API gives a month alone for some partial dates
            return date.fromisoformat(f"{text}-01")
        return date.fromisoformat(text[:10])
    except ValueError:
        raise StudyError(f"{nct_id} has a studyFirstSubmitDate that is no date: {text!r}") from None


def trial_from_study(study: Mapping[str, Any]) -> Trial:
    """The :class:`Trial` of one ``studies[]`` entry; StudyError when it cannot be stored."""
    protocol = _mapping(_mapping(study).get("protocolSection"))
    ident = _mapping(protocol.get("identificationModule"))
    nct_id = _text(ident.get("nctId")).upper()
    if not nct_id:
        raise StudyError("a study has no nctId")
    if len(nct_id) > NCT_ID_WIDTH:
        raise StudyError(f"nctId {nct_id!r} is longer than {NCT_ID_WIDTH} characters")
    title = _text(ident.get("briefTitle")) or _text(ident.get("officialTitle"))
    if not title:
        raise StudyError(f"{nct_id} has neither a briefTitle nor an officialTitle")
    status = _mapping(protocol.get("statusModule"))
    first_received = _first_received(status.get("studyFirstSubmitDate"), nct_id)
    phase = map_phases(_list(_mapping(protocol.get("designModule")).get("phases")))
    other_ids = [_text(_mapping(ident.get("orgStudyIdInfo")).get("id"))]
    other_ids += [_text(_mapping(info).get("id")) for info in _list(ident.get("secondaryIdInfos"))]
    sponsors_module = _mapping(protocol.get("sponsorCollaboratorsModule"))
    sponsors = [_text(_mapping(sponsors_module.get("leadSponsor")).get("name"))]
    sponsors += [
        _text(_mapping(c).get("name")) for c in _list(sponsors_module.get("collaborators"))
    ]
    return Trial(
        nct_id=nct_id,
        title=title[:TITLE_WIDTH],
        phase=phase[:PHASE_WIDTH] if phase else None,
        first_received=first_received,
        other_ids=tuple(value[:OTHER_ID_WIDTH] for value in other_ids if value),
        sponsors=tuple(value[:SPONSOR_WIDTH] for value in sponsors if value),
    )


def select_trials(studies: Iterable[Mapping[str, Any]]) -> Selection:
    """The storable trials of ``studies``, each NCT ID once (the first occurrence wins, as
    when a study moves between pages during paging), and the studies left out."""
    trials: dict[str, Trial] = {}
    skipped: list[SkippedStudy] = []
    duplicates = 0
    for study in studies:
        try:
            trial = trial_from_study(study)
        except StudyError as exc:
            nct = _text(
                _mapping(
                    _mapping(_mapping(study).get("protocolSection")).get("identificationModule")
                ).get("nctId")
            )
            skipped.append(SkippedStudy(nct or None, str(exc)))
            continue
        if trial.nct_id in trials:
            duplicates += 1
            continue
        trials[trial.nct_id] = trial
    return Selection(list(trials.values()), skipped, duplicates)


def _chunks(items: Sequence[Trial], size: int) -> Iterator[Sequence[Trial]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _as_datetime(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _stored(conn: Connection, trials: Sequence[Trial]) -> dict[str, Trial]:
    """The stored rows of those of ``trials`` already recorded, keyed by upper-cased NCT ID;
    each Trial carries the NCT ID as stored (the CDR compares them case-insensitively)."""
    wanted = [t.nct_id.lower() for t in trials]
    rows = conn.execute(select(ctgov_trial).where(folded(ctgov_trial.c.nct_id).in_(wanted)))
    found = {row.nct_id: row for row in rows}
    if not found:
        return {}
    children: dict[str, dict[str, list[str]]] = {key: {"ids": [], "sponsors": []} for key in found}
    for table, column, kind in (
        (ctgov_trial_other_id, ctgov_trial_other_id.c.other_id, "ids"),
        (ctgov_trial_sponsor, ctgov_trial_sponsor.c.sponsor, "sponsors"),
    ):
        query = (
            select(table.c.nct_id, column)
            .where(table.c.nct_id.in_(list(found)))
            .order_by(table.c.nct_id, table.c.position)
        )
        for nct_id, value in conn.execute(query):
            if nct_id in children:
                children[nct_id][kind].append(value)
    stored = {}
    for key, row in found.items():
        received = row.first_received
        stored[key.upper()] = Trial(
            nct_id=key,
            title=row.trial_title,
            phase=row.trial_phase,
            first_received=received.date() if isinstance(received, datetime) else received,
            other_ids=tuple(children[key]["ids"]),
            sponsors=tuple(children[key]["sponsors"]),
        )
    return stored


def _child_rows(stored_id: str, trial: Trial, kind: str) -> list[dict[str, Any]]:
    values, column = (trial.other_ids, "other_id") if kind == "ids" else (trial.sponsors, "sponsor")
    return [
        {"nct_id": stored_id, "position": n, column: value} for n, value in enumerate(values, 1)
    ]


def store_trials(conn: Connection, trials: Sequence[Trial]) -> StoreResult:
    """Insert the new trials with their sub-rows, and bring known ones up to date.

    A known trial (same NCT ID, compared case-insensitively) is updated only where the API
    now says something else: its row, and its other-ID and sponsor rows, which are replaced
    as a whole when their list changed. Runs in the caller's transaction.
    """
    result = StoreResult()
    for chunk in _chunks(trials, LOOKUP_CHUNK):
        stored = _stored(conn, chunk)
        new_rows: list[dict[str, Any]] = []
        new_children: dict[str, list[dict[str, Any]]] = {"ids": [], "sponsors": []}
        for trial in chunk:
            old = stored.get(trial.nct_id)
            if old is None:
                new_rows.append(
                    {
                        "nct_id": trial.nct_id,
                        "trial_title": trial.title,
                        "trial_phase": trial.phase,
                        "first_received": _as_datetime(trial.first_received),
                    }
                )
                for kind in new_children:
                    new_children[kind] += _child_rows(trial.nct_id, trial, kind)
                result.inserted.append(trial)
                continue
            if _update(conn, old, trial):
                result.updated.append(trial)
            else:
                result.unchanged += 1
        if new_rows:
            conn.execute(insert(ctgov_trial), new_rows)
        if new_children["ids"]:
            conn.execute(insert(ctgov_trial_other_id), new_children["ids"])
        if new_children["sponsors"]:
            conn.execute(insert(ctgov_trial_sponsor), new_children["sponsors"])
    return result


def _update(conn: Connection, old: Trial, new: Trial) -> bool:
    """Write what differs between the stored ``old`` and the fetched ``new``; True if any."""
    key = old.nct_id
    changed = False
    if (old.title, old.phase, old.first_received) != (new.title, new.phase, new.first_received):
        conn.execute(
            update(ctgov_trial)
            .where(ctgov_trial.c.nct_id == key)
            .values(
                trial_title=new.title,
                trial_phase=new.phase,
                first_received=_as_datetime(new.first_received),
            )
        )
        changed = True
    for kind, table, before, after in (
        ("ids", ctgov_trial_other_id, old.other_ids, new.other_ids),
        ("sponsors", ctgov_trial_sponsor, old.sponsors, new.sponsors),
    ):
        if before == after:
            continue
        conn.execute(delete(table).where(table.c.nct_id == key))
        rows = _child_rows(key, new, kind)
        if rows:
            conn.execute(insert(table), rows)
        changed = True
    return changed


def trials_without_sponsors(conn: Connection, limit: int = 50) -> tuple[int, list[str]]:
    """How many recorded trials have no sponsor row, and the first ``limit`` of their NCT IDs."""
    missing = (
        ~select(ctgov_trial_sponsor.c.nct_id)
        .where(ctgov_trial_sponsor.c.nct_id == ctgov_trial.c.nct_id)
        .exists()
    )
    count = conn.execute(select(func.count()).select_from(ctgov_trial).where(missing)).scalar_one()
    ids = conn.execute(
        select(ctgov_trial.c.nct_id).where(missing).order_by(ctgov_trial.c.nct_id).limit(limit)
    ).scalars()
    return count, list(ids)
