"""The alias discipline of the loads (docs/behaviour-notes.md#index-aliases).

A load never writes to the index the consumer APIs read. It creates a new index named
``{alias}-YYYYMMDDHHMMSS`` with the index definition (settings and strict mappings), streams
the documents into it with bulk requests, refreshes and checks the count, lets the caller check
the content, and only then moves the alias in ONE ``_aliases`` call (remove from every index
holding it, add to the new one), so the APIs see the old index or the new one, never a mix.
Old indexes are then dropped by the legacy rule: the newest ``keep`` are kept, and of the others
those stamped before ``today - keep_days`` are deleted (an index of the cutoff day stays).

:class:`IndexLoad` deletes its new index when anything fails before the swap, so a failure
always leaves the alias where it was. A load that must not replace the live index (limited to
some ids or a count) keeps its index un-aliased for inspection instead. A load writing two
indexes one API reads moves both aliases in the same single call (:func:`swap_aliases`).

An ``_aliases`` call can be applied by the cluster while its reply is lost (a gateway's 504, a
dropped connection); the client then retries it, and the retried removal of the old index is
refused because it already happened. So whatever the call answers, a failed swap is decided by
reading the aliases back: every alias on its new index means the swap took effect (the load
succeeded); every alias where it was means it did not (the new indexes go); anything else, or
no answer at all, leaves every new index in place and fails naming them. No index an alias
points to is ever deleted: once an alias move naming it was sent, the clean-up of a failed load
looks first, and keeps (and names) an index it cannot prove unaliased. See
``docs/search-loads.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cdr_dagster.search.backends import SearchBackend, SearchIndexError
from cdr_dagster.search.bulk import MAX_BYTES, MAX_DOCUMENTS, bulk_bodies

STAMP_FORMAT = "%Y%m%d%H%M%S"
#: Legacy defaults of the dictionary loaders: indexes always kept, and days.
KEEP_INDEXES = 5
KEEP_DAYS = 5
#: How many later seconds are tried when an index of this second already exists.
_NAME_ATTEMPTS = 120

Log = Callable[[str], None]


class CountMismatchError(SearchIndexError):
    """The new index does not hold the documents that were sent to it."""


def index_name(alias: str, moment: datetime) -> str:
    """``{alias}-YYYYMMDDHHMMSS``."""
    return f"{alias}-{moment.strftime(STAMP_FORMAT)}"


def is_stamped_index(alias: str, name: str) -> bool:
    """True for ``{alias}-`` followed by a 14-digit stamp."""
    return re.fullmatch(re.escape(alias) + r"-\d{14}", name) is not None


def free_index_name(backend: SearchBackend, alias: str, now: datetime) -> str:
    """The name for a new index at ``now``; when that second is taken (two loads in one
    second), the first free later second. Raises when none is free."""
    for offset in range(_NAME_ATTEMPTS):
        name = index_name(alias, now + timedelta(seconds=offset))
        if not backend.index_exists(name) and not backend.alias_indexes(name):
            return name
    raise SearchIndexError(f"no free index name for {alias} near {now:%Y-%m-%d %H:%M:%S}")


def indexes_to_drop(
    alias: str,
    names: Iterable[str],
    today: date,
    keep: int = KEEP_INDEXES,
    keep_days: int = KEEP_DAYS,
    protect: Iterable[str] = (),
) -> list[str]:
    """The legacy clean-up rule: of the indexes named ``{alias}-20...``, sorted by name, the
    last ``keep`` stay; of the rest, those whose name sorts before ``{alias}-{today minus
    keep_days, YYYYMMDD}`` go. Indexes in ``protect`` (the new one, any the alias points to)
    always stay."""
    if keep < 0 or keep_days < 0:
        raise ValueError("keep and keep_days cannot be negative")
    cutoff = f"{alias}-{(today - timedelta(days=keep_days)):%Y%m%d}"
    candidates = sorted(n for n in names if n.startswith(f"{alias}-20"))
    older = candidates[: max(len(candidates) - keep, 0)]
    kept = set(protect)
    return [name for name in older if name < cutoff and name not in kept]


@dataclass(frozen=True)
class CheckOutcome:
    """One content check of a new index: passed or not, a one-line summary, and plain-value
    details (shown as the asset check's metadata)."""

    name: str
    passed: bool
    summary: str
    details: dict[str, Any]


@dataclass
class LoadStats:
    """What a load wrote and did. ``left_behind`` names new indexes a failed load could not
    delete safely (an alias may point to them, or the cluster did not answer)."""

    index: str
    documents: int = 0
    bulk_requests: int = 0
    bytes_sent: int = 0
    distinct_ids: int = 0
    count: int | None = None
    previous: list[str] = field(default_factory=list)
    swapped: bool = False
    dropped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    cleanup_error: str | None = None
    reply_lost: str | None = None
    left_behind: list[str] = field(default_factory=list)


class AliasSwapUncertainError(SearchIndexError):
    """The ``_aliases`` call failed and the aliases read back show neither the old nor the new
    state (or could not be read): every new index was left in place."""


class IndexLoad:
    """One new index, from creation to the alias swap (see the module docstring).

    Use as a context manager: leaving it with an exception, or without :meth:`swap` or
    :meth:`keep`, deletes the new index - unless its alias points to it, or that cannot be
    read, in which case it stays and ``stats.left_behind`` names it.
    """

    def __init__(
        self,
        backend: SearchBackend,
        alias: str,
        definition: Mapping[str, Any],
        now: datetime,
        log: Log = lambda message: None,
        max_documents: int = MAX_DOCUMENTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.backend = backend
        self.alias = alias
        self.definition = definition
        self.now = now
        self.log = log
        self.max_documents = max_documents
        self.max_bytes = max_bytes
        self.stats = LoadStats(index="")
        self._ids: set[str] = set()
        self._anonymous = 0
        self._done = False
        self._alias_sent = False  # an _aliases call adding the new index has been sent

    @property
    def index(self) -> str:
        """The new index's name."""
        return self.stats.index

    def __enter__(self) -> IndexLoad:
        self.stats.index = free_index_name(self.backend, self.alias, self.now)
        try:
            self.backend.create_index(self.index, self.definition)
        except SearchIndexError:
            # The cluster may have created it and lost the reply; a retried create then
            # fails with "already exists". __exit__ is not called when __enter__ raises.
            self._discard()
            raise
        self.log(f"created index {self.index} on {self.backend.target}")
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if not self._done:
            self._discard()

    def _discard(self) -> None:
        """Delete the new index unless an alias points to it (or that cannot be told). Until
        an alias move naming it has been sent, nothing can point to it: no need to look."""
        try:
            if self._alias_sent and self.index in self.backend.alias_indexes(self.alias):
                self._leave(f"{self.alias} points to it")
                return
            self.backend.delete_index(self.index)
        except SearchIndexError as error:
            self._leave(f"the cluster did not confirm it can go ({error})")
            return
        self.log(f"deleted the new index {self.index}; {self.alias} was not moved")

    def _leave(self, why: str) -> None:
        self._done = True
        if self.index not in self.stats.left_behind:
            self.stats.left_behind.append(self.index)
        self.log(f"left the new index {self.index} in place: {why}")

    def load(self, documents: Iterable[tuple[str | None, Mapping[str, Any]]]) -> None:
        """Stream ``documents`` ((id, source) pairs) into the new index with bulk requests."""
        for body in bulk_bodies(self.index, documents, self.max_documents, self.max_bytes):
            self.stats.documents += self.backend.bulk(self.index, body.data)
            self.stats.bulk_requests += 1
            self.stats.bytes_sent += len(body.data)
            for doc_id in body.ids:
                if doc_id is None:
                    self._anonymous += 1
                else:
                    self._ids.add(doc_id)
        self.stats.distinct_ids = len(self._ids) + self._anonymous

    def verify_count(self) -> int:
        """Refresh the new index and check that it holds one document per distinct ``_id``
        sent (a later document with the same ``_id`` replaces the earlier one)."""
        self.backend.refresh(self.index)
        count = self.backend.count(self.index)
        self.stats.count = count
        if count != self.stats.distinct_ids:
            raise CountMismatchError(
                f"index {self.index} holds {count} documents; {self.stats.distinct_ids} "
                f"distinct documents were sent ({self.stats.documents} in "
                f"{self.stats.bulk_requests} bulk requests)"
            )
        self.log(f"index {self.index} holds {count} documents")
        return count

    def swap(self, keep: int = KEEP_INDEXES, keep_days: int = KEEP_DAYS) -> None:
        """Optimize the new index, move the alias to it in one atomic call, then drop old
        indexes. A clean-up failure after the swap is recorded (``stats.cleanup_error``) and
        logged, not raised: the new index is live by then."""
        swap_aliases([self], keep, keep_days)

    def keep(self) -> None:
        """Leave the new index in place without moving the alias (a limited load)."""
        self._done = True
        self.log(f"kept index {self.index} without moving {self.alias} (limited load)")

    def cleanup(self, keep: int = KEEP_INDEXES, keep_days: int = KEEP_DAYS) -> tuple[list, list]:
        """Drop old ``{alias}-20...`` indexes by the legacy rule; return (dropped, kept)."""
        names = self.backend.list_indexes(f"{self.alias}-20*")
        protect = {self.index, *self.backend.alias_indexes(self.alias)}
        drop = indexes_to_drop(self.alias, names, self.now.date(), keep, keep_days, protect)
        for name in drop:
            self.backend.delete_index(name)
            self.log(f"dropped index {name}")
        kept = [name for name in names if name not in drop]
        self.log("Kept one index" if len(kept) == 1 else f"Kept {len(kept)} indices")
        return drop, kept


def swap_aliases(
    loads: Sequence[IndexLoad], keep: int = KEEP_INDEXES, keep_days: int = KEEP_DAYS
) -> None:
    """:meth:`IndexLoad.swap` for several loads on one backend (a load writing two indexes
    the same API reads): every new index is optimized, then ALL the aliases move in ONE
    ``_aliases`` call, so the API sees either every old index or every new one. A failed call
    is decided by reading the aliases back (module docstring). Old indexes of each alias are
    then dropped; a clean-up failure is recorded and logged, not raised."""
    if not loads:
        return
    backend = loads[0].backend
    if any(load.backend is not backend for load in loads):
        raise ValueError("loads swapped together must share one backend")
    for load in loads:
        backend.forcemerge(load.index)
    previous = [backend.alias_indexes(load.alias) for load in loads]
    actions: list[dict[str, Any]] = []
    for load, indexes in zip(loads, previous, strict=True):
        actions.extend({"remove": {"index": index, "alias": load.alias}} for index in indexes)
        actions.append({"add": {"index": load.index, "alias": load.alias}})
    for load in loads:
        load._alias_sent = True
    try:
        backend.update_aliases(actions)
    except SearchIndexError as error:
        _settle_failed_swap(loads, previous, error)
    for load, indexes in zip(loads, previous, strict=True):
        load._done = True
        load.stats.previous = indexes
        load.stats.swapped = True
        moved = f" from {', '.join(indexes)}" if indexes else ""
        load.log(f"aliased {load.index} as {load.alias}{moved}")
    for load in loads:
        try:
            load.stats.dropped, load.stats.kept = load.cleanup(keep, keep_days)
        except SearchIndexError as error:
            load.stats.cleanup_error = str(error)
            load.log(f"clean-up of old {load.alias} indexes failed: {error}")


def _settle_failed_swap(
    loads: Sequence[IndexLoad], previous: Sequence[list[str]], error: SearchIndexError
) -> None:
    """Decide a failed ``_aliases`` call from the aliases the cluster shows: return when the
    swap took effect, re-raise ``error`` when nothing moved (the new indexes are then deleted
    as for any failure), else leave every new index and raise :class:`AliasSwapUncertainError`.
    """
    backend = loads[0].backend
    try:
        now = [backend.alias_indexes(load.alias) for load in loads]
    except SearchIndexError as unread:
        now = None
        shown = f"the aliases could not be read back ({unread})"
    else:
        shown = "; ".join(
            f"{load.alias} -> {', '.join(found) or 'nothing'}"
            for load, found in zip(loads, now, strict=True)
        )
    if now is not None and all(
        found == [load.index] for load, found in zip(loads, now, strict=True)
    ):
        for load in loads:
            load.stats.reply_lost = str(error)
            load.log(
                f"the reply to the alias move was lost ({error}); the cluster shows {shown}, "
                "so the swap took effect"
            )
        return
    if now is not None and list(now) == list(previous):
        raise error
    for load in loads:
        load._leave(f"the alias move is in doubt ({shown})")
    left = ", ".join(load.index for load in loads)
    raise AliasSwapUncertainError(
        f"moving the aliases failed ({error}) and the cluster shows {shown}; the new "
        f"index(es) {left} were left in place for an operator to check"
    ) from error
