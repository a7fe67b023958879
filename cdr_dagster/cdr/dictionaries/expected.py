"""What a dictionary index must hold, worked out without the filter (the asset checks).

:func:`glossary_ids` and :func:`drug_ids` read the exported XML directly and return the ``_id``
of every document the consumer APIs expect for it (docs/behaviour-notes.md#dictionary-documents):
one glossary
document per definition (English and Spanish), audience and dictionary; one drug document plus
one per other name. A filter change in the CDR that drops or adds documents shows up as a
difference between these ids and the index.

:func:`glossary_problems` and :func:`drug_problems` list what a document lacks that the
glossary API or the drug dictionary API needs to read it
(docs/behaviour-notes.md#dictionary-consumers): the fields their
models read, values their enumerations accept, and an ``_id`` they can find it by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

#: The glossary API's audiences, and the languages the loads write.
AUDIENCES = ("Patient", "HealthProfessional")
LANGUAGES = ("en", "es")
#: Related resource types of the glossary API (polymorphic on ``type``).
RELATED_TYPES = ("External", "Summary", "DrugSummary", "GlossaryTerm")
#: Media types of the glossary API (compared without regard to case).
MEDIA_TYPES = ("image", "video")
#: The drug dictionary API's ``TermNameType`` enumeration.
TERM_NAME_TYPES = (
    "CodeName",
    "ObsoleteName",
    "Abbreviation",
    "INDCode",
    "NSCNumber",
    "ForeignBrandName",
    "Synonym",
    "CASRegistryName",
    "Subtype",
    "Spanish",
    "LexicalVariant",
    "ChemicalStructureName",
    "CommonUsage",
    "Acronym",
    "USBrandName",
    "Broader",
    "RelatedString",
    "PreferredName",
)
DRUG_TYPES = ("DrugTerm", "DrugAlias")

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", " ")
_XML_SPACE = re.compile(r"[ \t\r\n]+")
#: White space that normalize-space() changes inside a text: a tab, CR, LF, or two spaces.
_XML_SPACE_RUN = re.compile(r"[\t\r\n]|  ")


def _text(element: etree._Element) -> str:
    """XPath ``normalize-space()`` of an element (XML white space only)."""
    if not len(element):  # a leaf (the usual Dictionary or Audience): its text alone
        text = element.text or ""
        if not _XML_SPACE_RUN.search(text) and text[:1] != " " and text[-1:] != " ":
            return text
        return _XML_SPACE.sub(" ", text).strip(" ")
    return _XML_SPACE.sub(" ", "".join(element.itertext("*"))).strip(" ")


def _number(cdr_id: str | None) -> str | None:
    digits = (cdr_id or "")[3:]
    return str(int(digits)) if digits.isdigit() else None


def glossary_ids(root: etree._Element) -> set[str]:
    """``{n}_{dictionary}_{lang}_{audience}`` (lower case, no spaces) for each definition,
    audience and dictionary of an exported GlossaryTerm; dictionary ``NotSet`` when none."""
    if root.tag != "GlossaryTerm":
        return set()
    number = _number(root.get("id"))
    ids: set[str] = set()
    for tag, lang in (("TermDefinition", "en"), ("SpanishTermDefinition", "es")):
        for definition in root.iterchildren(tag):
            dictionaries = [_text(d) for d in definition.iterchildren("Dictionary")] or ["NotSet"]
            for audience in definition.iterchildren("Audience"):
                for dictionary in dictionaries:
                    key = f"{number}_{dictionary}_{lang}_{_text(audience)}"
                    ids.add(key.translate(_ASCII_LOWER))
    return ids


def drug_ids(root: etree._Element) -> set[str]:
    """``{n}`` and ``{n}-{i}`` for each OtherName of an exported Term with a definition."""
    if root.tag != "Term" or root.find("Definition/DefinitionText") is None:
        return set()
    number = _number(root.get("id"))
    others = sum(1 for _ in root.iterchildren("OtherName"))
    return {f"{number}"} | {f"{number}-{i}" for i in range(1, others + 1)}


def _string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())


def _objects(source: Mapping[str, Any], field: str, problems: list[str]) -> list[dict]:
    value = source.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(f"{field} is not a list of objects")
        return []
    return value


def glossary_problems(doc_id: str | None, source: Mapping[str, Any]) -> list[str]:
    """What keeps the glossary API from reading this document (empty: nothing)."""
    problems: list[str] = []
    if not _integer(source.get("term_id")):
        problems.append("term_id is not an integer")
    if source.get("language") not in LANGUAGES:
        problems.append(f"language {source.get('language')!r} is not en or es")
    if not _string(source.get("dictionary")):
        problems.append("dictionary is missing")
    if source.get("audience") not in AUDIENCES:
        problems.append(f"audience {source.get('audience')!r} is not Patient/HealthProfessional")
    if not _string(source.get("term_name")):
        problems.append("term_name is missing")
    letter = source.get("first_letter")
    if not isinstance(letter, str) or len(letter) != 1:
        problems.append("first_letter is not one character")
    if not isinstance(source.get("pretty_url_name"), str):
        problems.append("pretty_url_name is missing")
    if "pronunciation" not in source:
        problems.append("pronunciation is missing (null when there is none)")
    elif source["pronunciation"] is not None and not isinstance(source["pronunciation"], dict):
        problems.append("pronunciation is not an object")
    definition = source.get("definition")
    if not isinstance(definition, dict) or not (
        _string(definition.get("text")) or _string(definition.get("html"))
    ):
        problems.append("definition has neither text nor html")
    for entry in _objects(source, "related_resources", problems):
        kind = entry.get("type")
        if kind not in RELATED_TYPES:
            problems.append(f"related_resources type {kind!r} is unknown")
        elif kind == "GlossaryTerm":
            if not _integer(entry.get("term_id")):
                problems.append("a GlossaryTerm related resource has no term_id")
        elif not _string(entry.get("url")):
            problems.append(f"a {kind} related resource has no url")
    for entry in _objects(source, "media", problems):
        kind = str(entry.get("type") or "").lower()
        if kind not in MEDIA_TYPES:
            problems.append(f"media type {entry.get('type')!r} is unknown")
        elif kind == "image" and not entry.get("image_sources"):
            problems.append(f"image {entry.get('ref')!r} has no image_sources")
        elif kind == "video" and entry.get("hosting") != "youtube":
            problems.append(f"video {entry.get('ref')!r} is not hosted on youtube")
    for entry in _objects(source, "other_languages", problems):
        if entry.get("language") not in LANGUAGES or not _string(entry.get("term_name")):
            problems.append("an other_languages entry lacks language or term_name")
    if not problems:
        expected = (
            f"{source['term_id']}_{source['dictionary']}_{source['language']}_"
            f"{source['audience']}".translate(_ASCII_LOWER)
        )
        if doc_id != expected:
            problems.append(f"_id is not {expected!r}, so the API cannot get it by id")
    return problems


def drug_problems(doc_id: str | None, source: Mapping[str, Any]) -> list[str]:
    """What keeps the drug dictionary API from reading this document (empty: nothing)."""
    problems: list[str] = []
    term_id = source.get("term_id")
    if not _integer(term_id):
        problems.append("term_id is not an integer")
    if not _string(source.get("name")):
        problems.append("name is missing")
    letter = source.get("first_letter")
    if not isinstance(letter, str) or len(letter) != 1:
        problems.append("first_letter is not one character")
    kind = source.get("type")
    if kind not in DRUG_TYPES:
        problems.append(f"type {kind!r} is not DrugTerm or DrugAlias")
    if source.get("term_name_type") not in TERM_NAME_TYPES:
        problems.append(f"term_name_type {source.get('term_name_type')!r} is not in the enum")
    if not isinstance(source.get("pretty_url_name"), str):
        problems.append("pretty_url_name is missing")
    if kind == "DrugTerm":
        definition = source.get("definition")
        if not isinstance(definition, dict) or not (
            _string(definition.get("text")) or _string(definition.get("html"))
        ):
            problems.append("definition has neither text nor html")
        for alias in _objects(source, "aliases", problems):
            if alias.get("type") not in TERM_NAME_TYPES or not _string(alias.get("name")):
                problems.append("an alias lacks a known type or a name")
        if _integer(term_id) and doc_id != str(int(term_id)):
            problems.append(f"_id is not {str(int(term_id))!r}, so the API cannot get it by id")
    elif kind == "DrugAlias":
        if not _string(source.get("preferred_name")):
            problems.append("preferred_name is missing")
        if _integer(term_id) and not str(doc_id or "").startswith(f"{int(term_id)}-"):
            problems.append(f"_id {doc_id!r} is not '{int(term_id)}-<n>'")
    return problems
