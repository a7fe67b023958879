"""The demo's NCI Thesaurus: canned EVS concepts for the ``trial_listing_info`` asset.

The demo reaches no server beyond the machine, so the ``evs`` resource runs in local mode on
a file written here (``CDR_EVS_LOCAL_FILE``): an array of concept objects shaped exactly as the
EVS REST API answers ``/concept/ncit?include=synonyms,children`` (code, name, terminology,
version, status, leaf, active, synonyms with name/termType/type/source, children with
code/name/leaf). The small hierarchy under the two roots exercises what the load does:

- concepts sharing a name grouped into one document (Soft Tissue Sarcoma and Rhabdomyosarcoma,
  the clinical-trials-listing API's golden documents), named by CTRP ``DN``, ``Display_Name``
  or ``Preferred_Name``;
- every override of the demo's ctl ``trials/overrides`` on a matching group (a new label, a
  new URL, ``<INHERIT>``, ``<BLANK>``, the two-code Colorectal Cancer override);
- stage numerals and eponyms kept in normalized names, accents and ``%`` in URLs, a name too
  long for a URL, the two codes that are walked but never listed, and a child EVS no longer
  knows.

The ctl rows the load reads (labels, tokens, overrides, index definitions) are seeded from
``demo/data/ctl--trials--*`` with the other control values.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

VERSION = "24.01d"
#: (code, NCI preferred name, display name, CTRP display name, parent codes)
_CONCEPTS: tuple[tuple[str, str, str | None, str | None, tuple[str, ...]], ...] = (
    ("C7057", "Disease, Disorder or Finding", None, None, ()),
    ("C1908", "Drug, Food, Chemical or Biomedical Material", None, None, ()),
    ("C2991", "Disease or Disorder", None, None, ("C7057",)),
    ("C138195", "Clinical Trials Disease Grouping", None, None, ("C7057",)),
    ("C3262", "Neoplasm", None, None, ("C2991",)),
    ("C9306", "Soft Tissue Sarcoma", None, "Soft Tissue Sarcoma", ("C3262",)),
    ("C7707", "Adult Soft Tissue Sarcoma", None, "Soft Tissue Sarcoma", ("C9306",)),
    ("C7715", "Childhood Soft Tissue Sarcoma", None, "Soft Tissue Sarcoma", ("C9306",)),
    (
        "C115292",
        "Soft Tissue Sarcoma, Not Otherwise Specified",
        "Soft Tissue Sarcoma",
        None,
        ("C9306",),
    ),
    ("C3359", "Rhabdomyosarcoma", None, "Rhabdomyosarcoma", ("C9306",)),
    ("C7705", "Adult Rhabdomyosarcoma", None, "Rhabdomyosarcoma", ("C3359",)),
    ("C9130", "Rhabdomyosarcoma of Soft Tissue", "Rhabdomyosarcoma", None, ("C3359",)),
    ("C115332", "Childhood Rhabdomyosarcoma, NOS", "Rhabdomyosarcoma", None, ("C3359",)),
    ("C7510", "Thyroid Gland Carcinoma", None, "Thyroid Gland Carcinoma", ("C3262",)),
    ("C3163", "Chronic Lymphocytic Leukemia", None, "Chronic Lymphocytic Leukemia", ("C3262",)),
    ("C4872", "Breast Carcinoma", None, "Breast Cancer", ("C3262",)),
    ("C2955", "Colorectal Carcinoma", None, "Colorectal Cancer", ("C3262",)),
    ("C4910", "Colorectal Carcinoma, NOS", "Colorectal Cancer", None, ("C2955",)),
    ("C4878", "Lung Carcinoma", None, "Lung Cancer", ("C3262",)),
    ("C2926", "Lung Non-Small Cell Carcinoma", "Non-Small Cell Lung Cancer", None, ("C4878",)),
    (
        "C27016",
        "Stage IIIA Lung Non-Small Cell Cancer AJCC v7",
        None,
        "Stage IIIA Non-Small Cell Lung Cancer AJCC v7",
        ("C2926",),
    ),
    ("C7724", "Malignant Bone Neoplasm", None, "Bone Cancer", ("C3262",)),
    ("C3058", "Glioblastoma", None, "Glioblastoma", ("C3262",)),
    ("C4911", "Gastric Carcinoma", None, "Gastric Carcinoma", ("C3262",)),
    ("C3366", "Sezary Syndrome", "Sézary Syndrome", None, ("C3262",)),
    ("C9357", "Hodgkin Lymphoma", None, "Hodgkin Lymphoma", ("C3262",)),
    ("C9331", "Kaposi Sarcoma", None, "Kaposi Sarcoma", ("C3262",)),
    (
        "C6950",
        "Childhood Hepatoblastoma and Hepatocellular Carcinoma with Lung and Bone "
        "Metastases Stage IV",
        None,
        None,
        ("C3262",),
    ),
    ("C4863", "Prostate Carcinoma", None, "Prostate Cancer", ("C3262",)),
    ("C1909", "Pharmacologic Substance", None, None, ("C1908",)),
    ("C131913", "Clinical Trials Intervention Grouping", None, None, ("C1908",)),
    ("C1647", "Trastuzumab", None, "Trastuzumab", ("C1909",)),
    ("C68814", "Nivolumab", None, "Nivolumab", ("C1909",)),
    ("C106250", "Atezolizumab", None, "Atezolizumab", ("C1909",)),
    ("C62528", "Fluorouracil 5% Cream", "Fluorouracil 5% Cream", None, ("C1909",)),
    ("C2039", "Interferon Alfa-2b", "α-Interferon 2b", None, ("C1909",)),
)
#: A child EVS lists but no longer answers for (the load logs it and goes on).
_RETIRED_CHILD = ("C999999", "Retired Concept")


def _synonyms(preferred: str, display: str | None, ctrp: str | None) -> list[dict[str, str]]:
    synonyms = [{"name": preferred, "termType": "PT", "type": "FULL_SYN", "source": "NCI"}]
    if ctrp:
        synonyms.append({"name": ctrp, "termType": "PT", "type": "FULL_SYN", "source": "CTRP"})
        synonyms.append({"name": ctrp, "termType": "DN", "type": "FULL_SYN", "source": "CTRP"})
    if display:
        synonyms.append({"name": display, "type": "Display_Name"})
    synonyms.append({"name": preferred, "type": "Preferred_Name"})
    return synonyms


def demo_evs_concepts() -> list[dict[str, Any]]:
    """The concept objects of the demo's NCI Thesaurus (module docstring)."""
    names = {code: preferred for code, preferred, *_ in _CONCEPTS}
    children: dict[str, list[str]] = {code: [] for code in names}
    for code, _preferred, _display, _ctrp, parents in _CONCEPTS:
        for parent in parents:
            children[parent].append(code)
    children["C3262"].append(_RETIRED_CHILD[0])
    names[_RETIRED_CHILD[0]] = _RETIRED_CHILD[1]
    concepts = []
    for code, preferred, display, ctrp, _parents in _CONCEPTS:
        concepts.append(
            {
                "code": code,
                "name": preferred,
                "terminology": "ncit",
                "version": VERSION,
                "conceptStatus": "DEFAULT",
                "leaf": not children[code],
                "active": True,
                "synonyms": _synonyms(preferred, display, ctrp),
                "children": [
                    {"code": child, "name": names[child], "leaf": not children.get(child)}
                    for child in children[code]
                ],
            }
        )
    return concepts


def write_demo_evs(path: str | Path) -> Path:
    """Write the demo's concepts to ``path`` (atomically) for ``CDR_EVS_LOCAL_FILE``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(demo_evs_concepts(), out, indent=1, ensure_ascii=False)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
