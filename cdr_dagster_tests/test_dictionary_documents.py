"""Glossary and drug documents, term by term, from exported CDR XML through our filters.

- The acceptance scenarios (docs/behaviour-notes.md#dictionary-documents) and full expected
  documents for
  English and Spanish, patient and health-professional definitions, and drug aliases.
- The golden documents of the consumer APIs (``data/reference``): an exported document
  carrying each golden document's content gives exactly that document (the media URLs are
  compared in the form the current filter writes; docs/behaviour-notes.md#dictionary-consumers).
- The rules shared by every filter: node conversion, pretty URL and first letter.
- The filter contract: fetched by title from the CDR (PostgreSQL), a change there flows
  through, and a filter can reach neither files nor the network.
"""

from __future__ import annotations

import copy
import json
import re
import string
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from lxml.builder import E
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.dictionaries.build import DRUGS, GLOSSARY, Dictionary, DocumentBuilder
from cdr_dagster.cdr.dictionaries.expected import drug_problems, glossary_problems
from cdr_dagster.cdr.dictionaries.filters import (
    DictionaryFilter,
    FilterError,
    FilterSource,
    install_filter,
    load_filter,
    packaged_filter,
)
from cdr_dagster.cdr.dictionaries.nodes import NodeError, element_value, node_documents
from cdr_dagster.cdr.dictionaries.text import clean_pretty_url, lowercase_first_letter
from cdr_dagster.cdr.schema import all_docs, doc_type

REFERENCE = Path(__file__).parent / "data" / "reference"


def build(dictionary: Dictionary, xml: str, tier: str = "DEV") -> dict[str, dict[str, Any]]:
    """{_id: source} for an exported document, with our own filter."""
    builder = DocumentBuilder(
        dictionary, DictionaryFilter(packaged_filter(dictionary.filter_title)), tier
    )
    built = builder.build(int(re.search(r'id="CDR(\d+)"', xml).group(1)), xml)
    documents = {d.id: d.source for d in built.documents}
    assert set(documents) == built.expected, "the expected ids disagree with the filter"
    assert len(documents) == len(built.documents), "two documents with the same _id"
    problems = dictionary.problems
    for doc_id, source in documents.items():
        assert problems(doc_id, source) == [], (doc_id, problems(doc_id, source))
    return documents


# --- glossary: the acceptance scenarios --------------------------------------------------------

SCENARIO_TERM = """
<GlossaryTerm id="CDR0000900100">
  <TermName>adjuvant therapy</TermName>
  <TermPronunciation>(A-joo-vunt THAYR-uh-pee)</TermPronunciation>
  <TermDefinition>
    <DefinitionText>Additional cancer treatment given after the primary treatment.</DefinitionText>
    <Dictionary>Cancer.gov</Dictionary>
    <Dictionary>Genetics</Dictionary>
    <Audience>Patient</Audience>
  </TermDefinition>
  <TermDefinition>
    <DefinitionText
      >Treatment given after the primary treatment to lower the risk of relapse.</DefinitionText>
    <Audience>Health professional</Audience>
  </TermDefinition>
  <MediaLink ref="CDR0000704104" type="audio/mpeg" language="en"/>
  <MediaLink ref="CDR0000764000" type="image/jpeg" alt="No language: never shown"/>
  <MediaLink ref="CDR0000764135" type="image/jpeg" alt="Chart of treatment steps" language="en"
             audience="Patients" placement="image-center">
    <Caption language="en">Adjuvant therapy follows surgery.</Caption>
    <Caption language="es">La terapia adyuvante sigue a la cirugía.</Caption>
  </MediaLink>
  <SpanishTermName>terapia adyuvante</SpanishTermName>
  <SpanishTermDefinition>
    <DefinitionText>Tratamiento adicional para el cáncer que se administra después del <!--
    -->tratamiento primario.</DefinitionText>
    <Dictionary>Cancer.gov</Dictionary>
    <Audience>Patient</Audience>
  </SpanishTermDefinition>
  <SpanishTermDefinition>
    <DefinitionText>Tratamiento que se administra después del tratamiento primario.</DefinitionText>
    <Audience>Health professional</Audience>
  </SpanishTermDefinition>
  <RelatedInformation>
    <RelatedSummaryRef href="CDR0000062955" url="/types/breast/hp/breast-treatment-pdq"
      UseWith="en">Breast Cancer Treatment</RelatedSummaryRef>
    <RelatedSummaryRef href="CDR0000256762" url="/espanol/tipos/seno/pro/tratamiento-seno-pdq"
      UseWith="es">Tratamiento del cáncer de seno</RelatedSummaryRef>
    <RelatedGlossaryTermRef href="CDR0000046658" UseWith="en"
      audience="Patients"> second primary cancer</RelatedGlossaryTermRef>
    <RelatedExternalRef xref="https://www.cancer.gov/about-cancer/treatment"
      UseWith="">No language</RelatedExternalRef>
  </RelatedInformation>
</GlossaryTerm>
"""

EN_PATIENT = {
    "term_id": 900100,
    "language": "en",
    "dictionary": "Cancer.gov",
    "audience": "Patient",
    "term_name": "adjuvant therapy",
    "first_letter": "a",
    "pretty_url_name": "adjuvant-therapy",
    "pronunciation": {
        "key": "(A-joo-vunt THAYR-uh-pee)",
        "audio": "https://nci-media-qa.cancer.gov/pdq/media/audio/704104.mp3",
    },
    "definition": {
        "text": "Additional cancer treatment given after the primary treatment.",
        "html": "Additional cancer treatment given after the primary treatment.",
    },
    "related_resources": [
        {
            "type": "Summary",
            "text": "Breast Cancer Treatment",
            "url": "https://www.cancer.gov/types/breast/hp/breast-treatment-pdq",
        },
        {
            "type": "GlossaryTerm",
            "text": "second primary cancer",
            "term_id": 46658,
            "audience": "Patient",
            "pretty_url_name": "-second-primary-cancer",
        },
    ],
    "media": [
        {
            "type": "Image",
            "ref": "CDR0000764135",
            "image_sources": [
                {
                    "size": "original",
                    "src": "https://nci-media-qa.cancer.gov/pdq/media/images/764135.jpg",
                },
                {
                    "size": "571",
                    "src": "https://nci-media-qa.cancer.gov/pdq/media/images/764135-571.jpg",
                },
                {
                    "size": "750",
                    "src": "https://nci-media-qa.cancer.gov/pdq/media/images/764135-750.jpg",
                },
            ],
            "alt": "Chart of treatment steps",
            "caption": "Adjuvant therapy follows surgery.",
            "template": "image-center",
        }
    ],
    "other_languages": [
        {"language": "es", "term_name": "terapia adyuvante", "pretty_url_name": "terapia-adyuvante"}
    ],
}

ES_PATIENT = {
    "term_id": 900100,
    "language": "es",
    "dictionary": "Cancer.gov",
    "audience": "Patient",
    "term_name": "terapia adyuvante",
    "first_letter": "t",
    "pretty_url_name": "terapia-adyuvante",
    "pronunciation": None,
    "definition": {
        "text": "Tratamiento adicional para el cáncer que se administra después del "
        "tratamiento primario.",
        "html": "Tratamiento adicional para el cáncer que se administra después del "
        "tratamiento primario.",
    },
    "related_resources": [
        {
            "type": "Summary",
            "text": "Tratamiento del cáncer de seno",
            "url": "https://www.cancer.gov/espanol/tipos/seno/pro/tratamiento-seno-pdq",
        }
    ],
    "other_languages": [
        {"language": "en", "term_name": "adjuvant therapy", "pretty_url_name": "adjuvant-therapy"}
    ],
}


def test_one_document_per_definition_audience_and_dictionary() -> None:
    """Scenarios 1 and 2: three patient documents, and one NotSet document per language."""
    documents = build(GLOSSARY, SCENARIO_TERM, tier="QA")
    assert list(documents) == [
        "900100_cancer.gov_en_patient",
        "900100_genetics_en_patient",
        "900100_notset_en_healthprofessional",
        "900100_cancer.gov_es_patient",
        "900100_notset_es_healthprofessional",
    ]
    assert documents["900100_cancer.gov_en_patient"] == EN_PATIENT
    assert documents["900100_cancer.gov_es_patient"] == ES_PATIENT
    genetics = documents["900100_genetics_en_patient"]
    assert genetics["dictionary"] == "Genetics"
    assert "other_languages" not in genetics  # no Spanish Genetics definition
    for key in ("900100_notset_en_healthprofessional", "900100_notset_es_healthprofessional"):
        assert documents[key]["dictionary"] == "NotSet"
        assert documents[key]["audience"] == "HealthProfessional"
        assert "other_languages" not in documents[key]  # the legacy "NotFound" quirk


def test_health_professional_document_in_full() -> None:
    """A health-professional definition: no patient image, the English audio and key."""
    documents = build(GLOSSARY, SCENARIO_TERM, tier="QA")
    assert documents["900100_notset_en_healthprofessional"] == {
        "term_id": 900100,
        "language": "en",
        "dictionary": "NotSet",
        "audience": "HealthProfessional",
        "term_name": "adjuvant therapy",
        "first_letter": "a",
        "pretty_url_name": "adjuvant-therapy",
        "pronunciation": {
            "key": "(A-joo-vunt THAYR-uh-pee)",
            "audio": "https://nci-media-qa.cancer.gov/pdq/media/audio/704104.mp3",
        },
        "definition": {
            "text": "Treatment given after the primary treatment to lower the risk of relapse.",
            "html": "Treatment given after the primary treatment to lower the risk of relapse.",
        },
        "related_resources": EN_PATIENT["related_resources"],
    }
    spanish = documents["900100_notset_es_healthprofessional"]
    assert spanish["pronunciation"] is None  # no Spanish audio, and the key is English only
    assert "media" not in spanish and spanish["term_name"] == "terapia adyuvante"


@pytest.mark.parametrize(
    ("tier", "host"),
    [
        ("DEV", "nci-media-dev"),
        ("QA", "nci-media-qa"),
        ("STAGE", "nci-media-stage"),
        ("PROD", "nci-media"),
    ],
)
def test_media_urls_name_the_tier(tier: str, host: str) -> None:
    """Scenario 3: the audio and image URLs carry the tier, and no tier on PROD."""
    document = build(GLOSSARY, SCENARIO_TERM, tier=tier)["900100_cancer.gov_en_patient"]
    assert document["pronunciation"]["audio"] == (
        f"https://{host}.cancer.gov/pdq/media/audio/704104.mp3"
    )
    assert document["media"][0]["image_sources"][0]["src"] == (
        f"https://{host}.cancer.gov/pdq/media/images/764135.jpg"
    )


def test_media_follow_language_and_audience() -> None:
    """Scenario 4 and the rest of the media rules: an empty language means any language, a
    missing audience any audience; videos have a title and the caption of their language."""
    xml = """
    <GlossaryTerm id="CDR0000900200">
      <TermName>lymph node</TermName>
      <TermDefinition><DefinitionText>A small bean-shaped structure.</DefinitionText>
        <Dictionary>Cancer.gov</Dictionary><Audience>Patient</Audience></TermDefinition>
      <TermDefinition><DefinitionText>A secondary lymphoid organ.</DefinitionText>
        <Dictionary>Cancer.gov</Dictionary><Audience>Health professional</Audience></TermDefinition>
      <MediaLink ref="CDR0000001001" type="image/jpeg" alt="any language, HP" language=""
                 audience="Health_professionals" placement="image-left">
        <Caption language="">Every language</Caption></MediaLink>
      <MediaLink ref="CDR0000001002" type="image/jpeg" alt="es only" language="es"/>
      <EmbeddedVideo ref="CDR0000001003" hosting="youtube" unique_id="abc_-123" language="en"
                     template="Video100Title">
        <VideoTitle>  How lymph
           nodes work </VideoTitle>
        <Caption language="es">Spanish caption</Caption>
        <Caption language="en">English caption</Caption>
      </EmbeddedVideo>
      <SpanishTermName>ganglio linfático</SpanishTermName>
    </GlossaryTerm>
    """
    documents = build(GLOSSARY, xml)
    patient = documents["900200_cancer.gov_en_patient"]
    professional = documents["900200_cancer.gov_en_healthprofessional"]
    assert patient["media"] == [
        {
            "type": "Video",
            "ref": "CDR0000001003",
            "hosting": "youtube",
            "unique_id": "abc_-123",
            "template": "Video100Title",
            "title": "How lymph nodes work",
            "caption": "English caption",
        }
    ]
    assert [m["ref"] for m in professional["media"]] == ["CDR0000001001", "CDR0000001003"]
    image = professional["media"][0]
    assert image["caption"] == "Every language" and image["template"] == "image-left"
    assert [s["size"] for s in image["image_sources"]] == ["original", "571", "750"]
    assert patient["pronunciation"] is None and "related_resources" not in patient
    assert "other_languages" not in patient  # a Spanish name without a Spanish definition


def test_definition_markup_becomes_html_and_text_keeps_its_whitespace() -> None:
    xml = """
    <GlossaryTerm id="CDR0000900300">
      <TermName>BRCA1</TermName>
      <TermDefinition><DefinitionText>A <GeneName> gene </GeneName> on
          chromosome 17; see <ExternalRef xref="https://www.genome.gov/x">NHGRI</ExternalRef>,
          <SummaryRef href="CDR0000062855"
            url="/types/breast/hp/breast-genetics-pdq">the summary</SummaryRef>,
          <ScientificName>E. coli</ScientificName>, <Emphasis>rare</Emphasis> and <!--
          --><Strong>bold</Strong> &amp; more.</DefinitionText>
        <Dictionary>Genetics</Dictionary><Audience>Health professional</Audience></TermDefinition>
    </GlossaryTerm>
    """
    document = build(GLOSSARY, xml)["900300_genetics_en_healthprofessional"]
    assert document["definition"]["text"] == (
        "A  gene  on\n          chromosome 17; see NHGRI,\n          the summary,\n"
        "          E. coli, rare and bold & more."
    )
    assert document["definition"]["html"] == (
        'A <em class="gene-name">gene</em> on\n          chromosome 17; see '
        '<a href="https://www.genome.gov/x">NHGRI</a>,\n          '
        '<a href="https://www.cancer.gov/types/breast/hp/breast-genetics-pdq">the summary</a>,'
        '\n          <em class="scientific-name">E. coli</em>, <em>rare</em> and '
        "<strong>bold</strong> & more."
    )


def test_overlong_name_gives_an_empty_url_name() -> None:
    """Scenario 5: more than 75 characters once made into a URL name gives ""."""
    name = "stage IIIA non-small cell lung cancer with mediastinal lymph nodes involved ok"
    assert len(name) == 78, f"the test name is {len(name)} characters, not 78: {name!r}"
    xml = f"""<GlossaryTerm id="CDR0000900400"><TermName>{name}</TermName>
      <TermDefinition><DefinitionText>A stage.</DefinitionText>
      <Dictionary>Cancer.gov</Dictionary><Audience>Health professional</Audience></TermDefinition>
    </GlossaryTerm>"""
    document = build(GLOSSARY, xml)["900400_cancer.gov_en_healthprofessional"]
    assert document["pretty_url_name"] == "" and document["first_letter"] == "s"


def test_spanish_definition_without_a_spanish_name_fails_naming_the_term() -> None:
    """The legacy load crashed with a TypeError; ours fails too, saying which and why."""
    xml = """<GlossaryTerm id="CDR0000900500"><TermName>x-ray</TermName>
      <SpanishTermDefinition><DefinitionText>Rayos.</DefinitionText>
      <Dictionary>Cancer.gov</Dictionary><Audience>Patient</Audience></SpanishTermDefinition>
    </GlossaryTerm>"""
    with pytest.raises(
        NodeError,
        match=r"CDR0000900500 node '900500_cancer.gov_es_patient'.*"
        r"pretty_url_name",
    ):
        build(GLOSSARY, xml)


# --- drugs --------------------------------------------------------------------------------------

DRUG_TERM = """
<Term id="CDR0000702758" NCIThesaurusConceptID=" C106250 ">
  <PreferredName>atezolizumab</PreferredName>
  <OtherName><OtherTermName>Tecentriq</OtherTermName>
    <OtherNameType>US brand name</OtherNameType></OtherName>
  <OtherName><OtherTermName> MPDL3280A </OtherTermName><OtherNameType>Code name</OtherNameType>
    <OtherNameType>Synonym</OtherNameType></OtherName>
  <Definition>
    <DefinitionText>A monoclonal antibody against <ExternalRef
      xref="https://ncit.nci.nih.gov/C106250">PD-L1</ExternalRef>.<ExtraDefinitionLinks
      >Check for trials</ExtraDefinitionLinks></DefinitionText>
    <DefinitionType>Health professional</DefinitionType>
  </Definition>
  <CGovInfo>
    <DISUrl>https://www.cancer.gov/about-cancer/treatment/drugs/atezolizumab</DISUrl>
    <DISTitle>Atezolizumab</DISTitle>
    <NCITName>Atezolizumab</NCITName>
  </CGovInfo>
</Term>
"""


def test_drug_document_and_one_alias_document_per_other_name() -> None:
    """Scenario 6: ids n, n-1, n-2; term_id is a string; aliases carry the drug's URL name."""
    documents = build(DRUGS, DRUG_TERM)
    assert documents == {
        "702758": {
            "term_id": "702758",
            "name": "atezolizumab",
            "first_letter": "a",
            "type": "DrugTerm",
            "term_name_type": "PreferredName",
            "pretty_url_name": "atezolizumab",
            "aliases": [
                {"type": "USBrandName", "name": "Tecentriq"},
                {"type": "CodeName", "name": "MPDL3280A"},
            ],
            "definition": {
                "text": "A monoclonal antibody against PD-L1.",
                "html": 'A monoclonal antibody against <a href="https://ncit.nci.nih.gov/C106250">'
                "PD-L1</a>.",
            },
            "drug_info_summary_link": {
                "url": "https://www.cancer.gov/about-cancer/treatment/drugs/atezolizumab",
                "text": "Atezolizumab",
            },
            "nci_concept_id": "C106250",
            "nci_concept_name": "Atezolizumab",
        },
        "702758-1": {
            "term_id": "702758",
            "name": "Tecentriq",
            "first_letter": "t",
            "type": "DrugAlias",
            "term_name_type": "USBrandName",
            "pretty_url_name": "atezolizumab",
            "preferred_name": "atezolizumab",
        },
        "702758-2": {
            "term_id": "702758",
            "name": "MPDL3280A",
            "first_letter": "m",
            "type": "DrugAlias",
            "term_name_type": "CodeName",
            "pretty_url_name": "atezolizumab",
            "preferred_name": "atezolizumab",
        },
    }


def test_drug_without_definition_gives_no_documents() -> None:
    xml = """<Term id="CDR0000799101"><PreferredName>agent X</PreferredName>
      <OtherName><OtherTermName>X-1</OtherTermName>
        <OtherNameType>Code name</OtherNameType></OtherName>
    </Term>"""
    assert build(DRUGS, xml) == {}


def test_drug_without_thesaurus_name_or_summary_link() -> None:
    """The URL name comes from the preferred name; half a summary link is no link."""
    xml = """<Term id="CDR0000043234"><PreferredName>α-Fetoprotein 50% Test</PreferredName>
      <Definition><DefinitionText>Old.</DefinitionText><DefinitionType>x</DefinitionType></Definition>
      <Definition><DefinitionText>Newer.</DefinitionText><DefinitionType>x</DefinitionType></Definition>
      <CGovInfo><DISUrl>https://www.cancer.gov/x</DISUrl><DISTitle> </DISTitle></CGovInfo>
    </Term>"""
    assert build(DRUGS, xml)["43234"] == {
        "term_id": "43234",
        "name": "α-Fetoprotein 50% Test",
        "first_letter": "#",
        "type": "DrugTerm",
        "term_name_type": "PreferredName",
        "pretty_url_name": "a-fetoprotein-50pct-test",
        "definition": {"text": "Newer.", "html": "Newer."},
    }


@pytest.mark.parametrize(
    ("schema_value", "enum_value"),
    [
        ("US brand name", "USBrandName"),
        ("Foreign brand name", "ForeignBrandName"),
        ("Code name", "CodeName"),
        ("IND code", "INDCode"),
        ("NSC number", "NSCNumber"),
        ("CAS Registry name", "CASRegistryName"),
        ("Chemical structure name", "ChemicalStructureName"),
        ("Lexical variant", "LexicalVariant"),
        ("Common usage", "CommonUsage"),
        ("Related string", "RelatedString"),
        ("Obsolete name", "ObsoleteName"),
        ("Acronym", "Acronym"),
        ("Abbreviation", "Abbreviation"),
        ("Synonym", "Synonym"),
        ("Broader", "Broader"),
        ("Subtype", "Subtype"),
        ("Spanish", "Spanish"),
    ],
)
def test_other_name_types_become_the_drug_api_enum(schema_value: str, enum_value: str) -> None:
    xml = f"""<Term id="CDR0000000007"><PreferredName>d</PreferredName>
      <OtherName><OtherTermName>o</OtherTermName><OtherNameType>{schema_value}</OtherNameType>
      </OtherName><Definition><DefinitionText>t</DefinitionText></Definition></Term>"""
    documents = build(DRUGS, xml)
    assert documents["7-1"]["term_name_type"] == enum_value
    assert documents["7"]["aliases"] == [{"type": enum_value, "name": "o"}]


@pytest.mark.parametrize(
    ("schema_value", "name_type"),
    [
        ("  us   brand  name ", "UsBrandName"),
        ("a b c d e f", "ABCDEF"),
        ("Code name=CodeName|IND code", "CodeName=CodeName|INDCode"),
        ("|Code name", "|CodeName"),
    ],
)
def test_other_name_types_outside_the_schema_get_the_word_rule(
    schema_value: str, name_type: str
) -> None:
    """The filter looks the schema's values up in a table; anything else (even text that
    would match across its entries) still gets the word-by-word rule."""
    xml = f"""<Term id="CDR0000000007"><PreferredName>d</PreferredName>
      <OtherName><OtherTermName>o</OtherTermName><OtherNameType>{schema_value}</OtherNameType>
      </OtherName><Definition><DefinitionText>t</DefinitionText></Definition></Term>"""
    builder = DocumentBuilder(DRUGS, DictionaryFilter(packaged_filter(DRUGS.filter_title)), "DEV")
    documents = {d.id: d.source for d in builder.build(7, xml).documents}
    assert documents["7-1"]["term_name_type"] == name_type
    assert documents["7"]["aliases"] == [{"type": name_type, "name": "o"}]


# --- the golden documents of the consumer APIs -------------------------------------------------

GLOSSARY_GOLDEN = sorted((REFERENCE / "glossary-api").glob("*.json"))
DRUG_GOLDEN = sorted((REFERENCE / "drug-dictionary-api").glob("success-*.json"))
AUDIENCE_ATTRIBUTE = {"Patient": "Patients", "HealthProfessional": "Health_professionals"}
AUDIENCE_TEXT = {"Patient": "Patient", "HealthProfessional": "Health professional"}
OLD_MEDIA = re.compile(
    r"https://nci-media-dev\.cancer\.gov/(audio|images)/pdq/(?:CDR)?(\d+)((?:-\d+)?\.\w+)"
)


def _number(url: str) -> int:
    return int(OLD_MEDIA.fullmatch(url).group(2))


def exported_glossary_term(golden: dict[str, Any]) -> str:
    """An exported GlossaryTerm carrying the content of a golden (English) document."""
    n = golden["term_id"]
    definition = E.TermDefinition(
        E.DefinitionText(golden["definition"]["text"]),
        E.Dictionary(golden["dictionary"]),
        E.Audience(AUDIENCE_TEXT[golden["audience"]]),
    )
    term = E.GlossaryTerm(E.TermName(golden["term_name"]), id=f"CDR{n:010d}")
    pronunciation = golden.get("pronunciation") or {}
    if pronunciation.get("key"):
        term.append(E.TermPronunciation(pronunciation["key"]))
    term.append(definition)
    if pronunciation.get("audio"):
        ref = f"CDR{_number(pronunciation['audio']):010d}"
        term.append(E.MediaLink(ref=ref, type="audio/mpeg", language="en"))
    audience = AUDIENCE_ATTRIBUTE[golden["audience"]]
    for media in golden.get("media", []):
        if media["type"].lower() == "image":
            link = E.MediaLink(
                ref=media["ref"],
                type="image/jpeg",
                alt=media["alt"],
                language="en",
                audience=audience,
                placement=media["template"],
            )
        else:
            link = E.EmbeddedVideo(
                E.VideoTitle(media["title"]),
                ref=media["ref"],
                hosting=media["hosting"],
                unique_id=media["unique_id"],
                language="en",
                audience=audience,
                template=media["template"],
            )
        link.append(E.Caption(media["caption"], language="en"))
        term.append(link)
    for other in golden.get("other_languages", []):
        term.append(E.SpanishTermName(other["term_name"]))
        term.append(
            E.SpanishTermDefinition(
                E.DefinitionText("Definición."),
                E.Dictionary(golden["dictionary"]),
                E.Audience(AUDIENCE_TEXT[golden["audience"]]),
            )
        )
    related = E.RelatedInformation()
    for resource in golden.get("related_resources", []):
        kind = resource["type"]
        if kind == "External":
            related.append(
                E.RelatedExternalRef(resource["text"], xref=resource["url"], UseWith="en")
            )
        elif kind == "GlossaryTerm":
            related.append(
                E.RelatedGlossaryTermRef(
                    resource["text"],
                    href=f"CDR{resource['term_id']:010d}",
                    UseWith="en",
                    audience=AUDIENCE_ATTRIBUTE[resource["audience"]],
                )
            )
        else:
            tag = "RelatedSummaryRef" if kind == "Summary" else "RelatedDrugSummaryRef"
            url = resource["url"].removeprefix("https://www.cancer.gov")
            related.append(E(tag, resource["text"], href="CDR0000000001", url=url, UseWith="en"))
    if len(related):
        term.append(related)
    return etree.tostring(term, encoding="unicode")


def current_media_urls(golden: dict[str, Any]) -> dict[str, Any]:
    """The golden document with media URLs in the form the current filter writes (the filter is
    authoritative) and media types as it spells them."""
    document = copy.deepcopy(golden)

    def new(url: str) -> str:
        kind, number, rest = OLD_MEDIA.fullmatch(url).groups()
        return f"https://nci-media-dev.cancer.gov/pdq/media/{kind}/{number}{rest}"

    if document.get("pronunciation") and document["pronunciation"].get("audio"):
        document["pronunciation"]["audio"] = new(document["pronunciation"]["audio"])
    for media in document.get("media", []):
        media["type"] = media["type"].capitalize()
        for source in media.get("image_sources", []):
            source["src"] = new(source["src"])
    return document


@pytest.mark.parametrize("path", GLOSSARY_GOLDEN, ids=lambda p: p.stem)
def test_glossary_documents_match_the_glossary_api_golden_documents(path: Path) -> None:
    golden = json.loads(path.read_text(encoding="utf-8"))
    documents = build(GLOSSARY, exported_glossary_term(golden["_source"]))
    assert documents[golden["_id"]] == current_media_urls(golden["_source"])


DRUG_TYPE_VALUES = {
    "USBrandName": "US brand name",
    "ForeignBrandName": "Foreign brand name",
    "CodeName": "Code name",
    "INDCode": "IND code",
    "NSCNumber": "NSC number",
    "CASRegistryName": "CAS Registry name",
    "ChemicalStructureName": "Chemical structure name",
    "LexicalVariant": "Lexical variant",
    "CommonUsage": "Common usage",
    "RelatedString": "Related string",
    "ObsoleteName": "Obsolete name",
}


def exported_drug_term(golden: dict[str, Any]) -> str:
    """An exported Term carrying the content of a drug dictionary API response."""
    term = E.Term(E.PreferredName(golden["name"]), id=f"CDR{golden['termId']:010d}")
    term.set("NCIThesaurusConceptID", golden["nciConceptId"])
    for alias in golden["aliases"]:
        kind = DRUG_TYPE_VALUES.get(alias["type"], alias["type"])
        term.append(E.OtherName(E.OtherTermName(alias["name"]), E.OtherNameType(kind)))
    term.append(
        E.Definition(
            E.DefinitionText(golden["definition"]["text"]),
            E.DefinitionType("Health professional"),
        )
    )
    link = golden["drugInfoSummaryLink"]
    term.append(
        E.CGovInfo(
            E.DISUrl(link["uri"]), E.DISTitle(link["text"]), E.NCITName(golden["nciConceptName"])
        )
    )
    return etree.tostring(term, encoding="unicode")


def as_api_response(source: dict[str, Any]) -> dict[str, Any]:
    """A DrugTerm document as the drug dictionary API returns it (its field names)."""
    link = source["drug_info_summary_link"]
    return {
        "aliases": source["aliases"],
        "definition": source["definition"],
        "drugInfoSummaryLink": {"uri": link["url"], "text": link["text"]},
        "nciConceptId": source["nci_concept_id"],
        "nciConceptName": source["nci_concept_name"],
        "termId": int(source["term_id"]),
        "name": source["name"],
        "firstLetter": source["first_letter"],
        "type": source["type"],
        "termNameType": source["term_name_type"],
        "prettyUrlName": source["pretty_url_name"],
    }


@pytest.mark.parametrize("path", DRUG_GOLDEN, ids=lambda p: p.stem)
def test_drug_documents_match_the_drug_api_golden_responses(path: Path) -> None:
    golden = json.loads(path.read_text(encoding="utf-8"))
    documents = build(DRUGS, exported_drug_term(golden))
    main = str(golden["termId"])
    assert as_api_response(documents[main]) == golden
    aliases = [documents[f"{main}-{i}"] for i in range(1, len(golden["aliases"]) + 1)]
    assert [{"type": a["term_name_type"], "name": a["name"]} for a in aliases] == golden["aliases"]
    assert {a["preferred_name"] for a in aliases} == {golden["name"]}
    assert {a["pretty_url_name"] for a in aliases} == {golden["prettyUrlName"]}
    expected = {main, *(f"{main}-{i}" for i in range(1, len(aliases) + 1))}
    extra = sorted(set(documents) - expected)
    assert len(documents) == len(golden["aliases"]) + 1, f"unexpected documents: {extra}"


#: The golden documents shipped in cdr_dagster_tests/data/reference (see its README).
GLOSSARY_GOLDEN_IDS = (
    "339337_genetics_en_healthprofessional",
    "43966_cancer.gov_en_patient",
    "44058_cancer.gov_en_patient",
    "44178_cancer.gov_en_patient",
    "44386_cancer.gov_en_patient",
    "445043_cancer.gov_en_patient",
    "44759_cancer.gov_en_patient",
)
DRUG_GOLDEN_NAMES = (
    "atezolizumab",
    "avelumab",
    "bevacizumab",
    "durvalumab",
    "ipilimumab",
    "nivolumab",
    "pembrolizumab",
    "trastuzumab",
)


def test_the_reference_data_is_there() -> None:
    glossary = {path.stem for path in GLOSSARY_GOLDEN}
    drugs = {path.stem.removeprefix("success-") for path in DRUG_GOLDEN}
    missing = [f"glossary-api/{name}.json" for name in GLOSSARY_GOLDEN_IDS if name not in glossary]
    missing += [
        f"drug-dictionary-api/success-{n}.json" for n in DRUG_GOLDEN_NAMES if n not in drugs
    ]
    assert not missing, f"missing from {REFERENCE}: {', '.join(missing)}"


# --- rules shared by the filters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("Sézary Syndrome", "sezary-syndrome"),
        ("α-Fetoprotein 50% Test", "a-fetoprotein-50pct-test"),
        ("Colon/Rectal Cancer; Other & More", "colon-rectal-cancer--other---more"),
        ("Ewing’s Sarcoma", "ewings-sarcoma"),
        (" second primary cancer", "-second-primary-cancer"),
        ('β "μ" [x]: (y), z+w*v\\u：ª.', "b-u-x-y-zwvu"),
        ("under_score – dash", "under-score---dash"),
        ("Ümlaut ß ® ! ? # 5", "umlaut-ß-®-!-?-#-5"),
        ("x" * 75, "x" * 75),
        ("x" * 76, ""),
    ],
)
def test_pretty_url_rule(name: str, url: str) -> None:
    assert clean_pretty_url(name) == url


@pytest.mark.parametrize(
    ("name", "letter"),
    [
        ("ácido", "a"),
        ("5-FU", "#"),
        ("¿", "#"),
        ("", "#"),
        ("  ", "#"),
        (None, "#"),
        ("  Zeta", "z"),
        ("Édition", "e"),
        ("ßeta", "#"),
    ],
)
def test_first_letter_rule(name: str | None, letter: str) -> None:
    assert lowercase_first_letter(name) == letter


def test_node_conversion_rules() -> None:
    node = etree.fromstring(
        """<node id="n1">
          <a type="int">42</a><b type="true">x</b><c type="false"/><d type="null">text</d>
          <e type="array-member">1</e><e type="array-member">2</e>
          <f type="array-member int">3</f><f type="int array-member">4</f>
          <g/><h>first</h><h>last</h>
          <i><j>deep</j><k><l type="array-member"><m>x</m></l></k></i>
          <u processor="clean_pretty_url">Two Words</u>
          <v processor="lowercase_first_letter"/>
          <!-- a comment is not a field -->
          <w>  kept  as  is </w>
        </node>"""
    )
    assert element_value(node) == {
        "a": 42,
        "b": True,
        "c": False,
        "d": None,
        "e": ["1", "2"],
        "f": [3, 4],
        "g": None,
        "h": "last",
        "i": {"j": "deep", "k": {"l": [{"m": "x"}]}},
        "u": "two-words",
        "v": "#",
        "w": "  kept  as  is ",
    }


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ('<x type="int">4a</x>', r"'4a', not an integer"),
        ('<x type="int"/>', r"None, not an integer"),
        ('<x processor="shout">a</x>', r"unknown processor 'shout'"),
        ('<x processor="clean_pretty_url"/>', r"has no text"),
    ],
)
def test_node_conversion_errors_name_the_node(element: str, message: str) -> None:
    nodes = etree.fromstring(f'<nodes><node id="CDR1 node">{element}</node></nodes>')
    with pytest.raises(NodeError, match=message):
        list(node_documents(nodes, "CDR0000000001"))


def test_problems_name_what_each_api_needs() -> None:
    document = dict(EN_PATIENT)
    assert glossary_problems("900100_cancer.gov_en_patient", document) == []
    del document["first_letter"]
    document["audience"] = "Patients"
    assert glossary_problems("900100_cancer.gov_en_patient", document) == [
        "audience 'Patients' is not Patient/HealthProfessional",
        "first_letter is not one character",
    ]
    assert glossary_problems("wrong", EN_PATIENT) == [
        "_id is not '900100_cancer.gov_en_patient', so the API cannot get it by id"
    ]
    alias = {
        "term_id": "1",
        "name": "n",
        "first_letter": "n",
        "type": "DrugAlias",
        "term_name_type": "Brand",
        "pretty_url_name": "d",
    }
    assert drug_problems("1-1", alias) == [
        "term_name_type 'Brand' is not in the enum",
        "preferred_name is missing",
    ]


# --- the filter contract ------------------------------------------------------------------------


def test_filters_come_from_the_cdr_by_title(cdr_db: Engine) -> None:
    with cdr_db.begin() as conn:
        install_filter(conn, GLOSSARY.filter_title)
        install_filter(conn, DRUGS.filter_title)
    with cdr_db.connect() as conn:
        glossary = load_filter(conn, "index glossary DICTIONARY")  # as SQL Server compares
        assert glossary.source.title == "Index Glossary Dictionary"
        assert glossary.source.doc_id is not None
        assert "CDR00000" in glossary.source.name
        with pytest.raises(FilterError, match="no Filter document titled 'Index Nothing'"):
            load_filter(conn, "Index Nothing")


def test_a_filter_changed_in_the_cdr_flows_through(cdr_db: Engine) -> None:
    changed = packaged_filter(DRUGS.filter_title).xml.replace(
        "<type>DrugTerm</type>", "<type>DrugAlias</type>"
    )
    with cdr_db.begin() as conn:
        install_filter(conn, DRUGS.filter_title)
        install_filter(conn, DRUGS.filter_title, changed)  # an edit of the same document
    with cdr_db.connect() as conn:
        builder = DocumentBuilder(DRUGS, load_filter(conn, DRUGS.filter_title), "DEV")
    built = builder.build(702758, DRUG_TERM)
    assert built.documents[0].source["type"] == "DrugAlias"


def test_two_filters_with_one_title_are_refused(cdr_db: Engine) -> None:
    with cdr_db.begin() as conn:
        install_filter(conn, GLOSSARY.filter_title)
        type_id = conn.execute(doc_type.select()).first().id
        conn.execute(
            insert(all_docs).values(
                id=999, doc_type=type_id, title="Index Glossary Dictionary", xml="<x/>"
            )
        )
    with cdr_db.connect() as conn, pytest.raises(FilterError, match="several .* CDR0000000999"):
        load_filter(conn, GLOSSARY.filter_title)


@pytest.mark.parametrize(
    "reach",
    [
        "document('file:///etc/passwd')",
        "document('http://127.0.0.1:9/x.xml')",
    ],
)
def test_a_filter_reaches_neither_files_nor_the_network(reach: str) -> None:
    xslt = f"""<xsl:transform xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">
      <xsl:template match="/"><nodes><node id="1"><x><xsl:value-of select="{reach}"/></x>
      </node></nodes></xsl:template></xsl:transform>"""
    transform = DictionaryFilter(FilterSource(1, "Evil", xslt))
    with pytest.raises(FilterError, match="Evil"):
        transform.apply(etree.fromstring("<Term/>"), "DEV")


def test_a_filter_cannot_write_files(tmp_path: Path) -> None:
    target = tmp_path / "written.xml"
    xslt = f"""<xsl:transform xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
        xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl" version="1.0">
      <xsl:template match="/"><exsl:document href="{target.as_uri()}"><x/></exsl:document>
      <nodes/></xsl:template></xsl:transform>"""
    with pytest.raises(FilterError):
        DictionaryFilter(FilterSource(1, "Writer", xslt)).apply(etree.fromstring("<a/>"), "DEV")
    assert not target.exists()


def test_a_filter_may_use_exslt_functions_as_the_legacy_loader_allowed() -> None:
    xslt = """<xsl:transform xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
        xmlns:re="http://exslt.org/regular-expressions" xmlns:str="http://exslt.org/strings"
        version="1.0">
      <xsl:template match="/"><nodes><node id="1">
        <name><xsl:value-of select="re:replace(Term/@name, '\\s+', 'g', '-')"/></name>
        <pad><xsl:value-of select="str:padding(2, '*')"/></pad>
      </node></nodes></xsl:template></xsl:transform>"""
    transform = DictionaryFilter(FilterSource(1, "Uses EXSLT", xslt))

    result = transform.apply(etree.fromstring('<Term name="a  b c"/>'), "DEV")

    assert [d.source for d in node_documents(result, "CDR1")] == [{"name": "a-b-c", "pad": "**"}]


def test_exported_xml_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    xml = f"""<!DOCTYPE GlossaryTerm [<!ENTITY x SYSTEM "{secret.as_uri()}">]>
    <GlossaryTerm id="CDR0000900600"><TermName>leak &x;</TermName>
      <TermDefinition><DefinitionText>d</DefinitionText><Audience>Patient</Audience>
      </TermDefinition></GlossaryTerm>"""
    documents = build(GLOSSARY, xml)
    assert "s3cret" not in json.dumps(documents)


def test_a_broken_filter_is_named() -> None:
    with pytest.raises(FilterError, match="'Broken' .* not a usable XSLT filter"):
        DictionaryFilter(FilterSource(None, "Broken", "<xsl:transform"))


@pytest.mark.parametrize(
    "text",
    [
        "Patient",
        "Health professional",
        "Health  professional",
        " Patient",
        "Patient ",
        "Health\tprofessional",
        "Health\r\nprofessional\n",
        "Health\u00a0professional",
        "",
    ],
)
def test_expected_ids_read_audiences_and_dictionaries_as_normalize_space_does(text: str) -> None:
    """The expected ids read each Audience and Dictionary as XPath normalize-space() does,
    leaf or not (only XML white space is collapsed)."""
    from cdr_dagster.cdr.dictionaries.expected import glossary_ids

    for audience in (E.Audience(text), E.Audience(text, E.Emphasis("x"), " y ")):
        root = E.GlossaryTerm(E.TermDefinition(audience, E.Dictionary(text)), id="CDR0000000042")
        normalized = root.xpath("normalize-space(TermDefinition/Audience)")
        dictionary = root.xpath("normalize-space(TermDefinition/Dictionary)")
        key = f"42_{dictionary}_en_{normalized}"
        expected = key.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase, " "))
        assert glossary_ids(root) == {expected}
