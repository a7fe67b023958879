"""A whole glossary load per 1,000 terms, against the floor of its reading and bulk loading.

The load is the one ``glossary_dictionary`` runs (:func:`cdr_dagster.cdr.dictionaries.load.
run_load`): the term ids and the exported XML read from a CDR database (SQLite here, holding
1,000 GlossaryTermName documents on cancer.gov made from the demo's, each with names of its
own), the CDR filter and the ctl index definition, every term built and streamed in bulk
requests into the ES-compatible test server through the real elasticsearch client, the
count, the checks on what the index holds (read back), the size check against the live
index, the alias swap and the clean-up of the previous index.

The floor is what no load can avoid: the same read of the same exported XML from the same
database, and the same bulk requests of the same documents, built beforehand, into a new
index on the same server (with its refresh). The ratio divides the load's time by the floor's.
Both are the best of a few rounds, alternated, so noise from other processes hits both alike.
The stage times of the best load come from its own log lines (set-up: ids, filter and
definition; build and bulk: interleaved, term by term; count; checks; swap and clean-up).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROUNDS = 3
TERMS = 1000
ALIAS = "benchglossaryv1"
DEMO_DATA = Path(__file__).resolve().parents[1] / "cdr_dagster" / "demo" / "data"
#: Log lines of run_load that end a stage, in order: (start of the line, stage it ends).
STAGES = (
    ("created index", "set-up (ids, filter, definition, index)"),
    ("index ", "build and bulk (with refresh and count)"),
    ("check not_empty_or_shrunk", "checks (read back, size)"),
    ("aliased ", "swap"),
    ("Kept", "clean-up"),
)


def _database(folder: Path, count: int) -> Any:
    """A SQLite CDR with ``count`` glossary terms on cancer.gov, the filter and the ctl row."""
    from sqlalchemy import create_engine, insert

    from benchmarks.dictionary_documents import _terms
    from cdr_dagster.cdr.control import set_control_value
    from cdr_dagster.cdr.dictionaries.build import GLOSSARY
    from cdr_dagster.cdr.dictionaries.filters import install_filter
    from cdr_dagster.cdr.schema import all_docs, create_schema, doc_type, pub_proc_cg

    engine = create_engine(f"sqlite:///{folder / 'cdr.db'}")
    create_schema(engine)
    glossary = [t for t in _terms(count * 4) if t[0] is GLOSSARY][:count]
    if len(glossary) < count:
        raise RuntimeError(f"only {len(glossary)} glossary terms could be made")
    with engine.begin() as conn:
        kind = conn.execute(
            insert(doc_type).values(name="GlossaryTermName", format=1, created=datetime(2010, 1, 4))
        ).inserted_primary_key[0]
        conn.execute(
            insert(all_docs),
            [
                {"id": doc_id, "doc_type": kind, "title": f"term {doc_id}", "xml": "<x/>"}
                for _, doc_id, _ in glossary
            ],
        )
        conn.execute(
            insert(pub_proc_cg),
            [{"id": doc_id, "pub_proc": 1, "xml": xml} for _, doc_id, xml in glossary],
        )
        text = (DEMO_DATA / "ctl--dictionary--glossary.json").read_text(encoding="utf-8")
        set_control_value(conn, "dictionary", "glossary", text)
        install_filter(conn, GLOSSARY.filter_title)
    return engine


def _timed_load(engine: Any, backend: Any, now: datetime) -> tuple[float, dict[str, float]]:
    """Seconds of one whole load, and the seconds of each stage."""
    from cdr_dagster.cdr.dictionaries.build import GLOSSARY
    from cdr_dagster.cdr.dictionaries.load import run_load

    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    with engine.connect() as conn:
        run_load(
            conn,
            GLOSSARY,
            backend,
            tier="DEV",
            now=now,
            alias_prefix="bench",
            keep_indexes=0,
            keep_days=0,
            log=lambda line: marks.append((line, time.perf_counter())),
        )
    elapsed = time.perf_counter() - started
    stages: dict[str, float] = {}
    last = started
    for prefix, stage in STAGES:
        at = next((t for line, t in marks if line.startswith(prefix) and t >= last), None)
        if at is not None:
            stages[stage] = at - last
            last = at
    stages["the rest"] = started + elapsed - last
    return elapsed, stages


def _timed_floor(engine: Any, backend: Any, prebuilt: list, name: str) -> float:
    """Seconds of the same read plus the same bulk of prebuilt documents into index ``name``."""
    from cdr_dagster.cdr.dictionaries.terms import exported_documents, glossary_term_ids
    from cdr_dagster.search.bulk import bulk_bodies

    definition = (DEMO_DATA / "ctl--dictionary--glossary.json").read_text(encoding="utf-8")
    started = time.perf_counter()
    with engine.connect() as conn:
        for _ in exported_documents(conn, glossary_term_ids(conn)):
            pass
    backend.create_index(name, json.loads(definition))
    for body in bulk_bodies(name, prebuilt):
        backend.bulk(name, body.data)
    backend.refresh(name)
    backend.count(name)
    elapsed = time.perf_counter() - started
    backend.delete_index(name)
    return elapsed


def _prebuilt(engine: Any) -> list[tuple[str | None, dict]]:
    """Every document of the load, built once beforehand."""
    from cdr_dagster.cdr.dictionaries.build import GLOSSARY, DocumentBuilder
    from cdr_dagster.cdr.dictionaries.filters import load_filter
    from cdr_dagster.cdr.dictionaries.terms import exported_documents, glossary_term_ids

    with engine.connect() as conn:
        builder = DocumentBuilder(GLOSSARY, load_filter(conn, GLOSSARY.filter_title), "DEV")
        return [
            (document.id, document.source)
            for doc_id, xml in exported_documents(conn, glossary_term_ids(conn))
            for document in builder.build(doc_id, xml).documents
        ]


def run(terms: int = TERMS) -> list[str]:
    """Measure and return the report lines."""
    from cdr_dagster.resources.search_index import SearchIndexResource
    from cdr_dagster_tests.es_server import EsCompatibleServer

    server = EsCompatibleServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="dictionary-load-") as folder:
            engine = _database(Path(folder), terms)
            backend = SearchIndexResource(url=server.url).backend()
            prebuilt = _prebuilt(engine)
            now = datetime(2025, 1, 1, 2, 0, 0)
            _timed_load(engine, backend, now)  # warm up: caches, and a live index to swap from
            best_load, best_stages, best_floor = float("inf"), {}, float("inf")
            for round_ in range(ROUNDS):
                now += timedelta(minutes=1)
                load, stages = _timed_load(engine, backend, now)
                if load < best_load:
                    best_load, best_stages = load, stages
                floor = _timed_floor(engine, backend, prebuilt, f"benchfloor-{round_}")
                best_floor = min(best_floor, floor)
            documents = len(prebuilt)
            backend.close()
            engine.dispose()
    finally:
        server.stop()
    per_thousand = 1000 / terms
    stage_text = ", ".join(
        f"{stage} {seconds * per_thousand:.2f} s ({seconds / best_load:.0%})"
        for stage, seconds in best_stages.items()
    )
    return [
        f"dictionary_load: {best_load * per_thousand:.2f} s per 1,000 glossary terms "
        f"({best_load / best_floor:.2f}x floor {best_floor * per_thousand:.2f} s: the same "
        f"read and the same bulk of {documents} prebuilt documents; read, filter, bulk into "
        "the ES-compatible server, count, checks, swap)",
        f"dictionary_load_stages: {stage_text} per 1,000 terms",
    ]


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
