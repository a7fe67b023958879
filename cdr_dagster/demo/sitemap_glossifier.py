"""What the demo needs for ``dictionary_sitemap`` and ``glossifier_terms`` to run on this machine.

The CDR content both read is already in the demo data (ctl ``dictionary/sitemap-entries``, the
glossary and drug documents on cancer.gov with their index rows, the external-map phrases, the
``glossary-servers`` rows and the ``glossifier`` row). What remains are the stand-ins for the two
outside servers and the database of the tier the sitemap reads:

- ``netstorage/``: Akamai NetStorage (``CDR_NETSTORAGE_LOCAL_DIR``); the sitemap lands at
  ``netstorage/sitemaps/dictionaries.xml``;
- ``cms/``: the CMS servers (``CDR_CMS_LOCAL_DIR``); each registered server's payload lands at
  ``cms/{alias}.json``;
- ``CDR_DB_URL_PROD``: the sitemap reads PROD's data by default, as the legacy job did; in the
  demo PROD's database is the demo database.
"""

from __future__ import annotations

from pathlib import Path

#: Folders of the demo (name -> folder under the demo directory) and what each is for.
FOLDERS = {"netstorage": "netstorage", "cms": "cms"}
FOLDER_ROLES = {
    "netstorage": "Akamai NetStorage stand-in (sitemaps/dictionaries.xml)",
    "cms": "CMS glossifier stand-in (one ALIAS.json per registered server)",
}


def sitemap_glossifier_environment(root: Path, database_url: str) -> dict[str, str]:
    """The variables the two assets need in a demo built in ``root`` (absolute) whose CDR
    database is ``database_url``."""
    return {
        "CDR_NETSTORAGE_LOCAL_DIR": str(root / FOLDERS["netstorage"]),
        "CDR_CMS_LOCAL_DIR": str(root / FOLDERS["cms"]),
        "CDR_DB_URL_PROD": database_url,
    }


def build_sitemap_glossifier_folders(root: Path) -> None:
    """Create the empty stand-in folders under ``root``."""
    for name in FOLDERS.values():
        (root / name).mkdir(parents=True, exist_ok=True)
