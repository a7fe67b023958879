"""check_disk_space reads df.py pages served on loopback and mails through the SMTP test server."""

from __future__ import annotations

import re
import socket

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from cdr_dagster.cdr.disk_space import (
    GIB,
    DfParseError,
    default_df_url,
    drive_problems,
    parse_df,
)
from cdr_dagster.jobs.health import check_disk_space
from cdr_dagster.legacy.catalogue import convert_options, find_job_class, run_config_for
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.cdr_rows import developers_email

LEGACY_SAMPLE = """C DRIVE
  TOTAL:  148202582016 (138.0G)
   USED:  119805886464 (111.6G)
   FREE:   28396695552 (26.4G)

D DRIVE
  TOTAL: 1281052635136 (1.2T)
   USED: 1013544005632 (943.9G)
   FREE:  267508629504 (249.1G)
"""


def df_page(c_free: int, d_free: int, c_human: str, d_human: str) -> str:
    return (
        f"C DRIVE\n  TOTAL: {200 * GIB} (200.0G)\n   USED: {200 * GIB - c_free} (x)\n"
        f"   FREE: {c_free} ({c_human})\n\nD DRIVE\n  TOTAL: {1000 * GIB} (1000.0G)\n"
        f"   USED: {1000 * GIB - d_free} (x)\n   FREE: {d_free} ({d_human})\n"
    )


HEALTHY = df_page(50 * GIB, 300 * GIB, "50.0G", "300.0G")


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/cgi-bin/cdr/df.py"


@pytest.fixture
def email(cdr_db, mailbox) -> EmailResource:
    return developers_email(cdr_db, mailbox)


def serve(httpserver: HTTPServer, pages: dict[str, str | tuple[str, int]]) -> dict[str, str]:
    """Serve a df.py page per tier; return the URL of each."""
    urls = {}
    for tier, page in pages.items():
        body, status = page if isinstance(page, tuple) else (page, 200)
        path = f"/{tier.lower()}/cgi-bin/cdr/df.py"
        httpserver.expect_request(path).respond_with_data(body, status=status)
        urls[tier] = httpserver.url_for(path)
    return urls


def run(urls: dict[str, str], email: EmailResource, **config) -> dg.ExecuteInProcessResult:
    return check_disk_space.execute_in_process(
        run_config={"ops": {"check_disk_space_op": {"config": {"urls": urls, **config}}}},
        resources={"email": email},
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return event.step_output_data.metadata


# --- parsing ----------------------------------------------------------------------------------


def test_legacy_sample_is_parsed() -> None:
    drives = parse_df(LEGACY_SAMPLE)
    assert sorted(drives) == ["C", "D"]
    assert drives["C"].free_bytes == 28396695552
    assert drives["C"].free_human == "(26.4G)"
    assert drives["C"].total_bytes == 148202582016
    assert drives["D"].used_bytes == 1013544005632
    assert drive_problems("PROD", drives, {"C": 10, "D": 100}) == []
    assert drive_problems("PROD", drives, {"C": 30, "D": 200}) == [
        "C: drive on PROD server down to 28396695552 bytes (26.4G)"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   FREE: 5 (5B)\nC DRIVE\n   FREE: 5 (5B)\n", "before any DRIVE line"),
        ("C DRIVE\n   FREE: lots (5.0G)\n", "'lots' is not a number of bytes"),
        ("C DRIVE\n   FREE: 5368709120\n", "has no human-readable size"),
        ("C DRIVE\n   FREE 5368709120 (5.0G)\n", "is not 'FREE: <bytes> (<size>)'"),
        ("C DRIVE\n  TOTAL: 10 (10B)\n", "drive C has no FREE line"),
        ("<html><body>Internal Server Error</body></html>", "no drive in the answer"),
        ("", "no drive in the answer"),
        ("# DRIVE\n   FREE: 5 (5B)\n", "names no drive letter"),
    ],
)
def test_malformed_output_is_an_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(DfParseError, match=re.escape(message)):
        parse_df(text)


def test_legacy_addresses() -> None:
    assert default_df_url("PROD") == "https://cdr.cancer.gov/cgi-bin/cdr/df.py"
    assert default_df_url("qa") == "https://cdr-qa.cancer.gov/cgi-bin/cdr/df.py"


# --- the job ----------------------------------------------------------------------------------


def test_low_drive_on_prod_is_mailed_and_every_drive_recorded(
    httpserver: HTTPServer, email: EmailResource, mailbox
) -> None:
    """PROD short of space on C: one problem line and a warning mail."""
    urls = serve(
        httpserver,
        {
            "PROD": df_page(5 * GIB, 300 * GIB, "5.0G", "300.0G"),
            "STAGE": HEALTHY,
            "QA": HEALTHY,
            "DEV": HEALTHY,
        },
    )
    result = run(urls, email)
    assert result.success
    [mail] = mailbox.messages
    assert mail.message["Subject"] == "*** WARNING: CDR DISK SPACE CHECK ***"
    assert mail.message["From"] == "NCIPDQoperator@mail.nih.gov", "not the legacy sender"
    assert mail.rcpt_tos == ["ann@example.gov"]
    assert mail.message.get_content().strip() == (
        "C: drive on PROD server down to 5368709120 bytes (5.0G)"
    )
    values = metadata(result)
    assert values["PROD_C_free_bytes"].value == 5 * GIB
    assert values["DEV_D_free_bytes"].value == 300 * GIB
    assert values["problems"].value == 1
    assert "| PROD | C | (5.0G) | 5.0 | 10 |" in values["drives"].value


def test_unreachable_tier_is_reported_and_the_others_checked(
    httpserver: HTTPServer, email: EmailResource, mailbox
) -> None:
    """An unreachable tier is a problem line, the others are still checked; an error page too."""
    urls = serve(
        httpserver,
        {
            "PROD": HEALTHY,
            "STAGE": ("<html>Internal Server Error</html>", 500),
            "DEV": df_page(50 * GIB, 20 * GIB, "50.0G", "20.0G"),
        },
    )
    urls["QA"] = closed_port_url()
    result = run(urls, email, timeout_seconds=5)
    assert result.success
    lines = mailbox.messages[0].message.get_content().strip().splitlines()
    assert lines[0].startswith("failure checking STAGE: no drive in the answer")
    assert lines[0].endswith(f"(HTTP 500 from {urls['STAGE']})")
    assert lines[1].startswith(f"failure checking QA: cannot connect to {urls['QA']}")
    assert lines[2] == f"D: drive on DEV server down to {20 * GIB} bytes (20.0G)"
    assert len(lines) == 3
    assert "PROD_C_free_bytes" in metadata(result)


def test_thresholds_per_drive(httpserver: HTTPServer, email: EmailResource, mailbox) -> None:
    """cthreshold 25 raises the C limit to 25 GiB; drives beyond C and D are checked too."""
    page = HEALTHY + f"\nE DRIVE\n   FREE: {3 * GIB} (3.0G)\n\nF DRIVE\n   FREE: {GIB} (1.0G)\n"
    urls = serve(httpserver, {"PROD": page})
    result = run(
        urls, email, tiers=["PROD"], cthreshold=60, thresholds={"e": 2}, recips=["x@y.gov"]
    )
    assert result.success
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["x@y.gov"]
    assert mail.message.get_content().strip().splitlines() == [
        f"C: drive on PROD server down to {50 * GIB} bytes (50.0G)",
        f"F: drive on PROD server has no threshold configured ({GIB} bytes (1.0G) free)",
    ]


def test_all_healthy_sends_nothing(httpserver: HTTPServer, email: EmailResource, mailbox) -> None:
    urls = serve(httpserver, {tier: HEALTHY for tier in ("PROD", "STAGE", "QA", "DEV")})
    result = run(urls, email)
    assert result.success
    assert mailbox.messages == []
    assert metadata(result)["problems"].value == 0


def test_address_from_the_environment(
    httpserver: HTTPServer, email: EmailResource, mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = serve(httpserver, {"QA": df_page(GIB, 300 * GIB, "1.0G", "300.0G")})
    monkeypatch.setenv("CDR_DISK_SPACE_URL_QA", urls["QA"])
    result = run({}, email, tiers=["QA"])
    assert result.success
    assert "C: drive on QA server" in mailbox.messages[0].message.get_content()


def test_failure_of_the_check_itself_is_mailed_and_fails_the_run(
    httpserver: HTTPServer, email: EmailResource, mailbox
) -> None:
    result = run({}, email, tiers=["PROD", "TEST"])
    assert not result.success
    [mail] = mailbox.messages
    assert mail.message["Subject"] == "DISK CHECK FAILURE"
    assert "unknown tier(s) TEST" in mail.message.get_content()


def test_legacy_options_map_to_the_job(httpserver: HTTPServer, email: EmailResource) -> None:
    entry = find_job_class("disk_space.Monitor")
    assert entry is not None
    converted = convert_options(
        entry, {"cthreshold": "25", "dthreshold": "50", "recips": '["a@x.gov", "b@x.gov"]'}
    )
    run_config = run_config_for(converted.node, converted.config)
    assert run_config == {
        "ops": {
            "check_disk_space_op": {
                "config": {"cthreshold": 25, "dthreshold": 50, "recips": ["a@x.gov", "b@x.gov"]}
            }
        }
    }
    dg.validate_run_config(check_disk_space, run_config)
