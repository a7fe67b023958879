"""The ``ctl`` rows of group ``trials`` the load reads (docs/behaviour-notes.md#control-values).

``labels`` (trial types), ``tokens`` (words kept as they are in normalized names) and
``overrides`` must be there, and so must ``listing-info`` and ``trial-type-info`` (index
settings and strict mappings, :mod:`cdr_dagster.cdr.index_definitions`). Everything is read
and validated before EVS is called, so a bad override or a missing definition fails the run at
once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from cdr_dagster.cdr.control import control_value
from cdr_dagster.cdr.index_definitions import (
    IndexDefinition,
    IndexDefinitionError,
    read_index_definition,
)
from cdr_dagster.cdr.trial_info.groups import parse_labels, parse_tokens
from cdr_dagster.cdr.trial_info.overrides import Override, parse_overrides

CONTROL_GROUP = "trials"
LABELS = "labels"
TOKENS = "tokens"
OVERRIDES = "overrides"
LISTING_INFO = "listing-info"
TRIAL_TYPE_INFO = "trial-type-info"


class TrialControlError(ValueError):
    """A ctl value of group ``trials`` is missing or unusable; the message names it."""


@dataclass(frozen=True)
class TrialControl:
    """Everything the load takes from ``ctl``."""

    labels: list[dict[str, str]]
    tokens: frozenset[str]
    overrides: dict[str, Override]
    listing_definition: IndexDefinition
    trial_type_definition: IndexDefinition


def _required(conn: Connection, name: str) -> str:
    value = control_value(conn, CONTROL_GROUP, name)
    if value is None or not value.strip():
        raise TrialControlError(f"no active ctl row {CONTROL_GROUP}/{name} (or it is empty)")
    return value


def index_definition(conn: Connection, name: str) -> IndexDefinition:
    """The index definition in ctl ``trials/{name}`` (an error naming the row without one)."""
    try:
        return read_index_definition(conn, CONTROL_GROUP, name)
    except IndexDefinitionError as exc:
        # The load reports trials ctl problems as TrialControlError; the JSON error stays the cause.
        raise TrialControlError(str(exc)) from exc.__cause__


def read_trial_control(conn: Connection) -> TrialControl:
    """Read and validate every ``trials`` value (module docstring)."""
    labels_text = _required(conn, LABELS)
    try:
        labels = parse_labels(labels_text)
    except ValueError as exc:
        raise TrialControlError(str(exc)) from exc
    return TrialControl(
        labels=labels,
        tokens=parse_tokens(_required(conn, TOKENS)),
        overrides=parse_overrides(_required(conn, OVERRIDES)),
        listing_definition=index_definition(conn, LISTING_INFO),
        trial_type_definition=index_definition(conn, TRIAL_TYPE_INFO),
    )
