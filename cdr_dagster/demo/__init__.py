"""The embedded demo: a seeded SQLite CDR database and the local folders the local modes use.

``cdr-dagster seed-demo`` calls :func:`cdr_dagster.demo.seed.seed_demo`; the content lives in
``data/`` (XML bundles of CDR documents, CSV and JSON tables, control values, media blobs) and
the CDR programs the demo runs in ``scripts/``.
"""
