"""The pretty-URL and first-letter rules of the dictionary loaders
(docs/behaviour-notes.md#pretty-urls).

The filters mark the elements these apply to with ``processor="clean_pretty_url"`` or
``processor="lowercase_first_letter"``; :mod:`cdr_dagster.cdr.dictionaries.nodes` calls them.
"""

from __future__ import annotations

import re
import string
import unicodedata
from functools import lru_cache

#: glossary-api issue #98: a longer URL name becomes the empty string.
MAX_PRETTY_URL_LENGTH = 75

_FROM = "\u03b1\u03b2\u03bc;_&\u2013/"
_TO = "abu-----"
_DELETE = "\",+().\xaa'\u2019[]:\uff1a*\\"
_TRANSLATION = str.maketrans(_FROM, _TO, _DELETE)
_WHITESPACE = re.compile(r"\s+")
_LETTERS = frozenset(string.ascii_lowercase)


def _without_marks(text: str) -> str:
    """``text`` in Unicode NFKD with every combining mark dropped."""
    if text.isascii():
        return text  # NFKD leaves ASCII alone and it has no combining marks
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# A term's name recurs in each of its documents; a small cache catches that and keeps the
# memory of a load flat (names of earlier terms rarely come back).
@lru_cache(maxsize=256)
def clean_pretty_url(text: str) -> str:
    """The URL name of a term name: ``"Sézary Syndrome"`` -> ``"sezary-syndrome"``.

    Whitespace runs become ``-`` (leading and trailing ones too), the text is lower-cased,
    α β μ become a b u, ``; _ & – /`` become ``-``, quotes, brackets and the like are dropped,
    accents are removed, ``%`` becomes ``pct``; a result over 75 characters is ``""``.
    """
    name = _WHITESPACE.sub("-", text).lower().translate(_TRANSLATION)
    url = _without_marks(name).replace("%", "pct")
    return "" if len(url) > MAX_PRETTY_URL_LENGTH else url


@lru_cache(maxsize=256)
def lowercase_first_letter(text: str | None) -> str:
    """The letter a term is listed under: ``"ácido"`` -> ``"a"``; ``"5-FU"``, ``""`` -> ``"#"``."""
    if text is None:
        return "#"
    name = text.strip()
    if not name:
        return "#"
    letter = _without_marks(name)[:1].lower()
    return letter if letter in _LETTERS else "#"
