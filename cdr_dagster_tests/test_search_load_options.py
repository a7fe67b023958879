"""Options of the search index loads that reach the load: the ``search_index`` resource's
``bulk_documents`` and ``bulk_bytes`` bound every bulk request of the glossary, drug and trial
listing loads (counted by the ES-compatible server)."""

from __future__ import annotations

import dagster as dg
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine

from cdr_dagster_tests import test_dictionary_assets as dictionaries
from cdr_dagster_tests import test_trial_info_asset as trials
from cdr_dagster_tests.es_server import SearchCluster, search_cluster  # noqa: F401 - fixture
from cdr_dagster_tests.services.smtp import SmtpServer
from cdr_dagster_tests.test_trial_info_asset import evs_server  # noqa: F401 - fixture


def materialized(result: dg.ExecuteInProcessResult) -> dict:
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def test_bulk_knobs_bound_the_dictionary_bulk_requests(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    dictionaries.seed_cdr(cdr_db)
    for settings, requests in (
        ({}, 1),  # 6 documents fit one request of the default 500
        ({"bulk_documents": 4}, 2),
        ({"bulk_documents": 2}, 3),
        ({"bulk_bytes": 1}, 6),  # each document alone
    ):
        resource = dictionaries.cluster_resource(search_cluster, **settings)
        defs = dictionaries.definitions(cdr_db, mailbox, resource)
        result = dictionaries.run(defs, "glossary")
        assert result.success, f"the load with {settings} failed"
        metadata = materialized(result)
        assert metadata["bulk_requests"] == requests, f"{settings}: {metadata['bulk_requests']}"
        assert metadata["index_count"] == 6


def test_bulk_knobs_bound_the_trial_listing_bulk_requests(
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,  # noqa: F811
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    trials.seed_cdr(cdr_db)
    evs = trials.api_evs(evs_server)
    defs = trials.definitions(cdr_db, mailbox, evs, trials.cluster_resource(search_cluster))
    full = materialized(trials.run(defs))
    assert full["listing_bulk_requests"] == 1 and full["trial_type_bulk_requests"] == 1
    resource = trials.cluster_resource(search_cluster, bulk_documents=1)
    defs = trials.definitions(cdr_db, mailbox, evs, resource)
    one_each = materialized(trials.run(defs))
    assert one_each["listing_bulk_requests"] == full["listing_index_count"] > 1
    assert one_each["trial_type_bulk_requests"] == full["trial_type_index_count"] > 1
