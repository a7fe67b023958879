"""The listing information the clinical-trials-listing API reads
(docs/behaviour-notes.md#trial-listing-info).

No Dagster here (docs/architecture.md#layers). The NCI Thesaurus disease and intervention
hierarchies, walked
through the EVS REST API, become one ``listinginfov1`` document per display name (concepts
sharing a name are grouped, hand-curated overrides from ``ctl`` change labels and URLs), and
the hand-curated trial types of ``ctl`` become the ``trialtypeinfov1`` documents:

- ``control``: the ``ctl`` rows of group ``trials`` (labels, tokens, overrides, index
  definitions, all required);
- ``overrides``: the override grammar ``CODES|LABEL|URL`` and its errors;
- ``concepts``: the concept name rule and the walk through the hierarchies (depth first, in
  batches), given a function that fetches concepts by code;
- ``groups``: grouping by name, the overrides applied, the pretty-URL rule, the documents;
- ``checks``: names and descriptions of the asset checks (light: imported at load);
- ``load``: the two new indexes, the checks on what they hold, the one atomic alias swap, the
  legacy ``test`` and ``dump`` files.
"""
