"""Render a `Report` as plain text: the `text/plain` alternative of an HTML e-mail, or a log.

No legacy job sent a plain-text *table* (the health, disk-space and job-list mails are plain
lines built by their jobs), so this is a convenience: the title underlined with `=`, headings
with `-`, paragraphs, `- ` bullets, and each table as its caption over fixed-width columns
separated by two spaces. A link shows as `text <url>`. Nothing is escaped: plain text has
no markup.
"""

from __future__ import annotations

import re

from cdr_dagster.reports.model import (
    Block,
    BulletList,
    Cell,
    Heading,
    Paragraph,
    Report,
    Table,
    TrustedHtml,
)
from cdr_dagster.reports.values import cell_text, clean, paragraphs, safe_url, trusted_text

_WHITESPACE = re.compile(r"\s+")


def render_text(report: Report) -> str:
    """The report as plain text ending in one newline."""
    parts: list[str] = []
    if report.heading is not None:
        title = _one_line(report.title)
        parts.append(f"{title}\n{'=' * len(title)}")
    for block in report.blocks:
        text = text_block(block)
        if text:
            parts.append(text)
    return "\n\n".join(parts) + "\n"


def text_block(block: Block) -> str:
    """One block as plain text, without a trailing newline ("" if it shows nothing)."""
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Heading):
        text = _one_line(block.text)
        return f"{text}\n{'-' * len(text)}" if text else ""
    if isinstance(block, Paragraph):
        return _one_line(block.text)
    if isinstance(block, BulletList):
        return "\n".join(f"- {_cell(item)}" for item in block.cells)
    if isinstance(block, TrustedHtml):
        return _one_line(trusted_text(block.markup))
    raise TypeError(f"not a report block: {block!r}")


def _table(table: Table) -> str:
    lines: list[str] = []
    if table.caption:
        lines.append(_one_line(table.caption))
    grid: list[list[tuple[str, int]]] = []  # rows of (text, column span)
    if table.shows_header:
        grid.append([(_one_line(c.label), 1) for c in table.header])
    grid += [[(_cell(cell), cell.colspan) for cell in row] for row in table.body]
    if not table.rows and table.empty_text is not None:
        grid.append([(_one_line(table.empty_text), table.width)])
    widths = [0] * table.width
    for row in grid:
        position = 0
        for text, span in row:
            if span == 1 and position < len(widths):
                widths[position] = max(widths[position], len(text))
            position += span
    rendered = [_line(row, widths) for row in grid]
    if table.shows_header:
        rendered.insert(1, _line([("-" * w, 1) for w in widths], widths))
    return "\n".join(lines + rendered)


def _line(row: list[tuple[str, int]], widths: list[int]) -> str:
    """Cells padded to their columns' widths (a spanning cell to its columns and gaps)."""
    padded: list[str] = []
    position = 0
    for text, span in row:
        columns = widths[position : position + span]
        padded.append(text.ljust(sum(columns) + 2 * (len(columns) - 1)))
        position += span
    return "  ".join(padded).rstrip()


def _cell(cell: Cell) -> str:
    paras = paragraphs(cell)
    if paras is not None:
        return "; ".join(t for t in (_one_line(p.text) for p in paras) if t)
    text = _one_line(cell_text(cell))
    url = safe_url(cell.url)
    if url and url != text:
        return f"{text} <{url}>" if text else url
    return text


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", clean(text)).strip()
