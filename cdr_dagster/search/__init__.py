"""Elasticsearch indexes behind the cancer.gov APIs: backends, bulk bodies, the alias discipline.

No Dagster here (docs/architecture.md#layers); :mod:`cdr_dagster.resources.search_index` configures
it.

- ``backends``: the operations a load needs, on a real cluster (the ``elasticsearch`` 7.x
  client, imported only when a cluster is used) or on a dump folder of NDJSON bulk bodies
  (the legacy ``dump`` option, and the demo's local mode);
- ``bulk``: documents streamed into ``_bulk`` request bodies of bounded size;
- ``indexes``: ``{alias}-YYYYMMDDHHMMSS`` names, the atomic alias swap (decided by reading the
  aliases back when its reply is lost), the clean-up rule, and
  :class:`~cdr_dagster.search.indexes.IndexLoad`, which deletes its new index on any failure
  unless an alias may point to it;
- ``size_check``: a new index that is empty or much smaller than the live one does not go live.

How a load runs and fails: ``docs/search-loads.md``.
"""
