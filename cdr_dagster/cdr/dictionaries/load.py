"""One dictionary load, from the CDR to a new index and the alias swap
(docs/behaviour-notes.md#dictionary-load).

:func:`run_load` is everything the ``glossary_dictionary`` and ``drug_dictionary`` assets do
apart from Dagster and e-mail:

1. the ids of the dictionary's documents on cancer.gov (or the ``ids`` asked for, which must be
   among them), cut to ``limit`` documents when one is given;
2. the CDR's filter (by title) and the index definition (ctl);
3. the documents, built one CDR document at a time and streamed into a new index
   ``{alias}-YYYYMMDDHHMMSS`` with bulk requests (memory does not grow with the number of
   terms), then the count checked;
4. the checks, run on what the new index really holds (read back): every expected
   document is there and nothing else (:func:`check_documents`), every document has the
   fields its consumer API needs, and the index is neither empty nor much smaller than the
   live one (:mod:`cdr_dagster.search.size_check`);
5. only for a complete load whose checks passed: the alias moved in one atomic call and old
   indexes dropped. A load limited to some ids or a count keeps its index un-aliased.

Any failure before the swap deletes the new index, so the alias stays where it was. Failed
checks raise :class:`ChecksFailedError`, which carries the result with the check outcomes.

In ``test`` mode nothing is written anywhere: the documents are built, handed to ``echo`` as
the legacy loader printed them, and checked as built.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from cdr_dagster.cdr.dictionaries.build import (
    Dictionary,
    DocumentBuilder,
    index_definition,
)
from cdr_dagster.cdr.dictionaries.checks import CHECK_FIELDS, CHECK_TERMS
from cdr_dagster.cdr.dictionaries.filters import load_filter
from cdr_dagster.cdr.dictionaries.terms import exported_documents
from cdr_dagster.cdr.documents import format_cdr_id
from cdr_dagster.search.backends import SearchBackend
from cdr_dagster.search.bulk import MAX_BYTES, MAX_DOCUMENTS
from cdr_dagster.search.indexes import (
    KEEP_DAYS,
    KEEP_INDEXES,
    CheckOutcome,
    IndexLoad,
    LoadStats,
    index_name,
)
from cdr_dagster.search.size_check import (
    DEFAULT_MAX_SHRINK_PERCENT,
    NewIndex,
    compare_with_live,
    live_count,
)

#: How many offending ids or problems a check lists.
EXAMPLES = 10
#: Documents kept for the preview.
SAMPLES = 5

Log = Callable[[str], None]


class DictionaryLoadError(RuntimeError):
    """The load cannot run as asked (bad ids, no filter, ...); the message says why."""


@dataclass
class LoadResult:
    """What a load did (also for a load whose checks failed)."""

    dictionary: Dictionary
    mode: str  # "full", "limited" or "test"
    target: str
    tier: str
    eligible: int
    terms: int = 0
    documents: int = 0
    languages: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    filter_name: str = ""
    definition_source: str = ""
    stats: LoadStats | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    samples: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    limited_by: str | None = None

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def alias_moved(self) -> bool:
        """True when the live alias now points at the new index."""
        return bool(self.stats and self.stats.swapped)


class ChecksFailedError(RuntimeError):
    """A check failed: the new index was deleted (the alias did not move)."""

    def __init__(self, result: LoadResult) -> None:
        self.result = result
        failed = "; ".join(f"{c.name}: {c.summary}" for c in result.checks if not c.passed)
        super().__init__(f"checks failed, {result.dictionary.alias} was not moved: {failed}")


def _examples(values: Iterable[str]) -> list[str]:
    return sorted(values)[:EXAMPLES]


def check_documents(
    dictionary: Dictionary,
    documents: Iterable[tuple[str | None, Mapping[str, Any]]],
    expected: set[str],
) -> list[CheckOutcome]:
    """The two checks over ``documents`` ((``_id``, source) as the index holds them).

    - :data:`CHECK_TERMS`: the ``_id``\\ s are exactly ``expected`` (one document per term,
      language, audience and dictionary for the glossary; the drug and each of its other names
      for drugs): missing and unexpected documents both fail it;
    - :data:`CHECK_FIELDS`: no document lacks what the consumer API reads.
    """
    found: set[str] = set()
    languages: Counter = Counter()
    bad: dict[str, list[str]] = {}
    bad_count = 0
    for doc_id, source in documents:
        key = doc_id if doc_id is not None else "(no _id)"
        found.add(key)
        languages[str(source.get("language", "en"))] += 1
        problems = dictionary.problems(doc_id, source)
        if problems:
            bad_count += 1
            if len(bad) < EXAMPLES:
                bad[key] = problems
    missing = expected - found
    unexpected = found - expected
    by_language = ", ".join(f"{lang}: {n}" for lang, n in sorted(languages.items()))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} expected document(s) missing")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected document(s)")
        terms_summary = "; ".join(parts) + f" ({len(found)} of {len(expected)} expected found)"
    else:
        terms_summary = f"all {len(expected)} expected documents present ({by_language})"
    terms = CheckOutcome(
        CHECK_TERMS,
        not missing and not unexpected,
        terms_summary,
        {
            "expected": len(expected),
            "found": len(found),
            "missing": len(missing),
            "unexpected": len(unexpected),
            "missing_examples": _examples(missing),
            "unexpected_examples": _examples(unexpected),
            "documents_by_language": dict(sorted(languages.items())),
        },
    )
    if bad_count:
        first = next(iter(bad.items()))
        fields_summary = (
            f"{bad_count} of {len(found)} document(s) lack what the {dictionary.consumer} "
            f"reads; e.g. {first[0]}: {', '.join(first[1])}"
        )
    else:
        fields_summary = (
            f"all {len(found)} documents have the fields the {dictionary.consumer} reads"
        )
    fields = CheckOutcome(
        CHECK_FIELDS,
        bad_count == 0,
        fields_summary,
        {
            "documents": len(found),
            "failing": bad_count,
            "examples": {key: "; ".join(problems) for key, problems in bad.items()},
        },
    )
    return [terms, fields]


def choose_ids(
    eligible: Sequence[int], ids: Sequence[int] | None, limit: int | None, dictionary: Dictionary
) -> tuple[list[int], str | None]:
    """The ids to load and, for a limited load, what limited it (None for a full load)."""
    if limit is not None and limit < 0:
        raise DictionaryLoadError(f"limit must not be negative, not {limit}")
    chosen = list(eligible)
    reasons = []
    if ids:
        wanted = sorted(set(ids))
        known = set(eligible)
        unknown = [i for i in wanted if i not in known]
        if unknown:
            names = ", ".join(format_cdr_id(i) for i in unknown[:EXAMPLES])
            raise DictionaryLoadError(
                f"not in the {dictionary.name} dictionary (not a published "
                f"{'GlossaryTermName' if dictionary.name == 'glossary' else 'Drug/agent Term'} "
                f"on cancer.gov): {names}"
            )
        chosen = wanted
        reasons.append(f"ids ({len(wanted)})")
    if limit is not None:
        chosen = chosen[:limit]
        reasons.append(f"limit {limit}")
    return chosen, (" and ".join(reasons) if reasons else None)


def run_load(
    conn: Connection,
    dictionary: Dictionary,
    backend: SearchBackend | None,
    *,
    tier: str,
    ids: Sequence[int] | None = None,
    limit: int | None = None,
    now: datetime | None = None,
    alias_prefix: str = "",
    keep_indexes: int = KEEP_INDEXES,
    keep_days: int = KEEP_DAYS,
    max_shrink_percent: float = DEFAULT_MAX_SHRINK_PERCENT,
    accept_shrink: bool = False,
    max_documents: int = MAX_DOCUMENTS,
    max_bytes: int = MAX_BYTES,
    log: Log = lambda message: None,
    debug: Log = lambda message: None,
    progress: Log | None = None,
    progress_every: int = 1000,
    echo: Log | None = None,
) -> LoadResult:
    """Load ``dictionary`` into ``backend`` (None: test mode), ``max_documents`` or
    ``max_bytes`` per bulk request. See the module docstring."""
    now = now or datetime.now()
    alias = f"{alias_prefix}{dictionary.alias}"
    eligible = dictionary.term_ids(conn)
    chosen, limited_by = choose_ids(eligible, ids, limit, dictionary)
    target = backend.target if backend is not None else "example.com (test mode)"
    result = LoadResult(
        dictionary=dictionary,
        mode="test" if backend is None else ("limited" if limited_by else "full"),
        target=target,
        tier=tier,
        eligible=len(eligible),
        limited_by=limited_by,
    )
    log(f"Loading {len(chosen)} {dictionary.label} terms to {target}")
    if limited_by:
        log(f"limited by {limited_by}: {alias} will not be moved")
    if backend is None:
        log("Running in test mode")
    transform = load_filter(conn, dictionary.filter_title)
    result.filter_name = transform.source.name
    log(f"Loaded {transform.source.name} filter")
    definition = index_definition(conn, dictionary)
    result.definition_source = definition.source
    builder = DocumentBuilder(dictionary, transform, tier)
    expected: set[str] = set()

    def documents(index: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
        for doc_id, xml in exported_documents(conn, chosen):
            built = builder.build(doc_id, xml)
            expected.update(built.expected)
            result.terms += 1
            debug(f"{len(built.documents)} nodes for {format_cdr_id(doc_id)}")
            for document in built.documents:
                result.documents += 1
                result.languages[str(document.source.get("language", "en"))] += 1
                result.kinds[_kind(dictionary, document.source)] += 1
                if len(result.samples) < SAMPLES:
                    result.samples.append((document.id, document.source))
                if echo is not None:
                    body = {"index": index, "body": document.source, "id": document.id}
                    echo(json.dumps(body, indent=2, ensure_ascii=False))
                yield document.id, document.source
            if progress is not None and result.terms % progress_every == 0:
                progress(f"indexed {result.terms} of {len(chosen)} terms")

    if backend is None:
        index = index_name(alias, now)
        built = documents(index)  # consumed by the checks, one at a time
        result.checks = check_documents(dictionary, built, expected)
        size = NewIndex(alias, index, result.documents)
        result.checks.append(
            compare_with_live([size], [None], max_shrink_percent=max_shrink_percent, compared=False)
        )
        if not result.passed:
            raise ChecksFailedError(result)
        return result

    with IndexLoad(backend, alias, definition.body, now, log, max_documents, max_bytes) as load:
        result.stats = load.stats
        load.load(documents(load.index))
        count = load.verify_count()
        result.checks = check_documents(dictionary, backend.documents(load.index), expected)
        result.checks.append(
            compare_with_live(
                [NewIndex(alias, load.index, count)],
                [live_count(backend, alias)],
                max_shrink_percent=max_shrink_percent,
                accept_shrink=accept_shrink,
                compared=not limited_by,
            )
        )
        for check in result.checks:
            log(f"check {check.name}: {'passed' if check.passed else 'FAILED'}: {check.summary}")
        if not result.passed:
            raise ChecksFailedError(result)
        if limited_by:
            load.keep()
        else:
            load.swap(keep_indexes, keep_days)
    return result


def _kind(dictionary: Dictionary, source: Mapping[str, Any]) -> str:
    """What the preview counts documents by: audience and dictionary, or drug document type."""
    if dictionary.name == "glossary":
        return f"{source.get('dictionary')} / {source.get('audience')}"
    return str(source.get("type"))
