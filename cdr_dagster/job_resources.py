"""Each job gets only the resources it uses, not every resource of the code location.

``Definitions`` binds all of its resources to every job that lacks one, and a job's snapshot
(what the code server serializes on every load and reload, and the daemon and webserver read)
carries the config schema of every resource bound to it: with eleven resources, each job's
snapshot held all eleven. Binding each op job to the resources its ops (and hooks) require,
plus what those resources require in turn, keeps the launchpad's config to what the job uses
and takes most of the snapshot's size and build time away (docs/architecture.md, "Loading
the code location"). Asset jobs (``define_asset_job``) are resolved here against the
location's assets, with the resources their selected assets require, rather than left to
``Definitions``, which would resolve them with all of its resources. Only the implicit job of
all assets (``__ASSET_JOB``) still carries every resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

# Private: Dagster has no public way to resolve an asset job against a set of assets with
# resources of our choosing; AssetGraph.from_assets is what Definitions itself uses for it.
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.execution.build_resources import wrap_resources_for_execution


def _with_nested(
    keys: Iterable[str], resource_defs: Mapping[str, dg.ResourceDefinition]
) -> set[str]:
    """``keys`` and the keys of ``resource_defs`` their resources require, transitively."""
    needed: set[str] = set()
    waiting = list(keys)
    while waiting:
        key = waiting.pop()
        if key in needed or key not in resource_defs:
            continue  # a key nobody provides fails as before, when Definitions validates
        needed.add(key)
        waiting.extend(resource_defs[key].get_required_resource_keys(resource_defs))
    return needed


def needed_resource_keys(
    job: dg.JobDefinition, resource_defs: Mapping[str, dg.ResourceDefinition]
) -> set[str]:
    """The keys of ``resource_defs`` that ``job`` requires, directly or through another one."""
    return _with_nested(job.required_resource_keys, resource_defs)  # ops', hooks', types'


def with_needed_resources(
    jobs: Iterable[Any], resources: Mapping[str, Any], assets: Sequence[Any] = ()
) -> list[Any]:
    """``jobs`` with each op job bound to the ``resources`` it needs, and each asset job
    resolved against ``assets`` with the resources its selected assets need (without
    ``assets``, asset jobs are left unchanged)."""
    resource_defs = wrap_resources_for_execution(resources)
    graph: AssetGraph | None = None
    result = []
    for job in jobs:
        if isinstance(job, dg.JobDefinition):
            keys = needed_resource_keys(job, resource_defs)
            job = job.with_top_level_resources(
                {**{key: resource_defs[key] for key in sorted(keys)}, **job.resource_defs}
            )
        elif isinstance(job, UnresolvedAssetJobDefinition) and assets:
            graph = graph or AssetGraph.from_assets(assets)
            selected = job.selection.resolve(graph)
            required = [
                key
                for asset in assets
                if isinstance(asset, dg.AssetsDefinition) and asset.keys & selected
                for key in asset.required_resource_keys
            ]
            keys = _with_nested(required, resource_defs)
            job = job.resolve(
                asset_graph=graph,
                resource_defs={key: resource_defs[key] for key in sorted(keys)},
            )
        result.append(job)
    return result
