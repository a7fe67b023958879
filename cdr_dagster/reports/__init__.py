"""Report builder for the e-mailed table reports of the CDR jobs, and their UI previews.

Build a `Report` from `Table`s, `Paragraph`s and the other blocks in `model`, then render it:
`render_html` for the e-mail body (the legacy look, `styles`), `render_markdown` for
`dagster.MetadataValue.md(...)` on the run, and `render_text` for a plain-text alternative.
This package knows nothing of Dagster or the CDR database.
"""

from cdr_dagster.reports.html import build_block, render_html, render_html_fragment
from cdr_dagster.reports.markdown import render_markdown
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
    cell_paragraphs,
    note,
    report_date,
)
from cdr_dagster.reports.styles import (
    CAPTION_STYLE,
    CELL_PARAGRAPH_STYLE,
    ERROR_STYLE,
    HEADING_STYLE,
    INFO_STYLE,
    NOTE_STYLE,
    NOWRAP,
    TABLE_STYLE,
    TD_STYLES,
    TH_STYLES,
    css,
    css_text,
    merge_styles,
    table_style,
)
from cdr_dagster.reports.text import render_text

__all__ = [
    "CAPTION_STYLE",
    "CELL_PARAGRAPH_STYLE",
    "ERROR_STYLE",
    "HEADING_STYLE",
    "INFO_STYLE",
    "NOTE_STYLE",
    "NOWRAP",
    "TABLE_STYLE",
    "TD_STYLES",
    "TH_STYLES",
    "Block",
    "BulletList",
    "Cell",
    "Column",
    "Heading",
    "Paragraph",
    "Report",
    "Table",
    "TrustedHtml",
    "build_block",
    "cell_paragraphs",
    "css",
    "css_text",
    "merge_styles",
    "note",
    "render_html",
    "render_html_fragment",
    "render_markdown",
    "render_text",
    "report_date",
    "table_style",
]
