"""The monthly ``pdq_access_report`` asset: workbook contents for a seeded month read from
its raw logs, the e-mail, non-partner logins, unknown sessions, resend and noemail, months
the cumulative log never held, every line counted, on PostgreSQL and SMTP."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
from openpyxl import load_workbook

from cdr_dagster.assets.sftp_logs import COVERAGE_CHECK, pdq_access_report
from cdr_dagster.cdr.control import set_control_value
from cdr_dagster.cdr.schema import ctl
from cdr_dagster_tests.queue_fixtures import job_resources
from cdr_dagster_tests.test_data_partners_rows import add_licensee, licensee_xml

FEBRUARY = [
    # a session from January whose PID is reused: the later session wins
    "2025-01-31 23:00:00 h sshd[48213]: session opened for local user brondata from [x]",
    "2025-02-03 09:14:00 h sshd[48213]: session opened for local user acmehealth from [x]",
    '2025-02-03 09:15:00 h sshd[48213]: open "/pdq/full/Summary/CDR0000062787.xml" flags READ',
    '2025-02-03 09:15:02 h sshd[48213]: open "/pdq/full.tar.gz" flags READ mode 0666',
    "2025-02-04 10:00:00 h sshd[700]: session opened for local user devuser from [x]",
    '2025-02-04 10:00:01 h sshd[700]: open "/pdq/full/Media.tar.gz" flags READ mode 0666',
    '2025-02-05 11:00:00 h sshd[999]: open "/pdq/full/Orphan.xml" flags READ mode 0666',
    "2025-02-06 12:00:00 h sshd[801]: session opened for local user Brondata from [x]",
    '2025-02-06 12:00:09 h sshd[801]: open "/pdq/full/Terminology.tar.gz" flags READ mode 0666',
    "2025-02-07 12:00:00 h sshd[802]: session opened for local user acmehealth from [x]",
    '2025-02-28 23:59:59 h sshd[48213]: open "/pdq/full/Late.xml" flags READ mode 0666',
    '2025-03-01 00:00:01 h sshd[48213]: open "/pdq/full/March.xml" flags READ mode 0666',
]


def raw(line: str, year: bool = False) -> str:
    """A normalized line as the s/FTP server's syslog writes it (``Feb  3 09:14:00 ...``),
    with a leading year token when ``year``."""
    stamp = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    head = f"{stamp:%Y} " if year else ""
    return f"{head}{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S}{line[19:]}"


def write_log(folder: Path, name: str, lines: list[str]) -> Path:
    """A raw log: gzipped for a rotated ``pdq.log-YYYYMMDD.gz``, plain for ``pdq.log`` (its
    lines carry their year: this year's lines would not need it, these are older)."""
    folder.mkdir(parents=True, exist_ok=True)
    year = not name.endswith(".gz")
    text = "".join(f"{raw(line, year)}\n" for line in lines).encode("utf-8")
    path = folder / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    return path


@pytest.fixture
def basedir(cdr_db, tmp_path: Path) -> Path:
    add_licensee(cdr_db, 1, licensee_xml("Acme Health", "Production", username="acmehealth"))
    add_licensee(cdr_db, 2, licensee_xml("Bron Data", "Test-expired", username="Brondata"))
    with cdr_db.begin() as conn:
        set_control_value(conn, "PDQ", "non-partners", "cbiittest,devuser")
    folder = tmp_path / "sftp_log"
    # December is in a log the February report does not read; January's log holds the
    # session whose PID February reuses; March's rotation holds February and March 1st
    write_log(folder, "pdq.log-20250101.gz", ['2024-12-31 10:00:00 h sshd[1]: open "/x" flags'])
    write_log(folder, "pdq.log-20250201.gz", FEBRUARY[:1])
    write_log(folder, "pdq.log-20250301.gz", FEBRUARY[1:])
    return tmp_path


def run(cdr_db, mailbox, basedir: Path, raise_on_error: bool = True, **config):
    return dg.materialize(
        [pdq_access_report],
        partition_key="2025-02-01",
        run_config={"ops": {"pdq_access_report": {"config": config}}} if config else None,
        resources=job_resources(cdr_db, mailbox, basedir),
        raise_on_error=raise_on_error,
    )


def test_report_for_a_seeded_month(cdr_db, mailbox, basedir: Path):
    result = run(cdr_db, mailbox, basedir)
    assert result.success
    workbook = basedir / "reports" / "PDQPartnerDownloads_2025-02.xlsx"
    book = load_workbook(workbook)
    sheet = book["Requests"]
    assert sheet["A3"].value == "Downloads for February 2025" and sheet["A1"].font.bold
    assert [c.value for c in sheet[5]] == ["Login", "Partner", "Path", "Session", "Date", "Time"]
    assert sheet.freeze_panes == "A6"
    assert sheet.column_dimensions["B"].width == 50
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=6)]
    assert rows == [
        [None, None, "Orphan.xml", 999, "Feb-05", "11:00:00"],  # no session: empty login first
        ["Brondata", "Bron Data", "Terminology.tar.gz", 801, "Feb-06", "12:00:09"],
        ["acmehealth", "Acme Health", "Summary/CDR0000062787.xml", 48213, "Feb-03", "09:15:00"],
        ["acmehealth", "Acme Health", "/pdq/full.tar.gz", 48213, "Feb-03", "09:15:02"],
        ["acmehealth", "Acme Health", "Late.xml", 48213, "Feb-28", "23:59:59"],
    ]  # devuser is a non-partner (PDQ/non-partners)
    partners = [[c.value for c in row] for row in book["Partners"].iter_rows(min_row=2)]
    assert partners == [
        [None, None, 0, 1],
        ["Brondata", "Bron Data", 1, 1],
        ["acmehealth", "Acme Health", 2, 3],
    ]

    (message,) = mailbox.messages
    assert message.rcpt_tos == ["NCIContentDissemination@nih.gov"]
    assert message.message["Subject"].strip() == (
        "SFTP Log - PDQ Distribution Partner Access Report (February 2025)"
    )
    assert message.message["From"] == "NCI PDQ Operator <NCIPDQoperator@mail.nih.gov>"
    body = message.message.get_body(("plain",)).get_content()
    assert "February 2025" in body and "FTP Stats" in body
    (attachment,) = list(message.message.iter_attachments())
    assert attachment.get_filename() == "PDQPartnerDownloads_2025-02.xlsx"
    assert attachment.get_content() == workbook.read_bytes()

    materialization = result.asset_materializations_for_node("pdq_access_report")[0]
    assert materialization.partition == "2025-02-01"
    assert materialization.metadata["retrievals"].value == 5
    assert materialization.metadata["dropped_non_partner"].value == 1
    assert "| acmehealth | Acme Health | 2 | 3 |" in materialization.metadata["preview"].value
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == COVERAGE_CHECK and check.passed


def test_without_non_partners_unknown_sessions_are_dropped(cdr_db, mailbox, basedir: Path):
    with cdr_db.begin() as conn:
        conn.execute(ctl.update().values(inactivated=datetime(2025, 1, 1)))
    assert run(cdr_db, mailbox, basedir, recips=["a@x.gov", "b@x.gov"]).success
    sheet = load_workbook(basedir / "reports" / "PDQPartnerDownloads_2025-02.xlsx")["Requests"]
    logins = [c.value for c in sheet["A"]][5:]
    assert logins == ["Brondata", "acmehealth", "acmehealth", "acmehealth", "devuser"]
    assert mailbox.messages[0].rcpt_tos == ["a@x.gov", "b@x.gov"]


def test_noemail_resend_and_month_checks(cdr_db, mailbox, basedir: Path):
    assert run(cdr_db, mailbox, basedir, noemail=True).success
    assert mailbox.messages == []
    workbook = basedir / "reports" / "PDQPartnerDownloads_2025-02.xlsx"
    before = workbook.read_bytes()
    for log in (basedir / "sftp_log").iterdir():
        log.unlink()  # resend needs no log
    assert run(cdr_db, mailbox, basedir, resend=True, month="202502").success
    (message,) = mailbox.messages
    assert next(message.message.iter_attachments()).get_content() == before
    failed = run(cdr_db, mailbox, basedir, raise_on_error=False, month="202501")
    assert not failed.success
    workbook.unlink()
    assert not run(cdr_db, mailbox, basedir, raise_on_error=False, resend=True).success


def test_coverage_check_warns_when_the_log_stops_inside_the_month(cdr_db, mailbox, basedir):
    folder = basedir / "sftp_log"
    (folder / "pdq.log-20250301.gz").unlink()  # not rotated yet: pdq.log holds February
    write_log(folder, "pdq.log", FEBRUARY[1:-1])
    result = run(cdr_db, mailbox, basedir, noemail=True)
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["latest_log_day"].value == "2025-02-28"
    assert check.metadata["logs_read"].value == ["pdq.log-20250201.gz", "pdq.log"]
    materialization = result.asset_materializations_for_node("pdq_access_report")[0]
    assert materialization.metadata["retrievals"].value == 5
    write_log(folder, "pdq.log", FEBRUARY[1:])  # the current log reaches March now
    (check,) = run(cdr_db, mailbox, basedir, noemail=True).get_asset_check_evaluations()
    assert check.passed


def run_month(cdr_db, mailbox, basedir: Path, partition: str, **config):
    return dg.materialize(
        [pdq_access_report],
        partition_key=partition,
        run_config={"ops": {"pdq_access_report": {"config": {"noemail": True, **config}}}},
        resources=job_resources(cdr_db, mailbox, basedir),
        raise_on_error=False,
    )


def requests_of(basedir: Path, month: str) -> list[list]:
    book = load_workbook(basedir / "reports" / f"PDQPartnerDownloads_{month}.xlsx")
    return [[c.value for c in row] for row in book["Requests"].iter_rows(min_row=6)]


def test_a_month_the_cumulative_log_never_held_is_built_from_its_own_log(cdr_db, mailbox, basedir):
    """One September open in pdq.log-20261001.gz, no cumulative log: the row is listed."""
    write_log(
        basedir / "sftp_log",
        "pdq.log-20261001.gz",
        [
            "2026-09-14 08:00:00 h sshd[42]: session opened for local user acmehealth from [x]",
            '2026-09-14 08:00:05 h sshd[42]: open "/pdq/full/Summary/CDR1.xml" flags READ',
        ],
    )
    assert not (basedir / "sftp_log" / "cumulative.log").exists()
    result = run_month(cdr_db, mailbox, basedir, "2026-09-01", month="202609")
    assert result.success
    assert requests_of(basedir, "2026-09") == [
        ["acmehealth", "Acme Health", "Summary/CDR1.xml", 42, "Sep-14", "08:00:05"]
    ], "the September retrieval is missing from its month's workbook"
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["logs_read"].value == ["pdq.log-20261001.gz"]


def test_a_month_without_its_logs_fails_naming_the_log_it_needs(cdr_db, mailbox, basedir):
    result = run_month(cdr_db, mailbox, basedir, "2024-06-01")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert "no s/FTP log of June 2024" in message and "pdq.log-20240701.gz" in message, message
    assert not (basedir / "reports" / "PDQPartnerDownloads_2024-06.xlsx").exists()


def test_every_line_counts_even_identical_ones(cdr_db, mailbox, basedir):
    """Two opens of one file in the same second and session are two retrievals."""
    open_line = '2026-10-02 09:00:01 h sshd[7]: open "/pdq/full/Media.tar.gz" flags READ'
    write_log(
        basedir / "sftp_log",
        "pdq.log-20261101.gz",
        [
            "2026-10-02 09:00:00 h sshd[7]: session opened for local user Brondata from [x]",
            open_line,
            open_line,
        ],
    )
    assert run_month(cdr_db, mailbox, basedir, "2026-10-01").success
    rows = requests_of(basedir, "2026-10")
    assert len(rows) == 2, f"the repeated line must count twice: {rows}"


def test_which_raw_logs_hold_a_month(tmp_path: Path):
    """Monthly rotation: a log stamped S holds about the month before S."""
    from datetime import date

    from cdr_dagster.cdr.sftp_logs import month_logs

    folder = tmp_path / "logs"
    for name in ("pdq.log-20260901.gz", "pdq.log-20261015.gz", "pdq.log"):
        write_log(folder, name, [])
    september = month_logs(folder, date(2026, 9, 1), date(2026, 10, 1))
    # 1-14 September are in no log read: the month is not covered
    assert [p.name for p in september.paths] == ["pdq.log-20260901.gz", "pdq.log-20261015.gz"]
    assert not september.rotated_past_end and not september.current_continues
    write_log(folder, "pdq.log-20261001.gz", [])
    september = month_logs(folder, date(2026, 9, 1), date(2026, 10, 1))
    assert september.rotated_past_end
    november = month_logs(folder, date(2026, 11, 1), date(2026, 12, 1))
    assert [p.name for p in november.paths] == ["pdq.log"] and november.current_continues
    october = month_logs(folder, date(2026, 10, 1), date(2026, 11, 1))
    assert [p.name for p in october.paths] == [
        "pdq.log-20261001.gz",
        "pdq.log-20261015.gz",
        "pdq.log",
    ]
    assert october.current_continues and not october.rotated_past_end
