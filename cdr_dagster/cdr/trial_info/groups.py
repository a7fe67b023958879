"""Concepts grouped by display name, the overrides applied, and the documents
(docs/behaviour-notes.md#trial-listing-groups).

- Concepts whose names are equal ignoring case form one group, named after the first of them
  in fetch order; the codes C138195 and C131913 are left out. Groups are in key order.
- Each group's URL is the pretty-URL rule (docs/behaviour-notes.md#pretty-urls) applied to the key;
  a URL over
  75 characters is dropped (null) with a warning.
- An override applies to the group holding any of its codes. A group matching two overrides,
  or an override whose codes fall in two groups, is an error. ``<BLANK>`` makes the URL null,
  ``<INHERIT>`` keeps what was computed; a label replaces the name (the URL still comes from
  the original name).
- Two groups with the same URL are NOT an error (the legacy loader meant to refuse them but
  never did, and one clash would otherwise stop the whole nightly load): :func:`url_clashes`
  lists them, and the ``pretty_url_names_usable`` check reports them.

A ListingInfo document is ``{concept_id: [C...] sorted by number, name: {label, normalized},
pretty_url_name}``; ``normalized`` lower-cases every word of the name except the ``tokens``
(stage numerals and eponyms), compared case-sensitively.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdr_dagster.cdr.dictionaries.text import clean_pretty_url
from cdr_dagster.cdr.trial_info.concepts import SKIPPED_CODES, Concept
from cdr_dagster.cdr.trial_info.overrides import (
    BLANK,
    INHERIT,
    MAX_URL_LENGTH,
    Override,
    OverrideError,
)

#: The clinical-trials-listing API's route pattern for a pretty URL name.
API_URL_NAME = re.compile(r"[a-zA-Z0-9]+[a-zA-Z0-9\-]*")


def listing_url(key: str) -> str | None:
    """The pretty URL of a group key: ``"sezary syndrome"`` -> ``"sezary-syndrome"``; None when
    it would be longer than 75 characters."""
    url = clean_pretty_url(key)
    if url or not key:
        return url
    # clean_pretty_url answers "" both for a name with nothing left and for an overlong URL.
    # Its rule works character by character, so the refused length is the sum of the shares.
    if sum(len(clean_pretty_url(character)) for character in key) > MAX_URL_LENGTH:
        return None
    return url


def normalized_name(name: str, tokens: Collection[str]) -> str:
    """The name for running text: each word lower-cased unless it is one of ``tokens``."""
    return " ".join(word if word in tokens else word.lower() for word in name.split())


@dataclass
class Group:
    """Concepts sharing a display name."""

    key: str
    name: str
    codes: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    url: str | None = None
    override: Override | None = None

    def document(self, tokens: Collection[str]) -> dict[str, Any]:
        """The ListingInfo document."""
        return {
            "concept_id": [f"C{number:d}" for number in sorted(set(self.numbers))],
            "name": {"label": self.name, "normalized": normalized_name(self.name, tokens)},
            "pretty_url_name": self.url,
        }


@dataclass
class Grouping:
    """The groups in key order, and what happened on the way."""

    groups: list[Group]
    concepts: int
    skipped: list[str]
    overridden: list[tuple[str, Override]]
    unused_overrides: list[Override]
    dropped_urls: list[str]
    warnings: list[str]


def group_concepts(
    concepts: Iterable[Concept],
    overrides: Mapping[str, Override],
    log: Any = lambda message: None,
) -> Grouping:
    """Group ``concepts`` (in fetch order) and apply ``overrides`` (by code); see the module
    docstring. Raises :class:`OverrideError` when an override is ambiguous."""
    by_key: dict[str, Group] = {}
    skipped: list[str] = []
    count = 0
    for concept in concepts:
        count += 1
        if concept.code in SKIPPED_CODES:
            skipped.append(concept.code)
            continue
        group = by_key.get(concept.key)
        if group is None:
            group = by_key[concept.key] = Group(concept.key, concept.name)
        group.codes.append(concept.code)
        group.numbers.append(concept.number)
    groups = sorted(by_key.values(), key=lambda g: g.key)
    warnings: list[str] = []
    dropped: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        log(message)

    used: dict[int, Group] = {}
    overridden: list[tuple[str, Override]] = []
    for group in groups:
        matches = {o.line_number: o for code in group.codes if (o := overrides.get(code))}
        if len(matches) > 1:
            names = " and ".join(o.code_list for o in matches.values())
            raise OverrideError(f"group {group.key} matches overrides {names}")
        if not matches:
            continue
        (override,) = matches.values()
        other = used.get(override.line_number)
        if other is not None:
            raise OverrideError(
                f"override for {override.code_list} (line {override.line_number}) matches "
                f"{group.key} and {other.key}"
            )
        used[override.line_number] = group
        group.override = override
        overridden.append((group.key, override))
        if override.label != INHERIT:
            group.name = override.label
            twin = by_key.get(override.label.lower())
            if twin is not None and twin is not group:
                warn(f"override results in two {override.label.lower()!r} groups")
    for group in groups:
        url = group.override.url if group.override else INHERIT
        if url == BLANK:
            group.url = None
        elif url != INHERIT:
            group.url = url
        else:  # computed from the key, i.e. from the name before any new label
            group.url = listing_url(group.key)
            if group.url is None:
                dropped.append(group.key)
                warn(f"dropping overlong url for {group.key!r}")
    unused = {o.line_number: o for o in overrides.values() if o.line_number not in used}
    return Grouping(
        groups=groups,
        concepts=count,
        skipped=skipped,
        overridden=overridden,
        unused_overrides=[unused[n] for n in sorted(unused)],
        dropped_urls=dropped,
        warnings=warnings,
    )


def url_clashes(documents: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each pretty URL name used by more than one document, with those documents' labels
    (a null URL is no clash)."""
    users: dict[str, list[str]] = {}
    for document in documents:
        url = document.get("pretty_url_name")
        if url is not None:
            name = document.get("name") or {}
            users.setdefault(str(url), []).append(str(name.get("label")))
    return {url: labels for url, labels in sorted(users.items()) if len(labels) > 1}


def parse_labels(text: str) -> list[dict[str, str]]:
    """The TrialTypeInfo documents of ctl ``trials/labels``: one per line
    ``pretty_url_name|id_string|label``, values stripped."""
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        values = [value.strip() for value in line.strip().split("|")]
        if len(values) != 3:
            raise ValueError(
                f"trials/labels line {number} is not pretty_url_name|id_string|label: {line!r}"
            )
        url, id_string, label = values
        labels.append({"pretty_url_name": url, "id_string": id_string, "label": label})
    return labels


def parse_tokens(text: str) -> frozenset[str]:
    """The words kept as they are in normalized names (ctl ``trials/tokens``)."""
    return frozenset(line.strip() for line in text.splitlines())


def sorted_codes(codes: Sequence[str]) -> list[str]:
    """Concept codes in numeric order (as concept_id lists are)."""
    return sorted(codes, key=lambda code: Concept(code, "").number)
