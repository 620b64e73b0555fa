"""SECURITY.md rows 21, 25, 26, 29, 30, 33, 34, 35, 45, 47 and 53 for the credential test."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app.exchange import outbound
from app.exchange.connector import Connector
from app.exchange.diagnostics import run_checks
from app.sandbox import DEMO_PASSWORD, SandboxServer
from tests.helpers import WizardActions, csrf_token

from .conftest import addr, by_key, protocol_cache_size, request_for

WRONG = "Wrong-Pass-7"


# --- row 21: SSRF to loopback or private -----------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/EWS/Exchange.asmx",
    "https://localhost/EWS/Exchange.asmx",
    "https://2130706433/EWS/Exchange.asmx",
    "https://0x7f.1/EWS/Exchange.asmx",
    "https://[::1]/EWS/Exchange.asmx",
    "https://[::ffff:127.0.0.1]/EWS/Exchange.asmx",
])
def test_loopback_urls_are_refused_before_any_connection(sandbox: SandboxServer, url: str
                                                         ) -> None:
    production = Connector()  # nothing allow-listed, as in production

    report = run_checks(request_for(sandbox, "svc-full", "full", ews_url=url), production)

    endpoint = by_key(report)["endpoint"]
    assert endpoint.status == "fail"
    assert endpoint.code in ("invalid_ews_url", "address_blocked")
    assert sandbox.count() == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433"])
def test_the_guard_blocks_loopback_even_when_url_validation_is_bypassed(
        sandbox: SandboxServer, host: str) -> None:
    url = f"http://{host}:{sandbox.port}/EWS/Exchange.asmx"
    session = requests.Session()
    session.mount("http://", outbound.GuardedAdapter(max_retries=0))

    with outbound.using(outbound.OutboundPolicy()), pytest.raises(outbound.OutboundBlocked):
        session.post(url, data=b"<x/>", timeout=2)

    assert sandbox.count() == 0


def test_a_blocked_address_shows_a_generic_error_on_the_page(client: FlaskClient) -> None:
    wizard = WizardActions(client)
    wizard.start()

    page = wizard.account("https://169.254.169.254/EWS/Exchange.asmx").get_data(as_text=True)

    assert "Traceback" not in page and "169.254.169.254:" not in page


# --- rows 25 and 26: Autodiscover over TLS, foreign redirects, plaintext step --------------


@pytest.fixture
def tls_org(tmp_path: Any) -> Iterator[tuple[SandboxServer, Any, Connector]]:
    """The sandbox over TLS on port 443 of a private loopback address, found through DNS."""
    import random

    from app.sandbox.dns import DNSResponder
    from app.sandbox.tls import make_ca_and_cert

    domain = "contoso.example"
    ip = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    files = make_ca_and_cert(tmp_path, [domain, f"autodiscover.{domain}"])
    with SandboxServer(host=ip, port=443, tls_cert=files.cert, tls_key=files.key,
                       hostname=f"autodiscover.{domain}") as server, \
            DNSResponder(domain, address=ip) as dns:
        connector = Connector(
            allow_hosts=(domain, f"autodiscover.{domain}"), request_timeout=3.0,
            check_timeout=5.0, total_budget=12.0, dns_nameservers=(dns.host,),
            dns_port=dns.port, ca_bundle=str(files.ca_cert))
        from app.exchange.connector import apply_process_settings

        apply_process_settings(connector)
        try:
            yield server, files, connector
        finally:
            apply_process_settings(Connector())


def test_autodiscover_over_tls_finds_the_endpoint_and_names_the_method(tls_org: Any) -> None:
    server, _files, connector = tls_org

    report = run_checks(request_for(server, "svc-full", "full", ews_url=None,
                                    use_autodiscover=True), connector)

    endpoint = by_key(report)["endpoint"]
    assert report.passed, [(c.key, c.status, c.explanation) for c in report.checks]
    assert report.ews_url == "https://autodiscover.contoso.example/EWS/Exchange.asmx"
    assert "Autodiscover" in (report.endpoint_method or "")
    assert "autodiscover.svc" in endpoint.explanation
    assert server.count("Autodiscover") >= 1
    assert protocol_cache_size() == 0


def test_autodiscover_to_a_host_outside_the_domain_is_paused_for_confirmation(
        tls_org: Any, tmp_path: Any) -> None:
    """Row 25: credentials never go to other.test; the check asks the admin to confirm."""
    server, _files, connector = tls_org
    server.app.ews_url = "https://mail.other.test/EWS/Exchange.asmx"

    report = run_checks(request_for(server, "svc-full", "full", ews_url=None,
                                    use_autodiscover=True), connector)

    endpoint = by_key(report)["endpoint"]
    assert endpoint.status == "fail"
    assert endpoint.code == "autodiscover_redirect_unconfirmed"
    assert "mail.other.test" in endpoint.explanation
    assert not any("other.test" in t["url"] for t in endpoint.trace)
    assert server.count("ConvertId") == 0


def test_wrong_certificate_name_is_named_plainly(tls_org: Any) -> None:
    server, _files, connector = tls_org
    from dataclasses import replace

    from app.exchange.connector import apply_process_settings

    # The bare address is not on the certificate; allow-list it so only TLS can object.
    wrong = replace(connector, allow_hosts=(*connector.allow_hosts, server.host))
    apply_process_settings(wrong)
    url = f"https://{server.host}:443/EWS/Exchange.asmx"

    report = run_checks(request_for(server, "svc-full", "full", ews_url=url), wrong)

    endpoint = by_key(report)["endpoint"]
    assert endpoint.code == "tls_name_mismatch"
    assert "certificate name mismatch" in endpoint.explanation


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []
    body = b""
    mode = "redirect"

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self) -> None:
        type(self).seen.append((self.command, self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "https://autodiscover.contoso.example/x")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.end_headers()
            chunk = b"<a>" * 65536
            try:
                for _ in range(1100):  # ~200 MB
                    self.wfile.write(chunk)
            except OSError:
                pass
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)

    do_GET = do_POST = do_HEAD = _reply


@pytest.fixture
def hostile() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


def test_plaintext_autodiscover_step_gets_only_an_unauthenticated_get(hostile: Any) -> None:
    """Row 26: during Autodiscover nothing with credentials ever travels over http."""
    base, handler = hostile
    policy = outbound.OutboundPolicy(allow_hosts=("127.0.0.1",))
    run = outbound.RunState(confine_to="127.0.0.1")
    session = requests.Session()
    session.mount("http://", outbound.GuardedAdapter(max_retries=0))

    with outbound.using(policy, run):
        first = session.get(base + "/autodiscover/autodiscover.svc", allow_redirects=False)
        with pytest.raises(outbound.OutboundBlocked) as info:
            session.post(base + "/autodiscover/autodiscover.svc", data=b"<x/>",
                         auth=("svc@contoso.example", DEMO_PASSWORD))

    assert first.status_code == 302
    assert info.value.code == "credentials_over_http"
    assert handler.seen == [("GET", None)]


# --- rows 29 and 30: hostile responses -------------------------------------------------------


def test_a_huge_response_is_aborted_at_the_size_cap(hostile: Any) -> None:
    base, handler = hostile
    handler.mode = "huge"
    policy = outbound.OutboundPolicy(allow_hosts=("127.0.0.1",), max_response_bytes=1 << 20)
    session = requests.Session()
    session.mount("http://", outbound.GuardedAdapter(max_retries=0))
    started = time.monotonic()

    with outbound.using(policy), pytest.raises(outbound.ResponseTooLarge):
        session.post(base + "/EWS/Exchange.asmx", data=b"<x/>", timeout=5)

    assert time.monotonic() - started < 5


XXE = (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&x;'
       b"</s:Body></s:Envelope>")
BOMB = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode()
                   for i in range(9))
        + b']><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&j;'
          b"</s:Body></s:Envelope>")
DEEP = b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>" + \
    b"<a>" * 100000 + b"</a>" * 100000 + b"</s:Body></s:Envelope>"


@pytest.mark.parametrize("body", [XXE, BOMB, DEEP], ids=["xxe", "bomb", "deep"])
def test_hostile_xml_fails_a_check_quickly_without_file_content(hostile: Any, connector: Any,
                                                                sandbox: SandboxServer,
                                                                body: bytes) -> None:
    """Row 30: XXE and billion laughs end as a classified failure in well under a second."""
    base, handler = hostile
    handler.mode, handler.body = "xml", body
    started = time.monotonic()

    report = run_checks(request_for(sandbox, "svc-full", "full",
                                    ews_url=base + "/EWS/Exchange.asmx"), connector)

    assert time.monotonic() - started < 3
    failed = [c for c in report.checks if c.status == "fail"]
    assert failed
    assert "root:" not in str(report.to_dict())


# --- rows 33, 34, 35: spraying, Redis down, lockout amplification ---------------------------


def _wizard(client: FlaskClient, sandbox: SandboxServer, service: str = "svc-full",
            password: str = DEMO_PASSWORD) -> WizardActions:
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(sandbox.ews_url, service_account=addr(service), password=password)
    wizard.access("full")
    return wizard


def test_three_failed_tests_for_one_account_then_429_with_retry_after(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    wizard = _wizard(client, sandbox, password=WRONG)
    for _ in range(3):
        assert wizard.test().status_code == 200
    hits = sandbox.count()

    refused = wizard.test()

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Try again after" in refused.get_data(as_text=True)
    assert sandbox.count() == hits


def test_the_host_budget_stops_one_password_tried_across_many_accounts(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    services = ["svc-full", "svc-scoped", "svc-restricted", "svc-freebusy", "svc-nomailbox",
                "svc-none"]
    statuses = []
    for service in services:
        wizard = _wizard(client, sandbox, service, password=WRONG)
        statuses.append(wizard.test().status_code)

    assert statuses == [200] * 5 + [429]


def test_parallel_tests_for_one_account_are_serialised(app: Flask, client: FlaskClient,
                                                       sandbox: SandboxServer) -> None:
    from app.services import credential_test, onboarding
    from app.wizard import views

    wizard = _wizard(client, sandbox)
    attempt = onboarding.get_attempt(wizard.attempt_id or "")
    reports: list[Any] = []

    def one() -> None:
        with app.app_context():
            run_id = credential_test.begin(attempt.id, addr("alice"), False)
            reports.append(views._guarded_test(app, attempt, run_id))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    spans = sorted((r.started_at, r.finished_at) for r in reports)
    assert len(spans) == 6
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_redis_down_fails_closed_before_any_ews_request(sandbox: SandboxServer,
                                                        database_url: str) -> None:
    """Row 34: with the limiter's storage unreachable, the test POST is a 5xx and Exchange
    sees nothing."""
    from app import create_app
    from tests.conftest import ENCRYPTION_KEY

    good = create_app({"TESTING": True, "SECRET_KEY": "k" * 40, "DATABASE_URL": database_url,
                       "ENCRYPTION_KEYS": (ENCRYPTION_KEY,), "SERVER_NAME": "localhost",
                       "OUTBOUND_ALLOW_HOSTS": ("127.0.0.1",), "RATELIMIT_STORAGE_URI":
                       "memory://"})
    client = good.test_client()
    with good.app_context():
        wizard = _wizard(client, sandbox)
        page = client.get(wizard.url("test")).get_data(as_text=True)
    down = create_app({"TESTING": True, "SECRET_KEY": "k" * 40, "DATABASE_URL": database_url,
                       "ENCRYPTION_KEYS": (ENCRYPTION_KEY,), "SERVER_NAME": "localhost",
                       "OUTBOUND_ALLOW_HOSTS": ("127.0.0.1",),
                       "REDIS_URL": "redis://127.0.0.1:1/15",
                       "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/15"})
    down_client = down.test_client()
    for cookie in client._cookies.values():
        down_client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    sandbox.reset()

    with down.app_context():
        response = down_client.post(wizard.url("test"), data={
            "csrf_token": csrf_token(page), "mailbox": addr("alice")})

    assert response.status_code >= 500
    assert sandbox.count() == 0


def test_a_wrong_password_is_one_logon_attempt_and_one_counted_failure(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    """Row 35: FailFast, no automatic retry; the limiter counts exactly one failure."""
    from app.extensions import limiter
    from app.services import onboarding
    from app.wizard import credential_limits

    wizard = _wizard(client, sandbox, password=WRONG)

    wizard.test()

    rejected = [e for e in sandbox.requests if e.status == 401 and e.fault
                and ("rejected" in e.fault or "wrong" in e.fault)]
    assert len(rejected) == 1
    attempt = onboarding.get_attempt(wizard.attempt_id or "")
    item, key = credential_limits.failure_limits(attempt)[0]
    _, remaining = limiter.limiter.get_window_stats(item, "credential-test-failures", key)
    assert remaining == item.amount - 1


# --- row 45: database down before the test -------------------------------------------------


def test_database_failure_before_the_test_is_a_5xx_before_any_ews_traffic(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    wizard = _wizard(client, sandbox)
    page = client.get(wizard.url("test")).get_data(as_text=True)
    sandbox.reset()

    def fail(session: Any) -> None:
        raise RuntimeError("database is down")

    event.listen(Session, "before_commit", fail)
    try:
        response = client.post(wizard.url("test"), data={
            "csrf_token": csrf_token(page), "mailbox": addr("alice")})
    finally:
        event.remove(Session, "before_commit", fail)

    assert response.status_code == 500
    assert sandbox.count() == 0


# --- row 47: no secret in logs, traces or pages ---------------------------------------------


def test_no_password_authorization_header_or_token_in_logs_traces_or_pages(
        client: FlaskClient, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, connector: Connector) -> None:
    from dataclasses import replace

    from app.database import db
    from app.models import Attempt, StepRun

    caplog.set_level(logging.DEBUG)
    for name in ("exchangelib", "requests_oauthlib", "oauthlib", "urllib3", "requests_ntlm"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    pages = []
    wizard = _wizard(client, sandbox, password=WRONG)
    pages.append(wizard.test(write_test="y").get_data(as_text=True))
    wizard = _wizard(client, sandbox, "svc-restricted")
    pages.append(wizard.test(write_test="y").get_data(as_text=True))
    pages.append(client.get(wizard.url("test/report.json")).get_data(as_text=True))
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    online = run_checks(request_for(
        sandbox, "svc-full", "full", deployment="online", tenant_id="contoso-tenant",
        app_client_id="00000000-0000-4000-8000-00000000a11a"),
        replace(connector, oauth_authority=sandbox.base_url))
    tokens = list(sandbox.app.auth.tokens)

    stored = str([r.result for r in db.session.query(StepRun)]) + \
        str([a.test_report for a in db.session.query(Attempt)]) + str(online.to_dict())
    haystack = caplog.text + stored + "".join(pages)
    secrets = [DEMO_PASSWORD, WRONG, *tokens]
    for user in ("svc-full@contoso.example", "svc-restricted@contoso.example"):
        for password in (DEMO_PASSWORD, WRONG):
            for u in (user, "\\" + user):
                secrets.append(base64.b64encode(f"{u}:{password}".encode()).decode())
    assert tokens
    for secret in secrets:
        assert secret not in haystack
    assert "Bearer " not in stored.replace("Bearer [redacted]", "")
    assert "client_secret=[redacted]" in stored


# --- row 53: protocol cache leakage ----------------------------------------------------------


def test_a_bad_password_run_never_leaks_into_the_next_run(sandbox: SandboxServer,
                                                          connector: Connector) -> None:
    bad = run_checks(request_for(sandbox, "svc-full", "full", secret=WRONG), connector)
    assert protocol_cache_size() == 0

    good = run_checks(request_for(sandbox, "svc-full", "full"), connector)

    assert by_key(bad)["authentication"].status == "fail"
    assert good.passed
    assert protocol_cache_size() == 0
