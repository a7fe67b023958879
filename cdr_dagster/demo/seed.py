"""``cdr-dagster seed-demo [DIR] [--force]``: the embedded demo's CDR database and local folders.

Under ``DIR`` (default ``.demo``) it builds:

- ``cdr.db``: a SQLite CDR database (``create_schema``) holding realistic content for every job
  family of the scheduler (see ``cdr_dagster/demo/data``);
- ``cdr/``: the CDR base folder (``CDR_BASEDIR``), with the demo scripts the queued batch jobs
  and the publishing task run;
- ``outbox/``: where mail is written as ``.eml`` files;
- ``sftp/``: the s/FTP server stand-in, with the PDQ access logs;
- ``es-dump/``: NDJSON dumps written by the Elasticsearch local mode;
- ``sweep/``: files of known ages and sizes for the file sweeper;
- ``stand-ins/``: the pages the health and disk-space checks read (healthy until edited);
- ``dagster_home/dagster.yaml``: an embedded SQLite Dagster instance;
- ``demo.env``: the environment the demo runs with, for ``set -a; . DIR/demo.env``.

It is idempotent: when ``cdr.db`` exists nothing is touched unless ``force`` is given, in which
case everything is rebuilt from scratch. The database is built in a temporary file and renamed
into place last, so a failed run never leaves a half-built ``cdr.db``.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select

from cdr_dagster.cdr.schema import base_tables, create_schema
from cdr_dagster.demo import sitemap_glossifier
from cdr_dagster.demo.ctgov import build_ctgov_pages
from cdr_dagster.demo.database import load_database
from cdr_dagster.demo.datafiles import DataFiles
from cdr_dagster.demo.dis_links import add_dis_link_examples
from cdr_dagster.demo.documents import load_documents
from cdr_dagster.demo.folders import (
    build_cdr_base,
    build_sftp,
    build_sweep,
    sftp_log_lines,
    write_dagster_home,
    write_env,
)
from cdr_dagster.demo.publishing import plan_publishing
from cdr_dagster.demo.reports_data import report_documents
from cdr_dagster.demo.stand_ins import build_stand_ins, stand_in_environment
from cdr_dagster.demo.translation_queues import add_translation_queue_examples
from cdr_dagster.demo.trial_info import write_demo_evs

DATABASE = "cdr.db"
#: The EVS stand-in: NCI Thesaurus concepts the trial-listing load reads in the demo.
EVS_FILE = "ncit-concepts.json"
ENV_FILE = "demo.env"
#: Written first into a directory the seeder builds in; only such a directory is ever cleared.
MARKER = ".cdr-dagster-demo"
#: The demo folders, by the name data files use in ``{{dir:NAME}}``.
FOLDERS = {
    "cdr": "cdr",
    "outbox": "outbox",
    "sftp": "sftp",
    "es-dump": "es-dump",
    "sweep": "sweep",
    "dagster_home": "dagster_home",
    "ctgov": "ctgov",
    "evs": "evs",
    "stand-ins": "stand-ins",
    **sitemap_glossifier.FOLDERS,
}
#: What each folder is for, in the summary.
FOLDER_ROLES = {
    "cdr": "CDR base folder (CDR_BASEDIR): Log/, scripts, publishing output, akamai/media",
    "outbox": "e-mail outbox (.eml files)",
    "sftp": "s/FTP server stand-in (PDQ access logs)",
    "es-dump": "Elasticsearch local mode (NDJSON dumps)",
    "sweep": "files for the file sweeper (some old)",
    "dagster_home": "Dagster instance (SQLite)",
    "ctgov": "ClinicalTrials.gov stand-in (canned API v2 pages)",
    "evs": "EVS REST API stand-in (NCI Thesaurus concepts)",
    "stand-ins": "cdrping.py and df.py stand-ins (edit to break the health checks)",
    **sitemap_glossifier.FOLDER_ROLES,
}


def demo_environment(root: Path) -> dict[str, str]:
    """The environment variables of a demo built in ``root`` (an absolute path)."""
    return {
        "CDR_TIER": "DEV",
        "CDR_DB_URL": f"sqlite:///{root / DATABASE}",
        "CDR_BASEDIR": str(root / FOLDERS["cdr"]),
        "CDR_MAIL_OUTBOX": str(root / FOLDERS["outbox"]),
        "CDR_SFTP_LOCAL_DIR": str(root / FOLDERS["sftp"]),
        "CDR_ES_DUMP_DIR": str(root / FOLDERS["es-dump"]),
        "CDR_CTGOV_LOCAL_DIR": str(root / FOLDERS["ctgov"]),
        "CDR_EVS_LOCAL_FILE": str(root / FOLDERS["evs"] / EVS_FILE),
        **sitemap_glossifier.sitemap_glossifier_environment(root, f"sqlite:///{root / DATABASE}"),
        "DAGSTER_HOME": str(root / FOLDERS["dagster_home"]),
        "CDR_AKAMAI_LOCAL_DIR": str(root / "akamai-netstorage"),
        **stand_in_environment(root / FOLDERS["stand-ins"]),
    }


class DemoDirectoryError(ValueError):
    """The demo directory holds files the seeder did not make; nothing was touched."""


def _clear(root: Path, force: bool) -> None:
    """Remove what a previous build left (the Dagster run history only with ``force``).

    Only a directory carrying the seeder's marker file is cleared; one that holds a folder or
    file of the same name as the demo's without the marker is refused.
    """
    ours = [name for name in (*FOLDERS.values(), DATABASE, ENV_FILE) if (root / name).exists()]
    if ours and not (root / MARKER).exists():
        raise DemoDirectoryError(
            f"{root} already holds {', '.join(ours)} but was not made by cdr-dagster seed-demo; "
            "choose another directory or remove them"
        )
    (root / MARKER).write_text("Built by cdr-dagster seed-demo; may be rebuilt with --force.\n")
    for key, name in FOLDERS.items():
        path = root / name
        if key == "dagster_home" and not force:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for name in (DATABASE, ENV_FILE):
        (root / name).unlink(missing_ok=True)
    for stale in root.glob(f".{DATABASE}.*.tmp"):  # left by a build that was killed
        stale.unlink()


def _table_counts(url: str) -> dict[str, int | None]:
    """Rows per CDR table; None for a table the database lacks (seeded by an older schema)."""
    engine = create_engine(url)
    try:
        existing = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            return {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                if table.name in existing
                else None
                for table in base_tables()
            }
    finally:
        engine.dispose()


def _count_files(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


def _summary(root: Path, counts: dict[str, int | None], notes: list[str], seeded: bool) -> str:
    lines = [
        f"Demo CDR database {root / DATABASE}"
        + (" (seeded now)" if seeded else " (already seeded; use --force to rebuild)")
    ]
    lines.append("Rows per table:")
    width = max(len(name) for name in counts)
    for name in sorted(counts):
        if counts[name]:
            lines.append(f"  {name:<{width}}  {counts[name]:>6}")
    empty = sorted(name for name, count in counts.items() if count == 0)
    if empty:
        lines.append(f"  (empty: {', '.join(empty)})")
    missing = sorted(name for name, count in counts.items() if count is None)
    if missing:
        lines.append(f"  (missing, seeded with an older schema: {', '.join(missing)}; --force)")
    lines.append("Folders:")
    for key, name in FOLDERS.items():
        path = root / name
        files = _count_files(path) if path.exists() else 0
        lines.append(f"  {path}  {FOLDER_ROLES[key]}; {files} files")
    lines.append(f"Environment: {root / ENV_FILE} (set -a; . {root / ENV_FILE}; set +a)")
    lines.extend(notes)
    return "\n".join(lines)


def seed_demo(
    directory: str | os.PathLike[str] = ".demo", force: bool = False, today: date | None = None
) -> str:
    """Build the demo under ``directory`` and return a summary of what it holds.

    ``today`` fixes the seeding day (dates in the data are relative to it); by default it is
    the current local date.
    """
    root = Path(directory).expanduser().resolve()
    database = root / DATABASE
    if database.exists() and not force:
        if not (root / MARKER).exists():
            raise DemoDirectoryError(
                f"{root} already holds {DATABASE} but was not made by cdr-dagster seed-demo; "
                "choose another directory or remove it"
            )
        return _summary(root, _table_counts(f"sqlite:///{database}"), [], seeded=False)

    root.mkdir(parents=True, exist_ok=True)
    _clear(root, force)
    now = datetime.now().replace(microsecond=0)
    if today is not None:
        now = datetime.combine(today, now.time())
    folders = {key: str(root / name) for key, name in FOLDERS.items()}
    files = DataFiles(now=now, folders=folders)
    documents = sorted(load_documents(files) + report_documents(files), key=lambda d: d.id)
    plan = plan_publishing(files.json("publishing.json")["jobs"], documents)

    logs = sftp_log_lines(files)
    made = build_cdr_base(root / FOLDERS["cdr"], files, documents, plan, logs)
    build_sftp(root / FOLDERS["sftp"], logs)
    build_sweep(root / FOLDERS["sweep"], files)
    build_ctgov_pages(root / FOLDERS["ctgov"], files)
    write_demo_evs(root / FOLDERS["evs"] / EVS_FILE)
    build_stand_ins(root / FOLDERS["stand-ins"])
    sitemap_glossifier.build_sitemap_glossifier_folders(root)
    for key in ("outbox", "es-dump"):
        (root / FOLDERS[key]).mkdir(parents=True, exist_ok=True)
    write_dagster_home(root / FOLDERS["dagster_home"])

    temporary = root / f".{DATABASE}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{temporary}")
    try:
        create_schema(engine)
        with engine.begin() as conn:
            load_database(conn, files, documents, plan)
            add_translation_queue_examples(conn, now)
            add_dis_link_examples(conn, now)
    except BaseException:
        engine.dispose()
        temporary.unlink(missing_ok=True)
        raise
    engine.dispose()
    write_env(root / ENV_FILE, demo_environment(root))
    os.replace(temporary, database)

    notes = [
        f"Demo scripts: {len(made['scripts'])} installed under {folders['cdr']}",
        f"Partner changes file: {made['changes file']}",
    ]
    return _summary(root, _table_counts(f"sqlite:///{database}"), notes, seeded=True)
