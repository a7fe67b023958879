"""What a sweep did, rule by rule: plain data for the report, the log and the run metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdr_dagster.sweeper.spec import SweepRule

#: How many individual paths a rule outcome lists; counts are always complete.
MAX_LISTED = 200


@dataclass
class RuleOutcome:
    """One rule's run (docs/behaviour-notes.md#sweep-actions counters plus what was done, or would
    be in test mode).

    ``status``: ``done``, ``not triggered``, ``no matches``, ``root missing``, ``abandoned``
    (an archive could not be written; nothing deleted), ``failed`` (a fatal error stopped the
    sweep in this rule), ``custom`` (a Custom rule).
    """

    rule: SweepRule
    status: str = "not triggered"
    reason: str = ""
    matched: int = 0
    qualified: int = 0
    total_bytes: int = 0
    qualified_bytes: int = 0
    oldest: float = 0.0
    youngest: float = 0.0
    biggest: int = 0
    smallest: int = 0
    archive: str | None = None
    archive_members: int = 0
    deleted_files: int = 0
    deleted_dirs: int = 0
    truncated: int = 0
    stale_partials: int = 0
    bytes_freed: int = 0
    kept: int = 0
    actions: list[str] = field(default_factory=list)
    actions_not_listed: int = 0
    messages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def listing(self) -> bool:
        """True while :meth:`act` still lists actions (callers skip formatting otherwise)."""
        return len(self.actions) < MAX_LISTED

    def act(self, text: str) -> None:
        """Record one thing done (or that would be done); only the first few are listed."""
        if len(self.actions) < MAX_LISTED:
            self.actions.append(text)
        else:
            self.actions_not_listed += 1

    def note(self, text: str) -> None:
        """A message for the rule summary (as the legacy ``addMsg``)."""
        self.messages.append(text)

    def problem(self, text: str) -> None:
        """Something went wrong but the sweep goes on (it is mailed)."""
        self.messages.append(text)
        self.problems.append(text)


@dataclass
class CustomOutcome:
    """What a Custom rule (``expireMeetingRecordings``) did."""

    rule: SweepRule
    documents: list[tuple[int, str]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    message: str = ""


@dataclass
class SweepResult:
    """The whole sweep."""

    source: str
    tier: str
    test_mode: bool
    output_dir: str
    outcomes: list[RuleOutcome] = field(default_factory=list)
    custom: list[CustomOutcome] = field(default_factory=list)
    inactive: list[SweepRule] = field(default_factory=list)
    fatal: str | None = None

    @property
    def problems(self) -> list[str]:
        """Every non-fatal problem, prefixed by its rule."""
        found = [f"{o.rule.label}: {p}" for o in self.outcomes for p in o.problems]
        found += [f"{c.rule.label}: {p}" for c in self.custom for p in c.problems + c.skipped]
        return found

    @property
    def bytes_freed(self) -> int:
        """Bytes deleted or cut off (would be, in test mode)."""
        return sum(o.bytes_freed for o in self.outcomes)

    def totals(self) -> dict[str, int]:
        """Counters for the run metadata."""
        return {
            "rules": len(self.outcomes) + len(self.custom),
            "rules_triggered": sum(1 for o in self.outcomes if o.status == "done"),
            "files_matched": sum(o.matched for o in self.outcomes),
            "files_qualified": sum(o.qualified for o in self.outcomes),
            "files_deleted": sum(o.deleted_files for o in self.outcomes),
            "folders_deleted": sum(o.deleted_dirs for o in self.outcomes),
            "files_truncated": sum(o.truncated for o in self.outcomes),
            "archives_written": sum(1 for o in self.outcomes if o.archive),
            "archive_members": sum(o.archive_members for o in self.outcomes),
            "stale_partials_removed": sum(o.stale_partials for o in self.outcomes),
            "bytes_freed": self.bytes_freed,
            "recordings_expired": sum(len(c.done) for c in self.custom),
            "problems": len(self.problems),
        }
