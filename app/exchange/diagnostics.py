"""Credential diagnostics: run the checks an access level needs and report each one.

This first version runs the two checks the wizard cannot do without (authenticate, read the
test mailbox's calendar). The full check list of the credential-diagnostics issue builds on the
same :class:`DiagnosticsRequest` / :class:`Report` contract.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    Account,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
)
from exchangelib import errors as ews
from exchangelib.folders import Calendar, DistinguishedFolderId, Root
from exchangelib.properties import Mailbox
from exchangelib.protocol import close_connections

from app.exchange.connector import Connector

PASS, WARN, FAIL, SKIPPED = "pass", "warn", "fail", "skipped"


@dataclass(frozen=True)
class DiagnosticsRequest:
    """Everything the checks need; ``secret`` is the decrypted password or client secret."""

    deployment: str
    service_account: str
    secret: str = field(repr=False)
    access_level: str
    mailbox: str
    logon_name: str | None = None
    tenant_id: str | None = None
    app_client_id: str | None = None
    ews_url: str | None = None
    use_autodiscover: bool = False
    write_test: bool = False
    requested_scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    key: str
    title: str
    status: str
    duration_ms: int = 0
    seen: str | None = None
    explanation: str = ""
    code: str | None = None
    remediation: str | None = None
    powershell: str | None = None


@dataclass(frozen=True)
class Report:
    """All checks of one run, in display order."""

    checks: tuple[Check, ...]
    duration_ms: int = 0

    @property
    def passed(self) -> bool:
        return all(c.status in (PASS, WARN, SKIPPED) for c in self.checks) and any(
            c.status == PASS for c in self.checks
        )

    @property
    def first_failure_code(self) -> str | None:
        return next((c.code for c in self.checks if c.status == FAIL), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "duration_ms": self.duration_ms,
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            checks=tuple(Check(**c) for c in data.get("checks", ())),
            duration_ms=int(data.get("duration_ms", 0)),
        )


def _account(request: DiagnosticsRequest, connector: Connector) -> Account:
    username = request.logon_name or request.service_account
    config = Configuration(
        service_endpoint=request.ews_url,
        credentials=Credentials(username, request.secret),
        auth_type=NTLM if request.logon_name else BASIC,
        retry_policy=FailFast(),
    )
    access_type = IMPERSONATION if request.access_level == "full" else DELEGATE
    return Account(
        request.mailbox,
        config=config,
        access_type=access_type,
        autodiscover=False,
        default_timezone=EWSTimeZone("UTC"),
    )


def _calendar(account: Account) -> Calendar:
    # Never touch the mailbox root: a calendar-only delegate is denied it (exchangelib#1282).
    return Calendar(
        root=Root(account=account),
        _distinguished_id=DistinguishedFolderId(
            id="calendar", mailbox=Mailbox(email_address=account.primary_smtp_address)
        ),
    )


def run_checks(request: DiagnosticsRequest, connector: Connector) -> Report:
    """Authenticate and read the test mailbox's calendar for the coming week."""
    started = time.monotonic()
    checks: list[Check] = []
    t0 = time.monotonic()
    try:
        account = _account(request, connector)
        start = EWSDateTime.now(tz=EWSTimeZone("UTC"))
        items = list(_calendar(account).view(start=start, end=start + timedelta(days=7)).only(
            "subject", "start", "end"
        ))
        checks.append(
            Check(
                key="calendar_read",
                title="Read the calendar",
                status=PASS,
                duration_ms=int((time.monotonic() - t0) * 1000),
                seen="NoError",
                explanation=f"Read {len(items)} events in the coming week of {request.mailbox}.",
            )
        )
    except ews.UnauthorizedError:
        checks.append(
            Check(
                key="authentication",
                title="Sign in as the service account",
                status=FAIL,
                duration_ms=int((time.monotonic() - t0) * 1000),
                seen="HTTP 401",
                code="authentication_failed",
                explanation="Exchange rejected the service account's credentials.",
            )
        )
    except ews.EWSError as e:
        checks.append(
            Check(
                key="calendar_read",
                title="Read the calendar",
                status=FAIL,
                duration_ms=int((time.monotonic() - t0) * 1000),
                seen=type(e).__name__,
                code="exchange_error",
                explanation="Exchange refused to show the calendar.",
            )
        )
    finally:
        close_connections()
    return Report(checks=tuple(checks), duration_ms=int((time.monotonic() - started) * 1000))
