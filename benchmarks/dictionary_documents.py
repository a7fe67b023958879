"""Dictionary document building: terms per second against lxml parsing alone, and peak memory.

The terms are the demo's exported glossary and drug documents (``cdr_dagster/demo/data``),
repeated under new CDR ids and with names of their own (so the name rules' caches do not hit
across copies, as they would not in a real load) to make a few thousand. Building one term is
what a load does with it before the bulk request: parse the exported XML with the safe
parser, run the CDR filter (ours, compiled as the CDR's would be), turn the nodes into
documents and work out the expected ids. The baseline parses the same XML with the same
parser and nothing else, in the same run; the ratio divides the two rates. Rates are the best
of several rounds, alternating the two, so that noise from other processes hits both alike.
The ratio is printed for information, not as a goal: the CDR's per-document XSLT is the
contract. The goal figure is the whole load's, against the floor of its read and bulk
(:mod:`benchmarks.dictionary_load`).

Floor: what the per-document XSLT contract leaves reachable. ``dictionary_documents_floor``
is parsing plus one call of an empty stylesheet (compiled as the CDR filter is) per term,
against the same baseline: no per-document filter can do better. Its second figure adds this
build's conversion and expected ids, as if the filter's own work took no time.
``dictionary_documents_stages`` times each stage of the current build separately (parse,
filter, convert the nodes, expected ids; best of the rounds each) and gives its share; run
alone, they add up to less than a whole ``build`` (also given), which interleaves them.

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
#: The name elements of the exported terms that the filters' name rules read.
_NAMES = re.compile(
    r"<(TermName|SpanishTermName|PreferredName|NCITName|OtherTermName)>([^<]*)</\1>"
)
#: The least a filter can be: one call that writes an empty ``<nodes/>``.
EMPTY_FILTER = (
    '<xsl:transform xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
    '<xsl:param name="tier"/><xsl:template match="/"><nodes/></xsl:template></xsl:transform>'
)


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
        xml = _NAMES.sub(lambda m, n=n: f"<{m[1]}>{m[2]} {n}</{m[1]}>", xml)
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


def _stage_lines(
    items: list[tuple[Any, int, str]], builders: dict[str, Any], build_rate: float
) -> list[str]:
    """The floor and per-stage lines (microseconds per term, best of ``ROUNDS`` each).

    Each stage runs alone over all the terms, so the stages add up to less than ``build``
    itself (``build_rate``), which interleaves them term by term (colder caches) and adds
    its own few steps; the line gives both."""
    from cdr_dagster.cdr.dictionaries.filters import DictionaryFilter, FilterSource
    from cdr_dagster.cdr.dictionaries.nodes import node_documents
    from cdr_dagster.cdr.xml import parse_xml

    empty = DictionaryFilter(FilterSource(None, "empty", EMPTY_FILTER))
    roots = [(builders[d.name], parse_xml(xml)) for d, _, xml in items]
    results = [(b, b.transform.apply(root, b.tier)) for b, root in roots]

    def parse() -> None:
        for _, _, xml in items:
            parse_xml(xml)

    def filter_() -> None:
        for builder, root in roots:
            builder.transform.apply(root, builder.tier)

    def convert() -> None:
        for _, result in results:
            for _ in node_documents(result, "x"):
                pass

    def expected_ids() -> None:
        for builder, root in roots:
            builder.dictionary.expected_ids(root)

    def empty_call() -> None:
        for _, root in roots:
            empty.apply(root, "DEV")

    stages: dict[str, Callable[[], None]] = {
        "parse": parse,
        "filter": filter_,
        "convert": convert,
        "expected ids": expected_ids,
        "empty": empty_call,
    }
    micros = dict.fromkeys(stages, float("inf"))
    for _ in range(ROUNDS):
        for name, work in stages.items():
            started = time.perf_counter()
            work()
            micros[name] = min(micros[name], (time.perf_counter() - started) / len(items) * 1e6)
    parse_us, empty_us = micros["parse"], micros["empty"]
    floor = parse_us + empty_us
    floor_ours = floor + micros["convert"] + micros["expected ids"]
    build = sum(micros[name] for name in ("parse", "filter", "convert", "expected ids"))
    shares = ", ".join(
        f"{name} {micros[name]:.1f} us ({micros[name] / build:.0%})"
        for name in ("parse", "filter", "convert", "expected ids")
    )
    return [
        f"dictionary_documents_floor: {1e6 / floor:,.0f} terms/s ({parse_us / floor:.2f}x "
        f"baseline lxml parse {1e6 / parse_us:,.0f} terms/s; parse + an empty XSLT call of "
        f"{empty_us:.1f} us, the least any per-document filter costs); "
        f"{1e6 / floor_ours:,.0f} terms/s ({parse_us / floor_ours:.2f}x) with this build's "
        "conversion and expected ids on top",
        f"dictionary_documents_stages: {shares} per term, each timed alone; {build:.1f} us "
        f"summed ({parse_us / build:.2f}x baseline), {1e6 / build_rate:.1f} us in build()",
    ]


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
    stage_lines = _stage_lines(items, builders, build_rate)
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
        *stage_lines,
    ]


if __name__ == "__main__":
    for line in run():
        print(line, flush=True)
