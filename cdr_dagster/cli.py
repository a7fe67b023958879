"""The ``cdr-dagster`` command: database set-up, demo seeding, and schedule import/export.

Sub-commands import their implementation lazily, so ``cdr-dagster --help`` stays fast.

A command that fails on its input (a bad database URL, a refused login, an unreadable file, an
unknown option) prints one line on stderr, ``cdr-dagster <command>: <problem>``, and exits
with status 2; any other failure prints one such line and exits with 1. ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

#: Exit status of a command refused for its input.
BAD_INPUT = 2
#: Exit status of a command that failed for another reason.
FAILED = 1
#: ``user:password@`` in a URL, for showing a URL that cannot be parsed without its password.
_CREDENTIALS = re.compile(r"(://[^:/@]*):[^@]*@")


class CommandError(Exception):
    """A sub-command refused its input; the message names the problem in one line."""


def _init_db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from cdr_dagster.cdr.admin import init_db

    url = args.url or os.environ.get("CDR_DB_URL", "")
    if not url:
        raise CommandError("give --url or set CDR_DB_URL")
    try:
        init_db(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise CommandError(f"bad database URL {_safe(url)}: {_one_line(str(exc))}") from exc
    except DBAPIError as exc:
        reason = _one_line(str(exc.orig)) or exc.orig.__class__.__name__
        raise CommandError(f"cannot create the schema in {_safe(url)}: {reason}") from exc
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print(f"CDR schema created in {_safe(url)}")
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    from cdr_dagster.demo.seed import DemoDirectoryError, seed_demo

    try:
        summary = seed_demo(args.directory, force=args.force)
    except DemoDirectoryError as exc:
        raise CommandError(str(exc)) from exc
    print(summary)
    return 0


def _serve_demo(args: argparse.Namespace) -> int:
    from cdr_dagster.demo.serve import DemoServeError, serve_demo

    try:
        return serve_demo(
            args.directory,
            host=args.host,
            port=args.port,
            workspace=args.workspace,
            verbose=args.verbose,
        )
    except DemoServeError as exc:
        raise CommandError(str(exc)) from exc


def _stop_demo(args: argparse.Namespace) -> int:
    from cdr_dagster.demo.serve import stop_demo

    print(stop_demo(args.directory))
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
        raise CommandError(str(exc)) from exc
    missing = [name for name in ("CDR_DB_URL",) if not os.environ.get(name)]
    if not settings.mail_outbox and settings.smtp_user and not os.environ.get("CDR_SMTP_PASSWORD"):
        missing.append("CDR_SMTP_PASSWORD")
    from cdr_dagster.resources.cms import missing_cms_variables
    from cdr_dagster.resources.netstorage import missing_netstorage_variables
    from cdr_dagster.resources.search_index import missing_search_index_variables

    missing += missing_search_index_variables()
    missing += missing_netstorage_variables() + missing_cms_variables()
    if missing:
        raise CommandError(f"missing environment variables: {', '.join(missing)}")
    print(f"environment complete for tier {settings.tier}")
    return 0


def _safe(url: str) -> str:
    """``url`` without its password (also when it cannot be parsed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(_CREDENTIALS.sub(r"\1:***@", url))


def _one_line(text: str) -> str:
    """The first non-empty line of ``text``, its runs of blanks made single spaces."""
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def describe_failure(exc: BaseException) -> str:
    """One line naming what went wrong, for an exception no sub-command explained."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    return _one_line(f"{exc.__class__.__name__}: {exc}")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage is under ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``cdr-dagster`` command."""
    parser = _Parser(prog="cdr-dagster", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init-db", help="create the CDR schema (tests and demo; never mssql)")
    p.add_argument("--url", help="SQLAlchemy URL (default: CDR_DB_URL)")
    p.set_defaults(func=_init_db)

    p = sub.add_parser("seed-demo", help="build the demo CDR database and local folders")
    p.add_argument("directory", nargs="?", default=".demo", help="demo folder (default .demo)")
    p.add_argument("--force", action="store_true", help="replace an existing demo database")
    p.set_defaults(func=_seed_demo)

    p = sub.add_parser("serve-demo", help="run dagster dev on the seeded demo (make demo)")
    p.add_argument("directory", nargs="?", default=".demo", help="demo folder (default .demo)")
    p.add_argument("--host", default="127.0.0.1", help="address of the UI (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")
    p.add_argument("--workspace", default="workspace.yaml", help="workspace file")
    p.add_argument("--verbose", action="store_true", help="also log ticks that found nothing")
    p.set_defaults(func=_serve_demo)

    p = sub.add_parser("stop-demo", help="stop the demo and every process it started (make stop)")
    p.add_argument("directory", nargs="?", default=".demo", help="demo folder (default .demo)")
    p.set_defaults(func=_stop_demo)

    p = sub.add_parser(
        "import-schedules", help="turn a scheduled_job JSON export into schedules.yaml entries"
    )
    p.add_argument("export", help="the JSON file exported by the CDR admin Scheduler page")
    p.set_defaults(func=_import_schedules)

    p = sub.add_parser("export-schedules", help="print the schedule table as the legacy JSON")
    p.set_defaults(func=_export_schedules)

    p = sub.add_parser("check-env", help="verify the settings a run needs are present")
    p.set_defaults(func=_check_env)
    for command in sub.choices.values():  # --debug after the command name too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: the command's exit status.

    A failure is one line on stderr (see the module docstring); ``--debug`` raises it instead.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if args.debug:
            raise
        from cdr_dagster.settings import SettingsError

        explained = isinstance(exc, (CommandError, SettingsError))
        status = BAD_INPUT if explained or isinstance(exc, OSError) else FAILED
        problem = _one_line(str(exc)) if explained else describe_failure(exc)
        print(f"cdr-dagster {args.command}: {problem}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
