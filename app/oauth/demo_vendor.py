"""The demo vendor: a tiny "vendor application" inside the app, so a newcomer sees the round trip.

``/demo-vendor/`` shows a Connect Exchange button (the connect link with PKCE);
``/demo-vendor/callback`` receives the code, exchanges it over HTTP at ``/oauth/token`` exactly
as a vendor's server would, and shows the token response. To try a first API call, add it to
:func:`first_api_calls`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint, Flask, current_app, render_template, request, session

from app.exchange import access
from app.services import clients

bp = Blueprint("demo_vendor", __name__, url_prefix="/demo-vendor")

SESSION_KEY = "demo_vendor"
#: Pending connect attempts kept per browser (one per open tab).
MAX_PENDING = 5


def setup_hook(app: Flask) -> Callable[[], str]:
    """Return the ``flask demo-setup`` hook that registers the demo vendor."""

    def register_demo_vendor() -> str:
        client = clients.ensure_demo_client(app.config["SECRET_KEY"], app.config["PUBLIC_URL"])
        base = str(app.config["PUBLIC_URL"]).rstrip("/")
        return (
            f"Demo vendor registered: client_id {client.client_id}, redirect_uri "
            f"{client.redirect_uris[0]}. Open {base}/demo-vendor/ to try the connect link."
        )

    return register_demo_vendor


def _base() -> str:
    return str(current_app.config["PUBLIC_URL"]).rstrip("/")


def _redirect_uri() -> str:
    return f"{_base()}/demo-vendor/callback"


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    """The vendor's page with its Connect Exchange button."""
    client = clients.find_client(clients.DEMO_CLIENT_ID)
    state = secrets.token_urlsafe(16)
    verifier = generate_token(64)
    # The session cookie is signed, not encrypted, so the browser can read this verifier. That
    # is acceptable here only because it is the demo vendor's own PKCE secret and this page
    # plays the vendor's server; a real vendor keeps the verifier server-side.
    pending = dict(session.get(SESSION_KEY, {}))
    pending[state] = verifier
    session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING:])
    link = f"{_base()}/oauth/authorize?" + urlencode({
        "response_type": "code",
        "client_id": clients.DEMO_CLIENT_ID,
        "redirect_uri": _redirect_uri(),
        "scope": " ".join(access.SCOPES),
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    })
    return render_template("vendor/demo.html", client=client, link=link,
                           redirect_uri=_redirect_uri())


def exchange_code(code: str, verifier: str) -> tuple[int, dict[str, Any]]:
    """POST the code to the token endpoint as the vendor's server would (RFC 6749 §4.1.3)."""
    token_url = current_app.config.get("DEMO_VENDOR_TOKEN_URL") or f"{_base()}/oauth/token"
    response = requests.post(
        token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _redirect_uri(),
            "code_verifier": verifier,
        },
        auth=(clients.DEMO_CLIENT_ID, clients.demo_client_secret(current_app.config["SECRET_KEY"])),
        timeout=10,
    )
    try:
        body = response.json()
    except ValueError:
        body = {"error": "not_json", "error_description": response.text[:200]}
    return response.status_code, body


def first_api_calls(token: dict[str, Any]) -> list[dict[str, Any]]:
    """Call the API with the new access token; return ``[{"request": …, "status": …, "body": …}]``.

    Empty for now. A first call looks like::

        r = requests.get(f"{_base()}/v1/account",
                         headers={"Authorization": f"Bearer {token['access_token']}"},
                         timeout=10)
        return [{"request": "GET /v1/account", "status": r.status_code, "body": r.json()}]
    """
    return []


def _mask(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 12:
        return value[:6] + f"... ({len(value)} characters, shown once to the vendor)"
    return value


@bp.get("/callback")
def callback():  # type: ignore[no-untyped-def]
    """The vendor's redirect_uri: exchange the code and show the token response."""
    state = request.args.get("state", "")
    pending = dict(session.get(SESSION_KEY, {}))
    verifier = pending.pop(state, None)
    session[SESSION_KEY] = pending
    context: dict[str, Any] = {"params": dict(request.args), "error": None, "token": None}
    if request.args.get("error"):
        context["error"] = {
            "error": request.args.get("error"),
            "error_description": request.args.get("error_description"),
            "error_key": request.args.get("error_key"),
        }
    elif verifier is None:
        context["error"] = {
            "error": "state_mismatch",
            "error_description": "This callback's state was not issued by this browser's demo "
                                 "page (CSRF protection, RFC 6749 §10.12).",
        }
    elif request.args.get("iss") != _base():
        context["error"] = {
            "error": "issuer_mismatch",
            "error_description": "The iss parameter does not name this server (RFC 9207).",
        }
    else:
        status, body = exchange_code(request.args.get("code", ""), verifier)
        context["status"] = status
        if status == 200:
            context["token"] = body
            context["shown"] = {k: _mask(v) if k.endswith("_token") else v
                                for k, v in body.items()}
            context["api_calls"] = first_api_calls(body)
        else:
            context["error"] = body
    return render_template("vendor/callback.html", **context)
