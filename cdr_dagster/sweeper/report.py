"""The sweep report (e-mail and run metadata), the rule log summary, and the fatal-error mail.

The legacy mailed only fatal errors (docs/behaviour-notes.md#sweep-failures: subject ``FileSweeper
failed on {TIER}
tier``, a plain-text body quoting ``FATAL error: ...``); it wrote rule summaries to its log
and had an HTML summary it never sent. We keep the fatal mail as it was, with the report of
what had been done before the stop appended, and mail the HTML report when a rule had
problems (files it could not remove, links out of a root, ...). Every run's report goes to
the run's metadata as Markdown.
"""

from __future__ import annotations

import time
from datetime import date, datetime, tzinfo

from cdr_dagster.reports import (
    ERROR_STYLE,
    NOWRAP,
    Column,
    Paragraph,
    Report,
    Table,
    note,
    render_text,
    report_date,
)
from cdr_dagster.sweeper.results import CustomOutcome, RuleOutcome, SweepResult

FATAL_SENDER = "FileSweeper-NoRepy@cdr.cancer.gov"  # (sic) docs/behaviour-notes.md#sweep-failures
ERROR_GROUP = "FileSweeper Error Notification"


def fatal_subject(tier: str) -> str:
    """``FileSweeper failed on {TIER} tier`` (no ``[TIER]`` prefix, as the legacy)."""
    return f"FileSweeper failed on {tier} tier"


def fatal_body(tier: str, message: str, when: float, report: Report | None = None) -> str:
    """The legacy plain-text fatal-error body, plus the report of what was done, if any."""
    body = (
        f"\nThe CDR FileSweeper failed on {tier} at {time.ctime(when)}.\n\n"
        f"Error message was:\n   FATAL error: {message}\n"
    )
    if report is not None:
        body += "\n\nWhat the sweep did before it stopped:\n\n" + render_text(report)
    return body


def report_subject(test_mode: bool) -> str:
    """Subject of the report mail (the e-mail resource adds ``[TIER] ``)."""
    return f"FileSweeper report{' (test mode)' if test_mode else ''}"


def _day(stamp: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(stamp, tz).strftime("%Y-%m-%d") if stamp else ""


def _result(outcome: RuleOutcome) -> str:
    if outcome.reason:
        return f"{outcome.status}: {outcome.reason}"
    return outcome.status


def _custom_rows(custom: CustomOutcome, test_mode: bool) -> list[list[object]]:
    rows: list[list[object]] = []
    done = set(custom.done)
    for doc_id, title in custom.documents:
        if doc_id in done:
            what = "blobs would be deleted" if test_mode else "blobs deleted"
        else:
            what = "skipped"
        rows.append([f"CDR{doc_id:010d}", title, what])
    return rows


def build_report(result: SweepResult, today: date, tz: tzinfo) -> Report:
    """The report of a sweep, for the e-mail (HTML), the log (text) and the UI (Markdown)."""
    blocks: list = [report_date(today)]
    mode = "test mode: nothing was changed" if result.test_mode else "live"
    blocks.append(note(f"Tier {result.tier}, {mode}. Configuration: {result.source}."))
    if result.fatal:
        blocks.append(Paragraph(f"FATAL error: {result.fatal}", ERROR_STYLE))
    verb = "Would free" if result.test_mode else "Freed"
    totals = result.totals()
    blocks.append(
        note(
            f"{verb} {totals['bytes_freed']} bytes: {totals['files_deleted']} files and "
            f"{totals['folders_deleted']} folders deleted, {totals['files_truncated']} files "
            f"truncated, {totals['archives_written']} archives"
            f"{' to write' if result.test_mode else ' written'}"
            + (
                f", {totals['stale_partials_removed']} stale partial archives "
                f"{'to remove' if result.test_mode else 'removed'}."
                if totals["stale_partials_removed"]
                else "."
            )
        )
    )
    rows = []
    for outcome in result.outcomes:
        rule = outcome.rule
        rows.append(
            [
                rule.name,
                rule.action,
                _result(outcome),
                outcome.matched,
                outcome.qualified,
                outcome.archive or "",
                outcome.deleted_files,
                outcome.deleted_dirs,
                outcome.truncated,
                outcome.bytes_freed,
            ]
        )
    blocks.append(
        Table(
            columns=[
                "Rule",
                "Action",
                "Result",
                "Matched",
                "Qualified",
                "Archive",
                "Files deleted",
                "Folders deleted",
                "Truncated",
                Column("Bytes freed", cell_styles=NOWRAP),
            ],
            rows=rows,
            caption="Rules",
            empty_text="No file rules ran.",
        )
    )
    for custom in result.custom:
        caption = f"{custom.rule.name} ({custom.rule.custom_proc})"
        blocks.append(
            Table(
                columns=["CDR ID", "Title", "Result"],
                rows=_custom_rows(custom, result.test_mode),
                caption=caption,
                empty_text=custom.message or "Nothing to do.",
            )
        )
    problems = [(o.rule.name, p) for o in result.outcomes for p in o.problems]
    problems += [(c.rule.name, p) for c in result.custom for p in c.problems + c.skipped]
    if problems:
        blocks.append(
            Table(
                columns=["Rule", "Problem"],
                rows=[[name, text] for name, text in problems],
                caption="Problems",
            )
        )
    done = []
    for outcome in result.outcomes:
        for action in outcome.actions:
            done.append([outcome.rule.name, action])
        if outcome.actions_not_listed:
            done.append([outcome.rule.name, f"... and {outcome.actions_not_listed} more"])
    if done:
        caption = "What a live run would do" if result.test_mode else "What was done"
        blocks.append(Table(columns=["Rule", "Action"], rows=done, caption=caption))
    if result.inactive:
        names = ", ".join(f"{r.name} ({r.tiers_text})" for r in result.inactive)
        blocks.append(note(f"Rules for other tiers, not run: {names}."))
    return Report(title="File Sweeper", blocks=blocks)


def rule_summary(outcome: RuleOutcome, tz: tzinfo) -> str:
    """The legacy per-rule log summary (``SweepSpec.__str__``), with what was done."""
    rule = outcome.rule
    lines = [
        f'SweepSpec: "{rule.name}"',
        f"    Action:     {rule.action}",
        f"    Tiers:      {rule.tiers_text}",
        f"    InputRoot:  {rule.root}",
        f"    Files:      {list(rule.patterns)}",
        f"    OutputFile: {rule.output_file}",
        f"    Oldest:     {_day(rule.old, tz) if rule.old else None}",
        f"    Youngest:   {_day(rule.young, tz) if rule.young else None}",
        f"    Biggest:    {rule.biggest}",
        f"    Smallest:   {rule.smallest}",
        f"  Result: {_result(outcome)}",
        "  Statistics:",
        f"        oldest:          {_day(outcome.oldest, tz) or None}",
        f"        youngest:        {_day(outcome.youngest, tz) or None}",
        f"        biggest:         {outcome.biggest}",
        f"        smallest:        {outcome.smallest}",
        f"        total files:     {outcome.matched}",
        f"        qualified files: {outcome.qualified}",
        f"        total bytes:     {outcome.total_bytes}",
        f"        qualified bytes: {outcome.qualified_bytes}",
        f"        archive:         {outcome.archive}",
        f"        bytes freed:     {outcome.bytes_freed}",
        f"        message count:   {len(outcome.messages)}",
    ]
    if outcome.messages:
        lines.append("Messages:")
        lines += [f"{n:2d}: {text}" for n, text in enumerate(outcome.messages, 1)]
    return "\n".join(lines)
