"""A fault-injecting HTTP proxy on loopback, in front of the ES-compatible server (or any
cluster), for testing what a load does when a request fails.

Every request is forwarded to the upstream as it came; a :class:`Fault` picks requests by
method and path (a regular expression matched against the whole path) and, from the
``nth`` matching one for ``times`` requests (0: every one from then on), does one of:

- ``"504"``: answers 504 Gateway Timeout WITHOUT forwarding (the cluster never saw it);
- ``"504 after"``: forwards, lets the cluster apply it, then answers 504 instead of its reply;
- ``"drop"``: closes the connection without forwarding;
- ``"drop after"``: forwards, lets the cluster apply it, then closes the connection without
  a reply.

``method`` ``"*"`` matches any method. A fault with ``after`` set is armed only once that
other fault has hit (a failure that follows another). ``fault.hits`` counts the requests a
fault hit, so a test can tell a fault that never fired from one that did.
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ACTIONS = ("504", "504 after", "drop", "drop after")


@dataclass
class Fault:
    """Which requests fail, and how (module docstring)."""

    method: str
    path: str
    action: str
    nth: int = 1
    times: int = 1
    after: Fault | None = None
    seen: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"fault action {self.action!r} is not one of {ACTIONS}")

    def matches(self, method: str, path: str) -> bool:
        """Count a matching request; True when this one is to fail."""
        if self.method not in ("*", method) or not re.fullmatch(self.path, path):
            return False
        if self.after is not None and not self.after.hits:
            return False
        self.seen += 1
        last = None if self.times == 0 else self.nth + self.times - 1
        if self.seen >= self.nth and (last is None or self.seen <= last):
            self.hits += 1
            return True
        return False

    def describe(self) -> str:
        """``POST /_aliases: drop after`` - for test ids and messages."""
        return f"{self.method} {self.path}: {self.action} (#{self.nth}, x{self.times or 'all'})"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def _proxy(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        fault = self.server.fault_for(self.command, path)
        action = fault.action if fault else None
        if action == "drop":
            self.close_connection = True
            return
        if action == "504":
            self._answer(504, b'{"message":"gateway timeout"}', {})
            return
        status, data, headers = self.server.forward(self.command, self.path, body, self.headers)
        if action == "drop after":
            self.close_connection = True
            return
        if action == "504 after":
            self._answer(504, b'{"message":"gateway timeout"}', {})
            return
        self._answer(status, data, headers)

    def _answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "content-type" not in {name.lower() for name in headers}:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _proxy  # noqa: N815 - the base's names


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.matches(method, path):
                    return fault
        return None

    def forward(
        self, method: str, target: str, body: bytes, headers: Any
    ) -> tuple[int, bytes, dict[str, str]]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, target, body=body or None, headers=sent)
            response = connection.getresponse()
            data = response.read()
            return response.status, data, dict(response.getheaders())
        finally:
            connection.close()


class FaultProxy:
    """The proxy running in a thread; use as a context manager."""

    def __init__(self, upstream: str, faults: list[Fault] | None = None) -> None:
        self._server = _ProxyServer(upstream)
        self._server.faults = list(faults or [])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        """Where clients connect."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def faults(self) -> list[Fault]:
        """The faults in force (a test may add one between steps)."""
        return self._server.faults

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request the proxy received."""
        return self._server.requests

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
