"""recent_ctgov_trials run as its job against a ClinicalTrials.gov API v2 stand-in.

pytest-httpserver serves ``/api/v2/studies`` on loopback with answers shaped like the public
API's (``studies[].protocolSection...``, ``nextPageToken``), checks every request's query
parameters, and can fail requests on purpose. The CDR is PostgreSQL (``cdr_db``); the demo's
local mode runs against SQLite with the canned pages shipped in the package.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from cdr_dagster.assets.ctgov_trials import (
    SKIPPED_CHECK,
    SPONSORS_CHECK,
    assets,
    jobs,
    recent_ctgov_trials,
)
from cdr_dagster.cdr.ctgov_trials import Trial, store_trials
from cdr_dagster.cdr.schema import (
    create_schema,
    ctgov_trial,
    ctgov_trial_sponsor,
)
from cdr_dagster.demo.ctgov import build_ctgov_pages
from cdr_dagster.demo.datafiles import DataFiles
from cdr_dagster.legacy.catalogue import convert_options, find_job_class
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.ctgov import (
    DEFAULT_BASE_URL,
    CtgovApiError,
    CtgovApiResource,
    build_ctgov_resource,
)
from cdr_dagster_tests.test_ctgov_trials import SPEC_TERM, rows, study

PATH = "/api/v2/studies"
FIELDS = (
    "NCTId,OrgStudyId,SecondaryId,OfficialTitle,BriefTitle,Phase,StudyFirstSubmitDate,"
    "SponsorCollaboratorsModule"
)


class StudiesApi:
    """The studies endpoint: pages by token (None = first page), and failures to serve."""

    def __init__(self, server: HTTPServer) -> None:
        self.pages: dict[str | None, dict[str, Any]] = {None: {"studies": []}}
        #: Statuses served, one per request, before the page of that token is served.
        self.failures: dict[str | None, list[int]] = {}
        #: Statuses served for every request of that token.
        self.broken: dict[str | None, int] = {}
        self.requests: list[Request] = []
        server.expect_request(PATH, method="GET").respond_with_handler(self.answer)
        self.base_url = server.url_for("/api/v2")

    def serve(self, *pages: list[dict[str, Any]]) -> list[str]:
        """Serve ``pages`` in order, linked by page tokens; return the tokens."""
        tokens = [f"tok{n}-Zx_9" for n in range(1, len(pages))]
        keys: list[str | None] = [None, *tokens]
        self.pages = {}
        for number, (key, studies) in enumerate(zip(keys, pages, strict=True)):
            body: dict[str, Any] = {"studies": studies}
            if number < len(tokens):
                body["nextPageToken"] = tokens[number]
            self.pages[key] = body
        return tokens

    def answer(self, request: Request) -> Response:
        self.requests.append(request)
        token = request.args.get("pageToken")
        if token in self.broken:
            return Response("<html>Service Unavailable</html>", status=self.broken[token])
        queued = self.failures.get(token)
        if queued:
            return Response('{"message": "upstream trouble"}', status=queued.pop(0))
        if token not in self.pages:
            return Response('{"message": "invalid pageToken"}', status=400)
        return Response(json.dumps(self.pages[token]), content_type="application/json")


@pytest.fixture
def api(httpserver: HTTPServer) -> StudiesApi:
    return StudiesApi(httpserver)


def resources(engine: Engine | str, ctgov: CtgovApiResource) -> dict[str, Any]:
    url = engine if isinstance(engine, str) else engine.url.render_as_string(hide_password=False)
    return {"cdr_db": CdrDatabaseResource(url=url), "ctgov": ctgov}


def client(api: StudiesApi, **settings: Any) -> CtgovApiResource:
    values = {
        "base_url": api.base_url,
        "backoff_seconds": 0,
        "max_attempts": 3,
        "timeout_seconds": 10,
    }
    return CtgovApiResource(**{**values, **settings})


def run(
    engine: Engine | str, ctgov: CtgovApiResource, cutoff: str | None = None
) -> dg.ExecuteInProcessResult:
    """The job with the run config the legacy catalogue makes of the ``cutoff`` option."""
    converted = convert_options(
        find_job_class("recent_trials.RefreshTask"), {"cutoff": cutoff} if cutoff else {}
    )
    defs = dg.Definitions(assets=assets, jobs=jobs, resources=resources(engine, ctgov))
    job = defs.resolve_job_def(converted.job)
    run_config = {"ops": {converted.node: {"config": converted.config}}}
    return job.execute_in_process(run_config=run_config, raise_on_error=False)


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    return event.step_failure_data.error.message


def count(engine: Engine, table) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


PAGE_1 = [
    study(
        "NCT06000001",
        phases=["PHASE2", "PHASE1"],
        org_id="ABC-1",
        secondary=["X", " "],
        lead="NCI",
        collaborators=["Mayo"],
        submitted="2024-03-15",
    ),
    study("NCT06000002", brief="Second", submitted="2024-02-01", phases=["NA"]),
]
PAGE_2 = [study("NCT06000003", brief=None, official="Third", submitted="2024-05-05")]


# --- runs --------------------------------------------------------------------------------------


def test_first_run_pages_through_the_search_from_2015(cdr_db: Engine, api: StudiesApi) -> None:
    [token] = api.serve(PAGE_1, PAGE_2)
    result = run(cdr_db, client(api))
    assert result.success
    first, second = api.requests
    for request in api.requests:
        assert request.args["query.term"] == SPEC_TERM.replace("+", " ").format(cutoff="2015-01-01")
        assert request.args["fields"] == FIELDS
        assert request.args["pageSize"] == "1000"
    # On the wire the space of "myelodysplastic syndromes" is a "+", as the legacy sent it.
    assert b"myelodysplastic+syndromes" in first.query_string
    assert "pageToken" not in first.args
    assert second.args["pageToken"] == token
    assert rows(cdr_db) == {
        "trial": [
            ("NCT06000001", "A Trial", "Phase 1/Phase 2", datetime(2024, 3, 15)),
            ("NCT06000002", "Second", "N/A", datetime(2024, 2, 1)),
            ("NCT06000003", "Third", None, datetime(2024, 5, 5)),
        ],
        "other_id": [("NCT06000001", 1, "ABC-1"), ("NCT06000001", 2, "X")],
        "sponsor": [
            ("NCT06000001", 1, "NCI"),
            ("NCT06000001", 2, "Mayo"),
            ("NCT06000002", 1, "National Cancer Institute (NCI)"),
            ("NCT06000003", 1, "National Cancer Institute (NCI)"),
        ],
    }
    meta = metadata(result)
    assert meta["cutoff"] == "2015-01-01"
    assert "fallback" in meta["cutoff_source"]
    assert (meta["pages_fetched"], meta["studies_fetched"]) == (2, 3)
    assert (meta["trials_inserted"], meta["trials_updated"], meta["trials_unchanged"]) == (3, 0, 0)
    assert meta["earliest_new_trial"] == "2024-02-01"
    assert "NCT06000003" in meta["preview"]
    assert checks(result) == {SPONSORS_CHECK: True, SKIPPED_CHECK: True}


def test_rerun_updates_changed_trials_instead_of_duplicating(
    cdr_db: Engine, api: StudiesApi
) -> None:
    api.serve(PAGE_1, PAGE_2)
    assert run(cdr_db, client(api)).success
    api.requests.clear()
    changed = study(
        "NCT06000002", brief="Second, renamed", submitted="2024-02-01", collaborators=["Duke"]
    )
    api.serve([PAGE_1[0], changed], PAGE_2)
    result = run(cdr_db, client(api))
    assert result.success
    # The cutoff now comes from the table: 365 days before 2024-05-05.
    assert "RANGE[2023-05-06,MAX]" in api.requests[0].args["query.term"]
    meta = metadata(result)
    assert (meta["trials_inserted"], meta["trials_updated"], meta["trials_unchanged"]) == (0, 1, 2)
    assert "365 days before the latest first_received, 2024-05-05" == meta["cutoff_source"]
    assert "**Updated trials**" in meta["preview"]
    assert "| NCT06000002 | Second, renamed |" in meta["preview"]
    assert count(cdr_db, ctgov_trial) == 3
    current = rows(cdr_db)
    assert ("NCT06000002", "Second, renamed", None, datetime(2024, 2, 1)) in current["trial"]
    assert [r for r in current["sponsor"] if r[0] == "NCT06000002"] == [
        ("NCT06000002", 1, "National Cancer Institute (NCI)"),
        ("NCT06000002", 2, "Duke"),
    ]


def test_acceptance_scenarios_1_and_3_known_trial_is_not_written(
    cdr_db: Engine, api: StudiesApi
) -> None:
    with cdr_db.begin() as conn:
        store_trials(conn, [Trial("NCT06000009", "Known", None, date(2024, 6, 1), (), ("NCI",))])
    api.serve([study("NCT06000009", brief="Known", submitted="2024-06-01", lead="NCI")])
    result = run(cdr_db, client(api))
    assert result.success
    assert "RANGE[2023-06-02,MAX]" in api.requests[0].args["query.term"]
    meta = metadata(result)
    assert meta["cutoff"] == "2023-06-02"
    assert (meta["trials_inserted"], meta["trials_updated"], meta["trials_unchanged"]) == (0, 0, 1)
    assert meta["earliest_new_trial"] == "none"


def test_acceptance_scenario_5_cutoff_option_overrides(cdr_db: Engine, api: StudiesApi) -> None:
    with cdr_db.begin() as conn:
        store_trials(conn, [Trial("NCT06000009", "Known", None, date(2024, 6, 1), (), ("NCI",))])
    result = run(cdr_db, client(api), cutoff="2020-01-01")
    assert result.success
    assert "RANGE[2020-01-01,MAX]" in api.requests[0].args["query.term"]
    assert metadata(result)["cutoff_source"] == "the cutoff option"


def test_a_bad_cutoff_fails_before_asking_the_api(cdr_db: Engine, api: StudiesApi) -> None:
    defs = dg.Definitions(assets=assets, jobs=jobs, resources=resources(cdr_db, client(api)))
    result = defs.resolve_job_def("recent_ctgov_trials_job").execute_in_process(
        run_config={"ops": {"recent_ctgov_trials": {"config": {"cutoff": "2020-13-01"}}}},
        raise_on_error=False,
    )
    assert not result.success
    [event] = [e for e in result.all_events if e.is_step_failure]
    error, chain = event.step_failure_data.error, []
    while error is not None:  # the Config class refuses it as the step builds the Config
        chain.append(error.message)
        error = error.cause
    assert "cutoff '2020-13-01' is not a date in the form YYYY-MM-DD" in "\n".join(chain), chain
    assert api.requests == []


def test_an_empty_search_stores_nothing(cdr_db: Engine, api: StudiesApi) -> None:
    api.serve([])
    result = run(cdr_db, client(api))
    assert result.success
    meta = metadata(result)
    assert (meta["pages_fetched"], meta["studies_fetched"], meta["trials_inserted"]) == (1, 0, 0)
    assert count(cdr_db, ctgov_trial) == 0
    assert checks(result) == {SPONSORS_CHECK: True, SKIPPED_CHECK: True}


def test_a_server_error_is_retried(cdr_db: Engine, api: StudiesApi) -> None:
    [token] = api.serve(PAGE_1, PAGE_2)
    api.failures = {None: [500], token: [503, 502]}
    result = run(cdr_db, client(api))
    assert result.success
    assert [r.args.get("pageToken") for r in api.requests] == [None, None, token, token, token]
    assert count(cdr_db, ctgov_trial) == 3
    assert metadata(result)["pages_fetched"] == 2


def test_a_persistent_error_fails_and_stores_nothing(cdr_db: Engine, api: StudiesApi) -> None:
    [token] = api.serve(PAGE_1, PAGE_2)
    api.broken = {token: 503}
    result = run(cdr_db, client(api, max_attempts=3))
    assert not result.success
    message = failure(result)
    assert "ClinicalTrials.gov search failed; nothing was stored" in message
    assert "page 2" in message and "HTTP 503" in message and "after 3 attempts" in message
    assert [r.args.get("pageToken") for r in api.requests] == [None, token, token, token]
    assert (count(cdr_db, ctgov_trial), count(cdr_db, ctgov_trial_sponsor)) == (0, 0)


def test_a_client_error_is_not_retried(cdr_db: Engine, api: StudiesApi) -> None:
    api.broken = {None: 400}
    result = run(cdr_db, client(api))
    assert not result.success
    assert "HTTP 400" in failure(result)
    assert len(api.requests) == 1


def test_an_answer_that_is_not_a_studies_page_fails(cdr_db: Engine, httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("<html>maintenance</html>", status=200)
    result = run(cdr_db, CtgovApiResource(base_url=httpserver.url_for("/api/v2")))
    assert not result.success
    assert "is not JSON" in failure(result)
    httpserver.clear()
    httpserver.expect_request(PATH).respond_with_json({"message": "oops"})
    result = run(cdr_db, CtgovApiResource(base_url=httpserver.url_for("/api/v2")))
    assert "is not a studies page" in failure(result)


@pytest.fixture
def sponsor_insert_fails(cdr_db: Engine):
    """A PostgreSQL trigger that refuses the sponsor rows of NCT06000003 (a database error in
    the middle of the writes)."""
    with cdr_db.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_sponsor() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'sponsor refused for %', NEW.nct_id; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse_sponsor BEFORE INSERT ON ctgov_trial_sponsor FOR EACH ROW "
                "WHEN (NEW.nct_id = 'NCT06000003') EXECUTE FUNCTION refuse_sponsor()"
            )
        )
    yield
    with cdr_db.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS refuse_sponsor ON ctgov_trial_sponsor"))
        conn.execute(text("DROP FUNCTION IF EXISTS refuse_sponsor()"))


def test_a_database_error_rolls_the_whole_refresh_back(
    cdr_db: Engine, api: StudiesApi, sponsor_insert_fails: None
) -> None:
    with cdr_db.begin() as conn:
        store_trials(conn, [Trial("NCT06000002", "Old", None, date(2024, 2, 1), (), ("NCI",))])
    before = rows(cdr_db)
    api.serve(PAGE_1, PAGE_2)
    result = run(cdr_db, client(api))
    assert not result.success
    assert "storing the trials failed and was rolled back" in failure(result)
    assert "sponsor refused for NCT06000003" in failure(result)
    assert rows(cdr_db) == before


def test_unusable_studies_are_left_out_and_flagged(cdr_db: Engine, api: StudiesApi) -> None:
    api.serve([*PAGE_1, study("NCT06000004", submitted=None), study(nct_id=None)])
    result = run(cdr_db, client(api))
    assert result.success
    assert count(cdr_db, ctgov_trial) == 2
    meta = metadata(result)
    assert meta["studies_skipped"] == 2
    assert "| NCT06000004 | NCT06000004 has no studyFirstSubmitDate |" in meta["preview"]
    assert checks(result) == {SPONSORS_CHECK: True, SKIPPED_CHECK: False}
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == SKIPPED_CHECK
    ]
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["reasons"].value == [
        "NCT06000004 has no studyFirstSubmitDate",
        "a study has no nctId",
    ]


def test_sponsor_check_warns_about_trials_without_sponsor_rows(
    cdr_db: Engine, api: StudiesApi
) -> None:
    with cdr_db.begin() as conn:
        store_trials(conn, [Trial("NCT05000001", "Legacy leftover", None, date(2023, 1, 1))])
    api.serve([study("NCT06000005", lead=None, collaborators=[])])
    result = run(cdr_db, client(api), cutoff="2022-01-01")
    assert result.success
    assert checks(result)[SPONSORS_CHECK] is False
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == SPONSORS_CHECK
    ]
    assert evaluation.metadata["nct_ids"].value == ["NCT05000001", "NCT06000005"]


# --- the resource ------------------------------------------------------------------------------


def test_a_repeated_page_token_stops_the_paging(api: StudiesApi) -> None:
    api.pages = {
        None: {"studies": [], "nextPageToken": "again"},
        "again": {"studies": [], "nextPageToken": "again"},
    }
    with pytest.raises(CtgovApiError, match="repeated the page token 'again'"):
        list(client(api).studies_pages({"pageSize": "1000"}))
    assert len(api.requests) == 2


def test_the_environment_chooses_the_api_or_a_local_folder(tmp_path: Path) -> None:
    assert (
        build_ctgov_resource({}).base_url
        == DEFAULT_BASE_URL
        == ("https://clinicaltrials.gov/api/v2")
    )
    assert build_ctgov_resource({}).local_dir is None
    assert build_ctgov_resource({"CDR_CTGOV_API_URL": "http://127.0.0.1:8/v2"}).where == (
        "http://127.0.0.1:8/v2"
    )
    local = build_ctgov_resource({"CDR_CTGOV_LOCAL_DIR": str(tmp_path)})
    assert local.where == str(tmp_path)
    with pytest.raises(CtgovApiError, match="studies.json does not exist"):
        list(local.studies_pages({}))


# --- the demo ----------------------------------------------------------------------------------


def test_demo_local_mode_stores_the_canned_pages(tmp_path: Path, sqlite_url: str) -> None:
    """As the demo runs: a SQLite CDR with one seeded trial, the pages replayed from a folder."""
    files = DataFiles(now=datetime(2025, 3, 10, 9, 30))
    pages = build_ctgov_pages(tmp_path / "ctgov", files)
    assert sorted(p.name for p in pages) == ["studies-ZVNj7o2Elu8o3lpoWsGs.json", "studies.json"]
    engine = create_engine(sqlite_url)
    create_schema(engine)
    with engine.begin() as conn:
        store_trials(
            conn,
            [
                Trial(
                    "NCT07990002",
                    "Single-Dose HPV Vaccination in Young Adults (demo trial)",
                    "Phase 2/Phase 3",
                    date(2024, 11, 10),
                    ("DEMO-HPV-2",),
                    ("Demo University Medical Center",),
                )
            ],
        )
    engine.dispose()
    result = run(sqlite_url, CtgovApiResource(local_dir=str(tmp_path / "ctgov")))
    assert result.success
    meta = metadata(result)
    assert (meta["pages_fetched"], meta["studies_fetched"]) == (2, 7)
    assert (meta["trials_inserted"], meta["trials_updated"]) == (6, 1)
    assert checks(result) == {SPONSORS_CHECK: True, SKIPPED_CHECK: True}
    engine = create_engine(sqlite_url)
    try:
        stored = rows(engine)
    finally:
        engine.dispose()
    trials = {r[0]: r for r in stored["trial"]}
    assert trials["NCT07990010"][3] == datetime(2025, 3, 9)
    assert trials["NCT07990009"][1:3] == (
        "Posaconazole Prophylaxis of Invasive Aspergillosis in Children Receiving Induction "
        "Chemotherapy for Acute Myeloid Leukemia (demo trial)",
        "Early Phase 1",
    )
    assert [r[2] for r in stored["sponsor"] if r[0] == "NCT07990002"] == [
        "Demo University Medical Center",
        "National Cancer Institute (NCI)",
    ]
    assert [r[2] for r in stored["other_id"] if r[0] == "NCT07990005"] == [
        "DEMO-BR-0005",
        "NCI-2099-00105",
        "U10CA000005",
    ]


# --- the code location -------------------------------------------------------------------------


def test_asset_and_job_follow_the_catalogue_convention() -> None:
    entry = find_job_class("recent_trials.RefreshTask")
    assert {job.name for job in jobs} == set(entry.jobs) == {"recent_ctgov_trials_job"}
    assert {a.key.to_user_string() for a in assets} == set(entry.names)
    assert set(recent_ctgov_trials.op.config_schema.config_type.fields) == {"cutoff"}
    [job] = jobs
    assert job.tags["cdr/lock"] == "recent_ctgov_trials"
    assert int(job.tags["dagster/max_runtime"]) > 0
    assert {spec.name for spec in recent_ctgov_trials.check_specs} == {
        SPONSORS_CHECK,
        SKIPPED_CHECK,
    }
