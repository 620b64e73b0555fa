"""The credential test of wizard page 3: begin it, run it, follow it, trust a foreign host.

A test is a :class:`~app.models.StepRun` of the attempt, written as ``running`` before any EWS
traffic, so a database that cannot record the test stops it before Exchange sees a logon
(SECURITY.md row 45). Each check is saved on that row as it finishes, so whichever worker
process answers the browser's progress poll sees it; a row left ``running`` by a worker that
died is reported as interrupted once the test's budget has long passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, timedelta
from typing import Any

from app.crypto import SecretBox
from app.database import db
from app.exchange.connector import Connector
from app.exchange.diagnostics import Check, DiagnosticsRequest, Report, run_checks
from app.models import Attempt, StepRun, utcnow
from app.services import onboarding
from app.services.errors import InvalidInput
from app.services.redaction import redact_inputs

log = logging.getLogger(__name__)

RUNNING, PASSED, FAILED = "running", "passed", "failed"
REFUSED, ERROR, INTERRUPTED = "refused", "error", "interrupted"
#: How long past the test's total budget a ``running`` row may stay before it counts as dead.
INTERRUPTED_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class RunProgress:
    """What the browser's progress poll needs (no traces: those stay with the report)."""

    checks: tuple[dict[str, Any], ...]
    done: bool
    passed: bool | None = None
    error: str | None = None
    retry_after: int | None = None


def diagnostics_request(attempt: Attempt, box: SecretBox, mailbox: str,
                        write_test: bool) -> DiagnosticsRequest:
    """Build the diagnostics input from an attempt's saved values and its decrypted secret."""
    assert attempt.secret_enc is not None and attempt.service_account and attempt.access_level
    vendor = (onboarding.VendorRequest.from_dict(attempt.vendor_request)
              if attempt.vendor_request else None)
    return DiagnosticsRequest(
        deployment=attempt.deployment or "onprem",
        service_account=attempt.service_account,
        secret=box.decrypt(attempt.secret_enc),
        logon_name=attempt.logon_name,
        tenant_id=attempt.tenant_id,
        app_client_id=attempt.app_client_id,
        ews_url=attempt.ews_url,
        use_autodiscover=attempt.use_autodiscover,
        access_level=attempt.access_level,
        mailbox=mailbox,
        write_test=write_test,
        requested_scopes=vendor.scope if vendor else (),
        confirmed_hosts=tuple(attempt.confirmed_hosts or ()),
    )


def begin(attempt_id: str, mailbox: str, write_test: bool) -> int:
    """Record a new test of the attempt as running and return its run id."""
    attempt = onboarding.load_attempt(attempt_id)
    onboarding.require_step(onboarding.view_of(attempt), onboarding.STEP_TEST)
    run = StepRun(step="test", outcome=RUNNING, result={"checks": []},
                  inputs=redact_inputs({"mailbox": mailbox, "write_test": write_test}))
    attempt.steps.append(run)
    db.session.commit()
    return run.id


def _test_run(run_id: int, attempt_id: str | None = None) -> StepRun | None:
    run = db.session.get(StepRun, run_id)
    if run is None or run.step != "test" or (attempt_id and run.attempt_id != attempt_id):
        return None
    return run


def run(run_id: int, connector: Connector, box: SecretBox, *,
        on_progress: Callable[[Check], None] | None = None) -> Report:
    """Run the diagnostics of a begun test, saving each check as it finishes, then the report."""
    step = _test_run(run_id)
    assert step is not None and step.outcome == RUNNING, "begin() the test first"
    attempt = onboarding.load_attempt(step.attempt_id)
    mailbox, write_test = str(step.inputs["mailbox"]), bool(step.inputs.get("write_test"))
    request = diagnostics_request(attempt, box, mailbox, write_test)

    def saved(check: Check) -> None:
        summary = {k: v for k, v in asdict(check).items() if k != "trace"}
        try:
            step.result = {"checks": [*(step.result or {}).get("checks", []), summary]}
            db.session.commit()
        except Exception as e:  # progress is a nicety; the report is saved at the end anyway
            db.session.rollback()
            log.warning("could not save the progress of test run %s: %s", run_id,
                        type(e).__name__)
        if on_progress is not None:
            on_progress(check)

    report = run_checks(request, connector, on_progress=saved)
    saved_report = report.to_dict()
    step.outcome = PASSED if report.passed else FAILED
    step.result = saved_report
    step.error_code = report.first_failure_code
    step.duration_ms = report.duration_ms
    attempt.test_mailbox = mailbox
    attempt.test_passed = report.passed
    attempt.tested_at = utcnow()
    attempt.test_report = saved_report
    if report.passed:
        attempt.step_reached = max(attempt.step_reached, onboarding.STEP_AUTHORIZE)
    else:
        attempt.step_reached = min(attempt.step_reached, onboarding.STEP_TEST)
    db.session.commit()
    return report


def refuse(run_id: int, message: str, retry_after: int) -> None:
    """Close a begun test that the limits or the per-account lock did not let run."""
    _close(run_id, REFUSED, {"error": message, "retry_after": retry_after}, "too_many_tests")


def fail(run_id: int, message: str) -> None:
    """Close a begun test that stopped on an unexpected error (the message is for the admin)."""
    _close(run_id, ERROR, {"error": message}, "internal_error")


def _close(run_id: int, outcome: str, result: dict[str, Any], code: str) -> None:
    db.session.rollback()
    step = _test_run(run_id)
    if step is None or step.outcome != RUNNING:
        return
    step.outcome = outcome
    step.result = {"checks": (step.result or {}).get("checks", []), **result}
    step.error_code = code
    db.session.commit()


def progress(attempt_id: str, run_id: int, budget_s: float) -> RunProgress | None:
    """The checks finished so far of the attempt's test ``run_id``; None if there is none."""
    step = _test_run(run_id, attempt_id)
    if step is None:
        return None
    db.session.refresh(step)  # another process may be writing it
    if step.outcome == RUNNING:
        started = step.started_at if step.started_at.tzinfo else step.started_at.replace(
            tzinfo=UTC)
        if utcnow() - started < timedelta(seconds=budget_s) + INTERRUPTED_GRACE:
            return RunProgress(tuple((step.result or {}).get("checks", ())), done=False)
        _close(run_id, INTERRUPTED, {"error": "The test was interrupted before it finished. "
                                     "Nothing was changed; run it again."}, "interrupted")
    result = step.result or {}
    return RunProgress(tuple(result.get("checks", ())), done=True,
                       passed={PASSED: True, FAILED: False}.get(step.outcome),
                       error=result.get("error"), retry_after=result.get("retry_after"))


def trust_hosts(attempt_id: str, hosts: str) -> tuple[str, ...]:
    """Let Autodiscover use ``hosts`` (space separated), outside the admin's domain, in this
    attempt's tests; return them.

    Only hosts the last test stopped at can be trusted, so a crafted form cannot add another.
    """
    attempt = onboarding.load_attempt(attempt_id)
    pending = set((attempt.test_report or {}).get("confirm_hosts") or ())
    asked = tuple(dict.fromkeys(h.lower() for h in hosts.split()))
    if not asked or not set(asked) <= pending:
        raise InvalidInput("There is no Autodiscover host waiting for your confirmation; run "
                           "the test again.")
    known = list(attempt.confirmed_hosts or ())
    attempt.confirmed_hosts = [*known, *(h for h in asked if h not in known)]
    attempt.steps.append(StepRun(step="trust_host", outcome="completed",
                                 inputs={"hosts": list(asked)}))
    db.session.commit()
    return asked
