"""Recent ClinicalTrials.gov trials recorded in the CDR (legacy ``recent_trials.RefreshTask``).

``recent_ctgov_trials`` (docs/behaviour-notes.md#recent-ctgov-trials) searches the
ClinicalTrials.gov API v2 for studies of
cancer-related conditions or sponsored by NCI, first submitted on or after the cutoff, and
records them in ``ctgov_trial``, ``ctgov_trial_other_id`` and ``ctgov_trial_sponsor`` (read by
the CDR admin's "Recent CT.gov Protocols" report). Daily; no mail.

- Cutoff: the ``cutoff`` option, else 365 days before the latest recorded ``first_received``,
  else (empty table) 2015-01-01 (the legacy crashed there instead).
- New trials are inserted; trials already recorded are updated where ClinicalTrials.gov now
  says something else (title, phase, date, other IDs, sponsors), so a re-run never duplicates.
- One transaction for the whole refresh, after every page has been fetched: the next run's
  cutoff is computed from the table, so a run that stopped half-way must not leave part of a
  search behind. A failure (API error after the retries, database error) therefore leaves the
  three tables exactly as they were, and the run fails naming the cause; the next run repeats
  the whole search. A study that cannot be stored (no NCT ID, title or first-submitted date)
  is left out, listed in the metadata and flagged by a warning check, never fatal.

Run config: ``{ops: {recent_ctgov_trials: {config: {cutoff: "YYYY-MM-DD"}}}}``, run by
``recent_ctgov_trials_job``.
"""

from datetime import date

import dagster as dg
from pydantic import Field, field_validator

from cdr_dagster.config_checks import date_option
from cdr_dagster.lanes import lane_tags
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.ctgov import CtgovApiResource

ASSET = "recent_ctgov_trials"
GROUP = "clinical_trials"
SPONSORS_CHECK = "every_trial_has_sponsors"
SKIPPED_CHECK = "no_study_skipped"
#: Rows shown in the Markdown previews of the run.
PREVIEW_ROWS = 50
#: A refresh that runs longer than this is stopped by run monitoring
#: (docs/architecture.md#run-monitoring).
MAX_RUNTIME_SECONDS = 2 * 60 * 60


class RecentCtgovTrialsConfig(dg.Config):
    """Options of the refresh (legacy ``recent_trials.RefreshTask``)."""

    cutoff: str | None = Field(
        default=None,
        description="Fetch trials first submitted on or after this date (YYYY-MM-DD). "
        "Default: 365 days before the latest recorded trial, or 2015-01-01 when none is.",
    )

    @field_validator("cutoff")
    @classmethod
    def _cutoff_is_a_date(cls, value: str | None) -> str | None:
        return date_option(value, "cutoff")


@dg.asset(
    name=ASSET,
    description=(
        "Cancer-related trials registered at ClinicalTrials.gov since the cutoff (a year "
        "before the latest recorded one), in the CDR tables ctgov_trial, ctgov_trial_other_id "
        "and ctgov_trial_sponsor, for the CDR admin's Recent CT.gov Protocols report (legacy "
        "recent_trials.RefreshTask, daily). New trials are added, known ones updated."
    ),
    group_name=GROUP,
    kinds={"sqlserver"},
    check_specs=[
        dg.AssetCheckSpec(
            SPONSORS_CHECK,
            asset=ASSET,
            description="Every trial in ctgov_trial has at least one ctgov_trial_sponsor row "
            "(ClinicalTrials.gov requires a lead sponsor).",
        ),
        dg.AssetCheckSpec(
            SKIPPED_CHECK,
            asset=ASSET,
            description="Every study the search returned could be stored (NCT ID, title and "
            "first-submitted date present).",
        ),
    ],
)
def recent_ctgov_trials(
    context: dg.AssetExecutionContext,
    config: RecentCtgovTrialsConfig,
    cdr_db: CdrDatabaseResource,
    ctgov: CtgovApiResource,
) -> dg.MaterializeResult:
    """Search ClinicalTrials.gov from the cutoff and record the trials (module docstring)."""
    from sqlalchemy.exc import SQLAlchemyError

    from cdr_dagster.cdr.ctgov_trials import (
        Cutoff,
        default_cutoff,
        parse_cutoff,
        search_parameters,
        select_trials,
        store_trials,
        trials_without_sponsors,
    )
    from cdr_dagster.resources.ctgov import CtgovApiError

    if config.cutoff:
        try:
            cutoff = Cutoff(parse_cutoff(config.cutoff), "the cutoff option")
        except ValueError as exc:
            raise dg.Failure(str(exc)) from None
    else:
        with cdr_db.connect() as conn:
            cutoff = default_cutoff(conn)
    context.log.info(f"fetching trials added on or after {cutoff.day} ({cutoff.source})")
    params = search_parameters(cutoff.day)
    context.log.info(f"searching {ctgov.where}/studies with {params}")

    studies: list[dict] = []
    pages = 0
    try:
        for page in ctgov.studies_pages(params, log=context.log):
            pages += 1
            studies.extend(page.studies)
            context.log.info(f"page {page.number}: {len(page.studies)} studies")
    except CtgovApiError as exc:
        raise dg.Failure(
            description=f"ClinicalTrials.gov search failed; nothing was stored: {exc}",
            metadata={"pages_fetched": pages, "cutoff": cutoff.day.isoformat()},
        ) from exc

    selection = select_trials(studies)
    for skipped in selection.skipped:
        context.log.warning(f"not stored: {skipped.reason}")
    try:
        with cdr_db.begin() as conn:
            stored = store_trials(conn, selection.trials)
    except SQLAlchemyError as exc:
        raise dg.Failure(
            description=f"storing the trials failed and was rolled back; nothing was stored: "
            f"{type(exc).__name__}: {exc}",
            metadata={"pages_fetched": pages, "cutoff": cutoff.day.isoformat()},
        ) from exc
    context.log.info(f"processed {len(studies)} trials, {len(stored.inserted)} new")
    context.log.info(
        f"loaded {len(stored.inserted)} new trials, updated {len(stored.updated)}, "
        f"{stored.unchanged} unchanged"
    )
    if stored.earliest_new:
        context.log.info(f"earliest new trial date is {stored.earliest_new}")

    with cdr_db.connect() as conn:
        unsponsored, unsponsored_ids = trials_without_sponsors(conn)
    return dg.MaterializeResult(
        metadata={
            "cutoff": cutoff.day.isoformat(),
            "cutoff_source": cutoff.source,
            "pages_fetched": dg.MetadataValue.int(pages),
            "studies_fetched": dg.MetadataValue.int(len(studies)),
            "trials_inserted": dg.MetadataValue.int(len(stored.inserted)),
            "trials_updated": dg.MetadataValue.int(len(stored.updated)),
            "trials_unchanged": dg.MetadataValue.int(stored.unchanged),
            "studies_skipped": dg.MetadataValue.int(len(selection.skipped)),
            "duplicate_studies": dg.MetadataValue.int(selection.duplicates),
            "earliest_new_trial": _iso(stored.earliest_new),
            "source": ctgov.where,
            "preview": dg.MetadataValue.md(_preview(stored, selection.skipped)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SPONSORS_CHECK,
                passed=unsponsored == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "trials_without_sponsors": dg.MetadataValue.int(unsponsored),
                    "nct_ids": dg.MetadataValue.json(unsponsored_ids),
                },
            ),
            dg.AssetCheckResult(
                check_name=SKIPPED_CHECK,
                passed=not selection.skipped,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "studies_skipped": dg.MetadataValue.int(len(selection.skipped)),
                    "reasons": dg.MetadataValue.json(
                        [s.reason for s in selection.skipped[:PREVIEW_ROWS]]
                    ),
                },
            ),
        ],
    )


def _iso(day: date | None) -> str:
    return day.isoformat() if day else "none"


def _preview(stored, skipped) -> str:  # noqa: ANN001 - StoreResult, list of SkippedStudy
    """The new trials, and any updated trials or skipped studies, as Markdown tables."""
    from cdr_dagster.reports import Report, Table, render_markdown

    def rows(trials):  # noqa: ANN001, ANN202
        return [
            [t.nct_id, t.title, t.phase or "", t.first_received.isoformat(), "; ".join(t.sponsors)]
            for t in trials
        ]

    columns = ["NCT ID", "Title", "Phase", "First received", "Sponsors"]
    blocks = [Table(columns, rows(stored.inserted), caption="New trials", empty_text="None")]
    if stored.updated:
        blocks.append(Table(columns, rows(stored.updated), caption="Updated trials"))
    if skipped:
        blocks.append(
            Table(
                ["NCT ID", "Why not stored"],
                [[s.nct_id or "", s.reason] for s in skipped],
                caption="Studies not stored",
            )
        )
    report = Report(title="Recent CT.gov trials", blocks=blocks)
    return render_markdown(report, max_rows=PREVIEW_ROWS)


recent_ctgov_trials_job = dg.define_asset_job(
    "recent_ctgov_trials_job",
    selection=[recent_ctgov_trials],
    description="Record the trials registered at ClinicalTrials.gov since the cutoff "
    "(recent_ctgov_trials).",
    tags={
        **lane_tags("chores"),
        "cdr/family": "trials",
        "cdr/lock": ASSET,
        "dagster/max_runtime": MAX_RUNTIME_SECONDS,
    },
)

assets = [recent_ctgov_trials]
jobs = [recent_ctgov_trials_job]
