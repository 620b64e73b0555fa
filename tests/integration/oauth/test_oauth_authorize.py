"""The connect link (/oauth/authorize) and the wizard's page 4 as the consent step.

RFC 6749 §4.1.1–4.1.2.1, RFC 7636, RFC 9207; SECURITY.md rows 1–5, 17, 18 and 20.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.database import db
from app.models import Attempt, OAuthClient
from app.oauth_models import OAuthCode
from tests.helpers import csrf_token
from tests.integration.oauth.flow import (
    ISSUER,
    Vendor,
    authorize_path,
    complete_pages_1_to_3,
    connect,
    new_pkce,
    query,
    register,
    start_wizard,
    submit_page_4,
)


def _codes() -> int:
    return db.session.query(OAuthCode).count()


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/cb",
        "{registered}/../x",
        "{registered}?x=1",
        "{registered}/",
        "{registered}#frag",
        "",
    ],
)
def test_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(
    client: FlaskClient, vendor: Vendor, redirect_uri: str
) -> None:
    """Row 1: RFC 6749 §3.1.2.3 exact match; §4.1.2.1 says never redirect to an invalid URI."""
    uri = redirect_uri.format(registered=vendor.redirect_uri)
    params = {"response_type": "code", "client_id": vendor.client_id, "redirect_uri": uri,
              "scope": "read_account", "state": "s", "code_challenge": new_pkce().challenge,
              "code_challenge_method": "S256"}

    response = client.get("/oauth/authorize?" + urlencode(params))

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)
    assert "redirect_uri" in response.get_data(as_text=True)


@pytest.mark.parametrize("client_id", ["nope", ""])
def test_unknown_or_missing_client_id_shows_an_error_page(
    client: FlaskClient, client_id: str
) -> None:
    """Row 2: RFC 6749 §4.1.2.1: an invalid client_id is never redirected to."""
    response = client.get(
        "/oauth/authorize?" + urlencode({"response_type": "code", "client_id": client_id,
                                          "redirect_uri": "https://evil.example/cb"})
    )

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unsupported_response_type_redirects_to_the_registered_uri(
    client: FlaskClient, vendor: Vendor
) -> None:
    """Row 3: RFC 6749 §4.1.2.1 ``unsupported_response_type``, with state and RFC 9207 iss."""
    path = authorize_path(vendor, new_pkce(), response_type="token", state="xyz")

    response = client.get(path)

    assert response.status_code in (302, 303)
    location = response.headers["Location"]
    assert location.startswith(vendor.redirect_uri + "?")
    assert query(location) == {
        "error": "unsupported_response_type",
        "error_description": query(location)["error_description"],
        "state": "xyz",
        "iss": ISSUER,
    }


def test_scope_beyond_the_client_registration_is_invalid_scope(
    app: Flask, client: FlaskClient
) -> None:
    """Row 4: RFC 6749 §4.1.2.1 ``invalid_scope``; no wizard is started and no code issued."""
    limited = register(scope=["read_free_busy"])
    attempts = db.session.query(Attempt).count()

    response = client.get(authorize_path(limited, new_pkce(), scope="read_events"))

    assert query(response.headers["Location"])["error"] == "invalid_scope"
    assert "code" not in query(response.headers["Location"])
    assert db.session.query(Attempt).count() == attempts


@pytest.mark.parametrize("scope", ["admin", "read_events admin", "calendar.read"])
def test_unknown_scope_is_invalid_scope_not_an_empty_grant(
    client: FlaskClient, vendor: Vendor, scope: str
) -> None:
    """Row 4 / finding 7: Authlib would silently grant nothing; RFC 6749 says invalid_scope."""
    response = client.get(authorize_path(vendor, new_pkce(), scope=scope))

    params = query(response.headers["Location"])
    assert params["error"] == "invalid_scope"
    assert params["state"] == "st-123"
    assert params["iss"] == ISSUER


@pytest.mark.parametrize(
    "pkce_params",
    [
        {},
        {"code_challenge_method": "S256"},
        {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "a" * 43},
        {"code_challenge": "short", "code_challenge_method": "S256"},
    ],
    ids=["none", "method-only", "plain", "no-method", "malformed"],
)
def test_missing_or_plain_pkce_is_invalid_request(
    client: FlaskClient, vendor: Vendor, pkce_params: dict[str, str]
) -> None:
    """Row 5: RFC 7636 §4.4.1: S256 required of every client, confidential ones too."""
    response = client.get(authorize_path(vendor, None, **pkce_params))

    params = query(response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert "code" not in params


def test_client_without_the_code_grant_is_unauthorized_client(client: FlaskClient) -> None:
    """RFC 6749 §4.1.2.1 ``unauthorized_client``."""
    refresh_only = register(grant_types=("refresh_token",))

    response = client.get(authorize_path(refresh_only, new_pkce()))

    assert query(response.headers["Location"])["error"] == "unauthorized_client"


def test_repeated_parameter_is_rejected_without_redirect(
    client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §3.1: request parameters must not be included more than once."""
    path = authorize_path(vendor, new_pkce()) + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"

    response = client.get(path)

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_connect_link_opens_the_wizard_with_the_vendor_and_scopes_shown(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """A valid request starts a wizard that carries the vendor's request to page 4."""
    attempt_id = start_wizard(
        client, authorize_path(vendor, new_pkce(), scope="read_only",
                               login_hint="svc-full@contoso.example")
    )

    page = client.get(f"/connect/{attempt_id}/account").get_data(as_text=True)
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt is not None and attempt.vendor_request is not None
    assert attempt.client_id == vendor.client_id
    assert attempt.vendor_request["scope"] == [
        "read_account", "list_calendars", "read_events", "read_free_busy"
    ]
    assert attempt.service_account == "svc-full@contoso.example"
    name = db.session.get(OAuthClient, vendor.client_id).name
    assert name in page
    complete_pages_1_to_3(app, attempt_id)
    page4 = client.get(f"/connect/{attempt_id}/authorize").get_data(as_text=True)
    assert "read_events" in page4 and name in page4


def test_cronofy_enterprise_connect_alias_opens_the_wizard(
    client: FlaskClient, vendor: Vendor
) -> None:
    """VENDOR-API §3: ``/enterprise_connect/oauth/authorize`` is an alias."""
    path = authorize_path(vendor, new_pkce()).replace(
        "/oauth/authorize", "/enterprise_connect/oauth/authorize"
    )

    assert start_wizard(client, path).startswith("att_")


def test_authorize_on_page_4_redirects_with_code_state_and_iss(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §4.1.2 and RFC 9207 §2: code, state and iss on the redirect."""
    params = connect(app, client, vendor, new_pkce(), state="opaque-Ünïcode-state")

    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == "opaque-Ünïcode-state"
    assert params["iss"] == ISSUER
    assert len(params["code"]) >= 40


def test_cancel_on_page_4_redirects_with_access_denied(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §4.1.2.1 ``access_denied`` when the admin cancels."""
    attempt_id = start_wizard(client, authorize_path(vendor, new_pkce(), state="c1"))
    complete_pages_1_to_3(app, attempt_id)

    response = submit_page_4(client, attempt_id, action="cancel")

    params = query(response.headers["Location"])
    assert response.headers["Location"].startswith(vendor.redirect_uri)
    assert params["error"] == "access_denied"
    assert params["state"] == "c1" and params["iss"] == ISSUER
    assert "code" not in params


def test_level_that_can_serve_nothing_asked_tells_the_vendor_unable_to_grant_scope(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """A free-busy level cannot create events: an error the vendor can act on, no code."""
    attempt_id = start_wizard(client, authorize_path(vendor, new_pkce(), scope="create_event"))
    complete_pages_1_to_3(app, attempt_id, level="free_busy")
    codes = _codes()

    response = submit_page_4(client, attempt_id)

    params = query(response.headers["Location"])
    assert params["error"] == "access_denied"
    assert params["error_key"] == "unable_to_grant_scope"
    assert "unable_to_grant_scope" in params["error_description"]
    assert "code" not in params
    assert _codes() == codes


def test_consent_pages_cannot_be_framed(app: Flask, client: FlaskClient, vendor: Vendor) -> None:
    """Row 17: frame-ancestors 'none' and X-Frame-Options DENY on the connect and consent pages
    (the browser test proves Chromium refuses the frame)."""
    attempt_id = start_wizard(client, authorize_path(vendor, new_pkce()))
    complete_pages_1_to_3(app, attempt_id)

    for path in (f"/connect/{attempt_id}/account", f"/connect/{attempt_id}/authorize",
                 authorize_path(vendor, new_pkce())):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "form-action" not in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("token", ["", "foreign"])
def test_consent_post_without_our_csrf_token_is_refused(
    app: Flask, client: FlaskClient, vendor: Vendor, token: str
) -> None:
    """Row 18: no or a foreign CSRF token → 400, no code, no connection."""
    attempt_id = start_wizard(client, authorize_path(vendor, new_pkce()))
    complete_pages_1_to_3(app, attempt_id)
    if token == "foreign":
        other = app.test_client()
        token = csrf_token(other.get("/connect/").get_data(as_text=True))
    codes = _codes()

    response = client.post(f"/connect/{attempt_id}/authorize",
                           data={"csrf_token": token, "action": "authorize"})

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert _codes() == codes
    attempt = db.session.get(Attempt, attempt_id)
    db.session.refresh(attempt)
    assert attempt.status == "in_progress" and attempt.connection_id is None


def test_https_consent_post_with_same_origin_referer_passes_strict_csrf(
    app: Flask, vendor: Vendor
) -> None:
    """Row 20 / finding 9: WTF_CSRF_SSL_STRICT stays on; our Referrer-Policy keeps the Referer."""
    client = app.test_client()
    base = "https://localhost"
    attempt_id = start_wizard_https(client, authorize_path(vendor, new_pkce()), base)
    complete_pages_1_to_3(app, attempt_id)
    page = client.get(f"/connect/{attempt_id}/authorize", base_url=base)
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert app.config["WTF_CSRF_SSL_STRICT"] is True

    response = client.post(
        f"/connect/{attempt_id}/authorize",
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "action": "authorize"},
        base_url=base,
        headers={"Referer": f"{base}/connect/{attempt_id}/authorize"},
    )

    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert "code" in query(response.headers["Location"])


def start_wizard_https(client: FlaskClient, path: str, base: str) -> str:
    response = client.get(path, base_url=base)
    match = re.search(r"/connect/([^/]+)/account", response.headers["Location"])
    assert match
    return match.group(1)
