"""The search_index resource and the alias discipline, through the real elasticsearch client.

Every test marked with the ``search_cluster`` fixture runs against the ES-compatible server
(``es_server.py``) and, unchanged, against a real cluster when CDR_TEST_ELASTICSEARCH_URL is
set. Names carry a per-test prefix, so the tests never meet each other's indexes. The dump
folder (the legacy ``dump`` option and the demo's local mode) gets the same treatment on disk.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.resources.search_index import (
    SearchIndexResource,
    build_search_index_resource,
    missing_search_index_variables,
)
from cdr_dagster.search.backends import (
    BulkError,
    DumpFolderBackend,
    SearchBackend,
    SearchIndexError,
)
from cdr_dagster.search.bulk import bulk_bodies
from cdr_dagster.search.indexes import IndexLoad, indexes_to_drop
from cdr_dagster_tests.es_server import SearchCluster, search_cluster  # noqa: F401 - fixture

DEFINITION = {
    "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "term_id": {"type": "long"},
            "name": {"type": "keyword"},
            "aliases": {
                "type": "nested",
                "properties": {"type": {"type": "keyword"}, "name": {"type": "keyword"}},
            },
        },
    },
}
NIGHT_1 = datetime(2024, 1, 9, 1, 30, 5)
NIGHT_2 = datetime(2024, 1, 10, 1, 30, 5)


def documents(count: int, start: int = 1) -> list[tuple[str, dict]]:
    return [(str(n), {"term_id": str(n), "name": f"drug {n}"}) for n in range(start, start + count)]


def backend_for(cluster: SearchCluster) -> SearchBackend:
    return SearchIndexResource(url=cluster.url).backend()


def load(backend: SearchBackend, alias: str, now: datetime, docs, **kw) -> IndexLoad:
    """A complete load with the alias swap; returns the finished IndexLoad."""
    with IndexLoad(backend, alias, DEFINITION, now, max_documents=kw.pop("per_bulk", 50)) as job:
        job.load(docs)
        job.verify_count()
        job.swap(**kw)
    return job


def test_the_client_accepts_the_cluster(search_cluster: SearchCluster) -> None:  # noqa: F811
    """The 7.17 client's product check passes, and an index gets the strict mapping."""
    backend = backend_for(search_cluster)
    name = f"{search_cluster.prefix}probe"
    backend.create_index(name, DEFINITION)
    assert backend.index_exists(name)
    mapping = search_cluster.client().indices.get_mapping(index=name)[name]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert backend.list_indexes(f"{search_cluster.prefix}*") == [name]
    backend.delete_index(name)
    backend.delete_index(name)  # a missing index is no error
    assert not backend.index_exists(name)
    backend.close()


def test_a_load_creates_a_stamped_index_and_moves_the_alias(
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}drugv1"
    job = load(backend, alias, NIGHT_1, documents(120), per_bulk=50)
    assert job.index == f"{alias}-20240109013005"
    assert job.stats.bulk_requests == 3 and job.stats.documents == 120
    assert job.stats.count == 120 and job.stats.swapped and job.stats.previous == []
    assert backend.alias_indexes(alias) == [job.index]
    assert backend.count(alias) == 120
    found = dict(backend.documents(job.index))
    assert found["7"] == {"term_id": "7", "name": "drug 7"} and len(found) == 120
    client = search_cluster.client()
    assert client.get(index=alias, id="120")["_source"]["name"] == "drug 120"


def test_a_reload_swaps_the_alias_atomically_and_drops_old_indexes(
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}glossaryv1"
    first = load(backend, alias, NIGHT_1, documents(10))
    second = load(backend, alias, NIGHT_2, documents(12), keep=0, keep_days=0)
    assert second.stats.previous == [first.index]
    assert backend.alias_indexes(alias) == [second.index]
    assert backend.count(alias) == 12
    assert second.stats.dropped == [first.index]
    assert backend.list_indexes(f"{alias}-*") == [second.index]


def test_a_failure_mid_bulk_leaves_the_alias_on_the_old_index(
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}drugv1"
    live = load(backend, alias, NIGHT_1, documents(5))
    docs = documents(6) + [("bad", {"term_id": "7", "unknown_field": "x"})] + documents(3, 8)
    job = IndexLoad(backend, alias, DEFINITION, NIGHT_2, max_documents=2)
    with pytest.raises(BulkError, match=r"bad: strict_dynamic_mapping_exception"), job:
        job.load(docs)
    assert job.stats.bulk_requests == 3  # three bodies went in before the fourth was refused
    assert backend.alias_indexes(alias) == [live.index]
    assert backend.count(alias) == 5
    assert not backend.index_exists(job.index)
    assert backend.list_indexes(f"{alias}-*") == [live.index]


def test_a_long_field_refuses_text(search_cluster: SearchCluster) -> None:  # noqa: F811
    backend = backend_for(search_cluster)
    job = IndexLoad(backend, f"{search_cluster.prefix}x", DEFINITION, NIGHT_1)
    with pytest.raises(BulkError, match="term_id"), job:
        job.load([("1", {"term_id": "one"})])
    assert not backend.index_exists(job.index)


def test_an_alias_that_is_an_index_stops_the_swap_and_the_new_index_goes(
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """As in the APIs' integration tests, a concrete index named like the alias: Elasticsearch
    refuses the add, the load fails, and nothing is left behind."""
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}glossaryv1"
    backend.create_index(alias, DEFINITION)
    with pytest.raises(SearchIndexError, match="moving aliases .* failed"):
        load(backend, alias, NIGHT_1, documents(3))
    assert backend.list_indexes(f"{alias}-*") == []
    assert backend.index_exists(alias)


def test_reading_an_index_back_pages_through_all_documents(
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}drugv1"
    job = load(backend, alias, NIGHT_1, documents(2345), per_bulk=500)
    assert sorted(int(i) for i, _ in backend.documents(job.index)) == list(range(1, 2346))


def test_two_loads_in_one_second_get_two_names(search_cluster: SearchCluster) -> None:  # noqa: F811
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}drugv1"
    first = load(backend, alias, NIGHT_1, documents(1))
    second = load(backend, alias, NIGHT_1, documents(1))
    assert (first.index, second.index) == (f"{alias}-20240109013005", f"{alias}-20240109013006")


def test_clean_up_keeps_the_newest_and_the_recent(search_cluster: SearchCluster) -> None:  # noqa: F811
    """Index clean-up on a cluster: today 2024-01-10, indexes of the 1st to the 9th and
    the new one: the 1st to the 4th go, the 5th stays (cutoff day), the newest five stay."""
    backend = backend_for(search_cluster)
    alias = f"{search_cluster.prefix}glossaryv1"
    old = [f"{alias}-202401{day:02d}013000" for day in range(1, 10)]
    for name in old:
        backend.create_index(name, DEFINITION)
    other = f"{search_cluster.prefix}glossaryv1x-20240101013000"  # another alias's index
    backend.create_index(other, DEFINITION)
    job = load(backend, alias, datetime(2024, 1, 10, 1, 30), documents(2))
    assert job.stats.dropped == old[:4]
    assert backend.list_indexes(f"{alias}-*") == [*old[4:], job.index]
    assert backend.index_exists(other)


def test_the_legacy_clean_up_rule() -> None:
    names = [f"g-202401{day:02d}010000" for day in range(1, 11)] + ["g-old", "g-19990101000000"]
    assert indexes_to_drop("g", names, date(2024, 1, 10)) == [
        f"g-2024010{d}010000" for d in (1, 2, 3, 4)
    ]
    assert indexes_to_drop("g", names, date(2024, 1, 10), keep=0, keep_days=0) == names[:9]
    assert (
        indexes_to_drop("g", names, date(2024, 1, 10), keep=0, keep_days=0, protect=names[:2])
        == names[2:9]
    )
    assert indexes_to_drop("g", names, date(2024, 1, 10), keep=20, keep_days=0) == []
    # fewer indexes than ``keep``: every one stays, however old
    assert indexes_to_drop("g", names[:3], date(2024, 1, 10), keep=5, keep_days=0) == []


def test_bulk_bodies_are_bounded_by_count_and_size() -> None:
    docs = documents(5)
    by_count = list(bulk_bodies("i", docs, max_documents=2))
    assert [b.count for b in by_count] == [2, 2, 1]
    assert by_count[0].data == (
        b'{"index":{"_index":"i","_id":"1"}}\n{"term_id":"1","name":"drug 1"}\n'
        b'{"index":{"_index":"i","_id":"2"}}\n{"term_id":"2","name":"drug 2"}\n'
    )
    by_size = list(bulk_bodies("i", docs, max_bytes=130))
    assert [b.count for b in by_size] == [1, 1, 1, 1, 1]
    assert list(bulk_bodies("i", [(None, {"name": "é"})]))[0].data == (
        '{"index":{"_index":"i"}}\n{"name":"é"}\n'.encode()
    )


# --- the dump folder ------------------------------------------------------------------------


def test_the_dump_folder_keeps_the_bulk_bodies_with_the_alias(tmp_path: Path) -> None:
    """The files are what the consumer APIs load: each action names the alias."""
    backend = SearchIndexResource(dump_dir=str(tmp_path / "dump")).backend()
    assert isinstance(backend, DumpFolderBackend)
    job = load(backend, "drugv1", NIGHT_1, documents(3), per_bulk=2)
    folder = tmp_path / "dump"
    data = (folder / f"{job.index}.ndjson").read_bytes()
    assert data == b"".join(b.data for b in bulk_bodies("drugv1", documents(3), 2))
    assert json.loads((folder / f"{job.index}.index.json").read_text()) == DEFINITION
    assert json.loads((folder / "aliases.json").read_text()) == {"drugv1": [job.index]}
    second = load(backend, "drugv1", NIGHT_2, documents(4), keep=0, keep_days=0)
    assert json.loads((folder / "aliases.json").read_text()) == {"drugv1": [second.index]}
    assert sorted(p.name for p in folder.iterdir()) == [
        "aliases.json",
        f"{second.index}.index.json",
        f"{second.index}.ndjson",
    ]
    assert backend.count("drugv1") == 4
    assert dict(backend.documents(second.index))["4"] == {"term_id": "4", "name": "drug 4"}


def test_the_dump_folder_refuses_what_a_strict_mapping_refuses(tmp_path: Path) -> None:
    backend = DumpFolderBackend(tmp_path)
    live = load(backend, "drugv1", NIGHT_1, documents(2))
    job = IndexLoad(backend, "drugv1", DEFINITION, NIGHT_2)
    bad = [("1", {"term_id": "1", "aliases": [{"type": "x", "nickname": "y"}]})]
    with (
        pytest.raises(BulkError, match=r"dynamic introduction of \[nickname\] within \[aliases\]"),
        job,
    ):
        job.load(bad)
    assert backend.alias_indexes("drugv1") == [live.index]
    assert backend.list_indexes("drugv1-*") == [live.index]


def test_later_documents_with_the_same_id_replace_earlier_ones(tmp_path: Path) -> None:
    backend = DumpFolderBackend(tmp_path)
    job = load(
        backend, "g", NIGHT_1, [("a", {"name": "1"}), ("b", {"name": "2"}), ("a", {"name": "3"})]
    )
    assert job.stats.count == 2 and dict(backend.documents(job.index)) == {
        "a": {"name": "3"},
        "b": {"name": "2"},
    }


# --- configuration ----------------------------------------------------------------------------


def test_resource_from_the_environment_cluster_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "CDR_ES_HOST": "es.example.gov",
        "CDR_ES_PORT": "9243",
        "CDR_ES_SCHEME": "https",
        "CDR_ES_USER": "admin",
        "CDR_ES_PASSWORD": "s3cret",
    }
    resource = build_search_index_resource(environment)
    assert resource.mode == "cluster"
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with dg.build_resources({"search_index": resource}) as resources:
        live = resources.search_index
        assert (live.host, live.port, live.scheme) == ("es.example.gov", 9243, "https")
        assert (live.username, live.password) == ("admin", "s3cret")
        assert live.target() == "es.example.gov"
        backend = live.backend()
        assert backend.target == "https://es.example.gov:9243"
        backend.close()


def test_resource_from_the_environment_needs_a_host_when_the_run_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CDR_ES_HOST", raising=False)
    resource = build_search_index_resource({})  # the code location still loads
    with pytest.raises(Exception, match="CDR_ES_HOST"):
        with dg.build_resources({"search_index": resource}):
            pass


def test_resource_from_the_environment_dump_mode(tmp_path: Path) -> None:
    resource = build_search_index_resource({"CDR_ES_DUMP_DIR": str(tmp_path), "CDR_ES_HOST": "x"})
    assert resource.mode == "dump" and resource.target() == str(tmp_path)
    assert isinstance(resource.backend(), DumpFolderBackend)


def test_a_run_may_name_another_host() -> None:
    resource = SearchIndexResource(host="es-a.example.gov", port=9200)
    assert resource.target("es-b.example.gov") == "es-b.example.gov"
    backend = resource.backend("es-b.example.gov", 9400)
    assert backend.target == "http://es-b.example.gov:9400"
    backend.close()
    with pytest.raises(ValueError, match="no Elasticsearch host"):
        SearchIndexResource().backend()
    by_url = SearchIndexResource(url="https://es.example.gov:9243")
    assert by_url.target() == "es.example.gov"
    backend = by_url.backend(port=9400)
    assert backend.target == "https://es.example.gov:9400"
    backend.close()


@pytest.mark.parametrize(
    ("environment", "missing"),
    [
        ({"CDR_ES_DUMP_DIR": "/x"}, []),
        ({}, ["CDR_ES_HOST"]),
        ({"CDR_ES_HOST": "es"}, []),
        ({"CDR_ES_HOST": "es", "CDR_ES_USER": "admin"}, ["CDR_ES_PASSWORD"]),
        ({"CDR_ES_USER": "admin", "CDR_ES_PASSWORD": " "}, ["CDR_ES_HOST", "CDR_ES_PASSWORD"]),
    ],
)
def test_missing_variables_are_named_up_front(environment: dict, missing: list) -> None:
    assert missing_search_index_variables(environment) == missing
