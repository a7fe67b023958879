"""The ``cdr-dagster`` command: database set-up, demo seeding, and schedule import/export.

Sub-commands import their implementation lazily, so ``cdr-dagster --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _init_db(args: argparse.Namespace) -> int:
    from cdr_dagster.cdr.admin import init_db

    url = args.url or os.environ.get("CDR_DB_URL", "")
    if not url:
        print("cdr-dagster init-db: give --url or set CDR_DB_URL", file=sys.stderr)
        return 2
    try:
        init_db(url)
    except ValueError as exc:
        print(f"cdr-dagster init-db: {exc}", file=sys.stderr)
        return 2
    print(f"CDR schema created in {_safe(url)}")
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from cdr_dagster.demo.seed import DemoDirectoryError, seed_demo

    try:
        summary = seed_demo(args.directory, force=args.force)
    except DemoDirectoryError as exc:
        print(f"cdr-dagster seed-demo: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def _import_schedules(args: argparse.Namespace) -> int:
    from cdr_dagster.legacy.importer import main as import_main

    return import_main(args.export, out=sys.stdout, err=sys.stderr)


def _export_schedules(args: argparse.Namespace) -> int:
    from cdr_dagster.legacy.exporter import main as export_main

    return export_main(out=sys.stdout)


def _check_env(args: argparse.Namespace) -> int:
    from cdr_dagster.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"cdr-dagster: {exc}", file=sys.stderr)
        return 2
    missing = [name for name in ("CDR_DB_URL",) if not os.environ.get(name)]
    if not settings.mail_outbox and settings.smtp_user and not os.environ.get("CDR_SMTP_PASSWORD"):
        missing.append("CDR_SMTP_PASSWORD")
    from cdr_dagster.resources.cms import missing_cms_variables
    from cdr_dagster.resources.netstorage import missing_netstorage_variables
    from cdr_dagster.resources.search_index import missing_search_index_variables

    missing += missing_search_index_variables()
    missing += missing_netstorage_variables() + missing_cms_variables()
    if missing:
        print(f"cdr-dagster: missing environment variables: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(f"environment complete for tier {settings.tier}")
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cdr-dagster`` command."""
    parser = argparse.ArgumentParser(prog="cdr-dagster", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init-db", help="create the CDR schema (tests and demo; never mssql)")
    p.add_argument("--url", help="SQLAlchemy URL (default: CDR_DB_URL)")
    p.set_defaults(func=_init_db)

    p = sub.add_parser("seed-demo", help="build the demo CDR database and local folders")
    p.add_argument("directory", nargs="?", default=".demo", help="demo folder (default .demo)")
    p.add_argument("--force", action="store_true", help="replace an existing demo database")
    p.set_defaults(func=_seed_demo)

    p = sub.add_parser(
        "import-schedules", help="turn a scheduled_job JSON export into schedules.yaml entries"
    )
    p.add_argument("export", help="the JSON file exported by the CDR admin Scheduler page")
    p.set_defaults(func=_import_schedules)

    p = sub.add_parser("export-schedules", help="print the schedule table as the legacy JSON")
    p.set_defaults(func=_export_schedules)

    p = sub.add_parser("check-env", help="verify the settings a run needs are present")
    p.set_defaults(func=_check_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
