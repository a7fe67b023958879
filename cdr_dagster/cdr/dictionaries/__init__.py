"""The glossary and drug dictionaries the cancer.gov APIs read
(docs/behaviour-notes.md#dictionary-consumers).

No Dagster here (docs/architecture.md#layers). From the exported XML the CDR last pushed to
cancer.gov
(``pub_proc_cg``) this package builds the Elasticsearch documents of ``glossaryv1`` and
``drugv1`` by running the CDR's own XSLT filter on each document, exactly as the legacy
``dictionary_loader`` did, and converting the filter's ``<node>`` elements to JSON sources:

- ``text``: the pretty-URL and first-letter rules (docs/behaviour-notes.md#pretty-urls);
- ``nodes``: ``<nodes><node id=...>`` to (``_id``, ``_source``)
  (docs/behaviour-notes.md#dictionary-nodes);
- ``filters``: the filter fetched by title from the CDR, compiled with every file and network
  access denied; our own filters (``cdr_dagster/filters``) for the demo and the tests;
- ``terms``: which CDR documents belong to each dictionary, and their exported XML;
- ``expected``: what the index must hold, worked out from the exported XML without the filter,
  and the fields each consumer API requires (the asset checks);
- ``build``: the two dictionaries and the document builder tying these together.
"""
