"""ClinicalTrials.gov API v2 as a Dagster resource: the ``/studies`` search, page by page.

``GET {base_url}/studies?{params}`` answers ``{"studies": [...], "nextPageToken": "..."}``; the
next page is the same request with ``pageToken`` set to that token, until an answer has none.

- Remote (production): ``base_url`` (``CDR_CTGOV_API_URL``, default the public
  ``https://clinicaltrials.gov/api/v2``). Every request has a timeout; connection errors,
  timeouts, HTTP 429 and 5xx answers are retried with exponential backoff (``backoff_seconds``
  doubled per attempt, a ``Retry-After`` in seconds honoured, both capped by
  ``max_backoff_seconds``) up to ``max_attempts``; any other HTTP error, or an answer that is
  not a studies page, fails at once. Failures raise :class:`CtgovApiError` naming the URL.
- Local mode (the demo): ``local_dir`` (``CDR_CTGOV_LOCAL_DIR``) holds canned answers:
  ``studies.json`` is the first page and a page whose ``nextPageToken`` is ``T`` is followed
  by ``studies-T.json``. The query parameters are not evaluated there: the pages are replayed
  as they are, so whatever they hold is the search result.

``requests`` is imported when a run first asks for a page, never when the code location loads.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
from pydantic import Field

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
STUDIES = "studies"
FIRST_PAGE_FILE = "studies.json"
#: Answers worth another attempt: rate limiting and server-side trouble.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


class CtgovApiError(RuntimeError):
    """ClinicalTrials.gov did not give a usable studies page; the message says where and why."""


class _Log(Protocol):
    def info(self, msg: str) -> Any: ...

    def warning(self, msg: str) -> Any: ...


@dataclass(frozen=True)
class StudiesPage:
    """One answer of the studies search."""

    number: int
    source: str
    studies: list[dict[str, Any]] = field(default_factory=list)
    next_page_token: str | None = None
    total_count: int | None = None


def _page(number: int, source: str, body: Any) -> StudiesPage:
    if not isinstance(body, dict) or not isinstance(body.get("studies"), list):
        raise CtgovApiError(f"page {number} from {source} is not a studies page (no studies list)")
    token = body.get("nextPageToken")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        token = None
    total = body.get("totalCount")
    return StudiesPage(
        number=number,
        source=source,
        studies=[s for s in body["studies"] if isinstance(s, dict)],
        next_page_token=token,
        total_count=total if isinstance(total, int) else None,
    )


class CtgovApiResource(dg.ConfigurableResource):
    """The ClinicalTrials.gov API v2 (or a folder of canned answers in local mode)."""

    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Root of the API v2 (CDR_CTGOV_API_URL); /studies is below it.",
    )
    local_dir: str | None = Field(
        default=None,
        description="Local mode (CDR_CTGOV_LOCAL_DIR): replay studies.json and "
        "studies-<nextPageToken>.json from this folder instead of asking the API.",
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Seconds to connect, and to wait for each answer."
    )
    max_attempts: int = Field(
        default=5, ge=1, description="Tries per page before a retryable error fails the run."
    )
    backoff_seconds: float = Field(
        default=2.0, ge=0, description="Wait before the 2nd try; doubled for each later one."
    )
    max_backoff_seconds: float = Field(
        default=60.0, ge=0, description="Longest wait between two tries (Retry-After included)."
    )
    max_pages: int = Field(
        default=1000, ge=1, description="A search longer than this many pages is an error."
    )
    user_agent: str = Field(
        default="cdr-dagster (NCI PDQ CDR recent trials)",
        description="User-Agent header sent with every request.",
    )

    @property
    def where(self) -> str:
        """The API root or the local folder, for logs and metadata."""
        return self.local_dir or self.base_url

    def studies_pages(
        self, params: Mapping[str, str], log: _Log | None = None
    ) -> Iterator[StudiesPage]:
        """Every page of ``GET /studies?params``, following ``nextPageToken`` to the end.

        A token seen twice or more than ``max_pages`` pages raise :class:`CtgovApiError`
        rather than loop for ever.
        """
        fetch = self._local_page if self.local_dir else self._remote_fetcher(log)
        if self.local_dir and log is not None:
            log.info(f"local mode: replaying the pages in {self.local_dir}; query not evaluated")
        seen: set[str] = set()
        token: str | None = None
        number = 0
        while True:
            number += 1
            if number > self.max_pages:
                raise CtgovApiError(f"{self.where}: the search goes past {self.max_pages} pages")
            page = fetch(number, params, token)
            yield page
            token = page.next_page_token
            if token is None:
                return
            if token in seen:
                raise CtgovApiError(f"{page.source} repeated the page token {token!r}")
            seen.add(token)

    def _local_page(self, number: int, params: Mapping[str, str], token: str | None) -> StudiesPage:
        folder = Path(self.local_dir or "")
        if token is not None and not _TOKEN.match(token):
            raise CtgovApiError(f"page token {token!r} cannot name a file in {folder}")
        path = folder / (FIRST_PAGE_FILE if token is None else f"{STUDIES}-{token}.json")
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CtgovApiError(f"local mode: {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise CtgovApiError(f"local mode: cannot read {path}: {exc}") from None
        return _page(number, str(path), body)

    def _remote_fetcher(self, log: _Log | None):  # noqa: ANN202 - closure over one session
        import requests

        session = requests.Session()
        session.headers.update({"Accept": "application/json", "User-Agent": self.user_agent})
        url = f"{self.base_url.rstrip('/')}/{STUDIES}"

        def fetch(number: int, params: Mapping[str, str], token: str | None) -> StudiesPage:
            query = dict(params) if token is None else {**params, "pageToken": token}
            response = self._get_with_retries(session, url, query, number, log)
            try:
                body = response.json()
            except ValueError:
                raise CtgovApiError(
                    f"page {number} from {response.url} is not JSON: {response.text[:200]!r}"
                ) from None
            return _page(number, response.url, body)

        return fetch

    def _get_with_retries(
        self, session: Any, url: str, query: dict[str, str], number: int, log: _Log | None
    ) -> Any:
        import requests

        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = session.get(url, params=query, timeout=self.timeout_seconds)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.ok:
                    return response
                problem = f"HTTP {response.status_code} {response.reason}: {response.text[:200]!r}"
                if response.status_code not in RETRIED_STATUSES:
                    raise CtgovApiError(f"page {number} from {response.url}: {problem}")
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt == self.max_attempts:
                raise CtgovApiError(
                    f"page {number} from {url}: {problem} (gave up after {attempt} attempts)"
                )
            wait = self.backoff_seconds * 2 ** (attempt - 1)
            if retry_after is not None:
                wait = max(wait, retry_after)
            wait = min(wait, self.max_backoff_seconds)
            if log is not None:
                log.warning(
                    f"page {number}: {problem}; try {attempt + 1} of {self.max_attempts} "
                    f"in {wait:g} s"
                )
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` given in seconds (an HTTP date is ignored: the backoff applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def build_ctgov_resource(environ: Mapping[str, str] | None = None) -> CtgovApiResource:
    """The ``ctgov`` resource as the environment configures it (module docstring)."""
    env = os.environ if environ is None else environ
    local_dir = env.get("CDR_CTGOV_LOCAL_DIR", "").strip()
    if local_dir:
        return CtgovApiResource(local_dir=local_dir)
    base_url = env.get("CDR_CTGOV_API_URL", "").strip()
    return CtgovApiResource(base_url=base_url or DEFAULT_BASE_URL)
