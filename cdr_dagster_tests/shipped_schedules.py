"""The shipped ``schedules.yaml`` entries of some jobs, as a file of their own.

Tests of a job family load the entries the code location really ships for its jobs (not a
copy kept in the test), so a test fails when an entry in ``cdr_dagster/schedules.yaml`` is
changed in a way the family does not accept.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cdr_dagster.schedules import SCHEDULES_PATH


def shipped_schedule_file(folder: Path, *jobs: str) -> Path:
    """Write ``folder/schedules.yaml`` with the shipped entries (both sections) of ``jobs``."""
    table = yaml.safe_load(SCHEDULES_PATH.read_text(encoding="utf-8"))
    kept = {
        section: [entry for entry in table.get(section) or [] if entry["job"] in jobs]
        for section in ("schedules", "on_demand")
    }
    if not any(kept.values()):
        raise AssertionError(f"schedules.yaml has no entry for {', '.join(jobs)}")
    path = folder / "schedules.yaml"
    path.write_text(yaml.safe_dump(kept, sort_keys=False), encoding="utf-8")
    return path
