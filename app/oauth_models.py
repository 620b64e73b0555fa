"""SQLAlchemy models of boundary A's credentials: authorization codes and token pairs.

Codes, access tokens and refresh tokens are stored only as SHA-256 hashes
(:func:`app.crypto.hash_token`); the plaintext exists once, in the response that hands it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.database import Base
from app.models import OAuthClient, utcnow

#: What a client may do unless registered otherwise.
DEFAULT_GRANT_TYPES = "authorization_code refresh_token"


class OAuthCode(Base):
    """A single-use authorization code, bound to its client, redirect_uri, PKCE challenge and
    the connection the admin just authorized."""

    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(500))
    #: The granted scopes (space separated): what the access level allows of what was asked.
    scope: Mapped[str] = mapped_column(Text, default="")
    #: ``[{"scope": ..., "reason": ...}]`` for the token response's ``scope_refused``.
    scope_refused: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Set, atomically, by the one redemption that wins; a second redemption is a replay.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthToken(Base):
    """One access token and the refresh token issued with it.

    Every pair descending from one authorization code shares ``code_id`` (the token family), so
    a replayed code or a reused refresh token revokes the whole family at once.
    """

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_codes.id"), index=True)
    #: The pair whose refresh token was exchanged for this one (rotation lineage).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_tokens.id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    scope_refused: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the refresh token was exchanged (rotated); presenting it again is reuse.
    refresh_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When both tokens of the pair stopped working (revocation, replay or reuse).
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


#: The grant types a client may use (space separated); added to ``oauth_clients`` by migration
#: 0002. Declared here so the OAuth code owns its column without editing the core model.
OAuthClient.grant_types = Column(  # type: ignore[attr-defined]
    "grant_types", Text, nullable=False, default=DEFAULT_GRANT_TYPES,
    server_default=DEFAULT_GRANT_TYPES,
)
