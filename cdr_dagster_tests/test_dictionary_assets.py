"""The glossary_dictionary and drug_dictionary assets, run as their jobs with real resources.

The CDR is PostgreSQL (the ``cdr_db`` fixture) holding GlossaryTermName and Term documents on
cancer.gov, the semantic-type index, the ctl index definitions, our filters as CDR Filter
documents and the Developers Notification group; mail goes to the aiosmtpd server; the index
to the ES-compatible server and, unchanged, to a real cluster when CDR_TEST_ELASTICSEARCH_URL
is set (``search_cluster``). What is asserted is what the outside world saw: the indexes and
aliases, the documents, the mail, the run's checks and metadata.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from cdr_dagster.assets.dictionaries import assets, jobs
from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.dictionaries.checks import CHECK_FIELDS, CHECK_SIZE, CHECK_TERMS
from cdr_dagster.cdr.dictionaries.filters import install_filter, packaged_filter
from cdr_dagster.cdr.schema import all_docs, doc_type, pub_proc_cg, query_term
from cdr_dagster.legacy.catalogue import convert_options, find_job_class
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.search_index import SearchIndexResource
from cdr_dagster_tests.cdr_rows import add_group_members
from cdr_dagster_tests.es_server import (  # noqa: F401 - fixture
    SearchCluster,
    aliased,
    indexes,
    search_cluster,
)
from cdr_dagster_tests.services.smtp import SmtpServer

#: The demo's ctl rows dictionary/glossary and dictionary/drugs (index definitions).
DEMO_DATA = Path(__file__).resolve().parents[1] / "cdr_dagster" / "demo" / "data"
GLOSSARY_TITLE = "Index Glossary Dictionary"
SIZE_OPTIONS = {"max_shrink_percent", "accept_shrink"}
DRUG_TITLE = "Index Drug Dictionary"

# --- CDR content ------------------------------------------------------------------------------

METASTATIC = """<GlossaryTerm id="CDR0000044058">
  <TermName>metastatic</TermName>
  <TermPronunciation>(meh-tuh-STA-tik)</TermPronunciation>
  <TermDefinition>
    <DefinitionText>Having to do with metastasis, the spread of cancer.</DefinitionText>
    <Dictionary>Cancer.gov</Dictionary>
    <Audience>Patient</Audience>
  </TermDefinition>
  <MediaLink ref="CDR0000704104" type="audio/mpeg" language="en"/>
  <MediaLink ref="CDR0000764135" type="image/jpeg" alt="Metastasis" language="en"
             audience="Patients" placement="image-center">
    <Caption language="en">Cancer cells spread.</Caption>
  </MediaLink>
  <EmbeddedVideo ref="CDR0000787719" hosting="youtube" unique_id="fQwar_-QdiQ" language="en"
                 audience="Patients" template="Video75NoTitle">
    <VideoTitle>Metastasis: How Cancer Spreads</VideoTitle>
  </EmbeddedVideo>
  <SpanishTermName>metastásico</SpanishTermName>
  <SpanishTermDefinition>
    <DefinitionText>Se dice del cáncer que se diseminó.</DefinitionText>
    <Dictionary>Cancer.gov</Dictionary>
    <Audience>Patient</Audience>
  </SpanishTermDefinition>
  <RelatedInformation>
    <RelatedExternalRef xref="https://www.cancer.gov/types/metastatic-cancer"
      UseWith="en">Metastatic Cancer</RelatedExternalRef>
  </RelatedInformation>
</GlossaryTerm>"""

ALLELE = """<GlossaryTerm id="CDR0000339337">
  <TermName>allele</TermName>
  <TermPronunciation>(uh-LEEL)</TermPronunciation>
  <TermDefinition>
    <DefinitionText>One of the forms a <GeneName>gene</GeneName> can take.</DefinitionText>
    <Dictionary>Cancer.gov</Dictionary>
    <Audience>Patient</Audience>
  </TermDefinition>
  <TermDefinition>
    <DefinitionText>One of two or more DNA sequences at a locus.</DefinitionText>
    <Dictionary>Genetics</Dictionary>
    <Audience>Health professional</Audience>
  </TermDefinition>
  <MediaLink ref="CDR0000736960" type="audio/mpeg" language="en"/>
  <SpanishTermName>alelo</SpanishTermName>
  <SpanishTermDefinition>
    <DefinitionText>Una de las formas de un gen.</DefinitionText>
    <Dictionary>Cancer.gov</Dictionary>
    <Audience>Patient</Audience>
  </SpanishTermDefinition>
</GlossaryTerm>"""

ONCOGENE = """<GlossaryTerm id="CDR0000046574">
  <TermName>oncogene</TermName>
  <TermDefinition>
    <DefinitionText>A mutated gene that contributes to cancer.</DefinitionText>
    <Audience>Health professional</Audience>
  </TermDefinition>
</GlossaryTerm>"""

ATEZOLIZUMAB = """<Term id="CDR0000702758" NCIThesaurusConceptID="C106250">
  <PreferredName>atezolizumab</PreferredName>
  <OtherName><OtherTermName>Tecentriq</OtherTermName>
    <OtherNameType>US brand name</OtherNameType></OtherName>
  <OtherName><OtherTermName>MPDL3280A</OtherTermName><OtherNameType>Code name</OtherNameType>
  </OtherName>
  <Definition><DefinitionText>A monoclonal antibody against PD-L1.</DefinitionText>
    <DefinitionType>Health professional</DefinitionType></Definition>
  <CGovInfo><DISUrl>https://www.cancer.gov/about-cancer/treatment/drugs/atezolizumab</DISUrl>
    <DISTitle>Atezolizumab</DISTitle><NCITName>Atezolizumab</NCITName></CGovInfo>
</Term>"""

NIVOLUMAB = """<Term id="CDR0000539733" NCIThesaurusConceptID="C68814">
  <PreferredName>nivolumab</PreferredName>
  <OtherName><OtherTermName>Opdivo</OtherTermName>
    <OtherNameType>US brand name</OtherNameType></OtherName>
  <Definition><DefinitionText>A monoclonal antibody against PD-1.</DefinitionText>
    <DefinitionType>Health professional</DefinitionType></Definition>
</Term>"""

NO_DEFINITION = """<Term id="CDR0000799101"><PreferredName>agent X</PreferredName></Term>"""

NSCLC = """<Term id="CDR0000038891"><PreferredName>non-small cell lung cancer</PreferredName>
  <Definition><DefinitionText>A lung cancer.</DefinitionText></Definition></Term>"""

GLOSSARY_IDS = {
    "44058_cancer.gov_en_patient",
    "44058_cancer.gov_es_patient",
    "339337_cancer.gov_en_patient",
    "339337_genetics_en_healthprofessional",
    "339337_cancer.gov_es_patient",
    "46574_notset_en_healthprofessional",
}
DRUG_IDS = {"702758", "702758-1", "702758-2", "539733", "539733-1"}
DRUG_AGENT, DISEASE = 256164, 256180


def seed_cdr(engine: Engine, glossary_filter: str | None = None) -> None:
    """The CDR rows both loads read (module docstring); ``glossary_filter`` replaces the text
    of the CDR's glossary filter."""
    with engine.begin() as conn:
        types = {}
        for name in ("GlossaryTermName", "Term"):
            types[name] = conn.execute(
                insert(doc_type).values(name=name, format=1, created="2010-01-04")
            ).inserted_primary_key[0]

        def document(doc_id: int, kind: str, title: str, exported: str | None) -> None:
            conn.execute(
                insert(all_docs).values(
                    id=doc_id, doc_type=types[kind], title=title, xml=f"<{kind}/>"
                )
            )
            if exported is not None:
                conn.execute(insert(pub_proc_cg).values(id=doc_id, pub_proc=1, xml=exported))

        def semantic_type(doc_id: int, target: int) -> None:
            conn.execute(
                insert(query_term).values(
                    doc_id=doc_id,
                    path="/Term/SemanticType/@cdr:ref",
                    value=f"CDR{target:010d}",
                    int_val=target,
                    node_loc="000500",
                )
            )

        for doc_id, name, xml in (
            (44058, "metastatic", METASTATIC),
            (339337, "allele", ALLELE),
            (46574, "oncogene", ONCOGENE),
            (799041, "liquid biopsy", None),  # not on cancer.gov
        ):
            document(doc_id, "GlossaryTermName", name, xml)
        for doc_id, name in ((DRUG_AGENT, "Drug/agent"), (DISEASE, "Disease or Disorder")):
            document(doc_id, "Term", name, None)
            conn.execute(
                insert(query_term).values(
                    doc_id=doc_id, path="/Term/PreferredName", value=name, node_loc="0001"
                )
            )
        for doc_id, name, xml, kind in (
            (702758, "atezolizumab", ATEZOLIZUMAB, DRUG_AGENT),
            (539733, "nivolumab", NIVOLUMAB, DRUG_AGENT),
            (799101, "agent X", NO_DEFINITION, DRUG_AGENT),
            (38891, "non-small cell lung cancer", NSCLC, DISEASE),
        ):
            document(doc_id, "Term", name, xml)
            semantic_type(doc_id, kind)
        for name in ("glossary", "drugs"):
            text = (DEMO_DATA / f"ctl--dictionary--{name}.json").read_text(encoding="utf-8")
            set_control_value(conn, "dictionary", name, text)
        install_filter(conn, GLOSSARY_TITLE, glossary_filter)
        install_filter(conn, DRUG_TITLE)
    add_group_members(
        engine,
        "Developers Notification",
        [("ann", "ann@example.gov", False), ("gone", "gone@example.gov", True)],
    )


# --- running the jobs --------------------------------------------------------------------------


def definitions(engine: Engine, mailbox: SmtpServer, search_index: SearchIndexResource):
    cdr_db = CdrDatabaseResource(url=engine.url.render_as_string(hide_password=False))
    email = EmailResource(tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=cdr_db)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        resources={"cdr_db": cdr_db, "email": email, "search_index": search_index},
    )


def cluster_resource(cluster: SearchCluster, **settings: Any) -> SearchIndexResource:
    return SearchIndexResource(url=cluster.url, index_prefix=cluster.prefix, **settings)


def run(
    defs: dg.Definitions, dictionary: str, config: dict[str, Any] | None = None
) -> dg.ExecuteInProcessResult:
    """The job of the legacy ``dictionary`` option, with ``config`` as the legacy catalogue
    converts options to run config."""
    converted = convert_options(
        find_job_class("dictionary_api_loader.Loader"), {"dictionary": dictionary}
    )
    run_config = {"ops": {converted.node: {"config": config or {}}}}
    job = defs.resolve_job_def(converted.job)
    return job.execute_in_process(run_config=run_config, raise_on_error=False)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def index_documents(cluster: SearchCluster, name: str) -> dict[str, dict[str, Any]]:
    client = cluster.client()
    client.indices.refresh(index=name)
    hits = client.search(index=name, query={"match_all": {}}, size=1000)
    return {hit["_id"]: hit["_source"] for hit in hits["hits"]["hits"]}


def host_of(cluster: SearchCluster) -> str:
    return urlsplit(cluster.url).hostname or ""


# --- full loads ---------------------------------------------------------------------------------


def test_full_glossary_load(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    result = run(defs, "glossary")
    assert result.success
    alias = f"{search_cluster.prefix}glossaryv1"
    [index] = aliased(search_cluster, alias)
    assert re.fullmatch(rf"{alias}-\d{{14}}", index)
    documents = index_documents(search_cluster, alias)
    assert set(documents) == GLOSSARY_IDS
    assert documents["44058_cancer.gov_en_patient"] == {
        "term_id": 44058,
        "language": "en",
        "dictionary": "Cancer.gov",
        "audience": "Patient",
        "term_name": "metastatic",
        "first_letter": "m",
        "pretty_url_name": "metastatic",
        "pronunciation": {
            "key": "(meh-tuh-STA-tik)",
            "audio": "https://nci-media-dev.cancer.gov/pdq/media/audio/704104.mp3",
        },
        "definition": {
            "text": "Having to do with metastasis, the spread of cancer.",
            "html": "Having to do with metastasis, the spread of cancer.",
        },
        "related_resources": [
            {
                "type": "External",
                "text": "Metastatic Cancer",
                "url": "https://www.cancer.gov/types/metastatic-cancer",
            }
        ],
        "media": [
            {
                "type": "Image",
                "ref": "CDR0000764135",
                "image_sources": [
                    {
                        "size": "original",
                        "src": "https://nci-media-dev.cancer.gov/pdq/media/images/764135.jpg",
                    },
                    {
                        "size": "571",
                        "src": "https://nci-media-dev.cancer.gov/pdq/media/images/764135-571.jpg",
                    },
                    {
                        "size": "750",
                        "src": "https://nci-media-dev.cancer.gov/pdq/media/images/764135-750.jpg",
                    },
                ],
                "alt": "Metastasis",
                "caption": "Cancer cells spread.",
                "template": "image-center",
            },
            {
                "type": "Video",
                "ref": "CDR0000787719",
                "hosting": "youtube",
                "unique_id": "fQwar_-QdiQ",
                "template": "Video75NoTitle",
                "title": "Metastasis: How Cancer Spreads",
            },
        ],
        "other_languages": [
            {"language": "es", "term_name": "metastásico", "pretty_url_name": "metastasico"}
        ],
    }
    allele = documents["339337_genetics_en_healthprofessional"]
    assert allele["definition"]["html"] == "One of two or more DNA sequences at a locus."
    assert documents["339337_cancer.gov_en_patient"]["definition"]["html"] == (
        'One of the forms a <em class="gene-name">gene</em> can take.'
    )
    assert documents["46574_notset_en_healthprofessional"]["dictionary"] == "NotSet"
    # the index has the strict mapping of ctl dictionary/glossary
    mapping = search_cluster.client().indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["dynamic"] == "strict" and "term_name" in mapping["properties"]

    assert checks(result) == {CHECK_TERMS: True, CHECK_FIELDS: True, CHECK_SIZE: True}
    [materialization] = result.asset_materializations_for_node("glossary_dictionary")
    metadata = materialization.metadata
    assert metadata["documents"].value == 6 and metadata["terms"].value == 3
    assert metadata["index"].value == index and metadata["alias_moved"].value is True
    assert metadata["index_count"].value == 6
    assert metadata["documents_by_language"].value == {"en": 4, "es": 2}
    assert metadata["filter"].value.startswith("'Index Glossary Dictionary' (CDR")
    assert metadata["index_definition"].value == "ctl dictionary/glossary"
    preview = metadata["preview"].value
    assert "glossaryv1" in preview and "| CDR documents | 3 of 3 on cancer.gov |" in preview

    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["ann@example.gov"]
    assert mail.message["From"] == "NCIPDQoperator@mail.nih.gov", "not the legacy sender"
    assert mail.message["Subject"] == (
        f"[DEV] Load of glossary dictionary to {host_of(search_cluster)}"
    )
    body = mail.message.get_content()
    assert re.fullmatch(r"Load completed in \d+:\d\d:\d\d(\.\d+)?\.\s*", body), body


def test_full_drug_load(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    result = run(defs, "drugs", {"recips": ["pdq@example.gov", "ops@example.gov"]})
    assert result.success
    alias = f"{search_cluster.prefix}drugv1"
    documents = index_documents(search_cluster, alias)
    assert set(documents) == DRUG_IDS  # no disease term, no drug without a definition
    assert documents["539733"] == {
        "term_id": "539733",
        "name": "nivolumab",
        "first_letter": "n",
        "type": "DrugTerm",
        "term_name_type": "PreferredName",
        "pretty_url_name": "nivolumab",
        "aliases": [{"type": "USBrandName", "name": "Opdivo"}],
        "definition": {
            "text": "A monoclonal antibody against PD-1.",
            "html": "A monoclonal antibody against PD-1.",
        },
        "nci_concept_id": "C68814",
    }
    assert documents["702758-2"]["term_name_type"] == "CodeName"
    # ES coerces the string term_id into the long field, so the API can search by number
    hit = search_cluster.client().get(index=alias, id="702758")
    assert hit["_source"]["term_id"] == "702758"
    assert checks(result) == {CHECK_TERMS: True, CHECK_FIELDS: True, CHECK_SIZE: True}
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["pdq@example.gov", "ops@example.gov"]
    assert mail.message["Subject"] == f"[DEV] Load of drugs dictionary to {host_of(search_cluster)}"


def test_a_reload_moves_the_alias_and_drops_the_old_index(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """Old indexes beyond the newest ``keep_indexes`` go once older than ``keep_days`` (an
    index of today stays, as in the legacy rule)."""
    seed_cdr(cdr_db)
    defs = definitions(
        cdr_db, mailbox, cluster_resource(search_cluster, keep_indexes=1, keep_days=0)
    )
    alias = f"{search_cluster.prefix}drugv1"
    old = f"{alias}-20010101013000"
    mapping = json.loads((DEMO_DATA / "ctl--dictionary--drugs.json").read_text(encoding="utf-8"))
    search_cluster.client().indices.create(index=old, **mapping)
    first_run = run(defs, "drugs")
    assert first_run.success
    [first] = aliased(search_cluster, alias)
    metadata = first_run.asset_materializations_for_node("drug_dictionary")[0].metadata
    assert metadata["dropped_indexes"].value == [old]
    second_run = run(defs, "drugs")
    assert second_run.success
    [second] = aliased(search_cluster, alias)
    assert second != first
    assert indexes(search_cluster, alias) == [first, second]  # today's index stays a day
    metadata = second_run.asset_materializations_for_node("drug_dictionary")[0].metadata
    assert metadata["previous_indexes"].value == [first]
    assert metadata["dropped_indexes"].value == []
    assert set(index_documents(search_cluster, alias)) == DRUG_IDS
    assert len(mailbox.messages) == 2


def test_the_tier_option_names_the_media_host_and_the_subject(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PROD (the resources are PROD's); another tier's own sources are
    test_search_load_tiers.py's."""
    monkeypatch.setenv("CDR_TIER", "PROD")
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    assert run(defs, "glossary", {"tier": "PROD"}).success
    documents = index_documents(search_cluster, f"{search_cluster.prefix}glossaryv1")
    audio = documents["339337_cancer.gov_en_patient"]["pronunciation"]["audio"]
    assert audio == "https://nci-media.cancer.gov/pdq/media/audio/736960.mp3"
    assert mailbox.messages[0].message["Subject"].startswith("[PROD] Load of glossary")


# --- failures leave the live index alone ------------------------------------------------------


def glossary_filter_with(old: str, new: str) -> str:
    text = packaged_filter(GLOSSARY_TITLE).xml
    assert old in text
    return text.replace(old, new)


def live_glossary(cdr_db: Engine, mailbox: SmtpServer, cluster: SearchCluster) -> str:
    """Load the glossary once with the good filter; return the live index."""
    defs = definitions(cdr_db, mailbox, cluster_resource(cluster))
    assert run(defs, "glossary").success
    mailbox.clear()
    [live] = aliased(cluster, f"{cluster.prefix}glossaryv1")
    return live


def install_glossary_filter(engine: Engine, text: str) -> None:
    with engine.begin() as conn:
        install_filter(conn, GLOSSARY_TITLE, text)


def assert_failed_and_untouched(
    result: dg.ExecuteInProcessResult,
    mailbox: SmtpServer,
    cluster: SearchCluster,
    live: str,
    reason: str,
) -> None:
    alias = f"{cluster.prefix}glossaryv1"
    assert not result.success
    assert aliased(cluster, alias) == [live]
    assert indexes(cluster, alias) == [live]  # the new index was deleted
    assert set(index_documents(cluster, alias)) == GLOSSARY_IDS
    [mail] = mailbox.messages
    assert mail.message["Subject"] == (
        f"[DEV] Load of glossary dictionary to {host_of(cluster)} (FAILURE)"
    )
    body = mail.message.get_content()
    assert body.startswith("Job failed: ") and "See logs for further details." in body
    assert re.search(reason, body), body
    assert result.asset_materializations_for_node("glossary_dictionary") == []


def test_a_failure_mid_bulk_leaves_the_alias_on_the_old_index(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """The CDR filter is edited so that the last term's documents carry a field the strict
    mapping does not know: the first bulk requests go in, the last is refused."""
    seed_cdr(cdr_db)
    live = live_glossary(cdr_db, mailbox, search_cluster)
    install_glossary_filter(
        cdr_db,
        glossary_filter_with(
            '<language><xsl:value-of select="$lang"/></language>',
            '<language><xsl:value-of select="$lang"/></language>'
            '<xsl:if test="$id = 339337"><reviewed>yes</reviewed></xsl:if>',
        ),
    )
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster, bulk_documents=1))
    result = run(defs, "glossary")
    assert_failed_and_untouched(
        result, mailbox, search_cluster, live, r"strict_dynamic_mapping_exception.*\[reviewed\]"
    )
    assert checks(result) == {}  # the load failed before the checks


def test_checks_fail_on_a_short_index_and_the_alias_stays(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    """The CDR filter is edited to drop the Spanish definitions: the index is short of the
    Spanish documents, the blocking check fails, nothing is swapped."""
    seed_cdr(cdr_db)
    live = live_glossary(cdr_db, mailbox, search_cluster)
    install_glossary_filter(
        cdr_db,
        glossary_filter_with(
            '<xsl:for-each select="SpanishTermDefinition">',
            '<xsl:for-each select="SpanishTermDefinition[false()]">',
        ),
    )
    result = run(definitions(cdr_db, mailbox, cluster_resource(search_cluster)), "glossary")
    assert_failed_and_untouched(
        result, mailbox, search_cluster, live, "2 expected document.s. missing"
    )
    # 4 of 6 documents is also a shrink of a third
    assert checks(result) == {CHECK_TERMS: False, CHECK_FIELDS: True, CHECK_SIZE: False}
    [terms] = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_TERMS]
    assert terms.metadata["missing_examples"].value == [
        "339337_cancer.gov_es_patient",
        "44058_cancer.gov_es_patient",
    ]


def test_checks_fail_on_documents_missing_a_field(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    live = live_glossary(cdr_db, mailbox, search_cluster)
    install_glossary_filter(
        cdr_db,
        re.sub(
            r"<first_letter .*?</first_letter>",
            "",
            packaged_filter(GLOSSARY_TITLE).xml,
            flags=re.DOTALL,
        ),
    )
    result = run(definitions(cdr_db, mailbox, cluster_resource(search_cluster)), "glossary")
    assert_failed_and_untouched(result, mailbox, search_cluster, live, "first_letter")
    assert checks(result) == {CHECK_TERMS: True, CHECK_FIELDS: False, CHECK_SIZE: True}


def test_a_missing_filter_fails_before_any_index_is_made(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    live = live_glossary(cdr_db, mailbox, search_cluster)
    with cdr_db.begin() as conn:
        conn.execute(all_docs.update().where(all_docs.c.title == GLOSSARY_TITLE).values(title="x"))
    result = run(definitions(cdr_db, mailbox, cluster_resource(search_cluster)), "glossary")
    assert_failed_and_untouched(
        result, mailbox, search_cluster, live, "no Filter document titled 'Index Glossary"
    )


# --- limited and test runs never move the live alias ------------------------------------------


def test_a_run_limited_to_ids_keeps_its_index_and_leaves_the_alias(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    live = live_glossary(cdr_db, mailbox, search_cluster)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    result = run(defs, "glossary", {"ids": [339337]})
    assert result.success
    alias = f"{search_cluster.prefix}glossaryv1"
    assert aliased(search_cluster, alias) == [live]
    [kept] = [name for name in indexes(search_cluster, alias) if name != live]
    assert set(index_documents(search_cluster, kept)) == {
        "339337_cancer.gov_en_patient",
        "339337_genetics_en_healthprofessional",
        "339337_cancer.gov_es_patient",
    }
    assert checks(result) == {CHECK_TERMS: True, CHECK_FIELDS: True, CHECK_SIZE: True}
    assert result.asset_materializations_for_node("glossary_dictionary") == []
    [observation] = result.asset_observations_for_node("glossary_dictionary")
    assert observation.metadata["mode"].value == "limited"
    assert observation.metadata["alias_moved"].value is False
    [mail] = mailbox.messages
    body = mail.message.get_content()
    assert f"Limited by ids (1): index {kept} was kept and {alias} was not moved." in body


def test_a_run_limited_to_a_count_never_moves_the_alias(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    result = run(defs, "drugs", {"limit": 1})
    assert result.success
    alias = f"{search_cluster.prefix}drugv1"
    assert aliased(search_cluster, alias) == []
    [kept] = indexes(search_cluster, alias)
    assert set(index_documents(search_cluster, kept)) == {"539733", "539733-1"}


def test_ids_outside_the_dictionary_are_refused_by_name(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    result = run(defs, "glossary", {"ids": [339337, 799041]})
    assert not result.success
    assert indexes(search_cluster, f"{search_cluster.prefix}glossaryv1") == []
    [mail] = mailbox.messages
    assert mail.message["Subject"].endswith("(FAILURE)")
    assert "CDR0000799041" in mail.message.get_content()


def test_test_mode_writes_nothing_and_says_example_com(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    result = run(defs, "glossary", {"test": True})
    assert result.success
    assert indexes(search_cluster, f"{search_cluster.prefix}glossaryv1") == []
    [observation] = result.asset_observations_for_node("glossary_dictionary")
    assert observation.metadata["mode"].value == "test"
    assert observation.metadata["documents"].value == 6
    assert checks(result) == {CHECK_TERMS: True, CHECK_FIELDS: True, CHECK_SIZE: True}
    [mail] = mailbox.messages
    assert mail.message["Subject"] == "[DEV] Load of glossary dictionary to example.com"
    printed = capsys.readouterr().out
    decoder = json.JSONDecoder()
    objects = []
    position = printed.find('{\n  "index"')
    while position >= 0:
        value, end = decoder.raw_decode(printed, position)
        objects.append(value)
        position = printed.find('{\n  "index"', end)
    assert {o["id"] for o in objects} == GLOSSARY_IDS
    assert set(objects[0]) == {"index", "body", "id"}


def test_bad_options_are_named(
    cdr_db: Engine,
    mailbox: SmtpServer,
    search_cluster: SearchCluster,  # noqa: F811
) -> None:
    seed_cdr(cdr_db)
    defs = definitions(cdr_db, mailbox, cluster_resource(search_cluster))
    # A tier is one of the config schema's choices: Dagster refuses the run config itself.
    with pytest.raises(dg.DagsterInvalidConfigError, match="tier not in enum type Tier got LIVE"):
        run(defs, "glossary", {"tier": "LIVE"})
    # The Config class's own rules (checked by the schedule loader and the Run-Now sensor
    # before a run) also stop a run launched anyway, when its step builds the Config.
    for config, message in (
        ({"log_level": "LOUD"}, "log_level 'LOUD' is not one of"),
        ({"limit": -1}, "Input should be greater than or equal to 0"),
    ):
        result = run(defs, "glossary", config)
        assert not result.success
        error = result.get_step_failure_events()[0].step_failure_data.error
        chain = []
        while error is not None:
            chain.append(error.message)
            error = error.cause
        assert message in "\n".join(chain), chain


# --- the dump folder (the demo's local mode) ------------------------------------------------


def test_the_dump_folder_gets_the_index_and_the_alias(
    cdr_db: Engine, mailbox: SmtpServer, tmp_path: Path
) -> None:
    seed_cdr(cdr_db)
    folder = tmp_path / "es-dump"
    defs = definitions(cdr_db, mailbox, SearchIndexResource(dump_dir=str(folder)))
    result = run(defs, "glossary", {"host": "ignored.example.gov"})
    assert result.success
    aliases = json.loads((folder / "aliases.json").read_text())
    [index] = aliases["glossaryv1"]
    lines = (folder / f"{index}.ndjson").read_text(encoding="utf-8").splitlines()
    actions = [json.loads(line) for line in lines[::2]]
    assert {a["index"]["_id"] for a in actions} == GLOSSARY_IDS
    assert {a["index"]["_index"] for a in actions} == {"glossaryv1"}  # as the APIs load it
    assert json.loads(lines[1])["term_id"] == 44058
    assert mailbox.messages[0].message["Subject"] == (
        f"[DEV] Load of glossary dictionary to {folder}"
    )


# --- the code location ----------------------------------------------------------------------


def test_jobs_follow_the_catalogue_convention() -> None:
    entry = find_job_class("dictionary_api_loader.Loader")
    assert {job.name for job in jobs} == set(entry.jobs)
    assert {asset.key.to_user_string() for asset in assets} == set(entry.names)
    fields = set(assets[0].op.config_schema.config_type.fields)
    expected = {option.field for option in entry.options if option.field}
    assert fields == expected | SIZE_OPTIONS  # the size check's options are new
    for asset in assets:
        assert {spec.name for spec in asset.check_specs} == {CHECK_TERMS, CHECK_FIELDS, CHECK_SIZE}
        assert all(spec.blocking for spec in asset.check_specs)
        assert asset.op.pool == "elasticsearch"
    for job in jobs:
        assert job.tags["cdr/lock"] == job.name.removesuffix("_job")
        assert int(job.tags["dagster/max_runtime"]) > 0
