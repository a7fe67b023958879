"""The NCI EVS REST API as a Dagster resource: NCI Thesaurus concepts by code, or a local copy.

The trial listing load asks for concepts by code, a batch at a time:
``GET {base_url}/concept/ncit?include=synonyms,children&list=C7057,C1908`` answers a JSON array
of concept objects (codes it does not know are left out; at most 1,000 codes per call). The
legacy loader asked for ``include=full``; the synonyms and children are all it read, and the
API documents that this gives them with far smaller pages (docs/behaviour-notes.md#evs-walk).

Retries (docs/behaviour-notes.md#evs-walk): before each request the client waits ``min_sleep``
seconds,
doubled after every failed attempt - no answer, a timeout, a body that is not JSON, or an
HTTP 5xx/429 answer (the legacy loader counted only the first three) - and gives up with
:class:`EvsUnavailableError` ("EVS has died ...") once the wait would exceed ``max_sleep``
(the legacy ``sleep`` option, 500 seconds by default). A 4xx answer with a JSON body is the API
refusing the request (a bad code list, too many codes): :class:`EvsRequestError` at once,
naming the status and the API's message.

Two modes, chosen by configuration (docs/architecture.md#local-modes):

- the API at ``base_url`` (``CDR_EVS_URL``; default the public EVS REST API, as the legacy
  loader used), no login;
- local: with ``local_file`` set (``CDR_EVS_LOCAL_FILE``), a JSON file holding an array of
  concept objects shaped as the API returns them answers the same requests (the demo, and
  replays of a recorded walk). No network at all.

``requests`` is imported when a run first calls EVS, never when the code location loads.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
from pydantic import Field

DEFAULT_BASE_URL = "https://api-evsrest.nci.nih.gov/api/v1"
DEFAULT_INCLUDE = "synonyms,children"
#: The API refuses larger lists with HTTP 400.
MAX_CODES = 1000
_BODY_SHOWN = 300

Log = Callable[[str], None]


class EvsError(RuntimeError):
    """EVS did not give the concepts asked for; the message says why."""


class EvsUnavailableError(EvsError):
    """EVS kept failing until the back-off exceeded its maximum."""


class EvsRequestError(EvsError):
    """EVS refused the request (an HTTP 4xx answer with a JSON body)."""


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_SHOWN else text[:_BODY_SHOWN] + "..."


def _api_message(body: Any) -> str:
    """The message of an EVS (Spring Boot) error body."""
    if isinstance(body, Mapping):
        parts = [str(body[key]) for key in ("error", "message") if body.get(key)]
        if parts:
            return ": ".join(parts)
    return _shown(json.dumps(body))


def _quoted(values: Sequence[str]) -> str:
    return ",".join(quote(value, safe="") for value in values)


class EvsClient:
    """Concepts by code from the API, with the retries of the module docstring."""

    def __init__(
        self,
        base_url: str,
        terminology: str,
        include: str,
        timeout: float,
        min_sleep: float,
        max_sleep: float,
        log: Log = lambda message: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        self.endpoint = f"{base_url.rstrip('/')}/concept/{quote(terminology, safe='')}"
        self.include = include
        self.timeout = timeout
        self.min_sleep = min_sleep
        self.max_sleep = max(max_sleep, min_sleep)
        self.log = log
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "cdr-dagster trial_listing_info"
        self.session.headers["Accept"] = "application/json"
        self.requests = 0
        self.failures = 0

    @property
    def target(self) -> str:
        """Where the concepts come from, for logs."""
        return self.endpoint

    def url(self, codes: Sequence[str]) -> str:
        """The request for ``codes``."""
        include = ",".join(quote(part, safe="") for part in self.include.split(","))
        return f"{self.endpoint}?include={include}&list={_quoted(codes)}"

    def concepts(self, codes: Sequence[str]) -> list[Any]:
        """The concept objects EVS has for ``codes`` (at most 1,000)."""
        import requests

        if not codes:
            return []
        if len(codes) > MAX_CODES:
            raise EvsRequestError(f"{len(codes)} codes in one request; EVS takes {MAX_CODES}")
        url = self.url(codes)
        delay = self.min_sleep
        while True:
            self.sleep(delay)
            self.requests += 1
            try:
                response = self.session.get(url, timeout=self.timeout)
            except requests.RequestException as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            else:
                problem, body = self._read(response, codes)
                if problem is None:
                    return body
            self.failures += 1
            self.log(f"EVS request for {len(codes)} codes failed ({problem}); {url}")
            delay *= 2
            if delay > self.max_sleep:
                self.log("EVS has died -- bailing")
                raise EvsUnavailableError(
                    f"EVS has died: no answer from {self.endpoint} after {self.failures} failed "
                    f"attempts (back-off over {self.max_sleep:g} s); last: {problem}"
                )

    def _read(self, response: Any, codes: Sequence[str]) -> tuple[str | None, Any]:
        """(None, the concepts) for a usable answer, (why, None) for one to retry; raises for
        a refusal."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            return f"HTTP {status}, not JSON: {_shown(response.text)!r}", None
        if status >= 500 or status == 429:
            return f"HTTP {status} {_api_message(body)}", None
        if status >= 400:
            raise EvsRequestError(
                f"EVS refused the request for {len(codes)} codes ({', '.join(codes[:5])}"
                f"{', ...' if len(codes) > 5 else ''}): HTTP {status} {_api_message(body)}"
            )
        if not isinstance(body, list):
            raise EvsRequestError(
                f"EVS answered HTTP {status} with {_shown(json.dumps(body))} instead of a list "
                "of concepts"
            )
        return None, body

    def close(self) -> None:
        """Release the connections."""
        self.session.close()


class LocalEvs:
    """Concepts by code from a JSON file holding an array of EVS concept objects."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            concepts = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EvsError(f"cannot read the local EVS file {self.path}: {exc}") from exc
        if not isinstance(concepts, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("code"), str) for c in concepts
        ):
            raise EvsError(f"the local EVS file {self.path} is not an array of concept objects")
        self._by_code = {c["code"].upper(): c for c in concepts}
        self.requests = 0
        self.failures = 0

    @property
    def target(self) -> str:
        """Where the concepts come from, for logs."""
        return f"local EVS file {self.path}"

    def concepts(self, codes: Sequence[str]) -> list[Any]:
        """The concept objects of the file for ``codes``, in the order asked (unknown codes
        are left out, as the API does)."""
        self.requests += 1
        if len(codes) > MAX_CODES:
            raise EvsRequestError(f"{len(codes)} codes in one request; EVS takes {MAX_CODES}")
        return [self._by_code[code.upper()] for code in codes if code.upper() in self._by_code]

    def close(self) -> None:
        """Nothing to release."""


class EvsResource(dg.ConfigurableResource):
    """The EVS REST API (NCI Thesaurus concepts), or a local file of concepts."""

    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="EVS REST API base, up to /api/v1 (CDR_EVS_URL; the public API by default).",
    )
    terminology: str = Field(default="ncit", description="EVS terminology of the concepts.")
    include: str = Field(
        default=DEFAULT_INCLUDE,
        description="What each concept carries (the include parameter); the load reads "
        "synonyms and children.",
    )
    timeout: float = Field(
        default=30.0, gt=0, description="Seconds one request may take before it is retried."
    )
    min_sleep: float = Field(
        default=0.01,
        gt=0,
        description="Seconds waited before every request; doubled after each failed attempt.",
    )
    local_file: str | None = Field(
        default=None,
        description="Local mode (CDR_EVS_LOCAL_FILE): a JSON array of EVS concept objects "
        "answers instead of the API.",
    )

    @property
    def mode(self) -> str:
        """``"local"`` with a local file, else ``"api"``."""
        return "local" if self.local_file else "api"

    def client(self, max_sleep: float, log: Log = lambda message: None) -> EvsClient | LocalEvs:
        """A client for one run; ``max_sleep`` is the longest back-off before giving up."""
        if self.local_file:
            return LocalEvs(self.local_file)
        if not re.match(r"https?://", self.base_url):
            raise EvsError(f"EVS base URL {self.base_url!r} is not an http(s) URL")
        return EvsClient(
            self.base_url,
            self.terminology,
            self.include,
            self.timeout,
            self.min_sleep,
            max_sleep,
            log=log,
        )


def build_evs_resource(environ: Mapping[str, str] | None = None) -> EvsResource:
    """The ``evs`` resource as the environment configures it: ``CDR_EVS_LOCAL_FILE`` (local
    mode), else ``CDR_EVS_URL`` (default: the public EVS REST API)."""
    env = os.environ if environ is None else environ
    local = env.get("CDR_EVS_LOCAL_FILE", "").strip()
    if local:
        return EvsResource(local_file=local)
    url = env.get("CDR_EVS_URL", "").strip()
    return EvsResource(base_url=url) if url else EvsResource()
