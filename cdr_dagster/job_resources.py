"""Each op job gets only the resources it uses, not every resource of the code location.

``Definitions`` binds all of its resources to every job that lacks one, and a job's snapshot
(what the code server serializes on every load and reload, and the daemon and webserver read)
carries the config schema of every resource bound to it: with eleven resources, each job's
snapshot held all eleven. Binding each op job to the resources its ops (and hooks) require,
plus what those resources require in turn, keeps the launchpad's config to what the job uses
and takes most of the snapshot's size and build time away (docs/architecture.md, "Loading
cost"). Asset jobs are left to ``Definitions``: it resolves them together with the assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
from dagster._core.execution.build_resources import wrap_resources_for_execution


def needed_resource_keys(
    job: dg.JobDefinition, resource_defs: Mapping[str, dg.ResourceDefinition]
) -> set[str]:
    """The keys of ``resource_defs`` that ``job`` requires, directly or through another one."""
    needed: set[str] = set()
    waiting = list(job.required_resource_keys)  # its ops', hooks' and types' keys
    while waiting:
        key = waiting.pop()
        if key in needed or key not in resource_defs:
            continue  # a key nobody provides fails as before, when Definitions validates
        needed.add(key)
        waiting.extend(resource_defs[key].get_required_resource_keys(resource_defs))
    return needed


def with_needed_resources(jobs: Iterable[Any], resources: Mapping[str, Any]) -> list[Any]:
    """``jobs`` with each op job bound to the ``resources`` it needs (others unchanged)."""
    resource_defs = wrap_resources_for_execution(resources)
    result = []
    for job in jobs:
        if isinstance(job, dg.JobDefinition):
            keys = needed_resource_keys(job, resource_defs)
            job = job.with_top_level_resources(
                {**{key: resource_defs[key] for key in sorted(keys)}, **job.resource_defs}
            )
        result.append(job)
    return result
