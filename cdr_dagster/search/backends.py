"""Where index operations go: an Elasticsearch cluster, or a dump folder of bulk bodies.

A load needs the same few operations whatever it loads (dictionaries, trial listing info):
create an index with its settings and mappings, send bulk bodies, refresh and count, read the
documents back, force-merge, look up and atomically move an alias, list and delete indexes.

- :class:`ElasticsearchBackend` performs them through the ``elasticsearch`` client (major
  version 7, as the legacy loaders and the consumer APIs' clusters use). Errors become
  :class:`SearchIndexError` naming the operation and what the cluster answered.
- :class:`DumpFolderBackend` keeps each index in a folder: ``{index}.index.json`` (the body it
  was created with), ``{index}.ndjson`` (the bulk bodies, appended, each action naming the
  ALIAS as ``_index`` - the legacy dump's format and that of the consumer APIs'
  ``*-data.jsonl`` files, so a consumer loads the file as it is) and ``aliases.json``
  (alias -> indexes, replaced atomically). It refuses fields a ``"dynamic": "strict"`` mapping
  does not know, as Elasticsearch would. This is the legacy ``dump`` output and the demo's
  local mode.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cdr_dagster.search.bulk import action_line

#: Seconds a cluster request may take (the legacy loaders' value).
DEFAULT_TIMEOUT = 300.0
#: Documents per page when reading an index back.
SCAN_PAGE = 1000


class SearchIndexError(RuntimeError):
    """An index operation failed; the message names the operation and the reason."""


class BulkError(SearchIndexError):
    """Documents of a bulk request were refused; ``failures`` holds (id, reason) pairs."""

    def __init__(self, index: str, failures: Sequence[tuple[str | None, str]]) -> None:
        self.index = index
        self.failures = list(failures)
        shown = "; ".join(f"{doc_id}: {reason}" for doc_id, reason in self.failures[:5])
        more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
        super().__init__(
            f"{len(self.failures)} document(s) refused by index {index}: {shown}{more}"
        )


class SearchBackend:
    """The operations of a load. ``target`` says where they go, for logs and mail."""

    target: str = ""

    def create_index(self, name: str, body: Mapping[str, Any]) -> None:
        """Create index ``name`` with ``body`` (settings and mappings)."""
        raise NotImplementedError

    def delete_index(self, name: str) -> None:
        """Delete index ``name`` (and with it its aliases); a missing index is no error."""
        raise NotImplementedError

    def index_exists(self, name: str) -> bool:
        """True when an index (not an alias) is called ``name``."""
        raise NotImplementedError

    def list_indexes(self, pattern: str) -> list[str]:
        """Names of the indexes matching the wildcard ``pattern``, sorted."""
        raise NotImplementedError

    def bulk(self, index: str, data: bytes) -> int:
        """Send one bulk body for ``index``; return the number of documents written.

        Raises :class:`BulkError` when any document was refused.
        """
        raise NotImplementedError

    def refresh(self, name: str) -> None:
        """Make everything written to ``name`` visible to count and search."""

    def count(self, name: str) -> int:
        """Documents in index (or alias) ``name``."""
        raise NotImplementedError

    def documents(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every (``_id``, ``_source``) of index ``name``, in no particular order."""
        raise NotImplementedError

    def forcemerge(self, name: str) -> None:
        """Merge the index to one segment (read-only from now on)."""

    def alias_indexes(self, alias: str) -> list[str]:
        """The indexes ``alias`` points to (empty when there is no such alias), sorted."""
        raise NotImplementedError

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """Apply ``_aliases`` actions (``add``/``remove``) atomically: all or none."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


# ---------------------------------------------------------------------------------------------
# Elasticsearch
# ---------------------------------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    """What the cluster said, from an ``elasticsearch`` exception."""
    status = getattr(exc, "status_code", None)
    info = getattr(exc, "info", None)
    error = info.get("error") if isinstance(info, dict) else None
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    elif error:
        text = str(error)
    else:
        text = str(getattr(exc, "error", "") or exc)
    if isinstance(status, int):
        return f"HTTP {status} {text}"
    return f"{exc.__class__.__name__}: {text}"


def _item_reason(item: Mapping[str, Any]) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"
    return str(error)


class ElasticsearchBackend(SearchBackend):
    """Operations on a cluster through an ``elasticsearch.Elasticsearch`` client."""

    def __init__(self, client: Any, target: str) -> None:
        self.client = client
        self.target = target

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        from elasticsearch import ElasticsearchException

        try:
            return function(*args, **kwargs)
        except ElasticsearchException as exc:
            raise SearchIndexError(f"{what} on {self.target} failed: {_reason(exc)}") from exc

    def create_index(self, name: str, body: Mapping[str, Any]) -> None:
        create = self.client.indices.create
        if set(body) <= {"settings", "mappings", "aliases"}:  # the 7.17 client's parameters
            self._call(f"creating index {name}", create, index=name, **body)
        else:  # anything else goes to the cluster as it is, for it to accept or refuse
            self._call(f"creating index {name}", create, index=name, body=body)

    def delete_index(self, name: str) -> None:
        self._call(f"deleting index {name}", self.client.indices.delete, index=name, ignore=[404])

    def index_exists(self, name: str) -> bool:
        if not self._call(f"looking up {name}", self.client.indices.exists, index=name):
            return False
        return not self._call(f"looking up {name}", self.client.indices.exists_alias, name=name)

    def list_indexes(self, pattern: str) -> list[str]:
        rows = self._call(
            f"listing indexes {pattern}",
            self.client.cat.indices,
            index=pattern,
            format="json",
            h="index",
        )
        return sorted(row["index"] for row in rows or [])

    def bulk(self, index: str, data: bytes) -> int:
        response = self._call(f"bulk request to {index}", self.client.bulk, body=data)
        items = response.get("items", [])
        if response.get("errors"):
            failures = []
            for entry in items:
                item = next(iter(entry.values()))
                if item.get("error") is not None or item.get("status", 200) >= 300:
                    failures.append((item.get("_id"), _item_reason(item)))
            raise BulkError(index, failures)
        return len(items)

    def refresh(self, name: str) -> None:
        self._call(f"refreshing {name}", self.client.indices.refresh, index=name)

    def count(self, name: str) -> int:
        return int(self._call(f"counting {name}", self.client.count, index=name)["count"])

    def documents(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        from elasticsearch import ElasticsearchException
        from elasticsearch.helpers import ScanError, scan

        try:
            for hit in scan(
                self.client,
                index=name,
                query={"query": {"match_all": {}}},
                size=SCAN_PAGE,
                scroll="5m",
            ):
                yield hit["_id"], hit["_source"]
        except (ElasticsearchException, ScanError) as exc:
            raise SearchIndexError(
                f"reading index {name} on {self.target} failed: {_reason(exc)}"
            ) from exc

    def forcemerge(self, name: str) -> None:
        self._call(
            f"optimizing {name}", self.client.indices.forcemerge, index=name, max_num_segments=1
        )

    def alias_indexes(self, alias: str) -> list[str]:
        if not self._call(
            f"looking up alias {alias}", self.client.indices.exists_alias, name=alias
        ):
            return []
        found = self._call(f"looking up alias {alias}", self.client.indices.get_alias, name=alias)
        return sorted(
            index for index, value in found.items() if alias in (value.get("aliases") or {})
        )

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        self._call(
            "moving aliases", self.client.indices.update_aliases, body={"actions": list(actions)}
        )

    def close(self) -> None:
        self.client.transport.close()


# ---------------------------------------------------------------------------------------------
# Dump folder
# ---------------------------------------------------------------------------------------------

ALIASES_FILE = "aliases.json"
_INDEX_SUFFIX = ".index.json"
_DATA_SUFFIX = ".ndjson"
_INVALID_NAME = set('\\/*?"<>| ,#:')


def strict_mapping_problems(
    properties: Mapping[str, Any], source: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Fields of ``source`` that the mapping ``properties`` do not declare (recursively into
    objects and lists of objects), as Elasticsearch names them for a strict mapping."""
    problems = []
    for name, value in source.items():
        field = properties.get(name)
        path = f"{prefix}{name}"
        if field is None:
            problems.append(
                f"strict_dynamic_mapping_exception: mapping set to strict, dynamic introduction "
                f"of [{name}] within [{prefix.rstrip('.') or '_doc'}] is not allowed"
            )
            continue
        inner = field.get("properties")
        if inner is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping):
                problems.extend(strict_mapping_problems(inner, item, f"{path}."))
    return problems


def alias_of(index: str) -> str:
    """The alias a load's index is for: ``glossaryv1`` for ``glossaryv1-20240101020000``
    (any other name is its own alias)."""
    match = re.fullmatch(r"(.+)-\d{14}", index)
    return match[1] if match else index


class DumpFolderBackend(SearchBackend):
    """Indexes kept as files in ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.target = f"dump folder {self.folder}"
        self._mappings: dict[str, dict[str, Any] | None] = {}

    def _index_file(self, name: str) -> Path:
        return self.folder / f"{name}{_INDEX_SUFFIX}"

    def _data_file(self, name: str) -> Path:
        return self.folder / f"{name}{_DATA_SUFFIX}"

    def _aliases(self) -> dict[str, list[str]]:
        path = self.folder / ALIASES_FILE
        if not path.exists():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def _write_aliases(self, aliases: Mapping[str, list[str]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".aliases-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(dict(sorted(aliases.items())), out, indent=2)
                out.write("\n")
            os.replace(temp, self.folder / ALIASES_FILE)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def _require(self, name: str) -> None:
        if not self.index_exists(name):
            raise SearchIndexError(f"index {name} does not exist in {self.target}")

    def create_index(self, name: str, body: Mapping[str, Any]) -> None:
        if not name or name != name.lower() or _INVALID_NAME & set(name) or name[0] in "-_+":
            raise SearchIndexError(f"creating index {name!r} failed: invalid index name")
        if self.index_exists(name) or name in self._aliases():
            raise SearchIndexError(f"creating index {name} failed: it already exists")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._index_file(name).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        self._data_file(name).write_bytes(b"")

    def delete_index(self, name: str) -> None:
        self._index_file(name).unlink(missing_ok=True)
        self._data_file(name).unlink(missing_ok=True)
        self._mappings.pop(name, None)
        aliases = self._aliases()
        kept = {a: [i for i in names if i != name] for a, names in aliases.items()}
        kept = {a: names for a, names in kept.items() if names}
        if kept != aliases:
            self._write_aliases(kept)

    def index_exists(self, name: str) -> bool:
        return self._index_file(name).exists()

    def list_indexes(self, pattern: str) -> list[str]:
        if not self.folder.exists():
            return []
        names = (p.name[: -len(_INDEX_SUFFIX)] for p in self.folder.glob(f"*{_INDEX_SUFFIX}"))
        return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))

    def _strict_properties(self, name: str) -> dict[str, Any] | None:
        if name not in self._mappings:
            body = json.loads(self._index_file(name).read_text(encoding="utf-8"))
            mappings = body.get("mappings") or {}
            strict = str(mappings.get("dynamic", "")).lower() == "strict"
            self._mappings[name] = mappings.get("properties", {}) if strict else None
        return self._mappings[name]

    def bulk(self, index: str, data: bytes) -> int:
        self._require(index)
        properties = self._strict_properties(index)
        lines = data.splitlines()
        if len(lines) % 2:
            raise SearchIndexError(f"bulk request to {index}: an action without a document")
        failures = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            meta = json.loads(action).get("index") or {}
            if meta.get("_index", index) != index:
                raise SearchIndexError(f"bulk request to {index} names {meta.get('_index')}")
            if properties is not None:
                problems = strict_mapping_problems(properties, json.loads(source))
                if problems:
                    failures.append((meta.get("_id"), problems[0]))
        if failures:
            raise BulkError(index, failures)
        alias = alias_of(index)
        written = bytearray()
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            meta = json.loads(action).get("index") or {}
            written += action_line(alias, meta.get("_id")) + b"\n" + source + b"\n"
        with open(self._data_file(index), "ab") as out:
            out.write(written)
        return len(lines) // 2

    def _latest_lines(self, name: str) -> dict[str, int]:
        """For each ``_id``, the line number of its last source line (later writes win)."""
        latest: dict[str, int] = {}
        with open(self._data_file(name), "rb") as handle:
            for number, line in enumerate(handle):
                if number % 2 == 0:
                    meta = json.loads(line).get("index") or {}
                    doc_id = meta.get("_id")
                    latest[doc_id if doc_id is not None else f"#{number}"] = number + 1
        return latest

    def count(self, name: str) -> int:
        total = 0
        for index in self.alias_indexes(name) or [name]:
            self._require(index)
            total += len(self._latest_lines(index))
        return total

    def documents(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        self._require(name)
        wanted = {line: doc_id for doc_id, line in self._latest_lines(name).items()}
        with open(self._data_file(name), "rb") as handle:
            for number, line in enumerate(handle):
                doc_id = wanted.get(number)
                if doc_id is not None:
                    yield doc_id, json.loads(line)

    def alias_indexes(self, alias: str) -> list[str]:
        return sorted(self._aliases().get(alias, []))

    def update_aliases(self, actions: Sequence[Mapping[str, Any]]) -> None:
        aliases = {name: set(indexes) for name, indexes in self._aliases().items()}
        for action in actions:
            ((verb, spec),) = action.items()
            index, alias = spec.get("index"), spec.get("alias")
            if verb not in ("add", "remove") or not index or not alias:
                raise SearchIndexError(f"moving aliases failed: unsupported action {action}")
            if not self.index_exists(index):
                raise SearchIndexError(f"moving aliases failed: no such index [{index}]")
            if verb == "add":
                if self.index_exists(alias):
                    raise SearchIndexError(
                        f"moving aliases failed: an index exists with the same name as the "
                        f"alias [{alias}]"
                    )
                aliases.setdefault(alias, set()).add(index)
            else:
                if index not in aliases.get(alias, set()):
                    raise SearchIndexError(f"moving aliases failed: aliases [{alias}] missing")
                aliases[alias].discard(index)
        self._write_aliases({a: sorted(i) for a, i in aliases.items() if i})
