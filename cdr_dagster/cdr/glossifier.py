"""The glossifier terms: phrase -> GlossaryTermName -> language -> dictionaries (legacy
``glossifier_refresh.Task``, docs/behaviour-notes.md#glossifier).

The CMS editors' glossifier suggests a glossary link for each phrase it recognises. The map is
built from the GlossaryTermName documents on cancer.gov (the source XML of the version last
sent there), their concepts' dictionaries (``query_term_pub``) and the extra phrases of the
external map tables:

- names: English ``TermName/TermNameString`` unless ``TermNameStatus`` is Rejected, Spanish
  ``TranslatedName/TermNameString`` unless its status is Rejected, both unless the name says
  ``ExcludeFromGlossifier="Yes"``; plus every external-map phrase of the document;
- the key of a name: ``’`` made ``'``, lower-cased, stripped, whitespace runs made one space;
- a usage (key, language, dictionary) - one per dictionary of the concept in that language, or
  (key, language, None) when it has none - must belong to exactly one document. A usage claimed
  by several documents is a duplicate: left out of the map and reported.

No Dagster here; the asset ``glossifier_terms`` sends :meth:`GlossifierTerms.payload` to the
CMS servers, stores :meth:`GlossifierTerms.python_repr` with :func:`save_terms` and mails
:func:`duplicates_message`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from cdr_dagster.cdr.control import control_group
from cdr_dagster.cdr.query_terms import terms_for_path
from cdr_dagster.cdr.schema import (
    doc_version,
    external_map,
    external_map_usage,
    glossifier,
    pub_proc_cg,
    pub_proc_doc,
    query_term_pub,
)
from cdr_dagster.cdr.sql import iequals
from cdr_dagster.cdr.xml import XmlError, get_text, parse_xml

LANGUAGES = ("en", "es")
#: external_map_usage names holding the extra phrases of each language.
PHRASE_USAGES = {"en": "GlossaryTerm Phrases", "es": "Spanish GlossaryTerm Phrases"}
DICTIONARY_PATHS = {
    "en": "/GlossaryTermConcept/TermDefinition/Dictionary",
    "es": "/GlossaryTermConcept/TranslatedTermDefinition/Dictionary",
}
CONCEPT_PATH = "/GlossaryTermName/GlossaryTermConcept/@cdr:ref"
#: ctl group registering the CMS servers of a tier (alias -> base URL).
SERVERS_GROUP = "glossary-servers"
#: CDR group told about duplicate mappings.
DUPLICATES_GROUP = "GlossaryDupGroup"
#: The one row of the ``glossifier`` table.
GLOSSIFIER_PK = 1

UsageKey = tuple[str, str, "str | None"]
_WHITESPACE = re.compile(r"\s+")


def name_key(name: str) -> str:
    """The glossifier key of a name: ``"Sun’s  Soup"`` -> ``"sun's soup"``."""
    return _WHITESPACE.sub(" ", name.replace("\u2019", "'").lower().strip())


@dataclass
class GlossifierTerms:
    """The map sent to the CMS and the duplicates left out of it.

    ``names[key][doc_id][language]`` is the set of dictionaries (empty when the concept has
    none in that language); ``duplicates[(key, language, dictionary)]`` the document ids that
    claim the same usage, sorted.
    """

    names: dict[str, dict[int, dict[str, set[str]]]]
    duplicates: dict[UsageKey, list[int]]
    documents: int = 0
    concepts: int = 0
    phrases: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def payload(self) -> dict[str, dict[str, dict[str, list[str]]]]:
        """The JSON body of the refresh POST: document ids as string keys, lists of
        dictionaries (sorted), e.g. ``{"carcinoma": {"45963": {"en": ["Cancer.gov"]}}}``."""
        return {
            key: {
                str(doc_id): {lang: sorted(dicts) for lang, dicts in languages.items()}
                for doc_id, languages in docs.items()
            }
            for key, docs in self.names.items()
        }

    def python_repr(self) -> str:
        """The map as the legacy job stored it in ``glossifier.terms`` (a Python literal with
        integer ids and sets), in sorted order so equal maps give equal text."""
        parts = []
        for key, docs in self.names.items():
            doc_parts = []
            for doc_id, languages in docs.items():
                lang_parts = [
                    f"{lang!r}: {_set_repr(dicts)}" for lang, dicts in sorted(languages.items())
                ]
                doc_parts.append(f"{doc_id!r}: {{{', '.join(lang_parts)}}}")
            parts.append(f"{key!r}: {{{', '.join(doc_parts)}}}")
        return "{" + ", ".join(parts) + "}"


def _set_repr(values: set[str]) -> str:
    return "{" + ", ".join(repr(v) for v in sorted(values)) + "}" if values else "set()"


# -- reading the CDR ----------------------------------------------------------------------------


def concept_dictionaries(conn: Connection) -> dict[int, dict[str, set[str]]]:
    """Dictionaries of each GlossaryTermConcept with definitions, per language."""
    concepts: dict[int, dict[str, set[str]]] = {}
    for lang, path in DICTIONARY_PATHS.items():
        for term in terms_for_path(conn, path, published=True):
            dictionaries = concepts.setdefault(term.doc_id, {code: set() for code in LANGUAGES})
            dictionaries[lang].add(term.value.strip())
    return concepts


def extra_phrases(conn: Connection) -> dict[str, dict[int, list[str]]]:
    """External-map phrases per language and document (rows without a document are unused)."""
    phrases: dict[str, dict[int, list[str]]] = {}
    for lang, usage in PHRASE_USAGES.items():
        stmt = (
            select(external_map.c.value, external_map.c.doc_id)
            .join(external_map_usage, external_map_usage.c.id == external_map.c.usage)
            .where(iequals(external_map_usage.c.name, usage), external_map.c.doc_id.is_not(None))
            .order_by(external_map.c.doc_id, external_map.c.id)
        )
        by_doc: dict[int, list[str]] = {}
        for row in conn.execute(stmt):
            by_doc.setdefault(row.doc_id, []).append(row.value)
        phrases[lang] = by_doc
    return phrases


def published_names(conn: Connection) -> Iterable[tuple[int, str, int | None]]:
    """(id, source XML, concept id) of each GlossaryTermName version on cancer.gov."""
    stmt = (
        select(doc_version.c.id, doc_version.c.xml, query_term_pub.c.int_val)
        .join(
            pub_proc_doc,
            and_(
                pub_proc_doc.c.doc_id == doc_version.c.id,
                pub_proc_doc.c.doc_version == doc_version.c.num,
            ),
        )
        .join(
            pub_proc_cg,
            and_(
                pub_proc_cg.c.id == doc_version.c.id,
                pub_proc_cg.c.pub_proc == pub_proc_doc.c.pub_proc,
            ),
        )
        .join(query_term_pub, query_term_pub.c.doc_id == doc_version.c.id)
        .where(iequals(query_term_pub.c.path, CONCEPT_PATH))
        .order_by(doc_version.c.id)
    )
    for row in conn.execute(stmt):
        yield row.id, row.xml, row.int_val


def document_names(xml: str, doc_id: int) -> dict[str, list[str]]:
    """The names a GlossaryTermName offers the glossifier, per language (module docstring)."""
    root = parse_xml(xml, f"CDR{doc_id}")
    names: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    if get_text(root, "TermNameStatus") != "Rejected":
        for node in root.findall("TermName"):
            if node.get("ExcludeFromGlossifier") != "Yes":
                name = get_text(node, "TermNameString")
                if name is not None:
                    names["en"].append(name)
    for node in root.findall("TranslatedName"):
        if get_text(node, "TranslatedNameStatus") == "Rejected":
            continue
        if node.get("ExcludeFromGlossifier") != "Yes":
            name = get_text(node, "TermNameString")
            if name is not None:
                names["es"].append(name)
    return names


def collect_terms(conn: Connection, debug: Callable[[str], None] | None = None) -> GlossifierTerms:
    """The glossifier map of the published glossary (module docstring).

    A document whose XML does not parse is left out and named in ``skipped``.
    """
    debug = debug or (lambda message: None)
    concepts = concept_dictionaries(conn)
    debug(f"fetched dictionaries of {len(concepts)} concepts")
    phrases = extra_phrases(conn)
    for lang in LANGUAGES:
        debug(f"fetched {sum(map(len, phrases[lang].values()))} extra {lang} phrases")
    usages: dict[UsageKey, set[int]] = {}
    documents = 0
    skipped: list[str] = []
    for doc_id, xml, concept_id in published_names(conn):
        try:
            names = document_names(xml, doc_id)
        except XmlError as exc:
            skipped.append(str(exc))
            continue
        documents += 1
        dictionaries = concepts.get(concept_id) if concept_id is not None else None
        for lang in LANGUAGES:
            found = names[lang] + phrases[lang].get(doc_id, [])
            wanted = sorted(dictionaries[lang]) if dictionaries else []
            for name in found:
                key = name_key(name)
                for dictionary in wanted or [None]:
                    usages.setdefault((key, lang, dictionary), set()).add(doc_id)
    debug(f"processed {documents} glossary term names, {len(usages)} usages")
    terms, duplicates = _resolve(usages)
    return GlossifierTerms(
        names=terms,
        duplicates=duplicates,
        documents=documents,
        concepts=len(concepts),
        phrases={lang: sum(map(len, phrases[lang].values())) for lang in LANGUAGES},
        skipped=skipped,
    )


def _resolve(
    usages: Mapping[UsageKey, set[int]],
) -> tuple[dict[str, dict[int, dict[str, set[str]]]], dict[UsageKey, list[int]]]:
    """Unique usages into the map (sorted by key, id), the others into the duplicates."""
    names: dict[str, dict[int, dict[str, set[str]]]] = {}
    duplicates: dict[UsageKey, list[int]] = {}
    for usage in sorted(usages, key=_usage_order):
        key, lang, dictionary = usage
        ids = usages[usage]
        if len(ids) > 1:
            duplicates[usage] = sorted(ids)
            continue
        (doc_id,) = ids
        languages = names.setdefault(key, {}).setdefault(doc_id, {})
        dictionaries = languages.setdefault(lang, set())
        if dictionary is not None:
            dictionaries.add(dictionary)
    for key in names:
        names[key] = dict(sorted(names[key].items()))
    return names, duplicates


def _usage_order(usage: UsageKey) -> tuple[str, str, bool, str]:
    """Phrase, language, then dictionary with None first (the legacy sort could crash here)."""
    key, lang, dictionary = usage
    return key, lang, dictionary is not None, dictionary or ""


def registered_servers(conn: Connection) -> dict[str, str]:
    """The CMS servers the CDR registers for this tier: alias -> base URL."""
    return control_group(conn, SERVERS_GROUP)


def save_terms(conn: Connection, terms_text: str, now: datetime) -> bool:
    """Store the map in the ``glossifier`` row (pk 1); True when the row existed.

    The legacy job updated the row and silently did nothing without it; here the row is
    created then, so the copy is never lost.
    """
    stmt = (
        update(glossifier)
        .where(glossifier.c.pk == GLOSSIFIER_PK)
        .values(refreshed=now, terms=terms_text)
    )
    if conn.execute(stmt).rowcount:
        return True
    conn.execute(insert(glossifier).values(pk=GLOSSIFIER_PK, refreshed=now, terms=terms_text))
    return False


# -- messages -----------------------------------------------------------------------------------


def duplicates_message(duplicates: Mapping[UsageKey, list[int]], host: str) -> tuple[str, str]:
    """Subject and plain-text body of the duplicate-mappings report (``host``: the short
    name of the machine, as the legacy job named it)."""
    host = host.upper()
    subject = f"DUPLICATE GLOSSARY TERM NAME MAPPINGS ON {host}"
    lines = [
        f"The following {len(duplicates)} sets of duplicate glossary mappings were found in the "
        f"CDR on {host}. Mappings for any phrase + language + dictionary must be unique. Please "
        "correct the data so that this requirement is met. You may need to look at the External "
        "Map Table for Glossary Terms to find some of the mappings."
    ]
    for usage in sorted(duplicates, key=_usage_order):
        key, lang, dictionary = usage
        lines.append("")
        lines.append(f"{key.upper()} (language={lang!r} dictionary={dictionary!r})")
        lines.extend(f"\tCDR{doc_id:010d}" for doc_id in duplicates[usage])
    return subject, "\n".join(lines) + "\n"


def failure_message(failures: Iterable[tuple[str, str, str]]) -> tuple[str, str]:
    """Subject (without the tier prefix) and body of the mail about servers that failed,
    from (alias, base URL, reason) triples."""
    body = "\n".join(f"Server {alias!r} at {base}: {reason}" for alias, base, reason in failures)
    return "Failure sending glossary information", body
