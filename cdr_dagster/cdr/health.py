"""Health of the production CDR server (legacy ``health_check.Monitor``,
docs/behaviour-notes.md#production-health).

- :func:`check_cdrping` asks the production ``cdrping.py`` page once. ``CDR OK`` is health;
  anything else it answers (``CDR CORRUPT``, ``CDR UNAVAILABLE``, an error page), an HTTP error,
  a timeout or a connection failure is a *problem*, described by a short stable text so that
  repeated failures are counted under one line (the legacy used ``str(exception)``, which for
  our HTTP client holds object addresses that change on every attempt).
- :class:`HealthState` is the legacy monitor's memory (unreported problems with their counts,
  in first-seen order, and the time of the last notification) plus the notification that was
  requested and has not yet been seen to succeed. It round-trips through JSON with UTC ISO
  times, so it can live in a sensor cursor and survive a daemon restart (the legacy lost it).

The notification rule is the legacy one: when problems are waiting and no notification was sent
yet, or ``delay`` has passed since the last one, they are mailed (``{problem} ({count})`` per
line, subject ``*** CDR PRODUCTION SERVER FAILURES ***``) and forgotten. A mail that fails is
not forgotten: its problems go back to the waiting ones and the last notification time is put
back, so the next check tries again. No Dagster here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LEGACY_PING_URL = "https://cdr.cancer.gov/cgi-bin/cdr/cdrping.py"
HEALTHY = "CDR OK"
SUBJECT = "*** CDR PRODUCTION SERVER FAILURES ***"
DEFAULT_DELAY_MINUTES = 60
#: Longest problem text kept (an HTML error page would otherwise fill the cursor).
MAX_PROBLEM_CHARS = 300
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _short(text: str) -> str:
    text = _ADDRESS.sub("", " ".join(text.split()))
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 3] + "..."


def local_page(url: str) -> Path | None:
    """The file a ``file://`` address names, else None.

    The health and disk-space checks read such a file as the page, a stand-in for a server
    on a machine without the CDR servers (the demo seeds them).
    """
    if not url.lower().startswith("file:"):
        return None
    return Path(unquote(urlsplit(url).path))


def describe_error(exc: BaseException, url: str, timeout: float) -> str:
    """A short text for a failed request, the same for every repetition of the same failure."""
    import requests

    if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
        return f"cannot read {url}: {exc.strerror or exc.__class__.__name__}"
    if isinstance(exc, requests.Timeout):
        return f"no answer from {url} within {timeout:g} seconds"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        response = exc.response
        return f"HTTP error {response.status_code} {response.reason or ''}".strip() + f" from {url}"
    if isinstance(exc, requests.ConnectionError):
        cause: BaseException = exc
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
        reason = _short(str(cause)) or cause.__class__.__name__
        return f"cannot connect to {url}: {reason}"
    return _short(f"{exc.__class__.__name__}: {exc}")


def check_cdrping(url: str = LEGACY_PING_URL, timeout: float = 30.0) -> str | None:
    """Ask ``url`` once; None when it answers exactly ``CDR OK``, else the problem text.

    The body is decoded as UTF-8 and trimmed, as the legacy monitor did. An HTTP error status is
    a problem even when the page says ``CDR OK`` (the legacy ``urlopen`` raised on it too).
    A ``file://`` address is read as the page (:func:`local_page`).
    """
    import requests

    try:
        path = local_page(url)
        if path is not None:
            status = path.read_bytes().decode("utf-8").strip()
        else:
            response = requests.get(url, timeout=timeout)
            response.raise_for_status()
            status = response.content.decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:  # requests' errors are OSErrors too
        return describe_error(exc, url, timeout)
    if status == HEALTHY:
        return None
    return _short(status) if status else f"empty answer from {url}"


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, list):
        raise ValueError("failures must be a list of [problem, count] pairs")
    counts: dict[str, int] = {}
    for item in value:
        problem, count = item
        counts[str(problem)] = counts.get(str(problem), 0) + int(count)
    return counts


def merge_counts(first: dict[str, int], then: dict[str, int]) -> dict[str, int]:
    """``first`` followed by ``then``, counts of the same problem added (first-seen order)."""
    merged = dict(first)
    for problem, count in then.items():
        merged[problem] = merged.get(problem, 0) + count
    return merged


def format_problems(failures: dict[str, int]) -> str:
    """The notification body: one ``{problem} ({count})`` line per problem, in order."""
    return "\n".join(f"{problem} ({count})" for problem, count in failures.items())


@dataclass
class PendingNotification:
    """A notification requested but not yet seen to succeed."""

    run_key: str
    failures: dict[str, int]
    requested: datetime
    previous_notification: datetime | None


@dataclass
class HealthState:
    """What the monitor remembers between checks (see the module docstring)."""

    failures: dict[str, int] = field(default_factory=dict)
    last_notification: datetime | None = None
    pending: PendingNotification | None = None
    last_check: datetime | None = None
    last_problem: str | None = None
    checks: int = 0

    def record(self, problem: str | None, now: datetime) -> None:
        """Note one check's outcome: count ``problem``, or nothing for a healthy answer."""
        self.last_check = now
        self.last_problem = problem
        self.checks += 1
        if problem is not None:
            self.failures[problem] = self.failures.get(problem, 0) + 1

    def notification_due(self, now: datetime, delay: timedelta) -> bool:
        """Problems are waiting, none is being sent, and the delay since the last has passed."""
        if not self.failures or self.pending is not None:
            return False
        return self.last_notification is None or now >= self.last_notification + delay

    def start_notification(self, run_key: str, now: datetime) -> dict[str, int]:
        """Hand the waiting problems to a notification; returns them."""
        sent = self.failures
        self.pending = PendingNotification(run_key, sent, now, self.last_notification)
        self.failures = {}
        self.last_notification = now
        return sent

    def notification_failed(self) -> None:
        """The pending notification was not sent: its problems wait again, in front."""
        if self.pending is None:
            return
        self.failures = merge_counts(self.pending.failures, self.failures)
        self.last_notification = self.pending.previous_notification
        self.pending = None

    def notification_sent(self) -> None:
        """The pending notification was sent."""
        self.pending = None

    def to_json(self) -> str:
        """The state as a JSON cursor (UTC ISO times; problems as ordered pairs)."""
        pending = None
        if self.pending is not None:
            pending = {
                "run_key": self.pending.run_key,
                "failures": [[p, c] for p, c in self.pending.failures.items()],
                "requested": _iso(self.pending.requested),
                "previous_notification": _iso(self.pending.previous_notification),
            }
        return json.dumps(
            {
                "version": 1,
                "failures": [[p, c] for p, c in self.failures.items()],
                "last_notification": _iso(self.last_notification),
                "pending": pending,
                "last_check": _iso(self.last_check),
                "last_problem": self.last_problem,
                "checks": self.checks,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> HealthState:
        """The state stored by :meth:`to_json`; an empty cursor is a fresh state.

        Raises ``ValueError`` for a cursor that is not such a state.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != 1:
                raise ValueError("not a version 1 health state")
            pending = None
            if data.get("pending"):
                item = data["pending"]
                pending = PendingNotification(
                    run_key=str(item["run_key"]),
                    failures=_counts(item["failures"]),
                    requested=_parse_time(item["requested"]) or utc_now(),
                    previous_notification=_parse_time(item.get("previous_notification")),
                )
            return cls(
                failures=_counts(data.get("failures") or []),
                last_notification=_parse_time(data.get("last_notification")),
                pending=pending,
                last_check=_parse_time(data.get("last_check")),
                last_problem=data.get("last_problem"),
                checks=int(data.get("checks") or 0),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"health cursor {text[:200]!r} cannot be read: {exc}") from None
