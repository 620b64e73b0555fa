"""``flask clients …``, the vendor page and the demo vendor's registration."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient

from app.crypto import hash_token
from app.database import db
from app.models import OAuthClient
from app.services import clients
from tests.integration.oauth.flow import Vendor, register


def _invoke(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_create_prints_the_secret_once_and_stores_only_its_hash(app: Flask) -> None:
    output = _invoke(app, "clients", "create", "--name", "Acme Rooms", "--redirect-uri",
                     "https://acme.example/cb", "--scope", "read_free_busy read_account")

    client_id = re.search(r"client_id:\s+(\S+)", output).group(1)
    secret = re.search(r"client_secret:\s+(\S+)", output).group(1)
    row = db.session.get(OAuthClient, client_id)
    assert row.client_secret_hash == hash_token(secret)
    assert secret not in repr(vars(row))
    assert row.scope == "read_account read_free_busy"
    shown = _invoke(app, "clients", "show", client_id)
    assert secret not in shown and "vendor page:" in shown
    assert client_id in _invoke(app, "clients", "list")


def test_public_client_has_no_secret(app: Flask) -> None:
    output = _invoke(app, "clients", "create", "--name", "Desk app", "--public",
                     "--redirect-uri", "http://127.0.0.1:8765/cb")

    assert "client_secret" not in output
    assert "public" in output


def test_create_refuses_plain_http_and_fragments(app: Flask) -> None:
    for uri in ("http://acme.example/cb", "https://acme.example/cb#x", "acme.example/cb"):
        result = app.test_cli_runner().invoke(
            args=["clients", "create", "--name", "Bad", "--redirect-uri", uri]
        )
        assert result.exit_code != 0


def test_rotate_secret_retires_the_old_one(app: Flask, vendor: Vendor) -> None:
    output = _invoke(app, "clients", "rotate-secret", vendor.client_id)

    new = re.search(r"client_secret:\s+(\S+)", output).group(1)
    assert clients.check_client_secret(vendor.client_id, new)
    assert not clients.check_client_secret(vendor.client_id, vendor.client_secret)


def test_delete_removes_the_client(app: Flask, vendor: Vendor) -> None:
    _invoke(app, "clients", "delete", vendor.client_id, "--yes")

    assert clients.find_client(vendor.client_id) is None


def test_demo_setup_registers_the_demo_vendor_with_a_derived_secret(app: Flask) -> None:
    output = _invoke(app, "demo-setup")

    row = db.session.get(OAuthClient, clients.DEMO_CLIENT_ID)
    secret = clients.demo_client_secret(app.config["SECRET_KEY"])
    assert "Demo vendor registered" in output
    assert row.client_secret_hash == hash_token(secret)
    assert row.redirect_uris == [f"{app.config['PUBLIC_URL']}/demo-vendor/callback"]
    _invoke(app, "demo-setup")  # idempotent


def _vendor_link(app: Flask, vendor: Vendor) -> str:
    output = _invoke(app, "clients", "show", vendor.client_id)
    url = re.search(r"vendor page:\s+(\S+)", output).group(1)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_vendor_page_needs_the_signed_link_or_the_client_credentials(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    path = f"/oauth/vendor/{vendor.client_id}"

    anonymous = client.get(path)
    forged = client.get(path + "?sig=forged")
    signed = client.get(_vendor_link(app, vendor))
    basic = client.get(path, headers=vendor.basic())

    assert anonymous.status_code == 401 and "Basic" in anonymous.headers["WWW-Authenticate"]
    assert forged.status_code == 401
    assert signed.status_code == 200 and basic.status_code == 200
    assert client.get(path, headers=vendor.basic("wrong")).status_code == 401


def test_signed_vendor_link_stops_working_when_the_secret_rotates(
    app: Flask, client: FlaskClient, vendor: Vendor
) -> None:
    link = _vendor_link(app, vendor)

    clients.rotate_secret(vendor.client_id)

    assert client.get(link).status_code == 401


def test_vendor_page_builds_and_checks_the_connect_link(
    app: Flask, client: FlaskClient
) -> None:
    vendor = register(scope=["read_account", "read_free_busy"])
    path = f"/oauth/vendor/{vendor.client_id}"

    good = client.get(path + "?scope=read_free_busy&state=abc", headers=vendor.basic())
    bad = client.get(path + "?scope=create_event", headers=vendor.basic())

    html = good.get_data(as_text=True)
    assert "The link is valid" in html
    link = re.search(r'href="([^"]+)" id="open-link"', html).group(1).replace("&amp;", "&")
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert params["code_challenge_method"] == "S256" and params["state"] == "abc"
    assert params["redirect_uri"] == vendor.redirect_uri
    assert "ec-connect" in html and "&lt;script" not in html
    assert "invalid_scope" in bad.get_data(as_text=True)
