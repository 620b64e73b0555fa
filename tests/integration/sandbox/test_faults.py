"""Each fault knob, and how exchangelib sees it."""

from __future__ import annotations

import time

import pytest
import requests
from exchangelib import FaultTolerance
from exchangelib.errors import (
    ErrorMailboxStoreUnavailable,
    ErrorServerBusy,
    MalformedResponseError,
    TransportError,
    UnauthorizedError,
)

from .conftest import make_account, this_week

pytestmark = pytest.mark.integration


def view(account) -> list[str]:  # type: ignore[no-untyped-def]
    start, end = this_week()
    return [i.subject for i in account.calendar.view(start=start, end=end).only("subject")]


def warmed(sandbox, **kwargs):  # type: ignore[no-untyped-def]
    account = make_account(sandbox, "svc-full", "alice", **kwargs)
    account.calendar  # noqa: B018 - resolve version and folders before the fault
    return account


def test_server_busy_is_raised_with_back_off_by_fail_fast(sandbox):
    account = warmed(sandbox)
    sandbox.script_fault(operation="FindItem", kind="server_busy", count=1, back_off_ms=2000)
    with pytest.raises(ErrorServerBusy) as info:
        view(account)
    assert info.value.back_off == 2
    assert view(account)  # the script ran out


def test_server_busy_is_retried_after_back_off_by_fault_tolerance(sandbox):
    account = warmed(sandbox, retry_policy=FaultTolerance(max_wait=10))
    sandbox.script_fault(operation="FindItem", kind="server_busy", count=1, back_off_ms=200)
    began = time.monotonic()
    assert view(account)
    assert time.monotonic() - began >= 0.2
    assert sandbox.count("FindItem") == 2


def test_scripted_soap_fault_code_is_raised_as_its_exception(sandbox):
    account = warmed(sandbox)
    sandbox.script_fault(operation="FindItem", kind="soap_fault",
                         code="ErrorMailboxStoreUnavailable")
    with pytest.raises(ErrorMailboxStoreUnavailable):
        view(account)


def test_http_500_with_an_html_body_is_a_malformed_response(sandbox):
    account = warmed(sandbox)
    sandbox.script_fault(operation="FindItem", kind="http_500")
    with pytest.raises(MalformedResponseError):
        view(account)


def test_http_503_is_server_busy(sandbox):
    account = warmed(sandbox)
    sandbox.script_fault(operation="FindItem", kind="http_503")
    with pytest.raises(ErrorServerBusy):
        view(account)


def test_connection_reset_is_a_transport_error(sandbox):
    account = warmed(sandbox)
    sandbox.script_fault(operation="FindItem", kind="reset")
    with pytest.raises((TransportError, ConnectionError)):
        view(account)


def test_malformed_xml_is_a_soap_error(sandbox):
    from exchangelib.errors import SOAPError

    account = warmed(sandbox)
    sandbox.script_fault(operation="FindItem", kind="malformed")
    with pytest.raises(SOAPError, match="Bad SOAP response"):
        view(account)


def test_truncated_xml_is_silently_recovered_into_partial_results(sandbox):
    """exchangelib parses with lxml's recover mode: half a FindItem response yields fewer items
    and no error. Callers cannot tell; the product must not treat a short result as complete
    proof of absence."""
    account = warmed(sandbox)
    complete = view(account)
    sandbox.script_fault(operation="FindItem", kind="truncated")
    partial = view(account)
    assert len(partial) < len(complete)


def test_unauthorized_after_n_requests(sandbox):
    account = warmed(sandbox)
    sandbox.script_fault(operation="*", kind="unauthorized", after=2)
    assert view(account)
    assert view(account)
    with pytest.raises(UnauthorizedError):
        view(account)


def test_latency_slows_every_request(sandbox):
    account = warmed(sandbox)
    sandbox.set_latency(150)
    began = time.monotonic()
    view(account)
    assert time.monotonic() - began >= 0.15


def test_request_log_counts_operations_and_reset_clears_state(sandbox):
    account = warmed(sandbox)
    view(account)
    assert sandbox.count("FindItem") == 1
    assert any(e.operation == "GetFolder" and e.impersonated == "alice@contoso.example"
               for e in sandbox.requests)
    sandbox.script_fault(operation="FindItem", kind="http_503", count=5)
    sandbox.reset()
    assert sandbox.count() == 0
    assert view(account)


def test_control_endpoints_script_faults_latency_and_counters_over_http(sandbox):
    base = sandbox.base_url + "/_sandbox/"
    account = warmed(sandbox)
    r = requests.post(base + "faults", json={"operation": "FindItem", "kind": "http_503"},
                      timeout=5)
    assert r.json()["ok"]
    assert requests.get(base + "faults", timeout=5).json()[0]["kind"] == "http_503"
    with pytest.raises(ErrorServerBusy):
        view(account)
    assert requests.get(base + "counters", timeout=5).json()["FindItem"] == 1
    assert requests.get(base + "requests", timeout=5).json()[-1]["fault"] == "http_503"
    assert requests.post(base + "latency", json={"ms": 5}, timeout=5).json()["ok"]
    assert sandbox.app.latency_ms == 5
    assert requests.post(base + "faults", json={"kind": "nope"}, timeout=5).status_code == 400
    assert requests.post(base + "reset", timeout=5).json()["ok"]
    assert sandbox.count() == 0
