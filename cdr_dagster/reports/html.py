"""Render a `Report` as the HTML e-mail body, the way the legacy jobs did (lxml builder).

The document is `<!DOCTYPE html>`, a head with `<meta charset>` and `<title>`, and a body with
the heading and blocks; it is pretty-printed by lxml as the legacy `serialize()` did. All text
and attribute values go through lxml, so `<`, `&` and quotes in CDR data are escaped, never
parsed. With `charset="ascii"` everything non-ASCII becomes a numeric character reference.
"""

from __future__ import annotations

from lxml import etree
from lxml import html as lxml_html
from lxml.html import builder as B  # noqa: N812 - the lxml idiom

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
from cdr_dagster.reports.styles import css
from cdr_dagster.reports.values import cell_text, clean, paragraphs, safe_url

DOCTYPE = "<!DOCTYPE html>"


def render_html(report: Report) -> str:
    """The whole report as an HTML document string, `<!DOCTYPE html>` first.

    The string is meant to be encoded with `report.charset` (it is pure ASCII when that is
    `"ascii"`); the e-mail resource and the saved report files use that encoding.
    """
    head = B.HEAD(B.META(charset=report.charset), B.TITLE(clean(report.title)))
    body = B.BODY()
    if report.body_style:
        body.set("style", report.body_style)
    if report.heading is not None:
        body.append(build_block(report.heading))
    for block in report.blocks:
        for element in _build(block):
            body.append(element)
    root = B.HTML(head, body)
    return _serialize(root, report.charset, DOCTYPE)


def render_html_fragment(block: Block, charset: str = "utf-8") -> str:
    """One block as an HTML fragment without doctype (e.g. a table inside a partner notice)."""
    return "".join(_serialize(element, charset, None) for element in _build(block))


def build_block(block: Block) -> etree._Element:
    """One block as an lxml element (`TrustedHtml` with several top elements is wrapped in a
    `<div>`), for callers that assemble a larger lxml tree themselves."""
    elements = _build(block)
    if len(elements) == 1:
        return elements[0]
    return B.DIV(*elements)


def _build(block: Block) -> list[etree._Element]:
    if isinstance(block, Table):
        return [_table(block)]
    if isinstance(block, Heading):
        element = getattr(B, f"H{block.level}")(clean(block.text))
        return [_styled(element, block.style)]
    if isinstance(block, Paragraph):
        return [_paragraph(block)]
    if isinstance(block, BulletList):
        items = [_styled(B.LI(*_content(item)), block.item_style) for item in block.cells]
        return [_styled(B.UL(*items), block.style)]
    if isinstance(block, TrustedHtml):
        return _trusted(block.markup)
    raise TypeError(f"not a report block: {block!r}")


def _table(table: Table) -> etree._Element:
    element = _styled(B.TABLE(), table.style)
    if table.caption is not None:
        element.append(_styled(B.CAPTION(clean(table.caption)), table.caption_style))
    if table.shows_header:
        header = B.TR()
        for column in table.header:
            th = B.TH(clean(column.label), style=css(table.header_style(column)))
            header.append(th)
        element.append(header)
    for row in table.body:
        tr = B.TR()
        for cell, column in table.positioned(row):
            tr.append(_td(table, cell, column))
        element.append(tr)
    if not table.rows and table.empty_text is not None:
        empty = Cell(table.empty_text, colspan=table.width)
        element.append(B.TR(_td(table, empty, None)))
    return element


def _td(table: Table, cell: Cell, column: Column | None) -> etree._Element:
    td = B.TD(*_content(cell), style=css(table.cell_style(cell, column)))
    if cell.colspan > 1:
        td.set("colspan", str(cell.colspan))
    return td


def _content(cell: Cell) -> list[etree._Element | str]:
    """A cell's (or list item's) children: text, a link, or paragraphs."""
    paras = paragraphs(cell)
    if paras is not None:
        return [_paragraph(p) for p in paras]
    text = cell_text(cell)
    url = safe_url(cell.url)
    if url:
        return [B.A(text, href=url)]
    return [text] if text else []


def _paragraph(paragraph: Paragraph) -> etree._Element:
    return _styled(B.P(clean(paragraph.text)), paragraph.style)


def _trusted(markup: str) -> list[etree._Element]:
    """Parse staff-written HTML; top-level text becomes a `<span>` so nothing is lost."""
    result: list[etree._Element] = []
    for item in lxml_html.fragments_fromstring(clean(markup)) if markup.strip() else []:
        result.append(B.SPAN(item) if isinstance(item, str) else item)
    return result


def _styled(element: etree._Element, style: str) -> etree._Element:
    if style:
        element.set("style", style)
    return element


def _serialize(element: etree._Element, charset: str, doctype: str | None) -> str:
    options: dict[str, object] = {"pretty_print": True, "method": "html"}
    if doctype:
        options["doctype"] = doctype
    if charset.lower().replace("-", "").replace("_", "") == "utf8":
        return lxml_html.tostring(element, encoding="unicode", **options)
    # Any other charset: what it cannot encode becomes a numeric character reference.
    return lxml_html.tostring(element, encoding=charset, **options).decode(charset)
