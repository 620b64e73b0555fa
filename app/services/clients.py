"""Registering vendor applications (OAuth clients): create, list, rotate the secret, delete.

A client secret is shown once, when it is created or rotated, and stored only as its SHA-256
hash. The demo vendor's secret is derived from the app's ``SECRET_KEY`` with HMAC, so the app can
recompute it for its own demo callback without ever storing it in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update

from app.crypto import hash_token, new_token, tokens_equal
from app.database import db
from app.exchange import access
from app.models import Attempt, Connection, OAuthClient
from app.oauth_models import DEFAULT_GRANT_TYPES, OAuthCode, OAuthToken

#: The demo vendor's fixed client id (``make run`` registers it).
DEMO_CLIENT_ID = "demo-vendor"
DEMO_CLIENT_NAME = "Demo Vendor"
GRANT_TYPES = ("authorization_code", "refresh_token")


class ClientError(Exception):
    """Base for every failure this module reports."""

    code = "client_error"


class ClientNotFound(ClientError):
    code = "client_not_found"


class InvalidRedirectUri(ClientError):
    code = "invalid_redirect_uri"


class InvalidClientScope(ClientError):
    code = "invalid_scope"


@dataclass(frozen=True)
class ClientInfo:
    """A registered client, without any secret."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    scope: tuple[str, ...]
    grant_types: tuple[str, ...]
    public: bool
    logo_url: str | None
    #: A prefix of the secret's hash: changes when the secret rotates (signs the vendor page).
    secret_fingerprint: str


@dataclass(frozen=True)
class RegisteredClient:
    """A client just created or re-keyed, with its secret (None for public clients)."""

    client: ClientInfo
    client_secret: str | None


def _info(row: OAuthClient) -> ClientInfo:
    return ClientInfo(
        client_id=row.client_id,
        name=row.name,
        redirect_uris=tuple(row.redirect_uris or ()),
        scope=tuple((row.scope or "").split()),
        grant_types=tuple((row.grant_types or DEFAULT_GRANT_TYPES).split()),  # type: ignore[attr-defined]
        public=row.public,
        logo_url=row.logo_url,
        secret_fingerprint=(row.client_secret_hash or "public")[:16],
    )


def validate_redirect_uri(uri: str) -> str:
    """Return ``uri`` if it may be registered: https, or http on a loopback host (RFC 8252 §7.3);
    absolute, no fragment, no userinfo.

    :raises InvalidRedirectUri: naming what is wrong.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRedirectUri(f"{uri!r} is not an absolute http(s) URL.")
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUri("A redirect URI may not contain a fragment (RFC 6749 §3.1.2).")
    if parts.username or parts.password:
        raise InvalidRedirectUri("A redirect URI may not contain user information.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidRedirectUri("Use https; plain http is allowed for loopback addresses only.")
    return uri


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _scope(scope: Sequence[str] | None) -> str:
    if not scope:
        return " ".join(access.SCOPES)
    try:
        return " ".join(access.expand_scopes(scope))
    except access.UnknownScope as e:
        raise InvalidClientScope(str(e)) from e


def register_client(
    name: str,
    redirect_uris: Sequence[str],
    *,
    logo_url: str | None = None,
    scope: Sequence[str] | None = None,
    public: bool = False,
    grant_types: Sequence[str] | None = None,
    client_id: str | None = None,
) -> RegisteredClient:
    """Register a client and return it with its secret, which is never shown again."""
    if not redirect_uris:
        raise InvalidRedirectUri("Register at least one redirect URI.")
    uris = [validate_redirect_uri(u) for u in redirect_uris]
    if logo_url and urlsplit(logo_url).scheme != "https":
        raise InvalidRedirectUri("The logo URL must use https.")
    kinds = tuple(grant_types or GRANT_TYPES)
    if unknown := set(kinds) - set(GRANT_TYPES):
        raise ClientError(f"Unknown grant type: {' '.join(sorted(unknown))}")
    secret = None if public else new_token(32)
    row = OAuthClient(
        client_id=client_id or f"cli_{secrets.token_urlsafe(12)}",
        client_secret_hash=hash_token(secret) if secret else None,
        name=name,
        logo_url=logo_url or None,
        redirect_uris=uris,
        scope=_scope(scope),
        public=public,
    )
    row.grant_types = " ".join(kinds)  # type: ignore[attr-defined]
    db.session.add(row)
    db.session.commit()
    return RegisteredClient(_info(row), secret)


def _load(client_id: str) -> OAuthClient:
    row = db.session.get(OAuthClient, client_id)
    if row is None:
        raise ClientNotFound(f"No client {client_id!r}.")
    return row


def get_client(client_id: str) -> ClientInfo:
    """Return the client; raises :class:`ClientNotFound`."""
    return _info(_load(client_id))


def find_client(client_id: str) -> ClientInfo | None:
    row = db.session.get(OAuthClient, client_id) if client_id else None
    return _info(row) if row else None


def list_clients() -> list[ClientInfo]:
    rows = db.session.scalars(select(OAuthClient).order_by(OAuthClient.created_at))
    return [_info(r) for r in rows]


def check_client_secret(client_id: str, secret: str) -> bool:
    """Tell whether ``secret`` is the client's current secret (constant-time comparison)."""
    row = db.session.get(OAuthClient, client_id) if client_id else None
    if row is None or not row.client_secret_hash or not secret:
        return False
    return tokens_equal(row.client_secret_hash, hash_token(secret))


def rotate_secret(client_id: str) -> RegisteredClient:
    """Give a confidential client a new secret; the old one stops working at once."""
    row = _load(client_id)
    if row.public:
        raise ClientError("A public client has no secret to rotate.")
    secret = new_token(32)
    row.client_secret_hash = hash_token(secret)
    db.session.commit()
    return RegisteredClient(_info(row), secret)


def delete_client(client_id: str) -> None:
    """Delete a client: its codes and tokens go, its connections are revoked and kept."""
    row = _load(client_id)
    db.session.execute(delete(OAuthToken).where(OAuthToken.client_id == client_id))
    db.session.execute(delete(OAuthCode).where(OAuthCode.client_id == client_id))
    db.session.execute(
        update(Connection)
        .where(Connection.client_id == client_id)
        .values(client_id=None, status="revoked")
    )
    db.session.execute(
        update(Attempt).where(Attempt.client_id == client_id).values(client_id=None)
    )
    db.session.delete(row)
    db.session.commit()


def demo_client_secret(secret_key: str) -> str:
    """Return the demo vendor's secret, derived from ``secret_key`` so it is never stored."""
    digest = hmac.new(
        secret_key.encode("utf-8"), b"exchange-connect demo-vendor client secret", hashlib.sha256
    ).hexdigest()
    return f"demo_{digest}"


def ensure_demo_client(secret_key: str, public_url: str) -> ClientInfo:
    """Register or refresh the demo vendor for ``public_url`` (idempotent)."""
    redirect_uri = validate_redirect_uri(f"{public_url.rstrip('/')}/demo-vendor/callback")
    secret_hash = hash_token(demo_client_secret(secret_key))
    row = db.session.get(OAuthClient, DEMO_CLIENT_ID)
    if row is None:
        row = OAuthClient(client_id=DEMO_CLIENT_ID, name=DEMO_CLIENT_NAME, public=False)
        db.session.add(row)
    row.client_secret_hash = secret_hash
    row.redirect_uris = [redirect_uri]
    row.scope = " ".join(access.SCOPES)
    row.grant_types = DEFAULT_GRANT_TYPES  # type: ignore[attr-defined]
    row.public = False
    db.session.commit()
    return _info(row)


__all__ = [
    "ClientError",
    "ClientInfo",
    "ClientNotFound",
    "InvalidClientScope",
    "InvalidRedirectUri",
    "RegisteredClient",
    "check_client_secret",
    "delete_client",
    "demo_client_secret",
    "ensure_demo_client",
    "find_client",
    "get_client",
    "list_clients",
    "register_client",
    "rotate_secret",
]
