"""Helpers for the OAuth tests: registered clients, PKCE, and a connect flow that reaches
page 4 without Exchange (pages 1–3 are covered by the wizard and browser tests)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask
from flask.testing import FlaskClient

from app.crypto import SecretBox
from app.database import db
from app.models import Attempt
from app.services import clients
from tests.helpers import csrf_token, random_ref

ISSUER = "https://connect.example"
ALL_SCOPES = "read_account list_calendars read_events create_event delete_event read_free_busy"


@dataclass
class Vendor:
    """A registered client as its vendor knows it."""

    client_id: str
    client_secret: str | None
    redirect_uri: str

    def basic(self, secret: str | None = None) -> dict[str, str]:
        raw = f"{self.client_id}:{secret if secret is not None else self.client_secret}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

    def auth(self) -> dict[str, Any]:
        """Keyword arguments for a token-endpoint POST authenticating this client."""
        if self.client_secret is None:
            return {"headers": {}, "extra": {"client_id": self.client_id}}
        return {"headers": self.basic(), "extra": {}}


@dataclass
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = generate_token(64)
    return Pkce(verifier, create_s256_code_challenge(verifier))


@pytest.fixture(autouse=True)
def _issuer(app: Flask) -> None:
    app.config["PUBLIC_URL"] = ISSUER


def register(public: bool = False, scope: list[str] | None = None,
             grant_types: tuple[str, ...] | None = None) -> Vendor:
    uri = f"https://{random_ref('vendor')}.example/cb"
    registered = clients.register_client(
        random_ref("Vendor"), [uri], public=public, scope=scope, grant_types=grant_types
    )
    return Vendor(registered.client.client_id, registered.client_secret, uri)


@pytest.fixture
def vendor(app: Flask) -> Vendor:
    """A confidential client allowed every scope."""
    return register()


@pytest.fixture
def public_vendor(app: Flask) -> Vendor:
    return register(public=True)


def authorize_path(vendor: Vendor, pkce: Pkce | None = None, *, scope: str = ALL_SCOPES,
                   state: str = "st-123", **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": vendor.client_id,
        "redirect_uri": vendor.redirect_uri,
        "scope": scope,
        "state": state,
    }
    if pkce is not None:
        params |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    params |= extra
    return "/oauth/authorize?" + urlencode(params)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def start_wizard(client: FlaskClient, path: str) -> str:
    """Open the connect link and return the attempt id of the wizard it started."""
    response = client.get(path)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.search(r"/connect/([^/]+)/account", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def complete_pages_1_to_3(app: Flask, attempt_id: str, level: str = "full") -> None:
    """Record pages 1–3 as done, as the wizard would after a passing test (no Exchange)."""
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt is not None
    box: SecretBox = app.extensions["secret_box"]
    attempt.deployment = "onprem"
    attempt.service_account = "svc-full@contoso.example"
    attempt.secret_enc = box.encrypt("Sandbox-Pass-1")
    attempt.ews_url = "http://127.0.0.1:5001/EWS/Exchange.asmx"
    attempt.access_level = level
    attempt.coverage_mode = "all"
    attempt.test_mailbox = "alice@contoso.example"
    attempt.test_passed = True
    attempt.tested_at = datetime.now(UTC)
    attempt.step_reached = 4
    db.session.commit()


def submit_page_4(client: FlaskClient, attempt_id: str, action: str = "authorize",
                  **kwargs: Any):  # type: ignore[no-untyped-def]
    page = client.get(f"/connect/{attempt_id}/authorize", **kwargs)
    assert page.status_code == 200, page.status_code
    token = csrf_token(page.get_data(as_text=True))
    return client.post(
        f"/connect/{attempt_id}/authorize", data={"csrf_token": token, "action": action},
        **kwargs,
    )


def connect(app: Flask, client: FlaskClient, vendor: Vendor, pkce: Pkce | None = None, *,
            level: str = "full", scope: str = ALL_SCOPES, state: str = "st-123") -> dict[str, str]:
    """Walk the connect link to page 4's Authorize; return the redirect's query parameters."""
    attempt_id = start_wizard(client, authorize_path(vendor, pkce, scope=scope, state=state))
    complete_pages_1_to_3(app, attempt_id, level)
    response = submit_page_4(client, attempt_id)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith(vendor.redirect_uri + "?")
    return query(location)


def token_request(client: FlaskClient, vendor: Vendor, **data: str):  # type: ignore[no-untyped-def]
    auth = vendor.auth()
    return client.post("/oauth/token", data={**auth["extra"], **data}, headers=auth["headers"])


def redeem(client: FlaskClient, vendor: Vendor, code: str, pkce: Pkce,
           **overrides: str):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": vendor.redirect_uri,
        "code_verifier": pkce.verifier,
    }
    return token_request(client, vendor, **{**data, **overrides})


def get_tokens(app: Flask, client: FlaskClient, vendor: Vendor, *, level: str = "full",
               scope: str = ALL_SCOPES) -> dict[str, Any]:
    """Run the whole flow and return the token response body."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce, level=level, scope=scope)
    response = redeem(client, vendor, params["code"], pkce)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def refresh(client: FlaskClient, vendor: Vendor, refresh_token: str,
            **extra: str):  # type: ignore[no-untyped-def]
    return token_request(client, vendor, grant_type="refresh_token",
                         refresh_token=refresh_token, **extra)
