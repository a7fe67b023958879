"""One sweep: every active rule in document order (docs/behaviour-notes.md#file-sweeper), as a
:class:`SweepResult`.

The caller has already loaded and validated the configuration and taken the lock. This module
resolves the output folder, then for each rule active on the tier: a Custom rule goes to its
handler (the caller supplies ``expireMeetingRecordings``, which needs the CDR database); a
file rule is scanned (``scan``), and when it triggers, its archive name is chosen and the
action carried out (``actions``). A fatal error (docs/behaviour-notes.md#sweep-failures) or any
unexpected exception
stops the remaining rules, as in the legacy, and is returned in ``SweepResult.fatal``.
"""

from __future__ import annotations

import logging
import os
import posixpath
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from cdr_dagster.sweeper import actions
from cdr_dagster.sweeper.actions import Hooks, SweepFatalError
from cdr_dagster.sweeper.archive import archive_base_name, stale_partials, unique_archive_name
from cdr_dagster.sweeper.remove import RootGuard
from cdr_dagster.sweeper.results import CustomOutcome, RuleOutcome, SweepResult
from cdr_dagster.sweeper.scan import RootMissingError, scan_rule
from cdr_dagster.sweeper.spec import SweepConfig, SweepRule, normalize_path

CustomHandler = Callable[[SweepRule, bool], CustomOutcome]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOptions:
    """How to sweep: tier, test mode, output folder, the clock and the time zone."""

    tier: str
    test_mode: bool
    output_dir: str
    now: float
    tz: tzinfo
    hooks: Hooks = field(default_factory=Hooks)
    #: remove relative to open folders (None: where the platform can; False: real-path checks)
    dir_fd: bool | None = None


def resolve_output_dir(output_dir: str | None, basedir: str) -> str:
    """``OutputDir`` as an absolute path: relative ones (and the default) below ``basedir``."""
    if not output_dir:
        return posixpath.normpath(normalize_path(str(basedir)))
    path = normalize_path(output_dir)
    if not (path.startswith("/") or os.path.isabs(path)):
        path = posixpath.join(normalize_path(str(basedir)), path)
    return posixpath.normpath(path)


def prepare_output_dir(path: str, test_mode: bool) -> None:
    """Create the output folder if needed (not in test mode); fatal when it cannot be one."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise SweepFatalError(f'Command line output name "{path}" is not a directory')
        return
    if test_mode:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise SweepFatalError(
            f'Directory "{path}" does not exist, can\'t create it: {exc}'
        ) from exc


def _archive_name(
    rule: SweepRule, outcome: RuleOutcome, options: SweepOptions, taken: set[str]
) -> str:
    base = archive_base_name(
        rule,
        options.output_dir,
        oldest=outcome.oldest,
        youngest=outcome.youngest,
        now=options.now,
        tz=options.tz,
    )
    name = unique_archive_name(base, taken)
    if name is None:
        raise SweepFatalError(
            f"Too many output files with base name {base!r}, in SweepSpec {rule.name!r}"
        )
    taken.add(name)
    folder = os.path.dirname(name)
    if os.path.exists(folder):
        if not os.path.isdir(folder):
            raise SweepFatalError(f'Config output name "{folder}" is not a directory')
    elif not options.test_mode:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise SweepFatalError(f'Error creating directory "{folder}": {exc}') from exc
    return name


def remove_stale_partials(rule: SweepRule, options: SweepOptions, outcome: RuleOutcome) -> None:
    """Remove the temporary archives a killed sweep left for this rule (test mode: report)."""
    for path in stale_partials(rule, options.output_dir):
        try:
            size = os.lstat(path).st_size
        except OSError:
            continue
        if options.test_mode:
            outcome.act(f"would remove stale partial archive {path} ({size} bytes)")
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                outcome.problem(f"Unable to remove stale partial archive {path}: {exc}")
                continue
            outcome.act(f"removed stale partial archive {path} ({size} bytes)")
        outcome.note(f"stale partial archive {path} left by an interrupted sweep")
        outcome.stale_partials += 1
        outcome.bytes_freed += size


def sweep_rule(
    rule: SweepRule, options: SweepOptions, outcome: RuleOutcome, taken: set[str]
) -> None:
    """Scan one file rule and, when it triggers, carry out its action.

    A rule that writes archives first removes its stale partial archives (a sweep killed
    while writing one leaves it behind).
    """
    if rule.writes_archive:
        remove_stale_partials(rule, options, outcome)
    try:
        scan = scan_rule(rule)
    except RootMissingError as exc:
        outcome.status = "root missing"
        outcome.problem(f"Unable to cd to root: {exc}")
        outcome.problem(f'"{rule.name}" not processed')
        return
    outcome.matched = scan.matched
    outcome.qualified = len(scan.qualified)
    outcome.total_bytes = scan.total_bytes
    outcome.qualified_bytes = scan.qualified_bytes
    outcome.oldest, outcome.youngest = scan.oldest, scan.youngest
    outcome.biggest, outcome.smallest = scan.biggest, scan.smallest
    for refused in scan.refused:
        outcome.problem(refused)
    if not scan.triggered:
        outcome.status = "no matches" if scan.matched == 0 else "not triggered"
        outcome.reason = scan.reason
        return
    outcome.status = "done"
    guard = RootGuard(rule.root, options.dir_fd)
    test_mode, hooks = options.test_mode, options.hooks
    try:
        name = _archive_name(rule, outcome, options, taken) if rule.writes_archive else None
        if rule.action == "Archive":
            assert name is not None
            actions.archive(scan.qualified, outcome, name, test_mode, hooks, guard)
        elif rule.action.startswith("Truncate"):
            assert rule.smallest
            actions.truncate(scan.qualified, outcome, rule.smallest, name, test_mode, hooks, guard)
        else:
            actions.delete(scan.qualified, outcome, test_mode, hooks, guard)
    finally:
        scan.qualified.close()


def run_sweep(
    config: SweepConfig,
    options: SweepOptions,
    *,
    custom: Mapping[str, CustomHandler] | None = None,
    log: Any = None,
    summary: Callable[[RuleOutcome], str] | None = None,
) -> SweepResult:
    """Carry out every rule of ``config`` active on ``options.tier``; never raises for a rule.

    ``custom`` maps a ``CustomProc`` name to its handler; ``log`` is a logger (default this
    module's); ``summary`` renders a rule's log summary (default: one line).
    """
    logger = log or _LOG
    result = SweepResult(
        source=config.source,
        tier=options.tier,
        test_mode=options.test_mode,
        output_dir=options.output_dir,
        inactive=config.inactive_rules(options.tier),
    )
    try:
        prepare_output_dir(options.output_dir, options.test_mode)
    except SweepFatalError as exc:
        result.fatal = str(exc)
        return result
    taken: set[str] = set()
    handlers = dict(custom or {})
    for rule in config.active_rules(options.tier):
        outcome: RuleOutcome | None = None
        try:
            if rule.is_custom:
                handler = handlers.get(rule.custom_proc or "")
                if handler is None:
                    raise SweepFatalError(f"no handler for CustomProc {rule.custom_proc!r}")
                result.custom.append(handler(rule, options.test_mode))
                continue
            outcome = RuleOutcome(rule)
            result.outcomes.append(outcome)
            sweep_rule(rule, options, outcome, taken)
            if summary is not None:
                logger.info(summary(outcome))
            else:
                logger.info(
                    f"{rule.label}: {outcome.status}"
                    + (f" ({outcome.reason})" if outcome.reason else "")
                )
        except SweepFatalError as exc:
            if outcome is not None:
                outcome.status = "failed"
            result.fatal = f"{exc} (in {rule.label})"
            logger.error(f"FATAL error: {result.fatal}")
            break
        except Exception as exc:  # noqa: BLE001 - the legacy stopped here too; now it is mailed
            if outcome is not None:
                outcome.status = "failed"
            result.fatal = f"{rule.label}: unexpected {exc.__class__.__name__}: {exc}"
            logger.error(f"sweep stopped: {result.fatal}\n{traceback.format_exc()}")
            break
    return result
