"""Boundary A's credentials: authorization codes, token pairs, rotation, replay and revocation.

The rules Authlib leaves to us (SECURITY.md findings 6 and 7) live here, free of Flask:

- a code is redeemed by one conditional ``UPDATE … WHERE used_at IS NULL`` in the same
  transaction as the token insert, so two redemptions can never both win, and a failed insert
  leaves the code redeemable;
- a replayed code revokes every token issued from it (RFC 6749 §4.1.2) and logs a warning;
- a refresh token is rotated on use; presenting a rotated one again revokes the whole family
  (OAuth 2.0 Security BCP, RFC 9700 §4.14.2), except for one retry within a short grace window
  when the successor was never used (the vendor lost the response);
- no token ever carries a scope the connection's access level cannot serve.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from app.crypto import hash_token
from app.database import db
from app.exchange import access
from app.models import Connection, utcnow
from app.oauth_models import OAuthCode, OAuthToken

log = logging.getLogger(__name__)

#: RFC 6749 §4.1.2 recommends at most ten minutes; the vendor redeems within seconds.
CODE_LIFETIME = timedelta(seconds=120)
#: Short-lived access tokens (SECURITY.md finding 7: Authlib's default is ten days).
ACCESS_TOKEN_LIFETIME = timedelta(seconds=600)
REFRESH_TOKEN_LIFETIME = timedelta(days=90)
#: How long a rotated refresh token may be retried when its successor was never used.
REFRESH_GRACE = timedelta(seconds=30)


class AuthorizationError(Exception):
    """Base for every failure this module reports."""

    code = "authorization_error"


class UnableToGrantScope(AuthorizationError):
    """The access level serves none of what the vendor asked for beyond ``read_account``."""

    code = "unable_to_grant_scope"

    def __init__(self, grant: access.Grant, level: str) -> None:
        refused = " ".join(r.scope for r in grant.refused)
        super().__init__(
            f"The {level} access level the administrator chose cannot serve the requested "
            f"scopes ({refused})."
        )
        self.grant = grant


class CodeAlreadyUsed(AuthorizationError):
    code = "code_replayed"


class RefreshTokenRejected(AuthorizationError):
    code = "refresh_token_rejected"


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class IssuedCode:
    """A new authorization code (the plaintext exists only here) and what it grants."""

    code: str
    granted: tuple[str, ...]
    refused: tuple[access.RefusedScope, ...]


@dataclass(frozen=True)
class CodeView:
    """An authorization code row, ready for the token endpoint."""

    id: int
    client_id: str
    connection_id: str
    redirect_uri: str
    scope: str
    scope_refused: tuple[dict[str, str], ...]
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass(frozen=True)
class TokenView:
    """A token pair row (no token values: those are never stored)."""

    id: int
    client_id: str
    connection_id: str
    code_id: int | None
    scope: str
    scope_refused: tuple[dict[str, str], ...]
    issued_at: datetime
    expires_at: datetime
    refresh_expires_at: datetime | None
    refresh_used_at: datetime | None
    revoked_at: datetime | None
    connection_active: bool

    @property
    def expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None or not self.connection_active


@dataclass(frozen=True)
class NewTokens:
    """Token values minted by the caller (Authlib's generator) for us to store hashed."""

    access_token: str
    refresh_token: str | None
    expires_in: int


def _code_view(row: OAuthCode) -> CodeView:
    return CodeView(
        id=row.id,
        client_id=row.client_id,
        connection_id=row.connection_id,
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        scope_refused=tuple(row.scope_refused or ()),
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
    )


def _token_view(row: OAuthToken, connection: Connection | None = None) -> TokenView:
    connection = connection or db.session.get(Connection, row.connection_id)
    issued = _aware(row.issued_at)
    expires = _aware(row.expires_at)
    assert issued is not None and expires is not None
    return TokenView(
        id=row.id,
        client_id=row.client_id,
        connection_id=row.connection_id,
        code_id=row.code_id,
        scope=row.scope,
        scope_refused=tuple(row.scope_refused or ()),
        issued_at=issued,
        expires_at=expires,
        refresh_expires_at=_aware(row.refresh_expires_at),
        refresh_used_at=_aware(row.refresh_used_at),
        revoked_at=_aware(row.revoked_at),
        connection_active=connection is not None and connection.status == "active",
    )


def _refused(grant: access.Grant) -> list[dict[str, str]]:
    return [{"scope": r.scope, "reason": r.reason} for r in grant.refused]


# -- authorization codes -------------------------------------------------------------------


def issue_code(
    client_id: str,
    connection_id: str,
    redirect_uri: str,
    requested: Sequence[str],
    code_challenge: str | None,
    code_challenge_method: str | None,
    code: str,
) -> IssuedCode:
    """Store ``code`` (hashed) for the connection the admin just authorized.

    The grant is recomputed here from the connection's saved access level, so a code can never
    carry a scope boundary B does not allow, whatever the caller passes.

    :raises UnableToGrantScope: when nothing useful can be granted; no code is stored.
    """
    connection = db.session.get(Connection, connection_id)
    if connection is None or connection.status != "active":
        raise AuthorizationError("The connection is not active.")
    grant = access.grant(requested, connection.access_level)
    if not grant.useful or not grant.granted:
        raise UnableToGrantScope(grant, connection.access_level)
    now = utcnow()
    db.session.add(
        OAuthCode(
            code_hash=hash_token(code),
            client_id=client_id,
            connection_id=connection_id,
            redirect_uri=redirect_uri,
            scope=grant.scope,
            scope_refused=_refused(grant),
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    db.session.commit()
    return IssuedCode(code=code, granted=grant.granted, refused=grant.refused)


def find_code(code: str, client_id: str) -> CodeView | None:
    """Return the unexpired, unused code issued to ``client_id``, or None.

    A code presented again after its redemption is a replay: every token issued from it is
    revoked and a warning logged (RFC 6749 §4.1.2).
    """
    row = db.session.scalar(select(OAuthCode).where(OAuthCode.code_hash == hash_token(code)))
    if row is None or row.client_id != client_id:
        return None
    if row.used_at is not None:
        _revoke_after_replay(row.id, client_id)
        return None
    expires = _aware(row.expires_at)
    assert expires is not None
    if expires <= utcnow():
        return None
    return _code_view(row)


def burn_code(code_id: int) -> None:
    """Make a code unusable without issuing anything (e.g. after a failed PKCE check)."""
    db.session.execute(
        update(OAuthCode)
        .where(OAuthCode.id == code_id, OAuthCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.commit()


def redeem_code(code: CodeView, tokens: NewTokens) -> TokenView:
    """Mark the code used and store the first token pair, in one transaction.

    :raises CodeAlreadyUsed: when another redemption won; its tokens are then revoked.
    """
    now = utcnow()
    # A conditional UPDATE, not read-then-write: under concurrency exactly one request sees
    # rowcount 1 (PostgreSQL re-checks the WHERE clause after the winner commits).
    result = db.session.execute(
        update(OAuthCode)
        .where(OAuthCode.id == code.id, OAuthCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        _revoke_after_replay(code.id, code.client_id)
        raise CodeAlreadyUsed("The authorization code was already used.")
    row = _new_token_row(
        client_id=code.client_id,
        connection_id=code.connection_id,
        code_id=code.id,
        parent_id=None,
        scope=code.scope,
        scope_refused=list(code.scope_refused),
        tokens=tokens,
        now=now,
    )
    db.session.add(row)
    db.session.commit()
    return _token_view(row)


def _new_token_row(*, client_id: str, connection_id: str, code_id: int | None,
                   parent_id: int | None, scope: str, scope_refused: list[dict[str, Any]],
                   tokens: NewTokens, now: datetime) -> OAuthToken:
    return OAuthToken(
        client_id=client_id,
        connection_id=connection_id,
        code_id=code_id,
        parent_id=parent_id,
        access_token_hash=hash_token(tokens.access_token),
        refresh_token_hash=hash_token(tokens.refresh_token) if tokens.refresh_token else None,
        scope=scope,
        scope_refused=scope_refused,
        issued_at=now,
        expires_at=now + timedelta(seconds=tokens.expires_in),
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if tokens.refresh_token else None,
    )


def _revoke_after_replay(code_id: int, client_id: str) -> None:
    count = revoke_family(code_id, "code_replayed")
    log.warning(
        "Authorization code %s was presented again by client %s; revoked %d token(s) "
        "issued from it (RFC 6749 section 4.1.2).",
        code_id, client_id, count,
    )


# -- token families --------------------------------------------------------------------------


def revoke_family(code_id: int | None, reason: str, token_id: int | None = None) -> int:
    """Revoke every live token pair descending from the code (or just ``token_id``)."""
    condition = (
        OAuthToken.code_id == code_id if code_id is not None else OAuthToken.id == token_id
    )
    result = db.session.execute(
        update(OAuthToken)
        .where(condition, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def find_access_token(access_token: str) -> TokenView | None:
    """Return the token pair an access token belongs to (valid or not), or None."""
    row = db.session.scalar(
        select(OAuthToken).where(OAuthToken.access_token_hash == hash_token(access_token))
    )
    return _token_view(row) if row else None


def find_token(token: str, hint: str | None = None) -> TokenView | None:
    """Find a token pair by either of its tokens (RFC 7009's ``token_type_hint`` first)."""
    digest = hash_token(token)
    if hint == "access_token":
        order = (OAuthToken.access_token_hash, OAuthToken.refresh_token_hash)
    else:
        order = (OAuthToken.refresh_token_hash, OAuthToken.access_token_hash)
    row = db.session.scalar(select(OAuthToken).where(or_(*(c == digest for c in order))))
    return _token_view(row) if row else None


def is_refresh_token(view: TokenView, token: str) -> bool:
    row = db.session.get(OAuthToken, view.id)
    return row is not None and row.refresh_token_hash == hash_token(token)


def revoke(view: TokenView, refresh: bool) -> None:
    """Revoke a token (RFC 7009 §2.1): an access token ends its pair; a refresh token ends the
    whole family, including every access token issued from the same authorization."""
    if refresh:
        revoke_family(view.code_id, "revoked", token_id=view.id)
    else:
        revoke_family(None, "revoked", token_id=view.id)


# -- refresh tokens ------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshCheck:
    """A refresh token that may be exchanged, and the unused successor a grace retry replaces."""

    token: TokenView
    replaces_successor: int | None = None


def check_refresh_token(refresh_token: str) -> RefreshCheck | None:
    """Return the refresh token's pair if it may be exchanged, else None.

    Presenting an already-rotated refresh token is theft or a lost response. Within
    :data:`REFRESH_GRACE`, while its successor was never used, it is a lost response and may be
    retried once more; otherwise the whole family is revoked.
    """
    row = db.session.scalar(
        select(OAuthToken).where(OAuthToken.refresh_token_hash == hash_token(refresh_token))
    )
    if row is None:
        return None
    view = _token_view(row)
    now = utcnow()
    if view.revoked_at is not None or not view.connection_active:
        return None
    if view.refresh_expires_at is not None and view.refresh_expires_at <= now:
        return None
    if view.refresh_used_at is None:
        return RefreshCheck(view)
    successor = db.session.scalar(
        select(OAuthToken).where(OAuthToken.parent_id == row.id, OAuthToken.revoked_at.is_(None))
    )
    if (
        successor is not None
        and successor.refresh_used_at is None
        and view.refresh_used_at + REFRESH_GRACE > now
    ):
        return RefreshCheck(view, replaces_successor=successor.id)
    count = revoke_family(view.code_id, "refresh_token_reused", token_id=view.id)
    log.warning(
        "A rotated refresh token of client %s was presented again; revoked %d token(s) of "
        "its family (RFC 9700 section 4.14.2).",
        view.client_id, count,
    )
    return None


def allowed_scope(connection_id: str, scope: str) -> str:
    """Return the scopes of ``scope`` the connection's access level still allows."""
    connection = db.session.get(Connection, connection_id)
    if connection is None:
        return ""
    level = access.access_level(connection.access_level)
    return " ".join(s for s in scope.split() if level.allows(s))


def rotate_refresh_token(check: RefreshCheck, scope: str, tokens: NewTokens) -> TokenView:
    """Exchange a refresh token for a new pair; the old refresh token stops working.

    :raises RefreshTokenRejected: when a concurrent exchange of the same token won.
    """
    old = check.token
    now = utcnow()
    if check.replaces_successor is None:
        result = db.session.execute(
            update(OAuthToken)
            .where(
                OAuthToken.id == old.id,
                OAuthToken.refresh_used_at.is_(None),
                OAuthToken.revoked_at.is_(None),
            )
            .values(refresh_used_at=now)
            .execution_options(synchronize_session=False)
        )
    else:
        # Grace retry: the successor the vendor never received is retired instead.
        result = db.session.execute(
            update(OAuthToken)
            .where(
                OAuthToken.id == check.replaces_successor,
                OAuthToken.refresh_used_at.is_(None),
                OAuthToken.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason="superseded")
            .execution_options(synchronize_session=False)
        )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        raise RefreshTokenRejected("The refresh token was already exchanged.")
    row = _new_token_row(
        client_id=old.client_id,
        connection_id=old.connection_id,
        code_id=old.code_id,
        parent_id=old.id,
        scope=allowed_scope(old.connection_id, scope),
        scope_refused=list(old.scope_refused),
        tokens=tokens,
        now=now,
    )
    db.session.add(row)
    db.session.commit()
    return _token_view(row)


def connection_summary(connection_id: str) -> dict[str, Any]:
    """Return what the token response says about the connection (no secrets)."""
    connection = db.session.get(Connection, connection_id)
    if connection is None:
        return {}
    return {
        "service_account": connection.service_account,
        "domain": connection.domain,
        "access_level": connection.access_level,
    }


def discard_connection(connection_id: str) -> None:
    """Mark a connection revoked when no vendor can be handed a code for it."""
    connection = db.session.get(Connection, connection_id)
    if connection is not None:
        connection.status = "revoked"
        db.session.commit()
