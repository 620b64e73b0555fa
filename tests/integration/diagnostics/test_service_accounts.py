"""Every sandbox service account at every access level: each check's status and remediation."""

from __future__ import annotations

import pytest

from app.exchange.diagnostics import run_checks
from app.sandbox import SandboxServer

from .conftest import by_key, protocol_cache_size, request_for, served


def test_full_impersonation_passes_every_check_including_the_write(sandbox: SandboxServer,
                                                                   connector) -> None:
    report = run_checks(request_for(sandbox, "svc-full", "full", write_test=True), connector)

    checks = by_key(report)
    assert report.passed
    for key in ("endpoint", "authentication", "service_mailbox", "mailbox_access",
                "calendar_read", "calendar_write", "rooms"):
        assert checks[key].status == "pass", (key, checks[key].explanation)
    assert checks["endpoint"].seen.startswith("HTTP 401 (offers NTLM")
    assert checks["least_privilege"].status == "skipped"
    assert checks["least_privilege"].explanation.startswith("Skipped: ")
    # Default None on Sales calendars: free/busy is a warning with the Default-entry fix.
    assert checks["free_busy"].status == "warn"
    assert checks["free_busy"].code == "freebusy_denied"
    assert "-User Default -AccessRights AvailabilityOnly" in checks["free_busy"].powershell
    assert "safe to delete" in checks["calendar_write"].explanation
    assert protocol_cache_size() == 0


def test_write_test_leaves_no_event_behind(sandbox: SandboxServer, connector) -> None:
    run_checks(request_for(sandbox, "svc-full", "full", write_test=True), connector)

    assert served(sandbox, "CreateItem") == 1
    assert served(sandbox, "DeleteItem") == 1


def test_scoped_impersonation_outside_its_scope_is_denied_with_the_role_fix(
        sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-scoped", "full", mailbox="carol"), connector)

    checks = by_key(report)
    assert not report.passed
    assert checks["mailbox_access"].status == "fail"
    assert checks["mailbox_access"].code == "impersonation_denied"
    assert checks["mailbox_access"].seen == "ErrorImpersonateUserDenied"
    assert "New-ManagementRoleAssignment -Role ApplicationImpersonation" in \
        checks["mailbox_access"].powershell
    assert any("two hours" in t for t in checks["mailbox_access"].traps)
    assert checks["calendar_read"].status == "skipped"
    assert report.first_failure_code == "impersonation_denied"


def test_scoped_impersonation_inside_its_scope_passes(sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-scoped", "full", mailbox="bob"), connector)

    assert by_key(report)["mailbox_access"].status == "pass"
    assert by_key(report)["calendar_read"].status == "pass"


def test_restricted_delegate_reads_and_writes_but_the_inbox_is_denied(sandbox: SandboxServer,
                                                                      connector) -> None:
    report = run_checks(request_for(sandbox, "svc-restricted", "restricted", write_test=True),
                        connector)

    checks = by_key(report)
    assert report.passed
    assert checks["mailbox_access"].status == "pass"
    assert "delegate access" in checks["mailbox_access"].explanation
    assert checks["calendar_write"].status == "pass"
    assert checks["least_privilege"].status == "pass"
    assert checks["least_privilege"].seen == "ErrorAccessDenied"
    assert checks["free_busy"].status == "pass"


def test_full_access_account_chosen_as_restricted_is_reported_broader(sandbox: SandboxServer,
                                                                      connector) -> None:
    # Impersonation is not used at Restricted, but svc-full tested against its own mailbox
    # (FullAccess as owner) shows the Inbox is readable: broader than Restricted.
    report = run_checks(request_for(sandbox, "svc-full", "restricted", mailbox="svc-full"),
                        connector)

    least = by_key(report)["least_privilege"]
    assert least.status == "warn"
    assert least.code == "mail_readable"
    assert "broader" in least.explanation


def test_restricted_delegate_outside_its_mailboxes_gets_the_folder_permission_fix(
        sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-restricted", "restricted", mailbox="carol"),
                        connector)

    access = by_key(report)["mailbox_access"]
    assert access.status == "fail"
    assert access.code == "delegate_access_denied"
    assert "Add-MailboxFolderPermission" in access.powershell or \
        "MailboxFolderPermission" in access.powershell


def test_free_busy_level_sees_times_but_not_details(sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-freebusy", "free_busy"), connector)

    checks = by_key(report)
    assert report.passed
    assert checks["mailbox_access"].status == "pass"
    assert checks["least_privilege"].status == "pass"
    assert "not readable" in checks["least_privilege"].explanation
    assert checks["calendar_read"].status == "skipped"
    assert checks["calendar_write"].status == "skipped"
    assert checks["rooms"].status == "skipped"
    assert checks["free_busy"].status == "pass"


def test_full_account_chosen_as_free_busy_is_reported_broader(sandbox: SandboxServer,
                                                              connector) -> None:
    report = run_checks(request_for(sandbox, "svc-restricted", "free_busy"), connector)

    least = by_key(report)["least_privilege"]
    assert least.status == "warn"
    assert least.code == "details_readable"


def test_free_busy_denied_fails_the_free_busy_level_with_the_permission_fix(
        sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-none", "free_busy"), connector)

    checks = by_key(report)
    assert not report.passed
    assert checks["mailbox_access"].code == "freebusy_denied"
    assert checks["free_busy"].status == "fail"
    assert "AvailabilityOnly" in checks["free_busy"].powershell


def test_account_without_mailbox_is_named(sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-nomailbox", "full"), connector)

    checks = by_key(report)
    assert checks["service_mailbox"].status == "fail"
    assert checks["service_mailbox"].code == "service_mailbox_missing"
    assert checks["service_mailbox"].seen == "ErrorNonExistentMailbox"
    assert checks["mailbox_access"].status == "pass"


@pytest.mark.parametrize("level", ["full", "restricted"])
def test_account_without_rights_is_denied_at_each_level(sandbox: SandboxServer, connector,
                                                        level: str) -> None:
    report = run_checks(request_for(sandbox, "svc-none", level), connector)

    access = by_key(report)["mailbox_access"]
    assert access.status == "fail"
    assert access.code == ("impersonation_denied" if level == "full"
                           else "delegate_access_denied")
    assert access.powershell


def test_wrong_password_fails_sign_in_once_and_skips_the_rest(sandbox: SandboxServer,
                                                              connector) -> None:
    report = run_checks(request_for(sandbox, "svc-full", "full", secret="wrong-Pass-9"),
                        connector)

    checks = by_key(report)
    assert checks["authentication"].status == "fail"
    assert checks["authentication"].code == "authentication_failed"
    assert any("DOMAIN\\user" in t for t in checks["authentication"].traps)
    assert any("expires" in t for t in checks["authentication"].traps)
    assert checks["mailbox_access"].status == "skipped"
    assert report.authentication_failed


def test_unknown_mailbox_is_mailbox_not_found(sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-full", "full", mailbox="nobody"), connector)

    assert by_key(report)["mailbox_access"].code == "mailbox_not_found"


def test_room_mailbox_can_be_the_test_mailbox(sandbox: SandboxServer, connector) -> None:
    report = run_checks(request_for(sandbox, "svc-full", "full", mailbox="room-a"), connector)

    assert by_key(report)["calendar_read"].status == "pass"
    assert "Room A" in by_key(report)["rooms"].explanation


def test_vendor_scopes_beyond_the_level_are_reported_narrower(sandbox: SandboxServer,
                                                              connector) -> None:
    report = run_checks(request_for(sandbox, "svc-freebusy", "free_busy",
                                    requested_scopes=("read_events", "read_free_busy")),
                        connector)

    scopes = by_key(report)["scopes"]
    assert scopes.status == "warn"
    assert scopes.code == "scope_narrower"
    assert "read_events" in scopes.explanation


def test_report_round_trips_through_json(sandbox: SandboxServer, connector) -> None:
    from app.exchange.diagnostics import Report

    report = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    again = Report.from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict()
    assert all(c.trace for c in report.checks if c.status in ("pass", "fail"))
