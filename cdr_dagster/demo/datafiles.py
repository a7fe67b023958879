"""Access to the demo's data files (``cdr_dagster/demo/data``) with their placeholders expanded.

Every text file goes through :func:`cdr_dagster.demo.templates.expand` as it is read, so dates
are relative to the seeding day and ``{{dir:...}}`` names the demo folders.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cdr_dagster.demo.templates import expand

#: The folder holding the data files (packaged with ``demo/data/*``).
DATA_DIR = Path(__file__).resolve().parent / "data"

#: The folder holding the demo scripts (packaged with ``demo/scripts/*``).
SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"


@dataclass(frozen=True)
class DataFiles:
    """The data files as seen at one seeding moment (``now``), for one demo directory."""

    now: datetime
    folders: Mapping[str, str] = field(default_factory=dict)
    directory: Path = DATA_DIR

    @property
    def today(self) -> date:
        """The seeding day."""
        return self.now.date()

    def path(self, name: str) -> Path:
        """The path of data file ``name``."""
        return self.directory / name

    def text(self, name: str) -> str:
        """The content of ``name`` with every placeholder expanded."""
        return expand(self.path(name).read_text(encoding="utf-8"), self.now, self.folders)

    def json(self, name: str) -> Any:
        """``name`` parsed as JSON (after expansion)."""
        return json.loads(self.text(name))

    def csv(self, name: str) -> list[dict[str, str]]:
        """The rows of CSV file ``name`` (after expansion) as dictionaries."""
        return list(csv.DictReader(io.StringIO(self.text(name))))

    def lines(self, name: str) -> list[str]:
        """The non-blank lines of ``name`` that are not ``#`` comments, stripped."""
        lines = (line.strip() for line in self.text(name).splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    def blob(self, name: str) -> bytes:
        """The bytes of binary file ``name`` (no expansion)."""
        return self.path(name).read_bytes()

    def names(self, pattern: str) -> list[str]:
        """The names of the data files matching ``pattern``, sorted."""
        return sorted(p.name for p in self.directory.glob(pattern))
