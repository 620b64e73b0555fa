"""The Authlib authorization server: our grants, PKCE policy, revocation and bearer validation.

Authlib's defaults are not ours (SECURITY.md findings 6, 7 and 9), so each is overridden here:
PKCE with S256 is required of every client, confidential ones too; access tokens live
:data:`~app.services.authorization.ACCESS_TOKEN_LIFETIME`; refresh tokens rotate; an unknown
scope is ``invalid_scope``; and a code is redeemed atomically (see
:mod:`app.services.authorization`).
"""

from __future__ import annotations

from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.errors import _HTTPException
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response

from app.crypto import tokens_equal
from app.database import db
from app.exchange import access
from app.models import OAuthClient
from app.oauth_models import DEFAULT_GRANT_TYPES
from app.services import authorization as service
from app.services.clients import check_client_secret

#: Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1; "none" is
#: for public clients, which must then prove possession with PKCE).
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class Client(ClientMixin):
    """Authlib's view of an :class:`~app.models.OAuthClient` row."""

    def __init__(self, row: OAuthClient) -> None:
        self.client_id = row.client_id
        self.name = row.name
        self.logo_url = row.logo_url
        self.public = row.public
        self.redirect_uris = tuple(row.redirect_uris or ())
        self.scope = row.scope or ""
        self.grant_types = tuple((row.grant_types or DEFAULT_GRANT_TYPES).split())  # type: ignore[attr-defined]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # The connect link must name its redirect_uri: no silent default.
        return None

    def get_allowed_scope(self, scope: str) -> str | None:
        """Expand aliases; None (``invalid_scope``) when beyond what the client registered."""
        requested = scope_to_list(scope) if scope else self.scope.split()
        try:
            expanded = access.expand_scopes(requested)
        except access.UnknownScope:
            return None
        if self.scope and not set(expanded) <= set(access.expand_scopes(self.scope.split())):
            return None
        return " ".join(expanded) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 6749 §3.1.2.3; OAuth 2.1): no prefixes, no normalising.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return not self.public and check_client_secret(self.client_id, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def query_client(client_id: str | None) -> Client | None:
    row = db.session.get(OAuthClient, client_id) if client_id else None
    return Client(row) if row else None


class AuthorizationCode(AuthorizationCodeMixin):
    def __init__(self, view: service.CodeView) -> None:
        self.view = view
        self.code_challenge = view.code_challenge
        self.code_challenge_method = view.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.view.redirect_uri

    def get_scope(self) -> str:
        return self.view.scope


class Token(TokenMixin):
    """Authlib's view of a stored token pair (``current_token`` in API views)."""

    def __init__(self, view: service.TokenView) -> None:
        self.view = view
        self.connection_id = view.connection_id
        self.client_id = view.client_id
        self.scope = view.scope

    def check_client(self, client: ClientMixin) -> bool:
        return tokens_equal(self.view.client_id, client.get_client_id())

    def get_scope(self) -> str:
        return self.view.scope

    def get_expires_in(self) -> int:
        return self.view.expires_in

    def is_expired(self) -> bool:
        return self.view.is_expired()

    def is_revoked(self) -> bool:
        return self.view.is_revoked

    def get_user(self) -> str:
        return self.view.connection_id

    def get_client(self) -> Client | None:
        return query_client(self.view.client_id)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 for every client (SECURITY.md finding 6; RFC 7636 §4.2, RFC 9700 §2.1.1).

    Authlib's ``CodeChallenge(required=True)`` forces PKCE on public clients only, and accepts
    ``plain``; here a request without an S256 challenge, or a token request without a verifier,
    is ``invalid_request`` whoever the client is.
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        request = grant.request
        code: AuthorizationCode = request.authorization_code
        if not code.code_challenge:
            # RFC 9700 §4.8: a verifier without a challenge is a downgrade attempt.
            raise InvalidRequestError("This code was issued without a PKCE challenge.")
        if not request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        try:
            super().validate_code_verifier(grant, result)
        except InvalidGrantError:
            # A wrong verifier may be an attacker holding a stolen code: burn it.
            service.burn_code(code.view.id)
            raise


def _scope_refused(refused: tuple[dict[str, str], ...]) -> list[dict[str, str]]:
    return [{"scope": r["scope"], "reason": r["reason"]} for r in refused]


def token_response(token: dict[str, Any], view: service.TokenView) -> dict[str, Any]:
    """Add our fields to Authlib's token dict (VENDOR-API §3, the /oauth/token row)."""
    summary = service.connection_summary(view.connection_id)
    body = {
        **token,
        "token_type": "bearer",
        "scope": view.scope,
        "expires_in": view.expires_in,
        "connection_id": view.connection_id,
        "sub": view.connection_id,
        "account_id": view.connection_id,
        "linking_profile": {
            "provider_name": "exchange",
            "profile_id": view.connection_id,
            "profile_name": summary.get("domain", ""),
        },
    }
    if view.scope_refused:
        body["scope_refused"] = _scope_refused(view.scope_refused)
    return body


class ExchangeCodeGrant(grants.AuthorizationCodeGrant):
    """The authorization code grant; codes are issued by the wizard's page 4."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self) -> None:
        # Authlib silently empties an unknown scope (finding 7); RFC 6749 §4.1.2.1 says refuse.
        try:
            access.parse_scope(self.request.payload.scope or "")
        except access.UnknownScope as e:
            raise InvalidScopeError(f"Unknown scope: {' '.join(e.scopes)}") from e

    def save_authorization_code(self, code: str, request: Any) -> None:
        # Codes are created by oauth_finish_authorized once the admin authorizes.
        raise NotImplementedError

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        view = service.find_code(code, client.get_client_id())
        return AuthorizationCode(view) if view else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Redemption marks the code used inside redeem_code's transaction instead.
        return None

    def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.view.connection_id

    def create_token_response(self):  # type: ignore[no-untyped-def]
        """Redeem the code and issue the first pair in one transaction (finding 7)."""
        code: AuthorizationCode = self.request.authorization_code
        self.request.user = code.view.connection_id
        token = self.generate_token(
            user=code.view.connection_id, scope=code.view.scope, include_refresh_token=(
                self.request.client.check_grant_type("refresh_token")
            ),
        )
        try:
            view = service.redeem_code(code.view, _new_tokens(token))
        except service.CodeAlreadyUsed as e:
            raise InvalidGrantError("The authorization code was already used.") from e
        return 200, token_response(token, view), self.TOKEN_RESPONSE_HEADER


class RotatingRefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh with rotation and reuse detection (finding 7; RFC 9700 §4.14.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        check = service.check_refresh_token(refresh_token)
        if check is None:
            return None
        token = Token(check.token)
        token.check = check  # type: ignore[attr-defined]
        return token

    def authenticate_user(self, refresh_token: Token) -> str:
        return refresh_token.view.connection_id

    def revoke_old_credential(self, refresh_token: Token) -> None:
        return None  # done atomically by rotate_refresh_token

    def create_token_response(self):  # type: ignore[no-untyped-def]
        old: Token = self.request.refresh_token
        self.request.user = old.view.connection_id
        scope = " ".join(scope_to_list(self.request.payload.scope or "")) or old.get_scope()
        token = self.generate_token(
            user=old.view.connection_id, scope=scope, include_refresh_token=True
        )
        try:
            view = service.rotate_refresh_token(old.check, scope, _new_tokens(token))  # type: ignore[attr-defined]
        except service.RefreshTokenRejected as e:
            raise InvalidGrantError("The refresh token was already used.") from e
        return 200, token_response(token, view), self.TOKEN_RESPONSE_HEADER


def _new_tokens(token: dict[str, Any]) -> service.NewTokens:
    return service.NewTokens(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        expires_in=int(token["expires_in"]),
    )


class TokenRevocation(RevocationEndpoint):
    """RFC 7009 revocation; a refresh token takes its whole family with it (§2.1)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        view = service.find_token(token_string, token_type_hint)
        if view is None:
            return None
        token = Token(view)
        token.refresh = service.is_refresh_token(view, token_string)  # type: ignore[attr-defined]
        return token

    def revoke_token(self, token: Token, request: Any) -> None:
        service.revoke(token.view, refresh=token.refresh)  # type: ignore[attr-defined]


def generate_bearer_token(grant_type: str, client: Client, user: Any = None,
                          scope: str | None = None, expires_in: int | None = None,
                          include_refresh_token: bool = True) -> dict[str, Any]:
    """Mint a token pair; values are random 256-bit strings, stored only as hashes."""
    token: dict[str, Any] = {
        "token_type": "bearer",
        "access_token": generate_token(43),
        "expires_in": expires_in or int(service.ACCESS_TOKEN_LIFETIME.total_seconds()),
    }
    if include_refresh_token:
        token["refresh_token"] = generate_token(48)
    if scope:
        token["scope"] = scope
    return token


def _save_token(token: dict[str, Any], request: Any) -> None:
    # Our grants store tokens inside their own transaction (create_token_response).
    raise NotImplementedError


class ExchangeBearerTokenValidator(BearerTokenValidator):
    """Validates API bearer tokens: known, unexpired, unrevoked, connection still active."""

    def authenticate_token(self, token_string: str) -> Token | None:
        view = service.find_access_token(token_string)
        return Token(view) if view else None


#: The authorization server (bound to the app in :func:`init_server`).
authorization = AuthorizationServer(query_client=query_client, save_token=_save_token)
authorization.register_grant(ExchangeCodeGrant, [S256CodeChallenge(required=True)])
authorization.register_grant(RotatingRefreshTokenGrant)
authorization.register_endpoint(TokenRevocation)

#: ``@require_oauth("read_events")`` protects an API view; ``current_token`` is a :class:`Token`.
require_oauth = ResourceProtector()
require_oauth.register_token_validator(ExchangeBearerTokenValidator())


def init_server(app: Flask) -> None:
    """Bind the authorization server to ``app`` with our token generator."""
    authorization.init_app(app)
    authorization.register_token_generator("default", generate_bearer_token)
    authorization.scopes_supported = list(access.ALL_SCOPES)

    @app.errorhandler(_HTTPException)
    def _oauth_http_error(e: _HTTPException) -> Response:
        # Authlib's resource errors carry their RFC 6750 body and WWW-Authenticate header;
        # the app-wide HTTPException page handler would drop both.
        return Response(e.body, status=e.code, headers=e.headers)
