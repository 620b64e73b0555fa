"""Autodiscover end to end: TLS with a throwaway CA, the loopback DNS responder, SOAP
GetUserSettings, then EWS at the discovered URL."""

from __future__ import annotations

import dns.resolver
import exchangelib.autodiscover
import pytest
from exchangelib import DELEGATE, Account, Configuration, Credentials
from exchangelib.autodiscover import Autodiscovery

from app.sandbox import DEMO_PASSWORD, SandboxServer
from app.sandbox.dns import DNSResponder
from app.sandbox.tls import make_ca_and_cert

from .conftest import route_https

pytestmark = pytest.mark.integration
DOMAIN = "contoso.example"


def test_dns_responder_answers_a_and_srv_records():
    with DNSResponder(DOMAIN) as responder:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [responder.host]
        resolver.port = responder.port
        assert resolver.resolve(f"autodiscover.{DOMAIN}", "A")[0].to_text() == "127.0.0.1"
        srv = resolver.resolve(f"_autodiscover._tcp.{DOMAIN}", "SRV")[0]
        assert srv.port == 443 and srv.target.to_text() == f"autodiscover.{DOMAIN}."


def test_autodiscover_over_tls_finds_the_ews_url_and_the_account_works(tmp_path, monkeypatch):
    files = make_ca_and_cert(tmp_path, [DOMAIN, f"autodiscover.{DOMAIN}", "127.0.0.1"])
    with SandboxServer(tls_cert=files.cert, tls_key=files.key,
                       hostname=f"autodiscover.{DOMAIN}") as server, \
            DNSResponder(DOMAIN) as responder:
        route_https(monkeypatch, {DOMAIN: server.port})
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(files.ca_cert))
        monkeypatch.setattr(Autodiscovery, "DNS_RESOLVER_KWARGS", responder.resolver_kwargs)
        monkeypatch.setattr(Autodiscovery, "DNS_RESOLVER_ATTRS", responder.resolver_attrs)
        exchangelib.autodiscover.clear_cache()
        try:
            creds = Credentials(f"alice@{DOMAIN}", DEMO_PASSWORD)
            account = Account(f"alice@{DOMAIN}", credentials=creds, autodiscover=True,
                              access_type=DELEGATE)
            assert account.protocol.service_endpoint == server.ews_url
            assert account.calendar.name == "Calendar"
            assert server.count("Autodiscover") >= 1
        finally:
            exchangelib.autodiscover.clear_cache()
            exchangelib.protocol.close_connections()
            assert Configuration  # keep the import for readers: product passes a Configuration
