"""The legacy CDR Scheduler's report styles, and the helpers that merge and serialise them.

The e-mailed reports of the old scheduler share one look (docs/behaviour-notes.md#report-look;
legacy `jobs/base_job.py`):
header and data cells get a default inline style that a job can override key by key, and
tables, captions and headings carry literal style strings. The constants below are those
defaults, spelt exactly as the legacy code serialised them, so the HTML we send looks the same.

Two spellings are in use and both are kept:

- cell styles come out of the legacy `merge_styles()` helper, compact: `k:v;k:v`
  (see `merge_styles` and `css`);
- every other element carries a readable literal: `k: v; k: v` (see `css_text`).
"""

from __future__ import annotations

from collections.abc import Mapping

Styles = Mapping[str, str]
"""CSS declarations as property -> value; `_` in a property name stands for `-`."""


def _prop(name: str) -> str:
    return name.replace("_", "-")


TH_STYLES: Styles = {
    "font-family": "Arial",
    "border": "1px solid #999",
    "margin": "auto",
    "padding": "2px",
}
"""Default style of a header cell (legacy `Job.th`)."""

TD_STYLES: Styles = {
    "font-family": "Arial",
    "border": "1px solid #999",
    "vertical-align": "top",
    "padding": "2px",
    "margin": "auto",
}
"""Default style of a data cell (legacy `Job.td`): the header style plus top alignment."""

NOWRAP: Styles = {"white-space": "nowrap"}
"""Cell override the licensee and translation reports use for date columns."""

HEADING_STYLE = "color: navy; font-family: Arial;"
"""The navy H3 title of the media, GovDelivery and translation reports."""

NOTE_STYLE = "font-size: .9em; font-style: italic; font-family: Arial"
"""The small italic paragraphs under a title ("Report date: ...", date ranges)."""

ERROR_STYLE = "font-weight: bold; color: red; font-family: Arial"
"""A bold red error paragraph (media check)."""

INFO_STYLE = "font-weight: bold; color: blue; font-family: Arial"
"""A bold blue status paragraph (media check: "Ran rsync from ...")."""

CAPTION_STYLE = "font-weight: bold; font-size: 1.2em; font-family: Arial; text-align: left;"
"""The bold, left-aligned table caption most reports use."""

CELL_PARAGRAPH_STYLE = "margin: 0 3px 1rem;"
"""A paragraph inside a cell (GovDelivery "Section(s)")."""


def css_text(styles: Styles) -> str:
    """Serialise declarations the readable way, `k: v; k: v` (table, caption, heading)."""
    return "; ".join(f"{_prop(k)}: {v}" for k, v in styles.items())


def table_style(width: str = "95%", **extra: str) -> str:
    """The legacy table style (`Job.TSTYLE`) with another `width` and extra declarations.

    `table_style()` is `width: 95%; border: 1px solid #999; border-collapse: collapse;
    margin-top: 30px`; the GovDelivery, expiring-links and licensee reports use `"80%"`.
    """
    styles = {
        "width": width,
        "border": "1px solid #999",
        "border-collapse": "collapse",
        "margin-top": "30px",
    }
    styles.update({_prop(k): v for k, v in extra.items()})
    return css_text(styles)


TABLE_STYLE = table_style()
"""Default table style: `width: 95%; border: 1px solid #999; border-collapse: collapse;
margin-top: 30px`."""


def merge_styles(defaults: Styles, *overrides: Styles | None) -> dict[str, str]:
    """Merge override declarations over defaults, keeping the defaults' order.

    As in the legacy helper, a `_` in a property name becomes `-`, so `white_space="nowrap"`
    overrides nothing and adds `white-space:nowrap`, while `padding="1px"` replaces `padding`.
    Later overrides win over earlier ones.
    """
    merged = {_prop(k): v for k, v in defaults.items()}
    for styles in overrides:
        if styles:
            merged.update({_prop(k): v for k, v in styles.items()})
    return merged


def css(styles: Styles) -> str:
    """Serialise cell declarations the compact legacy way, `k:v;k:v`."""
    return ";".join(f"{_prop(k)}:{v}" for k, v in styles.items())


def parse_css(style: str | None) -> dict[str, str]:
    """Parse an inline style string (either spelling) into property -> value, lower-cased keys."""
    result: dict[str, str] = {}
    for declaration in (style or "").split(";"):
        name, sep, value = declaration.partition(":")
        if sep and name.strip():
            result[name.strip().lower()] = value.strip()
    return result


def is_bold(style: str | None) -> bool:
    """True when an inline style sets a bold font weight."""
    weight = parse_css(style).get("font-weight", "")
    return weight == "bold" or weight == "bolder" or (weight.isdigit() and int(weight) >= 600)


def is_italic(style: str | None) -> bool:
    """True when an inline style sets an italic font style."""
    return parse_css(style).get("font-style", "") in ("italic", "oblique")
