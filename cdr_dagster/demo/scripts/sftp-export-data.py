"""Demo stand-in for ``Publishing/sftp-export-data.py``: stage the weekly files for partners.

Usage: ``python sftp-export-data.py`` (no arguments). Takes the newest
``BASEDIR/Output/LicenseeDocs/Job*`` folder, packs it as ``full.tar.gz`` and copies it to the
s/FTP staging folder ``sftp/sftphome/cdrstaging/pdq-{tier}`` inside ``CDR_SFTP_LOCAL_DIR`` (the
demo's stand-in for the rsync to the s/FTP host), or to ``BASEDIR/sftp_shadow`` when that is
not set. Like the CDR script it logs errors and exits 0.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path

from cdr_demo import basedir, log, tier


def main() -> int:
    """Stage the files; always returns 0."""
    try:
        jobs = sorted(
            (p for p in (basedir() / "Output" / "LicenseeDocs").glob("Job*") if p.is_dir()),
            key=lambda p: int("".join(c for c in p.name if c.isdigit()) or 0),
        )
        if not jobs:
            log("no LicenseeDocs/Job* folder to stage")
            return 0
        source = jobs[-1]
        shadow = basedir() / "sftp_shadow"
        shadow.mkdir(parents=True, exist_ok=True)
        archive = shadow / "full.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(source, arcname="full")
        local = os.environ.get("CDR_SFTP_LOCAL_DIR", "").strip()
        if local:
            target = Path(local) / "sftp" / "sftphome" / "cdrstaging" / f"pdq-{tier().lower()}"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(archive, target / archive.name)
            for changes in source.glob("*.changes"):
                shutil.copy2(changes, target / changes.name)
            log(f"staged {source.name} as {target / archive.name}")
        else:
            log(f"staged {source.name} as {archive}")
    except Exception as exc:  # noqa: BLE001 - the CDR script logs and carries on
        log(f"sftp export failed: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
