"""The run configs in examples/ and the jobs' default configs are accepted by the real jobs.

Each ``examples/<job>.yaml`` is validated against ``<job>`` in the code location's Definitions
(as the Launchpad and ``dagster job execute`` do) and its op config is built into the op's
``Config`` class (which runs the field validators); nothing is executed. The environment is the
demo's, as the README's commands use it.
"""

import importlib.util
import inspect
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from cdr_dagster.demo.seed import demo_environment

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
DEFINITIONS = REPO / "cdr_dagster" / "definitions.py"
#: Jobs that need a queue row id: they have no default config, by design.
NEED_A_ROW = {"run_batch_job", "run_publishing_job"}
#: Jobs that take config but ship no example, and why.
NO_EXAMPLE = {
    "notify_production_health": "requested by production_health_sensor with what it saw",
    "reload_scheduler": "its settings come from the environment",
}


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.Definitions]:
    """The Definitions as loaded with the demo's environment (which stays set meanwhile).

    definitions.py picks each resource's local or remote mode from the environment when it
    loads, so it is loaded afresh here, as a module of its own, without disturbing the copy
    other tests imported.
    """
    root = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in demo_environment(root).items():
            patch.setenv(key, value)
        spec = importlib.util.spec_from_file_location("demo_definitions", DEFINITIONS)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module.defs


def jobs_taking_config(defs: dg.Definitions) -> set[str]:
    names = set()
    for job in defs.resolve_all_job_defs():
        for node in job.graph.nodes:
            schema = node.definition.config_schema
            if schema is not None and getattr(schema.config_type, "fields", None):
                names.add(job.name)
    return {name for name in names if not name.startswith("__")}


def config_class(op_def: dg.OpDefinition) -> type[dg.Config] | None:
    """The ``Config`` class of an op's (or asset's) ``config`` parameter."""
    fn = op_def.compute_fn.decorated_fn  # type: ignore[union-attr]
    if "config" not in inspect.signature(fn).parameters:
        return None
    return typing.get_type_hints(fn)["config"]


def test_examples_exist(defs: dg.Definitions) -> None:
    shipped = {path.stem for path in EXAMPLES}
    unknown = shipped - {job.name for job in defs.resolve_all_job_defs()}
    assert not unknown, f"examples named after no job: {sorted(unknown)}"
    missing = jobs_taking_config(defs) - shipped - set(NO_EXAMPLE)
    assert not missing, f"jobs that take config without an examples/<job>.yaml: {sorted(missing)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_is_valid_run_config_for_its_job(defs: dg.Definitions, path: Path) -> None:
    job = defs.resolve_job_def(path.stem)
    run_config: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    dg.validate_run_config(job, run_config)
    ops = run_config.get("ops") or {}
    assert ops, f"{path.name} configures no op"
    for node_name, entry in ops.items():
        cls = config_class(job.graph.node_named(node_name).definition)
        assert cls is not None, f"{path.name}: {node_name} takes no Config"
        cls(**entry.get("config", {}))  # runs the field validators
    assert f"-j {path.stem} -c examples/{path.name}" in path.read_text(), (
        f"{path.name} should show its dagster job execute command"
    )


def test_every_job_opens_with_a_valid_default_config(defs: dg.Definitions) -> None:
    """The Launchpad starts from the defaults: they must be a valid run config."""
    rejected = {}
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue
        try:
            dg.validate_run_config(job, {})
        except dg.DagsterInvalidConfigError as exc:
            rejected[job.name] = "; ".join(error.message for error in exc.errors)
    assert set(rejected) == NEED_A_ROW, f"jobs without a valid default config: {rejected}"


def test_nightly_publishing_defaults_to_test_mode(defs: dg.Definitions) -> None:
    resolved = dg.validate_run_config(defs.resolve_job_def("nightly_publishing"), {})
    assert resolved["ops"]["nightly_publishing_op"]["config"]["mode"] == "test"


def test_readme_and_docs_name_only_shipped_examples() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(r"examples/[\w.-]+\.yaml", readme), "the README should show an example"
    missing = set()
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for name in re.findall(r"examples/([\w.-]+\.yaml)", page.read_text(encoding="utf-8")):
            if not (REPO / "examples" / name).is_file():
                missing.add(f"{page.relative_to(REPO)}: examples/{name}")
    assert not missing, f"pages name examples that do not exist: {sorted(missing)}"
