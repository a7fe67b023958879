"""The repository stands on its own: what the code cites is in docs/, and every anchor exists.

Docstrings and comments cite ``docs/<file>.md#<anchor>``; each such file must exist with that
anchor (an ``<a id="...">`` or a heading). Nothing may cite the design notes or the specs the
project started from, which live outside the repository.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", ".demo", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".xml", ".xsl", ".txt", ".csv", ".toml"}
CITATION = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
# Spelt in pieces so this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./" + "shared",
            r"\b" + "DES" + r"IGN( [0-9]|\.md)",
            "ANCH" + "ORS",
            r"\b" + "spec" + r" 0[1-4]\b",
            r"\b" + "Spec" + r" 0[1-4]\b",
        ]
    )
)


def text_files() -> list[Path]:
    found = []
    for path in REPO.rglob("*"):
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in path.parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name == "Makefile"):
            found.append(path)
    return found


def anchors(markdown: str) -> set[str]:
    """Explicit ``<a id>`` anchors and the slugs GitHub gives headings."""
    ids = set(re.findall(r'<a id="([\w-]+)"></a>', markdown))
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        ids.add(slug)
    return ids


def test_every_cited_docs_anchor_exists() -> None:
    known: dict[str, set[str]] = {}
    broken = []
    cited = 0
    for path in text_files():
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            for name, anchor in CITATION.findall(line):
                if not anchor:
                    continue
                cited += 1
                target = REPO / "docs" / name
                if name not in known:
                    known[name] = (
                        anchors(target.read_text(encoding="utf-8")) if target.is_file() else set()
                    )
                if anchor not in known[name]:
                    broken.append(f"{path.relative_to(REPO)}:{number}: docs/{name}#{anchor}")
    assert cited > 100, (
        f"only {cited} docs citations found; is the search looking in the right place?"
    )
    assert not broken, "citations of missing docs anchors:\n" + "\n".join(broken)


def lines_matching(pattern: re.Pattern[str]) -> list[str]:
    """``path:line: text`` of every line of the repository's text files ``pattern`` finds."""
    hits = []
    for path in text_files():
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            if pattern.search(line):
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:90]}")
    return hits


def test_nothing_cites_documents_outside_the_repository() -> None:
    hits = lines_matching(OUTSIDE)
    assert not hits, "lines citing documents outside the repository:\n" + "\n".join(hits)


def test_docs_index_links_every_doc_it_ships() -> None:
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    shipped = {path.name for path in (REPO / "docs").glob("*.md")} - {"README.md"}
    missing = {name for name in shipped if f"({name})" not in index}
    assert not missing, f"docs/README.md does not link {sorted(missing)}"


# Spelt in pieces so this file does not match itself.
CONFLICT_MARKER = re.compile("^(" + "<" * 7 + "|" + ">" * 7 + r")( |$)|^" + "=" * 7 + "$")


def test_no_merge_conflict_markers_are_left() -> None:
    hits = lines_matching(CONFLICT_MARKER)
    assert not hits, "merge conflict markers left in:\n" + "\n".join(hits)
