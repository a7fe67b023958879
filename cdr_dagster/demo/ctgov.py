"""The demo's ClinicalTrials.gov: canned API v2 answers for the ``ctgov`` resource's local mode.

``cdr_dagster/demo/data/ctgov/`` holds two pages of ``GET /api/v2/studies`` answers, shaped as
the public API gives them for the fields ``recent_ctgov_trials`` asks for. Their first-submitted
dates are placeholders relative to the seeding day, so :func:`build_ctgov_pages` expands them
into the folder the demo points ``CDR_CTGOV_LOCAL_DIR`` at. There, materializing
``recent_ctgov_trials`` adds six new trials and updates one already seeded (NCT07990002 gained
a secondary ID and a collaborator), with no outside server.
"""

from __future__ import annotations

import json
from pathlib import Path

from cdr_dagster.demo.datafiles import DataFiles

#: The canned pages, below the demo data folder.
CTGOV_DATA = "ctgov"


def build_ctgov_pages(target: Path, files: DataFiles) -> list[Path]:
    """Write the canned pages, placeholders expanded, into ``target``; return their paths."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted((files.directory / CTGOV_DATA).glob("*.json")):
        text = files.text(f"{CTGOV_DATA}/{source.name}")
        json.loads(text)  # a broken data file fails the seeding, not the demo's first run
        path = target / source.name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
