"""Imported first by ``definitions.py``: Dagster, then a garbage-collector freeze.

Importing Dagster creates a few hundred thousand long-lived objects (modules, classes,
functions). Building the code location then allocates many more, and each full collection of
Python's cyclic garbage collector would walk Dagster's objects again: about a fifth of the
location's load time in every code-server start and run worker went there. ``gc.freeze()``
moves everything alive at this point (imports that live as long as the process) out of the
collector's sight; later garbage is collected as before (docs/architecture.md, "Loading the
code location").
"""

import gc

import dagster  # noqa: F401 - imported before the freeze on purpose

gc.freeze()
