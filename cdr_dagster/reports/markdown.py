"""Render a `Report` as GitHub-flavoured Markdown, for `MetadataValue.md` in the Dagster UI.

The preview shows the same content as the e-mail: the heading, paragraphs (bold and italic
taken from their inline style), bullet lists, and each table as a caption line in bold
followed by a GFM pipe table. Links become `[text](url)`. CDR data is escaped: Markdown
punctuation and HTML-significant characters get a backslash, `|` becomes `\\|`, and a
newline inside a paragraph or cell becomes a space (GFM tables cannot hold one; the Dagster
UI drops raw HTML such as `<br>`). Several paragraphs in one cell are joined with `; `.
"""

from __future__ import annotations

import re

from cdr_dagster.reports.model import (
    Block,
    BulletList,
    Cell,
    Column,
    Heading,
    Paragraph,
    Report,
    Table,
    TrustedHtml,
)
from cdr_dagster.reports.styles import is_bold, is_italic, merge_styles
from cdr_dagster.reports.values import cell_text, clean, paragraphs, safe_url, trusted_text

CELL_PARAGRAPH_SEPARATOR = "; "
"""How the paragraphs of one cell are joined on one Markdown table line."""

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")
_WHITESPACE = re.compile(r"\s+")
_LIST_START = re.compile(r"^([-+=])")
_ORDERED_START = re.compile(r"^(\d+)([.)])")
_URL_UNSAFE = {
    " ": "%20",
    "(": "%28",
    ")": "%29",
    "<": "%3C",
    ">": "%3E",
    "|": "%7C",
    "\\": "%5C",
    "`": "%60",
    "\n": "%0A",
    "\r": "%0D",
    "\t": "%09",
}


def render_markdown(report: Report, max_rows: int | None = None) -> str:
    """The report as Markdown text ending in one newline.

    With `max_rows`, each table shows at most that many rows, followed by an italic
    `(showing first N of M rows)` line, which keeps large previews within Dagster's limits.
    """
    if max_rows is not None and max_rows < 0:
        raise ValueError(f"max_rows must not be negative, not {max_rows}")
    parts: list[str] = []
    if report.heading is not None:
        parts.append(markdown_block(report.heading))
    for block in report.blocks:
        text = markdown_block(block, max_rows)
        if text:
            parts.append(text)
    return "\n\n".join(parts) + "\n"


def markdown_block(block: Block, max_rows: int | None = None) -> str:
    """One block as Markdown, without a trailing newline ("" if it shows nothing)."""
    if isinstance(block, Table):
        return _table(block, max_rows)
    if isinstance(block, Heading):
        return f"{'#' * block.level} {escape(block.text)}".rstrip()
    if isinstance(block, Paragraph):
        return _emphasised(_line_start(escape(block.text)), block.style)
    if isinstance(block, BulletList):
        items = [_line_start(_inline(item)) for item in block.cells]
        return "\n".join(f"- {_emphasised(item, block.item_style)}" for item in items)
    if isinstance(block, TrustedHtml):
        return _line_start(escape(trusted_text(block.markup)))
    raise TypeError(f"not a report block: {block!r}")


def escape(text: str) -> str:
    """Text as literal Markdown on one line: punctuation escaped, whitespace runs as one space."""
    text = _WHITESPACE.sub(" ", clean(text)).strip()
    return _SPECIAL.sub(r"\\\1", text)


def link(text: str, url: str) -> str:
    """A Markdown link `[text](url)`; the URL's spaces, parentheses, `<`, `>` and `|` are
    percent-encoded so the link survives inside a table row."""
    target = "".join(_URL_UNSAFE.get(ch, ch) for ch in url)
    return f"[{escape(text) or escape(url)}]({target})"


def _table(table: Table, max_rows: int | None) -> str:
    lines: list[str] = []
    if table.caption:
        lines += [f"**{escape(table.caption)}**", ""]
    rows = list(table.body)
    if not rows and not table.shows_header:
        if table.empty_text is not None:
            lines.append(escape(table.empty_text))
        return "\n".join(lines).rstrip()
    if not rows and table.empty_text is not None:
        rows = [(Cell(table.empty_text, colspan=table.width),)]
    width = table.width
    shown = rows if max_rows is None else rows[:max_rows]
    labels = [escape(c.label) for c in table.header] or [""] * width
    lines.append(_row(labels))
    lines.append(_row([_rule(table, c) for c in table.header] or ["---"] * width))
    for row in shown:
        cells: list[str] = []
        for cell in row:
            cells.append(_inline(cell, CELL_PARAGRAPH_SEPARATOR))
            cells += [""] * (cell.colspan - 1)
        cells += [""] * (width - len(cells))
        lines.append(_row(cells))
    if len(shown) < len(rows):
        lines += ["", f"*(showing first {len(shown)} of {len(rows)} rows)*"]
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _rule(table: Table, column: Column) -> str:
    align = merge_styles(table.cell_styles, column.cell_styles).get("text-align", "")
    return {"right": "---:", "center": ":---:"}.get(align.strip().lower(), "---")


def _inline(cell: Cell, separator: str = CELL_PARAGRAPH_SEPARATOR) -> str:
    paras = paragraphs(cell)
    if paras is not None:
        return separator.join(text for text in (escape(p.text) for p in paras) if text)
    text = cell_text(cell)
    url = safe_url(cell.url)
    return link(text, url) if url else escape(text)


def _emphasised(text: str, style: str) -> str:
    if not text:
        return text
    if is_bold(style):
        text = f"**{text}**"
    if is_italic(style):
        text = f"*{text}*"
    return text


def _line_start(text: str) -> str:
    """Keep text from starting a list or setext heading when it begins a Markdown line."""
    text = _LIST_START.sub(r"\\\1", text)
    return _ORDERED_START.sub(r"\1\\\2", text)
