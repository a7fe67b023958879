"""Dictionary document building: terms per second against lxml parsing alone, and peak memory.

The terms are the demo's exported glossary and drug documents (``cdr_dagster/demo/data``),
repeated under new CDR ids to make a few thousand. Building one term is what a load does with
it before the bulk request: parse the exported XML with the safe parser, run the CDR filter
(ours, compiled as the CDR's would be), turn the nodes into documents and work out the
expected ids. The baseline parses the same XML with the same parser and nothing else, in the
same run; the ratio divides the two rates. Rates are the best of several rounds, alternating
the two, so that noise from other processes hits both alike.

Memory: the documents of N and 4N terms are streamed into bulk request bodies (what the load
sends, discarded here) under tracemalloc; the peak must not grow with the number of terms. A
second figure also keeps every ``_id`` in a set, as a load does for its count and its checks
(those sets grow by about a hundred bytes per document; nothing else does).
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

ROUNDS = 5
TERMS = 2000
INDEX = "glossaryv1-20250101000000"


def _terms(count: int) -> list[tuple[Any, int, str]]:
    """(dictionary, id, exported XML) for ``count`` terms, glossary and drugs mixed."""
    from cdr_dagster.cdr.dictionaries.build import DRUGS, GLOSSARY
    from cdr_dagster.demo.datafiles import DataFiles
    from cdr_dagster.demo.documents import load_documents

    files = DataFiles(now=datetime(2025, 3, 12, 9), folders={"sweep": "/s", "cdr": "/c"})
    kinds = {"GlossaryTermName": GLOSSARY, "Term": DRUGS}
    templates = [
        (kinds[d.doc_type], d.exported)
        for d in load_documents(files)
        if d.exported and d.doc_type in kinds
    ]
    terms = []
    for n in range(count):
        dictionary, xml = templates[n % len(templates)]
        doc_id = 1_000_000 + n
        xml = re.sub(r'id="CDR\d+"', f'id="CDR{doc_id:010d}"', xml, count=1)
        terms.append((dictionary, doc_id, xml))
    return terms


def _builders() -> dict[str, Any]:
    from cdr_dagster.cdr.dictionaries.build import DICTIONARIES, DocumentBuilder
    from cdr_dagster.cdr.dictionaries.filters import DictionaryFilter, packaged_filter

    return {
        name: DocumentBuilder(d, DictionaryFilter(packaged_filter(d.filter_title)), "DEV")
        for name, d in DICTIONARIES.items()
    }


def _rate(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    count = work()
    return count / (time.perf_counter() - started)


def run(terms: int = TERMS) -> list[str]:
    """Measure and return the report lines."""
    from cdr_dagster.cdr.xml import parse_xml
    from cdr_dagster.search.bulk import bulk_bodies

    items = _terms(terms)
    builders = _builders()

    def parse_only() -> int:
        for _, _, xml in items:
            parse_xml(xml)
        return len(items)

    def build_all() -> int:
        for dictionary, doc_id, xml in items:
            builders[dictionary.name].build(doc_id, xml)
        return len(items)

    def documents(subset: list) -> Iterator[tuple[str | None, dict]]:
        for dictionary, doc_id, xml in subset:
            for document in builders[dictionary.name].build(doc_id, xml).documents:
                yield document.id, document.source

    def build_and_bulk() -> int:
        for _ in bulk_bodies(INDEX, documents(items)):
            pass
        return len(items)

    build_all()  # warm caches (compiled XPath, the rule caches)
    parse_rate = build_rate = bulk_rate = 0.0
    for _ in range(ROUNDS):
        parse_rate = max(parse_rate, _rate(parse_only))
        build_rate = max(build_rate, _rate(build_all))
        bulk_rate = max(bulk_rate, _rate(build_and_bulk))

    def peak(subset: list, keep_ids: bool) -> int:
        """Peak bytes while streaming ``subset`` into bulk bodies; with ``keep_ids``, also
        keeping every _id, as the count and the checks of a load do."""
        ids: set[str] = set()
        tracemalloc.start()
        try:
            for body in bulk_bodies(INDEX, documents(subset)):
                if keep_ids:
                    ids.update(i for i in body.ids if i)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = items[: terms // 4]
    stream_small, stream_large = peak(small, False), peak(items, False)
    ids_small, ids_large = peak(small, True), peak(items, True)
    per_term = sum(1 for _ in documents(items[:200])) / 200
    return [
        f"dictionary_documents: {build_rate:,.0f} terms/s ({build_rate / parse_rate:.2f}x "
        f"baseline lxml parse {parse_rate:,.0f} terms/s; {terms} glossary and drug terms, "
        f"{per_term:.1f} documents per term)",
        f"dictionary_documents_bulk: {bulk_rate:,.0f} terms/s built and serialized into bulk "
        f"bodies ({bulk_rate / parse_rate:.2f}x baseline lxml parse {parse_rate:,.0f} terms/s)",
        f"dictionary_documents_peak_memory: {stream_large / 1e6:.2f} MB streaming "
        f"{len(items)} terms into bulk bodies ({stream_large / stream_small:.2f}x baseline "
        f"{stream_small / 1e6:.2f} MB for {len(small)} terms)",
        f"dictionary_documents_peak_memory_with_ids: {ids_large / 1e6:.2f} MB also keeping "
        f"the _ids as the count and the checks do ({ids_large / ids_small:.2f}x baseline "
        f"{ids_small / 1e6:.2f} MB for {len(small)} terms)",
    ]


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
