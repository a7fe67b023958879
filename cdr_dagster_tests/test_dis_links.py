"""Which temporary DIS links expire (docs/behaviour-notes.md#expiring-dis-links): cutoffs, selection
from the index at the
cutoff boundary on PostgreSQL, and the removal transform agreeing with the selection."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from cdr_dagster.cdr.dis_links import (
    ExpiringLink,
    RemovedLink,
    check_cutoff,
    documents_with_expired_links,
    expiring_links,
    removal_cutoff,
    remove_expired_links,
    report_cutoff,
)
from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster_tests.test_dis_links_rows import Link, add_document, base_rows, dis_xml

CUTOFF = "2021-05-15"
BEFORE = Link("https://a.example/day-before", "2021-05-14")
ON = Link("https://b.example/on-the-cutoff", "2021-05-15")
AFTER = Link("https://c.example/day-after", "2021-05-16")
LOWER = Link("https://d.example/lower-case-yes", "2019-01-01", temporary="yes")
PERMANENT = Link("https://e.example/permanent", "2018-01-01", temporary=None)
UNDATED = Link("https://f.example/undated", None)
NO_URL = Link(None, "2018-02-01")
MIXED = [BEFORE, ON, AFTER, LOWER, PERMANENT, UNDATED, NO_URL]


@pytest.fixture
def documents(cdr_db: Engine) -> dict[int, str]:
    ids = base_rows(cdr_db)
    docs = {
        6001: dis_xml("Mixed", MIXED),
        6002: dis_xml("On the cutoff", [ON]),
        6003: dis_xml("Deleted", [BEFORE]),
        6004: dis_xml("Leap", [Link("https://g.example/leap", "2020-02-29")]),
    }
    for doc_id, xml in docs.items():
        add_document(
            cdr_db,
            ids,
            doc_id,
            xml,
            [(xml, True)],
            active_status="D" if doc_id == 6003 else "A",
        )
    return docs


@pytest.mark.parametrize(
    ("today", "removal", "report"),
    [
        (date(2024, 5, 15), "2021-05-15", "2021-06-15"),
        (date(2024, 2, 29), "2021-02-28", "2021-03-29"),
        (date(2024, 1, 31), "2021-01-31", "2021-02-28"),
        (date(2024, 12, 31), "2021-12-31", "2022-01-31"),
    ],
)
def test_default_cutoffs(today: date, removal: str, report: str) -> None:
    assert removal_cutoff(today) == removal
    assert report_cutoff(today) == report


@pytest.mark.parametrize("bad", ["2021-5-15", "2021-02-30", "yesterday", "2021-05-15 00:00"])
def test_a_cutoff_that_is_not_a_date_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match=f"cutoff {bad!r} is not a YYYY-MM-DD date"):
        check_cutoff(bad)


def test_selection_takes_links_posted_on_or_before_the_cutoff(
    cdr_db: Engine, documents: dict[int, str]
) -> None:
    with cdr_db.connect() as conn:
        selected = documents_with_expired_links(conn, CUTOFF)
        links = expiring_links(conn, CUTOFF)
        on_the_day_before = expiring_links(conn, "2021-05-14")
    # the boundary day: a link posted on the cutoff is selected, as the legacy selected it
    assert selected == [6001, 6002, 6004], "the document whose link is on the cutoff is missing"
    assert links == [
        ExpiringLink(6001, ON.url, "2021-05-15"),
        ExpiringLink(6001, BEFORE.url, "2021-05-14"),
        ExpiringLink(6001, LOWER.url, "2019-01-01"),
        ExpiringLink(6002, ON.url, "2021-05-15"),
        ExpiringLink(6004, "https://g.example/leap", "2020-02-29"),
    ]
    # the day after the link was posted is not yet its cutoff
    assert [(link.doc_id, link.posted) for link in on_the_day_before] == [
        (6001, "2021-05-14"),
        (6001, "2019-01-01"),
        (6004, "2020-02-29"),
    ]


def test_the_transform_removes_exactly_the_selected_links_and_nothing_else(
    cdr_db: Engine, documents: dict[int, str]
) -> None:
    for cutoff in (CUTOFF, "2021-05-14", "2019-01-01", "2030-01-01"):
        with cdr_db.connect() as conn:
            selected = expiring_links(conn, cutoff)
        for doc_id, xml in documents.items():
            if doc_id == 6003:
                continue
            removal = remove_expired_links(xml, cutoff)
            expected = {(link.posted, link.url) for link in selected if link.doc_id == doc_id}
            assert {(r.posted, r.url) for r in removal.removed} == expected, (doc_id, cutoff)


def element_tree(element) -> list[tuple]:  # noqa: ANN001 - an lxml element
    """(tag, attributes, stripped text) of every element, in document order."""
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in element.iter()]


def test_the_changed_xml_differs_only_by_the_removed_blocks(documents: dict[int, str]) -> None:
    removal = remove_expired_links(documents[6001], CUTOFF, name="CDR6001")
    assert removal.removed == (
        RemovedLink("2021-05-14", BEFORE.url),
        RemovedLink("2021-05-15", ON.url),
        RemovedLink("2019-01-01", LOWER.url),
    )
    old, new = parse_xml(documents[6001]), parse_xml(removal.xml)
    kept = [AFTER, PERMANENT, UNDATED, NO_URL]
    assert [child.tag for child in new] == [
        "DrugInfoMetaData",
        "Title",
        "SummarySection",
        *["DrugReference"] * len(kept),
        "EnteredBy",
    ]
    expected = parse_xml(dis_xml("Mixed", kept))
    assert element_tree(new) == element_tree(expected)
    for name in ("DrugInfoMetaData", "Title", "SummarySection", "EnteredBy"):
        assert element_tree(new.find(name)) == element_tree(old.find(name))
    assert new.nsmap == {"cdr": "cips.nci.nih.gov/cdr"}
    # the layout of what is left is kept: the removed block takes its own line with it
    assert "\n  <EnteredBy>" in removal.xml and "\n\n" not in removal.xml


def test_a_document_without_expired_links_comes_back_unchanged(
    documents: dict[int, str],
) -> None:
    removal = remove_expired_links(documents[6002], "2021-05-14")
    assert removal.removed == () and removal.xml is documents[6002]
