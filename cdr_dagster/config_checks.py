"""Run config checked by the ops' and assets' own Config classes, before any run starts.

Dagster checks run config against a config schema built from each Config class: field names,
types, required fields and choices (``Literal`` and ``Enum`` fields become Dagster enums). The
Config class's other rules (pydantic ``Field`` bounds such as ``gt=0``, ``@field_validator``
methods) are not in that schema; Dagster applies them only when a step starts and builds the
Config object, so a bad value (``batch_job_id: -5``, ``keep_days: 0``, ``cutoff: not-a-date``)
used to fail the run itself.

:func:`config_class_problems` builds each node's Config object from the run config exactly as
Dagster does when the step starts, and returns every rule it breaks, naming the place in the
run config and the value. ``schedules.yaml`` loading (``cdr_dagster/schedules.py``) and the
Run-Now sensor (``cdr_dagster/control_sensors.py``) call it, so such values are refused when the
code location loads or before a run is requested. :data:`TierOption` and
:data:`LogLevelOption` are field types several Config classes share.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

import dagster as dg
import pydantic

from cdr_dagster.settings import TIERS, Tier

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def tier_option(value: object) -> object:
    """A tier option as given (any case, spaces) made a tier name; ValueError naming it.

    The before-validator of :data:`TierOption`.
    """
    if value is None or not isinstance(value, str):
        return value
    if value.strip().upper() not in TIERS:
        raise ValueError(f"tier {value!r} is not one of {', '.join(TIERS)}")
    return value.strip().upper()


def date_option(value: str | None, name: str) -> str | None:
    """``value`` if None or a ``YYYY-MM-DD`` date; ValueError naming ``name`` and the value.

    Light on purpose: Config validators run when the code location loads (schedules.yaml).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date in the form YYYY-MM-DD") from None
    return text


def log_level_option(value: str) -> str:
    """A logger level name (any case) in upper case; ValueError naming anything else."""
    if value.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"log_level {value!r} is not one of {', '.join(LOG_LEVELS)}")
    return value.strip().upper()


#: A Config field naming a tier: a Dagster enum in the config schema (so the launchpad lists
#: and checks the names), any case accepted when the Config is built.
TierOption = Annotated[Tier | None, pydantic.BeforeValidator(tier_option)]
#: A Config field naming a logger level (any case; upper case in the Config).
LogLevelOption = Annotated[str, pydantic.AfterValidator(log_level_option)]


def node_config_class(node_def: Any) -> type[dg.Config] | None:
    """The Config class an op (or an asset's op) takes as ``config``, if it takes one."""
    compute_fn = getattr(node_def, "compute_fn", None)
    has_config = getattr(compute_fn, "has_config_arg", None)
    if has_config is None or not has_config():
        return None
    annotation = compute_fn.get_config_arg().annotation
    if isinstance(annotation, type) and issubclass(annotation, dg.Config):
        return annotation
    return None


def config_object_problems(
    config_class: type[dg.Config], processed: Mapping[str, Any], where: str
) -> list[str]:
    """What ``config_class`` refuses in ``processed`` (config as Dagster processed it).

    Each problem reads ``<where>.<field>: <rule> (got <value>)``.
    """
    try:
        values = config_class._get_non_default_public_field_values_cls(dict(processed))  # noqa: SLF001 - what Dagster does
        config_class(**values)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = ".".join(str(part) for part in (where, *error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {message} (got {error['input']!r})")
        return problems
    return []


def config_class_problems(job: dg.JobDefinition, run_config: Mapping[str, Any]) -> list[str]:
    """Every Config-class rule ``run_config`` breaks in ``job``; empty when there is none.

    ``run_config`` must already satisfy the job's config schema (``validate_run_config``).
    """
    from dagster._core.definitions.dependency import NodeHandle
    from dagster._core.system_config.objects import ResolvedRunConfig

    resolved = ResolvedRunConfig.build(job, dict(run_config))
    problems: list[str] = []
    for handle, op_config in sorted(resolved.ops.items()):
        node = job.graph.get_node(NodeHandle.from_string(handle))
        config_class = node_config_class(node.definition)
        if config_class is None or not isinstance(op_config.config, Mapping):
            continue
        where = "ops." + ".ops.".join(handle.split(".")) + ".config"
        problems.extend(config_object_problems(config_class, op_config.config, where))
    return problems
