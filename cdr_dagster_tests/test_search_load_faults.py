"""Faults at every step of a load never leave an alias on nothing or on a half-built index.

Each case loads once cleanly (the live index), then loads again through the fault-injecting
proxy (``fault_proxy.py``) in front of the ES-compatible server, with the real elasticsearch
7.17 client and its retries, for the glossary (``glossaryv1``), drug (``drugv1``) and trial
listing (``listinginfov1`` with ``trialtypeinfov1``) loads. A fault hits one step: creating an
index, a bulk request, the refresh, the count, reading the index back for the checks, the
force-merge, reading the aliases, the ``_aliases`` call before or after the cluster applied
it, or the clean-up of old indexes.

Counted afterwards, straight from the server: aliases on nothing (missing, or on an index that
is gone) and aliases on a half-built index (holding fewer documents than a full load), both
must be 0; and the indexes left behind, which are reported: a new index the load left must be
named in its log, and old indexes the clean-up could not drop are printed with the counts.
The run's outcome must match the cluster: a load that says it succeeded has moved every alias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.dictionaries.build import DICTIONARIES
from cdr_dagster.cdr.dictionaries.load import run_load as load_dictionary
from cdr_dagster.cdr.trial_info.control import read_trial_control
from cdr_dagster.cdr.trial_info.load import build_listing
from cdr_dagster.cdr.trial_info.load import run_load as load_trials
from cdr_dagster.demo.trial_info import write_demo_evs
from cdr_dagster.resources.evs import EvsResource
from cdr_dagster.resources.search_index import SearchIndexResource
from cdr_dagster_tests import test_dictionary_assets as dictionaries
from cdr_dagster_tests.es_server import SearchCluster, search_cluster  # noqa: F401 - fixture
from cdr_dagster_tests.fault_proxy import Fault, FaultProxy
from cdr_dagster_tests.services.smtp import SmtpServer
from cdr_dagster_tests.test_dictionary_assets import seed_cdr as seed_dictionaries
from cdr_dagster_tests.test_trial_info_asset import seed_cdr as seed_trials

LIVE = datetime(2024, 3, 1, 2, 0, 0)
AGAIN = datetime(2024, 3, 2, 2, 0, 0)
STAMPED = r"/[^_/][^/]*-\d{14}"

#: The aliases each load moves.
ALIASES = {
    "glossary": ["glossaryv1"],
    "drugs": ["drugv1"],
    "trials": ["listinginfov1", "trialtypeinfov1"],
}


def _faults(*specs: tuple) -> Callable[[], list[Fault]]:
    return lambda: [Fault(*spec) for spec in specs]


def _then_aliases_unreadable(action: str) -> Callable[[], list[Fault]]:
    """The alias call fails with ``action`` every time, and from then on the aliases cannot
    be read: the load cannot tell whether the move happened."""

    def faults() -> list[Fault]:
        first = Fault("POST", "/_aliases", action, times=0)
        return [first, Fault("*", r"/_alias/.*", "504", times=0, after=first)]

    return faults


#: fault case id -> the faults of the second load.
CASES: dict[str, Callable[[], list[Fault]]] = {
    "create refused": _faults(("PUT", STAMPED, "504", 1, 0)),
    "create applied, reply lost": _faults(("PUT", STAMPED, "drop after", 1, 0)),
    "second create applied, reply lost": _faults(("PUT", STAMPED, "drop after", 2, 0)),
    "first bulk reply lost once": _faults(("POST", "/_bulk", "drop after", 1, 1)),
    "bulk always 504": _faults(("POST", "/_bulk", "504", 1, 0)),
    "bulk applied, always 504": _faults(("POST", "/_bulk", "504 after", 1, 0)),
    "refresh fails": _faults(("*", r"/.*/_refresh", "504", 1, 0)),
    "count fails": _faults(("*", r"/.*/_count", "drop", 1, 0)),
    "reading back fails": _faults(("*", r"/.*/_search", "504", 1, 0)),
    "scroll fails": _faults(("*", r"/_search/scroll", "drop after", 1, 0)),
    "force-merge fails": _faults(("POST", r"/.*/_forcemerge", "504", 1, 0)),
    "aliases unreadable": _faults(("GET", r"/_alias/.*", "504", 1, 0)),
    "alias call never applied": _faults(("POST", "/_aliases", "504", 1, 0)),
    "alias call dropped once": _faults(("POST", "/_aliases", "drop", 1, 1)),
    "alias call applied, 504": _faults(("POST", "/_aliases", "504 after", 1, 1)),
    "alias call applied, reply dropped": _faults(("POST", "/_aliases", "drop after", 1, 1)),
    "alias call applied, every reply lost": _faults(("POST", "/_aliases", "drop after", 1, 0)),
    "alias call applied, then aliases unreadable": _then_aliases_unreadable("drop after"),
    "alias call refused, then aliases unreadable": _then_aliases_unreadable("504"),
    "clean-up cannot list": _faults(("GET", r"/_cat/indices/.*", "504", 1, 0)),
    "clean-up cannot delete": _faults(("DELETE", STAMPED, "504", 1, 0)),
}


@dataclass
class Outcome:
    """What the faulty load said: success or its error, and its log."""

    error: Exception | None
    log: list[str]

    def text(self) -> str:
        return "\n".join(self.log + ([str(self.error)] if self.error else []))


def run_one(kind: str, engine: Engine, url: str, prefix: str, now: datetime, tmp: Path) -> Outcome:
    """One load of ``kind`` to the cluster at ``url``; old indexes are all dropped after a
    swap (keep 0), so the clean-up has work to do."""
    log: list[str] = []
    backend = SearchIndexResource(url=url, bulk_documents=2).backend()
    common: dict[str, Any] = {
        "now": now,
        "alias_prefix": prefix,
        "keep_indexes": 0,
        "keep_days": 0,
        "log": log.append,
    }
    try:
        with engine.connect() as conn:
            if kind == "trials":
                control = read_trial_control(conn)
                evs = EvsResource(local_file=str(write_demo_evs(tmp / "ncit.json")))
                build = build_listing(control, fetch=evs.client(0.01).concepts)
                load_trials(build, control, backend, output_dir=tmp, **common)
            else:
                load_dictionary(conn, DICTIONARIES[kind], backend, tier="DEV", **common)
    except Exception as exc:  # noqa: BLE001 - the outcome is what is being tested
        return Outcome(exc, log)
    finally:
        backend.close()
    return Outcome(None, log)


def stamped(client: Any, alias: str) -> dict[str, int]:
    """Index -> document count, for every ``{alias}-<stamp>`` index."""
    rows = client.cat.indices(index=f"{alias}-*", format="json", h="index,docs.count")
    return {row["index"]: int(row["docs.count"]) for row in rows}


def aliased(client: Any, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias))


#: Cases that need two indexes (only the trial listing load makes two).
TWO_INDEXES = {"second create applied, reply lost"}


@pytest.mark.parametrize(
    ("kind", "case"),
    [(k, c) for k in ALIASES for c in CASES if c not in TWO_INDEXES or len(ALIASES[k]) > 1],
)
def test_a_fault_never_leaves_an_alias_on_nothing_or_half_built(
    kind: str,
    case: str,
    cdr_db: Engine,
    search_cluster: SearchCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    if kind == "trials":
        seed_trials(cdr_db)
    else:
        seed_dictionaries(cdr_db)
    prefix = search_cluster.prefix
    client = search_cluster.client()
    first = run_one(kind, cdr_db, search_cluster.url, prefix, LIVE, tmp_path)
    assert first.error is None, f"the clean load failed: {first.error}"
    aliases = [f"{prefix}{alias}" for alias in ALIASES[kind]]
    live = {alias: aliased(client, alias) for alias in aliases}
    full = {alias: stamped(client, alias)[live[alias][0]] for alias in aliases}
    assert all(full.values()), f"the clean load left an empty index: {full}"

    faults = CASES[case]()
    with FaultProxy(search_cluster.url, faults) as proxy:
        outcome = run_one(kind, cdr_db, proxy.url, prefix, AGAIN, tmp_path)
    assert any(fault.hits for fault in faults), f"{case}: no fault fired ({proxy.requests})"

    on_nothing, half_built, moved = [], [], []
    left_new, left_old = [], []
    for alias in aliases:
        indexes = stamped(client, alias)
        targets = aliased(client, alias)
        if not targets or any(target not in indexes for target in targets):
            on_nothing.append(f"{alias} -> {targets}")
            continue
        half_built += [
            f"{alias} -> {t} ({indexes[t]} of {full[alias]})"
            for t in targets
            if indexes[t] != full[alias]
        ]
        moved.append(targets != live[alias])
        left_new += [i for i in indexes if i not in targets and i not in live[alias]]
        left_old += [i for i in indexes if i not in targets and i in live[alias]]
    print(f"\n{kind} / {case}: left new {left_new}, not dropped {left_old}")
    assert on_nothing == [], f"aliases left on nothing: {on_nothing}\n{outcome.text()}"
    assert half_built == [], f"aliases on a half-built index: {half_built}\n{outcome.text()}"
    assert len(set(moved)) == 1, f"some aliases moved, some not: {moved}\n{outcome.text()}"
    if outcome.error is None:
        assert all(moved), f"the load succeeded but an alias did not move\n{outcome.text()}"
    for index in left_new:
        assert f"left the new index {index} in place" in outcome.text(), (
            f"index {index} was left behind without being reported\n{outcome.text()}"
        )


def test_a_lost_alias_reply_is_a_successful_run(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """The reported case, as the job runs it: the cluster applies the alias move and the reply
    is lost; the run reads the aliases back, succeeds and mails success, and glossaryv1 serves
    the new index (it was deleted, leaving the alias on nothing, before)."""
    dictionaries.seed_cdr(cdr_db)
    direct = dictionaries.definitions(
        cdr_db, mailbox, dictionaries.cluster_resource(search_cluster)
    )
    assert dictionaries.run(direct, "glossary").success
    alias = f"{search_cluster.prefix}glossaryv1"
    [live] = aliased(search_cluster.client(), alias)
    mailbox.clear()
    lost = Fault("POST", "/_aliases", "drop after", times=0)
    with FaultProxy(search_cluster.url, [lost]) as proxy:
        resource = SearchIndexResource(url=proxy.url, index_prefix=search_cluster.prefix)
        result = dictionaries.run(dictionaries.definitions(cdr_db, mailbox, resource), "glossary")
    assert lost.hits >= 2, f"the alias call was not retried: {lost.hits} hit(s)"
    assert result.success
    [new] = aliased(search_cluster.client(), alias)
    assert new != live
    assert set(dictionaries.index_documents(search_cluster, alias)) == dictionaries.GLOSSARY_IDS
    [mail] = mailbox.messages
    assert not mail.message["Subject"].endswith("(FAILURE)")
    assert "reply to the alias move was lost" in mail.message.get_content()
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["alias_moved"].value is True
