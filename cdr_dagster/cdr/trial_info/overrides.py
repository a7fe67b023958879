"""The hand-curated overrides of ctl ``trials/overrides``
(docs/behaviour-notes.md#trial-listing-groups).

Each line is ``CODES|LABEL|URL``: a comma list of concept codes (stripped, upper-cased, none
empty), a label that replaces the group's name (or ``<INHERIT>`` to keep it), and a URL name
that replaces the computed one (``<INHERIT>`` keeps it, ``<BLANK>`` makes it null). A URL is
``[a-z0-9-]+`` and at most 75 characters. A code may appear in one override only. Any other
line, a blank one included, makes the whole set invalid: the load fails before EVS is called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BLANK = "<BLANK>"
INHERIT = "<INHERIT>"
#: The longest pretty URL name the API gets (glossary-api issue #98, shared by the loaders).
MAX_URL_LENGTH = 75
_URL = re.compile(r"[a-z0-9-]+")


class OverrideError(ValueError):
    """The overrides cannot be used; the message names the line and what is wrong with it."""


@dataclass(frozen=True)
class Override:
    """One override line."""

    line_number: int
    codes: frozenset[str]
    label: str
    url: str

    @property
    def code_list(self) -> str:
        """The codes, sorted, as they are named in messages."""
        return ",".join(sorted(self.codes, key=_code_order))


def _code_order(code: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", code)
    return (int(digits) if digits else -1, code)


def parse_override(line: str, line_number: int) -> Override:
    """One line of the overrides, or :class:`OverrideError` naming what is wrong."""
    where = f"line {line_number}"
    text = line.strip()
    fields = text.split("|")
    if len(fields) != 3:
        raise OverrideError(
            f"malformed override on {where}: {text!r} (expected CODES|LABEL|URL, "
            f"got {len(fields)} field{'s' if len(fields) != 1 else ''})"
        )
    codes_field, label, url = (field.strip() for field in fields)
    codes = [code.strip().upper() for code in codes_field.split(",")]
    if any(not code for code in codes):
        raise OverrideError(f"empty code in {text!r} ({where})")
    if not label:
        raise OverrideError(f"empty label in {text!r} ({where})")
    if not url:
        raise OverrideError(f"empty URL in {text!r} ({where})")
    if url not in (BLANK, INHERIT) and not _URL.fullmatch(url):
        raise OverrideError(
            f"invalid override URL {url!r} on {where} (lower-case letters, digits and hyphens, "
            f"or {BLANK} or {INHERIT})"
        )
    if len(url) > MAX_URL_LENGTH:
        raise OverrideError(
            f"override URL {url} on {where} is too long ({len(url)} characters; at most "
            f"{MAX_URL_LENGTH})"
        )
    return Override(line_number, frozenset(codes), label, url)


def parse_overrides(text: str) -> dict[str, Override]:
    """Every override of the ctl value, by concept code."""
    by_code: dict[str, Override] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        override = parse_override(line, number)
        for code in sorted(override.codes, key=_code_order):
            other = by_code.get(code)
            if other is not None:
                raise OverrideError(
                    f"code {code} in multiple overrides (lines {other.line_number} and {number})"
                )
            by_code[code] = override
    return by_code
