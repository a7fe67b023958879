"""The run-failure sensor mails the Developers Notification group about a failed run."""

from __future__ import annotations

import dagster as dg
import pytest

from cdr_dagster.resources.email import EmailResource
from cdr_dagster.sensors import WILL_RETRY_TAG, run_failure_email_sensor
from cdr_dagster_tests.cdr_rows import developers_email


@dg.op
def fetch_terms() -> int:
    return 3


@dg.op
def load_terms(count: int) -> None:
    raise ValueError(f"index refused {count} terms: mapping conflict")


@dg.job
def failing_load() -> None:
    load_terms(fetch_terms())


def _failure_context(instance: dg.DagsterInstance, email: EmailResource, *, will_retry: bool):
    result = failing_load.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    if will_retry:
        instance.add_run_tags(result.run_id, {WILL_RETRY_TAG: "true"})
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_email_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
        resources={"email": email, "cdr_db": email.cdr_db},
    )
    return context, result.run_id


@pytest.fixture
def email(cdr_db, mailbox) -> EmailResource:
    return developers_email(cdr_db, mailbox, tier="QA")


def test_failed_run_is_mailed_with_job_run_step_and_error(email, mailbox) -> None:
    with dg.instance_for_test() as instance:
        context, run_id = _failure_context(instance, email, will_retry=False)
        with context:
            run_failure_email_sensor(context.for_run_failure())
    [mail] = mailbox.messages
    assert mail.rcpt_tos == ["ann@example.gov"]
    message = mail.message
    assert message["Subject"] == f"[QA] Dagster run failed: failing_load ({run_id[:8]})"
    assert message["From"] == "PDQ Operator <NCIPDQoperator@mail.nih.gov>"
    body = message.get_content()
    assert "Job: failing_load" in body
    assert f"Run id: {run_id}" in body
    assert "Failing step: load_terms" in body
    assert "index refused 3 terms: mapping conflict" in body


def test_attempt_that_will_be_retried_is_not_mailed(email, mailbox) -> None:
    with dg.instance_for_test() as instance:
        context, _ = _failure_context(instance, email, will_retry=True)
        with context:
            run_failure_email_sensor(context.for_run_failure())
    assert mailbox.messages == []


def test_failure_sensor_is_running_by_default() -> None:
    assert run_failure_email_sensor.default_status == dg.DefaultSensorStatus.RUNNING
