"""production_health_sensor and notify_production_health against a real cdrping.py stand-in.

The production ``cdrping.py`` page is served by pytest-httpserver on loopback; the answer is
changed between ticks. The sensor is evaluated with ``build_sensor_context`` on a real instance,
and the notification runs the daemon would start are run on that instance with the run key
and sensor tags the daemon gives them, mailing through the real SMTP test server.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cdr_dagster.cdr.health import HealthState, check_cdrping, format_problems
from cdr_dagster.control_sensors import (
    HEALTH_SENSOR_NAME,
    RUN_KEY_TAG,
    SENSOR_NAME_TAG,
    build_production_health_sensor,
    split_recipients,
)
from cdr_dagster.jobs.health import notify_production_health
from cdr_dagster.resources.cdr_db import CdrDatabaseResource
from cdr_dagster.resources.email import EmailResource
from cdr_dagster_tests.cdr_rows import add_group_members, developers_email

PING = "/cgi-bin/cdr/cdrping.py"
SUBJECT = "*** CDR PRODUCTION SERVER FAILURES ***"


class Cdrping:
    """The page's current answer (body and HTTP status), changed by the tests."""

    def __init__(self, server: HTTPServer) -> None:
        self.body = "CDR OK"
        self.status = 200
        self.delay = 0.0
        server.expect_request(PING).respond_with_handler(self.answer)
        self.url = server.url_for(PING)

    def answer(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        return Response(self.body, status=self.status, content_type="text/plain")


@pytest.fixture
def cdrping(httpserver: HTTPServer) -> Cdrping:
    return Cdrping(httpserver)


@pytest.fixture
def email(cdr_db, mailbox) -> EmailResource:
    return developers_email(cdr_db, mailbox)


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> Any:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor.evaluate_tick(context)


def run_as_daemon(
    instance: dg.DagsterInstance, request: dg.RunRequest, email: EmailResource
) -> dg.ExecuteInProcessResult:
    """Start the requested run the way the daemon would: same config, key and sensor tags."""
    return notify_production_health.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        tags={**request.tags, RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: HEALTH_SENSOR_NAME},
        resources={"email": email},
        raise_on_error=False,
    )


def state(cursor: str) -> HealthState:
    return HealthState.from_json(cursor)


def failures_in(request: dg.RunRequest) -> list[tuple[str, int]]:
    config = request.run_config["ops"]["notify_production_health_op"]["config"]
    return [(item["problem"], item["count"]) for item in config["failures"]]


# --- cdrping ----------------------------------------------------------------------------------


def test_cdrping_answers(cdrping: Cdrping) -> None:
    assert check_cdrping(cdrping.url) is None
    cdrping.body = "  CDR CORRUPT\n"
    assert check_cdrping(cdrping.url) == "CDR CORRUPT"
    cdrping.body, cdrping.status = "CDR OK", 500
    assert check_cdrping(cdrping.url) == f"HTTP error 500 INTERNAL SERVER ERROR from {cdrping.url}"
    cdrping.body, cdrping.status = "", 200
    assert check_cdrping(cdrping.url) == f"empty answer from {cdrping.url}"


def test_unreachable_server_gives_the_same_problem_text_every_time() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cgi-bin/cdr/cdrping.py"
    first, second = check_cdrping(url, 5), check_cdrping(url, 5)
    assert first == second
    assert first is not None and first.startswith(f"cannot connect to {url}")
    assert "0x" not in first


def test_hung_server_is_a_timeout_problem(cdrping: Cdrping) -> None:
    cdrping.delay = 3
    assert check_cdrping(cdrping.url, 0.5) == f"no answer from {cdrping.url} within 0.5 seconds"


# --- the cursor -------------------------------------------------------------------------------


def test_state_round_trips_through_json_with_utc_times() -> None:
    now = datetime(2025, 7, 28, 20, 1, tzinfo=timezone.utc)
    health = HealthState()
    health.record("CDR UNAVAILABLE", now)
    health.record("CDR CORRUPT", now)
    health.record("CDR UNAVAILABLE", now)
    health.start_notification("k1", now)
    health.record("CDR CORRUPT", now + timedelta(minutes=1))
    text = health.to_json()
    data = json.loads(text)
    assert data["last_notification"] == "2025-07-28T20:01:00+00:00"
    assert data["pending"]["failures"] == [["CDR UNAVAILABLE", 2], ["CDR CORRUPT", 1]]
    again = HealthState.from_json(text)
    assert again == health
    again.notification_failed()
    assert list(again.failures.items()) == [("CDR UNAVAILABLE", 2), ("CDR CORRUPT", 2)]
    assert again.last_notification is None
    assert format_problems(again.failures) == "CDR UNAVAILABLE (2)\nCDR CORRUPT (2)"
    with pytest.raises(ValueError, match="cannot be read"):
        HealthState.from_json('{"version": 1, "failures": "many"}')


# --- the sensor -------------------------------------------------------------------------------


def test_first_failure_is_reported_at_once_then_batched_until_the_delay(
    cdrping: Cdrping, email: EmailResource, mailbox
) -> None:
    """The first failure mailed at once, the next an hour later, across evaluations and a
    rebuilt sensor."""
    sensor = build_production_health_sensor(url=cdrping.url, delay_minutes=60)
    cdrping.body = "CDR UNAVAILABLE"
    with dg.instance_for_test() as instance:
        first = tick(sensor, instance, None)
        [request] = first.run_requests
        assert failures_in(request) == [("CDR UNAVAILABLE", 1)]
        assert request.run_config["ops"]["notify_production_health_op"]["config"]["delay"] == 60
        assert state(first.cursor).pending is not None

        result = run_as_daemon(instance, request, email)
        assert result.success
        [mail] = mailbox.messages
        assert mail.message["Subject"] == SUBJECT
        assert mail.message["From"] == "NCIPDQoperator@mail.nih.gov", "not the legacy sender"
        assert mail.rcpt_tos == ["ann@example.gov"]
        assert mail.message.get_content().strip() == "CDR UNAVAILABLE (1)"

        cursor = first.cursor
        for _ in range(3):
            later = tick(sensor, instance, cursor)
            assert not later.run_requests
            cursor = later.cursor
        remembered = state(cursor)
        assert remembered.pending is None  # the notification run succeeded
        assert remembered.failures == {"CDR UNAVAILABLE": 3}
        assert "next notification at" in later.skip_message

        # A daemon restart rebuilds the sensor; the cursor keeps the state. Once the delay
        # has passed since the last notification, the batch goes out.
        rebuilt = build_production_health_sensor(url=cdrping.url, delay_minutes=60)
        remembered.last_notification = datetime.now(timezone.utc) - timedelta(minutes=61)
        due = tick(rebuilt, instance, remembered.to_json())
        [request] = due.run_requests
        assert failures_in(request) == [("CDR UNAVAILABLE", 4)]
        assert run_as_daemon(instance, request, email).success
        assert mailbox.messages[-1].message.get_content().strip() == "CDR UNAVAILABLE (4)"


def test_healthy_server_requests_nothing(cdrping: Cdrping) -> None:
    """A healthy server with no pending failures requests nothing."""
    sensor = build_production_health_sensor(url=cdrping.url)
    with dg.instance_for_test() as instance:
        result = tick(sensor, instance, None)
    assert not result.run_requests
    assert result.skip_message == "CDR OK"
    assert state(result.cursor).failures == {}
    assert state(result.cursor).checks == 1


def test_waiting_problems_are_sent_when_due_even_after_recovery(cdrping: Cdrping) -> None:
    sensor = build_production_health_sensor(url=cdrping.url, delay_minutes=30)
    waiting = HealthState(
        failures={"CDR CORRUPT": 2},
        last_notification=datetime.now(timezone.utc) - timedelta(minutes=10),
    )
    with dg.instance_for_test() as instance:
        not_due = tick(sensor, instance, waiting.to_json())
        assert not not_due.run_requests
        assert not_due.skip_message.startswith("CDR OK now; 1 problem(s) seen 2 time(s)")
        waiting.last_notification -= timedelta(minutes=25)
        due = tick(sensor, instance, waiting.to_json())
    [request] = due.run_requests
    assert failures_in(request) == [("CDR CORRUPT", 2)]


def test_failed_notification_puts_the_problems_back(cdrping: Cdrping, cdr_db, mailbox) -> None:
    """The legacy kept its state when the mail failed; the next check tries again."""
    add_group_members(cdr_db, "Developers Notification", [("ann", "ann@example.gov", False)])
    closed = EmailResource(
        tier="DEV",
        smtp_host="127.0.0.1",
        smtp_port=1,
        timeout=5,
        cdr_db=CdrDatabaseResource(url=cdr_db.url.render_as_string(hide_password=False)),
    )
    sensor = build_production_health_sensor(url=cdrping.url, delay_minutes=60)
    cdrping.body = "CDR UNAVAILABLE"
    with dg.instance_for_test() as instance:
        first = tick(sensor, instance, None)
        [request] = first.run_requests
        assert not run_as_daemon(instance, request, closed).success
        cdrping.body = "CDR CORRUPT"
        retry = tick(sensor, instance, first.cursor)
    [again] = retry.run_requests
    assert again.run_key != request.run_key
    assert failures_in(again) == [("CDR UNAVAILABLE", 1), ("CDR CORRUPT", 1)]


def test_no_second_notification_while_one_is_in_flight(cdrping: Cdrping) -> None:
    sensor = build_production_health_sensor(url=cdrping.url, delay_minutes=0)
    cdrping.body = "CDR UNAVAILABLE"
    with dg.instance_for_test() as instance:
        first = tick(sensor, instance, None)
        assert len(first.run_requests) == 1
        second = tick(sensor, instance, first.cursor)
    assert not second.run_requests
    assert second.skip_message.endswith("to finish")
    assert state(second.cursor).failures == {"CDR UNAVAILABLE": 1}


def test_invalid_delay_means_sixty_minutes(cdrping: Cdrping) -> None:
    """A delay that is not a number means 60 minutes."""
    sensor = build_production_health_sensor(url=cdrping.url, delay_minutes="abc")
    cdrping.body = "CDR UNAVAILABLE"
    with dg.instance_for_test() as instance:
        result = tick(sensor, instance, None)
    [request] = result.run_requests
    assert request.run_config["ops"]["notify_production_health_op"]["config"]["delay"] == 60


def test_settings_from_the_environment(cdrping: Cdrping) -> None:
    env = {
        "CDR_TIER": "QA",
        "CDR_HEALTH_CHECK_URL": cdrping.url,
        "CDR_HEALTH_CHECK_RECIPS": "a@example.gov b@example.gov",
    }
    sensor = build_production_health_sensor(environ=env)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert build_production_health_sensor(environ={"CDR_TIER": "DEV"}).default_status == (
        dg.DefaultSensorStatus.RUNNING
    )
    cdrping.body = "CDR UNAVAILABLE"
    with dg.instance_for_test() as instance:
        result = tick(sensor, instance, None)
    [request] = result.run_requests
    config = request.run_config["ops"]["notify_production_health_op"]["config"]
    assert config["recips"] == ["a@example.gov", "b@example.gov"]
    assert split_recipients("a@x.gov, b@x.gov c@x.gov") == ["a@x.gov", "b@x.gov c@x.gov"]


# --- the job on its own -----------------------------------------------------------------------


def test_job_launched_without_problems_checks_once(
    cdrping: Cdrping, email: EmailResource, mailbox
) -> None:
    config = {"url": cdrping.url, "recips": ["ops@example.gov"]}
    run_config = {"ops": {"notify_production_health_op": {"config": config}}}
    ok = notify_production_health.execute_in_process(
        run_config=run_config, resources={"email": email}
    )
    assert ok.success
    assert mailbox.messages == []
    cdrping.body = "CDR UNAVAILABLE"
    failing = notify_production_health.execute_in_process(
        run_config=run_config, resources={"email": email}
    )
    assert failing.success
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["ops@example.gov"]
    assert mail.message.get_content().strip() == "CDR UNAVAILABLE (1)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "CDR_HEALTH_CHECK_TIMEOUT_SECONDS='soon' is not a number of seconds"),
        ("0", "CDR_HEALTH_CHECK_TIMEOUT_SECONDS='0' must be at least 0.1 seconds"),
    ],
)
def test_a_bad_ping_timeout_stops_the_load_naming_it(value: str, message: str) -> None:
    from cdr_dagster.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        build_production_health_sensor(environ={"CDR_HEALTH_CHECK_TIMEOUT_SECONDS": value})
