"""Refresh rotation and reuse detection, revocation, bearer validation, metadata, and the
boundary-B ceiling on scopes.

RFC 6749 §6, RFC 9700 §4.14, RFC 7009, RFC 6750 §3.1, RFC 8414; SECURITY.md rows 10, 11, 13, 14
and 43.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from authlib.integrations.flask_oauth2 import current_token
from authlib.oauth2 import rfc8414, rfc9207
from flask import Flask, jsonify
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.exchange import access
from app.models import utcnow
from app.oauth.server import require_oauth
from app.services import authorization as service
from tests.integration.oauth.flow import ISSUER, Vendor, get_tokens, refresh, register

EVENT_SCOPES = {"read_events", "create_event", "delete_event", "list_calendars"}


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    """A stand-in protected endpoint (the real API is another package's work)."""

    @app.get("/test-protected")
    @require_oauth("read_account")
    def protected():  # type: ignore[no-untyped-def]
        return jsonify(connection_id=current_token.connection_id)

    return app.test_client()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_rotates_the_refresh_token(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 9700 §4.14.2: every refresh returns a new refresh token; the old one is spent."""
    rt1 = get_tokens(app, client, vendor)

    response = refresh(client, vendor, rt1["refresh_token"])

    rt2 = response.get_json()
    assert response.status_code == 200, rt2
    assert rt2["refresh_token"] != rt1["refresh_token"]
    assert rt2["access_token"] != rt1["access_token"]
    assert rt2["connection_id"] == rt1["connection_id"]
    assert rt2["scope"] == rt1["scope"]
    assert 0 < rt2["expires_in"] <= 900


def test_reused_refresh_token_revokes_the_whole_family(
    app: Flask, client: FlaskClient, vendor: Vendor, api: FlaskClient
) -> None:
    """Row 10: RT1→RT2→RT3, then RT1 again: invalid_grant, and RT2, RT3 and their access
    tokens are revoked."""
    rt1 = get_tokens(app, client, vendor)
    rt2 = refresh(client, vendor, rt1["refresh_token"]).get_json()
    rt3 = refresh(client, vendor, rt2["refresh_token"]).get_json()

    with time_machine.travel(utcnow() + timedelta(seconds=60)):  # beyond the grace window
        reuse = refresh(client, vendor, rt1["refresh_token"])

    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert refresh(client, vendor, rt3["refresh_token"]).get_json()["error"] == "invalid_grant"
    for pair in (rt1, rt2, rt3):
        assert api.get("/test-protected", headers=_bearer(pair["access_token"])).status_code == 401


def test_lost_refresh_response_may_be_retried_within_the_grace_window(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 11: RT1→RT2 is lost; RT1 again within the window gets a new pair and RT2 dies."""
    rt1 = get_tokens(app, client, vendor)
    lost = refresh(client, vendor, rt1["refresh_token"]).get_json()

    retry = refresh(client, vendor, rt1["refresh_token"])

    assert retry.status_code == 200, retry.get_json()
    assert refresh(client, vendor, lost["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert refresh(client, vendor, retry.get_json()["refresh_token"]).status_code == 200


def test_refresh_retry_outside_the_grace_window_is_treated_as_theft(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 11, second half: outside the window the row 10 behaviour applies."""
    rt1 = get_tokens(app, client, vendor)
    rt2 = refresh(client, vendor, rt1["refresh_token"]).get_json()

    with time_machine.travel(utcnow() + service.REFRESH_GRACE + timedelta(seconds=1)):
        retry = refresh(client, vendor, rt1["refresh_token"])
        after = refresh(client, vendor, rt2["refresh_token"])

    assert retry.get_json()["error"] == "invalid_grant"
    assert after.get_json()["error"] == "invalid_grant"


def test_refresh_token_of_another_client_is_invalid_grant(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §6: the refresh token is bound to the client it was issued to."""
    tokens = get_tokens(app, client, vendor)

    response = refresh(client, register(), tokens["refresh_token"])

    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_the_scope(app: Flask, client: FlaskClient, vendor: Vendor) -> None:
    """RFC 6749 §6: a refresh may narrow the scope, never widen it (``invalid_scope``)."""
    tokens = get_tokens(app, client, vendor, scope="read_account read_free_busy")

    wider = refresh(client, vendor, tokens["refresh_token"], scope="read_account create_event")
    narrower = refresh(client, vendor, tokens["refresh_token"], scope="read_free_busy")

    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "read_free_busy"


def test_free_busy_connection_never_obtains_an_event_scope(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """DESIGN.md: whatever the vendor asks at boundary A, it never gets more than B allows."""
    tokens = get_tokens(app, client, vendor, level="free_busy",
                        scope=" ".join(access.SCOPES))

    assert set(tokens["scope"].split()) == {"read_account", "read_free_busy"}
    assert {r["scope"] for r in tokens["scope_refused"]} == {
        "list_calendars", "read_events", "create_event", "delete_event", "list_resources"
    }
    assert {r["reason"] for r in tokens["scope_refused"]} == {"access_level_free_busy"}
    widened = refresh(client, vendor, tokens["refresh_token"], scope="read_events")
    assert widened.get_json()["error"] == "invalid_scope"
    rotated = refresh(client, vendor, tokens["refresh_token"]).get_json()
    assert not set(rotated["scope"].split()) & EVENT_SCOPES


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.sampled_from(access.SCOPES + tuple(access.ALIASES)), min_size=1))
def test_no_code_for_a_free_busy_connection_carries_an_event_scope(
    app: Flask, requested: set[str]
) -> None:
    """Property: for any request, a free-busy connection's code grants no event scope."""
    from app.database import db
    from app.models import Connection

    vendor = register()
    connection = Connection(client_id=vendor.client_id, domain="contoso.example",
                            deployment="onprem", service_account="svc@contoso.example",
                            secret_enc=b"x", access_level="free_busy", coverage_mode="all")
    db.session.add(connection)
    db.session.commit()

    try:
        issued = service.issue_code(vendor.client_id, connection.id, vendor.redirect_uri,
                                    sorted(requested), "c" * 43, "S256", "code-" + connection.id)
    except service.UnableToGrantScope:
        return

    assert set(issued.granted) <= {"read_account", "read_free_busy"}
    assert not set(issued.granted) & EVENT_SCOPES


def test_revoking_a_refresh_token_ends_its_access_tokens(
    app: Flask, client: FlaskClient, vendor: Vendor, api: FlaskClient
) -> None:
    """Row 13: RFC 7009 §2.1: revoking a refresh token also ends the access tokens of the
    same grant; the API rejects them."""
    tokens = get_tokens(app, client, vendor)
    assert api.get("/test-protected", headers=_bearer(tokens["access_token"])).status_code == 200

    response = client.post("/oauth/revoke", data={"token": tokens["refresh_token"],
                                                  "token_type_hint": "refresh_token"},
                           headers=vendor.basic())

    assert response.status_code == 200
    assert api.get("/test-protected", headers=_bearer(tokens["access_token"])).status_code == 401
    assert refresh(client, vendor, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_revoking_an_access_token_through_the_cronofy_path(
    app: Flask, client: FlaskClient, vendor: Vendor, api: FlaskClient
) -> None:
    """RFC 7009 at Cronofy's ``/oauth/token/revoke`` (client_secret_post)."""
    tokens = get_tokens(app, client, vendor)

    response = client.post("/oauth/token/revoke", data={
        "token": tokens["access_token"], "client_id": vendor.client_id,
        "client_secret": vendor.client_secret,
    })

    assert response.status_code == 200
    assert api.get("/test-protected", headers=_bearer(tokens["access_token"])).status_code == 401


def test_revoking_an_unknown_token_answers_200(client: FlaskClient, vendor: Vendor) -> None:
    """Row 13: RFC 7009 §2.2: invalid tokens do not cause an error response."""
    response = client.post("/oauth/revoke", data={"token": "never-issued"},
                           headers=vendor.basic())

    assert response.status_code == 200


def test_revoking_another_clients_token_is_refused_and_revokes_nothing(
    app: Flask, client: FlaskClient, vendor: Vendor, api: FlaskClient
) -> None:
    """Row 13: a client cannot revoke a token issued to someone else."""
    tokens = get_tokens(app, client, vendor)
    other = register()

    response = client.post("/oauth/revoke", data={"token": tokens["access_token"]},
                           headers=other.basic())

    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert api.get("/test-protected", headers=_bearer(tokens["access_token"])).status_code == 200


def test_revocation_requires_client_authentication(client: FlaskClient, vendor: Vendor) -> None:
    """RFC 7009 §2.1: 401 ``invalid_client`` for a wrong secret."""
    response = client.post("/oauth/revoke", data={"token": "x"}, headers=vendor.basic("bad"))

    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_expired_access_token_is_invalid_token_with_www_authenticate(
    app: Flask, client: FlaskClient, vendor: Vendor, api: FlaskClient
) -> None:
    """Row 43: RFC 6750 §3.1: past expires_in the API answers 401 ``invalid_token``."""
    tokens = get_tokens(app, client, vendor)
    assert api.get("/test-protected", headers=_bearer(tokens["access_token"])).status_code == 200

    with time_machine.travel(utcnow() + timedelta(seconds=tokens["expires_in"] + 1)):
        response = api.get("/test-protected", headers=_bearer(tokens["access_token"]))

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_metadata_document_is_valid_rfc8414(client: FlaskClient) -> None:
    """Row 14: RFC 8414 §2, validated by Authlib; S256 only, no implicit grant."""
    response = client.get("/.well-known/oauth-authorization-server")

    metadata = response.get_json()
    rfc8414.AuthorizationServerMetadata(metadata).validate(
        metadata_classes=[rfc9207.AuthorizationServerMetadata]
    )
    assert metadata["issuer"] == ISSUER
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert "implicit" not in metadata["grant_types_supported"]
    assert "token" not in metadata["response_types_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["scopes_supported"]) == set(access.SCOPES)
