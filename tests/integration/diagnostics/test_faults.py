"""Faults from the sandbox's knobs: each gives a clear failed check, never a 500 (rows 40-42)."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient

from app.exchange.diagnostics import run_checks
from app.sandbox import SandboxServer
from tests.helpers import WizardActions

from .conftest import by_key, protocol_cache_size, request_for, served


def test_latency_past_the_check_timeout_fails_fast_naming_the_check(sandbox: SandboxServer,
                                                                    connector) -> None:
    """Row 40: a dead-slow server fails in seconds and the report says which check timed out."""
    sandbox.set_latency(4000)
    started = time.monotonic()

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    elapsed = time.monotonic() - started
    endpoint = by_key(report)["endpoint"]
    assert elapsed < connector.check_timeout + 2
    assert endpoint.status == "fail"
    assert endpoint.code == "timeout"
    assert "Reach the EWS endpoint" in endpoint.explanation
    assert by_key(report)["authentication"].status == "skipped"


def test_latency_under_the_timeout_passes(sandbox: SandboxServer, connector) -> None:
    sandbox.set_latency(300)

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    assert report.passed


def test_throttling_with_a_short_back_off_is_honoured_once_and_reported(sandbox: SandboxServer,
                                                                        connector) -> None:
    sandbox.script_fault("GetRoomLists", "server_busy", back_off_ms=300)

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    rooms = by_key(report)["rooms"]
    assert rooms.status == "pass"
    assert "asked us to wait 0.3 s" in rooms.explanation


def test_throttling_beyond_the_budget_is_reported_not_retried(sandbox: SandboxServer,
                                                              connector) -> None:
    sandbox.script_fault("GetRoomLists", "server_busy", count=5, back_off_ms=30000)
    started = time.monotonic()

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    rooms = by_key(report)["rooms"]
    assert time.monotonic() - started < 3
    assert rooms.status == "fail"
    assert rooms.code == "exchange_busy"
    assert "30 s" in rooms.explanation
    assert "Set-ThrottlingPolicyAssociation" in rooms.remediation
    assert served(sandbox, "GetRoomLists") == 1


@pytest.mark.parametrize(("kind", "code"), [
    ("http_503", "server_unavailable"),
    ("reset", "connection_reset"),
    ("malformed", "malformed_response"),
])
def test_transport_faults_fail_one_check_with_a_classified_code(sandbox: SandboxServer,
                                                                connector, kind: str,
                                                                code: str) -> None:
    """Rows 41-42: reset mid-response and garbage XML are classified; the trace is kept."""
    sandbox.script_fault("FindItem", kind)

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    read = by_key(report)["calendar_read"]
    assert read.status == "fail"
    assert read.code == code
    assert read.trace
    assert by_key(report)["rooms"].status == "pass"
    assert protocol_cache_size() == 0


def test_401_midway_fails_that_check_and_is_never_retried(sandbox: SandboxServer,
                                                          connector) -> None:
    # Two scripted 401s: on an already authenticated NTLM connection the first only makes the
    # client sign the connection in again (one type-3 message), which the second then rejects.
    sandbox.script_fault("FindItem", "unauthorized", count=2)

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    read = by_key(report)["calendar_read"]
    assert read.status == "fail"
    assert read.code == "authentication_failed"
    assert not [e for e in sandbox.requests if e.operation == "FindItem" and e.status == 200]
    assert by_key(report)["rooms"].status == "pass"


@pytest.mark.parametrize("kind", ["http_503", "reset", "malformed", "unauthorized"])
def test_faults_through_the_wizard_never_give_a_500_and_keep_earlier_steps(
        client: FlaskClient, sandbox: SandboxServer, kind: str) -> None:
    from app.database import db
    from app.models import StepRun

    wizard = WizardActions(client)
    wizard.start()
    wizard.account(sandbox.ews_url)
    wizard.access("full")
    sandbox.script_fault("FindItem", kind, count=2)

    response = wizard.test()

    assert response.status_code == 200
    assert "Something needs fixing" in response.get_data(as_text=True)
    steps = [r.step for r in db.session.query(StepRun).filter_by(attempt_id=wizard.attempt_id)
             .order_by(StepRun.id)]
    assert steps[:2] == ["account", "access"] and steps[-1] == "test"
    page = client.get(wizard.url("access"))
    assert page.status_code == 200


def test_throttling_every_concurrent_check_ends_within_the_budget(sandbox: SandboxServer,
                                                                  connector) -> None:
    """Regression: a shared exchangelib pool deadlocks when throttling shrinks it while every
    session is in use; each lane has its own single-connection Protocol instead."""
    sandbox.script_fault("*", "server_busy", count=50, after=1, back_off_ms=30000)
    started = time.monotonic()

    report = run_checks(request_for(sandbox, "svc-full", "full", write_test=True), connector)

    assert time.monotonic() - started < connector.check_timeout + 2
    busy = [c for c in report.checks if c.code == "exchange_busy"]
    assert len(busy) >= 5
    assert protocol_cache_size() == 0
