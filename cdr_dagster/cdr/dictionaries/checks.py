"""Names and descriptions of the dictionary checks (light: the asset module imports it at load).

The checks themselves are :func:`cdr_dagster.cdr.dictionaries.load.check_documents`.
"""

from __future__ import annotations

from cdr_dagster.search.size_check import CHECK_SIZE
from cdr_dagster.search.size_check import DESCRIPTION as SIZE_DESCRIPTION

CHECK_TERMS = "one_document_per_term_and_language"
CHECK_FIELDS = "documents_have_required_fields"

DESCRIPTIONS = {
    CHECK_SIZE: SIZE_DESCRIPTION,
    CHECK_TERMS: (
        "The new index holds exactly the documents the exported CDR documents call for, worked "
        "out without the filter: for the glossary one per term, language, audience and "
        "dictionary; for drugs one per drug and one per other name. Missing and unexpected "
        "documents both fail it. Blocking: the alias only moves when it passes."
    ),
    CHECK_FIELDS: (
        "Every document in the new index has what its consumer API reads (the glossary API or "
        "the drug dictionary API): ids, names, language and audience values they accept, a "
        "definition, and an _id they can get it by. Blocking: the alias only moves when it "
        "passes."
    ),
}
