"""PDQ data partners (Licensee documents): who gets the weekly notice, what it says, expiry.

docs/behaviour-notes.md#partner-notification, read straight from the CDR database instead of through
the admin
web scripts:

- :func:`partner_contacts` is ``get-pdq-contacts.py``: the partners still open, their
  contacts to notify, and when each address was last notified;
- :func:`ftp_partner_names` is ``get-pdq-partners.py`` reduced to what the access report
  needs, FTP login -> partner name;
- :func:`licensee_list` is the query of ``licensee_list.ReportTask``;
- :class:`PartnerNotifier` is ``data_partners.Notify``: data notices, warnings to test
  accounts nearing expiry, expiry notices and the Licensee edit, the operators' summary.

What differs from the legacy job, on purpose (docs/behaviour-notes.md#partner-notification and the
issue):

- "today" and the thresholds are computed per run (and injectable), the test recipients are
  looked up per run;
- every message a run sends is written to a journal in the export job's folder as soon as it
  is sent, so a resumed run sends nobody the same message twice (warnings and expiry notices
  included, which the legacy job could repeat); the live journal and report continue across
  runs for one export job, a test run starts them afresh unless it re-executes a failed test
  run. The journal is keyed on the lower-cased address, as the legacy notification rows are:
  a contact whose address was corrected gets the notice at the new address on a re-run, and
  a second contact with an address already notified for this export is not mailed twice.
  Every step skipped because the journal holds it is logged with that reason (the Licensee
  save is keyed on the Licensee document);
- ``notif_date`` is the database's clock (``CURRENT_TIMESTAMP``, ``GETDATE()`` on SQL Server),
  as the legacy job wrote it, not the clock of the host running the job;
- test and live runs keep separate report files (``report`` and ``report-test``); the legacy
  job let a live run inherit a test run's header and lines;
- the report file is UTF-8 throughout;
- a contact whose start date is not a date is reported and left alone instead of crashing;
- a live run on a tier other than PROD sends partner mail to the test recipients but writes
  its notification rows and Licensee saves to that tier's own database, as the legacy did.

No Dagster here (docs/architecture.md#layers): mail goes out through the ``send`` callable the job
gives.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from lxml import etree
from sqlalchemy import and_, func, insert, select
from sqlalchemy.engine import Connection, Engine

from cdr_dagster.cdr.control import control_value
from cdr_dagster.cdr.documents import SaveError, save_document
from cdr_dagster.cdr.groups import group_email_addresses
from cdr_dagster.cdr.schema import (
    data_partner_notification,
    doc_type,
    document,
    pub_proc,
    query_term,
)
from cdr_dagster.cdr.sql import folded, iequals
from cdr_dagster.cdr.xml import XmlError, get_text, parse_xml

CDR_NS = "cips.nci.nih.gov/cdr"
NAMESPACES = {"cdr": CDR_NS}

STATUS_PATH = "/Licensee/LicenseeInformation/LicenseeStatus"
NAME_PATH = "/Licensee/LicenseeInformation/LicenseeNameInformation/OfficialName/Name"
DATES_PATH = "/Licensee/LicenseeInformation/LicenseeStatusDates"
USERNAME_PATH = "/Licensee/FtpInformation/UserName"
#: Statuses of accounts that are really closed, or never were partners
#: (docs/behaviour-notes.md#licensee-documents).
CLOSED_STATUSES = ("Production-terminated", "Test-expired", "NA-Storefront")
NOTIFIED_TYPES = ("I", "P", "S")
TYPE_STRINGS = {"T": "Test Vendor", "A": "Active Vendor", "S": "Special Vendor"}

OPS_GROUP = "PDQ Partner Notification"
TEST_GROUP = "Test Publishing Notification"
SENDER = "NCI PDQ\u00ae Operator <NCIPDQoperator@mail.nih.gov>"
CONTROL_GROUP = "Publishing"
EXPIRED_STATUS = "Test-expired"
EXPIRY_COMMENT = "Marking account as expired"
#: The CDR account whose name is on the Licensee saves (legacy: a session for ``pdqcontent``).
SAVE_ACCOUNT = "pdqcontent"
EXPIRE_AFTER_DAYS = 100
WARN_AFTER_DAYS = 80
PAUSE_SECONDS = 3.0
RETRY_DELAYS = (5.0, 10.0, 15.0, 20.0)
REPORT_HEADING_STYLE = "text-align: center; background: #365f91; color: white"


class PartnerError(Exception):
    """The notification cannot go on; the text says why (nothing is sent after it)."""


def _normalized(text: str | None) -> str:
    return " ".join((text or "").split())


# ---------------------------------------------------------------------------------------------
# Partners and contacts (docs/behaviour-notes.md#licensee-documents)
# ---------------------------------------------------------------------------------------------


def status_code(status: str | None, licensee_type: str | None) -> str | None:
    """T for a test account, S for a special one, A for any other; None when no status."""
    if not status:
        return None
    if status.lower().startswith("test"):
        return "T"
    return "S" if (licensee_type or "").strip().lower() == "special" else "A"


@dataclass(frozen=True)
class Contact:
    """One partner contact to notify (a ``<contact>`` of ``get-pdq-contacts.py``)."""

    pid: str
    email: str
    person: str
    org_name: str
    org_status: str
    contact_type: str
    activation_date: str
    renewal_date: str
    notified: datetime | None
    org_id: int

    @property
    def display(self) -> str:
        """``{person} at {org} <{email}>``."""
        return f"{self.person} at {self.org_name} <{self.email}>"

    @property
    def type_string(self) -> str:
        """Test Vendor, Active Vendor or Special Vendor."""
        return TYPE_STRINGS[self.org_status]

    @property
    def nominal_recipient(self) -> str:
        """``{person} <{email}>``, where a live message on PROD goes."""
        return f"{self.person} <{self.email}>"


@dataclass(frozen=True)
class Partner:
    """A Licensee document, read."""

    doc_id: int
    name: str
    status: str
    status_code: str | None
    licensee_type: str
    activation: str
    deactivation: str | None
    renewal: str
    ftp_userid: str
    contacts: tuple[tuple[str, str, str, str], ...]  # (fragment id, type, person, email)


def read_licensee(doc_id: int, xml: str) -> Partner:
    """The parts of a Licensee document the partner jobs use (XmlError if not XML)."""
    root = parse_xml(xml, name=f"Licensee CDR{doc_id}")
    info = root.find("LicenseeInformation")
    status = _normalized(get_text(info, "LicenseeStatus", ""))
    kind = get_text(info, "LicenseeType", "") or ""
    code = status_code(status, kind)
    dates = info.find("LicenseeStatusDates") if info is not None else None
    test = code == "T"
    activation = get_text(dates, "TestActivation" if test else "ProductionActivation", "")
    deactivation = get_text(dates, "TestInactivation" if test else "ProductionInactivation")
    contacts = []
    for person in root.iterfind("ContactPersons/ContactPerson"):
        detail = person.find("ContactDetail")
        contacts.append(
            (
                detail.get(f"{{{CDR_NS}}}id", "") if detail is not None else "",
                person.get("Type", ""),
                _normalized(get_text(person, "ContactName", "")),
                (get_text(detail, "Email", "") or "").strip(),
            )
        )
    return Partner(
        doc_id=doc_id,
        name=_normalized(get_text(info, "LicenseeNameInformation/OfficialName/Name", "")),
        status=status,
        status_code=code,
        licensee_type=kind.strip(),
        activation=(activation or "").strip(),
        deactivation=deactivation.strip() if deactivation is not None else None,
        renewal=(get_text(dates, "TestExtension", "") or "").strip(),
        ftp_userid=_normalized(get_text(root, "FtpInformation/UserName", "")),
        contacts=tuple(contacts),
    )


def last_notifications(conn: Connection) -> dict[str, datetime]:
    """{lowercased address: latest ``notif_date``} from ``data_partner_notification``."""
    email = folded(data_partner_notification.c.email_addr)
    stmt = select(email.label("email"), func.max(data_partner_notification.c.notif_date)).group_by(
        email
    )
    latest: dict[str, datetime] = {}
    for address, when in conn.execute(stmt):
        key = address.lower()
        if key not in latest or when > latest[key]:
            latest[key] = when
    return latest


@dataclass
class ContactList:
    """The contacts to notify, in the legacy order, and the partners left out with why."""

    contacts: list[Contact]
    skipped_partners: list[str] = field(default_factory=list)


def partner_contacts(conn: Connection) -> ContactList:
    """Contacts of the open partners (docs/behaviour-notes.md#licensee-documents), sorted by
    (status, lowercase name).

    A partner is open when its indexed status is not one of :data:`CLOSED_STATUSES`, it has a
    status code, its deactivation date is absent or empty and its status does not say
    "deactivated". Contacts of type I, P or S with an e-mail address are kept in document
    order. A Licensee document that cannot be read is left out and named in the result.
    """
    open_ids = (
        select(query_term.c.doc_id)
        .where(
            iequals(query_term.c.path, STATUS_PATH),
            folded(query_term.c.value).notin_([status.lower() for status in CLOSED_STATUSES]),
        )
        .distinct()
    )
    stmt = select(document.c.id, document.c.xml).where(document.c.id.in_(open_ids))
    notified = last_notifications(conn)
    partners: list[Partner] = []
    result = ContactList(contacts=[])
    for doc_id, xml in conn.execute(stmt.order_by(document.c.id)):
        try:
            partner = read_licensee(doc_id, xml)
        except (XmlError, ValueError) as exc:
            result.skipped_partners.append(f"CDR{doc_id}: {exc}")
            continue
        if partner.status_code is None or partner.deactivation:
            continue
        if "deactivated" in partner.status.lower():
            continue
        partners.append(partner)
    partners.sort(key=lambda p: (p.status_code or "", p.name.lower()))
    for partner in partners:
        for fragment, kind, person, email in partner.contacts:
            if kind not in NOTIFIED_TYPES or not email:
                continue
            result.contacts.append(
                Contact(
                    pid=f"{partner.doc_id}_{fragment}",
                    email=email,
                    person=person,
                    org_name=partner.name,
                    org_status=partner.status_code or "",
                    contact_type=kind,
                    activation_date=partner.activation,
                    renewal_date=partner.renewal,
                    notified=notified.get(email.lower()),
                    org_id=partner.doc_id,
                )
            )
    return result


def ftp_partner_names(conn: Connection) -> dict[str, str]:
    """{FTP login (exact case): partner name} of every Licensee document
    (docs/behaviour-notes.md#licensee-documents)."""
    stmt = (
        select(document.c.id, document.c.xml)
        .join(doc_type, doc_type.c.id == document.c.doc_type)
        .where(iequals(doc_type.c.name, "Licensee"))
        .order_by(document.c.id)
    )
    partners = []
    for doc_id, xml in conn.execute(stmt):
        try:
            partners.append(read_licensee(doc_id, xml))
        except (XmlError, ValueError):
            continue
    partners.sort(key=lambda p: (p.status_code or "", p.name.lower()))
    return {p.ftp_userid: p.name for p in partners if p.ftp_userid}


# ---------------------------------------------------------------------------------------------
# Licensee list (docs/behaviour-notes.md#partner-list)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenseeRow:
    """One row of the partner list."""

    doc_id: int
    name: str
    status: str
    test_activation: str | None
    test_extension: str | None
    test_inactivation: str | None
    production_activation: str | None
    production_inactivation: str | None
    ftp_userid: str | None

    @property
    def active(self) -> bool:
        """True for a Production account (counted as Active)."""
        return self.status.lower() == "production"


def licensee_list(conn: Connection) -> list[LicenseeRow]:
    """Licensees whose status is Production or Test and that have a TestActivation date,
    Production first, then by name (case-insensitively, as on SQL Server)."""
    qt = query_term
    n, s, ta = qt.alias("n"), qt.alias("s"), qt.alias("ta")
    optional = {alias: qt.alias(alias) for alias in ("te", "ti", "pa", "pi", "un")}
    paths = {
        "ta": f"{DATES_PATH}/TestActivation",
        "te": f"{DATES_PATH}/TestExtension",
        "ti": f"{DATES_PATH}/TestInactivation",
        "pa": f"{DATES_PATH}/ProductionActivation",
        "pi": f"{DATES_PATH}/ProductionInactivation",
        "un": USERNAME_PATH,
    }
    joined = n.join(s, and_(s.c.doc_id == n.c.doc_id, iequals(s.c.path, STATUS_PATH))).join(
        ta, and_(ta.c.doc_id == n.c.doc_id, iequals(ta.c.path, paths["ta"]))
    )
    for alias, table in optional.items():
        joined = joined.outerjoin(
            table, and_(table.c.doc_id == n.c.doc_id, iequals(table.c.path, paths[alias]))
        )
    stmt = (
        select(
            n.c.doc_id,
            n.c.value,
            s.c.value,
            ta.c.value,
            *(optional[alias].c.value for alias in ("te", "ti", "pa", "pi", "un")),
        )
        .select_from(joined)
        .where(iequals(n.c.path, NAME_PATH), folded(s.c.value).in_(["test", "production"]))
        .order_by(folded(s.c.value), folded(n.c.value), n.c.doc_id)
    )
    return [LicenseeRow(*row) for row in conn.execute(stmt)]


# ---------------------------------------------------------------------------------------------
# The export job and its change counts (docs/behaviour-notes.md#partner-notification)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportJob:
    """The weekly export a notification is about."""

    id: int
    started: datetime

    @property
    def year_week(self) -> tuple[int, int]:
        """ISO (year, week) of the start."""
        year, week, _ = self.started.isocalendar()
        return year, week

    @property
    def date_label(self) -> str:
        """``2025-03-07 (Week 10)``."""
        return f"{self.started:%Y-%m-%d} (Week {self.year_week[1]})"

    def folder(self, basedir: Path) -> Path:
        """``{BASEDIR}/Output/LicenseeDocs/Job{id}``."""
        return basedir / "Output" / "LicenseeDocs" / f"Job{self.id}"

    def changes_file(self, basedir: Path) -> Path:
        """``Job{id}/{year}{week:02d}.changes``."""
        year, week = self.year_week
        return self.folder(basedir) / f"{year}{week:02d}.changes"


def find_export_job(conn: Connection, job_id: int | None = None) -> ExportJob:
    """The ``pub_proc`` row ``job_id`` (whatever its subset and status), or the newest
    successful ``Export`` job; PartnerError when there is none."""
    stmt = select(pub_proc.c.id, pub_proc.c.started)
    if job_id is not None:
        row = conn.execute(stmt.where(pub_proc.c.id == job_id)).first()
        if row is None:
            raise PartnerError(f"publishing job {job_id} does not exist")
    else:
        row = conn.execute(
            stmt.where(
                iequals(pub_proc.c.pub_subset, "Export"), iequals(pub_proc.c.status, "Success")
            )
            .order_by(pub_proc.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            raise PartnerError("no successful Export publishing job found")
    return ExportJob(id=row.id, started=row.started)


@dataclass(frozen=True)
class ChangeCounts:
    """Added, modified and removed documents of one type in the week."""

    doc_type: str
    added: int
    modified: int
    removed: int


def read_changes(path: Path) -> list[ChangeCounts]:
    """The ``{DocType}.{YYYYWW}:{action}:{count}`` lines of a ``.changes`` file, per type.

    PartnerError when the file is missing or a line is not of that form.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PartnerError(f"the change counts file {path} does not exist") from None
    counts: dict[str, dict[str, int]] = {}
    for line in sorted(text.splitlines()):
        if not line.strip():
            continue
        try:
            name, action_name, count = line.strip().split(":")
            kind = name.split(".", 1)[0]
            if action_name not in ("added", "modified", "removed"):
                raise ValueError(action_name)
            counts.setdefault(kind, {})[action_name] = int(count)
        except ValueError:
            raise PartnerError(
                f"{path}: line {line!r} is not DocType.YYYYWW:action:count"
            ) from None
    return [
        ChangeCounts(kind, c.get("added", 0), c.get("modified", 0), c.get("removed", 0))
        for kind, c in sorted(counts.items())
    ]


def changes_table_html(export: ExportJob, counts: Sequence[ChangeCounts]) -> str:
    """The stats table of the data notice (docs/behaviour-notes.md#partner-notification)."""
    from cdr_dagster.reports import Column, Table, render_html_fragment

    year, week = export.year_week
    right = {"text-align": "right"}
    table = Table(
        columns=[
            Column("Document Type"),
            Column("Added", styles=right),
            Column("Modified", styles=right),
            Column("Removed", styles=right),
        ],
        rows=[[c.doc_type, _right(c.added), _right(c.modified), _right(c.removed)] for c in counts],
        caption=f"Changed Documents for Week {week}, {year}",
        caption_style="border-bottom: 1px solid black; font-weight: bold;",
        style="width: 400px;",
    )
    return render_html_fragment(table)


def _right(value: int):  # noqa: ANN202 - a reports Cell
    from cdr_dagster.reports import Cell

    return Cell(value, styles={"text-align": "right"})


# ---------------------------------------------------------------------------------------------
# Expiry (docs/behaviour-notes.md#partner-notification)
# ---------------------------------------------------------------------------------------------

CURRENT, EXPIRING, EXPIRED = "current", "expiring", "expired"


@dataclass(frozen=True)
class Standing:
    """Where a contact's account stands today: current, expiring (with its date) or expired."""

    kind: str
    expires: date | None = None


def standing(contact: Contact, today: date) -> Standing:
    """Test accounts expire 100 days after their start (renewal, else activation) and are
    warned from day 80; the dates compare as ISO strings, an empty start is expired.

    ValueError when the start is needed as a date and is not one.
    """
    if contact.org_status != "T":
        return Standing(CURRENT)
    start = contact.renewal_date or contact.activation_date
    if start < (today - timedelta(days=EXPIRE_AFTER_DAYS)).isoformat():
        if start:
            date.fromisoformat(start[:10])
        return Standing(EXPIRED)
    if start < (today - timedelta(days=WARN_AFTER_DAYS)).isoformat():
        started = date.fromisoformat(start[:10])
        return Standing(EXPIRING, started + timedelta(days=EXPIRE_AFTER_DAYS))
    if start:
        date.fromisoformat(start[:10])
    return Standing(CURRENT)


@dataclass(frozen=True)
class LicenseeEdit:
    """The Licensee document after the expiry edit, or why it was not changed."""

    xml: str | None
    already_expired: bool
    warnings: tuple[str, ...] = ()


def expire_licensee_xml(xml: str, today: date, name: str = "Licensee") -> LicenseeEdit:
    """Mark a Licensee document ``Test-expired`` as of ``today``
    (docs/behaviour-notes.md#partner-notification).

    The status becomes ``Test-expired``; ``DateLastModified`` (the root's last child, made if
    missing) becomes today; ``LicenseeStatusDates/TestInactivation`` is made after
    ``TestActivation`` (or first) if missing and set to today if empty. A document already
    expired is not changed. PartnerError when there is no ``LicenseeStatus``.
    """
    root = parse_xml(xml, name=name)
    status = root.find("LicenseeInformation/LicenseeStatus")
    if status is None:
        raise PartnerError(f"{name} has no LicenseeInformation/LicenseeStatus")
    if get_text(status) == EXPIRED_STATUS:
        return LicenseeEdit(None, True, (f"{name} is already {EXPIRED_STATUS}",))
    today_text = today.isoformat()
    warnings = []
    _set_text(status, EXPIRED_STATUS)
    modified = root.find("DateLastModified")
    if modified is None:
        modified = etree.SubElement(root, "DateLastModified")
    _set_text(modified, today_text)
    dates = root.find("LicenseeInformation/LicenseeStatusDates")
    if dates is None:
        warnings.append(f"{name} has no LicenseeStatusDates; TestInactivation not set")
    else:
        inactivation = dates.find("TestInactivation")
        if inactivation is None:
            inactivation = etree.Element("TestInactivation")
            activation = dates.find("TestActivation")
            if activation is not None:
                activation.addnext(inactivation)
                inactivation.tail, activation.tail = activation.tail, inactivation.tail
            else:
                dates.insert(0, inactivation)
        if not get_text(inactivation):
            _set_text(inactivation, today_text)
    return LicenseeEdit(etree.tostring(root, encoding="unicode"), False, tuple(warnings))


def _set_text(element: etree._Element, text: str) -> None:
    for child in list(element):
        element.remove(child)
    element.text = text


def save_expired_licensee(
    conn: Connection, doc_id: int, xml: str, now: datetime, account: str = SAVE_ACCOUNT
) -> int:
    """Save the expired Licensee as a new non-publishable version; return its number.

    The data layer's :func:`~cdr_dagster.cdr.documents.save_document` in ``conn``'s
    transaction, as the legacy job saved it: a forced check-out by ``account`` (closing anyone
    else's), version N+1 (publishable N, comment and reason :data:`EXPIRY_COMMENT`), the title
    recomputed (``Name;Status``, what the Licensee title filter gives), the status and
    inactivation paths indexed, the audit trail written and the document checked in.
    """
    root = parse_xml(xml, name=f"CDR{doc_id}")
    name = _normalized(
        get_text(root, "LicenseeInformation/LicenseeNameInformation/OfficialName/Name", "")
    )
    status = get_text(root, "LicenseeInformation/LicenseeStatus", "") or ""
    try:
        saved = save_document(
            conn,
            doc_id,
            xml,
            user=account,
            comment=EXPIRY_COMMENT,
            version=True,
            publishable=False,
            title=f"{name};{status}",
            force=True,
            index_paths=(STATUS_PATH, f"{DATES_PATH}/TestInactivation"),
            now=now,
        )
    except SaveError as exc:
        raise PartnerError(str(exc)) from exc
    assert saved.version is not None
    return saved.version


# ---------------------------------------------------------------------------------------------
# The notification run (docs/behaviour-notes.md#partner-notification)
# ---------------------------------------------------------------------------------------------


class Send(Protocol):
    """Sends one HTML message from :data:`SENDER` to ``to`` (raises on failure)."""

    def __call__(self, subject: str, body: str, to: Sequence[str]) -> object: ...


class Log(Protocol):
    """The logger interface the notifier writes to (Dagster's or the standard library's)."""

    def info(self, msg: str) -> object: ...

    def warning(self, msg: str) -> object: ...

    def debug(self, msg: str) -> object: ...


@dataclass(frozen=True)
class NotifySettings:
    """What one notification run is asked to do."""

    mode: str
    tier: str
    basedir: Path
    today: date
    recip: str | None = None
    job_id: int | None = None
    superlog: bool = False
    resume: bool = False
    pause_seconds: float = PAUSE_SECONDS
    retry_delays: tuple[float, ...] = RETRY_DELAYS

    @property
    def test(self) -> bool:
        """Test mode: anything but ``live`` (after validation: ``test``)."""
        return self.mode != "live"

    @property
    def reroute(self) -> bool:
        """Partner mail goes to the test recipients (test mode, or a tier other than PROD)."""
        return self.test or self.tier != "PROD"


@dataclass
class NotifyResult:
    """What a run did, for the run's metadata."""

    export: ExportJob
    subject: str
    report_file: Path
    contacts: int = 0
    notified: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    saved_versions: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    resumed_steps: int = 0
    messages_sent: int = 0
    report_html: str = ""


class _Journal:
    """Steps already done for this export job and mode: ``key<TAB>step`` lines, fsynced.

    The key is a contact's lower-cased address (see :func:`journal_key`).
    """

    def __init__(self, path: Path, fresh: bool) -> None:
        """Read the journal at ``path``; ``fresh``: delete it first."""
        self.path = path
        if fresh:
            path.unlink(missing_ok=True)
        self.done: set[tuple[str, str]] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                pid, _, step = line.partition("\t")
                if step:
                    self.done.add((pid, step))

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self.done

    def add(self, key: str, step: str) -> None:
        """Record ``step`` as done for ``key``, on disk before returning."""
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{key}\t{step}\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.add((key, step))


#: The step whose journal key is the Licensee document rather than the address.
LICENSEE_STEP = "saved"


def journal_key(contact: Contact, step: str) -> str:
    """What a step is done for: the lower-cased address, or the Licensee for its save."""
    if step == LICENSEE_STEP:
        return f"CDR{contact.org_id}"
    return contact.email.strip().lower()


class PartnerNotifier:
    """One run of the weekly partner notification (legacy ``data_partners.Notify``)."""

    def __init__(
        self,
        engine: Engine,
        settings: NotifySettings,
        send: Send,
        log: Log,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        if settings.mode not in ("test", "live"):
            raise PartnerError(f"invalid or missing mode {settings.mode!r} (use test or live)")
        self.engine = engine
        self.settings = settings
        self._send = send
        self.log = log
        self.sleep = sleep
        self.now = now

    # -- mail ------------------------------------------------------------------------------
    def send(self, subject: str, body: str, to: Sequence[str]) -> None:
        """Send with the legacy retry: 5 attempts, 5/10/15/20 s apart, then give up."""
        delays = list(self.settings.retry_delays)
        attempt = 1
        while True:
            try:
                self._send(subject, body, list(to))
                break
            except Exception as exc:  # noqa: BLE001 - any delivery failure is retried
                if not delays:
                    raise
                delay = delays.pop(0)
                self.log.warning(
                    f"attempt {attempt} to send {subject!r} failed ({exc}); retrying in {delay} s"
                )
                self.sleep(delay)
                attempt += 1
        if self.settings.superlog:
            self.log.debug(f"sent {subject!r} to {', '.join(to)}:\n{body}")

    def group(self, name: str) -> list[str]:
        """Active members' addresses of CDR group ``name``; PartnerError when empty."""
        with self.engine.connect() as conn:
            addresses = group_email_addresses(conn, name)
        if not addresses:
            raise PartnerError(f"CDR group {name!r} has no active member with an e-mail address")
        return addresses

    # -- run -------------------------------------------------------------------------------
    def run(self) -> NotifyResult:
        """Notify every contact, then mail the summary. Raises before any mail on bad setup."""
        settings = self.settings
        with self.engine.connect() as conn:
            export = find_export_job(conn, settings.job_id)
            texts = {
                name: control_value(conn, CONTROL_GROUP, name)
                for name in (
                    "test-notification" if settings.test else "data-partner-notification",
                    "test-partner-warning",
                    "test-partner-disabled",
                )
            }
            contacts = partner_contacts(conn)
        notice_name = "test-notification" if settings.test else "data-partner-notification"
        if texts[notice_name] is None:
            raise PartnerError(f"control value {CONTROL_GROUP}/{notice_name} is missing")
        counts = read_changes(export.changes_file(settings.basedir))
        message = f"{texts[notice_name]}\n{changes_table_html(export, counts)}\n"
        subject = f"{'Test' if settings.test else 'PDQ'} XML Data for {export.date_label}"
        folder = export.folder(settings.basedir)
        report = folder / ("report-test" if settings.test else "report")
        fresh = settings.test and not settings.resume
        journal = _Journal(folder / f"notification-{settings.mode}.journal", fresh)
        if fresh or not report.exists():
            memo = " Test Vendor Memo " if settings.test else " Vendor Memo "
            header = (
                f'<h2 style="{REPORT_HEADING_STYLE}">{memo}</h2>\n{message}'
                f'<h2 style="{REPORT_HEADING_STYLE}">End Vendor Memo</h2>\n'
                "<h3>Notification sent to the following vendors</h3>\n<ul>\n"
            )
            report.write_text(header, encoding="utf-8")
        result = NotifyResult(export=export, subject=subject, report_file=report)
        result.errors.extend(f"partner left out: {s}" for s in contacts.skipped_partners)
        result.contacts = len(contacts.contacts)
        test_recipients = (
            ([settings.recip] if settings.recip else self.group(TEST_GROUP))
            if settings.reroute
            else []
        )
        self.log.info(
            f"{settings.mode} run for export job {export.id} ({export.date_label}): "
            f"{len(contacts.contacts)} contacts"
        )
        paused = False
        for contact in contacts.contacts:
            if contact.notified is not None and contact.notified >= export.started:
                self.log.info(
                    f"skipping {contact.display}: the address was notified {contact.notified}, "
                    f"after export job {export.id} started ({export.started})"
                )
                result.skipped.append(contact.display)
                continue
            try:
                where = standing(contact, settings.today)
            except ValueError:
                start = contact.renewal_date or contact.activation_date
                error = f"{contact.display}: start date {start!r} is not a date; not notified"
                self.log.warning(error)
                result.errors.append(error)
                continue
            if paused:
                self.sleep(settings.pause_seconds)
            paused = True
            self._contact(
                contact, where, journal, report, message, subject, texts, test_recipients, result
            )
        body = report.read_text(encoding="utf-8") + "</ul>"
        result.report_html = body
        summary_to = [settings.recip] if settings.recip else self.group(OPS_GROUP)
        self.send(f"Summary Report on Notification: {subject}", body, summary_to)
        result.messages_sent += 1
        return result

    def _partner_message(
        self, contact: Contact, subject: str, body: str, test_recipients: list[str]
    ) -> None:
        if self.settings.reroute:
            banner = html.escape(repr(contact.nominal_recipient))
            body = f"<h3>In live prod mode, would have gone to {banner}</h3>\n{body}"
            self.send(subject, body, test_recipients)
        else:
            self.send(subject, body, [contact.nominal_recipient])

    def _step(
        self,
        journal: _Journal,
        contact: Contact,
        step: str,
        result: NotifyResult,
        action_fn: Callable[[], object],
    ) -> None:
        key = journal_key(contact, step)
        if (key, step) in journal:
            self.log.info(
                f"skipping {step!r} for {contact.display}: already done for {key} for export "
                f"job {result.export.id} ({self.settings.mode} journal)"
            )
            result.resumed_steps += 1
            return
        action_fn()
        journal.add(key, step)

    def _contact(
        self,
        contact: Contact,
        where: Standing,
        journal: _Journal,
        report: Path,
        message: str,
        subject: str,
        texts: dict[str, str | None],
        test_recipients: list[str],
        result: NotifyResult,
    ) -> None:
        settings = self.settings
        label = result.export.date_label
        display = html.escape(contact.display)

        def line(text: str) -> Callable[[], None]:
            def append() -> None:
                with open(report, "a", encoding="utf-8") as handle:
                    handle.write(f"{text}\n")

            return append

        def sent(to_subject: str, body: str, ops: bool = False) -> Callable[[], None]:
            def go() -> None:
                if ops:
                    copy = f"<p><i>The following message was sent to {display}</i></p>{body}"
                    self.send(to_subject, copy, self.group(OPS_GROUP))
                else:
                    self._partner_message(contact, to_subject, body, test_recipients)
                result.messages_sent += 1

            return go

        if where.kind == EXPIRED:
            disabled = texts["test-partner-disabled"]
            if disabled is None:
                raise PartnerError(
                    f"control value {CONTROL_GROUP}/test-partner-disabled is missing"
                )
            notice = f"Expiration notice: NCI PDQ Test Account for {contact.org_name}, {label}"
            self._step(
                journal,
                contact,
                "li",
                result,
                line(f"<li>Disabled test account for {display}</li>"),
            )
            self._step(journal, contact, "expiry", result, sent(notice, disabled))
            self._step(
                journal, contact, LICENSEE_STEP, result, lambda: self._expire(contact, result)
            )
            self._step(journal, contact, "expiry-ops", result, sent(notice, disabled, ops=True))
            result.expired.append(contact.display)
            return
        warning = ""
        if where.kind == EXPIRING:
            warning = " (warning notice sent)"
        self._step(
            journal,
            contact,
            "li",
            result,
            line(f"<li>{contact.type_string}: {display}{warning}</li>"),
        )
        self._step(journal, contact, "data", result, sent(subject, message))
        if not settings.test:
            self._step(journal, contact, "row", result, lambda: self._record(contact))
        result.notified.append(contact.display)
        if where.kind == EXPIRING:
            text = texts["test-partner-warning"]
            if text is None:
                raise PartnerError(f"control value {CONTROL_GROUP}/test-partner-warning is missing")
            body = text.replace("@@EXPIRING@@", where.expires.isoformat())  # type: ignore[union-attr]
            notice = f"Warning notice: NCI PDQ Test Account for {contact.org_name}, {label}"
            self._step(journal, contact, "warning", result, sent(notice, body))
            self._step(journal, contact, "warning-ops", result, sent(notice, body, ops=True))
            result.warned.append(contact.display)

    def _record(self, contact: Contact) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(data_partner_notification).values(
                    email_addr=contact.email.strip().lower(),
                    notif_date=func.current_timestamp(),
                )
            )

    def _expire(self, contact: Contact, result: NotifyResult) -> None:
        name = f"Licensee CDR{contact.org_id}"
        with self.engine.begin() as conn:
            xml = conn.execute(
                select(document.c.xml).where(document.c.id == contact.org_id)
            ).scalar_one_or_none()
            if xml is None:
                raise PartnerError(f"{name} does not exist")
            edit = expire_licensee_xml(xml, self.settings.today, name)
            for warning in edit.warnings:
                self.log.warning(warning)
                result.errors.append(warning)
            if edit.xml is None or self.settings.test:
                return
            version = save_expired_licensee(conn, contact.org_id, edit.xml, self.now())
            result.saved_versions[contact.org_id] = version
            self.log.info(f"{name} saved as version {version} ({EXPIRED_STATUS})")


def html_list_items(report_html: str) -> Iterable[str]:
    """The text of each ``<li>`` of a summary report, for previews."""
    for line in report_html.splitlines():
        line = line.strip()
        if line.startswith("<li>") and line.endswith("</li>"):
            yield html.unescape(line[4:-5])
