"""The trial listing data layer: override grammar, concept names, the EVS walk, grouping,
documents and the legacy files (docs/behaviour-notes.md#trial-listing-info), checked value by value
and against
the clinical-trials-listing API's golden documents.

The walk runs on :class:`~cdr_dagster.resources.evs.LocalEvs` over concept objects shaped as
the EVS REST API returns them (the same file the demo uses).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from cdr_dagster.cdr.trial_info.concepts import (
    NO_NAME,
    Concept,
    ConceptError,
    concept_name,
    read_cached_concepts,
    walk_concepts,
)
from cdr_dagster.cdr.trial_info.control import IndexDefinition, TrialControl
from cdr_dagster.cdr.trial_info.groups import (
    group_concepts,
    listing_url,
    normalized_name,
    parse_labels,
    parse_tokens,
    url_clashes,
)
from cdr_dagster.cdr.trial_info.load import (
    ListingBuild,
    TrialLoadError,
    build_listing,
    bulk_dump,
    check_indexes,
    listing_problems,
    read_cached_groups,
    run_load,
)
from cdr_dagster.cdr.trial_info.overrides import OverrideError, parse_overrides
from cdr_dagster.demo.trial_info import demo_evs_concepts, write_demo_evs
from cdr_dagster.resources.evs import LocalEvs

REFERENCE = Path(__file__).parent / "data" / "reference"
GOLDEN = REFERENCE / "clinical-trials-listing-api"
DEMO_DATA = Path(__file__).resolve().parents[1] / "cdr_dagster" / "demo" / "data"
TOKENS = parse_tokens((DEMO_DATA / "ctl--trials--tokens.txt").read_text(encoding="utf-8"))
LABELS_TEXT = (DEMO_DATA / "ctl--trials--labels.txt").read_text(encoding="utf-8")


def ctrp(name: str) -> dict[str, str]:
    return {"name": name, "termType": "DN", "type": "FULL_SYN", "source": "CTRP"}


def control(overrides: str = "", labels: str = LABELS_TEXT) -> TrialControl:
    def definition(name: str) -> IndexDefinition:
        body = json.loads((DEMO_DATA / f"ctl--trials--{name}.json").read_text(encoding="utf-8"))
        return IndexDefinition(body, f"ctl trials/{name}")

    return TrialControl(
        labels=parse_labels(labels),
        tokens=TOKENS,
        overrides=parse_overrides(overrides),
        listing_definition=definition("listing-info"),
        trial_type_definition=definition("trial-type-info"),
    )


# --- overrides --------------------------------------------------------------------------------


def test_the_override_grammar() -> None:
    overrides = parse_overrides(
        "C7510|Thyroid Cancer|thyroid-cancer\n"
        " c3163 |<INHERIT>| cll \n"
        "C2955, C118808|Colorectal Cancer|colorectal-cancer\n"
        "C7724|<INHERIT>|<BLANK>\n"
        "C4911|Stomach Cancer|<INHERIT>\n"
    )
    assert sorted(overrides) == ["C118808", "C2955", "C3163", "C4911", "C7510", "C7724"]
    cll = overrides["C3163"]
    assert (cll.label, cll.url, cll.line_number) == ("<INHERIT>", "cll", 2)
    assert overrides["C2955"] is overrides["C118808"]
    assert overrides["C2955"].code_list == "C2955,C118808"
    assert overrides["C7724"].url == "<BLANK>"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("C1|Label", r"malformed override on line 1: 'C1\|Label'"),
        ("C1|a|b|c", "malformed override on line 1"),
        ("C1|Thyroid|thyroid\n\nC2|Lung|lung", "malformed override on line 2: ''"),
        ("C1,,C2|Label|url", r"empty code in 'C1,,C2\|Label\|url' \(line 1\)"),
        ("C1| |url", "empty label in"),
        ("C1|Label| ", "empty URL in"),
        ("C1|Label|Thyroid-Cancer", "invalid override URL 'Thyroid-Cancer' on line 1"),
        ("C1|Label|thyroid cancer", "invalid override URL 'thyroid cancer'"),
        ("C1|Label|" + "a" * 76, "override URL a{76} on line 1 is too long \\(76 characters"),
        ("C1|A|a\nC2,c1|B|b", r"code C1 in multiple overrides \(lines 1 and 2\)"),
    ],
)
def test_override_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        parse_overrides(text)


def test_a_url_of_75_characters_is_allowed() -> None:
    assert parse_overrides("C1|Label|" + "a" * 75)["C1"].url == "a" * 75


# --- names and URLs ---------------------------------------------------------------------------


def test_concept_names() -> None:
    # scenario 5: the NCI Display_Name beats the Preferred_Name
    assert (
        concept_name(
            [{"name": "Foo", "type": "Preferred_Name"}, {"name": "Foo Bar", "type": "Display_Name"}]
        )
        == "Foo Bar"
    )
    # the first non-empty CTRP DN wins over everything, whitespace runs become one space
    synonyms = [
        {"name": "Display", "type": "Display_Name"},
        ctrp("  "),
        {"name": "Ctrp PT", "termType": "PT", "type": "FULL_SYN", "source": "CTRP"},
        ctrp(" Soft  Tissue\tSarcoma "),
        ctrp("Second"),
    ]
    assert concept_name(synonyms) == "Soft Tissue Sarcoma"
    # a CTRP Display_Name does not count; of the others the last of each type wins
    assert (
        concept_name(
            [
                {"name": "CTRP display", "type": "Display_Name", "source": "CTRP"},
                {"name": "First", "type": "Preferred_Name"},
                {"name": "Last", "type": "Preferred_Name"},
            ]
        )
        == "Last"
    )
    assert concept_name([{"name": "x", "termType": "SY", "type": "FULL_SYN"}]) == NO_NAME
    assert concept_name([]) == "[NO DISPLAY NAME]"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("Sézary Syndrome", "sezary-syndrome"),
        ("α-Fetoprotein 50% Test", "a-fetoprotein-50pct-test"),
        ("Colon/Rectal Cancer; Other & More", "colon-rectal-cancer--other---more"),
        ("Ewing’s Sarcoma", "ewings-sarcoma"),
        (
            "Stage IIIA Non-Small Cell Lung Cancer AJCC v7",
            "stage-iiia-non-small-cell-lung-cancer-ajcc-v7",
        ),
        ("Hodgkin (Classic) Lymphoma, [NOS]: *Adult*", "hodgkin-classic-lymphoma-nos-adult"),
        ("Soft Tissue Sarcoma® Grade 2 #1?", "soft-tissue-sarcoma®-grade-2-#1?"),
        ("()", ""),
    ],
)
def test_listing_urls(name: str, url: str) -> None:
    assert listing_url(name.lower()) == url


def test_an_overlong_listing_url_is_none() -> None:
    assert listing_url("a" * 75) == "a" * 75
    assert listing_url("a" * 76) is None
    assert listing_url("x" * 74 + "%") is None  # % becomes pct: 77 characters
    assert listing_url("." * 100) == ""  # nothing left is not overlong


def test_normalized_names_keep_the_tokens() -> None:
    assert (
        normalized_name("Stage IIIA Non-Small Cell Lung Cancer AJCC v7", TOKENS)
        == "stage IIIA non-small cell lung cancer ajcc v7"
    )
    assert normalized_name("Recurrent Hodgkin  Lymphoma", TOKENS) == "recurrent Hodgkin lymphoma"
    assert normalized_name("HODGKIN Stage iia", TOKENS) == "hodgkin stage iia"  # case-sensitive


# --- grouping and overrides -------------------------------------------------------------------


def concepts(*pairs: tuple[str, str]) -> list[Concept]:
    return [Concept(code, name) for code, name in pairs]


def test_concepts_sharing_a_name_make_one_document() -> None:
    """Scenario 1, and the golden document of the API's getByIds test."""
    grouping = group_concepts(
        concepts(
            ("C9306", "Soft Tissue Sarcoma"),
            ("C115292", "Soft Tissue Sarcoma"),
            ("C7707", "soft tissue sarcoma"),
            ("C7715", "Soft Tissue Sarcoma"),
            ("C138195", "Soft Tissue Sarcoma"),  # walked, never listed
        ),
        {},
    )
    [group] = grouping.groups
    assert grouping.skipped == ["C138195"]
    golden = json.loads((GOLDEN / "id-found-soft-tissue-sarcoma.json").read_text())
    assert group.document(TOKENS) == {
        "concept_id": golden["conceptId"],
        "name": golden["name"],
        "pretty_url_name": golden["prettyUrlName"],
    }
    assert group.document(TOKENS)["concept_id"] == ["C7707", "C7715", "C9306", "C115292"]


def test_groups_are_in_key_order_and_named_by_the_first_concept() -> None:
    grouping = group_concepts(
        concepts(("C2", "breast Cancer"), ("C1", "Breast Cancer"), ("C3", "Anal Cancer")), {}
    )
    assert [(g.key, g.name, g.codes) for g in grouping.groups] == [
        ("anal cancer", "Anal Cancer", ["C3"]),
        ("breast cancer", "breast Cancer", ["C2", "C1"]),
    ]


def test_overrides_change_labels_and_urls() -> None:
    """Scenarios 2 and 3."""
    overrides = parse_overrides(
        "C7510|Thyroid Cancer|thyroid-cancer\n"
        "C3163|<INHERIT>|cll\n"
        "C7724|<INHERIT>|<BLANK>\n"
        "C4911|Stomach Cancer|<INHERIT>\n"
        "C1|Unused|unused"
    )
    grouping = group_concepts(
        concepts(
            ("C7510", "Thyroid Gland Carcinoma"),
            ("C3163", "Chronic Lymphocytic Leukemia"),
            ("C7724", "Bone Cancer"),
            ("C4911", "Gastric Carcinoma"),
        ),
        overrides,
    )
    documents = {g.codes[0]: g.document(TOKENS) for g in grouping.groups}
    assert documents["C7510"] == {
        "concept_id": ["C7510"],
        "name": {"label": "Thyroid Cancer", "normalized": "thyroid cancer"},
        "pretty_url_name": "thyroid-cancer",
    }
    assert documents["C3163"]["name"]["label"] == "Chronic Lymphocytic Leukemia"
    assert documents["C3163"]["pretty_url_name"] == "cll"
    assert documents["C7724"]["pretty_url_name"] is None
    # a new label keeps the URL of the original name
    assert documents["C4911"]["name"] == {"label": "Stomach Cancer", "normalized": "stomach cancer"}
    assert documents["C4911"]["pretty_url_name"] == "gastric-carcinoma"
    assert len(grouping.overridden) == 4, f"overridden: {grouping.overridden}"
    assert [o.code_list for o in grouping.unused_overrides] == ["C1"]


def test_a_two_code_override_must_fall_in_one_group() -> None:
    """Scenario 4."""
    overrides = parse_overrides("C2955,C118808|Colorectal Cancer|colorectal-cancer")
    together = group_concepts(
        concepts(("C2955", "Colorectal Carcinoma"), ("C118808", "Colorectal Carcinoma")), overrides
    )
    assert together.groups[0].document(TOKENS)["pretty_url_name"] == "colorectal-cancer"
    with pytest.raises(
        OverrideError,
        match=r"override for C2955,C118808 \(line 1\) matches colorectal carcinoma and "
        r"colorectal adenocarcinoma",
    ):
        group_concepts(
            concepts(("C2955", "Colorectal Carcinoma"), ("C118808", "Colorectal Adenocarcinoma")),
            overrides,
        )


def test_a_group_matching_two_overrides_is_an_error() -> None:
    overrides = parse_overrides("C1|A|a\nC2|B|b")
    with pytest.raises(OverrideError, match="group lung cancer matches overrides C1 and C2"):
        group_concepts(concepts(("C1", "Lung Cancer"), ("C2", "Lung Cancer")), overrides)


def test_warnings_for_overlong_urls_and_label_twins() -> None:
    messages: list[str] = []
    long_name = (
        "Childhood Hepatoblastoma and Hepatocellular Carcinoma with Lung and Bone Metastases"
    )
    grouping = group_concepts(
        concepts(("C1", long_name), ("C2", "Lung Cancer"), ("C3", "Lung Carcinoma")),
        parse_overrides("C3|Lung Cancer|lung-carcinoma"),
        log=messages.append,
    )
    assert grouping.dropped_urls == [long_name.lower()]
    assert messages == [
        "override results in two 'lung cancer' groups",
        f"dropping overlong url for {long_name.lower()!r}",
    ]
    assert grouping.groups[0].document(TOKENS)["pretty_url_name"] is None
    # a URL given by an override replaces the overlong one without a warning
    messages.clear()
    grouping = group_concepts(
        concepts(("C1", long_name)), parse_overrides("C1|<INHERIT>|hepatoblastoma"), messages.append
    )
    assert grouping.groups[0].url == "hepatoblastoma" and messages == []


def test_url_clashes_are_listed_not_refused() -> None:
    grouping = group_concepts(
        concepts(("C1", "Non Small Cell Lung Cancer"), ("C2", "Non-Small Cell Lung Cancer")), {}
    )
    documents = [g.document(TOKENS) for g in grouping.groups]
    assert url_clashes(documents) == {
        "non-small-cell-lung-cancer": ["Non Small Cell Lung Cancer", "Non-Small Cell Lung Cancer"]
    }
    outcome = check_indexes(build_from(documents), documents, [])[2]
    assert not outcome.passed
    assert outcome.summary.startswith(
        "non-small-cell-lung-cancer used by Non Small Cell Lung Cancer and Non-Small Cell"
    )


def build_from(documents: list[dict]) -> ListingBuild:
    codes = {code for doc in documents for code in doc["concept_id"]}
    return ListingBuild(documents, [], codes, "test")


# --- the walk ---------------------------------------------------------------------------------


def test_the_walk_goes_depth_first_in_batches(tmp_path: Path) -> None:
    evs = LocalEvs(write_demo_evs(tmp_path / "ncit.json"))
    asked: list[list[str]] = []

    def fetch(codes):
        asked.append(list(codes))
        return evs.concepts(codes)

    messages: list[str] = []
    walk = walk_concepts(fetch, batch_size=3, log=messages.append)
    every = {c["code"] for c in demo_evs_concepts()}
    assert set(walk.concepts) == every
    assert asked[0] == ["C7057", "C1908"]
    assert all(len(batch) <= 3 for batch in asked)
    # depth first by batch: the roots' children C2991, C138195, C1909 | C131913; the first
    # batch's children C3262, C1647, C68814 | C106250, ...; below C3262 everything comes
    # before the second batch of its level, and C131913 (second batch at the top) comes last
    assert asked[1] == ["C2991", "C138195", "C1909"]
    assert asked[2] == ["C3262", "C1647", "C68814"]
    order = list(walk.concepts)
    assert order.index("C7707") < order.index("C106250")
    assert order[-1] == "C131913"
    assert walk.missing == ["C999999"]  # a child EVS no longer answers for
    assert any("not found: C999999" in m for m in messages)
    assert walk.requests == len(asked) and not walk.limited


def test_the_walk_stops_at_the_limit(tmp_path: Path) -> None:
    evs = LocalEvs(write_demo_evs(tmp_path / "ncit.json"))
    walk = walk_concepts(evs.concepts, limit=5)
    assert walk.limited
    assert 5 <= len(walk.concepts) < len(demo_evs_concepts()), (
        f"a walk limited to 5 found {len(walk.concepts)} concepts: {list(walk.concepts)}"
    )
    assert list(walk.concepts)[:2] == ["C7057", "C1908"]
    roots = list(walk_concepts(evs.concepts, limit=0).concepts)
    assert roots == ["C7057", "C1908"], f"a walk limited to 0 asks the two roots, not {roots}"


def test_bad_concept_objects_fail_with_the_object_shown() -> None:
    with pytest.raises(ConceptError, match="concept failure: no code in"):
        walk_concepts(lambda codes: [{"name": "x"}])
    with pytest.raises(ConceptError, match="synonyms of C7057 are not a list"):
        walk_concepts(lambda codes: [{"code": "C7057", "synonyms": "none"}])


# --- documents, files and test mode -----------------------------------------------------------


def test_the_labels_are_the_golden_trial_types(tmp_path: Path) -> None:
    """Scenario 9: the 8 labels give the API's trial-type-info-data.jsonl, byte for byte."""
    labels = parse_labels(LABELS_TEXT)
    golden = (GOLDEN / "trial-type-info-data.jsonl").read_text(encoding="utf-8")
    assert bulk_dump("trialtypeinfov1", labels) == golden
    with pytest.raises(ValueError, match="trials/labels line 2 is not"):
        parse_labels("a|b|c\nd|e")


def test_demo_data_gives_the_golden_listing_documents(tmp_path: Path) -> None:
    evs = LocalEvs(write_demo_evs(tmp_path / "ncit.json"))
    overrides = (DEMO_DATA / "ctl--trials--overrides.txt").read_text(encoding="utf-8")
    build = build_listing(control(overrides), fetch=evs.concepts)
    by_url = {doc["pretty_url_name"]: doc for doc in build.listing}
    for name in ("soft-tissue-sarcoma", "rhabdomyosarcoma"):
        golden = json.loads((GOLDEN / f"id-found-{name}.json").read_text())
        assert by_url[name] == {
            "concept_id": golden["conceptId"],
            "name": golden["name"],
            "pretty_url_name": golden["prettyUrlName"],
        }
    assert by_url["colorectal-cancer"]["concept_id"] == ["C2955", "C4910"]
    assert by_url["stage-iiia-non-small-cell-lung-cancer-ajcc-v7"]["name"]["normalized"] == (
        "stage IIIA non-small cell lung cancer ajcc v7"
    )
    assert by_url["sezary-syndrome"]["name"]["label"] == "Sézary Syndrome"
    assert by_url["fluorouracil-5pct-cream"]["concept_id"] == ["C62528"]
    assert by_url["a-interferon-2b"]["name"]["label"] == "α-Interferon 2b"
    assert None in by_url  # the overlong name and the <BLANK> override
    assert all("C138195" not in d["concept_id"] for d in build.listing)
    checks = check_indexes(build, build.listing, build.labels)
    assert [c.passed for c in checks] == [True, True, True], [c.summary for c in checks]


def test_test_mode_and_dump_files(tmp_path: Path) -> None:
    evs = LocalEvs(write_demo_evs(tmp_path / "ncit.json"))
    build = build_listing(control(), fetch=evs.concepts)
    result = run_load(
        build,
        control(),
        None,
        now=datetime(2024, 1, 10, 1, 30, 5),
        output_dir=tmp_path / "out",
        dump_files=True,
    )
    out = tmp_path / "out"
    assert result.mode == "test"
    assert sorted(p.name for p in out.iterdir()) == [
        "ListingInfo-20240110013005.json",
        "ListingInfo.dump",
        "TrialTypeInfo-20240110013005.json",
        "TrialTypeInfo.dump",
        "concepts-20240110013005.json",
    ]
    assert json.loads((out / "ListingInfo-20240110013005.json").read_text()) == {
        "ListingInfo": build.listing
    }
    assert json.loads((out / "TrialTypeInfo-20240110013005.json").read_text()) == {
        "TrialTypeInfo": parse_labels(LABELS_TEXT)
    }
    assert (out / "TrialTypeInfo.dump").read_text() == (
        GOLDEN / "trial-type-info-data.jsonl"
    ).read_text()
    lines = (out / "ListingInfo.dump").read_text().splitlines()
    assert lines[0] == '{"index": {"_index": "listinginfov1"}}'
    assert [json.loads(line) for line in lines[1::2]] == build.listing
    pairs = json.loads((out / "concepts-20240110013005.json").read_text())
    numbers = [int(code[1:]) for code, _ in pairs]
    assert numbers == sorted(numbers) and ["C7707", "Soft Tissue Sarcoma"] in pairs

    # the cached files give the same documents without EVS
    again = build_listing(control(), concepts_file=str(out / "concepts-20240110013005.json"))
    assert sorted(map(json.dumps, again.listing)) == sorted(map(json.dumps, build.listing))
    cached = build_listing(control(), groups_file=str(out / "ListingInfo.dump"))
    assert cached.listing == build.listing and cached.grouping is None
    assert read_cached_groups(out / "TrialTypeInfo.dump") == []


def test_cached_files_that_cannot_be_read(tmp_path: Path) -> None:
    bad = tmp_path / "concepts.json"
    bad.write_text('[["C1", "A"], ["C2"]]')
    with pytest.raises(
        ConceptError, match="entry 2 of the concepts file .* is not \\[code, name\\]"
    ):
        read_cached_concepts(bad)
    with pytest.raises(TrialLoadError, match="cannot read the groups file"):
        read_cached_groups(tmp_path / "missing.dump")
    with pytest.raises(TrialLoadError, match="EVS returned no concepts for the roots"):
        build_listing(control(), fetch=lambda codes: [])


def test_required_fields() -> None:
    good = {
        "concept_id": ["C7707", "C115292"],
        "name": {"label": "Soft Tissue Sarcoma", "normalized": "soft tissue sarcoma"},
        "pretty_url_name": None,
    }
    assert listing_problems(good) == []
    assert listing_problems({**good, "concept_id": ["C115292", "C7707"]}) == [
        "concept ids not in numeric order without repeats"
    ]
    assert listing_problems({"concept_id": ["7707"], "name": {"label": ""}}) == [
        "concept id '7707' is not C<digits>",
        "no name.label",
        "no name.normalized",
    ]
    assert listing_problems({**good, "pretty_url_name": "a" * 76}) == [
        f"pretty_url_name {'a' * 76!r} is neither null nor a name of at most 75"
    ]
