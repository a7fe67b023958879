"""The size check of a load: a new index that is empty, or much smaller than the live one,
does not go live.

The consumer APIs serve whatever the alias points to, so an empty source (an emptied
``pub_proc_cg``, an EVS answering nothing) would otherwise empty their pages. Before the swap
each new index is compared with the index its alias points to now: it fails when the new one
holds no document, or when it holds more than ``max_shrink_percent`` per cent fewer documents
than the live one. An operator who knows the shrink is real (terms withdrawn in bulk) runs the
load once with ``accept_shrink``; an empty index is never accepted. A test or limited load
does not move the alias, so its size is not compared (an empty one still fails).
See ``docs/search-loads.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdr_dagster.search.backends import SearchBackend
from cdr_dagster.search.indexes import CheckOutcome

CHECK_SIZE = "not_empty_or_shrunk"
DEFAULT_MAX_SHRINK_PERCENT = 10.0
DESCRIPTION = (
    "Each new index is not empty and holds no more than max_shrink_percent (default 10) per "
    "cent fewer documents than the index its alias points to now; the run's accept_shrink "
    "option accepts a real shrink, never an empty index. Blocking: the alias only moves when "
    "it passes."
)


@dataclass(frozen=True)
class NewIndex:
    """A new index to compare: the alias it is for, its name, and the documents it holds."""

    alias: str
    index: str
    count: int


def live_count(backend: SearchBackend, alias: str) -> int | None:
    """Documents behind ``alias`` now (None when there is no such alias)."""
    return backend.count(alias) if backend.alias_indexes(alias) else None


def compare_with_live(
    new: Sequence[NewIndex],
    live: Sequence[int | None],
    *,
    max_shrink_percent: float = DEFAULT_MAX_SHRINK_PERCENT,
    accept_shrink: bool = False,
    compared: bool = True,
) -> CheckOutcome:
    """The size check over the new indexes and the live counts of their aliases (None: no
    live index). With ``compared`` False (a test or limited load) only emptiness fails."""
    if not 0 <= max_shrink_percent <= 100:
        raise ValueError(f"max_shrink_percent must be 0 to 100, not {max_shrink_percent}")
    failures: list[str] = []
    notes: list[str] = []
    details: dict[str, dict] = {}
    for item, before in zip(new, live, strict=True):
        details[item.alias] = {"new_index": item.index, "new": item.count, "live": before}
        now = f"{item.index} holds {item.count} documents"
        was = "no live index" if before is None else f"{item.alias} holds {before} now"
        if item.count == 0:
            failures.append(f"{now} ({was}): an empty index never goes live")
            continue
        if not compared or not before:
            notes.append(f"{now} ({was if compared else 'not compared: the alias stays'})")
            continue
        shrink = 100.0 * (before - item.count) / before
        details[item.alias]["shrink_percent"] = round(shrink, 2)
        if shrink <= max_shrink_percent:
            notes.append(f"{now}, {was}")
        elif accept_shrink:
            notes.append(f"{now}, {was}: {shrink:.1f}% fewer, accepted by accept_shrink")
        else:
            failures.append(
                f"{now}, {was}: {shrink:.1f}% fewer, more than the {max_shrink_percent:g}% "
                "allowed (run with accept_shrink to accept a real shrink)"
            )
    summary = "; ".join(failures or notes)
    return CheckOutcome(
        CHECK_SIZE,
        not failures,
        summary,
        {
            "max_shrink_percent": max_shrink_percent,
            "accept_shrink": accept_shrink,
            "indexes": details,
        },
    )
