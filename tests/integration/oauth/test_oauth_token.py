"""The token endpoint: the authorization_code grant with PKCE, and its RFC 6749 §5.2 errors.

SECURITY.md rows 5–9, 12, 15, 16 and 44.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import OperationalError

from app.database import db
from app.models import utcnow
from app.oauth_models import OAuthCode
from app.services import authorization as service
from tests.integration.oauth.flow import (
    ALL_SCOPES,
    Vendor,
    connect,
    new_pkce,
    redeem,
    register,
    token_request,
)


def test_happy_path_issues_short_lived_bearer_tokens_with_our_fields(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §4.1.3–4.1.4 with RFC 7636 §4.5; row 15: expires_in ≤ 900, not 864000."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    response = redeem(client, vendor, params["code"], pkce)

    body = response.get_json()
    assert response.status_code == 200, body
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"].lower() == "bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["access_token"] and body["refresh_token"]
    assert body["scope"].split() == ALL_SCOPES.split()
    assert body["connection_id"].startswith("con_")
    assert body["sub"] == body["account_id"] == body["connection_id"]
    assert body["linking_profile"]["provider_name"] == "exchange"
    assert "scope_refused" not in body


def test_client_secret_post_is_accepted(app: Flask, client: FlaskClient, vendor: Vendor) -> None:
    """RFC 6749 §2.3.1: credentials in the body (what Cronofy SDKs send)."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    response = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": params["code"],
        "redirect_uri": vendor.redirect_uri, "code_verifier": pkce.verifier,
        "client_id": vendor.client_id, "client_secret": vendor.client_secret,
    })

    assert response.status_code == 200, response.get_json()


def test_public_client_redeems_with_pkce_alone(
    app: Flask, client: FlaskClient, public_vendor: Vendor
) -> None:
    """RFC 7636: a public client authenticates with ``none`` and proves possession with PKCE."""
    pkce = new_pkce()
    params = connect(app, client, public_vendor, pkce)

    response = redeem(client, public_vendor, params["code"], pkce)

    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("kind", ["public", "confidential"])
def test_missing_code_verifier_is_invalid_request_for_every_client(
    app: Flask, client: FlaskClient, kind: str
) -> None:
    """Row 5 / finding 6: Authlib only forces PKCE on public clients; we force it on all."""
    vendor = register(public=kind == "public")
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    response = redeem(client, vendor, params["code"], pkce, code_verifier="")

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_verifier_for_a_code_without_challenge_is_invalid_request(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 5: RFC 9700 §4.8 PKCE downgrade: a verifier where no challenge was sent."""
    params = connect(app, client, vendor, new_pkce())
    db.session.execute(text("UPDATE oauth_codes SET code_challenge = NULL, "
                            "code_challenge_method = NULL"))
    db.session.commit()

    response = redeem(client, vendor, params["code"], new_pkce())

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_wrong_verifier_is_invalid_grant_and_burns_the_code(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 6: RFC 7636 §4.6 ``invalid_grant``; the code stays unusable afterwards (policy)."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    wrong = redeem(client, vendor, params["code"], new_pkce())
    right = redeem(client, vendor, params["code"], pkce)

    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    assert right.status_code == 400 and right.get_json()["error"] == "invalid_grant"


def test_replayed_code_is_refused_and_revokes_its_tokens(
    app: Flask, client: FlaskClient, vendor: Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    """Row 7: RFC 6749 §4.1.2: a second redemption fails and revokes the first one's tokens."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)
    first = redeem(client, vendor, params["code"], pkce).get_json()

    with caplog.at_level(logging.WARNING, logger="app.services.authorization"):
        second = redeem(client, vendor, params["code"], pkce)

    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert service.find_access_token(first["access_token"]).is_revoked
    refreshed = token_request(client, vendor, grant_type="refresh_token",
                              refresh_token=first["refresh_token"])
    assert refreshed.get_json()["error"] == "invalid_grant"
    assert any("presented again" in r.getMessage() for r in caplog.records)
    assert params["code"] not in caplog.text and first["access_token"] not in caplog.text


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs real PostgreSQL")
def test_concurrent_redemptions_let_exactly_one_win(
    app: Flask, client: FlaskClient, vendor: Vendor, database_url: str
) -> None:
    """Row 8: 10 threads redeem one code on PostgreSQL; exactly one gets tokens."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is proven on PostgreSQL; SQLite serialises every writer")
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)
    barrier = threading.Barrier(10)
    results: list[tuple[int, str | None]] = []

    def attempt() -> None:
        own = app.test_client()
        barrier.wait()
        response = redeem(own, vendor, params["code"], pkce)
        results.append((response.status_code, response.get_json().get("error")))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted(results, key=str) == [(200, None)] + [(400, "invalid_grant")] * 9


def test_expired_code_is_invalid_grant(app: Flask, client: FlaskClient, vendor: Vendor) -> None:
    """Row 9: codes live 120 s (RFC 6749 §4.1.2 recommends at most 10 minutes)."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    with time_machine.travel(utcnow() + timedelta(seconds=121)):
        response = redeem(client, vendor, params["code"], pkce)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch_at_the_token_endpoint_is_invalid_grant(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    response = redeem(client, vendor, params["code"], pkce,
                      redirect_uri=vendor.redirect_uri + "/other")

    assert response.get_json()["error"] == "invalid_grant"


def test_code_issued_to_another_client_is_invalid_grant(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §4.1.3: the code is bound to the client it was issued to."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)
    other = register()

    response = redeem(client, other, params["code"], pkce, redirect_uri=vendor.redirect_uri)

    assert response.get_json()["error"] == "invalid_grant"


def test_missing_code_is_invalid_request(client: FlaskClient, vendor: Vendor) -> None:
    """RFC 6749 §5.2 ``invalid_request``."""
    response = token_request(client, vendor, grant_type="authorization_code",
                             redirect_uri=vendor.redirect_uri)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_unknown_grant_type_is_unsupported_grant_type(
    client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §5.2 ``unsupported_grant_type`` (no password or client_credentials grants)."""
    for grant_type in ("password", "client_credentials", "implicit"):
        response = token_request(client, vendor, grant_type=grant_type)
        assert response.get_json()["error"] == "unsupported_grant_type"


def test_refresh_for_a_client_without_refresh_grant_is_unauthorized_client(
    client: FlaskClient,
) -> None:
    """RFC 6749 §5.2 ``unauthorized_client``."""
    no_refresh = register(grant_types=("authorization_code",))

    response = token_request(client, no_refresh, grant_type="refresh_token",
                             refresh_token="whatever")

    assert response.get_json()["error"] == "unauthorized_client"


def test_wrong_secret_is_invalid_client_with_www_authenticate(
    client: FlaskClient, vendor: Vendor
) -> None:
    """Row 12: RFC 6749 §5.2: 401 ``invalid_client`` with WWW-Authenticate for Basic."""
    response = client.post("/oauth/token", data={"grant_type": "authorization_code",
                                                 "code": "x"},
                           headers=vendor.basic("wrong"))

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_confidential_client_may_not_skip_authentication(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """RFC 6749 §3.2.1: a confidential client sending only client_id is ``invalid_client``."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    response = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": params["code"], "client_id": vendor.client_id,
        "redirect_uri": vendor.redirect_uri, "code_verifier": pkce.verifier,
    })

    assert response.get_json()["error"] == "invalid_client"


def test_failed_client_authentication_is_rate_limited(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 12: brute force of a client secret meets 429 after the limit."""
    app.config["OAUTH_CLIENT_AUTH_FAILURE_LIMIT"] = "5 per minute"
    statuses = [
        client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                    headers=vendor.basic(f"guess-{i}")).status_code
        for i in range(7)
    ]

    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]


def test_no_secret_code_or_token_is_stored_in_clear(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 16: dump every table after a full flow and a refresh; only hashes are there."""
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)
    first = redeem(client, vendor, params["code"], pkce).get_json()
    second = token_request(client, vendor, grant_type="refresh_token",
                           refresh_token=first["refresh_token"]).get_json()
    secrets = [vendor.client_secret, params["code"], first["access_token"],
               first["refresh_token"], second["access_token"], second["refresh_token"],
               pkce.verifier]

    dump = []
    for table in inspect(db.engine).get_table_names():
        for row in db.session.execute(text(f'SELECT * FROM "{table}"')):
            dump.append(repr(tuple(row)))
    text_dump = "\n".join(dump)

    for value in secrets:
        assert value and value not in text_dump
    assert service.find_access_token(second["access_token"]) is not None


def test_failed_token_save_returns_no_token_and_keeps_the_code_redeemable(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 44: the database fails at the token insert: 5xx, no token, code still usable."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    pkce = new_pkce()
    params = connect(app, client, vendor, pkce)

    def fail_token_insert(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO OAUTH_TOKENS"):
            raise OperationalError(statement, {}, Exception("database is down"))

    event.listen(db.engine, "before_cursor_execute", fail_token_insert)
    try:
        down = redeem(client, vendor, params["code"], pkce)
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_token_insert)
    db.session.remove()
    recovered = redeem(client, vendor, params["code"], pkce)

    assert down.status_code == 500
    assert "access_token" not in down.get_data(as_text=True)
    assert recovered.status_code == 200, recovered.get_json()


def test_failed_code_save_redirects_no_code(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    """Row 44: the database fails when page 4 stores the code: 5xx and no code leaves."""
    from tests.integration.oauth.flow import (
        authorize_path,
        complete_pages_1_to_3,
        start_wizard,
        submit_page_4,
    )

    app.config["PROPAGATE_EXCEPTIONS"] = False
    attempt_id = start_wizard(client, authorize_path(vendor, new_pkce()))
    complete_pages_1_to_3(app, attempt_id)

    def fail_code_insert(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO OAUTH_CODES"):
            raise OperationalError(statement, {}, Exception("database is down"))

    event.listen(db.engine, "before_cursor_execute", fail_code_insert)
    try:
        response = submit_page_4(client, attempt_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", fail_code_insert)
    db.session.remove()  # a real request ends its session; the test shares this thread's

    assert response.status_code == 500
    assert "Location" not in response.headers
    assert db.session.query(OAuthCode).filter_by(client_id=vendor.client_id).count() == 0
