"""dictionary_sitemap and glossifier_terms materialize in the embedded demo with no outside
server: the demo database (SQLite), NetStorage and the CMS as local folders, mail to the
outbox, configured from the environment the demo module gives."""

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from lxml import etree

from cdr_dagster.assets.glossifier import glossifier_terms
from cdr_dagster.assets.sitemap import dictionary_sitemap
from cdr_dagster.cdr.sitemap import DESTINATION, NAMESPACE, validate_sitemap
from cdr_dagster.demo.seed import seed_demo
from cdr_dagster.demo.sitemap_glossifier import (
    build_sitemap_glossifier_folders,
    sitemap_glossifier_environment,
)
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.cms import build_cms_resource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster.resources.netstorage import build_netstorage_resource


def test_both_assets_materialize_in_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    seed_demo(tmp_path, today=date(2025, 3, 12))
    url = f"sqlite:///{tmp_path / 'cdr.db'}"
    build_sitemap_glossifier_folders(tmp_path)
    for name, value in sitemap_glossifier_environment(tmp_path, url).items():
        monkeypatch.setenv(name, value)
    cdr_db = CdrDatabaseResource(url=url)
    resources = {
        "cdr_db": cdr_db,
        "netstorage": build_netstorage_resource(),
        "cms": build_cms_resource(),
        "email": EmailResource(tier="DEV", outbox_dir=str(tmp_path / "outbox"), cdr_db=cdr_db),
    }
    result = dg.materialize([dictionary_sitemap, glossifier_terms], resources=resources)
    assert result.success

    sitemap = (tmp_path / "netstorage" / DESTINATION).read_bytes()
    assert validate_sitemap(sitemap) == []
    locs = [e.text for e in etree.fromstring(sitemap).iter(f"{{{NAMESPACE}}}loc")]
    assert "https://www.cancer.gov/publications/dictionaries/cancer-drug/def/atezolizumab" in locs
    # Two CDR ids give this English page: left out (the Spanish one is unique and kept).
    assert "https://www.cancer.gov/publications/dictionaries/cancer-terms/def/tumor" not in locs
    assert (
        "https://www.cancer.gov/espanol/publicaciones/diccionarios/diccionario-cancer/def/tumor"
        in locs
    )

    assert sorted(p.name for p in (tmp_path / "cms").iterdir()) == ["Primary.json", "Spanish.json"]
    subjects = [
        line
        for eml in (tmp_path / "outbox").glob("*.eml")
        for line in eml.read_text().splitlines()
        if line.startswith("Subject: DUPLICATE GLOSSARY")
    ]
    assert len(subjects) == 1
