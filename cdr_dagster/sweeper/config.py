"""Where the sweep rules come from: a named file, or the CDR's SweepSpecifications document.

docs/behaviour-notes.md#sweep-specifications. With ``config_file`` the CDR is not consulted (a
relative path is taken below the
CDR base folder, not the process's working directory). Otherwise the latest valid version of
the one SweepSpecifications document is used. Every way of failing (missing file, XML that is
not well-formed, no document or two, an invalid rule) raises :class:`ConfigLoadError` with a
message that names the source, before anything is swept.
"""

from __future__ import annotations

import os
from datetime import tzinfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cdr_dagster.cdr.sweep_specs import SweepDocumentError, latest_valid_sweep_document
from cdr_dagster.sweeper.spec import SweepConfig, SweepSpecError, parse_sweep_specifications


class ConfigLoadError(Exception):
    """The sweep rules cannot be loaded; fatal (the message names the source and problems)."""


def resolve_config_file(config_file: str, basedir: str) -> str:
    """``config_file`` as an absolute path (relative ones below ``basedir``)."""
    path = config_file.replace("\\", "/")
    if not os.path.isabs(path):
        path = os.path.join(basedir, path)
    return os.path.normpath(path)


def load_sweep_config(
    *,
    config_file: str | None,
    engine: Engine | None,
    basedir: str,
    now: float,
    tz: tzinfo,
) -> SweepConfig:
    """Load and validate the rules from ``config_file`` or, without one, from the CDR."""
    if config_file:
        path = resolve_config_file(config_file, basedir)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ConfigLoadError(f"Error loading config file {path}: {exc}") from exc
        source = path
    else:
        if engine is None:
            raise ConfigLoadError("no config file given and no CDR database configured")
        try:
            with engine.connect() as conn:
                document = latest_valid_sweep_document(conn)
        except SweepDocumentError as exc:
            raise ConfigLoadError(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise ConfigLoadError(f"cannot read the SweepSpecifications document: {exc}") from exc
        data, source = document.xml, document.source
    try:
        return parse_sweep_specifications(data, source, now=now, tz=tz, basedir=basedir)
    except SweepSpecError as exc:
        raise ConfigLoadError(str(exc)) from exc
