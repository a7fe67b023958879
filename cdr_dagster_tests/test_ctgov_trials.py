"""The recent-trials data layer: API study to CDR rows, the cutoff rule, the stored rows.

Studies are shaped as ClinicalTrials.gov API v2 returns them for the fields the refresh asks
for; the rows are written to and read back from the real PostgreSQL CDR (``cdr_db``), and once
to a SQLite CDR as the demo holds it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.ctgov_trials import (
    FALLBACK_CUTOFF,
    SkippedStudy,
    StudyError,
    Trial,
    default_cutoff,
    map_phases,
    parse_cutoff,
    query_term,
    search_parameters,
    select_trials,
    store_trials,
    trial_from_study,
    trials_without_sponsors,
)
from cdr_dagster.cdr.schema import (
    create_schema,
    ctgov_trial,
    ctgov_trial_other_id,
    ctgov_trial_sponsor,
)

#: The legacy request URL, verbatim (the legacy's unencoded URL carried "+" for the space).
SPEC_TERM = (
    "(AREA[Condition](cancer OR lymphedema OR myelodysplastic+syndromes OR neutropenia OR "
    "aspergillosis OR mucositis OR neoplasm) OR AREA[ConditionSearch](cancer OR neoplasm) OR "
    "AREA[SponsorSearch](National Cancer Institute)) AND "
    "AREA[StudyFirstSubmitDate]RANGE[{cutoff},MAX]"
)


def study(
    nct_id: str | None = "NCT06000001",
    brief: str | None = "A Trial",
    official: str | None = None,
    submitted: str | None = "2024-03-15",
    phases: list[str] | None = None,
    org_id: str | None = None,
    secondary: list[str] = (),  # type: ignore[assignment]
    lead: str | None = "National Cancer Institute (NCI)",
    collaborators: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """One ``studies[]`` entry as the API v2 gives it (absent pieces are left out)."""
    ident: dict[str, Any] = {}
    if nct_id is not None:
        ident["nctId"] = nct_id
    if org_id is not None:
        ident["orgStudyIdInfo"] = {"id": org_id}
    if secondary:
        ident["secondaryIdInfos"] = [{"id": s, "type": "OTHER"} for s in secondary]
    if brief is not None:
        ident["briefTitle"] = brief
    if official is not None:
        ident["officialTitle"] = official
    protocol: dict[str, Any] = {"identificationModule": ident}
    if submitted is not None:
        protocol["statusModule"] = {"studyFirstSubmitDate": submitted}
    sponsors: dict[str, Any] = {}
    if lead is not None:
        sponsors["leadSponsor"] = {"name": lead, "class": "NIH"}
    if collaborators:
        sponsors["collaborators"] = [{"name": c, "class": "OTHER"} for c in collaborators]
    if sponsors:
        protocol["sponsorCollaboratorsModule"] = sponsors
    if phases is not None:
        protocol["designModule"] = {"phases": phases}
    return {"protocolSection": protocol}


def rows(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            "trial": [
                tuple(r) for r in conn.execute(select(ctgov_trial).order_by(ctgov_trial.c.nct_id))
            ],
            "other_id": [
                tuple(r)
                for r in conn.execute(
                    select(ctgov_trial_other_id).order_by(
                        ctgov_trial_other_id.c.nct_id, ctgov_trial_other_id.c.position
                    )
                )
            ],
            "sponsor": [
                tuple(r)
                for r in conn.execute(
                    select(ctgov_trial_sponsor).order_by(
                        ctgov_trial_sponsor.c.nct_id, ctgov_trial_sponsor.c.position
                    )
                )
            ],
        }


# --- mapping -----------------------------------------------------------------------------------


def test_acceptance_scenario_2_maps_phases_ids_and_sponsors() -> None:
    trial = trial_from_study(
        study(
            phases=["PHASE2", "PHASE1"],
            org_id="ABC-1",
            secondary=["X", " "],
            lead="NCI",
            collaborators=["Mayo"],
        )
    )
    assert trial == Trial(
        nct_id="NCT06000001",
        title="A Trial",
        phase="Phase 1/Phase 2",
        first_received=date(2024, 3, 15),
        other_ids=("ABC-1", "X"),
        sponsors=("NCI", "Mayo"),
    )


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        (["NA"], "N/A"),
        ([], None),
        (None, None),
        (["EARLY_PHASE1"], "Early Phase 1"),
        (["PHASE4", "PHASE3"], "Phase 3/Phase 4"),
        (["PHASE2", " ", ""], "Phase 2"),
        (["PHASE5"], "PHASE5"),
    ],
)
def test_phases(phases: list[str] | None, expected: str | None) -> None:
    assert map_phases(phases) == expected
    assert trial_from_study(study(phases=phases)).phase == expected


def test_title_falls_back_to_the_official_title_and_values_are_cut_to_the_columns() -> None:
    trial = trial_from_study(
        study(
            brief="  ",
            official=" Official " + "t" * 2000,
            phases=["EARLY_PHASE1", "PHASE1"],
            org_id=" " + "o" * 1100,
            lead="s" * 1030,
        )
    )
    assert trial.title == ("Official " + "t" * 2000)[:1024]
    assert trial.phase == "Early Phase 1/Phase 1"[:20]
    assert trial.other_ids == ("o" * 1024,)
    assert trial.sponsors == ("s" * 1024,)
    assert trial_from_study(study(brief=" Brief ", official="Official")).title == "Brief"


def test_nct_id_is_upper_cased_and_a_month_alone_is_its_first_day() -> None:
    trial = trial_from_study(study(nct_id=" nct06000009 ", submitted="2024-03"))
    assert (trial.nct_id, trial.first_received) == ("NCT06000009", date(2024, 3, 1))


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (study(nct_id=None), "a study has no nctId"),
        (study(nct_id="  "), "a study has no nctId"),
        (study(nct_id="NCT0600000123"), "nctId 'NCT0600000123' is longer than 11 characters"),
        (study(brief=None), "NCT06000001 has neither a briefTitle nor an officialTitle"),
        (study(submitted=None), "NCT06000001 has no studyFirstSubmitDate"),
        (
            study(submitted="March 2024"),
            "NCT06000001 has a studyFirstSubmitDate that is no date: 'March 2024'",
        ),
        ({}, "a study has no nctId"),
    ],
)
def test_a_study_that_cannot_be_stored_says_why(broken: dict, reason: str) -> None:
    with pytest.raises(StudyError) as caught:
        trial_from_study(broken)
    assert str(caught.value) == reason


def test_selection_keeps_the_first_of_each_nct_id_and_lists_the_skipped() -> None:
    selection = select_trials(
        [
            study("NCT06000001", brief="First"),
            study("NCT06000002", submitted=None),
            study("nct06000001", brief="Again"),
            study("NCT06000003", brief="Third"),
        ]
    )
    assert [(t.nct_id, t.title) for t in selection.trials] == [
        ("NCT06000001", "First"),
        ("NCT06000003", "Third"),
    ]
    assert selection.duplicates == 1
    assert selection.skipped == [
        SkippedStudy("NCT06000002", "NCT06000002 has no studyFirstSubmitDate")
    ]


# --- the search --------------------------------------------------------------------------------


def test_the_search_parameters_are_the_legacy_query() -> None:
    params = search_parameters(date(2023, 6, 2))
    assert params == {
        "query.term": SPEC_TERM.replace("+", " ").format(cutoff="2023-06-02"),
        "fields": "NCTId,OrgStudyId,SecondaryId,OfficialTitle,BriefTitle,Phase,"
        "StudyFirstSubmitDate,SponsorCollaboratorsModule",
        "pageSize": "1000",
    }
    assert "RANGE[2023-06-02,MAX]" in query_term(date(2023, 6, 2))


def test_cutoff_option_must_be_an_iso_date() -> None:
    assert parse_cutoff("2020-01-01") == date(2020, 1, 1)
    for bad in ("2020-13-01", "01/02/2020", "2020-1-1", ""):
        with pytest.raises(ValueError, match=f"cutoff {bad!r} is not a date"):
            parse_cutoff(bad)


def test_cutoff_on_an_empty_table_is_the_2015_fallback(cdr_db: Engine) -> None:
    with cdr_db.connect() as conn:
        cutoff = default_cutoff(conn)
    assert cutoff.day == FALLBACK_CUTOFF == date(2015, 1, 1)
    assert "fallback" in cutoff.source


def test_acceptance_scenario_1_cutoff_is_365_days_before_the_latest(cdr_db: Engine) -> None:
    with cdr_db.begin() as conn:
        store_trials(
            conn,
            [
                Trial("NCT06000001", "Old", None, date(2020, 5, 5)),
                Trial("NCT06000002", "Latest", None, date(2024, 6, 1)),
            ],
        )
    with cdr_db.connect() as conn:
        cutoff = default_cutoff(conn)
    assert cutoff.day == date(2023, 6, 2)
    assert "RANGE[2023-06-02,MAX]" in query_term(cutoff.day)


# --- storing -----------------------------------------------------------------------------------


def test_new_trials_are_inserted_with_numbered_ids_and_sponsors(cdr_db: Engine) -> None:
    selection = select_trials(
        [
            study(
                "NCT06000001",
                phases=["PHASE2", "PHASE1"],
                org_id="ABC-1",
                secondary=["X", " "],
                lead="NCI",
                collaborators=["Mayo"],
            ),
            study("NCT06000002", brief="No phase", submitted="2024-04-01", lead="Acme"),
        ]
    )
    with cdr_db.begin() as conn:
        result = store_trials(conn, selection.trials)
    assert [t.nct_id for t in result.inserted] == ["NCT06000001", "NCT06000002"]
    assert (result.updated, result.unchanged) == ([], 0)
    assert result.earliest_new == date(2024, 3, 15)
    assert rows(cdr_db) == {
        "trial": [
            ("NCT06000001", "A Trial", "Phase 1/Phase 2", datetime(2024, 3, 15)),
            ("NCT06000002", "No phase", None, datetime(2024, 4, 1)),
        ],
        "other_id": [("NCT06000001", 1, "ABC-1"), ("NCT06000001", 2, "X")],
        "sponsor": [
            ("NCT06000001", 1, "NCI"),
            ("NCT06000001", 2, "Mayo"),
            ("NCT06000002", 1, "Acme"),
        ],
    }


def test_storing_again_changes_nothing_and_changes_update_in_place(cdr_db: Engine) -> None:
    first = [
        Trial("NCT06000001", "Title", "Phase 1", date(2024, 3, 15), ("A", "B"), ("NCI", "Mayo")),
        Trial("NCT06000002", "Other", None, date(2024, 4, 1), (), ("Acme",)),
        Trial("NCT06000003", "Third", "N/A", date(2024, 4, 2), ("C",), ("Acme",)),
    ]
    with cdr_db.begin() as conn:
        store_trials(conn, first)
    before = rows(cdr_db)
    with cdr_db.begin() as conn:
        again = store_trials(conn, first)
    assert (again.inserted, again.updated, again.unchanged) == ([], [], 3)
    assert rows(cdr_db) == before

    changed = [
        Trial("NCT06000001", "Title", "Phase 1", date(2024, 3, 15), ("A",), ("NCI", "Mayo")),
        Trial("NCT06000002", "Renamed", "Phase 2", date(2024, 4, 1), (), ("Acme", "Duke")),
        first[2],
        Trial("NCT06000004", "New", None, date(2024, 5, 1), (), ("Duke",)),
    ]
    with cdr_db.begin() as conn:
        result = store_trials(conn, changed)
    assert [t.nct_id for t in result.inserted] == ["NCT06000004"]
    assert [t.nct_id for t in result.updated] == ["NCT06000001", "NCT06000002"]
    assert result.unchanged == 1
    assert rows(cdr_db) == {
        "trial": [
            ("NCT06000001", "Title", "Phase 1", datetime(2024, 3, 15)),
            ("NCT06000002", "Renamed", "Phase 2", datetime(2024, 4, 1)),
            ("NCT06000003", "Third", "N/A", datetime(2024, 4, 2)),
            ("NCT06000004", "New", None, datetime(2024, 5, 1)),
        ],
        "other_id": [("NCT06000001", 1, "A"), ("NCT06000003", 1, "C")],
        "sponsor": [
            ("NCT06000001", 1, "NCI"),
            ("NCT06000001", 2, "Mayo"),
            ("NCT06000002", 1, "Acme"),
            ("NCT06000002", 2, "Duke"),
            ("NCT06000003", 1, "Acme"),
            ("NCT06000004", 1, "Duke"),
        ],
    }


def test_a_trial_stored_in_lower_case_is_the_same_trial(cdr_db: Engine) -> None:
    """The CDR compares NCT IDs case-insensitively (legacy: upper-cased known IDs)."""
    with cdr_db.begin() as conn:
        conn.execute(
            ctgov_trial.insert().values(
                nct_id="nct06000001",
                trial_title="Old title",
                first_received=datetime(2024, 3, 15),
            )
        )
        result = store_trials(
            conn, [Trial("NCT06000001", "New title", None, date(2024, 3, 15), (), ("NCI",))]
        )
    assert (result.inserted, [t.nct_id for t in result.updated]) == ([], ["NCT06000001"])
    assert rows(cdr_db)["trial"] == [("nct06000001", "New title", None, datetime(2024, 3, 15))]
    assert rows(cdr_db)["sponsor"] == [("nct06000001", 1, "NCI")]


def test_many_trials_are_looked_up_in_chunks(cdr_db: Engine) -> None:
    trials = [
        Trial(f"NCT{n:08d}", f"Trial {n}", None, date(2024, 1, 1), (f"ID-{n}",), ("NCI",))
        for n in range(1, 1203)
    ]
    with cdr_db.begin() as conn:
        assert len(store_trials(conn, trials).inserted) == 1202
    with cdr_db.begin() as conn:
        result = store_trials(conn, trials)
    assert (len(result.inserted), result.unchanged) == (0, 1202)
    assert len(rows(cdr_db)["other_id"]) == 1202


def test_trials_without_sponsor_rows_are_found(cdr_db: Engine) -> None:
    with cdr_db.begin() as conn:
        store_trials(
            conn,
            [
                Trial("NCT06000001", "With", None, date(2024, 1, 1), (), ("NCI",)),
                Trial("NCT06000002", "Without", None, date(2024, 1, 1)),
                Trial("NCT06000003", "Without too", None, date(2024, 1, 1), ("X",)),
            ],
        )
    with cdr_db.connect() as conn:
        assert trials_without_sponsors(conn) == (2, ["NCT06000002", "NCT06000003"])
        assert trials_without_sponsors(conn, limit=1) == (2, ["NCT06000002"])


def test_the_same_code_stores_trials_in_a_sqlite_cdr(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        create_schema(engine)
        trial = Trial("NCT06000001", "Title", "Phase 1", date(2024, 6, 1), ("A",), ("NCI",))
        with engine.begin() as conn:
            assert store_trials(conn, [trial]).inserted == [trial]
        with engine.begin() as conn:
            assert store_trials(conn, [trial]).unchanged == 1
            assert default_cutoff(conn).day == date(2023, 6, 2)
        assert rows(engine)["trial"] == [("NCT06000001", "Title", "Phase 1", datetime(2024, 6, 1))]
    finally:
        engine.dispose()
