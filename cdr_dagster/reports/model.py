"""The report data model: one shape for every table report the CDR jobs e-mail.

A `Report` is a title plus a list of blocks (headings, paragraphs, bullet lists, tables and,
rarely, trusted HTML written by CDR staff). A `Table` has an optional caption, `Column`s and
rows of `Cell`s. Every style is data on the model, defaulting to the legacy look
(`styles.py`), so a job states only what differs (a width of 80%, a caption size, a nowrap
column) and never writes HTML itself. The renderers (`html.py`, `markdown.py`, `text.py`)
turn the same model into the e-mail body, the Dagster UI preview and plain text.

Everything a job puts into cells, captions, paragraphs and titles is data: it is escaped by
the renderers, never interpreted as markup. Only `TrustedHtml` carries markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import cast

from cdr_dagster.reports.styles import (
    CAPTION_STYLE,
    CELL_PARAGRAPH_STYLE,
    HEADING_STYLE,
    NOTE_STYLE,
    TABLE_STYLE,
    TD_STYLES,
    TH_STYLES,
    Styles,
    merge_styles,
)

Scalar = str | int | float | Decimal | date | None
"""A plain cell value; `None` shows as an empty cell, anything else as `str(value)`."""

_SCALAR_TYPES = (str, int, float, Decimal, date, type(None))


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text, with an inline style (e.g. `styles.NOTE_STYLE`)."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Heading:
    """A heading (`<h1>`..`<h6>`) with an inline style."""

    text: str
    level: int = 3
    style: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.level <= 6:
            raise ValueError(f"heading level must be 1 to 6, not {self.level}")


CellValue = Scalar | Sequence[Paragraph]
"""What a cell shows: a scalar, or several paragraphs (GovDelivery "Section(s)")."""


@dataclass(frozen=True)
class Cell:
    """One table cell: its value, an optional link, style overrides and a column span.

    `styles` are merged over the table's cell defaults and the column's `cell_styles`
    (`_` in a name stands for `-`). With `url`, the value is shown as a link; only http,
    https and mailto URLs and relative references are linked, anything else shows as text.
    """

    value: CellValue = ""
    url: str | None = None
    styles: Styles = field(default_factory=dict)
    colspan: int = 1

    def __post_init__(self) -> None:
        if self.colspan < 1:
            raise ValueError(f"colspan must be at least 1, not {self.colspan}")
        value = self.value
        if not isinstance(value, _SCALAR_TYPES):
            try:
                paras = tuple(value)
            except TypeError:
                paras = None
            if paras is None or not all(isinstance(p, Paragraph) for p in paras):
                raise TypeError(
                    "a cell value is a str, number, date, None or a sequence of Paragraph, "
                    f"not {value!r}"
                )
            object.__setattr__(self, "value", paras)


@dataclass(frozen=True)
class Column:
    """A table column: its header label, header style overrides, and data cell overrides.

    `styles` are merged over the table's header defaults for this column's `<th>`;
    `cell_styles` over the cell defaults for each of its `<td>`s (e.g. `styles.NOWRAP`).
    """

    label: str
    styles: Styles = field(default_factory=dict)
    cell_styles: Styles = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A table: optional caption, header row from `columns`, rows of cells, and its styles.

    - `columns` may be `Column`s or plain labels; with none there is no header row.
    - `rows` hold `Cell`s or plain values; each row must span exactly the columns.
    - `style` is the table's inline style (default `styles.TABLE_STYLE`, 95% wide);
      `caption_style` the caption's.
    - `header_styles` and `cell_styles` are the default declarations of every `<th>` and
      `<td>` (legacy `th()`/`td()` defaults unless a report uses other ones, as PCIB does).
    - With no rows and `empty_text`, one row with a single cell spanning all columns shows
      that text; `header_when_empty=False` then leaves out the header row (GovDelivery
      "None"). With no rows and no `empty_text`, the table is shown with its header only.
    """

    columns: Sequence[Column | str] = ()
    rows: Sequence[Sequence[Cell | Scalar]] = ()
    caption: str | None = None
    style: str = TABLE_STYLE
    caption_style: str = CAPTION_STYLE
    header_styles: Styles = field(default_factory=lambda: dict(TH_STYLES))
    cell_styles: Styles = field(default_factory=lambda: dict(TD_STYLES))
    empty_text: str | None = None
    header_when_empty: bool = True

    def __post_init__(self) -> None:
        columns = tuple(c if isinstance(c, Column) else Column(str(c)) for c in self.columns)
        rows = tuple(tuple(v if isinstance(v, Cell) else Cell(v) for v in row) for row in self.rows)
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "rows", rows)
        if columns:
            for number, row in enumerate(rows, 1):
                span = sum(cell.colspan for cell in row)
                if span != len(columns):
                    raise ValueError(
                        f"table {self.caption or '(no caption)'!r}: row {number} spans "
                        f"{span} columns, the table has {len(columns)}"
                    )

    @property
    def header(self) -> tuple[Column, ...]:
        """The columns, as `Column`s."""
        return cast(tuple[Column, ...], self.columns)

    @property
    def body(self) -> tuple[tuple[Cell, ...], ...]:
        """The rows, as `Cell`s."""
        return cast(tuple[tuple[Cell, ...], ...], self.rows)

    @property
    def shows_header(self) -> bool:
        """Whether the header row is shown: there are columns, and rows or `header_when_empty`."""
        return bool(self.columns) and (bool(self.rows) or self.header_when_empty)

    @property
    def width(self) -> int:
        """Number of columns: the header's, or the widest row's when there is no header."""
        if self.columns:
            return len(self.columns)
        return max((sum(c.colspan for c in row) for row in self.body), default=1)

    def header_style(self, column: Column) -> dict[str, str]:
        """The merged declarations of one column's header cell."""
        return merge_styles(self.header_styles, column.styles)

    def cell_style(self, cell: Cell, column: Column | None) -> dict[str, str]:
        """The merged declarations of one data cell in the given column (None if no header)."""
        return merge_styles(self.cell_styles, column.cell_styles if column else None, cell.styles)

    def positioned(self, row: Sequence[Cell]) -> list[tuple[Cell, Column | None]]:
        """Pair each cell of a row with the column it starts in (None beyond the header)."""
        result: list[tuple[Cell, Column | None]] = []
        position = 0
        for cell in row:
            column = self.header[position] if position < len(self.header) else None
            result.append((cell, column))
            position += cell.colspan
        return result


@dataclass(frozen=True)
class BulletList:
    """A bulleted list (`<ul>`); items are text or `Cell`s (for a value with a link)."""

    items: Sequence[Cell | Scalar] = ()
    style: str = ""
    item_style: str = ""

    def __post_init__(self) -> None:
        items = tuple(i if isinstance(i, Cell) else Cell(i) for i in self.items)
        object.__setattr__(self, "items", items)

    @property
    def cells(self) -> tuple[Cell, ...]:
        """The items, as `Cell`s."""
        return cast(tuple[Cell, ...], self.items)


@dataclass(frozen=True)
class TrustedHtml:
    """HTML written by CDR staff, inserted as markup (e.g. a `ctl` partner-notice template).

    Never put document data here: CDR document values belong in `Paragraph`s and cells,
    which are escaped. The Markdown and text renderers show only this markup's text.
    """

    markup: str


Block = Heading | Paragraph | BulletList | Table | TrustedHtml
"""Anything a report body is made of."""


@dataclass(frozen=True)
class Report:
    """A whole report: the `<title>`, a heading repeating it, and the body blocks.

    The heading (level `heading_level`, style `heading_style`, default the navy Arial H3)
    is left out with `show_heading=False` (expiring-links report). `body_style` styles the
    `<body>` (PCIB: `font-size: .9em`). `charset` is the `<meta charset>` and the output
    encoding: `"ascii"` gives numeric character references for everything non-ASCII, as
    the partner list always did.
    """

    title: str
    blocks: Sequence[Block] = ()
    heading_level: int = 3
    heading_style: str = HEADING_STYLE
    show_heading: bool = True
    body_style: str = ""
    charset: str = "utf-8"

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not 1 <= self.heading_level <= 6:
            raise ValueError(f"heading level must be 1 to 6, not {self.heading_level}")
        try:
            "".encode(self.charset)
        except LookupError:
            raise ValueError(f"unknown charset {self.charset!r}") from None

    @property
    def tables(self) -> tuple[Table, ...]:
        """The report's tables, in order."""
        return tuple(b for b in self.blocks if isinstance(b, Table))

    @property
    def heading(self) -> Heading | None:
        """The heading block the renderers put first, or None."""
        if not self.show_heading:
            return None
        return Heading(self.title, self.heading_level, self.heading_style)


def note(text: str) -> Paragraph:
    """A small italic paragraph (`styles.NOTE_STYLE`), as under every report title."""
    return Paragraph(text, NOTE_STYLE)


def report_date(day: date) -> Paragraph:
    """The `Report date: YYYY-MM-DD` note; the job passes the day, so tests can fix it."""
    return note(f"Report date: {day.isoformat()}")


def cell_paragraphs(texts: Sequence[str], style: str = CELL_PARAGRAPH_STYLE) -> Cell:
    """A cell holding one paragraph per text (GovDelivery "Section(s)" column)."""
    return Cell(tuple(Paragraph(text, style) for text in texts))
