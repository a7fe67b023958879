"""The dictionary_sitemap asset, run as its job with real resources: the CDR on PostgreSQL
(``cdr_db``), NetStorage as the real asyncssh SFTP server (paramiko client) or the local
folder. What is asserted is what NetStorage received, element by element, and validated
against the sitemap 0.9 schema; the bad-line, duplicate and wrong-type paths; and the run's
checks and metadata.

No postponed annotations here: Dagster reads the resource type hints of the test Definitions.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from lxml import etree
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from cdr_dagster.assets.sitemap import (
    CHECK_UNIQUE,
    CHECK_VALID,
    dictionary_sitemap,
    dictionary_sitemap_job,
)
from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.schema import all_docs, ctl, doc_type, pub_proc_cg
from cdr_dagster.cdr.sitemap import (
    DESTINATION,
    NAMESPACE,
    SCHEMA_PATH,
    SitemapEntriesError,
    parse_entries,
    render_sitemap,
    validate_sitemap,
)
from cdr_dagster.legacy.catalogue import convert_options, find_job_class
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.netstorage import build_netstorage_resource, with_login
from cdr_dagster.resources.sftp import SftpResource
from cdr_dagster_tests.services.sftp import SftpEndpoint
from cdr_dagster_tests.test_resource_sftp import ssh_resource

NS = {"s": NAMESPACE}
SITE = "https://www.cancer.gov"
TERMS_EN = f"{SITE}/publications/dictionaries/cancer-terms/def"
TERMS_ES = f"{SITE}/espanol/publicaciones/diccionarios/diccionario-cancer/def"
GENETICS_EN = f"{SITE}/publications/dictionaries/genetics-dictionary/def"
DRUGS = f"{SITE}/publications/dictionaries/cancer-drug/def"
LONG_NAME = "stage IIIA non-small cell lung cancer with spread to ipsilateral mediastinal nodes"


def glossary(doc_id: int, english: str | None, spanish: str | None) -> str:
    parts = [f'<GlossaryTerm id="CDR{doc_id:010d}">']
    if english is not None:
        parts.append(f"<TermName>{english}</TermName>")
    parts.append("<TermDefinition><DefinitionText>A definition.</DefinitionText></TermDefinition>")
    if spanish is not None:
        parts.append(f"<SpanishTermName>{spanish}</SpanishTermName>")
    return "".join(parts) + "</GlossaryTerm>"


def drug(doc_id: int, preferred: str, ncit: str | None = None) -> str:
    info = f"<CGovInfo><NCITName>{ncit}</NCITName></CGovInfo>" if ncit else ""
    return f'<Term id="CDR{doc_id:010d}"><PreferredName>{preferred}</PreferredName>{info}</Term>'


DOCUMENTS = [
    # id, type, exported XML (None: not on cancer.gov)
    (46710, "GlossaryTermName", glossary(46710, "breast cancer", "cáncer de mama")),
    (339337, "GlossaryTermName", glossary(339337, "allele", "alelo")),
    (46634, "GlossaryTermName", glossary(46634, "tumor", "tumor")),
    (799001, "GlossaryTermName", glossary(799001, "tumor", None)),
    (799031, "GlossaryTermName", glossary(799031, LONG_NAME, None)),
    (799021, "GlossaryTermName", None),
    (702758, "Term", drug(702758, "atezolizumab", "Atezolizumab")),
    (539733, "Term", drug(539733, "nivolumab")),
    (43234, "Term", drug(43234, "Ewing’s α-agent 50%")),
]

ENTRIES = """\
46710,term,English
46710,term,Spanish
339337,term,Spanish
339337,genetic,English
46634,term,English
799001,term,English
799031,term,English
799021,term,English
702758,drug,English
539733,drug,English
43234,drug,English
"""

EXPECTED_URLS = [  # sorted as strings, as written
    f"{TERMS_ES}/alelo",
    f"{TERMS_ES}/cancer-de-mama",
    f"{DRUGS}/atezolizumab",
    f"{DRUGS}/ewings-a-agent-50pct",
    f"{DRUGS}/nivolumab",
    f"{TERMS_EN}/799031",
    f"{TERMS_EN}/breast-cancer",
    f"{GENETICS_EN}/allele",
]


def seed(engine: Engine, entries: str = ENTRIES, documents=DOCUMENTS) -> None:
    with engine.begin() as conn:
        types = {
            name: conn.execute(
                insert(doc_type).values(name=name, format=1, created="2010-01-04")
            ).inserted_primary_key[0]
            for name in ("GlossaryTermName", "Term")
        }
        for doc_id, kind, exported in documents:
            conn.execute(
                insert(all_docs).values(
                    id=doc_id, doc_type=types[kind], title=str(doc_id), xml="<x/>"
                )
            )
            if exported is not None:
                conn.execute(insert(pub_proc_cg).values(id=doc_id, pub_proc=7, xml=exported))
        set_control_value(conn, "dictionary", "sitemap-entries", entries)


def db_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run(
    engine: Engine, netstorage: SftpResource, config: dict[str, Any] | None = None
) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(
        assets=[dictionary_sitemap],
        jobs=[dictionary_sitemap_job],
        resources={"cdr_db": CdrDatabaseResource(url=db_url(engine)), "netstorage": netstorage},
    )
    run_config = {"ops": {"dictionary_sitemap": {"config": {"tier": "DEV", **(config or {})}}}}
    job = defs.resolve_job_def("dictionary_sitemap_job")
    return job.execute_in_process(run_config=run_config, raise_on_error=False)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def assert_sitemap(data: bytes, urls: list[str]) -> None:
    """The file element by element: urlset in the 0.9 namespace, then per URL exactly loc,
    changefreq weekly, priority 0.5 in the schema's order; and valid under the schema."""
    assert data.startswith(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n')
    root = etree.fromstring(data)
    assert root.tag == f"{{{NAMESPACE}}}urlset"
    assert root.nsmap == {None: NAMESPACE}
    entries = root.findall("s:url", NS)
    assert len(entries) == len(root) == len(urls)
    for element, url in zip(entries, urls, strict=True):
        assert [child.tag.split("}")[1] for child in element] == ["loc", "changefreq", "priority"]
        assert [child.text for child in element] == [url, "weekly", "0.5"]
        assert element.text.strip() == "" and not element.attrib
    schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
    schema.assertValid(root)


# -- the CSV ------------------------------------------------------------------------------------


def test_every_bad_line_is_reported_with_its_line_number():
    text = (
        "46710,term,English\n"
        "\n"  # blank: skipped
        "46710,term\n"
        "abc,term,English\n"
        "46710,glossary,English\n"
        "46710,term,French\n"
        "  702758 , drug , English  \n"
        "702758,drug,Spanish\n"
        "1,2,3,4\n"
    )
    with pytest.raises(SitemapEntriesError) as caught:
        parse_entries(text)
    bad = {b.line: b.reason for b in caught.value.bad_lines}
    assert sorted(bad) == [3, 4, 5, 6, 8, 9]
    assert "2 fields" in bad[3] and "'abc'" in bad[4] and "'glossary'" in bad[5]
    assert "'French'" in bad[6] and "no Spanish drug dictionary" in bad[8] and "4 fields" in bad[9]
    assert "line 3: '46710,term'" in str(caught.value)

    good = parse_entries("46710,term,English\n\n  702758 , drug , English  \n")
    assert [(e.line, e.cdr_id, e.key, e.language) for e in good] == [
        (1, 46710, "term", "English"),
        (3, 702758, "drug", "English"),
    ]


# -- the schema ---------------------------------------------------------------------------------


def test_the_schema_accepts_the_protocol_order_and_rejects_the_legacy_one():
    valid = render_sitemap([f"{TERMS_EN}/tumor"])
    assert validate_sitemap(valid) == []
    legacy_order = valid.replace(
        b"<changefreq>weekly</changefreq>\n    <priority>0.5</priority>",
        b"<priority>0.5</priority>\n    <changefreq>weekly</changefreq>",
    )
    assert legacy_order != valid
    problems = validate_sitemap(legacy_order)
    assert problems and "changefreq" in problems[0] and problems[0].startswith("line ")
    assert validate_sitemap(valid.replace(b">weekly<", b">fortnightly<"))
    assert validate_sitemap(valid.replace(b">0.5<", b">1.5<"))
    assert validate_sitemap(render_sitemap(["http://a/b"])), "a loc has at least 12 characters"
    with_lastmod = valid.replace(b"<changefreq>", b"<lastmod>2024-05-01</lastmod><changefreq>")
    assert validate_sitemap(with_lastmod) == []
    assert validate_sitemap(render_sitemap([])), "a urlset needs at least one url"


def test_the_protocol_url_limit_is_checked():
    urls = [f"{TERMS_EN}/{n}" for n in range(50_001)]
    assert validate_sitemap(render_sitemap(urls)) == [
        "50001 URLs; a sitemap file may hold at most 50000"
    ]


# -- the asset ----------------------------------------------------------------------------------


def test_uploads_the_sitemap_to_netstorage_over_sftp(cdr_db: Engine, sftp_server: SftpEndpoint):
    seed(cdr_db)
    result = run(cdr_db, ssh_resource(sftp_server))
    assert result.success
    uploaded = sftp_server.root / DESTINATION
    assert_sitemap(uploaded.read_bytes(), EXPECTED_URLS)
    assert not list(sftp_server.root.rglob("*.part"))

    found = checks(result)
    assert found[CHECK_VALID].passed
    unique = found[CHECK_UNIQUE]
    assert not unique.passed and unique.severity == dg.AssetCheckSeverity.WARN
    assert unique.metadata["duplicates"].value == {
        f"{TERMS_EN}/tumor": [
            "English term entry CDR46634 (line 5)",
            "English term entry CDR799001 (line 6)",
        ]
    }
    meta = metadata(result)
    assert meta["entries"] == 11 and meta["urls"] == 8
    assert meta["urls_by_dictionary"] == {
        "drug/English": 3,
        "genetic/English": 1,
        "term/English": 2,
        "term/Spanish": 2,
    }
    assert meta["unpublished_entries"] == 1 and meta["urls_by_cdr_id"] == 1
    assert meta["duplicate_urls_left_out"] == 1
    assert meta["destination"] == (
        f"sftp://{sftp_server.username}@127.0.0.1:{sftp_server.port}/{DESTINATION}"
    )
    assert meta["uploaded_bytes"] == uploaded.stat().st_size
    preview = meta["preview"]
    assert "CDR799021 (line 8)" in preview and "CDR799031 (line 7)" in preview


def test_local_mode_writes_the_same_relative_path(cdr_db: Engine, tmp_path: Path):
    seed(cdr_db)
    folder = tmp_path / "netstorage"
    folder.mkdir()
    netstorage = build_netstorage_resource({"CDR_NETSTORAGE_LOCAL_DIR": str(folder)})
    result = run(cdr_db, netstorage, {"hostname": "ignored.example.com"})
    assert result.success
    assert_sitemap((folder / "sitemaps" / "dictionaries.xml").read_bytes(), EXPECTED_URLS)
    assert [p.name for p in folder.rglob("*")] == ["sitemaps", "dictionaries.xml"]


def test_a_second_run_replaces_the_file(cdr_db: Engine, sftp_server: SftpEndpoint):
    seed(cdr_db)
    (sftp_server.root / "sitemaps").mkdir()
    (sftp_server.root / DESTINATION).write_text("old sitemap")
    assert run(cdr_db, ssh_resource(sftp_server)).success
    assert_sitemap((sftp_server.root / DESTINATION).read_bytes(), EXPECTED_URLS)


def test_hostname_and_username_come_from_the_run(cdr_db: Engine, sftp_server: SftpEndpoint):
    seed(cdr_db)
    netstorage = ssh_resource(sftp_server, host="", username="")
    refused = run(cdr_db, netstorage)
    assert not refused.success
    assert "give hostname and username" in str(
        refused.get_step_failure_events()[0].step_failure_data.error
    )

    result = run(cdr_db, netstorage, {"hostname": "127.0.0.1", "username": sftp_server.username})
    assert result.success
    assert (sftp_server.root / DESTINATION).is_file()
    assert with_login(netstorage, "h.example.com").host == "h.example.com"
    assert with_login(netstorage, "h.example.com").key_file == netstorage.key_file


def test_one_id_listed_twice_gives_one_url(cdr_db: Engine, tmp_path: Path):
    seed(cdr_db, "46710,term,English\n339337,term,Spanish\n46710,term,English\n")
    netstorage = SftpResource(local_dir=str(tmp_path))
    result = run(cdr_db, netstorage)
    assert result.success
    assert_sitemap(
        (tmp_path / DESTINATION).read_bytes(), [f"{TERMS_ES}/alelo", f"{TERMS_EN}/breast-cancer"]
    )
    assert checks(result)[CHECK_UNIQUE].passed
    assert metadata(result)["repeated_entries"] == 1


def error_text(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    return f"{error.message} {failure.step_failure_data.user_failure_data}"


def test_bad_lines_fail_the_run_and_nothing_is_uploaded(cdr_db: Engine, sftp_server: SftpEndpoint):
    seed(cdr_db, ENTRIES + "43234;drug;English\n702758,drug,Spanish\n")
    result = run(cdr_db, ssh_resource(sftp_server))
    assert not result.success
    text = error_text(result)
    assert "2 bad line(s)" in text and "line 12: '43234;drug;English'" in text
    assert "line 13: '702758,drug,Spanish'" in text
    assert list(sftp_server.root.iterdir()) == []


def test_a_missing_ctl_row_fails_the_run(cdr_db: Engine, tmp_path: Path):
    seed(cdr_db)
    with cdr_db.begin() as conn:
        conn.execute(ctl.delete())
    result = run(cdr_db, SftpResource(local_dir=str(tmp_path)))
    assert not result.success
    assert "no active ctl row dictionary/sitemap-entries" in error_text(result)
    assert list(tmp_path.iterdir()) == []


def test_a_drug_entry_on_a_glossary_document_fails_the_run(
    cdr_db: Engine, sftp_server: SftpEndpoint
):
    seed(cdr_db, "702758,drug,English\n46710,drug,English\n")
    result = run(cdr_db, ssh_resource(sftp_server))
    assert not result.success
    assert "CDR46710 has doctype GlossaryTermName" in error_text(result)
    assert list(sftp_server.root.iterdir()) == []


def test_dump_prints_and_uploads_nothing(cdr_db: Engine, tmp_path: Path, capsys):
    seed(cdr_db)
    netstorage = SftpResource(local_dir=str(tmp_path))
    result = run(cdr_db, netstorage, {"dump": True, "keep": True})
    assert result.success
    printed = capsys.readouterr().out
    start = printed.index("<urlset")
    assert printed[start:].startswith(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    )
    assert list(tmp_path.iterdir()) == []
    assert result.get_asset_materialization_events() == []
    (observation,) = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    kept = Path(observation.event_specific_data.asset_observation.metadata["kept_copy"].value)
    try:
        assert_sitemap(kept.read_bytes(), EXPECTED_URLS)
    finally:
        kept.unlink()


def test_another_tier_reads_its_own_database(
    cdr_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    seed(cdr_db)
    netstorage = SftpResource(local_dir=str(tmp_path))
    unused = CdrDatabaseResource(url=f"sqlite:///{tmp_path / 'empty.db'}")
    defs = dg.Definitions(
        assets=[dictionary_sitemap],
        jobs=[dictionary_sitemap_job],
        resources={"cdr_db": unused, "netstorage": netstorage},
    )
    job = defs.resolve_job_def("dictionary_sitemap_job")

    monkeypatch.delenv("CDR_DB_URL_PROD", raising=False)
    missing = job.execute_in_process(raise_on_error=False)  # default tier: PROD
    assert not missing.success
    assert "set CDR_DB_URL_PROD" in error_text(missing)

    monkeypatch.setenv("CDR_DB_URL_PROD", db_url(cdr_db))
    assert job.execute_in_process().success
    assert_sitemap((tmp_path / DESTINATION).read_bytes(), EXPECTED_URLS)


def test_legacy_options_convert_to_a_run_config_the_job_takes(
    cdr_db: Engine, sftp_server: SftpEndpoint
):
    seed(cdr_db)
    converted = convert_options(
        find_job_class("sitemap.Loader"),
        {"tier": "dev", "hostname": "127.0.0.1", "username": sftp_server.username, "keep": ""},
    )
    assert converted.job == "dictionary_sitemap_job" and converted.node == "dictionary_sitemap"
    netstorage = ssh_resource(sftp_server, host="", username="")
    defs = dg.Definitions(
        assets=[dictionary_sitemap],
        jobs=[dictionary_sitemap_job],
        resources={"cdr_db": CdrDatabaseResource(url=db_url(cdr_db)), "netstorage": netstorage},
    )
    result = defs.resolve_job_def(converted.job).execute_in_process(
        run_config={"ops": {converted.node: {"config": converted.config}}}
    )
    assert result.success
    assert_sitemap((sftp_server.root / DESTINATION).read_bytes(), EXPECTED_URLS)
