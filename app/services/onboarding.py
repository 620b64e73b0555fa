"""The wizard's use cases: start an attempt, save each step, test, authorize or cancel.

Every step the admin completes or fails is recorded as a :class:`~app.models.StepRun` with its
inputs redacted, so support staff can read what happened and replay it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.crypto import SecretBox
from app.database import db
from app.exchange import access
from app.models import Attempt, Connection, StepRun, utcnow
from app.services.errors import AttemptClosed, AttemptExpired, AttemptNotFound, StepNotReached
from app.services.redaction import redact_inputs

#: How long an unfinished attempt stays usable.
ATTEMPT_LIFETIME = timedelta(hours=24)

STEP_ACCOUNT, STEP_ACCESS, STEP_TEST, STEP_AUTHORIZE = 1, 2, 3, 4


@dataclass(frozen=True)
class VendorRequest:
    """A vendor's validated authorization request, carried through the wizard."""

    client_id: str
    client_name: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    logo_url: str | None = None
    login_hint: str | None = None
    provider_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "redirect_uri": self.redirect_uri,
            "scope": list(self.scope),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "logo_url": self.logo_url,
            "login_hint": self.login_hint,
            "provider_name": self.provider_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VendorRequest:
        return cls(**{**data, "scope": tuple(data.get("scope") or ())})


@dataclass(frozen=True)
class AccountInput:
    """What the admin typed on page 1 (already validated by the form)."""

    deployment: str
    service_account: str
    logon_name: str = ""
    password: str = ""
    tenant_id: str = ""
    app_client_id: str = ""
    client_secret: str = ""
    use_autodiscover: bool = False
    ews_url: str = ""


@dataclass(frozen=True)
class AccessInput:
    """The access level and the mailboxes it covers (page 2)."""

    level: str
    coverage_mode: str
    group: str = ""
    mailboxes: tuple[str, ...] = ()

    @property
    def coverage(self) -> access.Coverage:
        return access.Coverage(
            mode=self.coverage_mode, group=self.group or None, mailboxes=self.mailboxes
        )


@dataclass(frozen=True)
class AttemptView:
    """A read-only view of an attempt, with no secret in it."""

    id: str
    status: str
    step_reached: int
    created_at: datetime
    deployment: str | None
    service_account: str | None
    logon_name: str | None
    tenant_id: str | None
    app_client_id: str | None
    has_secret: bool
    use_autodiscover: bool
    ews_url: str | None
    access_level: str | None
    coverage_mode: str | None
    coverage_group: str | None
    coverage_mailboxes: tuple[str, ...]
    test_mailbox: str | None
    test_passed: bool
    test_report: dict[str, Any] | None
    vendor: VendorRequest | None
    connection_id: str | None
    confirmed_hosts: tuple[str, ...] = ()

    @property
    def coverage(self) -> access.Coverage | None:
        if not self.coverage_mode:
            return None
        return access.Coverage(
            mode=self.coverage_mode,
            group=self.coverage_group,
            mailboxes=self.coverage_mailboxes,
        )

    @property
    def domain(self) -> str | None:
        return self.service_account.rsplit("@", 1)[-1] if self.service_account else None


@dataclass(frozen=True)
class AuthorizeResult:
    """What authorizing an attempt produced."""

    connection_id: str
    attempt: AttemptView
    granted: tuple[str, ...] = ()
    refused: tuple[access.RefusedScope, ...] = field(default_factory=tuple)


def view_of(attempt: Attempt) -> AttemptView:
    return AttemptView(
        id=attempt.id,
        status=attempt.status,
        step_reached=attempt.step_reached,
        created_at=attempt.created_at,
        deployment=attempt.deployment,
        service_account=attempt.service_account,
        logon_name=attempt.logon_name,
        tenant_id=attempt.tenant_id,
        app_client_id=attempt.app_client_id,
        has_secret=attempt.secret_enc is not None,
        use_autodiscover=attempt.use_autodiscover,
        ews_url=attempt.ews_url,
        access_level=attempt.access_level,
        coverage_mode=attempt.coverage_mode,
        coverage_group=attempt.coverage_group,
        coverage_mailboxes=tuple(attempt.coverage_mailboxes or ()),
        test_mailbox=attempt.test_mailbox,
        test_passed=attempt.test_passed,
        test_report=attempt.test_report,
        vendor=VendorRequest.from_dict(attempt.vendor_request) if attempt.vendor_request else None,
        connection_id=attempt.connection_id,
        confirmed_hosts=tuple(attempt.confirmed_hosts or ()),
    )


def load_attempt(attempt_id: str, *, open_only: bool = True) -> Attempt:
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None:
        raise AttemptNotFound("This setup could not be found.")
    created = attempt.created_at
    if created.tzinfo is None:  # SQLite returns naive datetimes
        created = created.replace(tzinfo=UTC)
    if attempt.status == "in_progress" and created + ATTEMPT_LIFETIME < utcnow():
        raise AttemptExpired("This setup expired; start again from the first step.")
    if open_only and attempt.status != "in_progress":
        raise AttemptClosed(f"This setup was already {attempt.status}.")
    return attempt


@contextmanager
def _step_run(attempt: Attempt, step: str, inputs: Mapping[str, Any]) -> Iterator[StepRun]:
    """Record a step run around the block, timing it; the block sets the outcome."""
    run = StepRun(step=step, outcome="completed", inputs=redact_inputs(inputs))
    started = time.monotonic()
    yield run
    run.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.steps.append(run)


def start_attempt(vendor: VendorRequest | None = None) -> AttemptView:
    """Create a new attempt, optionally on behalf of a vendor's authorization request."""
    attempt = Attempt(
        client_id=vendor.client_id if vendor else None,
        vendor_request=vendor.to_dict() if vendor else None,
    )
    if vendor and vendor.login_hint:
        attempt.service_account = vendor.login_hint
    if vendor and vendor.provider_name == "exchange_online":
        attempt.deployment = "online"
    db.session.add(attempt)
    db.session.commit()
    return view_of(attempt)


def get_attempt(attempt_id: str, *, open_only: bool = False) -> AttemptView:
    """Return the attempt; raises :class:`AttemptNotFound` or :class:`AttemptExpired`."""
    return view_of(load_attempt(attempt_id, open_only=open_only))


def require_step(attempt: AttemptView, step: int) -> None:
    """Raise :class:`StepNotReached` when ``step`` is ahead of what the admin completed."""
    if step > attempt.step_reached:
        raise StepNotReached(attempt.step_reached)


def record_invalid_step(attempt_id: str, step: str, inputs: Mapping[str, Any],
                        errors: Mapping[str, Any]) -> None:
    """Record that the admin submitted a step the form rejected (nothing saved is changed)."""
    attempt = load_attempt(attempt_id)
    with _step_run(attempt, step, inputs) as run:
        run.outcome = "invalid"
        run.result = {"errors": {k: list(v) for k, v in errors.items()}}
        run.error_code = "invalid_input"
    db.session.commit()


def save_account_step(attempt_id: str, data: AccountInput, box: SecretBox) -> AttemptView:
    """Save page 1; an empty password keeps the one already stored for this attempt."""
    attempt = load_attempt(attempt_id)
    inputs = vars(data)
    with _step_run(attempt, "account", inputs):
        changed = (
            attempt.deployment != data.deployment
            or attempt.service_account != data.service_account
            or attempt.ews_url != (data.ews_url or None)
            or attempt.use_autodiscover != data.use_autodiscover
        )
        attempt.deployment = data.deployment
        attempt.service_account = data.service_account
        attempt.logon_name = data.logon_name or None
        attempt.tenant_id = data.tenant_id or None if data.deployment == "online" else None
        attempt.app_client_id = data.app_client_id or None if data.deployment == "online" else None
        attempt.use_autodiscover = data.use_autodiscover
        attempt.ews_url = None if data.use_autodiscover else (data.ews_url or None)
        secret = data.client_secret if data.deployment == "online" else data.password
        if secret:
            attempt.secret_enc = box.encrypt(secret)
            changed = True
        if changed:
            _invalidate_test(attempt)
            attempt.confirmed_hosts = None
        attempt.step_reached = max(attempt.step_reached, STEP_ACCESS)
    db.session.commit()
    return view_of(attempt)


def save_access_step(attempt_id: str, data: AccessInput) -> AttemptView:
    """Save page 2; a different level or coverage means the credentials must be tested again."""
    attempt = load_attempt(attempt_id)
    require_step(view_of(attempt), STEP_ACCESS)
    with _step_run(attempt, "access", {**vars(data), "mailboxes": list(data.mailboxes)}):
        mailboxes = list(data.mailboxes) if data.coverage_mode == "list" else None
        group = data.group if data.coverage_mode == "group" else None
        if (
            attempt.access_level != data.level
            or attempt.coverage_mode != data.coverage_mode
            or attempt.coverage_group != group
            or (attempt.coverage_mailboxes or None) != mailboxes
        ):
            _invalidate_test(attempt)
        attempt.access_level = data.level
        attempt.coverage_mode = data.coverage_mode
        attempt.coverage_group = group
        attempt.coverage_mailboxes = mailboxes
        attempt.step_reached = max(attempt.step_reached, STEP_TEST)
    db.session.commit()
    return view_of(attempt)


def _invalidate_test(attempt: Attempt) -> None:
    attempt.test_passed = False
    if attempt.step_reached > STEP_TEST:
        attempt.step_reached = STEP_TEST


def authorize(attempt_id: str) -> AuthorizeResult:
    """Persist the connection for a tested attempt and close the attempt."""
    attempt = load_attempt(attempt_id)
    view = view_of(attempt)
    require_step(view, STEP_AUTHORIZE)
    assert attempt.secret_enc and attempt.service_account and attempt.access_level
    requested = view.vendor.scope if view.vendor else ()
    grant = access.grant(requested, attempt.access_level)
    with _step_run(attempt, "authorize", {"scope": " ".join(requested)}) as run:
        connection = Connection(
            client_id=attempt.client_id,
            domain=view.domain or "",
            deployment=attempt.deployment or "onprem",
            service_account=attempt.service_account,
            logon_name=attempt.logon_name,
            tenant_id=attempt.tenant_id,
            app_client_id=attempt.app_client_id,
            secret_enc=attempt.secret_enc,
            use_autodiscover=attempt.use_autodiscover,
            ews_url=attempt.ews_url or (attempt.test_report or {}).get("ews_url"),
            confirmed_hosts=attempt.confirmed_hosts,
            access_level=attempt.access_level,
            coverage_mode=attempt.coverage_mode or "all",
            coverage_group=attempt.coverage_group,
            coverage_mailboxes=attempt.coverage_mailboxes,
            scope=" ".join(grant.granted),
            last_success_at=attempt.tested_at,
        )
        db.session.add(connection)
        db.session.flush()
        attempt.connection_id = connection.id
        attempt.status = "connected"
        run.result = {
            "connection_id": connection.id,
            "granted": list(grant.granted),
            "refused": [r.scope for r in grant.refused],
        }
    db.session.commit()
    return AuthorizeResult(
        connection_id=connection.id,
        attempt=view_of(attempt),
        granted=grant.granted,
        refused=grant.refused,
    )


def cancel(attempt_id: str) -> AttemptView:
    """Close the attempt without creating a connection."""
    attempt = load_attempt(attempt_id)
    with _step_run(attempt, "cancel", {}):
        attempt.status = "cancelled"
    db.session.commit()
    return view_of(attempt)

