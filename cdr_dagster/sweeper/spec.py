"""The ``SweepSpecifications`` document: parsing, the reference time, and full validation.

docs/behaviour-notes.md#sweep-specifications. Every ``SweepSpec`` is read and checked before
anything is swept,
rules for other tiers included (an invalid rule meant for PROD stops a DEV run, as before).
Where the legacy silently took the last of two ``Oldest`` elements, crashed on ``Oldest`` =
"abc" without telling anyone, or ran a rule for a tier spelt ``prod`` never, this module
reports an error that names the rule, the element or attribute, the value and its line, and
collects every problem in the document so one edit can fix them all:

- unknown elements or attributes (attributes in the CDR namespace are allowed), repeated
  elements, empty ``Name``/``File``, unknown ``Action``/``CustomProc``, tiers that are not
  DEV, QA, STAGE or PROD, numbers that are not whole non-negative numbers;
- the legacy combination rules: ``File`` needed except for Custom, ``OutputFile`` for
  Archive and TruncateArchive, ``Oldest``+``Youngest`` for Archive, non-zero ``Biggest`` and
  ``Smallest`` for truncation, ``Oldest`` for ``expireMeetingRecordings``, ages of at least
  one day and at most ten years, not both ages and sizes;
- safety rules of our own: a root (``InputRoot``) is needed for file rules and may not be the
  file-system root; a ``File`` pattern may not climb out of its root (``..`` or an absolute
  path elsewhere). Relative roots are taken below the CDR base folder, never the process's
  working directory (the legacy used ``chdir``, which other jobs in the process would feel).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo

from lxml import etree

from cdr_dagster.cdr.xml import XmlError, parse_xml
from cdr_dagster.settings import TIERS

ROOT_ELEMENT = "SweepSpecifications"
ACTIONS = ("Archive", "Delete", "TruncateArchive", "TruncateDelete", "Custom")
CUSTOM_PROCS = ("expireMeetingRecordings",)
CDR_NAMESPACE = "cips.nci.nih.gov/cdr"

DAY_SECONDS = 86400
YEARS_OLD = 10
LONG_TIME = DAY_SECONDS * 365.25 * YEARS_OLD

_RULE_ELEMENTS = (
    "Name",
    "Action",
    "CustomProc",
    "InputRoot",
    "InputFiles",
    "OutputFile",
    "Oldest",
    "Youngest",
    "Biggest",
    "Smallest",
    "Comment",
)
_NUMBERS = ("Oldest", "Youngest", "Biggest", "Smallest")
_WHOLE = re.compile(r"^[+-]?\d+$")


class SweepSpecError(ValueError):
    """The sweep configuration cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[str], source: str = "the sweep configuration") -> None:
        self.errors = list(errors)
        self.source = source
        lines = "\n".join(f"- {error}" for error in self.errors)
        super().__init__(f"{len(self.errors)} error(s) in {source}:\n{lines}")


def dst_offset_west(tz: tzinfo, year: int) -> int:
    """Seconds west of UTC in the zone's summer time (``time.altzone``; 14400 for New York).

    Like ``time.altzone``, a zone without summer time gives its standard offset.
    """
    offsets = []
    for month in (1, 7):
        moment = datetime(year, month, 1, 12, tzinfo=timezone.utc).astimezone(tz)
        offset = moment.utcoffset()
        offsets.append(0 if offset is None else int(offset.total_seconds()))
    return -max(offsets)


def reference_time(now: float, tz: tzinfo) -> float:
    """The legacy reference instant for ages (docs/behaviour-notes.md#sweep-ages, ``normTime``).

    ``now - (now mod 1 day) + altzone - 1 day``: 04:00 UTC on the day before the current UTC
    date for US Eastern, whatever the season. ``Oldest``/``Youngest`` days count back from it.
    """
    year = datetime.fromtimestamp(now, timezone.utc).year
    return now - (now % DAY_SECONDS) + dst_offset_west(tz, year) - DAY_SECONDS


def normalize_path(text: str) -> str:
    """Backslashes to slashes (the legacy ``normPath``)."""
    return text.replace("\\", "/")


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or os.path.isabs(path)


def inside(path: str, root: str) -> bool:
    """True when normalized ``path`` is ``root`` or below it (both absolute)."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/") or root == "/"


@dataclass(frozen=True)
class SweepRule:
    """One validated ``SweepSpec``.

    ``root`` is absolute and normalized; ``patterns`` are as written (slashes normalized);
    cut-offs are epoch seconds computed from the reference time (``old``/``young``).
    """

    number: int
    line: int | None
    name: str
    action: str
    tiers: frozenset[str] | None = None
    root: str | None = None
    patterns: tuple[str, ...] = ()
    output_file: str | None = None
    oldest_days: int | None = None
    youngest_days: int | None = None
    biggest: int | None = None
    smallest: int | None = None
    custom_proc: str | None = None
    reference: float = 0.0
    old: float | None = None
    young: float | None = None

    @property
    def label(self) -> str:
        """``SweepSpec 3 "Archive old logs"`` for messages."""
        return f'SweepSpec {self.number} "{self.name}"'

    @property
    def is_custom(self) -> bool:
        """A ``Custom`` rule (no files)."""
        return self.action == "Custom"

    @property
    def writes_archive(self) -> bool:
        """Archive and TruncateArchive write a ``.tar.bz2``."""
        return self.action in ("Archive", "TruncateArchive")

    def active_on(self, tier: str) -> bool:
        """Rules without ``Tiers`` apply everywhere; otherwise only on the tiers listed."""
        return self.tiers is None or tier in self.tiers

    @property
    def tiers_text(self) -> str:
        """The tiers as the legacy log showed them (``ALL`` when none)."""
        return " ".join(sorted(self.tiers)) if self.tiers else "ALL"


@dataclass(frozen=True)
class SweepConfig:
    """All rules of a valid document, in document order, and where it came from."""

    source: str
    rules: tuple[SweepRule, ...] = field(default_factory=tuple)

    def active_rules(self, tier: str) -> list[SweepRule]:
        """The rules that run on ``tier``."""
        return [rule for rule in self.rules if rule.active_on(tier)]

    def inactive_rules(self, tier: str) -> list[SweepRule]:
        """The rules meant for other tiers."""
        return [rule for rule in self.rules if not rule.active_on(tier)]


def _direct_text(element: etree._Element) -> str:
    """The element's own text and CDATA (``cdr.getTextContent``), stripped."""
    return "".join(element.xpath("text()")).strip()


def _line(element: etree._Element) -> str:
    return f"line {element.sourceline}" if element.sourceline else "line ?"


def _is_element(node: object) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


class _RuleReader:
    """Reads one ``SweepSpec`` element and collects its problems."""

    def __init__(
        self, element: etree._Element, number: int, reference: float, basedir: str
    ) -> None:
        self.element = element
        self.number = number
        self.reference = reference
        self.basedir = basedir
        self.errors: list[str] = []
        self.values: dict[str, str] = {}
        self.lines: dict[str, int | None] = {}
        self.patterns: list[tuple[str, int | None]] = []
        self.name = "Unknown"

    def where(self, element: etree._Element | None = None) -> str:
        element = self.element if element is None else element
        named = f' "{self.name}"' if self.name != "Unknown" else ""
        return f"SweepSpec {self.number}{named} ({_line(element)})"

    def error(self, text: str, element: etree._Element | None = None) -> None:
        self.errors.append(f"{self.where(element)}: {text}")

    def read(self) -> SweepRule | None:
        for child in self.element:
            if _is_element(child) and etree.QName(child).localname == "Name":
                self.name = _direct_text(child) or "Unknown"
                break
        self._attributes()
        for child in self.element:
            if not _is_element(child):
                continue
            tag = child.tag
            if tag not in _RULE_ELEMENTS:
                self.error(f"unknown element <{tag}>", child)
                continue
            if tag == "Comment":
                continue
            if tag in self.values:
                self.error(
                    f"<{tag}> given twice (first at line {self.lines[tag]}); say it once",
                    child,
                )
                continue
            self.lines[tag] = child.sourceline
            if tag == "InputFiles":
                self.values[tag] = ""
                self._input_files(child)
            else:
                self.values[tag] = _direct_text(child)
        return self._build()

    def _attributes(self) -> None:
        self.tiers: frozenset[str] | None = None
        for name, value in self.element.attrib.items():
            qname = etree.QName(name)
            if qname.namespace == CDR_NAMESPACE:
                continue
            if qname.namespace is not None or qname.localname != "Tiers":
                self.error(f"unknown attribute {qname.localname}={value!r}")
                continue
            words = value.split()
            bad = [word for word in words if word not in TIERS]
            for word in bad:
                self.error(
                    f"Tiers value {word!r} is not a CDR tier (one of {', '.join(TIERS)}; "
                    "upper case)"
                )
            if words and not bad:
                self.tiers = frozenset(words)

    def _input_files(self, element: etree._Element) -> None:
        for child in element:
            if not _is_element(child):
                continue
            if child.tag == "Comment":
                continue
            if child.tag != "File":
                self.error(f"unknown element <{child.tag}> in <InputFiles>", child)
                continue
            text = _direct_text(child)
            if not text:
                self.error("empty <File> pattern", child)
                continue
            self.patterns.append((normalize_path(text), child.sourceline))

    def _number(self, tag: str) -> int | None:
        text = self.values.get(tag)
        if text is None:
            return None
        line = f"line {self.lines.get(tag)}"
        if not _WHOLE.match(text):
            self.errors.append(
                f"{self.where()}: <{tag}> value {text!r} ({line}) is not a whole number"
            )
            return None
        value = int(text)
        if value < 0:
            self.errors.append(f"{self.where()}: <{tag}> value {text!r} ({line}) is negative")
            return None
        return value

    def _root(self) -> str | None:
        text = self.values.get("InputRoot")
        if text is None:
            return None
        if not text:
            self.error("<InputRoot> is empty")
            return None
        path = normalize_path(text)
        if not _is_absolute(path):
            path = posixpath.join(normalize_path(self.basedir), path)
        path = posixpath.normpath(path)
        if path == "/" or re.fullmatch(r"[A-Za-z]:/?", path):
            self.error(f"<InputRoot> {text!r} is the root of a file system; refused")
            return None
        return path

    def _check_patterns(self, root: str) -> list[str]:
        good = []
        for pattern, line in self.patterns:
            where = f"{self.where()}: <File> {pattern!r} (line {line})"
            parts = pattern.split("/")
            if ".." in parts:
                self.errors.append(f"{where} climbs out of its root with '..'; refused")
                continue
            if _is_absolute(pattern):
                target = posixpath.normpath(pattern)
                if not inside(target, root) or target == root:
                    self.errors.append(f"{where} is outside its <InputRoot> {root!r}; refused")
                    continue
            elif pattern in (".", "./") or posixpath.normpath(pattern) == ".":
                self.errors.append(f"{where} names the root itself; refused")
                continue
            good.append(pattern)
        return good

    def _build(self) -> SweepRule | None:
        values = self.values
        action = values.get("Action")
        if self.name == "Unknown":
            self.error("no <Name> (every SweepSpec needs a name)")
        if action is None:
            self.error("no <Action>")
        elif action not in ACTIONS:
            self.error(f"<Action> {action!r} is not one of {', '.join(ACTIONS)}")
            action = None
        custom = values.get("CustomProc")
        oldest, youngest = self._number("Oldest"), self._number("Youngest")
        biggest, smallest = self._number("Biggest"), self._number("Smallest")
        root = self._root()
        patterns: list[str] = []
        if action == "Custom":
            if custom is None or not custom:
                self.error("Custom action without <CustomProc>")
            elif custom not in CUSTOM_PROCS:
                self.error(f"<CustomProc> {custom!r} is not one of {', '.join(CUSTOM_PROCS)}")
            elif oldest is None:
                self.error(f"Custom {custom} needs <Oldest>")
        elif action is not None:
            if not self.patterns:
                self.error("no <File> in <InputFiles> (needed for every action but Custom)")
            if "InputRoot" not in values:
                self.error("no <InputRoot> (the folder the <File> patterns are in)")
            if root is not None:
                patterns = self._check_patterns(root)
            output = values.get("OutputFile")
            if action in ("Archive", "TruncateArchive") and not output:
                self.error(f"no <OutputFile> for Action {action}")
            if action == "Archive" and (oldest is None or youngest is None):
                if "Oldest" in values and "Youngest" in values:
                    pass  # a bad number was reported already
                else:
                    self.error("Archive needs both <Oldest> and <Youngest>")
            if action.startswith("Truncate") and not (biggest and smallest):
                if (
                    "Biggest" in values
                    and "Smallest" in values
                    and (biggest is None or smallest is None)
                ):
                    pass  # a bad number was reported already
                else:
                    self.error(f"{action} needs non-zero <Biggest> and <Smallest>")
        ref = self.reference
        old = ref - oldest * DAY_SECONDS if oldest is not None else None
        young = ref - youngest * DAY_SECONDS if youngest is not None else None
        if old is not None:
            if old >= ref or (young is not None and young >= ref):
                self.error(
                    f"a date >= the current date (<Oldest> {oldest}"
                    + (f", <Youngest> {youngest}" if youngest is not None else "")
                    + "; ages are at least 1 day)"
                )
            long_ago = ref - LONG_TIME
            if old < long_ago:
                self.error(f"<Oldest> {oldest} days is older than {YEARS_OLD} years")
            if young is not None and young < long_ago:
                self.error(f"<Youngest> {youngest} days is older than {YEARS_OLD} years")
        if oldest is not None and biggest is not None:
            self.error("can't specify both big/small (<Biggest>) and old/young (<Oldest>)")
        if self.errors or action is None:
            return None
        return SweepRule(
            number=self.number,
            line=self.element.sourceline,
            name=self.name,
            action=action,
            tiers=self.tiers,
            root=root if action != "Custom" else root,
            patterns=tuple(patterns),
            output_file=values.get("OutputFile") or None,
            oldest_days=oldest,
            youngest_days=youngest,
            biggest=biggest,
            smallest=smallest,
            custom_proc=custom if action == "Custom" else None,
            reference=ref,
            old=old,
            young=young,
        )


def parse_sweep_specifications(
    data: bytes | str,
    source: str,
    *,
    now: float,
    tz: tzinfo,
    basedir: str,
) -> SweepConfig:
    """Parse and validate a whole ``SweepSpecifications`` document.

    ``source`` names it in messages (a file path or ``CDR0000012345 version 4``); ``now`` is
    the epoch time the reference instant is taken from; ``tz`` the CDR's time zone;
    ``basedir`` the folder relative ``InputRoot``s are below. Raises :class:`SweepSpecError`
    listing every problem; returns the rules of all tiers otherwise.
    """
    try:
        root = parse_xml(data, name=source)
    except XmlError as exc:
        raise SweepSpecError([str(exc)], source) from exc
    if etree.QName(root).localname != ROOT_ELEMENT or etree.QName(root).namespace:
        raise SweepSpecError(
            [f"{ROOT_ELEMENT} not found at root of {source} (found <{root.tag}>)"], source
        )
    reference = reference_time(now, tz)
    errors: list[str] = []
    rules: list[SweepRule] = []
    number = 0
    for child in root:
        if not _is_element(child):
            continue
        if child.tag == "Info":
            continue
        if child.tag != "SweepSpec":
            errors.append(f"unknown element <{child.tag}> ({_line(child)}) in {ROOT_ELEMENT}")
            continue
        number += 1
        reader = _RuleReader(child, number, reference, basedir)
        rule = reader.read()
        errors.extend(reader.errors)
        if rule is not None:
            rules.append(rule)
    if errors:
        raise SweepSpecError(errors, source)
    return SweepConfig(source=source, rules=tuple(rules))
