"""Names and descriptions of the trial listing checks (light: the asset module imports it).

The checks themselves are :func:`cdr_dagster.cdr.trial_info.load.check_indexes`.
"""

from __future__ import annotations

from cdr_dagster.search.size_check import CHECK_SIZE
from cdr_dagster.search.size_check import DESCRIPTION as SIZE_DESCRIPTION

CHECK_CONCEPTS = "one_document_per_concept_group"
CHECK_FIELDS = "documents_have_required_fields"
CHECK_URLS = "pretty_url_names_usable"

BLOCKING = {CHECK_CONCEPTS: True, CHECK_FIELDS: True, CHECK_SIZE: True, CHECK_URLS: False}

DESCRIPTIONS = {
    CHECK_CONCEPTS: (
        "The new listinginfov1 index holds exactly the documents built from the EVS concepts, "
        "every concept listed (all but C138195 and C131913) is in exactly one document, and "
        "the new trialtypeinfov1 index holds one document per line of ctl trials/labels. "
        "Blocking: the aliases only move when it passes."
    ),
    CHECK_FIELDS: (
        "Every document has what the clinical-trials-listing API reads: concept ids C<digits> "
        "in numeric order, a label and a normalized name, a pretty URL name that is null or at "
        "most 75 characters; trial types have pretty_url_name, id_string and label. Blocking: "
        "the aliases only move when it passes."
    ),
    CHECK_SIZE: SIZE_DESCRIPTION,
    CHECK_URLS: (
        "Warns when two listing documents share a pretty URL name (the API then answers an "
        "error for that name; the legacy loader let such clashes through) or when a name does "
        "not match the API's route pattern (the page can only be found by concept id). "
        "Not blocking: the load goes ahead, as the legacy one did."
    ),
}
