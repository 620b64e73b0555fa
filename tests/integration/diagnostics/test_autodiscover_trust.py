"""SECURITY.md row 25 as written: Autodiscover answers `RedirectUrl` to another organisation's
host. Nothing at all goes there until the admin trusts that host on page 3; then the test signs
in there and the connection keeps the discovered EWS URL.

Two sandboxes on port 443 of two loopback addresses, one test CA, and the product's resolver
pointed at the sandbox's DNS responder: no patching of exchangelib or of sockets.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.database import db
from app.exchange.connector import Connector, apply_process_settings
from app.exchange.diagnostics import run_checks
from app.models import Connection
from app.sandbox import SandboxServer
from app.sandbox.dns import DNSResponder
from app.sandbox.tls import make_ca_and_cert
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import WizardActions, csrf_token

from .conftest import by_key, request_for

DOMAIN, PROVIDER = "contoso.example", "autodiscover.fabrikam.example"
REDIRECT = f"https://{PROVIDER}/autodiscover/autodiscover.svc"


def _loopback() -> str:
    return f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@pytest.fixture
def hosted(tmp_path: Any) -> Iterator[dict[str, Any]]:
    """contoso.example's Autodiscover redirects to a provider's host serving the same org."""
    files = make_ca_and_cert(tmp_path, [DOMAIN, f"autodiscover.{DOMAIN}", PROVIDER])
    own_ip, provider_ip = _loopback(), _loopback()
    with SandboxServer(host=own_ip, port=443, tls_cert=files.cert, tls_key=files.key,
                       hostname=f"autodiscover.{DOMAIN}") as own, \
            SandboxServer(host=provider_ip, port=443, tls_cert=files.cert, tls_key=files.key,
                          hostname=PROVIDER) as provider, \
            DNSResponder(DOMAIN, address=own_ip,
                         hosts={PROVIDER: provider_ip, "fabrikam.example": provider_ip}) as dns:
        own.autodiscover_redirect("url", REDIRECT)
        config = {"allow_hosts": (DOMAIN, f"autodiscover.{DOMAIN}", PROVIDER),
                  "dns_nameservers": (dns.host,), "dns_port": dns.port,
                  "ca_bundle": str(files.ca_cert)}
        connector = Connector(request_timeout=3.0, check_timeout=5.0, total_budget=12.0,
                              **config)  # type: ignore[arg-type]
        apply_process_settings(connector)
        try:
            yield {"own": own, "provider": provider, "connector": connector, "dns": dns,
                   "ca": str(files.ca_cert)}
        finally:
            apply_process_settings(Connector())


def test_a_redirect_to_another_domain_sends_nothing_there_and_asks_the_admin(
        hosted: dict[str, Any]) -> None:
    own, provider = hosted["own"], hosted["provider"]

    report = run_checks(request_for(own, "svc-full", "full", ews_url=None,
                                    use_autodiscover=True), hosted["connector"])

    endpoint = by_key(report)["endpoint"]
    assert endpoint.status == "fail"
    assert endpoint.code == "autodiscover_redirect_unconfirmed"
    assert PROVIDER in endpoint.explanation
    assert report.confirm_hosts == (PROVIDER,)
    assert any(e.response_code == "RedirectUrl" for e in own.requests)
    assert provider.requests == []  # no Authorization header, indeed no request at all
    assert own.count("ConvertId") == 0


def test_an_address_redirect_to_another_domain_lists_every_host_it_would_try(
        hosted: dict[str, Any]) -> None:
    """RedirectAddress restarts discovery in the other domain: its step-1 and step-2 hosts are
    both outside the admin's domain, so the admin is asked about both at once."""
    own, provider = hosted["own"], hosted["provider"]
    own.autodiscover_redirect("address", "svc-full@fabrikam.example")

    report = run_checks(request_for(own, "svc-full", "full", ews_url=None,
                                    use_autodiscover=True), hosted["connector"])

    assert by_key(report)["endpoint"].code == "autodiscover_redirect_unconfirmed"
    assert report.confirm_hosts == ("fabrikam.example", PROVIDER)
    assert provider.requests == []


def test_once_the_admin_trusts_the_host_the_test_signs_in_there(
        hosted: dict[str, Any]) -> None:
    own, provider = hosted["own"], hosted["provider"]

    report = run_checks(request_for(own, "svc-full", "full", ews_url=None,
                                    use_autodiscover=True, confirmed_hosts=(PROVIDER,)),
                        hosted["connector"])

    assert report.passed, [(c.key, c.status, c.explanation) for c in report.checks]
    assert report.ews_url == f"https://{PROVIDER}/EWS/Exchange.asmx"
    assert report.confirm_hosts == ()
    assert provider.count("ConvertId") >= 1
    assert own.count("ConvertId") == 0


@pytest.fixture
def hosted_app(hosted: dict[str, Any], database_url: str) -> Iterator[Flask]:
    dns = hosted["dns"]
    application = create_app({
        "TESTING": True, "SECRET_KEY": "k" * 40, "ENCRYPTION_KEYS": (ENCRYPTION_KEY,),
        "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": "localhost",
        "OUTBOUND_ALLOW_HOSTS": (DOMAIN, f"autodiscover.{DOMAIN}", PROVIDER),
        "DNS_NAMESERVERS": (dns.host,), "DNS_PORT": dns.port, "EWS_CA_BUNDLE": hosted["ca"],
    })
    with application.app_context():
        yield application
    db.session.remove()
    apply_process_settings(hosted["connector"])


def test_page_three_offers_to_trust_the_host_and_the_connection_keeps_it(
        hosted_app: Flask, hosted: dict[str, Any]) -> None:
    client = hosted_app.test_client()
    wizard = WizardActions(client)
    wizard.start()
    wizard.account("", endpoint="autodiscover")
    wizard.access("full")

    page = wizard.test().get_data(as_text=True)

    assert f"Trust {PROVIDER}" in page
    assert hosted["provider"].requests == []

    # A crafted form cannot trust a host the test did not stop at.
    client.post(wizard.url("test/trust-host"),
                data={"csrf_token": csrf_token(page), "hosts": f"{PROVIDER} evil.test"})
    after_crafted = client.get(wizard.url("test")).get_data(as_text=True)
    assert "no Autodiscover host waiting" in after_crafted
    assert f"Trust {PROVIDER}" in after_crafted

    trusted = client.post(wizard.url("test/trust-host"),
                          data={"csrf_token": csrf_token(page), "hosts": PROVIDER},
                          follow_redirects=True).get_data(as_text=True)
    assert f"Autodiscover may now use {PROVIDER}" in trusted
    assert f"Trust {PROVIDER}" not in trusted

    passed = wizard.test().get_data(as_text=True)
    assert "The connection works" in passed
    wizard.authorize()

    from app.services import onboarding

    db.session.expire_all()
    attempt = onboarding.get_attempt(wizard.attempt_id or "")
    connection = db.session.get(Connection, attempt.connection_id)
    assert connection is not None
    assert connection.ews_url == f"https://{PROVIDER}/EWS/Exchange.asmx"
    assert connection.confirmed_hosts == [PROVIDER]


def test_trusting_without_the_csrf_token_changes_nothing(hosted_app: Flask,
                                                       hosted: dict[str, Any]) -> None:
    client = hosted_app.test_client()
    wizard = WizardActions(client)
    wizard.start()
    wizard.account("", endpoint="autodiscover")
    wizard.access("full")
    wizard.test()

    response = client.post(wizard.url("test/trust-host"), data={"hosts": PROVIDER})

    assert response.status_code == 400  # CSRF: refused before the view
    from app.services import onboarding

    assert onboarding.get_attempt(wizard.attempt_id or "").confirmed_hosts == ()
