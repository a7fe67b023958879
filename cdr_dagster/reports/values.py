"""How the renderers turn model values into text and links, shared by HTML, Markdown and text.

Values come from the CDR and are data: they are turned into text here and escaped by each
renderer for its own syntax. Characters that XML cannot carry (most C0 controls, lone
surrogates, U+FFFE/U+FFFF) are replaced by U+FFFD instead of failing the report, and only
http, https and mailto URLs (or relative references such as `#fragment`) become links.
"""

from __future__ import annotations

import re
from typing import cast
from urllib.parse import urlsplit

from lxml import html as lxml_html

from cdr_dagster.reports.model import Cell, Paragraph, Scalar

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})


def clean(text: str) -> str:
    """The text with characters XML cannot represent replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def scalar_text(value: Scalar) -> str:
    """The text of a plain value: `""` for None, else `str(value)`, cleaned."""
    return "" if value is None else clean(str(value))


def paragraphs(cell: Cell) -> tuple[Paragraph, ...] | None:
    """The cell's paragraphs when it holds several, else None (a scalar cell)."""
    return cell.value if isinstance(cell.value, tuple) else None


def cell_text(cell: Cell, separator: str = "\n") -> str:
    """The cell's text; paragraphs are joined with `separator`."""
    paras = paragraphs(cell)
    if paras is not None:
        return separator.join(clean(p.text) for p in paras)
    return scalar_text(cast(Scalar, cell.value))


def safe_url(url: str | None) -> str | None:
    """The URL if it may be linked (http, https, mailto, or relative), else None."""
    if not url:
        return None
    url = clean(url.strip())
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme and scheme not in _LINK_SCHEMES:
        return None
    if not scheme and ":" in url.split("/", 1)[0].split("#", 1)[0].split("?", 1)[0]:
        return None
    return url


def trusted_text(markup: str) -> str:
    """The text of a `TrustedHtml` fragment, for the Markdown and plain-text renderers."""
    if not markup.strip():
        return ""
    parts = lxml_html.fragments_fromstring(clean(markup))
    return " ".join(p if isinstance(p, str) else p.text_content() + (p.tail or "") for p in parts)
