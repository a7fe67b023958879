"""The demo's CDR documents, read from the ``documents-*.xml`` bundles of the data folder.

A bundle holds one ``<Document>`` element per CDR document (the format is described at the top
of ``data/documents-glossary.xml``). :func:`load_documents` turns them into
:class:`DemoDocument` objects: the current working XML, the versions with their own XML and
flags, what was exported to Cancer.gov, and the blob of a Media document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from cdr_dagster.cdr.xml import parse_xml
from cdr_dagster.demo.datafiles import DataFiles
from cdr_dagster.demo.templates import to_datetime

#: Where the title of a document type comes from when the bundle gives none (the CDR computes
#: titles with a filter per document type; these are the parts the demo needs).
TITLE_PATHS = {
    "GlossaryTermName": "TermName/TermNameString",
    "Term": "PreferredName",
    "Media": "MediaTitle",
    "Summary": "SummaryTitle",
    "DrugInformationSummary": "Title",
    "Organization": "OrganizationNameInformation/OfficialName/Name",
}

#: The CDR user who created and saved each type of document in the demo.
EDITORS = {
    "GlossaryTermName": "mlee",
    "GlossaryTermConcept": "mlee",
    "Media": "mlee",
    "DrugInformationSummary": "mlee",
    "Summary": "pwright",
    "Organization": "pwright",
    "PDQBoardMemberInfo": "pwright",
    "Person": "pwright",
    "Licensee": "bjones",
    "Term": "cdroperator",
}
DEFAULT_EDITOR = "rbaker"


class BundleError(ValueError):
    """A document bundle is inconsistent; the message names the document."""


@dataclass(frozen=True)
class DemoVersion:
    """One row of ``all_doc_versions``."""

    num: int
    dt: datetime
    publishable: bool
    val_status: str
    xml: str
    root: etree._Element
    comment: str | None


@dataclass
class DemoDocument:
    """One CDR document with its versions and its Cancer.gov state."""

    id: int
    doc_type: str
    title: str
    status: str
    created: datetime
    first_pub: datetime | None
    xml: str
    root: etree._Element
    versions: list[DemoVersion]
    exported: str | None
    blob: str | None
    cg_version: int | None
    editor: str
    bundle: str = field(default="")

    @property
    def cdr_id(self) -> str:
        """The id in the CDR's ``CDR0000012345`` form."""
        return f"CDR{self.id:010d}"

    @property
    def latest_publishable(self) -> DemoVersion | None:
        """The highest-numbered publishable version, if any."""
        publishable = [v for v in self.versions if v.publishable]
        return publishable[-1] if publishable else None

    @property
    def on_cancer_gov(self) -> DemoVersion | None:
        """The version currently on Cancer.gov (``pub_proc_cg``), if the document is there."""
        if self.cg_version is None:
            return None
        return next(v for v in self.versions if v.num == self.cg_version)


def _serialize(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode", with_tail=False)


def _standalone(element: etree._Element) -> etree._Element:
    """A copy of ``element`` as the root of its own tree (namespaces carried over)."""
    return parse_xml(_serialize(element))


def _content(element: etree._Element) -> etree._Element | None:
    children = [c for c in element if isinstance(c.tag, str)]
    if len(children) > 1:
        raise BundleError(f"<{element.tag}> holds more than one document root")
    return _standalone(children[0]) if children else None


def _title(doc_type: str, root: etree._Element, given: str | None, where: str) -> str:
    if given:
        return given
    if doc_type == "Licensee":
        name = root.findtext("LicenseeInformation/LicenseeNameInformation/OfficialName/Name")
        status = root.findtext("LicenseeInformation/LicenseeStatus")
        return f"{(name or '').strip()};{(status or '').strip()}"
    path = TITLE_PATHS.get(doc_type)
    text = root.findtext(path) if path else None
    if not text or not text.strip():
        raise BundleError(f"{where}: no title attribute and no title rule for {doc_type}")
    return " ".join(text.split())[:255]


def _document(element: etree._Element, bundle: str) -> DemoDocument:
    doc_id = int(element.get("id", "0"))
    doc_type = element.get("type") or ""
    where = f"{bundle}: document {doc_id}"
    if not doc_id or not doc_type:
        raise BundleError(f"{bundle}: a <Document> lacks id or type")
    current = None
    exported = None
    version_elements = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "Version":
            version_elements.append(child)
        elif child.tag == "Exported":
            node = _content(child)
            exported = _serialize(node) if node is not None else None
        elif current is None:
            current = _standalone(child)
        else:
            raise BundleError(f"{where}: two current documents")
    if current is None:
        raise BundleError(f"{where}: no document XML")
    created = to_datetime(element.get("created")) or datetime(2010, 1, 4, 12)
    first_pub = to_datetime(element.get("first_pub"))
    xml = _serialize(current)
    versions: list[DemoVersion] = []
    for version in version_elements:
        root = _content(version)
        dt = to_datetime(version.get("dt"))
        if dt is None:
            raise BundleError(f"{where}: a version lacks dt")
        versions.append(
            DemoVersion(
                num=int(version.get("num", "0")),
                dt=dt,
                publishable=version.get("publishable", "Y") == "Y",
                val_status=version.get("val_status", "V"),
                xml=_serialize(root) if root is not None else xml,
                root=root if root is not None else current,
                comment=version.get("comment"),
            )
        )
    if not versions:
        versions.append(DemoVersion(1, created + timedelta(hours=1), True, "V", xml, current, None))
    if [v.num for v in versions] != list(range(1, len(versions) + 1)):
        raise BundleError(f"{where}: versions must be numbered 1, 2, ...")
    status = element.get("status", "A")
    cg = element.get("cg")
    if cg == "no":
        cg_version = None
    elif cg:
        cg_version = int(cg)
    elif first_pub is not None and status == "A":
        latest = [v for v in versions if v.publishable]
        cg_version = latest[-1].num if latest else None
    else:
        cg_version = None
    if cg_version is not None and cg_version not in {v.num for v in versions}:
        raise BundleError(f"{where}: version {cg_version} on Cancer.gov does not exist")
    return DemoDocument(
        id=doc_id,
        doc_type=doc_type,
        title=_title(doc_type, current, element.get("title"), where),
        status=status,
        created=created,
        first_pub=first_pub,
        xml=xml,
        root=current,
        versions=versions,
        exported=exported,
        blob=element.get("blob"),
        cg_version=cg_version,
        editor=element.get("user") or EDITORS.get(doc_type, DEFAULT_EDITOR),
        bundle=bundle,
    )


def load_documents(files: DataFiles, names: Iterable[str] | None = None) -> list[DemoDocument]:
    """Every document of the bundles (all ``documents-*.xml`` by default), sorted by id."""
    documents: dict[int, DemoDocument] = {}
    for name in names if names is not None else files.names("documents-*.xml"):
        bundle = parse_xml(files.text(name), name)
        for element in bundle.findall("Document"):
            document = _document(element, name)
            if document.id in documents:
                raise BundleError(f"{name}: document {document.id} appears twice")
            documents[document.id] = document
    return [documents[key] for key in sorted(documents)]
