"""The trial_listing_info asset, run as its job with real resources.

The CDR is PostgreSQL (``cdr_db``) holding the ctl rows of group ``trials`` (the demo's
labels, tokens, overrides and index definitions) and the Developers Notification
group; EVS is a stand-in on loopback answering as the EVS REST API does (pytest-httpserver,
the demo's concepts); the indexes go to the ES-compatible server and, unchanged, to a real
cluster when CDR_TEST_ELASTICSEARCH_URL is set; mail goes to the aiosmtpd server. Asserted is
what the outside world saw: the indexes and aliases, the documents the API would find, the
mail, the files, the run's checks and metadata.
"""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine

from cdr_dagster.assets.trial_listing_info import TrialListingInfoConfig, assets, jobs
from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.trial_info.checks import (
    BLOCKING,
    CHECK_CONCEPTS,
    CHECK_FIELDS,
    CHECK_SIZE,
    CHECK_URLS,
)
from cdr_dagster.demo.trial_info import demo_evs_concepts, write_demo_evs
from cdr_dagster.legacy.catalogue import convert_options, find_job_class
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.evs import EvsResource
from cdr_dagster.resources.search_index import SearchIndexResource
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.es_server import (  # noqa: F401 - fixture
    SearchCluster,
    aliased,
    indexes,
    search_cluster,
    shared_server,
)
from cdr_dagster_tests.services.smtp import SmtpServer
from cdr_dagster_tests.test_trial_info_evs import PATH, evs_answer

GOLDEN = Path(__file__).parent / "data" / "reference" / "clinical-trials-listing-api"
DEMO_DATA = Path(__file__).resolve().parents[1] / "cdr_dagster" / "demo" / "data"
SUBJECT = "[DEV] Dynamic listing pages loader failure"


def demo_text(name: str) -> str:
    return (DEMO_DATA / f"ctl--trials--{name}").read_text(encoding="utf-8")


def seed_cdr(engine: Engine, overrides: str | None = None, definitions: bool = True) -> None:
    with engine.begin() as conn:
        set_control_value(conn, "trials", "labels", demo_text("labels.txt"))
        set_control_value(conn, "trials", "tokens", demo_text("tokens.txt"))
        set_control_value(conn, "trials", "overrides", overrides or demo_text("overrides.txt"))
        if definitions:
            for name in ("listing-info", "trial-type-info"):
                set_control_value(conn, "trials", name, demo_text(f"{name}.json"))
    add_group_members(
        engine,
        "Developers Notification",
        [("ann", "ann@example.gov", False), ("gone", "gone@example.gov", True)],
    )


def set_trials_value(engine: Engine, name: str, value: str) -> None:
    with engine.begin() as conn:
        set_control_value(conn, "trials", name, value)


@pytest.fixture
def evs_server(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request(PATH, method="GET").respond_with_handler(
        evs_answer(demo_evs_concepts())
    )
    return httpserver


def api_evs(server: HTTPServer) -> EvsResource:
    return EvsResource(base_url=server.url_for("/api/v1"))


def closed_port_evs() -> EvsResource:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return EvsResource(base_url=f"http://127.0.0.1:{port}/api/v1")


def definitions(
    engine: Engine,
    mailbox: SmtpServer | None,
    evs: EvsResource,
    search_index: SearchIndexResource,
    outbox: Path | None = None,
) -> dg.Definitions:
    cdr_db = CdrDatabaseResource(url=engine.url.render_as_string(hide_password=False))
    if outbox is not None:
        email = EmailResource(tier="DEV", outbox_dir=str(outbox), cdr_db=cdr_db)
    else:
        email = EmailResource(
            tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=cdr_db
        )
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        resources={"cdr_db": cdr_db, "email": email, "evs": evs, "search_index": search_index},
    )


def cluster_resource(cluster: SearchCluster, **settings: Any) -> SearchIndexResource:
    return SearchIndexResource(url=cluster.url, index_prefix=cluster.prefix, **settings)


@pytest.fixture
def defs(
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> dg.Definitions:
    """The asset with the test CDR, mail server, EVS stand-in and cluster."""
    return definitions(cdr_db, mailbox, api_evs(evs_server), cluster_resource(search_cluster))


def run(defs: dg.Definitions, options: dict[str, str] | None = None, **config: Any):
    """The job with the legacy ``options`` converted as the catalogue converts them, plus
    ``config`` (fields the legacy job did not have)."""
    converted = convert_options(find_job_class("trial_info.Loader"), options or {})
    run_config = {"ops": {converted.node: {"config": {**converted.config, **config}}}}
    job = defs.resolve_job_def(converted.job)
    return job.execute_in_process(run_config=run_config, raise_on_error=False)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def sources(cluster: SearchCluster, name: str) -> list[dict[str, Any]]:
    client = cluster.client()
    client.indices.refresh(index=name)
    hits = client.search(index=name, query={"match_all": {}}, size=1000)["hits"]["hits"]
    return [hit["_source"] for hit in hits]


def by_url(documents: list[dict[str, Any]], url: str) -> list[dict[str, Any]]:
    """What the API's listing-information/{prettyUrlName} finds (a term query)."""
    return [doc for doc in documents if doc["pretty_url_name"] == url]


def by_codes(documents: list[dict[str, Any]], codes: list[str]) -> list[dict[str, Any]]:
    """What the API's listing-information/get?ccode=... finds (terms_set: all codes)."""
    return [doc for doc in documents if set(codes) <= set(doc["concept_id"])]


def golden_document(name: str) -> dict[str, Any]:
    golden = json.loads((GOLDEN / f"id-found-{name}.json").read_text(encoding="utf-8"))
    return {
        "concept_id": golden["conceptId"],
        "name": golden["name"],
        "pretty_url_name": golden["prettyUrlName"],
    }


def golden_trial_types() -> list[dict[str, str]]:
    lines = (GOLDEN / "trial-type-info-data.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[1::2]]


def canonical(documents: list[dict[str, Any]]) -> Counter:
    return Counter(json.dumps(doc, sort_keys=True) for doc in documents)


# --- full loads -------------------------------------------------------------------------------


def test_a_full_load_gives_the_documents_the_api_reads(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    result = run(defs)
    assert result.success
    listing_alias = f"{search_cluster.prefix}listinginfov1"
    types_alias = f"{search_cluster.prefix}trialtypeinfov1"
    [listing_index] = aliased(search_cluster, listing_alias)
    [types_index] = aliased(search_cluster, types_alias)
    assert listing_index.rsplit("-", 1)[1] == types_index.rsplit("-", 1)[1]  # one stamp

    listing = sources(search_cluster, listing_alias)
    for name, codes in (
        ("soft-tissue-sarcoma", ["C7707", "C7715", "C9306", "C115292"]),
        ("rhabdomyosarcoma", ["C3359", "C7705", "C9130", "C115332"]),
    ):
        assert by_url(listing, name) == [golden_document(name)]
        assert by_codes(listing, codes) == [golden_document(name)]
    [thyroid] = by_codes(listing, ["C7510"])
    assert thyroid == {
        "concept_id": ["C7510"],
        "name": {"label": "Thyroid Cancer", "normalized": "thyroid cancer"},
        "pretty_url_name": "thyroid-cancer",
    }
    assert by_codes(listing, ["C3163"])[0]["pretty_url_name"] == "cll"
    assert by_codes(listing, ["C7724"])[0]["pretty_url_name"] is None  # <BLANK>
    assert by_codes(listing, ["C138195"]) == [] and by_codes(listing, ["C131913"]) == []
    assert canonical(sources(search_cluster, types_alias)) == canonical(golden_trial_types())
    mapping = search_cluster.client().indices.get_mapping(index=listing_index)
    assert mapping[listing_index]["mappings"]["dynamic"] == "strict"

    assert checks(result) == {
        CHECK_CONCEPTS: True,
        CHECK_FIELDS: True,
        CHECK_SIZE: True,
        CHECK_URLS: True,
    }
    [materialization] = result.asset_materializations_for_node("trial_listing_info")
    metadata = materialization.metadata
    concepts = len(demo_evs_concepts())
    assert metadata["concepts"].value == concepts
    assert metadata["listing_documents"].value == len(listing)
    assert metadata["listing_index_count"].value == len(listing)
    assert metadata["trial_type_documents"].value == len(golden_trial_types()), (
        f"{metadata['trial_type_documents'].value} trial-type documents, "
        f"the reference has {len(golden_trial_types())}"
    )
    assert metadata["aliases_moved"].value is True
    assert metadata["listing_index"].value == listing_index
    assert metadata["evs_requests"].value == len(evs_server.log)
    assert metadata["evs_codes_not_found"].value == ["C999999"]
    assert metadata["overrides_applied"].value == 9, (
        f"{metadata['overrides_applied'].value} overrides applied, not 9 (unused: "
        f"{metadata['overrides_unused'].value})"
    )
    assert metadata["overrides_unused"].value == [  # no such concepts in the demo's EVS
        "line 9: C3099",
        "line 10: C9039",
        "line 11: C3161",
        "line 12: C3211",
        "line 13: C3224",
        "line 14: C7927",
    ]
    assert metadata["skipped_codes"].value == ["C138195", "C131913"]
    preview = metadata["preview"].value
    assert f"| Listing documents | {len(listing)} |" in preview
    assert (
        "| Trial types | 8 |" in preview and "passed: `one_document_per_concept_group`" in preview
    )
    assert all(r.args["include"] == "synonyms,children" for r, _ in evs_server.log)
    assert mailbox.messages == []  # the legacy loader mailed failures only


def test_a_reload_moves_both_aliases_in_one_call_and_drops_old_indexes(
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    search_index = cluster_resource(search_cluster, keep_indexes=1, keep_days=0)
    defs = definitions(cdr_db, mailbox, api_evs(evs_server), search_index)
    alias = f"{search_cluster.prefix}listinginfov1"
    old = f"{alias}-20010101013000"
    body = json.loads(demo_text("listing-info.json"))
    search_cluster.client().indices.create(index=old, **body)
    assert run(defs).success
    [first] = aliased(search_cluster, alias)
    alias_calls = sum(1 for call in shared_server().requests if call == ("POST", "/_aliases"))
    second_run = run(defs)
    assert second_run.success
    [second] = aliased(search_cluster, alias)
    assert second != first
    assert indexes(search_cluster, alias) == [first, second]  # old one dropped, today's kept
    if not search_cluster.real:
        calls = sum(1 for call in shared_server().requests if call == ("POST", "/_aliases"))
        assert calls == alias_calls + 1, f"{calls - alias_calls} alias moves by run 2, not 1"
    metadata = second_run.asset_materializations_for_node("trial_listing_info")[0].metadata
    assert metadata["listing_previous_indexes"].value == [first]
    types_aliased = aliased(search_cluster, f"{search_cluster.prefix}trialtypeinfov1")
    assert len(types_aliased) == 1, f"trialtypeinfov1 points at {types_aliased}, not one index"


# --- failures leave both aliases alone --------------------------------------------------------


def live_load(defs: dg.Definitions, cluster: SearchCluster):
    """Load once; return the live (listing, trial type) indexes."""
    assert run(defs).success
    return (
        aliased(cluster, f"{cluster.prefix}listinginfov1"),
        aliased(cluster, f"{cluster.prefix}trialtypeinfov1"),
    )


def assert_failed_and_untouched(
    result: dg.ExecuteInProcessResult,
    mailbox: SmtpServer,
    cluster: SearchCluster,
    live: tuple[list[str], list[str]],
    reason: str,
) -> None:
    assert not result.success
    for alias, indexes_before in zip(("listinginfov1", "trialtypeinfov1"), live, strict=True):
        assert aliased(cluster, f"{cluster.prefix}{alias}") == indexes_before
        assert indexes(cluster, f"{cluster.prefix}{alias}") == indexes_before  # new ones gone
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["ann@example.gov"]
    assert mail.message["Subject"] == SUBJECT
    body = mail.message.get_content().strip()
    assert body.startswith("Failure running loader: ")
    assert reason in body, body
    assert result.asset_materializations_for_node("trial_listing_info") == []


def test_evs_down_fails_with_nothing_swapped(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """Scenario 8."""
    seed_cdr(cdr_db)
    live = live_load(defs, search_cluster)
    evs_down = definitions(cdr_db, mailbox, closed_port_evs(), cluster_resource(search_cluster))
    result = run(evs_down, {"sleep": "0.05"})
    assert_failed_and_untouched(result, mailbox, search_cluster, live, "EVS has died")


def test_evs_with_no_concepts_fails_with_nothing_swapped(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    live = live_load(defs, search_cluster)
    evs_server.clear()
    evs_server.expect_request(PATH).respond_with_json([])
    result = run(defs)
    assert_failed_and_untouched(
        result, mailbox, search_cluster, live, "EVS returned no concepts for the roots"
    )


def test_an_override_spanning_two_groups_fails_with_nothing_swapped(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """Scenario 4: the codes of one override have different display names."""
    seed_cdr(cdr_db)
    live = live_load(defs, search_cluster)
    set_trials_value(cdr_db, "overrides", "C2955,C7707|Colorectal Cancer|colorectal-cancer")
    result = run(defs)
    assert_failed_and_untouched(
        result,
        mailbox,
        search_cluster,
        live,
        "override for C2955,C7707 (line 1) matches soft tissue sarcoma and colorectal cancer",
    )


def test_a_malformed_override_fails_before_evs_is_called(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db, overrides="C7510|Thyroid Cancer|thyroid-cancer\nC3163|cll")
    result = run(defs)
    assert_failed_and_untouched(
        result, mailbox, search_cluster, ([], []), "malformed override on line 2: 'C3163|cll'"
    )
    assert evs_server.log == []


def test_a_refused_document_deletes_both_new_indexes(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """The ctl mapping no longer knows pretty_url_name: the strict mapping refuses the
    documents; both new indexes go, and the live ones stay."""
    seed_cdr(cdr_db)
    live = live_load(defs, search_cluster)
    body = json.loads(demo_text("listing-info.json"))
    del body["mappings"]["properties"]["pretty_url_name"]
    set_trials_value(cdr_db, "listing-info", json.dumps(body))
    result = run(defs)
    assert_failed_and_untouched(
        result, mailbox, search_cluster, live, "strict_dynamic_mapping_exception"
    )
    assert checks(result) == {}  # the load failed before the checks


def test_a_refused_alias_move_moves_neither_alias(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """An index named like the trial type alias makes the cluster refuse the one _aliases
    call: the listing alias does not move either (the legacy loader moved it first)."""
    seed_cdr(cdr_db)
    clash = f"{search_cluster.prefix}trialtypeinfov1"
    search_cluster.client().indices.create(index=clash)
    result = run(defs)
    assert not result.success
    listing_alias = f"{search_cluster.prefix}listinginfov1"
    assert aliased(search_cluster, listing_alias) == []
    assert indexes(search_cluster, listing_alias) == []
    assert indexes(search_cluster, clash) == []  # the new trial type index is gone too
    [mail] = mailbox.messages
    assert mail.message["Subject"] == SUBJECT
    assert "moving aliases" in mail.message.get_content()


# --- limited, test and dump runs --------------------------------------------------------------


def test_a_limited_load_keeps_its_indexes_and_moves_no_alias(
    defs: dg.Definitions,
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """Scenario 7."""
    seed_cdr(cdr_db)
    live = live_load(defs, search_cluster)
    evs_server.clear_log()
    result = run(defs, {"limit": "5"})
    assert result.success
    alias = f"{search_cluster.prefix}listinginfov1"
    assert aliased(search_cluster, alias) == live[0]
    [kept] = [name for name in indexes(search_cluster, alias) if name not in live[0]]
    kept_count = len(sources(search_cluster, kept))
    live_count = len(sources(search_cluster, alias))
    assert 0 < kept_count < live_count, (
        f"the limited index {kept} holds {kept_count} documents; the live one {live_count}"
    )
    assert result.asset_materializations_for_node("trial_listing_info") == []
    [observation] = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observation.metadata["mode"].value == "limited"
    assert observation.metadata["aliases_moved"].value is False
    asked = evs_server.log
    assert len(asked) < 5, f"a load limited to 5 made {len(asked)} EVS requests: {asked}"
    assert mailbox.messages == []


def test_test_mode_writes_the_legacy_files_and_no_index(
    defs: dg.Definitions,
    cdr_db: Engine,
    evs_server: HTTPServer,
    search_cluster: SearchCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    seed_cdr(cdr_db)
    result = run(defs, {"test": "yes", "dump": "yes"}, output_dir=str(tmp_path))
    assert result.success
    assert indexes(search_cluster, f"{search_cluster.prefix}listinginfov1") == []
    names = sorted(p.name for p in tmp_path.iterdir())
    [stamp] = {re.fullmatch(r"ListingInfo-(\d{14})\.json", n)[1] for n in names[:1]}
    assert names == [
        f"ListingInfo-{stamp}.json",
        "ListingInfo.dump",
        f"TrialTypeInfo-{stamp}.json",
        "TrialTypeInfo.dump",
        f"concepts-{stamp}.json",
    ]
    assert (tmp_path / "TrialTypeInfo.dump").read_text() == (
        GOLDEN / "trial-type-info-data.jsonl"
    ).read_text()
    listing = json.loads((tmp_path / names[0]).read_text())["ListingInfo"]
    assert by_url(listing, "soft-tissue-sarcoma") == [golden_document("soft-tissue-sarcoma")]
    assert checks(result) == {
        CHECK_CONCEPTS: True,
        CHECK_FIELDS: True,
        CHECK_SIZE: True,
        CHECK_URLS: True,
    }

    # the dump replayed as the groups option: no EVS, the same documents in the cluster
    evs_server.clear_log()
    result = run(defs, groups=str(tmp_path / "ListingInfo.dump"))
    assert result.success and evs_server.log == []
    loaded = sources(search_cluster, f"{search_cluster.prefix}listinginfov1")
    assert canonical(loaded) == canonical(listing)


def test_the_demo_loads_with_no_server(cdr_db: Engine, tmp_path: Path) -> None:
    """Local modes only: EVS from the demo's file, the index to a dump folder, mail to an
    outbox. The demo's ctl rows come from its data files."""
    seed_cdr(cdr_db, definitions=False)
    with cdr_db.begin() as conn:
        for name in ("listing-info", "trial-type-info"):
            set_control_value(conn, "trials", name, demo_text(f"{name}.json"))
    evs = EvsResource(
        base_url="http://127.0.0.1:9/api/v1",
        local_file=str(write_demo_evs(tmp_path / "evs" / "ncit.json")),
    )
    folder = tmp_path / "es-dump"
    defs = definitions(
        cdr_db, None, evs, SearchIndexResource(dump_dir=str(folder)), outbox=tmp_path / "out"
    )
    result = run(defs)
    assert result.success
    aliases = json.loads((folder / "aliases.json").read_text())
    [listing_index] = aliases["listinginfov1"]
    [types_index] = aliases["trialtypeinfov1"]
    lines = (folder / f"{types_index}.ndjson").read_text(encoding="utf-8").splitlines()
    assert canonical([json.loads(line) for line in lines[1::2]]) == canonical(golden_trial_types())
    assert all("_id" not in json.loads(line)["index"] for line in lines[::2])
    # the actions name the alias, as the API's trial-type-info-data.jsonl does
    assert {json.loads(line)["index"]["_index"] for line in lines[::2]} == {"trialtypeinfov1"}
    lines = (folder / f"{listing_index}.ndjson").read_text(encoding="utf-8").splitlines()
    listing = [json.loads(line) for line in lines[1::2]]
    assert by_url(listing, "rhabdomyosarcoma") == [golden_document("rhabdomyosarcoma")]
    assert not (tmp_path / "out").exists()  # no failure, no mail


# --- the code location ------------------------------------------------------------------------


def test_the_asset_follows_the_catalogue_convention() -> None:
    entry = find_job_class("trial_info.Loader")
    assert [job.name for job in jobs] == list(entry.jobs) == ["trial_listing_info_job"]
    [asset] = assets
    assert asset.key.to_user_string() == entry.target == "trial_listing_info"
    fields = {option.field for option in entry.options if option.field}
    new = {"output_dir", "max_shrink_percent", "accept_shrink", "tier"}
    assert set(TrialListingInfoConfig.model_fields) == fields | new
    assert {spec.name: spec.blocking for spec in asset.check_specs} == BLOCKING
    assert asset.op.pool == "elasticsearch"
    assert set(asset.required_resource_keys) >= {"cdr_db", "evs", "search_index", "email"}
    [job] = jobs
    assert job.tags["cdr/lock"] == "trial_listing_info"
    assert int(job.tags["dagster/max_runtime"]) > 0
    assert TrialListingInfoConfig().sleep == 500.0  # the legacy default back-off ceiling
