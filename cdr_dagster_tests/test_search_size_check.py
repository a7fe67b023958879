"""An empty or shrunken source does not go live: the ``not_empty_or_shrunk`` blocking check of
the glossary, drug and trial listing loads, run as their jobs with real resources.

A live index is loaded first; then the source is emptied or cut (rows deleted from
``pub_proc_cg``, a groups file of fewer documents), and the next run must fail that check,
naming both counts, with every alias where it was. ``accept_shrink`` lets a real shrink
through; an empty index is refused even then.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from pytest_httpserver import HTTPServer
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.schema import pub_proc_cg
from cdr_dagster.search.size_check import CHECK_SIZE, NewIndex, compare_with_live
from cdr_dagster_tests import test_dictionary_assets as dictionaries
from cdr_dagster_tests import test_trial_info_asset as trials
from cdr_dagster_tests.es_server import (  # noqa: F401 - fixture
    SearchCluster,
    aliased,
    indexes,
    search_cluster,
)
from cdr_dagster_tests.services.smtp import SmtpServer
from cdr_dagster_tests.test_trial_info_asset import evs_server  # noqa: F401 - fixture


def size_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [found] = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_SIZE]
    return found


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The message of the run's step failure."""
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.error.message


def withdraw(engine: Engine, *doc_ids: int) -> None:
    """Take documents off cancer.gov (all of them with no ids)."""
    with engine.begin() as conn:
        query = delete(pub_proc_cg)
        if doc_ids:
            query = query.where(pub_proc_cg.c.id.in_(doc_ids))
        conn.execute(query)


def test_an_empty_source_never_goes_live(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    dictionaries.seed_cdr(cdr_db)
    defs = dictionaries.definitions(cdr_db, mailbox, dictionaries.cluster_resource(search_cluster))
    for name in ("glossary", "drugs"):
        assert dictionaries.run(defs, name).success, f"the first {name} load failed"
    live = {
        alias: aliased(search_cluster, f"{search_cluster.prefix}{alias}")
        for alias in ("glossaryv1", "drugv1")
    }
    withdraw(cdr_db)
    for name, alias, count in (("glossary", "glossaryv1", 6), ("drugs", "drugv1", 5)):
        for config in ({}, {"accept_shrink": True}):
            result = dictionaries.run(defs, name, config)
            assert not result.success, f"an empty {name} index went live with {config}"
            check = size_check(result)
            assert not check.passed
            assert "holds 0 documents" in check.description, check.description
            assert f"{alias} holds {count} now" in check.description, check.description
            full = f"{search_cluster.prefix}{alias}"
            assert aliased(search_cluster, full) == live[alias], f"{alias} moved"
            assert indexes(search_cluster, full) == live[alias], "the empty index was kept"


def test_a_shrink_is_refused_unless_accepted(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    dictionaries.seed_cdr(cdr_db)
    defs = dictionaries.definitions(cdr_db, mailbox, dictionaries.cluster_resource(search_cluster))
    assert dictionaries.run(defs, "glossary").success
    alias = f"{search_cluster.prefix}glossaryv1"
    [live] = aliased(search_cluster, alias)
    withdraw(cdr_db, 44058)  # 2 of the 6 documents

    result = dictionaries.run(defs, "glossary")
    assert not result.success
    check = size_check(result)
    assert not check.passed
    assert f"holds 4 documents, {alias} holds 6 now: 33.3% fewer" in check.description
    assert "more than the 10% allowed" in check.description
    assert aliased(search_cluster, alias) == [live]

    assert dictionaries.run(defs, "glossary", {"max_shrink_percent": 40}).success
    [wider] = aliased(search_cluster, alias)
    assert wider != live and len(dictionaries.index_documents(search_cluster, alias)) == 4

    withdraw(cdr_db, 339337)  # 3 of the 4 left
    result = dictionaries.run(defs, "glossary", {"accept_shrink": True})
    assert result.success
    assert size_check(result).passed
    assert "75.0% fewer, accepted by accept_shrink" in size_check(result).description
    assert len(dictionaries.index_documents(search_cluster, alias)) == 1


def test_a_shrunken_trial_listing_moves_neither_alias(
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,  # noqa: F811
    search_cluster: SearchCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    trials.seed_cdr(cdr_db)
    defs = trials.definitions(
        cdr_db, mailbox, trials.api_evs(evs_server), trials.cluster_resource(search_cluster)
    )
    assert trials.run(defs, {"dump": "yes"}, output_dir=str(tmp_path)).success
    names = [f"{search_cluster.prefix}{a}" for a in ("listinginfov1", "trialtypeinfov1")]
    live = [aliased(search_cluster, name) for name in names]
    lines = (tmp_path / "ListingInfo.dump").read_text(encoding="utf-8").splitlines()
    documents = len(lines) // 2
    half = tmp_path / "half.dump"
    half.write_text("\n".join(lines[: 2 * (documents // 2)]) + "\n", encoding="utf-8")

    result = trials.run(defs, groups=str(half))
    assert not result.success
    check = size_check(result)
    assert not check.passed
    assert f"holds {documents // 2} documents, {names[0]} holds {documents} now" in (
        check.description
    )
    assert [aliased(search_cluster, name) for name in names] == live, "an alias moved"

    result = trials.run(defs, groups=str(half), accept_shrink=True)
    assert result.success
    assert [aliased(search_cluster, name) for name in names] != live
    listed = trials.sources(search_cluster, names[0])
    assert len(listed) == documents // 2
    assert json.loads(lines[1]) in listed


def test_the_check_names_both_counts_and_never_accepts_empty() -> None:
    shrunk = [NewIndex("drugv1", "drugv1-20240101000000", 80)]
    outcome = compare_with_live(shrunk, [100])
    assert not outcome.passed
    assert outcome.summary == (
        "drugv1-20240101000000 holds 80 documents, drugv1 holds 100 now: 20.0% fewer, more "
        "than the 10% allowed (run with accept_shrink to accept a real shrink)"
    )
    assert compare_with_live(shrunk, [100], max_shrink_percent=20).passed
    assert compare_with_live(shrunk, [100], accept_shrink=True).passed
    assert compare_with_live(shrunk, [None]).passed  # the first load
    empty = [NewIndex("drugv1", "drugv1-20240101000000", 0)]
    for live in (None, 0, 100):
        refused = compare_with_live(empty, [live], accept_shrink=True)
        assert not refused.passed and "an empty index never goes live" in refused.summary
    assert not compare_with_live(empty, [None], compared=False).passed  # test mode too
