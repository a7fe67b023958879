"""The section names of the PCIB statistics report (docs/behaviour-notes.md#pcib-statistics), in
report order.

A module of its own, without SQLAlchemy, so the job's Config can validate section names when
the code location loads without importing the data layer (:mod:`cdr_dagster.cdr.monthly_stats`
holds the queries).
"""

SECTIONS = (
    "summary",
    "glossary",
    "genetics",
    "drug",
    "dis",
    "boardmembers",
    "boardmeetings",
    "image",
)
#: ``audio`` is the pronunciation part of ``glossary`` on its own.
SECTION_NAMES = (*SECTIONS, "audio")
