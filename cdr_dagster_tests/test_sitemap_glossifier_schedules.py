"""The shipped schedules.yaml entries of dictionary_sitemap and glossifier_terms
validate against the real jobs and start on the right tiers; the two assets load in a
Definitions with the code location's resources; their modules import no heavy client."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.assets.glossifier import glossifier_terms, glossifier_terms_job
from cdr_dagster.assets.sitemap import dictionary_sitemap, dictionary_sitemap_job
from cdr_dagster.resources.cms import CmsResource, build_cms_resource, missing_cms_variables
from cdr_dagster.resources.defaults import build_resources
from cdr_dagster.resources.netstorage import (
    build_netstorage_resource,
    missing_netstorage_variables,
)
from cdr_dagster.schedules import load_schedules
from cdr_dagster.settings import load_settings
from cdr_dagster_tests.shipped_schedules import shipped_schedule_file

REPO = Path(__file__).resolve().parents[1]


ASSETS = [dictionary_sitemap, glossifier_terms]
JOBS = [dictionary_sitemap_job, glossifier_terms_job]


@pytest.mark.parametrize(
    ("tier", "running"),
    [
        ("DEV", {"dictionary_sitemap_weekly", "glossifier_terms_nightly"}),
        ("PROD", {"glossifier_terms_nightly"}),
    ],
)
def test_entries_load_and_run_on_their_tiers(tmp_path: Path, tier: str, running: set[str]):
    path = shipped_schedule_file(tmp_path, "dictionary_sitemap_job", "glossifier_terms_job")
    found = {
        s.name: s for s in load_schedules(path, {j.name: j for j in JOBS}, tier, assets=ASSETS)
    }
    assert {
        n for n, s in found.items() if s.default_status == dg.DefaultScheduleStatus.RUNNING
    } == (running)
    assert found["dictionary_sitemap_weekly"].cron_schedule == "0 9 * * 0"
    assert found["glossifier_terms_nightly"].cron_schedule == "5 4 * * *"


def test_definitions_with_the_code_locations_resources_load(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CDR_NETSTORAGE_HOST", "netstorage.example.com")
    monkeypatch.setenv("CDR_NETSTORAGE_KEY_PASSPHRASE", "pass")
    monkeypatch.setenv("CDR_CMS_PASSWORD", "secret")
    defs = dg.Definitions(
        assets=ASSETS,
        jobs=JOBS,
        resources={
            **build_resources(load_settings()),
            "netstorage": build_netstorage_resource(),
            "cms": build_cms_resource(),
        },
    )
    dg.Definitions.validate_loadable(defs)
    assert {j.name for j in defs.get_repository_def().get_all_jobs()} >= {j.name for j in JOBS}


def test_resources_from_the_environment():
    local = build_netstorage_resource({"CDR_NETSTORAGE_LOCAL_DIR": "/tmp/ns"})
    assert local.mode == "local" and local.local_dir == "/tmp/ns"
    remote = build_netstorage_resource(
        {
            "CDR_NETSTORAGE_HOST": "sitemap.upload.akamai.example",
            "CDR_NETSTORAGE_USER": "sshacs",
            "CDR_NETSTORAGE_PORT": "2222",
            "CDR_NETSTORAGE_KEY_FILE": "/etc/akamai-sitemap-dev",
            "CDR_NETSTORAGE_HOST_KEY_POLICY": "Auto-Add",
        }
    )
    assert (remote.host, remote.username, remote.port) == (
        "sitemap.upload.akamai.example",
        "sshacs",
        2222,
    )
    assert remote.key_file == "/etc/akamai-sitemap-dev" and remote.host_key_policy == "auto-add"
    with pytest.raises(ValueError, match="CDR_NETSTORAGE_HOST_KEY_POLICY='trust'"):
        build_netstorage_resource({"CDR_NETSTORAGE_HOST_KEY_POLICY": "trust"})
    assert missing_netstorage_variables({}) == ["CDR_NETSTORAGE_KEY_FILE"]
    assert missing_netstorage_variables({"CDR_NETSTORAGE_LOCAL_DIR": "/x"}) == []

    cms = build_cms_resource({"CDR_DRUPAL_HOST": "cms-dev.example.gov", "CDR_CMS_TIMEOUT": "90"})
    assert isinstance(cms, CmsResource) and cms.timeout == 90.0 and cms.password is None
    assert cms.servers({}) == {"Primary": "https://cms-dev.example.gov"}
    assert cms.servers({"A": "https://a.example.gov/"}) == {"A": "https://a.example.gov"}
    with pytest.raises(ValueError, match="CDR_CMS_TIMEOUT='soon'"):
        build_cms_resource({"CDR_CMS_TIMEOUT": "soon"})
    assert missing_cms_variables({}) == ["CDR_CMS_PASSWORD"]
    assert missing_cms_variables({"CDR_CMS_LOCAL_DIR": "/x"}) == []


def test_the_asset_modules_import_no_heavy_client():
    heavy = ("sqlalchemy", "elasticsearch", "paramiko", "lxml", "requests")
    probe = (
        "import sys, cdr_dagster.assets.sitemap, cdr_dagster.assets.glossifier, "
        "cdr_dagster.resources.netstorage, cdr_dagster.resources.cms; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
