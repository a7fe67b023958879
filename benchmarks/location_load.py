"""Code-location load time: ``cdr_dagster.definitions`` against a one-job Definitions.

Each sample is a fresh interpreter that does what ``dagster code-server`` does on start and
on every reload: import the module, resolve every definition in it, and build and serialize
the repository snapshot the webserver and daemon read (jobs, config schemas, schedules,
sensors, assets). The figure is the median of the
samples; the ratio divides it by the baseline's median taken in the same run, alternating the
two so that machine noise hits both alike. Both load compiled modules (``.pyc``, written to a
temporary folder on the first load), as a deployed code location does.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass

PROBE = r"""
import importlib, json, sys, time, tracemalloc
start = time.perf_counter()
module = importlib.import_module(sys.argv[1])
import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
defs = module.defs
dg.Definitions.validate_loadable(defs)
repo = defs.get_repository_def()
serialize_value(RepositorySnap.from_def(repo))
names = [j.name for j in repo.get_all_jobs()]
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "jobs": len(names), "modules": len(sys.modules)}))
"""

TARGET = "cdr_dagster.definitions"
BASELINE = "benchmarks.one_job_location"


@dataclass(frozen=True)
class LoadSample:
    """One fresh-interpreter load of a module."""

    seconds: float
    jobs: int
    modules: int


def load_once(module: str, env: dict[str, str]) -> LoadSample:
    """Load ``module`` in a fresh interpreter and return what it cost."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"loading {module} failed:\n{out.stderr}")
    return LoadSample(**json.loads(out.stdout.strip().splitlines()[-1]))


def run(samples: int = 7) -> list[str]:
    """Measure both locations ``samples`` times each and return the report lines."""
    env = dict(os.environ)
    env.setdefault("CDR_TIER", "DEV")
    env.setdefault("CDR_DB_URL", "sqlite://")
    ours, base = [], []
    with tempfile.TemporaryDirectory(prefix="cdr-load-bench-") as pycache:
        # Compiled modules, as a deployed code location has them (the machine running the
        # benchmark may forbid writing them next to the sources).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
        load_once(TARGET, env)  # warm the file-system cache and .pyc files for both
        load_once(BASELINE, env)
        for _ in range(samples):
            ours.append(load_once(TARGET, env))
            base.append(load_once(BASELINE, env))
    ours_s = statistics.median(s.seconds for s in ours)
    base_s = statistics.median(s.seconds for s in base)
    return [
        f"code_location_load: {ours_s:.3f} s ({ours_s / base_s:.2f}x baseline "
        f"{base_s:.3f} s; {ours[0].jobs} jobs, {ours[0].modules} modules vs "
        f"{base[0].modules})"
    ]
