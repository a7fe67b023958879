"""s/FTP access logs: line formats, malformed lines, the cumulative log, and the
``sftp_access_log`` asset against the real SFTP server (files appearing, growing, rotating)."""

from __future__ import annotations

import gzip
import io
import os
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from cdr_dagster.assets.sftp_logs import MALFORMED_CHECK, REMOTE_LOG_DIR, sftp_access_log
from cdr_dagster.cdr.sftp_logs import (
    OPEN,
    SESSION,
    LogEvent,
    MalformedLine,
    iter_normalized,
    last_accesses,
    normalize_raw_log,
    scan_raw_log,
    top_up_cumulative_log,
)
from cdr_dagster.resources.commands import CommandRunnerResource
from cdr_dagster.resources.sftp import SftpResource

TODAY = date(2025, 3, 10)
SESSION_LINE = (
    "2025 Mar  3 14:05:22 sftp-prod-1 sshd[48213]: session opened for local user acmehealth "
    "from [203.0.113.7]"
)
OPEN_LINE = (
    '2025 Mar  3 14:05:25 sftp-prod-1 sshd[48213]: open "/pdq/full/Summary.tar.gz" flags READ '
    "mode 0666"
)


def scan(text: str, today: date = TODAY) -> list[LogEvent | MalformedLine]:
    return list(scan_raw_log(io.BytesIO(text.encode("utf-8")), "pdq.log", today))


def test_every_line_format_of_the_spec():
    events = scan(
        "\n".join(
            [
                SESSION_LINE,
                '2025 Mar  3 14:05:23 sftp-prod-1 sshd[48213]: opendir "/pdq/full"',
                OPEN_LINE,
                '2025 Mar  3 14:05:26 sftp-prod-1 sshd[48213]: close "/pdq/full/Summary.tar.gz" '
                "bytes read 100 written 0",
                "2025 Mar  3 14:05:27 sftp-prod-1 sshd[48213]: session closed for local user acme",
                'Dec 31 23:59:59 h sshd[7]: open "/pdq/full/b.xml" flags READ mode 0666',
                "Mar 10 08:00:00 h sshd[9]: session opened for local user Brondata from [x]",
                '2025 Mar 4 01:02:03 h sshd[10]: open "/pdq/full/My File.xml" flags READ mode 0666',
            ]
        )
    )
    assert all(isinstance(e, LogEvent) for e in events)
    assert [(e.kind, e.day.isoformat(), e.time, e.pid, e.value) for e in events] == [
        (SESSION, "2025-03-03", "14:05:22", "48213", "acmehealth"),
        (OPEN, "2025-03-03", "14:05:25", "48213", "/pdq/full/Summary.tar.gz"),
        (OPEN, "2024-12-31", "23:59:59", "7", "/pdq/full/b.xml"),
        (SESSION, "2025-03-10", "08:00:00", "9", "Brondata"),
        (OPEN, "2025-03-04", "01:02:03", "10", "/pdq/full/My File.xml"),
    ]
    assert events[1].text == (
        '2025-03-03 14:05:25 sftp-prod-1 sshd[48213]: open "/pdq/full/Summary.tar.gz" flags '
        "READ mode 0666"
    )
    assert events[2].text.startswith("2024-12-31 23:59:59 h sshd[7]: open")


def test_year_less_lines_take_the_year_from_the_last_twelve_months():
    line = 'Dec 31 23:59:59 h sshd[7]: open "/pdq/full/b.xml" flags READ mode 0666'
    (event,) = scan(line, today=date(2025, 1, 5))
    assert (
        event.text == '2024-12-31 23:59:59 h sshd[7]: open "/pdq/full/b.xml" flags READ mode 0666'
    )
    (event,) = scan(line.replace("Dec", "Jan"), today=date(2025, 1, 5))
    assert event.day == date(2025, 1, 31)


def test_malformed_lines_are_counted_with_line_number_and_never_stop_the_scan():
    text = "\n".join(
        [
            SESSION_LINE,
            'Foo 31 23:59:59 h sshd[7]: open "/a" flags READ mode 0666',
            '2025 Feb 30 23:59:59 h sshd[7]: open "/a" flags READ mode 0666',
            '2025 Feb  3 23:59:59 h sshd[x]: open "/a" flags READ mode 0666',
            "2025 Feb  3 23:59:59 h sshd[7]: open /a flags READ mode 0666",
            "2025 Feb  3 23:59:59 h sshd[7]: session opened for local user",
            "garbage without any marker",
            OPEN_LINE,
        ]
    )
    items = scan(text)
    malformed = [item for item in items if isinstance(item, MalformedLine)]
    assert [(m.source, m.line_number) for m in malformed] == [
        ("pdq.log", 2),
        ("pdq.log", 3),
        ("pdq.log", 4),
        ("pdq.log", 5),
        ("pdq.log", 6),
    ]
    assert "not a month" in malformed[0].reason
    assert "not a date" in malformed[1].reason
    assert "sshd[PID]" in malformed[2].reason
    assert "quoted path" in malformed[3].reason
    assert [e.kind for e in items if isinstance(e, LogEvent)] == [SESSION, OPEN]


def test_line_numbers_across_blocks_and_a_last_line_without_newline():
    lines = [
        f"2025 Mar  3 14:{n // 60 % 60:02d}:{n % 60:02d} h sshd[1]: close x" for n in range(5000)
    ]
    lines[3000] = "2025 Mar  3 14:00:00 h sshd[1]: open broken"
    lines.append(OPEN_LINE)
    stream = io.BytesIO("\n".join(lines).encode())
    items = list(normalize_raw_log(stream, "big.log", TODAY))
    assert [i.line_number for i in items if isinstance(i, MalformedLine)] == [3001]
    assert items[-1] == scan(OPEN_LINE)[0].text


def write_log(path: Path, lines: list[str]) -> None:
    data = "".join(f"{line}\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def test_top_up_appends_only_new_wanted_lines(tmp_path: Path):
    (tmp_path / "cumulative.log").write_text(
        "2025-03-03 14:05:22 h sshd[1]: session opened for local user acme from [x]\n"
    )
    write_log(tmp_path / "pdq.log-20250301.gz", [])
    write_log(
        tmp_path / "pdq.log",
        [
            "2025 Mar  3 14:05:22 h sshd[1]: session opened for local user acme from [x]",
            '2025 Mar  3 14:05:25 h sshd[1]: open "/pdq/full/a.xml" flags READ mode 0666',
            '2025 Mar  3 14:05:26 h sshd[1]: opendir "/pdq/full"',
        ],
    )
    result = top_up_cumulative_log(tmp_path, TODAY)
    assert (result.added_from_monthly, result.added_from_current) == (0, 1)
    assert (tmp_path / "cumulative.log").read_text().splitlines() == [
        "2025-03-03 14:05:22 h sshd[1]: session opened for local user acme from [x]",
        '2025-03-03 14:05:25 h sshd[1]: open "/pdq/full/a.xml" flags READ mode 0666',
    ]
    again = top_up_cumulative_log(tmp_path, TODAY)
    assert again.added == 0


def test_top_up_reads_the_latest_monthly_log_first_and_dedupes_within_the_run(tmp_path: Path):
    (tmp_path / "cumulative.log").write_text("")
    write_log(tmp_path / "pdq.log-20241201.gz", ['Nov 30 10:00:00 h sshd[3]: open "/old" flags'])
    write_log(
        tmp_path / "pdq.log-20250101.gz",
        ['Dec 31 23:59:59 h sshd[7]: open "/pdq/full/b.xml" flags READ mode 0666'] * 2,
    )
    write_log(
        tmp_path / "pdq.log",
        ['Dec 31 23:59:59 h sshd[7]: open "/pdq/full/b.xml" flags READ mode 0666'],
    )
    result = top_up_cumulative_log(tmp_path, date(2025, 1, 5))
    assert (result.added_from_monthly, result.added_from_current) == (1, 0)
    assert (tmp_path / "cumulative.log").read_text() == (
        '2024-12-31 23:59:59 h sshd[7]: open "/pdq/full/b.xml" flags READ mode 0666\n'
    )


def test_old_cumulative_lines_are_outside_the_seen_window(tmp_path: Path):
    old = '2024-11-01 10:00:00 h sshd[3]: open "/pdq/full/c.xml" flags READ mode 0666'
    (tmp_path / "cumulative.log").write_text(old + "\n")
    write_log(
        tmp_path / "pdq.log-20250301.gz",
        ['2024 Nov  1 10:00:00 h sshd[3]: open "/pdq/full/c.xml" flags READ mode 0666'],
    )
    write_log(tmp_path / "pdq.log", [])
    assert top_up_cumulative_log(tmp_path, TODAY).added == 1  # the accepted limitation


def test_top_up_needs_a_monthly_log_and_cuts_a_partial_last_line(tmp_path: Path):
    (tmp_path / "cumulative.log").write_text('2025-03-01 10:00:00 h sshd[1]: open "/x" fl')
    write_log(tmp_path / "pdq.log", [OPEN_LINE])
    with pytest.raises(FileNotFoundError, match="monthly log"):
        top_up_cumulative_log(tmp_path, TODAY)
    write_log(tmp_path / "pdq.log-20250301.gz", [])
    result = top_up_cumulative_log(tmp_path, TODAY)
    assert result.truncated_partial_line is not None
    assert (tmp_path / "cumulative.log").read_text().splitlines() == [scan(OPEN_LINE)[0].text]


def test_last_accesses_credit_opens_to_the_latest_session_of_the_pid(tmp_path: Path):
    log = tmp_path / "cumulative.log"
    log.write_text(
        "2025-03-01 10:00:00 h sshd[5]: session opened for local user AcmeSFTP from [x]\n"
        '2025-03-01 10:00:05 h sshd[5]: open "/pdq/full/a" flags READ mode 0666\n'
        '2025-03-28 10:00:01 h sshd[6]: open "/pdq/full/lost" flags READ mode 0666\n'
        "2025-03-28 10:00:00 h sshd[5]: session opened for local user acmesftp from [x]\n"
        '2025-03-28 10:00:01 h sshd[5]: open "/pdq/full/b" flags READ mode 0666\n'
        "2025-03-29 10:00:00 h sshd[5]: session opened for local user other from [x]\n"
    )
    accesses = last_accesses(iter_normalized(log))
    assert {k: (v.day.isoformat(), v.time) for k, v in accesses.items()} == {
        "acmesftp": ("2025-03-28", "10:00:01")
    }


# ---------------------------------------------------------------------------------------------
# The asset, against the real SFTP server
# ---------------------------------------------------------------------------------------------


def sftp_resource(server) -> SftpResource:  # noqa: ANN001 - SftpEndpoint
    return SftpResource(
        host=server.host,
        port=server.port,
        username=server.username,
        key_file=str(server.client_key_file),
        known_hosts_file=str(server.known_hosts_file),
    )


def remote_lines(day: date, pid: int, login: str, files: list[str]) -> list[str]:
    stamp = f"{day:%Y %b} {day.day:>2}"
    lines = [f"{stamp} 09:00:00 sftp-1 sshd[{pid}]: session opened for local user {login} from [x]"]
    for n, name in enumerate(files):
        lines.append(
            f'{stamp} 09:00:{n + 1:02d} sftp-1 sshd[{pid}]: open "/pdq/full/{name}" flags READ'
        )
        lines.append(
            f'{stamp} 09:00:{n + 1:02d} sftp-1 sshd[{pid}]: close "/pdq/full/{name}" bytes read 9'
        )
    return lines


def materialize(sftp_server, basedir: Path) -> dg.MaterializeResult:  # noqa: ANN001
    result = dg.materialize(
        [sftp_access_log],
        resources={
            "sftp": sftp_resource(sftp_server),
            "commands": CommandRunnerResource(basedir=str(basedir)),
        },
    )
    assert result.success
    return result


def test_asset_mirrors_new_grown_and_rotated_logs(sftp_server, tmp_path: Path):
    today = date.today()
    first = today.replace(day=1)
    last_month = (first - timedelta(days=1)).replace(day=1)
    remote = sftp_server.root / REMOTE_LOG_DIR.strip("/")
    remote.mkdir(parents=True)
    base = tmp_path / "cdr"
    (base / "sftp_log").mkdir(parents=True)
    (base / "sftp_log" / "cumulative.log").write_text("")
    monthly = remote / f"pdq.log-{first:%Y%m%d}.gz"
    write_log(monthly, remote_lines(last_month, 100, "acmehealth", ["a.xml"]))
    write_log(remote / "pdq.log", remote_lines(first, 200, "brondata", ["b.xml"]))

    run = materialize(sftp_server, base)
    meta = run.asset_materializations_for_node("sftp_access_log")[0].metadata
    assert meta["files_fetched"].value == ["pdq.log", monthly.name]
    assert (meta["added_from_monthly_log"].value, meta["added_from_pdq_log"].value) == (2, 2)
    cumulative = (base / "sftp_log" / "cumulative.log").read_text().splitlines()
    assert len(cumulative) == 4
    assert cumulative[0].startswith(f"{last_month:%Y-%m}-01 09:00:00 sftp-1 sshd[100]: session")

    # pdq.log grows; the monthly log is unchanged and is not fetched again
    write_log(
        remote / "pdq.log",
        remote_lines(first, 200, "brondata", ["b.xml"])
        + remote_lines(first, 201, "northwind", ["c.xml"])
        + ['2025 Zzz  1 09:00:00 sftp-1 sshd[9]: open "/pdq/full/bad" flags READ mode 0666'],
    )
    run = materialize(sftp_server, base)
    meta = run.asset_materializations_for_node("sftp_access_log")[0].metadata
    assert meta["files_fetched"].value == ["pdq.log"]
    assert (meta["added_from_monthly_log"].value, meta["added_from_pdq_log"].value) == (0, 2)
    assert meta["malformed_lines"].value == 1
    (check,) = run.get_asset_check_evaluations()
    assert check.check_name == MALFORMED_CHECK and not check.passed
    assert "pdq.log | 7 |" in check.metadata["where"].value

    # rotation: a new monthly log appears, pdq.log starts again; the old archive stays local
    os.utime(monthly, (0, 0))
    rotated = remote / f"pdq.log-{today + timedelta(days=40):%Y%m01}.gz"
    write_log(rotated, remote_lines(first, 201, "northwind", ["c.xml", "d.xml"]))
    write_log(remote / "pdq.log", [])
    monthly.unlink()
    run = materialize(sftp_server, base)
    meta = run.asset_materializations_for_node("sftp_access_log")[0].metadata
    assert meta["files_fetched"].value == ["pdq.log", rotated.name]
    assert meta["monthly_log"].value == rotated.name
    assert (meta["added_from_monthly_log"].value, meta["added_from_pdq_log"].value) == (1, 0)
    assert (base / "sftp_log" / monthly.name).is_file()
    assert len((base / "sftp_log" / "cumulative.log").read_text().splitlines()) == 7


def test_asset_fails_without_a_monthly_log(sftp_server, tmp_path: Path):
    remote = sftp_server.root / REMOTE_LOG_DIR.strip("/")
    remote.mkdir(parents=True)
    write_log(remote / "pdq.log", [OPEN_LINE])
    base = tmp_path / "cdr"
    (base / "sftp_log").mkdir(parents=True)
    (base / "sftp_log" / "cumulative.log").write_text("")
    result = dg.materialize(
        [sftp_access_log],
        resources={
            "sftp": sftp_resource(sftp_server),
            "commands": CommandRunnerResource(basedir=str(base)),
        },
        raise_on_error=False,
    )
    assert not result.success
    assert "monthly log" in str(result.get_step_failure_events()[0].event_specific_data.error)


def test_odd_spacing_is_normalized_the_same_way_on_the_fast_and_careful_paths():
    odd = '2025 Mar  3 14:05:25 h  sshd[1]: open "/pdq/full/a.xml"  flags READ mode 0666 '
    clean = scan(OPEN_LINE)[0].text
    items = [i.text for i in scan("\n".join([OPEN_LINE, odd, OPEN_LINE]))]
    assert items == [
        clean,
        '2025-03-03 14:05:25 h sshd[1]: open "/pdq/full/a.xml" flags READ mode 0666',
        clean,
    ]


def test_a_block_with_malformed_lines_gives_what_reading_each_line_gives():
    from cdr_dagster.cdr.sftp_logs import LogLineError, month_years, parse_raw_line

    lines = []
    for n in range(6000):
        stamp = f"2025 Feb {1 + n // 1000:>2} 10:{n // 60 % 60:02d}:{n % 60:02d} h sshd[{n}]:"
        lines.append(f"{stamp} session opened for local user user{n} from [203.0.113.7]")
        lines.append(f'{stamp} open "/pdq/full/a b/{n}.xml" flags READ mode 0666')
        lines.append(f'{stamp} opendir "/pdq/full"')
    for number in (5, 4000, 4001, 17999):
        lines[number] = '2025 Feb  9 10:11:12 h sshd[x1]: open "/pdq/full/odd.xml" flags READ'
    lines[9000] = '2025 Feb  9 10:11:12 h  sshd[7]: open "/pdq/full/a.xml"  flags READ '
    expected: list[str | tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if "]: open " in line or "session opened for local user" in line:
            try:
                expected.append(parse_raw_line(line.strip(), month_years(TODAY)).text)
            except LogLineError:
                expected.append((number, line))
    stream = io.BytesIO("\n".join(lines).encode())
    items = list(normalize_raw_log(stream, "big.log", TODAY))
    got = [(i.line_number, i.text) if isinstance(i, MalformedLine) else i for i in items]
    assert got == expected
    assert len([g for g in got if isinstance(g, tuple)]) == 4


def test_lines_the_block_check_refuses_give_what_reading_each_line_gives():
    """Both markers on a line, a marker twice, non-ASCII text, a tab, a carriage return, a
    short line and an empty path: each one is read the way :func:`parse_raw_line` reads it,
    and the clean lines around them are kept as they are."""
    from cdr_dagster.cdr.sftp_logs import LogLineError, month_years, parse_raw_line

    stamp = "2025 Feb  3 10:11:12 h sshd[7]:"
    odd = [
        f'{stamp} open "/pdq/full/x]: session opened for local user y" flags READ',
        f"{stamp} session opened for local user acme from [x]: open z",
        f'{stamp} open "/pdq/full/a.xml" flags READ ]: open "/b"',
        f'{stamp} open "/pdq/full/Résumé.xml" flags READ mode 0666',
        f'{stamp} open "/pdq/full/a.xml"\tflags READ',
        f'{stamp} open "/pdq/full/a.xml" flags READ\r',
        ']: open "x"',
        f'{stamp} open "" flags READ mode 0666',
        f'{stamp} open " flags READ mode 0666',
    ]
    lines = [SESSION_LINE, OPEN_LINE] * 50
    for offset, line in enumerate(odd):
        lines[10 + offset * 9] = line
    expected: list[str | tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        try:
            expected.append(parse_raw_line(line.strip(), month_years(TODAY)).text)
        except LogLineError:
            expected.append((number, line.strip()))
    stream = io.BytesIO("\n".join(lines).encode())
    items = list(normalize_raw_log(stream, "odd.log", TODAY))
    got = [(i.line_number, i.text) if isinstance(i, MalformedLine) else i for i in items]
    assert got == expected
    assert {n for n, _ in (g for g in got if isinstance(g, tuple))} == {11, 65, 83}


def test_a_line_shaped_like_known_clean_lines_but_misdated_is_still_reported():
    """Blocks are checked by line shape (digits made 9) and clean shapes are remembered from
    block to block; a date that does not exist, or a pid that is not a number, still makes
    its line malformed however many lines of the same shape came before."""
    clean = [
        f'2025 Feb {1 + n % 28:>2} 10:{n % 60:02d}:00 h sshd[{100 + n}]: open "/pdq/f{n}.xml"'
        for n in range(3000)  # several blocks of well-formed lines
    ]
    bad_day = '2025 Feb 30 10:11:00 h sshd[123]: open "/pdq/f1.xml"'
    bad_pid = '2025 Feb 12 10:11:00 h sshd[12x]: open "/pdq/f1.xml"'
    lines = [*clean, bad_day, *clean, bad_pid]
    items = list(normalize_raw_log(io.BytesIO("\n".join(lines).encode()), "x.log", TODAY))
    malformed = [i for i in items if isinstance(i, MalformedLine)]
    assert [(m.line_number, m.text) for m in malformed] == [(3001, bad_day), (6002, bad_pid)]
    assert "2025-02-30 is not a date" in malformed[0].reason
    assert "sshd[12x]:" in malformed[1].reason
    good = [i for i in items if not isinstance(i, MalformedLine)]
    assert len(good) == 6000
    assert good[0] == '2025-02-01 10:00:00 h sshd[100]: open "/pdq/f0.xml"'
