"""Index definitions come from the CDR's ``ctl`` rows, with no fallback: a load whose row is
missing (or inactive) fails before any index is made, naming the group and the name."""

from __future__ import annotations

from datetime import datetime

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.index_definitions import IndexDefinitionError, read_index_definition
from cdr_dagster.cdr.schema import ctl
from cdr_dagster_tests import test_dictionary_assets as dictionaries
from cdr_dagster_tests import test_trial_info_asset as trials
from cdr_dagster_tests.es_server import (  # noqa: F401 - fixture
    SearchCluster,
    indexes,
    search_cluster,
)
from cdr_dagster_tests.services.smtp import SmtpServer
from cdr_dagster_tests.test_search_size_check import failure_text
from cdr_dagster_tests.test_trial_info_asset import evs_server  # noqa: F401 - fixture


def inactivate(engine: Engine, group: str, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(ctl)
            .where(ctl.c.grp == group, ctl.c.name == name, ctl.c.inactivated.is_(None))
            .values(inactivated=datetime.now())
        )


@pytest.mark.parametrize(("load", "alias"), [("glossary", "glossaryv1"), ("drugs", "drugv1")])
def test_a_dictionary_load_needs_its_ctl_definition(
    load: str,
    alias: str,
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    dictionaries.seed_cdr(cdr_db)
    inactivate(cdr_db, "dictionary", load)
    defs = dictionaries.definitions(cdr_db, mailbox, dictionaries.cluster_resource(search_cluster))
    result = dictionaries.run(defs, load)
    assert not result.success
    message = failure_text(result)
    assert f"no active ctl row with group 'dictionary' and name '{load}'" in message, message
    assert indexes(search_cluster, f"{search_cluster.prefix}{alias}") == []


@pytest.mark.parametrize("name", ["listing-info", "trial-type-info"])
def test_the_trial_listing_load_needs_both_ctl_definitions(
    name: str,
    cdr_db: Engine,
    mailbox: SmtpServer,
    evs_server: HTTPServer,  # noqa: F811
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    trials.seed_cdr(cdr_db)
    inactivate(cdr_db, "trials", name)
    defs = trials.definitions(
        cdr_db, mailbox, trials.api_evs(evs_server), trials.cluster_resource(search_cluster)
    )
    result = trials.run(defs)
    assert not result.success
    message = failure_text(result)
    assert f"no active ctl row with group 'trials' and name '{name}'" in message, message
    assert evs_server.log == [], "EVS was called before the definitions were read"
    for alias in ("listinginfov1", "trialtypeinfov1"):
        assert indexes(search_cluster, f"{search_cluster.prefix}{alias}") == []


def test_an_empty_or_broken_row_is_named(cdr_db: Engine) -> None:
    from cdr_dagster.cdr.control import set_control_value

    with cdr_db.begin() as conn:
        set_control_value(conn, "dictionary", "glossary", "{not json")
        with pytest.raises(IndexDefinitionError, match=r"ctl dictionary/glossary"):
            read_index_definition(conn, "dictionary", "glossary")
        set_control_value(conn, "dictionary", "glossary", '{"settings": {}}')
        with pytest.raises(IndexDefinitionError, match=r"ctl dictionary/glossary is not an"):
            read_index_definition(conn, "dictionary", "glossary")
        with pytest.raises(IndexDefinitionError, match=r"group 'dictionary' and name 'drugs'"):
            read_index_definition(conn, "dictionary", "drugs")
