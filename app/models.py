"""SQLAlchemy models: onboarding attempts and their step runs, connections, OAuth clients.

Secrets are stored only as Fernet ciphertext (``*_enc`` columns) or as SHA-256 hashes
(``*_hash`` columns); nothing here holds a password or token in clear.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """Return an opaque, unguessable public id such as ``att_3Jk…``."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"


class Attempt(Base):
    """One admin's run through the wizard, from the first page until authorize or cancel."""

    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("att"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    #: in_progress, connected, cancelled
    status: Mapped[str] = mapped_column(String(20), default="in_progress", index=True)
    #: Highest step the admin may open: 1 account, 2 access, 3 test, 4 authorize.
    step_reached: Mapped[int] = mapped_column(Integer, default=1)

    deployment: Mapped[str | None] = mapped_column(String(10))  #: onprem | online
    service_account: Mapped[str | None] = mapped_column(String(254), index=True)
    logon_name: Mapped[str | None] = mapped_column(String(40))
    tenant_id: Mapped[str | None] = mapped_column(String(100))
    app_client_id: Mapped[str | None] = mapped_column(String(40))
    #: The password (on-premises) or the Entra client secret (Exchange Online), Fernet-encrypted.
    secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    use_autodiscover: Mapped[bool] = mapped_column(Boolean, default=False)
    ews_url: Mapped[str | None] = mapped_column(String(500))
    #: Hosts outside the admin's domain the admin trusted after Autodiscover pointed there.
    confirmed_hosts: Mapped[list[str] | None] = mapped_column(JSON)

    access_level: Mapped[str | None] = mapped_column(String(20))  #: full | restricted | free_busy
    coverage_mode: Mapped[str | None] = mapped_column(String(10))  #: all | group | list
    coverage_group: Mapped[str | None] = mapped_column(String(100))
    coverage_mailboxes: Mapped[list[str] | None] = mapped_column(JSON)

    test_mailbox: Mapped[str | None] = mapped_column(String(254))
    test_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    tested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The last diagnostics report (JSON, secrets redacted) for page 3 and support.
    test_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    #: The vendor's authorization request when the wizard was opened by a connect link.
    client_id: Mapped[str | None] = mapped_column(ForeignKey("oauth_clients.client_id"))
    vendor_request: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    connection_id: Mapped[str | None] = mapped_column(ForeignKey("connections.id"))

    steps: Mapped[list[StepRun]] = relationship(
        back_populates="attempt", order_by="StepRun.id", cascade="all, delete-orphan"
    )
    client: Mapped[OAuthClient | None] = relationship()


class StepRun(Base):
    """A record of one wizard step the admin completed or failed (inputs redacted)."""

    __tablename__ = "step_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), index=True)
    #: account, access, test, trust_host, authorize, cancel
    step: Mapped[str] = mapped_column(String(20))
    #: completed, invalid; for the test: running, passed, failed, refused, error, interrupted
    outcome: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100), default="admin")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    attempt: Mapped[Attempt] = relationship(back_populates="steps")


class Connection(Base):
    """An authorized link between one organisation's service account and (optionally) a vendor."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("con"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: active, revoked
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("oauth_clients.client_id"))

    domain: Mapped[str] = mapped_column(String(254))
    deployment: Mapped[str] = mapped_column(String(10))
    service_account: Mapped[str] = mapped_column(String(254))
    logon_name: Mapped[str | None] = mapped_column(String(40))
    tenant_id: Mapped[str | None] = mapped_column(String(100))
    app_client_id: Mapped[str | None] = mapped_column(String(40))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    use_autodiscover: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The EWS URL entered, or the one Autodiscover found when the credential test passed.
    ews_url: Mapped[str | None] = mapped_column(String(500))
    #: Hosts outside the domain the admin trusted for Autodiscover (see Attempt).
    confirmed_hosts: Mapped[list[str] | None] = mapped_column(JSON)

    access_level: Mapped[str] = mapped_column(String(20))
    coverage_mode: Mapped[str] = mapped_column(String(10))
    coverage_group: Mapped[str | None] = mapped_column(String(100))
    coverage_mailboxes: Mapped[list[str] | None] = mapped_column(JSON)
    #: Scopes the admin's level allows for this connection's vendor (space separated).
    scope: Mapped[str] = mapped_column(Text, default="")

    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[str | None] = mapped_column(String(60))

    client: Mapped[OAuthClient | None] = relationship()


class OAuthClient(Base):
    """A vendor application registered to use the connect link and the API."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: SHA-256 of the client secret; None for public clients.
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Scopes the client may request (space separated).
    scope: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
