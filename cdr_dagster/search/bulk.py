"""Documents streamed into ``_bulk`` request bodies (NDJSON), a bounded number at a time.

Each document is two lines: the action ``{"index":{"_index":"<index>","_id":"<id>"}}`` (no
``_id`` when the document has none) and the source, both compact JSON in UTF-8. These bytes are
exactly what is sent to ``POST /_bulk``; the dump folder keeps them with the alias in place of
the new index's name, so a dump can be loaded into any cluster as the consumer APIs load their
data files: ``curl -H 'Content-Type: application/x-ndjson' --data-binary @file
http://host:9200/_bulk``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: Documents per bulk request, and the size a request stops growing at.
MAX_DOCUMENTS = 500
MAX_BYTES = 5 * 1024 * 1024


def dumps(value: Any) -> bytes:
    """Compact JSON in UTF-8 (non-ASCII characters written as themselves)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def action_line(index: str, doc_id: str | None) -> bytes:
    """The ``index`` action for one document."""
    meta: dict[str, str] = {"_index": index}
    if doc_id is not None:
        meta["_id"] = doc_id
    return dumps({"index": meta})


@dataclass(frozen=True)
class BulkBody:
    """One ``_bulk`` request: its NDJSON bytes and the ids of its documents, in order."""

    data: bytes
    ids: tuple[str | None, ...]

    @property
    def count(self) -> int:
        """Documents in the request."""
        return len(self.ids)


def bulk_bodies(
    index: str,
    documents: Iterable[tuple[str | None, Mapping[str, Any]]],
    max_documents: int = MAX_DOCUMENTS,
    max_bytes: int = MAX_BYTES,
) -> Iterator[BulkBody]:
    """``documents`` ((id, source) pairs) as bulk request bodies for ``index``.

    A body closes when it holds ``max_documents`` documents or reaches ``max_bytes`` (a single
    larger document still goes, alone). Only one body is held in memory at a time.
    """
    if max_documents < 1 or max_bytes < 1:
        raise ValueError("bulk requests need room for at least one document")
    lines: list[bytes] = []
    ids: list[str | None] = []
    size = 0
    for doc_id, source in documents:
        pair = action_line(index, doc_id) + b"\n" + dumps(source) + b"\n"
        if ids and size + len(pair) > max_bytes:
            yield BulkBody(b"".join(lines), tuple(ids))
            lines, ids, size = [], [], 0
        lines.append(pair)
        ids.append(doc_id)
        size += len(pair)
        if len(ids) >= max_documents:
            yield BulkBody(b"".join(lines), tuple(ids))
            lines, ids, size = [], [], 0
    if ids:
        yield BulkBody(b"".join(lines), tuple(ids))
