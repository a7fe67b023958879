"""One trial listing load: documents built, two new indexes, checks, one alias swap.

:func:`build_listing` makes the documents (docs/behaviour-notes.md#trial-listing-info) from one of:

- the EVS walk (a fetching function, see :mod:`.concepts`), the normal case;
- a cached ``concepts-*.json`` file (legacy option ``concepts``): grouping and overrides apply;
- a cached bulk dump (legacy option ``groups``): every line holding ``concept_id`` is taken as
  a finished document, with no grouping or overrides.

:func:`run_load` then, unless in test mode, creates ``listinginfov1-{stamp}`` and
``trialtypeinfov1-{stamp}`` with the ctl definitions, bulk-loads both (Elasticsearch gives the
``_id``\\ s, as in the legacy load), checks the counts, runs the checks on what the indexes
really hold, and only when the blocking checks pass and the load was not limited moves BOTH
aliases in one ``_aliases`` call and drops old indexes (the newest 3 always stay, older ones
go after 5 days). Any failure before that deletes both new indexes: the aliases stay where they
were. A limited load keeps its indexes un-aliased, as the legacy one did.

The legacy files are written on request into ``output_dir``, each atomically: ``test`` writes
``ListingInfo-{stamp}.json`` and ``TrialTypeInfo-{stamp}.json`` (and nothing goes to the
cluster); ``dump`` writes the bulk files ``ListingInfo.dump`` and ``TrialTypeInfo.dump`` (no
``_id``, the aliases as ``_index``) and, when EVS was walked, ``concepts-{stamp}.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cdr_dagster.cdr.trial_info.checks import CHECK_CONCEPTS, CHECK_FIELDS, CHECK_URLS
from cdr_dagster.cdr.trial_info.concepts import (
    DEFAULT_LIMIT,
    ROOTS,
    Concept,
    Fetch,
    Walk,
    read_cached_concepts,
    walk_concepts,
)
from cdr_dagster.cdr.trial_info.control import TrialControl
from cdr_dagster.cdr.trial_info.groups import (
    API_URL_NAME,
    Grouping,
    group_concepts,
    url_clashes,
)
from cdr_dagster.cdr.trial_info.overrides import MAX_URL_LENGTH
from cdr_dagster.search.backends import SearchBackend
from cdr_dagster.search.bulk import MAX_BYTES, MAX_DOCUMENTS
from cdr_dagster.search.indexes import (
    KEEP_DAYS,
    CheckOutcome,
    IndexLoad,
    LoadStats,
    swap_aliases,
)
from cdr_dagster.search.size_check import (
    DEFAULT_MAX_SHRINK_PERCENT,
    NewIndex,
    compare_with_live,
    live_count,
)

LISTING_ALIAS = "listinginfov1"
TRIAL_TYPE_ALIAS = "trialtypeinfov1"
LISTING_FILE = "ListingInfo"
TRIAL_TYPE_FILE = "TrialTypeInfo"
#: The legacy trial loader kept the newest 3 indexes of each alias (the dictionaries keep 5).
KEEP_INDEXES = 3
STAMP_FORMAT = "%Y%m%d%H%M%S"
#: How many offending documents or codes a check lists.
EXAMPLES = 10

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    """A log that drops its message."""


class TrialLoadError(RuntimeError):
    """The load cannot run as asked (a bad cached file, ...); the message says why."""


@dataclass
class ListingBuild:
    """The documents of both indexes and where they came from."""

    listing: list[dict[str, Any]]
    labels: list[dict[str, str]]
    expected_codes: set[str]
    source: str
    grouping: Grouping | None = None
    walk: Walk | None = None
    concepts: list[Concept] = field(default_factory=list)

    @property
    def limited(self) -> bool:
        """True when the EVS walk stopped at its limit."""
        return bool(self.walk and self.walk.limited)


def read_cached_groups(path: str | Path) -> list[dict[str, Any]]:
    """The finished documents of a bulk dump: each line whose JSON object has ``concept_id``."""
    documents = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:
                    raise TrialLoadError(f"line {number} of the groups file {path}: {exc}") from exc
                if isinstance(value, dict) and "concept_id" in value:
                    documents.append(value)
    except OSError as exc:
        raise TrialLoadError(f"cannot read the groups file {path}: {exc}") from exc
    return documents


def build_listing(
    control: TrialControl,
    *,
    fetch: Fetch | None = None,
    concepts_file: str | None = None,
    groups_file: str | None = None,
    limit: int | None = None,
    log: Log = _quiet,
    debug: Log = _quiet,
    progress: Log | None = None,
) -> ListingBuild:
    """The documents (module docstring); ``groups_file`` wins over ``concepts_file``, which
    wins over ``fetch``."""
    if groups_file:
        listing = read_cached_groups(groups_file)
        codes = {code for doc in listing for code in doc.get("concept_id") or []}
        log(f"read {len(listing)} finished documents from {groups_file}")
        return ListingBuild(listing, control.labels, codes, f"groups file {groups_file}")
    walk = None
    if concepts_file:
        concepts = read_cached_concepts(concepts_file)
        source = f"concepts file {concepts_file}"
    elif fetch is not None:
        started = datetime.now()
        walk = walk_concepts(
            fetch,
            limit=DEFAULT_LIMIT if limit is None else limit,
            log=log,
            debug=debug,
            progress=progress,
        )
        concepts = list(walk.concepts.values())
        if not concepts:  # an empty listing index would empty every listing page
            raise TrialLoadError(
                f"EVS returned no concepts for the roots {', '.join(ROOTS)}; nothing loaded"
            )
        source = "EVS"
        log(f"fetched {len(concepts)} concepts in {datetime.now() - started}")
    else:
        raise TrialLoadError("no source of concepts: no EVS, concepts file or groups file")
    grouping = group_concepts(concepts, control.overrides, log=log)
    for key, override in grouping.overridden:
        debug(f"override on line {override.line_number} applied to {key!r}")
    listing = [group.document(control.tokens) for group in grouping.groups]
    codes = {code for group in grouping.groups for code in group.codes}
    log(f"{len(listing)} groups from {grouping.concepts} concepts")
    return ListingBuild(listing, control.labels, codes, source, grouping, walk, concepts)


# --- checks -----------------------------------------------------------------------------------


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


def _label(document: Mapping[str, Any]) -> str:
    name = document.get("name")
    label = name.get("label") if isinstance(name, Mapping) else None
    return str(label if label is not None else document.get("label", document))


def _difference(expected: Counter, found: Counter) -> tuple[list[str], list[str]]:
    missing = sorted((expected - found).elements())
    unexpected = sorted((found - expected).elements())
    return missing, unexpected


def _check_concepts(
    build: ListingBuild, listing: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]]
) -> CheckOutcome:
    missing, unexpected = _difference(
        Counter(map(_canonical, build.listing)), Counter(map(_canonical, listing))
    )
    per_code = Counter(code for doc in listing for code in doc.get("concept_id") or [])
    codes_missing = sorted(build.expected_codes - set(per_code))
    codes_repeated = sorted(code for code, n in per_code.items() if n > 1)
    codes_unexpected = sorted(set(per_code) - build.expected_codes)
    types_missing, types_unexpected = _difference(
        Counter(map(_canonical, build.labels)), Counter(map(_canonical, labels))
    )
    problems = []
    if missing or unexpected:
        problems.append(
            f"listing: {len(missing)} expected document(s) missing, {len(unexpected)} unexpected"
        )
    if codes_missing or codes_repeated or codes_unexpected:
        problems.append(
            f"concepts: {len(codes_missing)} not listed, {len(codes_repeated)} in several "
            f"documents, {len(codes_unexpected)} unexpected"
        )
    if types_missing or types_unexpected:
        problems.append(
            f"trial types: {len(types_missing)} missing, {len(types_unexpected)} unexpected"
        )
    if problems:
        summary = "; ".join(problems)
    else:
        summary = (
            f"{len(listing)} listing documents for {len(build.expected_codes)} concepts, each "
            f"concept in one document; {len(labels)} trial types"
        )
    return CheckOutcome(
        CHECK_CONCEPTS,
        not problems,
        summary,
        {
            "listing_expected": len(build.listing),
            "listing_found": len(listing),
            "concepts_expected": len(build.expected_codes),
            "trial_types_expected": len(build.labels),
            "trial_types_found": len(labels),
            "missing_examples": [_label(json.loads(d)) for d in missing[:EXAMPLES]],
            "unexpected_examples": [_label(json.loads(d)) for d in unexpected[:EXAMPLES]],
            "codes_not_listed": codes_missing[:EXAMPLES],
            "codes_in_several_documents": codes_repeated[:EXAMPLES],
            "codes_unexpected": codes_unexpected[:EXAMPLES],
        },
    )


def _nonempty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def listing_problems(document: Mapping[str, Any]) -> list[str]:
    """What the clinical-trials-listing API would miss in a ListingInfo document."""
    problems = []
    codes = document.get("concept_id")
    if not isinstance(codes, list) or not codes:
        problems.append("no concept_id list")
    else:
        numbers = []
        for code in codes:
            if isinstance(code, str) and len(code) > 1 and code[0] == "C" and code[1:].isdigit():
                numbers.append(int(code[1:]))
            else:
                problems.append(f"concept id {code!r} is not C<digits>")
        if len(numbers) == len(codes) and numbers != sorted(set(numbers)):
            problems.append("concept ids not in numeric order without repeats")
    name = document.get("name")
    if not isinstance(name, Mapping):
        problems.append("no name object")
    else:
        for part in ("label", "normalized"):
            if not _nonempty_string(name.get(part)):
                problems.append(f"no name.{part}")
    url = document.get("pretty_url_name")
    if url is not None and (not isinstance(url, str) or len(url) > MAX_URL_LENGTH):
        problems.append(f"pretty_url_name {url!r} is neither null nor a name of at most 75")
    return problems


def trial_type_problems(document: Mapping[str, Any]) -> list[str]:
    """What the API would miss in a TrialTypeInfo document."""
    return [
        f"no {key}"
        for key in ("pretty_url_name", "id_string", "label")
        if not _nonempty_string(document.get(key))
    ]


def _check_fields(
    listing: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]]
) -> CheckOutcome:
    bad: dict[str, str] = {}
    failing = 0
    for document, problems in [(d, listing_problems(d)) for d in listing] + [
        (d, trial_type_problems(d)) for d in labels
    ]:
        if problems:
            failing += 1
            if len(bad) < EXAMPLES:
                bad[_label(document)] = "; ".join(problems)
    total = len(listing) + len(labels)
    if failing:
        first, why = next(iter(bad.items()))
        summary = f"{failing} of {total} document(s) lack what the API reads; e.g. {first}: {why}"
    else:
        summary = f"all {total} documents have the fields the clinical-trials-listing API reads"
    details = {"documents": total, "failing": failing, "examples": bad}
    return CheckOutcome(CHECK_FIELDS, not failing, summary, details)


def _check_urls(listing: Sequence[Mapping[str, Any]]) -> CheckOutcome:
    clashes = url_clashes(listing)
    unroutable = sorted(
        {
            str(doc["pretty_url_name"])
            for doc in listing
            if isinstance(doc.get("pretty_url_name"), str)
            and not API_URL_NAME.fullmatch(doc["pretty_url_name"])
        }
    )
    null = sum(1 for doc in listing if doc.get("pretty_url_name") is None)
    problems = [
        f"{url} used by {labels[0]} and {', '.join(labels[1:])}" for url, labels in clashes.items()
    ]
    if unroutable:
        problems.append(f"{len(unroutable)} name(s) the API route does not accept")
    if problems:
        summary = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
    else:
        summary = f"{len(listing) - null} pretty URL names, all distinct and routable ({null} null)"
    return CheckOutcome(
        CHECK_URLS,
        not problems,
        summary,
        {
            "clashes": dict(list(clashes.items())[:EXAMPLES]),
            "clash_count": len(clashes),
            "unroutable": unroutable[:EXAMPLES],
            "null_urls": null,
        },
    )


def check_indexes(
    build: ListingBuild,
    listing: Iterable[Mapping[str, Any]],
    labels: Iterable[Mapping[str, Any]],
) -> list[CheckOutcome]:
    """The three checks over the documents the indexes hold (or, in test mode, as built)."""
    listing, labels = list(listing), list(labels)
    return [
        _check_concepts(build, listing, labels),
        _check_fields(listing, labels),
        _check_urls(listing),
    ]


# --- files ------------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def bulk_dump(alias: str, documents: Iterable[Mapping[str, Any]]) -> str:
    """NDJSON for ``POST /_bulk`` in the format of the API repos' test data (no ``_id``)."""
    action = json.dumps({"index": {"_index": alias}})
    return "".join(f"{action}\n{json.dumps(document)}\n" for document in documents)


def write_dump_files(folder: Path, stamp: str, build: ListingBuild) -> list[Path]:
    """The legacy ``dump`` files (module docstring)."""
    written = [folder / f"{LISTING_FILE}.dump", folder / f"{TRIAL_TYPE_FILE}.dump"]
    _write_atomic(written[0], bulk_dump(LISTING_ALIAS, build.listing))
    _write_atomic(written[1], bulk_dump(TRIAL_TYPE_ALIAS, build.labels))
    if build.walk is not None:
        pairs = [[c.code, c.name] for c in sorted(build.concepts, key=lambda c: c.number)]
        written.append(folder / f"concepts-{stamp}.json")
        _write_atomic(written[-1], json.dumps(pairs, indent=2) + "\n")
    return written


def write_test_files(folder: Path, stamp: str, build: ListingBuild) -> list[Path]:
    """The legacy ``test`` files (module docstring)."""
    written = [
        folder / f"{LISTING_FILE}-{stamp}.json",
        folder / f"{TRIAL_TYPE_FILE}-{stamp}.json",
    ]
    _write_atomic(written[0], json.dumps({LISTING_FILE: build.listing}, indent=2) + "\n")
    _write_atomic(written[1], json.dumps({TRIAL_TYPE_FILE: build.labels}, indent=2) + "\n")
    return written


# --- the load ---------------------------------------------------------------------------------


@dataclass
class TrialLoadResult:
    """What a load did (also for one whose checks failed)."""

    mode: str  # "full", "limited" or "test"
    target: str
    build: ListingBuild
    listing_stats: LoadStats | None = None
    trial_type_stats: LoadStats | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every blocking check passed."""
        return all(c.passed for c in self.checks if c.name != CHECK_URLS)


class ChecksFailedError(RuntimeError):
    """A blocking check failed: both new indexes were deleted, no alias moved."""

    def __init__(self, result: TrialLoadResult) -> None:
        self.result = result
        failed = "; ".join(
            f"{c.name}: {c.summary}" for c in result.checks if not c.passed and c.name != CHECK_URLS
        )
        aliases = f"{LISTING_ALIAS} and {TRIAL_TYPE_ALIAS}"
        super().__init__(f"checks failed, {aliases} not moved: {failed}")


def run_load(
    build: ListingBuild,
    control: TrialControl,
    backend: SearchBackend | None,
    *,
    limited: bool = False,
    now: datetime | None = None,
    alias_prefix: str = "",
    keep_indexes: int = KEEP_INDEXES,
    keep_days: int = KEEP_DAYS,
    max_shrink_percent: float = DEFAULT_MAX_SHRINK_PERCENT,
    accept_shrink: bool = False,
    max_documents: int = MAX_DOCUMENTS,
    max_bytes: int = MAX_BYTES,
    output_dir: str | Path = ".",
    dump_files: bool = False,
    log: Log = _quiet,
) -> TrialLoadResult:
    """Load ``build`` into ``backend`` (None: test mode), ``max_documents`` or ``max_bytes``
    per bulk request; see the module docstring."""
    now = now or datetime.now()
    stamp = now.strftime(STAMP_FORMAT)
    folder = Path(output_dir)
    target = backend.target if backend is not None else "files (test mode)"
    mode = "test" if backend is None else ("limited" if limited else "full")
    result = TrialLoadResult(mode=mode, target=target, build=build)
    if dump_files:
        result.files += [str(p) for p in write_dump_files(folder, stamp, build)]
    if backend is None:
        result.files += [str(p) for p in write_test_files(folder, stamp, build)]
        result.checks = check_indexes(build, build.listing, build.labels)
        sizes = [
            NewIndex(LISTING_ALIAS, f"{LISTING_FILE}-{stamp}.json", len(build.listing)),
            NewIndex(TRIAL_TYPE_ALIAS, f"{TRIAL_TYPE_FILE}-{stamp}.json", len(build.labels)),
        ]
        result.checks.append(
            compare_with_live(
                sizes, [None, None], max_shrink_percent=max_shrink_percent, compared=False
            )
        )
        if not result.passed:
            raise ChecksFailedError(result)
        return result

    listing_alias = f"{alias_prefix}{LISTING_ALIAS}"
    trial_type_alias = f"{alias_prefix}{TRIAL_TYPE_ALIAS}"
    bulk = {"max_documents": max_documents, "max_bytes": max_bytes}
    with (
        IndexLoad(
            backend, listing_alias, control.listing_definition.body, now, log, **bulk
        ) as info,
        IndexLoad(
            backend, trial_type_alias, control.trial_type_definition.body, now, log, **bulk
        ) as types,
    ):
        result.listing_stats, result.trial_type_stats = info.stats, types.stats
        info.load((None, document) for document in build.listing)
        types.load((None, document) for document in build.labels)
        sizes = [
            NewIndex(info.alias, info.index, info.verify_count()),
            NewIndex(types.alias, types.index, types.verify_count()),
        ]
        result.checks = check_indexes(
            build,
            (source for _, source in backend.documents(info.index)),
            (source for _, source in backend.documents(types.index)),
        )
        result.checks.append(
            compare_with_live(
                sizes,
                [live_count(backend, size.alias) for size in sizes],
                max_shrink_percent=max_shrink_percent,
                accept_shrink=accept_shrink,
                compared=not limited,
            )
        )
        for check in result.checks:
            log(f"check {check.name}: {'passed' if check.passed else 'FAILED'}: {check.summary}")
        if not result.passed:
            raise ChecksFailedError(result)
        if limited:
            info.keep()
            types.keep()
        else:
            swap_aliases([info, types], keep_indexes, keep_days)
    return result
