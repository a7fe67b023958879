"""The ``tier`` option chooses the CDR database and the Elasticsearch cluster together.

The local tier here is DEV (``CDR_TIER``): the ``cdr_db`` fixture's database and the shared
ES-compatible server. "PROD" is a second PostgreSQL database holding different content and a
second ES-compatible server, reached only through ``CDR_DB_URL_PROD``, ``CDR_ES_HOST_PROD`` and
``CDR_ES_PORT_PROD``. A run for PROD must read PROD's documents and write PROD's cluster, and
leave DEV's cluster alone; a tier without its settings is refused naming each variable, before
anything is read or written.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.schema import create_schema
from cdr_dagster_tests import test_dictionary_assets as dictionaries
from cdr_dagster_tests import test_trial_info_asset as trials
from cdr_dagster_tests.es_server import (  # noqa: F401 - fixture
    EsCompatibleServer,
    SearchCluster,
    aliased,
    indexes,
    search_cluster,
)
from cdr_dagster_tests.services.postgres import temporary_database
from cdr_dagster_tests.services.smtp import SmtpServer
from cdr_dagster_tests.test_search_size_check import failure_text, withdraw
from cdr_dagster_tests.test_trial_info_asset import evs_server  # noqa: F401 - fixture


@pytest.fixture
def prod_db() -> Iterator[Engine]:
    """PROD's CDR database (empty schema)."""
    with temporary_database("cdr_prod") as url:
        engine = create_engine(url)
        create_schema(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def prod_cluster() -> Iterator[EsCompatibleServer]:
    """PROD's cluster: an ES-compatible server of its own."""
    server = EsCompatibleServer().start()
    yield server
    server.stop()


@pytest.fixture
def on_dev(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The code location runs on DEV; no other tier is configured."""
    monkeypatch.setenv("CDR_TIER", "DEV")
    for name in ("DB_URL", "ES_HOST", "ES_PORT", "ES_USER", "ES_PASSWORD", "ES_DUMP_DIR"):
        for tier in ("PROD", "QA"):
            monkeypatch.delenv(f"CDR_{name}_{tier}", raising=False)
    return monkeypatch


def configure_prod(monkeypatch: pytest.MonkeyPatch, db: Engine, cluster: EsCompatibleServer):
    monkeypatch.setenv("CDR_DB_URL_PROD", db.url.render_as_string(hide_password=False))
    parts = urlsplit(cluster.url)
    monkeypatch.setenv("CDR_ES_HOST_PROD", parts.hostname or "")
    monkeypatch.setenv("CDR_ES_PORT_PROD", str(parts.port))


def stamped(server: EsCompatibleServer, alias: str) -> list[str]:
    return sorted(name for name in server.cluster.indexes if name.startswith(f"{alias}-"))


def test_a_dictionary_load_for_prod_reads_and_writes_prod(
    cdr_db: Engine,
    prod_db: Engine,
    prod_cluster: EsCompatibleServer,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
    on_dev: pytest.MonkeyPatch,
) -> None:
    dictionaries.seed_cdr(cdr_db)
    dictionaries.seed_cdr(prod_db)
    withdraw(prod_db, 44058)  # PROD has 4 glossary documents, DEV 6
    configure_prod(on_dev, prod_db, prod_cluster)
    defs = dictionaries.definitions(cdr_db, mailbox, dictionaries.cluster_resource(search_cluster))
    result = dictionaries.run(defs, "glossary", {"tier": "PROD"})
    assert result.success
    alias = f"{search_cluster.prefix}glossaryv1"
    assert indexes(search_cluster, alias) == [], "DEV's cluster was written"
    [live] = stamped(prod_cluster, alias)
    assert sorted(prod_cluster.cluster.aliases[alias]) == [live]
    documents = prod_cluster.cluster.indexes[live].documents
    assert set(documents) == dictionaries.GLOSSARY_IDS - {
        "44058_cancer.gov_en_patient",
        "44058_cancer.gov_es_patient",
    }, "not PROD's documents"
    audio = documents["339337_cancer.gov_en_patient"]["pronunciation"]["audio"]
    assert audio == "https://nci-media.cancer.gov/pdq/media/audio/736960.mp3"
    assert mailbox.messages[0].message["Subject"].startswith("[PROD] Load of glossary")

    # the local tier still means the resources
    assert dictionaries.run(defs, "glossary").success
    assert len(dictionaries.index_documents(search_cluster, alias)) == 6


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "set CDR_DB_URL_QA, CDR_ES_HOST_QA"),
        ({"CDR_DB_URL_QA": "db"}, "set CDR_ES_HOST_QA "),
        ({"CDR_ES_HOST_QA": "es.qa"}, "set CDR_DB_URL_QA "),
        (
            {"CDR_DB_URL_QA": "db", "CDR_ES_HOST_QA": "es.qa", "CDR_ES_USER_QA": "loader"},
            "set CDR_ES_PASSWORD_QA ",
        ),
    ],
)
def test_a_tier_without_its_settings_is_refused_naming_them(
    settings: dict[str, str],
    named: str,
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
    on_dev: pytest.MonkeyPatch,
) -> None:
    dictionaries.seed_cdr(cdr_db)
    for name, value in settings.items():
        on_dev.setenv(name, value)
    defs = dictionaries.definitions(cdr_db, mailbox, dictionaries.cluster_resource(search_cluster))
    for load, alias in (("glossary", "glossaryv1"), ("drugs", "drugv1")):
        result = dictionaries.run(defs, load, {"tier": "QA"})
        assert not result.success
        message = failure_text(result)
        assert "tier QA is not configured on this DEV code location" in message, message
        assert named in message, message
        assert indexes(search_cluster, f"{search_cluster.prefix}{alias}") == []


def test_the_trial_listing_load_for_prod_reads_and_writes_prod(
    cdr_db: Engine,
    prod_db: Engine,
    prod_cluster: EsCompatibleServer,
    mailbox: SmtpServer,
    evs_server: HTTPServer,  # noqa: F811
    search_cluster: SearchCluster,  # noqa: F811
    on_dev: pytest.MonkeyPatch,
) -> None:
    trials.seed_cdr(cdr_db)
    trials.seed_cdr(prod_db)
    with prod_db.begin() as conn:  # PROD lists two trial types
        labels = trials.demo_text("labels.txt").splitlines()[:2]
        set_control_value(conn, "trials", "labels", "\n".join(labels) + "\n")
    defs = trials.definitions(
        cdr_db, mailbox, trials.api_evs(evs_server), trials.cluster_resource(search_cluster)
    )
    result = trials.run(defs, tier="QA")
    assert not result.success
    assert "set CDR_DB_URL_QA, CDR_ES_HOST_QA" in failure_text(result)
    assert evs_server.log == [], "EVS was called for a tier that is not configured"

    configure_prod(on_dev, prod_db, prod_cluster)
    assert trials.run(defs, tier="PROD").success
    alias = f"{search_cluster.prefix}trialtypeinfov1"
    assert indexes(search_cluster, alias) == [], "DEV's cluster was written"
    [live] = stamped(prod_cluster, alias)
    labels = sorted(d["label"] for d in prod_cluster.cluster.indexes[live].documents.values())
    assert labels == ["Other", "Treatment"], "not PROD's trial types"
    assert stamped(prod_cluster, f"{search_cluster.prefix}listinginfov1")
