"""The glossifier_terms asset, run as its job with real resources: the CDR on PostgreSQL
(``cdr_db``), the CMS servers as pytest-httpserver endpoints (plus a loopback socket that never
answers and a port nobody listens on), mail through the aiosmtpd server. What is asserted is
what the servers received (the exact JSON body, basic auth), the ``glossifier`` row, the mail,
and the run's checks and metadata.

No postponed annotations here: Dagster reads the resource type hints of the test Definitions.
"""

import ast
import base64
import json
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from cdr_dagster.assets.glossifier import (
    CHECK_SERVERS,
    CHECK_UNIQUE,
    glossifier_terms,
    glossifier_terms_job,
)
from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.glossifier import (
    CONCEPT_PATH,
    DICTIONARY_PATHS,
    duplicates_message,
    name_key,
)
from cdr_dagster.cdr.schema import (
    doc_type,
    external_map,
    external_map_usage,
    glossifier,
    pub_proc_cg,
    pub_proc_doc,
    query_term_pub,
)
from cdr_dagster.legacy.catalogue import convert_options, find_job_class
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.cms import REFRESH_PATH, CmsResource, build_cms_resource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.cdr_rows import add_group_members, add_version_row
from cdr_dagster_tests.services.smtp import SmtpServer

PASSWORD = "cms-secret"
AUTHORIZATION = "Basic " + base64.b64encode(f"PDQ:{PASSWORD}".encode()).decode()
HOST = socket.gethostname().split(".")[0].upper()


def name_xml(
    english: list[str] | str = (),
    spanish: list[tuple[str, str]] = (),
    status: str = "Approved",
    concept: int | None = None,
) -> str:
    """A GlossaryTermName: ``english`` names (a name starting with ``!`` is excluded from the
    glossifier), ``spanish`` (name, status) pairs (``!`` likewise), the name status."""
    english = [english] if isinstance(english, str) else english
    parts = ['<GlossaryTermName xmlns:cdr="cips.nci.nih.gov/cdr">']
    for name in english:
        exclude = ' ExcludeFromGlossifier="Yes"' if name.startswith("!") else ""
        parts.append(
            f"<TermName{exclude}><TermNameString>{name.lstrip('!')}</TermNameString>"
            "<TermPronunciation>(x)</TermPronunciation></TermName>"
        )
    parts.append(f"<TermNameStatus>{status}</TermNameStatus>")
    for name, name_status in spanish:
        exclude = ' ExcludeFromGlossifier="Yes"' if name.startswith("!") else ""
        parts.append(
            f'<TranslatedName language="es"{exclude}><TermNameString>{name.lstrip("!")}'
            f"</TermNameString><TranslatedNameStatus>{name_status}</TranslatedNameStatus>"
            "</TranslatedName>"
        )
    if concept is not None:
        parts.append(f'<GlossaryTermConcept cdr:ref="CDR{concept:010d}"/>')
    return "".join(parts) + "</GlossaryTermName>"


# id -> (concept, versions' XML, version on cancer.gov or None)
NAMES: dict[int, tuple[int, list[str], int | None]] = {
    45963: (45962, [name_xml("Carcinoma", [("carcinoma", "Approved")])], 1),
    1: (100, [name_xml("tumor")], 1),
    2: (200, [name_xml("Tumor ")], 1),
    3: (300, [name_xml("Sun’s  Soup", [("sopa del sol", "Approved")])], 1),
    4: (
        400,
        [
            name_xml(
                "rejected name",
                [
                    ("nombre rechazado", "Rejected"),
                    ("!excluido", "Approved"),
                    ("nombre bueno", "Approved"),
                ],
                status="Rejected",
            )
        ],
        1,
    ),
    5: (500, [name_xml(["!hidden", "visible"])], 1),
    6: (500, [name_xml("unpublished")], None),
    7: (700, [name_xml("old name"), name_xml("new name")], 1),
}
CONCEPTS = {
    45962: {"en": ["Cancer.gov"], "es": [" Cancer.gov "]},
    100: {"en": ["Cancer.gov"]},
    200: {"en": ["Cancer.gov"]},
    300: {"es": ["Cancer.gov"]},
    400: {"en": ["Cancer.gov", "Genetics"], "es": ["Cancer.gov"]},
    # 500 and 700: no definitions with dictionaries
}
PHRASES = [
    ("GlossaryTerm Phrases", "alternate phrase", 4),
    ("GlossaryTerm Phrases", "TUMOUR", 1),
    ("GlossaryTerm Phrases", "orphan phrase", None),
    ("Spanish GlossaryTerm Phrases", "carcinoma basocelular", 45963),
]

EXPECTED_PAYLOAD = {
    "alternate phrase": {"4": {"en": ["Cancer.gov", "Genetics"]}},
    "carcinoma": {"45963": {"en": ["Cancer.gov"], "es": ["Cancer.gov"]}},
    "carcinoma basocelular": {"45963": {"es": ["Cancer.gov"]}},
    "nombre bueno": {"4": {"es": ["Cancer.gov"]}},
    "old name": {"7": {"en": []}},
    "sopa del sol": {"3": {"es": ["Cancer.gov"]}},
    "sun's soup": {"3": {"en": []}},
    "tumour": {"1": {"en": ["Cancer.gov"]}},
    "visible": {"5": {"en": []}},
}
EXPECTED_NAMES = {
    key: {
        int(doc_id): {lang: set(d) for lang, d in langs.items()} for doc_id, langs in docs.items()
    }
    for key, docs in EXPECTED_PAYLOAD.items()
}


def seed(engine: Engine, servers: dict[str, str], glossifier_row: bool = True) -> None:
    with engine.begin() as conn:
        type_id = conn.execute(
            insert(doc_type).values(name="GlossaryTermName", format=1, created="2010-01-04")
        ).inserted_primary_key[0]
        for doc_id, (concept, versions, on_cg) in NAMES.items():
            for num, xml in enumerate(versions, start=1):
                add_version_row(
                    conn,
                    doc_id,
                    num,
                    when=datetime(2024, 1, num),
                    user=1,
                    doc_type=type_id,
                    title=f"name {doc_id}",
                    xml=xml,
                )
            # Every name was in publishing job 10 at its latest version; the one on
            # cancer.gov came from job 9 (version 1) for document 7.
            latest = len(versions)
            conn.execute(
                insert(pub_proc_doc).values(pub_proc=10, doc_id=doc_id, doc_version=latest)
            )
            if on_cg is not None:
                job = 10 if on_cg == latest else 9
                if job == 9:
                    conn.execute(
                        insert(pub_proc_doc).values(pub_proc=9, doc_id=doc_id, doc_version=on_cg)
                    )
                conn.execute(insert(pub_proc_cg).values(id=doc_id, pub_proc=job, xml="<x/>"))
            conn.execute(
                insert(query_term_pub).values(
                    doc_id=doc_id,
                    path=CONCEPT_PATH,
                    value=f"CDR{concept:010d}",
                    int_val=concept,
                    node_loc="0009",
                )
            )
        for concept, languages in CONCEPTS.items():
            for lang, dictionaries in languages.items():
                for n, dictionary in enumerate(dictionaries):
                    conn.execute(
                        insert(query_term_pub).values(
                            doc_id=concept,
                            path=DICTIONARY_PATHS[lang],
                            value=dictionary,
                            node_loc=f"000{n}",
                        )
                    )
        usages = {}
        for name in ("GlossaryTerm Phrases", "Spanish GlossaryTerm Phrases"):
            usages[name] = conn.execute(
                insert(external_map_usage).values(name=name, auth_action=1)
            ).inserted_primary_key[0]
        for usage, value, doc_id in PHRASES:
            conn.execute(
                insert(external_map).values(
                    usage=usages[usage], value=value, doc_id=doc_id, last_mod=datetime(2023, 5, 1)
                )
            )
        for alias, url in servers.items():
            set_control_value(conn, "glossary-servers", alias, url)
        if glossifier_row:
            conn.execute(
                insert(glossifier).values(pk=1, refreshed=datetime(2020, 1, 1), terms="{}")
            )
    add_group_members(
        engine,
        "Developers Notification",
        [("dev", "dev@example.gov", False), ("gone", "gone@example.gov", True)],
    )
    add_group_members(engine, "GlossaryDupGroup", [("ciat", "ciat@example.gov", False)])


def run(
    engine: Engine,
    mailbox: SmtpServer,
    cms: CmsResource,
    config: dict[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    cdr_db = CdrDatabaseResource(url=engine.url.render_as_string(hide_password=False))
    email = EmailResource(tier="DEV", smtp_host=mailbox.host, smtp_port=mailbox.port, cdr_db=cdr_db)
    defs = dg.Definitions(
        assets=[glossifier_terms],
        jobs=[glossifier_terms_job],
        resources={"cdr_db": cdr_db, "cms": cms, "email": email},
    )
    run_config = {"ops": {"glossifier_terms": {"config": config or {}}}}
    job = defs.resolve_job_def("glossifier_terms_job")
    return job.execute_in_process(run_config=run_config, raise_on_error=False, instance=instance)


def cms_resource(**settings: Any) -> CmsResource:
    return CmsResource(**{"password": PASSWORD, "timeout": 2.0, "connect_timeout": 2.0, **settings})


def expect_refresh(httpserver: HTTPServer, prefix: str, status: int = 200) -> None:
    handler = httpserver.expect_request(
        f"{prefix}{REFRESH_PATH}", method="POST", headers={"Authorization": AUTHORIZATION}
    )
    if status == 200:
        handler.respond_with_json({"message": "Stored 9 glossary terms at 2024-05-01 04:05:40"})
    else:
        handler.respond_with_data("boom", status=status)


def posted(httpserver: HTTPServer) -> dict[str, Any]:
    """Path -> JSON body of each request the server received."""
    return {request.path: json.loads(request.get_data()) for request, _ in httpserver.log}


def glossifier_row(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(glossifier)).one()


def checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback address that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def closed_port() -> str:
    """A loopback address where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the data -----------------------------------------------------------------------------------


def test_name_keys():
    assert name_key("Sun’s  Soup") == "sun's soup"
    assert name_key("  Carcinoma\tIn\nSitu ") == "carcinoma in situ"


def test_the_duplicates_report_sorts_a_missing_dictionary_first():
    subject, body = duplicates_message(
        {
            ("tumor", "en", "Genetics"): [9, 3],
            ("tumor", "en", None): [4, 5],
            ("ablation", "es", "Cancer.gov"): [7, 8],
        },
        "ncias-d1234",
    )
    assert subject == "DUPLICATE GLOSSARY TERM NAME MAPPINGS ON NCIAS-D1234"
    assert body.split("\n\n", 1)[1] == (
        "ABLATION (language='es' dictionary='Cancer.gov')\n\tCDR0000000007\n\tCDR0000000008\n"
        "\nTUMOR (language='en' dictionary=None)\n\tCDR0000000004\n\tCDR0000000005\n"
        "\nTUMOR (language='en' dictionary='Genetics')\n\tCDR0000000009\n\tCDR0000000003\n"
    )


def test_every_server_gets_the_exact_payload_and_the_row_is_saved(
    cdr_db: Engine, mailbox: SmtpServer, httpserver: HTTPServer
):
    seed(cdr_db, {"Primary": httpserver.url_for("/one/"), "Spanish": httpserver.url_for("/two")})
    expect_refresh(httpserver, "/one")
    expect_refresh(httpserver, "/two")
    result = run(cdr_db, mailbox, cms_resource())
    assert result.success
    assert posted(httpserver) == {
        f"/one{REFRESH_PATH}": EXPECTED_PAYLOAD,
        f"/two{REFRESH_PATH}": EXPECTED_PAYLOAD,
    }
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"

    row = glossifier_row(cdr_db)
    assert row.pk == 1 and row.refreshed > datetime(2020, 1, 1)
    assert ast.literal_eval(row.terms) == EXPECTED_NAMES
    assert row.terms.startswith("{'alternate phrase': {4: {'en': {'Cancer.gov', 'Genetics'}}}, ")
    assert "'old name': {7: {'en': set()}}" in row.terms

    found = checks(result)
    assert found[CHECK_SERVERS].passed
    unique = found[CHECK_UNIQUE]
    assert not unique.passed and unique.severity == dg.AssetCheckSeverity.WARN
    assert unique.metadata["duplicates"].value == [
        {"phrase": "tumor", "language": "en", "dictionary": "Cancer.gov", "documents": [1, 2]}
    ]
    meta = metadata(result)
    assert meta["phrases"] == len(EXPECTED_PAYLOAD) and meta["documents"] == 7
    assert meta["servers_failed"] == 0 and meta["glossifier_row"] == "updated"
    assert [s["detail"] for s in meta["servers"]] == [
        "Stored 9 glossary terms at 2024-05-01 04:05:40"
    ] * 2
    assert meta["servers"][0]["url"] == httpserver.url_for("/one")

    (mail,) = mailbox.messages  # no failure: only the duplicates report
    assert mail.rcpt_tos == ["ciat@example.gov"]
    assert mail.message["Subject"] == f"DUPLICATE GLOSSARY TERM NAME MAPPINGS ON {HOST}"
    # the legacy sender, which mail rules filter on
    assert mail.message["From"] == f"cdr@{HOST.lower()}.nci.nih.gov"
    assert mail.mail_from == f"cdr@{HOST.lower()}.nci.nih.gov"
    body = mail.message.get_content().replace("\r\n", "\n")
    assert body.startswith(
        f"The following 1 sets of duplicate glossary mappings were found in the CDR on {HOST}. "
        "Mappings for any phrase + language + dictionary must be unique."
    )
    assert (
        "\n\nTUMOR (language='en' dictionary='Cancer.gov')\n\tCDR0000000001\n\tCDR0000000002\n"
        in body
    )


def test_a_failing_server_does_not_stop_the_others_and_the_failure_is_mailed(
    cdr_db: Engine,
    mailbox: SmtpServer,
    httpserver: HTTPServer,
    silent_server: str,
    closed_port: str,
):
    seed(
        cdr_db,
        {
            "Broken": httpserver.url_for("/broken"),
            "Silent": silent_server,
            "Refused": closed_port,
            "Good": httpserver.url_for("/good"),
        },
        glossifier_row=False,
    )
    expect_refresh(httpserver, "/broken", status=500)
    expect_refresh(httpserver, "/good")
    result = run(cdr_db, mailbox, cms_resource(timeout=1.0, connect_timeout=1.0))
    assert result.success  # the map is saved; the check and the mail tell about the servers
    assert posted(httpserver) == {
        f"/broken{REFRESH_PATH}": EXPECTED_PAYLOAD,
        f"/good{REFRESH_PATH}": EXPECTED_PAYLOAD,
    }
    row = glossifier_row(cdr_db)
    assert ast.literal_eval(row.terms) == EXPECTED_NAMES
    assert metadata(result)["glossifier_row"] == "created"

    servers = {s["alias"]: s for s in metadata(result)["servers"]}
    assert [a for a, s in servers.items() if s["ok"]] == ["Good"]
    assert servers["Broken"]["detail"] == "500 INTERNAL SERVER ERROR"
    assert servers["Silent"]["detail"].startswith("no answer within the time limit")
    assert servers["Refused"]["detail"].startswith("ConnectionError")
    check = checks(result)[CHECK_SERVERS]
    assert not check.passed and check.description == "3 of 4 server(s) failed"

    failure, duplicates = mailbox.messages
    assert failure.rcpt_tos == ["dev@example.gov"]
    assert failure.message["Subject"] == "[DEV] Failure sending glossary information"
    assert failure.message["From"] == f"cdr@{HOST.lower()}.nci.nih.gov"
    lines = failure.message.get_content().splitlines()
    assert (
        lines[0] == f"Server 'Broken' at {httpserver.url_for('/broken')}: 500 INTERNAL SERVER ERROR"
    )
    assert lines[1].startswith(f"Server 'Silent' at {silent_server}: no answer within")
    assert lines[2].startswith(f"Server 'Refused' at {closed_port}: ConnectionError")
    assert len(lines) == 3
    assert duplicates.message["Subject"].startswith("DUPLICATE GLOSSARY TERM NAME MAPPINGS")


def test_without_credentials_every_server_fails_and_recip_gets_both_mails(
    cdr_db: Engine, mailbox: SmtpServer, httpserver: HTTPServer
):
    seed(cdr_db, {"Primary": httpserver.url_for("/one")})
    result = run(cdr_db, mailbox, cms_resource(password=None), {"recip": "tester@example.gov"})
    assert result.success
    assert httpserver.log == []
    assert ast.literal_eval(glossifier_row(cdr_db).terms) == EXPECTED_NAMES
    failure, duplicates = mailbox.messages
    assert failure.rcpt_tos == duplicates.rcpt_tos == ["tester@example.gov"]
    assert failure.message.get_content().strip() == (
        f"Server 'Primary' at {httpserver.url_for('/one')}: Unable to find PDQ CMS credentials"
    )


def test_the_tiers_drupal_host_when_no_server_is_registered(
    cdr_db: Engine, mailbox: SmtpServer, httpserver: HTTPServer
):
    assert CmsResource(drupal_host="cms-qa.example.gov").servers({}) == {
        "Primary": "https://cms-qa.example.gov"
    }
    assert CmsResource().servers({}) == {"Primary": ""}
    seed(cdr_db, {})
    expect_refresh(httpserver, "")
    result = run(cdr_db, mailbox, cms_resource(drupal_host=httpserver.url_for("/")))
    assert result.success
    assert posted(httpserver) == {REFRESH_PATH: EXPECTED_PAYLOAD}
    assert [s["alias"] for s in metadata(result)["servers"]] == ["Primary"]


def test_local_mode_writes_one_file_per_server(cdr_db: Engine, mailbox: SmtpServer, tmp_path: Path):
    seed(cdr_db, {"Primary": "https://cms.example.gov", "Spanish/ES": "https://es.example.gov"})
    cms = build_cms_resource({"CDR_CMS_LOCAL_DIR": str(tmp_path / "cms")})
    result = run(cdr_db, mailbox, cms)
    assert result.success and checks(result)[CHECK_SERVERS].passed
    files = sorted(p.name for p in (tmp_path / "cms").iterdir())
    assert files == ["Primary.json", "Spanish_ES.json"]
    for name in files:
        assert json.loads((tmp_path / "cms" / name).read_text()) == EXPECTED_PAYLOAD


def test_legacy_options_convert_to_a_run_config_the_job_takes(
    cdr_db: Engine, mailbox: SmtpServer, httpserver: HTTPServer
):
    seed(cdr_db, {"Primary": httpserver.url_for("/one")})
    expect_refresh(httpserver, "/one")
    converted = convert_options(
        find_job_class("glossifier_refresh.Task"),
        {"log-level": "debug", "recip": "tester@example.gov"},
    )
    assert converted.job == "glossifier_terms_job" and converted.node == "glossifier_terms"
    with dg.instance_for_test() as instance:
        result = run(cdr_db, mailbox, cms_resource(), converted.config, instance)
        assert result.success
        logged = {entry.user_message for entry in instance.all_logs(result.run_id)}
    assert "fetched dictionaries of 5 concepts" in logged
    assert "processed 7 glossary term names, 12 usages" in logged
    (duplicates,) = mailbox.messages
    assert duplicates.rcpt_tos == ["tester@example.gov"]


def test_a_bad_log_level_is_refused(cdr_db: Engine, mailbox: SmtpServer):
    seed(cdr_db, {})
    result = run(cdr_db, mailbox, cms_resource(), {"log_level": "LOUD"})
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "log_level 'LOUD' is not one of" in failure.step_failure_data.error.message
    assert glossifier_row(cdr_db).terms == "{}"


def test_redirects_are_followed_and_any_status_under_400_counts(
    cdr_db: Engine, mailbox: SmtpServer, httpserver: HTTPServer
):
    """As the legacy push did: a 308 re-sends the POST to its target; a 302 ends as a GET on
    its target, and its 200 counts as delivered; a redirect to a 404 is a failure."""
    seed(
        cdr_db,
        {
            "Moved": httpserver.url_for("/moved"),
            "Found": httpserver.url_for("/found"),
            "Gone": httpserver.url_for("/gone"),
        },
        glossifier_row=False,
    )
    for prefix, status, target in (
        ("/moved", 308, f"/new{REFRESH_PATH}"),
        ("/found", 302, "/landing"),
        ("/gone", 308, "/missing"),
    ):
        httpserver.expect_request(f"{prefix}{REFRESH_PATH}", method="POST").respond_with_data(
            "", status=status, headers={"Location": httpserver.url_for(target)}
        )
    expect_refresh(httpserver, "/new")
    httpserver.expect_request("/landing", method="GET").respond_with_data("<html>ok</html>")
    httpserver.expect_request("/missing", method="POST").respond_with_data("no", status=404)
    result = run(cdr_db, mailbox, cms_resource())
    assert result.success
    servers = {s["alias"]: s for s in metadata(result)["servers"]}
    assert {alias: s["ok"] for alias, s in servers.items()} == {
        "Moved": True,
        "Found": True,
        "Gone": False,
    }
    assert servers["Moved"]["detail"] == (
        "Stored 9 glossary terms at 2024-05-01 04:05:40 "
        f"(redirected to {httpserver.url_for(f'/new{REFRESH_PATH}')})"
    )
    assert servers["Gone"]["detail"] == (
        f"404 NOT FOUND (redirected to {httpserver.url_for('/missing')})"
    )
    [(moved, _)] = [(r, a) for r, a in httpserver.log if r.path == f"/new{REFRESH_PATH}"]
    assert json.loads(moved.get_data()) == EXPECTED_PAYLOAD  # the 308 kept the payload
    assert checks(result)[CHECK_SERVERS].description == "1 of 3 server(s) failed"
