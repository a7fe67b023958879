"""A small Elasticsearch-compatible HTTP server for the tests, and the fixtures that use it.

No Elasticsearch can be installed on the test machines, so the tests run the real
``elasticsearch`` 7.17 client against this server on loopback. It answers the way
Elasticsearch 7.17 does for what the loads use, with the same status codes and error shapes:

- ``GET /`` with the ``X-Elastic-Product: Elasticsearch`` header the client checks (on every
  response, as 7.14+ sends it);
- indexes: ``PUT``/``HEAD``/``GET``/``DELETE /{index}`` (name rules, already-exists and
  not-found errors), ``/{index}/_refresh``, ``/{index}/_forcemerge``, ``/{index}/_mapping``;
- documents: ``POST /_bulk`` and ``/{index}/_bulk`` (``index``, ``create``, ``delete``
  actions; per-item results; ``"dynamic": "strict"`` mappings refuse unknown fields and
  ``long`` fields refuse what is not a number), ``GET /{index}/_doc/{id}``;
- ``/{index}/_count``, ``/{index}/_search`` (``match_all`` only, with ``size``/``from`` and
  ``scroll``), ``/_search/scroll`` and clearing it;
- aliases: ``POST /_aliases`` (``add``/``remove``/``remove_index``, all or nothing),
  ``GET``/``HEAD /_alias/{name}``, ``GET /{index}/_alias``;
- ``GET /_cat/indices[/{pattern}]?format=json``.

Names in paths may be comma lists and wildcards, and an alias stands for its indexes.

:func:`search_cluster` is the fixture the tests use: the server (started once per session)
or, when ``CDR_TEST_ELASTICSEARCH_URL`` is set, a real cluster too, with a name prefix per test
so tests never see each other's indexes, removed afterwards.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

VERSION = "7.17.9"
_INVALID = set('\\/*?"<>| ,#:')


class EsError(Exception):
    """An Elasticsearch error response."""

    def __init__(self, status: int, kind: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {
            "error": {
                "root_cause": [{"type": kind, "reason": reason, **extra}],
                "type": kind,
                "reason": reason,
                **extra,
            },
            "status": status,
        }


def _not_found(name: str) -> EsError:
    return EsError(
        404, "index_not_found_exception", f"no such index [{name}]", index=name, resource_id=name
    )


@dataclass
class Index:
    """One index: its definition and documents (_id -> source), visible at once."""

    name: str
    settings: dict[str, Any]
    mappings: dict[str, Any]
    documents: dict[str, dict[str, Any]]


class Cluster:
    """The state of the server, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.indexes: dict[str, Index] = {}
        self.aliases: dict[str, set[str]] = {}
        self.scrolls: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)

    # -- names ------------------------------------------------------------------------------

    def resolve(self, expression: str, allow_none: bool = False) -> list[str]:
        """Index names for a comma list of names, aliases and wildcards."""
        names: list[str] = []
        for part in expression.split(","):
            if part in ("_all", "*"):
                found = list(self.indexes)
            elif "*" in part or "?" in part:
                found = [n for n in self.indexes if fnmatch.fnmatchcase(n, part)]
                found += [
                    i
                    for a, indexes in self.aliases.items()
                    if fnmatch.fnmatchcase(a, part)
                    for i in indexes
                ]
            elif part in self.indexes:
                found = [part]
            elif part in self.aliases:
                found = sorted(self.aliases[part])
            else:
                raise _not_found(part)
            names.extend(n for n in found if n not in names)
        if not names and not allow_none:
            raise _not_found(expression)
        return sorted(names)

    def aliases_of(self, index: str) -> list[str]:
        return sorted(a for a, indexes in self.aliases.items() if index in indexes)

    # -- indexes ----------------------------------------------------------------------------

    def create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if (
            not name
            or name in (".", "..")
            or name != name.lower()
            or name[0] in "-_+"
            or _INVALID & set(name)
        ):
            raise EsError(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], must be lowercase and must not contain "
                f'[\\, /, *, ?, ", <, >, |,  , ,, #, :] or start with [-, _, +]',
                index=name,
            )
        if name in self.indexes:
            raise EsError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{uuid.uuid4().hex[:22]}] already exists",
                index=name,
            )
        if name in self.aliases:
            raise EsError(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], already exists as alias",
                index=name,
            )
        unknown = set(body) - {"settings", "mappings", "aliases"}
        if unknown:
            raise EsError(
                400, "parse_exception", f"unknown key [{sorted(unknown)[0]}] for create index"
            )
        mappings = body.get("mappings") or {}
        if "properties" not in mappings and mappings and "dynamic" not in mappings:
            raise EsError(
                400,
                "mapper_parsing_exception",
                "Root mapping definition has unsupported parameters (mapping types are "
                "removed in 7.x)",
            )
        self.indexes[name] = Index(name, body.get("settings") or {}, mappings, {})
        for alias in body.get("aliases") or {}:
            self.aliases.setdefault(alias, set()).add(name)
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def delete(self, expression: str) -> dict[str, Any]:
        for name in self.resolve(expression):
            del self.indexes[name]
            for alias in list(self.aliases):
                self.aliases[alias].discard(name)
                if not self.aliases[alias]:
                    del self.aliases[alias]
        return {"acknowledged": True}

    def info(self, expression: str) -> dict[str, Any]:
        return {
            name: {
                "aliases": {a: {} for a in self.aliases_of(name)},
                "mappings": self.indexes[name].mappings,
                "settings": {"index": self.indexes[name].settings.get("index", {})},
            }
            for name in self.resolve(expression)
        }

    # -- documents --------------------------------------------------------------------------

    def _write_target(self, name: str) -> Index:
        if name in self.indexes:
            return self.indexes[name]
        if name in self.aliases:
            targets = self.aliases[name]
            if len(targets) != 1:
                raise EsError(
                    400,
                    "illegal_argument_exception",
                    f"no write index is defined for alias [{name}]. The write index may be "
                    "explicitly disabled using is_write_index=false or the alias points to "
                    "multiple indices without one being designated as a write index",
                )
            return self.indexes[next(iter(targets))]
        self.create(name, {})  # auto-created with a dynamic mapping, as Elasticsearch does
        return self.indexes[name]

    def bulk(self, default_index: str | None, body: bytes) -> dict[str, Any]:
        lines = [line for line in body.decode("utf-8").split("\n") if line.strip()]
        items = []
        errors = False
        position = 0
        while position < len(lines):
            try:
                action = json.loads(lines[position])
            except ValueError as exc:
                raise EsError(400, "json_parse_exception", f"bulk action: {exc}") from exc
            if not isinstance(action, dict) or len(action) != 1:
                raise EsError(400, "illegal_argument_exception", "Malformed action/metadata line")
            ((verb, meta),) = action.items()
            if verb not in ("index", "create", "delete", "update"):
                raise EsError(
                    400,
                    "illegal_argument_exception",
                    f"Malformed action/metadata line [{position + 1}], expected one of "
                    f"[create, delete, index, update] but found [{verb}]",
                )
            position += 1
            source = None
            if verb != "delete":
                if position >= len(lines):
                    raise EsError(
                        400,
                        "illegal_argument_exception",
                        "The bulk request must be terminated by a newline [\\n]",
                    )
                source = json.loads(lines[position])
                position += 1
            item = self._bulk_item(verb, meta, source, default_index)
            errors = errors or "error" in item
            items.append({verb: item})
        return {"took": 1, "errors": errors, "items": items}

    def _bulk_item(
        self, verb: str, meta: dict[str, Any], source: Any, default_index: str | None
    ) -> dict[str, Any]:
        name = meta.get("_index") or default_index
        doc_id = meta.get("_id")
        item: dict[str, Any] = {"_index": name, "_type": "_doc", "_id": doc_id}
        try:
            if not name:
                raise EsError(400, "action_request_validation_exception", "index is missing")
            if verb == "update":
                raise EsError(400, "illegal_argument_exception", "update is not supported here")
            index = self._write_target(name)
            item["_index"] = index.name
            if verb == "delete":
                if doc_id not in index.documents:
                    item.update(result="not_found", status=404)
                    return item
                del index.documents[doc_id]
                item.update(result="deleted", status=200)
                return item
            if doc_id is None:
                doc_id = uuid.uuid4().hex[:20]
                item["_id"] = doc_id
            problem = _mapping_problem(index.mappings, source)
            if problem is not None:
                raise EsError(400, *problem)
            if verb == "create" and doc_id in index.documents:
                raise EsError(
                    409,
                    "version_conflict_engine_exception",
                    f"[{doc_id}]: version conflict, document already exists",
                )
            existed = doc_id in index.documents
            index.documents[doc_id] = source
            item.update(
                _version=1,
                result="updated" if existed else "created",
                _shards={"total": 1, "successful": 1, "failed": 0},
                status=200 if existed else 201,
            )
        except EsError as exc:
            error = dict(exc.body["error"])
            error.pop("root_cause", None)
            item.update(status=exc.status, error=error)
        return item

    def get(self, expression: str, doc_id: str) -> dict[str, Any]:
        (name,) = self.resolve(expression)[:1] or [expression]
        source = self.indexes[name].documents.get(doc_id)
        if source is None:
            return {"_index": name, "_type": "_doc", "_id": doc_id, "found": False}
        return {
            "_index": name,
            "_type": "_doc",
            "_id": doc_id,
            "_version": 1,
            "_seq_no": 0,
            "_primary_term": 1,
            "found": True,
            "_source": source,
        }

    def hits(self, expression: str) -> list[dict[str, Any]]:
        return [
            {"_index": name, "_type": "_doc", "_id": doc_id, "_score": 1.0, "_source": source}
            for name in self.resolve(expression, allow_none=True)
            for doc_id, source in self.indexes[name].documents.items()
        ]

    def search(
        self, expression: str, body: dict[str, Any], params: dict[str, str]
    ) -> dict[str, Any]:
        query = (body or {}).get("query") or {"match_all": {}}
        if set(query) != {"match_all"}:
            raise EsError(400, "parsing_exception", "only match_all is supported here")
        size = int(params.get("size", (body or {}).get("size", 10)))
        start = int(params.get("from", (body or {}).get("from", 0)))
        hits = self.hits(expression)
        total = len(hits)
        response: dict[str, Any] = {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": total, "relation": "eq"}, "max_score": 1.0},
        }
        if "scroll" in params:
            scroll_id = f"scroll{next(self._ids)}"
            self.scrolls[scroll_id] = (size, hits[size:])
            response["_scroll_id"] = scroll_id
            response["hits"]["hits"] = hits[:size]
        else:
            response["hits"]["hits"] = hits[start : start + size]
        return response

    def scroll(self, scroll_id: str) -> dict[str, Any]:
        if scroll_id not in self.scrolls:
            raise EsError(
                404,
                "search_context_missing_exception",
                f"No search context found for id [{scroll_id}]",
            )
        size, remaining = self.scrolls[scroll_id]
        page = remaining[:size]
        self.scrolls[scroll_id] = (size, remaining[size:])
        return {
            "_scroll_id": scroll_id,
            "took": 1,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": len(page), "relation": "eq"}, "hits": page},
        }

    def clear_scroll(self, ids: list[str]) -> dict[str, Any]:
        freed = 0
        for scroll_id in ids:
            if self.scrolls.pop(scroll_id, None) is not None:
                freed += 1
        return {"succeeded": True, "num_freed": freed}

    # -- aliases ----------------------------------------------------------------------------

    def update_aliases(self, body: dict[str, Any]) -> dict[str, Any]:
        actions = (body or {}).get("actions")
        if not actions:
            raise EsError(400, "action_request_validation_exception", "[actions] is required")
        aliases = {alias: set(indexes) for alias, indexes in self.aliases.items()}
        removed_indexes: list[str] = []
        for action in actions:
            ((verb, spec),) = action.items()
            indexes = spec.get("indices") or [spec.get("index")]
            if verb == "remove_index":
                for name in indexes:
                    removed_indexes.extend(self.resolve(name))
                continue
            names = spec.get("aliases") or [spec.get("alias")]
            for expression in indexes:
                for index in self.resolve(expression):
                    for alias in names:
                        if verb == "add":
                            if alias in self.indexes:
                                raise EsError(
                                    400,
                                    "invalid_alias_name_exception",
                                    f"Invalid alias name [{alias}], an index exists with the "
                                    "same name as the alias",
                                    index=alias,
                                )
                            aliases.setdefault(alias, set()).add(index)
                        elif verb == "remove":
                            if index not in aliases.get(alias, set()):
                                raise EsError(
                                    404,
                                    "aliases_not_found_exception",
                                    f"aliases [{alias}] missing",
                                    resource_id=alias,
                                )
                            aliases[alias].discard(index)
                        else:
                            raise EsError(
                                400, "illegal_argument_exception", f"unknown action [{verb}]"
                            )
        self.aliases = {alias: indexes for alias, indexes in aliases.items() if indexes}
        for name in removed_indexes:
            self.delete(name)
        return {"acknowledged": True}

    def get_alias(self, name: str, index_expression: str | None = None) -> dict[str, Any]:
        names = [n for n in self.aliases if fnmatch.fnmatchcase(n, name)]
        if index_expression is not None:
            indexes = self.resolve(index_expression)
            return {
                index: {
                    "aliases": {a: {} for a in self.aliases_of(index) if not name or a in names}
                }
                for index in indexes
            }
        if not names:
            raise EsError(404, "alias_missing", f"alias [{name}] missing")
        result: dict[str, Any] = {}
        for alias in names:
            for index in sorted(self.aliases[alias]):
                result.setdefault(index, {"aliases": {}})["aliases"][alias] = {}
        return result

    def cat_indices(self, pattern: str | None) -> list[dict[str, Any]]:
        names = self.resolve(pattern, allow_none=True) if pattern else sorted(self.indexes)
        return [
            {
                "health": "green",
                "status": "open",
                "index": name,
                "uuid": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:22],
                "pri": "1",
                "rep": "0",
                "docs.count": str(len(self.indexes[name].documents)),
                "docs.deleted": "0",
            }
            for name in names
        ]


def _mapping_problem(mappings: dict[str, Any], source: Any) -> tuple[str, str] | None:
    """Why a strict mapping refuses ``source`` ((type, reason)), or None."""
    if not isinstance(source, dict):
        return "mapper_parsing_exception", "failed to parse, document is empty"
    strict = str(mappings.get("dynamic", "true")).lower() == "strict"
    return _object_problem(mappings.get("properties") or {}, source, "", strict)


def _object_problem(
    properties: dict[str, Any], source: dict[str, Any], path: str, strict: bool
) -> tuple[str, str] | None:
    for name, value in source.items():
        field = properties.get(name)
        full = f"{path}{name}"
        if field is None:
            if strict:
                return (
                    "strict_dynamic_mapping_exception",
                    f"mapping set to strict, dynamic introduction of [{name}] within "
                    f"[{path.rstrip('.') or '_doc'}] is not allowed",
                )
            continue
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if "properties" in field or field.get("type") in ("object", "nested"):
                if not isinstance(item, dict):
                    return (
                        "mapper_parsing_exception",
                        f"object mapping for [{full}] tried to parse field [{name}] as object, "
                        "but found a concrete value",
                    )
                dynamic = field.get("dynamic")
                inner_strict = strict if dynamic is None else str(dynamic).lower() == "strict"
                inner = field.get("properties") or {}
                problem = _object_problem(inner, item, f"{full}.", inner_strict)
                if problem is not None:
                    return problem
            elif field.get("type") in ("long", "integer", "short", "byte"):
                if isinstance(item, bool) or not (
                    isinstance(item, int)
                    or (isinstance(item, str) and re.fullmatch(r"-?\d+", item.strip()))
                    or (isinstance(item, float) and item.is_integer())
                ):
                    return (
                        "mapper_parsing_exception",
                        f"failed to parse field [{full}] of type [{field['type']}] in document",
                    )
            elif field.get("type") == "keyword" and isinstance(item, dict):
                return (
                    "mapper_parsing_exception",
                    f"failed to parse field [{full}] of type [keyword] in document",
                )
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def _reply(self, status: int, body: Any = None, head: bool = False) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [unquote(p) for p in url.path.split("/") if p]
        raw = self._body()
        self.server.requests.append((method, url.path))
        cluster = self.server.cluster
        head = method == "HEAD"
        try:
            with cluster.lock:
                status, body = self._route(cluster, method, parts, params, raw)
        except EsError as exc:
            self._reply(exc.status, None if head else exc.body, head)
            return
        except (ValueError, KeyError) as exc:
            self._reply(
                400, {"error": {"type": "parse_exception", "reason": str(exc)}, "status": 400}, head
            )
            return
        self._reply(status, None if head else body, head)

    @staticmethod
    def _json(raw: bytes) -> Any:
        return json.loads(raw) if raw.strip() else {}

    def _route(
        self, c: Cluster, method: str, parts: list[str], params: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        if not parts:
            return 200, {
                "name": "cdr-test-node",
                "cluster_name": "cdr-dagster-tests",
                "cluster_uuid": "cdrDagsterTests0000000",
                "version": {
                    "number": VERSION,
                    "build_flavor": "default",
                    "build_type": "tar",
                    "lucene_version": "8.11.1",
                    "minimum_wire_compatibility_version": "6.8.0",
                    "minimum_index_compatibility_version": "6.0.0-beta1",
                },
                "tagline": "You Know, for Search",
            }
        first = parts[0]
        if first == "_bulk" and method in ("POST", "PUT"):
            return 200, c.bulk(None, raw)
        if first == "_aliases" and method in ("POST", "PUT"):
            return 200, c.update_aliases(self._json(raw))
        if first == "_alias" and method in ("GET", "HEAD"):
            return 200, c.get_alias(parts[1] if len(parts) > 1 else "*")
        if first == "_cat" and len(parts) >= 2 and parts[1] == "indices":
            rows = c.cat_indices(parts[2] if len(parts) > 2 else None)
            if "h" in params:
                columns = params["h"].split(",")
                rows = [{k: row[k] for k in columns if k in row} for row in rows]
            return 200, rows
        if first == "_search" and len(parts) == 2 and parts[1] == "scroll":
            body = self._json(raw)
            if method == "DELETE":
                ids = body.get("scroll_id") or params.get("scroll_id", "").split(",")
                return 200, c.clear_scroll(ids if isinstance(ids, list) else [ids])
            return 200, c.scroll(body.get("scroll_id") or params["scroll_id"])
        if first == "_count":
            return 200, {"count": len(c.hits("*")), "_shards": {"total": 1, "successful": 1}}
        if first.startswith("_"):
            raise EsError(400, "illegal_argument_exception", f"unsupported endpoint /{first}")
        index = first
        rest = parts[1:]
        if not rest:
            if method == "PUT":
                return 200, c.create(index, self._json(raw))
            if method == "DELETE":
                return 200, c.delete(index)
            if method == "HEAD":
                c.resolve(index)
                return 200, None
            if method == "GET":
                return 200, c.info(index)
        op = rest[0]
        if op == "_bulk" and method in ("POST", "PUT"):
            return 200, c.bulk(index, raw)
        if op == "_refresh":
            c.resolve(index)
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if op == "_forcemerge" and method == "POST":
            c.resolve(index)
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if op == "_count":
            self._json(raw)
            return 200, {
                "count": len(c.hits(index)),
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            }
        if op == "_search":
            return 200, c.search(index, self._json(raw), params)
        if op == "_doc" and len(rest) == 2 and method in ("GET", "HEAD"):
            found = c.get(index, rest[1])
            return (200 if found["found"] else 404), found
        if op == "_mapping" and method == "GET":
            return 200, {name: {"mappings": c.indexes[name].mappings} for name in c.resolve(index)}
        if op == "_alias" and method in ("GET", "HEAD"):
            return 200, c.get_alias(rest[1] if len(rest) > 1 else "*", index)
        raise EsError(400, "illegal_argument_exception", f"unsupported: {method} {self.path}")

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's names
        self._handle("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = Cluster()
        self.requests: list[tuple[str, str]] = []


class EsCompatibleServer:
    """The server running in a thread on a free loopback port."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="es-compatible-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cluster(self) -> Cluster:
        """The server's state (for looking, not for setting up tests: use the client)."""
        return self._server.cluster

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far."""
        return self._server.requests

    def start(self) -> EsCompatibleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


_SHARED: EsCompatibleServer | None = None
_SHARED_LOCK = threading.Lock()


def shared_server() -> EsCompatibleServer:
    """The session's server, started on first use (stopped when the process exits)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = EsCompatibleServer().start()
        return _SHARED


#: The environment variable naming a real cluster to run the same tests against.
REAL_CLUSTER_VARIABLE = "CDR_TEST_ELASTICSEARCH_URL"


@dataclass(frozen=True)
class SearchCluster:
    """Where a test's indexes go: the URL, and the prefix of every name the test uses."""

    url: str
    prefix: str
    real: bool

    def client(self) -> Any:
        """A fresh ``elasticsearch`` client for looking at the cluster."""
        from elasticsearch import Elasticsearch

        return Elasticsearch([self.url], timeout=60)


def aliased(cluster: SearchCluster, alias: str) -> list[str]:
    """The indexes ``alias`` points to, sorted ([] when there is no such alias)."""
    client = cluster.client()
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias))


def indexes(cluster: SearchCluster, alias: str) -> list[str]:
    """The stamped indexes of ``alias`` (``{alias}-*``), sorted, aliased or not."""
    rows = cluster.client().cat.indices(index=f"{alias}-*", format="json", h="index")
    return sorted(row["index"] for row in rows)


def _remove_prefixed(url: str, prefix: str) -> None:
    from elasticsearch import Elasticsearch

    client = Elasticsearch([url], timeout=60)
    try:
        for row in client.cat.indices(index=f"{prefix}*", format="json", h="index"):
            client.indices.delete(index=row["index"], ignore=[404])
    finally:
        client.transport.close()


@pytest.fixture(params=["es-compatible server", "real cluster"])
def search_cluster(request: pytest.FixtureRequest) -> Iterator[SearchCluster]:
    """The ES-compatible server, and a real cluster when CDR_TEST_ELASTICSEARCH_URL is set;
    every index the test makes starts with ``prefix`` and is deleted afterwards."""
    if request.param == "real cluster":
        url = os.environ.get(REAL_CLUSTER_VARIABLE, "").strip()
        if not url:
            pytest.skip(f"{REAL_CLUSTER_VARIABLE} is not set")
        real = True
    else:
        url = shared_server().url
        real = False
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    yield SearchCluster(url.rstrip("/"), prefix, real)
    _remove_prefixed(url, prefix)
