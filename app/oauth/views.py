"""Boundary A's endpoints: the connect link, token, revocation, metadata and the vendor page.

The consent step is the wizard: ``/oauth/authorize`` validates the vendor's request with
Authlib's validators and opens the wizard; page 4 calls :func:`finish_authorized` or
:func:`finish_cancelled`, which redirect back to the vendor.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Response, current_app, jsonify, redirect, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.errors import error_page
from app.exchange import access
from app.extensions import csrf, limiter
from app.oauth import bp
from app.oauth.server import authorization, query_client
from app.services import authorization as service
from app.services import clients
from app.services.onboarding import AttemptView, AuthorizeResult, VendorRequest
from app.wizard.views import begin_for_vendor

log = logging.getLogger(__name__)

#: A signed vendor-page link stays valid this long (and until the secret rotates).
VENDOR_LINK_MAX_AGE = 30 * 24 * 3600
MAX_STATE_LENGTH = 1024


def issuer() -> str:
    """The issuer identifier (RFC 8414 §2, RFC 9207): the public base URL."""
    return str(current_app.config["PUBLIC_URL"]).rstrip("/")


def _redirect_to_vendor(redirect_uri: str, params: list[tuple[str, str]],
                        status: int = 302) -> Response:
    # RFC 9207: every authorization response, errors included, names the issuer.
    location = add_params_to_uri(redirect_uri, [*params, ("iss", issuer())])
    return redirect(location, status)


def _error_params(error: OAuth2Error) -> list[tuple[str, str]]:
    return [(k, v) for k, v in error.get_body() if v is not None]


@bp.get("/oauth/authorize")
@bp.get("/enterprise_connect/oauth/authorize", endpoint="authorize_enterprise_connect")
def authorize():  # type: ignore[no-untyped-def]
    """The connect link: validate the vendor's request, then open the wizard for it."""
    try:
        grant = authorization.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if error.redirect_uri:
            # RFC 6749 §4.1.2.1: the client and redirect_uri were validated; tell the vendor.
            return _redirect_to_vendor(error.redirect_uri, _error_params(error))
        # A bad client_id or redirect_uri: never redirect (RFC 6749 §4.1.2.1, §10.15).
        return error_page(400, _describe(error))
    payload = grant.request.payload
    state = payload.state
    if state and len(state) > MAX_STATE_LENGTH:
        return _redirect_to_vendor(
            grant.redirect_uri,
            [("error", "invalid_request"), ("error_description", "'state' is too long.")],
        )
    client = grant.request.client
    login_hint = (payload.data.get("login_hint") or "").strip()
    provider = payload.data.get("provider_name")
    vendor = VendorRequest(
        client_id=client.client_id,
        client_name=client.name,
        redirect_uri=grant.redirect_uri,
        scope=tuple(grant.request.scope.split()),
        state=state,
        code_challenge=payload.data.get("code_challenge"),
        code_challenge_method=payload.data.get("code_challenge_method"),
        logo_url=client.logo_url,
        login_hint=login_hint if "@" in login_hint and len(login_hint) <= 254 else None,
        provider_name=provider if provider in ("exchange", "exchange_online") else None,
    )
    return begin_for_vendor(vendor)


def _describe(error: OAuth2Error) -> str:
    if error.error == "invalid_client":
        return "This connect link names an application that is not registered here."
    if error.error == "invalid_request" and "redirect" in (error.description or "").lower():
        return (
            "This connect link's redirect_uri is missing or is not one the application "
            "registered, so we will not send you there."
        )
    return "This connect link is not valid. Ask the application's vendor for a new one."


def finish_authorized(result: AuthorizeResult) -> Response:
    """After page 4's Authorize: issue the code and send the admin back to the vendor."""
    vendor = result.attempt.vendor
    assert vendor is not None
    client = query_client(vendor.client_id)
    if client is None or not client.check_redirect_uri(vendor.redirect_uri):
        # The client was deleted or changed its URIs while the admin was in the wizard.
        service.discard_connection(result.connection_id)
        return error_page(400, "The application that asked for this connection is no longer "
                               "registered, so nothing was sent to it.")  # type: ignore[return-value]
    state = [("state", vendor.state)] if vendor.state else []
    try:
        issued = service.issue_code(
            client_id=vendor.client_id,
            connection_id=result.connection_id,
            redirect_uri=vendor.redirect_uri,
            requested=vendor.scope,
            code_challenge=vendor.code_challenge,
            code_challenge_method=vendor.code_challenge_method,
            code=generate_token(48),
        )
    except service.UnableToGrantScope as e:
        service.discard_connection(result.connection_id)
        refused = " ".join(r.scope for r in e.grant.refused)
        return _redirect_to_vendor(
            vendor.redirect_uri,
            [
                ("error", "access_denied"),
                ("error_description",
                 f"unable_to_grant_scope: the administrator's access level cannot serve "
                 f"{refused}"),
                ("error_key", "unable_to_grant_scope"),
                *state,
            ],
            303,
        )
    return _redirect_to_vendor(vendor.redirect_uri, [("code", issued.code), *state], 303)


def finish_cancelled(attempt: AttemptView) -> Response:
    """After page 4's Cancel: RFC 6749 §4.1.2.1 ``access_denied`` to the vendor."""
    vendor = attempt.vendor
    assert vendor is not None
    if query_client(vendor.client_id) is None:
        return error_page(400, "You cancelled. Nothing was connected.")  # type: ignore[return-value]
    error = AccessDeniedError("The administrator cancelled the connection.",
                              state=vendor.state)
    return _redirect_to_vendor(vendor.redirect_uri, _error_params(error), 303)


# -- token endpoint --------------------------------------------------------------------------


def _client_key() -> str:
    """Rate-limit failed client authentication per address and claimed client_id."""
    client_id = request.form.get("client_id", "")
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id = base64.b64decode(header[6:]).decode("utf-8", "replace").split(":")[0]
        except (binascii.Error, ValueError):
            client_id = "?"
    return f"oauth-client-auth:{request.remote_addr}:{client_id[:64]}"


def _client_auth_failed(response: Response) -> bool:
    if response.status_code not in (400, 401):
        return False
    body = response.get_json(silent=True) or {}
    return body.get("error") == "invalid_client"


def _failure_limit() -> str:
    return str(current_app.config.get("OAUTH_CLIENT_AUTH_FAILURE_LIMIT", "10 per 10 minutes"))


@bp.post("/oauth/token")
@limiter.limit(_failure_limit, key_func=_client_key, deduct_when=_client_auth_failed)
def token():  # type: ignore[no-untyped-def]
    """RFC 6749 §3.2: authorization_code (with PKCE) and refresh_token grants."""
    return authorization.create_token_response()


@bp.post("/oauth/revoke")
@bp.post("/oauth/token/revoke", endpoint="revoke_cronofy")
@limiter.limit(_failure_limit, key_func=_client_key, deduct_when=_client_auth_failed)
def revoke():  # type: ignore[no-untyped-def]
    """RFC 7009 token revocation (``/oauth/token/revoke`` is Cronofy's path)."""
    return authorization.create_endpoint_response("revocation")


csrf.exempt(token)
csrf.exempt(revoke)


@bp.get("/.well-known/oauth-authorization-server")
def metadata():  # type: ignore[no-untyped-def]
    """RFC 8414 authorization server metadata."""
    base = issuer()
    methods = ["client_secret_basic", "client_secret_post", "none"]
    return jsonify(
        issuer=base,
        authorization_endpoint=f"{base}/oauth/authorize",
        token_endpoint=f"{base}/oauth/token",
        revocation_endpoint=f"{base}/oauth/revoke",
        scopes_supported=list(access.SCOPES),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        token_endpoint_auth_methods_supported=methods,
        revocation_endpoint_auth_methods_supported=methods,
        code_challenge_methods_supported=["S256"],
        authorization_response_iss_parameter_supported=True,
    )


# -- vendor page -----------------------------------------------------------------------------


def _vendor_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="vendor-page")


def vendor_page_token(client: clients.ClientInfo) -> str:
    """Sign a vendor-page link; it stops working when the client's secret rotates."""
    return str(_vendor_serializer().dumps({"c": client.client_id, "f": client.secret_fingerprint}))


def _vendor_allowed(client: clients.ClientInfo) -> bool:
    sig = request.args.get("sig", "")
    if sig:
        try:
            data = _vendor_serializer().loads(sig, max_age=VENDOR_LINK_MAX_AGE)
        except BadSignature:
            return False
        return data == {"c": client.client_id, "f": client.secret_fingerprint}
    auth = request.authorization
    return bool(
        auth and auth.type == "basic" and auth.username == client.client_id
        and clients.check_client_secret(client.client_id, auth.password or "")
    )


def _check_link(path: str) -> tuple[bool, str]:
    """Run the connect link through the same validation as ``/oauth/authorize``."""
    with current_app.test_request_context(path):
        try:
            authorization.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            where = "redirected to you" if error.redirect_uri else "shown as an error page"
            return False, f"{error.error}: {error.description or ''} ({where})"
    return True, "The link is valid: it opens the setup wizard with your name shown."


@bp.get("/oauth/vendor/<client_id>")
def vendor_page(client_id: str):  # type: ignore[no-untyped-def]
    """Build and check the connect link, and copy the button snippet (for the vendor)."""
    client = clients.find_client(client_id)
    if client is None or not _vendor_allowed(client):
        response = Response(
            render_template("errors/error.html", status=401, title="Sign in as the application",
                            message="Open the signed link printed by `flask clients show`, or "
                                    "sign in with the client id and secret."),
            401,
        )
        response.headers["WWW-Authenticate"] = 'Basic realm="Exchange Connect vendor page"'
        return response
    redirect_uri = request.args.get("redirect_uri") or client.redirect_uris[0]
    chosen = request.args.getlist("scope") or list(client.scope)
    state = request.args.get("state") or secrets.token_urlsafe(12)
    login_hint = request.args.get("login_hint", "")
    verifier = generate_token(64)
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(chosen),
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    path = "/oauth/authorize?" + urlencode(params)
    valid, verdict = _check_link(path)
    template_params = {**params, "state": "{STATE}", "code_challenge": "{CODE_CHALLENGE}"}
    template_params.pop("login_hint", None)
    return render_template(
        "oauth/vendor_page.html",
        client=client,
        scopes=access.SCOPES,
        chosen=chosen,
        redirect_uri=redirect_uri,
        state=state,
        login_hint=login_hint,
        link=issuer() + path,
        link_template=issuer() + "/oauth/authorize?" + urlencode(template_params, safe="{}"),
        verifier=verifier,
        valid=valid,
        verdict=verdict,
        token_url=issuer() + "/oauth/token",
        sig=request.args.get("sig", ""),
    )
