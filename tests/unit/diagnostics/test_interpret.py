"""Check interpretation: EWS outcome → status, code, explanation and remediation (pure)."""

from __future__ import annotations

import pytest
from exchangelib import errors as ews

from app.exchange.catalogue import CATALOGUE
from app.exchange.diagnostics import interpret
from app.exchange.diagnostics.interpret import Facts, Verdict
from app.exchange.errors import Seen, observe

FULL = Facts("full", "onprem", "svc@contoso.com", "alice@contoso.com")
RESTRICTED = Facts("restricted", "onprem", "svc@contoso.com", "alice@contoso.com")
FREE_BUSY = Facts("free_busy", "onprem", "svc@contoso.com", "alice@contoso.com")
ONLINE = Facts("full", "online", "svc@contoso.com", "alice@contoso.com", app_client_id="app-1")


@pytest.mark.parametrize(("exc", "code"), [
    (ews.ErrorImpersonateUserDenied("x"), "impersonation_denied"),
    (ews.ErrorNonExistentMailbox("x"), "mailbox_not_found"),
    (ews.ErrorNoFreeBusyAccess("x"), "freebusy_denied"),
    (ews.ErrorAccessDenied("x"), "access_denied"),
    (ews.UnauthorizedError("Invalid credentials"), "authentication_failed"),
    (ews.UnauthorizedError("The referenced account is currently locked out"), "account_locked"),
    (ews.TransportError("certificate verify failed: Hostname mismatch"), "tls_name_mismatch"),
    (ews.TransportError("certificate verify failed: self-signed certificate"), "tls_untrusted"),
    (ews.TransportError("certificate verify failed: certificate has expired"), "tls_expired"),
    (ews.MalformedResponseError("Unknown failure in response. Code: 403"), "ews_blocked"),
    (ews.SOAPError("Bad SOAP response: no root"), "malformed_response"),
    (ews.AutoDiscoverFailed("All steps failed"), "autodiscover_failed"),
    (ews.ErrorMailboxStoreUnavailable("x"), "mailbox_unavailable"),
])
def test_exchangelib_errors_map_to_catalogue_codes(exc: Exception, code: str) -> None:
    seen = observe(exc)

    assert seen.code == code
    assert code in CATALOGUE


def test_server_busy_keeps_the_back_off() -> None:
    exc = ews.ErrorServerBusy("busy", back_off=2.0)

    seen = observe(exc)

    assert (seen.code, seen.back_off) == ("exchange_busy", 2.0)


def test_access_denied_means_something_different_per_check_and_level() -> None:
    denied = Seen("ews", "ErrorAccessDenied", "access_denied")

    assert interpret.failure("mailbox_access", denied, RESTRICTED).code == "delegate_access_denied"
    assert interpret.failure("mailbox_access", denied, ONLINE).code == "app_access_denied"
    assert interpret.failure("calendar_write", denied, RESTRICTED).code == \
        "calendar_write_denied"
    assert interpret.failure("service_mailbox", Seen("ews", "ErrorNonExistentMailbox",
                                                     "mailbox_not_found"), FULL).code == \
        "service_mailbox_missing"


def test_impersonation_denied_offers_the_role_assignment_and_the_delay_trap() -> None:
    verdict = interpret.failure(
        "mailbox_access", Seen("ews", "ErrorImpersonateUserDenied", "impersonation_denied"), FULL)

    assert verdict.status == "fail"
    assert "New-ManagementRoleAssignment -Role ApplicationImpersonation" in verdict.powershell
    assert any("two hours" in t for t in verdict.traps)


def test_online_impersonation_denied_offers_the_app_role_not_impersonation() -> None:
    verdict = interpret.failure(
        "mailbox_access", Seen("ews", "ErrorImpersonateUserDenied", "impersonation_denied"),
        ONLINE)

    assert verdict.code == "app_access_denied"
    assert "Application EWS.AccessAsApp" in verdict.powershell


def test_free_busy_denied_fails_only_the_free_busy_level() -> None:
    seen = Seen("ews", "ErrorNoFreeBusyAccess", "freebusy_denied")

    assert interpret.failure("free_busy", seen, FREE_BUSY).status == "fail"
    assert interpret.failure("free_busy", seen, FULL).status == "warn"


def test_wrong_password_says_it_was_tried_once_and_names_the_traps() -> None:
    verdict = interpret.failure("authentication", Seen("auth", "HTTP 401",
                                                       "authentication_failed"), FULL)

    assert "did not retry" in verdict.explanation
    assert any("DOMAIN\\user" in t for t in verdict.traps)
    assert any("expires" in t for t in verdict.traps)


def test_least_privilege_warns_when_permissions_are_broader() -> None:
    assert interpret.least_privilege("restricted", "a@b.c", True, "ErrorAccessDenied").status == \
        "pass"
    broader = interpret.least_privilege("restricted", "a@b.c", False, "NoError")
    assert (broader.status, broader.code) == ("warn", "mail_readable")
    assert interpret.least_privilege("free_busy", "a@b.c", False, "NoError").code == \
        "details_readable"


def test_failures_that_repeat_a_mailbox_access_failure_become_skips() -> None:
    results = {
        "mailbox_access": Verdict("fail", "denied", "ErrorImpersonateUserDenied",
                                  "impersonation_denied"),
        "calendar_read": Verdict("fail", "denied", "ErrorImpersonateUserDenied",
                                 "impersonation_denied"),
        "rooms": Verdict("pass", "ok"),
    }

    adjusted = interpret.apply_dependencies(results)

    assert adjusted["calendar_read"].status == "skipped"
    assert "Access to the test mailbox" in adjusted["calendar_read"].explanation
    assert adjusted["rooms"].status == "pass"


def test_vendor_scopes_narrower_than_requested_are_named() -> None:
    verdict = interpret.scopes(("read_events", "create_event"), "free_busy", {})

    assert verdict.status == "warn"
    assert verdict.code == "scope_narrower"
    assert "read_events" in verdict.explanation


def test_vendor_scopes_failing_checks_are_named() -> None:
    verdict = interpret.scopes(("read_only",), "full", {"calendar_read": "fail"})

    assert verdict.status == "warn"
    assert "read_events" in verdict.explanation


def test_no_vendor_means_the_scope_check_is_skipped_with_why() -> None:
    assert interpret.scopes((), "full", {}).explanation.startswith("Skipped: ")


def test_every_code_the_interpreter_can_produce_is_in_the_catalogue() -> None:
    import re
    from pathlib import Path

    root = Path(interpret.__file__).parent.parent
    text = "".join(p.read_text() for p in root.rglob("*.py"))
    codes = set(re.findall(r'"([a-z]+(?:_[a-z]+)+)"', text))
    produced = {c for c in codes if c.endswith(("_denied", "_failed", "_missing", "_blocked",
                                                "_readable", "_unconfirmed", "_behind"))}
    assert produced <= set(CATALOGUE), produced - set(CATALOGUE)
