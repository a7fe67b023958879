"""NCI Thesaurus concepts: their display names and the walk through the hierarchies.

The walk (docs/behaviour-notes.md#evs-walk) starts at the roots C7057 (Disease, Disorder or Finding)
and
C1908 (Drug, Food, Chemical or Biomedical Material) and fetches the children of every concept
fetched, depth first by batch of at most 500 codes, until no new code is left or ``limit``
concepts are reached (fetched ones plus the children waiting in the current step). It is given
the fetching function, so the EVS client (with its retries) and a local copy are alike to it.

The name of a concept (docs/behaviour-notes.md#trial-listing-groups) is its first non-empty CTRP
``DN`` synonym, else its
``Display_Name``, else its ``Preferred_Name`` (of synonyms not from CTRP, the last of each type
wins), else ``[NO DISPLAY NAME]``; whitespace runs become one space.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DISEASE = "C7057"
INTERVENTION = "C1908"
ROOTS = (DISEASE, INTERVENTION)
#: Codes fetched and walked through but never listed.
SKIPPED_CODES = frozenset({"C138195", "C131913"})
#: Codes per EVS request (the API takes at most 1,000).
BATCH_SIZE = 500
#: The legacy default of ``limit``: in effect, no limit.
DEFAULT_LIMIT = 1_000_000
NO_NAME = "[NO DISPLAY NAME]"
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")

Fetch = Callable[[Sequence[str]], list[Any]]
Log = Callable[[str], None]


class ConceptError(ValueError):
    """A concept from EVS (or a cached file) cannot be read; the message shows it."""


@dataclass(frozen=True)
class Concept:
    """A concept's code (upper case) and display name."""

    code: str
    name: str

    @property
    def key(self) -> str:
        """What groups concepts: the name in lower case."""
        return self.name.lower()

    @property
    def number(self) -> int:
        """The digits of the code, as a number (what concept ids are sorted by)."""
        digits = "".join(_DIGITS.findall(self.code))
        if not digits:
            raise ConceptError(f"concept code {self.code!r} has no digits")
        return int(digits)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def concept_name(synonyms: Iterable[Mapping[str, Any]]) -> str:
    """The display name from a concept's EVS ``synonyms`` (module docstring)."""
    display = preferred = ""
    for synonym in synonyms:
        if synonym.get("source") == "CTRP":
            if synonym.get("termType") == "DN":
                name = _text(synonym.get("name"))
                if name:
                    return _SPACES.sub(" ", name)
        elif synonym.get("type") == "Display_Name":
            display = _text(synonym.get("name"))
        elif synonym.get("type") == "Preferred_Name":
            preferred = _text(synonym.get("name"))
    return _SPACES.sub(" ", display or preferred or NO_NAME)


def concept_from_evs(values: Any) -> Concept:
    """A :class:`Concept` from one concept object of the EVS REST API."""
    if not isinstance(values, Mapping):
        raise ConceptError(f"concept failure: not a concept object: {_shown(values)}")
    code = values.get("code")
    synonyms = values.get("synonyms", [])
    if not isinstance(code, str) or not code.strip():
        raise ConceptError(f"concept failure: no code in {_shown(values)}")
    if not isinstance(synonyms, list) or not all(isinstance(s, Mapping) for s in synonyms):
        raise ConceptError(f"concept failure: synonyms of {code} are not a list of objects")
    return Concept(code.strip().upper(), concept_name(synonyms))


def child_codes(values: Mapping[str, Any]) -> list[str]:
    """The upper-cased codes of a concept object's ``children``."""
    children = values.get("children", [])
    if not isinstance(children, list):
        raise ConceptError(f"concept failure: children of {values.get('code')} are not a list")
    codes = []
    for child in children:
        code = child.get("code") if isinstance(child, Mapping) else None
        if isinstance(code, str) and code.strip():
            codes.append(code.strip().upper())
    return codes


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "..."


@dataclass
class Walk:
    """What a walk fetched: the concepts by code in fetch order, and how it went."""

    concepts: dict[str, Concept] = field(default_factory=dict)
    requests: int = 0
    requested: int = 0
    missing: list[str] = field(default_factory=list)
    limited: bool = False


def walk_concepts(
    fetch: Fetch,
    roots: Sequence[str] = ROOTS,
    limit: int = DEFAULT_LIMIT,
    batch_size: int = BATCH_SIZE,
    log: Log = lambda message: None,
    debug: Log = lambda message: None,
    progress: Log | None = None,
) -> Walk:
    """Fetch ``roots`` and, recursively, their children (module docstring).

    ``fetch`` takes a list of codes and returns the EVS concept objects found for them.
    Codes EVS does not return are logged and listed in ``Walk.missing``. A code already
    fetched is not fetched again.
    """
    if limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    walk = Walk()
    pending: list[list[str]] = [[code.upper() for code in roots]]
    while pending:
        batch = [code for code in pending.pop() if code not in walk.concepts]
        if not batch:
            continue
        found = fetch(batch)
        walk.requests += 1
        walk.requested += len(batch)
        if not isinstance(found, list):
            raise ConceptError(f"concept failure: EVS answered {_shown(found)} for {batch[:5]}")
        returned = set()
        for values in found:
            concept = concept_from_evs(values)
            returned.add(concept.code)
            walk.concepts[concept.code] = concept
            debug(f"fetched {concept.code}")
        if len(found) != len(batch):
            missing = [code for code in batch if code not in returned]
            walk.missing.extend(missing)
            log(
                f"got {len(found)} concepts for {len(batch)} codes"
                + (f"; not found: {', '.join(missing[:20])}" if missing else "")
            )
        if progress is not None:
            progress(f"fetched {len(walk.concepts)} concepts in {walk.requests} requests")
        children: dict[str, None] = {}  # first-seen order, so the walk is repeatable
        for values in found:
            if len(walk.concepts) >= limit:
                walk.limited = True
                break
            for code in child_codes(values):
                if len(walk.concepts) + len(children) >= limit:
                    walk.limited = True
                    break
                if code not in walk.concepts:
                    children[code] = None
        codes = list(children)
        batches = [codes[i : i + batch_size] for i in range(0, len(codes), batch_size)]
        pending.extend(reversed(batches))  # the first batch is walked first, to the bottom
    return walk


def read_cached_concepts(path: str | Path) -> list[Concept]:
    """The concepts of a ``concepts-*.json`` file the ``dump`` option wrote: ``[code, name]``
    pairs (the legacy ``concepts`` option)."""
    try:
        pairs = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConceptError(f"cannot read the concepts file {path}: {exc}") from exc
    if not isinstance(pairs, list):
        raise ConceptError(f"the concepts file {path} does not hold a list of [code, name]")
    concepts = []
    for position, pair in enumerate(pairs, start=1):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(value, str) and value.strip() for value in pair)
        ):
            raise ConceptError(
                f"entry {position} of the concepts file {path} is not [code, name]: {_shown(pair)}"
            )
        code, name = pair
        concepts.append(Concept(code.strip().upper(), _SPACES.sub(" ", name.strip())))
    return concepts
