"""The ``evs`` resource against an EVS stand-in on loopback (pytest-httpserver).

The stand-in answers ``GET /api/v1/concept/ncit?include=...&list=...`` as the EVS REST API
does: a JSON array of the concept objects it knows among the listed codes, in the order asked,
each with code, name, terminology, version, synonyms and children. Its errors are shaped like
the API's (Spring Boot error objects) or like a proxy's (HTML pages). What is asserted is what
the client asked for and what it made of the answers: pages, retries, the back-off giving up,
refusals, timeouts, the local mode.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cdr_dagster.cdr.trial_info.concepts import walk_concepts
from cdr_dagster.demo.trial_info import demo_evs_concepts, write_demo_evs
from cdr_dagster.resources.evs import (
    DEFAULT_BASE_URL,
    EvsError,
    EvsRequestError,
    EvsResource,
    EvsUnavailableError,
    LocalEvs,
    build_evs_resource,
)

PATH = "/api/v1/concept/ncit"


def evs_answer(concepts: list[dict[str, Any]]):
    """A handler answering concept lists from ``concepts``, as the API does."""
    by_code = {c["code"]: c for c in concepts}

    def handler(request: Request) -> Response:
        codes = [code for code in request.args.get("list", "").split(",") if code]
        if len(codes) > 1000:
            return error_response(400, "Bad Request", "Maximum number of concepts is 1000")
        found = [by_code[code] for code in codes if code in by_code]
        return Response(json.dumps(found), status=200, content_type="application/json")

    return handler


def error_response(status: int, error: str, message: str) -> Response:
    body = {
        "timestamp": "2024-01-10T06:30:05.123+00:00",
        "status": status,
        "error": error,
        "message": message,
        "path": PATH,
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


def resource(server: HTTPServer, **settings: Any) -> EvsResource:
    return EvsResource(base_url=server.url_for("/api/v1"), **settings)


def asked_codes(server: HTTPServer) -> list[list[str]]:
    return [request.args["list"].split(",") for request, _ in server.log]


def test_the_walk_pages_through_the_api(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="GET").respond_with_handler(
        evs_answer(demo_evs_concepts())
    )
    client = resource(httpserver).client(max_sleep=1)
    walk = walk_concepts(client.concepts, batch_size=4)
    client.close()
    assert set(walk.concepts) == {c["code"] for c in demo_evs_concepts()}
    pages = asked_codes(httpserver)
    assert pages[0] == ["C7057", "C1908"]
    assert len(pages) == walk.requests == client.requests > 5
    assert all(1 <= len(page) <= 4 for page in pages)
    request = httpserver.log[0][0]
    assert request.args["include"] == "synonyms,children"
    assert request.headers["Accept"] == "application/json"
    assert client.failures == 0
    assert walk.missing == ["C999999"]


def test_errors_are_retried_with_back_off(httpserver: HTTPServer) -> None:
    """A proxy's 503 page, an API 500, a 429 and a 200 that is not JSON are retried; the
    next answer is used."""
    for status, body, kind in (
        (503, "<html><body>Service Unavailable</body></html>", "text/html"),
        (500, json.dumps({"status": 500, "error": "Internal Server Error"}), "application/json"),
        (429, json.dumps({"status": 429, "error": "Too Many Requests"}), "application/json"),
        (200, "<html>maintenance</html>", "text/html"),
    ):
        httpserver.expect_ordered_request(PATH).respond_with_data(
            body, status=status, content_type=kind
        )
    httpserver.expect_request(PATH).respond_with_handler(evs_answer(demo_evs_concepts()))
    logged: list[str] = []
    client = resource(httpserver).client(max_sleep=1, log=logged.append)
    concepts = client.concepts(["C7057", "C1908"])
    assert [c["code"] for c in concepts] == ["C7057", "C1908"]
    assert client.requests == 5 and client.failures == 4
    assert "HTTP 503, not JSON" in logged[0] and "Service Unavailable" in logged[0]
    assert "HTTP 500 Internal Server Error" in logged[1]
    assert "HTTP 429 Too Many Requests" in logged[2]
    assert "HTTP 200, not JSON" in logged[3]
    assert all(PATH in message for message in logged)


def test_a_refusal_fails_at_once(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_response(
        error_response(400, "Bad Request", "Invalid code list: C7057;DROP")
    )
    client = resource(httpserver).client(max_sleep=1)
    with pytest.raises(
        EvsRequestError,
        match=r"EVS refused the request for 1 codes \(C7057;DROP\): HTTP 400 Bad Request: "
        r"Invalid code list",
    ):
        client.concepts(["C7057;DROP"])
    assert client.requests == 1
    request = httpserver.log[0][0]
    assert request.args["list"] == "C7057;DROP"  # quoted on the way, intact on arrival


def test_an_answer_that_is_not_a_list_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json({"code": "C7057"})
    with pytest.raises(EvsRequestError, match=r"instead of a list of concepts"):
        resource(httpserver).client(max_sleep=1).concepts(["C7057"])


def test_empty_results(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json([])
    client = resource(httpserver).client(max_sleep=1)
    assert client.concepts(["C7057", "C1908"]) == []
    assert client.concepts([]) == [] and client.requests == 1  # nothing asked, no request


def test_evs_down_gives_up_when_the_back_off_exceeds_sleep() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logged: list[str] = []
    client = EvsResource(base_url=f"http://127.0.0.1:{port}/api/v1").client(
        max_sleep=0.05, log=logged.append
    )
    with pytest.raises(EvsUnavailableError, match=r"EVS has died: .* after 3 failed attempts"):
        client.concepts(["C7057", "C1908"])
    # waits of 0.01, 0.02 and 0.04 s; the next (0.08) would exceed 0.05
    assert client.requests == 3
    assert logged[-1] == "EVS has died -- bailing"
    assert "ConnectionError" in logged[0]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_timeouts_are_retried(silent_port: int) -> None:
    client = EvsResource(base_url=f"http://127.0.0.1:{silent_port}/api/v1", timeout=0.1).client(
        max_sleep=0.03
    )
    with pytest.raises(EvsUnavailableError, match=r"after 2 failed attempts.*ReadTimeout"):
        client.concepts(["C7057"])


def test_the_local_mode(tmp_path: Path) -> None:
    path = write_demo_evs(tmp_path / "evs" / "ncit.json")
    evs = build_evs_resource({"CDR_EVS_LOCAL_FILE": str(path), "CDR_EVS_URL": "http://x"})
    assert evs.mode == "local"
    client = evs.client(max_sleep=1)
    assert isinstance(client, LocalEvs)
    assert [c["code"] for c in client.concepts(["c9306", "C404", "C7057"])] == ["C9306", "C7057"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"code": "C1"}')
    with pytest.raises(EvsError, match="is not an array of concept objects"):
        EvsResource(local_file=str(bad)).client(max_sleep=1)


def test_configuration_from_the_environment() -> None:
    assert build_evs_resource({}).base_url == DEFAULT_BASE_URL
    assert DEFAULT_BASE_URL == "https://api-evsrest.nci.nih.gov/api/v1"  # the legacy API
    evs = build_evs_resource({"CDR_EVS_URL": "https://evs.example.gov/api/v1"})
    assert evs.mode == "api" and evs.base_url == "https://evs.example.gov/api/v1"
    client = evs.client(max_sleep=1)
    assert client.url(["C7057", "C1908"]) == (
        "https://evs.example.gov/api/v1/concept/ncit?include=synonyms,children&list=C7057,C1908"
    )
    with pytest.raises(EvsError, match="is not an http"):
        EvsResource(base_url="ftp://evs").client(max_sleep=1)
    with pytest.raises(EvsRequestError, match="1001 codes in one request"):
        client.concepts([f"C{n}" for n in range(1001)])
