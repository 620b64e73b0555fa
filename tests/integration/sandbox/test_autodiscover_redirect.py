"""Autodiscover redirects (SOAP GetUserSettings ErrorCode RedirectUrl / RedirectAddress) followed by
unmodified exchangelib over TLS: a throwaway CA, the loopback DNS responder with a second domain,
and a second sandbox as the redirect target (autodiscover.fabrikam.example)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import exchangelib.autodiscover
import exchangelib.autodiscover.cache
import exchangelib.protocol
import pytest
import requests
from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials
from exchangelib.autodiscover import AutodiscoverProtocol, Autodiscovery
from exchangelib.errors import AutoDiscoverFailed
from lxml import etree

from app.sandbox import DEMO_PASSWORD, SandboxServer
from app.sandbox.autodiscover import ANS, POX_OUTLOOK
from app.sandbox.dns import DNSResponder
from app.sandbox.soap import SOAP
from app.sandbox.tls import make_ca_and_cert

from .conftest import route_https

pytestmark = pytest.mark.integration

CONTOSO, FABRIKAM = "contoso.example", "fabrikam.example"
# exchangelib checks a redirect URL's host with a DNS A query on urlparse(url).netloc, so the
# target must not carry a port: it is https on 443, which the test maps to the second sandbox.
FABRIKAM_AUTODISCOVER = f"https://autodiscover.{FABRIKAM}/autodiscover/autodiscover.svc"
# The documented child order of UserResponse (learn.microsoft.com "UserResponse (SOAP)").
USER_RESPONSE_CHILDREN = ["ErrorCode", "ErrorMessage", "RedirectTarget", "UserSettingErrors",
                          "UserSettings"]
FABRIKAM_DIRECTORY = f"""
domain = "{FABRIKAM}"
default_password = "{DEMO_PASSWORD}"
users = [{{ name = "alice", display_name = "Alice Anders (Fabrikam)" }}]
"""


@contextmanager
def two_sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              fabrikam_directory: Path | None = None,
              auth_methods: tuple[str, ...] = ("NTLM", "Basic"),
              ) -> Iterator[tuple[SandboxServer, SandboxServer]]:
    """Sandbox ``contoso`` behind autodiscover.contoso.example and sandbox ``fabrikam`` behind
    autodiscover.fabrikam.example, both on 443 as far as exchangelib can tell."""
    files = make_ca_and_cert(tmp_path / "tls", [CONTOSO, f"autodiscover.{CONTOSO}", FABRIKAM,
                                                 f"autodiscover.{FABRIKAM}", "127.0.0.1"])
    with ExitStack() as stack:
        contoso = stack.enter_context(SandboxServer(
            tls_cert=files.cert, tls_key=files.key, hostname=f"autodiscover.{CONTOSO}",
            validate_responses=True, auth_methods=auth_methods))
        fabrikam = stack.enter_context(SandboxServer(
            fabrikam_directory, tls_cert=files.cert, tls_key=files.key,
            hostname=f"autodiscover.{FABRIKAM}", validate_responses=True,
            auth_methods=auth_methods))
        responder = stack.enter_context(DNSResponder(CONTOSO, hosts={
            FABRIKAM: "127.0.0.1", f"autodiscover.{FABRIKAM}": "127.0.0.1"}))
        route_https(monkeypatch, {CONTOSO: contoso.port, FABRIKAM: fabrikam.port})
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(files.ca_cert))
        monkeypatch.setattr(Autodiscovery, "DNS_RESOLVER_KWARGS", responder.resolver_kwargs)
        monkeypatch.setattr(Autodiscovery, "DNS_RESOLVER_ATTRS", responder.resolver_attrs)
        # exchangelib persists domain -> autodiscover endpoint in a shelve file shared by every
        # process of this user; keep ours private so parallel runs cannot see each other's.
        monkeypatch.setattr(exchangelib.autodiscover.cache, "AUTODISCOVER_PERSISTENT_STORAGE",
                            tmp_path / "exchangelib-autodiscover-cache")
        exchangelib.autodiscover.clear_cache()
        try:
            yield contoso, fabrikam
        finally:
            exchangelib.autodiscover.clear_cache()
            exchangelib.protocol.close_connections()
            assert contoso.schema_errors == [] and fabrikam.schema_errors == []


def answered(server: SandboxServer) -> list[tuple[str | None, str | None]]:
    """(ErrorCode, detail) of each authenticated Autodiscover request in ``server``'s log."""
    return [(e.response_code, e.detail) for e in server.requests
            if e.operation == "Autodiscover" and e.status == 200]


def fabrikam_directory(tmp_path: Path) -> Path:
    path = tmp_path / "fabrikam.toml"
    path.write_text(FABRIKAM_DIRECTORY, encoding="utf-8")
    return path


# -- exchangelib follows the redirects ---------------------------------------------------------

def test_redirect_url_is_followed_to_the_other_sandbox_and_ews_works_there(tmp_path, monkeypatch):
    with two_sites(tmp_path, monkeypatch) as (contoso, fabrikam):
        contoso.autodiscover_redirect("url", FABRIKAM_AUTODISCOVER)
        creds = Credentials(f"alice@{CONTOSO}", DEMO_PASSWORD)
        account = Account(f"alice@{CONTOSO}", credentials=creds, autodiscover=True,
                          access_type=DELEGATE)

        assert account.protocol.service_endpoint == fabrikam.ews_url
        assert account.primary_smtp_address == f"alice@{CONTOSO}"
        assert account.calendar.name == "Calendar"
        assert answered(contoso) == [("RedirectUrl", f"alice@{CONTOSO} -> {FABRIKAM_AUTODISCOVER}")]
        assert answered(fabrikam) == [("NoError", f"alice@{CONTOSO}")]
        assert not [e for e in contoso.requests if e.operation != "Autodiscover"]
        assert any(e.operation == "GetFolder" for e in fabrikam.requests)


def test_exchangelib_caches_the_redirect_target_for_the_whole_domain(tmp_path, monkeypatch):
    """The redirect was for alice only, yet bob is sent straight to the target afterwards:
    exchangelib caches the endpoint that answered per e-mail domain (on disk, by domain)."""
    with two_sites(tmp_path, monkeypatch) as (contoso, fabrikam):
        contoso.autodiscover_redirect("url", FABRIKAM_AUTODISCOVER, mailboxes=["alice"])
        for name in ("alice", "bob"):
            creds = Credentials(f"{name}@{CONTOSO}", DEMO_PASSWORD)
            ad, protocol = Autodiscovery(f"{name}@{CONTOSO}", credentials=creds).discover()
            assert protocol.service_endpoint == fabrikam.ews_url
            assert ad.autodiscover_smtp_address == f"{name}@{CONTOSO}"

        assert answered(contoso) == [("RedirectUrl", f"alice@{CONTOSO} -> {FABRIKAM_AUTODISCOVER}")]
        assert answered(fabrikam) == [("NoError", f"alice@{CONTOSO}"),
                                      ("NoError", f"bob@{CONTOSO}")]


def test_redirect_address_restarts_discovery_for_the_new_address_in_its_own_domain(
        tmp_path, monkeypatch):
    """Hybrid style: contoso says alice now lives at alice@fabrikam.example; exchangelib starts
    over for fabrikam.example (DNS, https://fabrikam.example/autodiscover/...) and ends there.
    The same credentials must work at both ends, as a UPN does in a hybrid: here a bare user name
    over Basic, to which each sandbox appends its own domain (its NTLM acceptor would not)."""
    with two_sites(tmp_path, monkeypatch, fabrikam_directory(tmp_path),
                   auth_methods=("Basic",)) as (contoso, fabrikam):
        contoso.autodiscover_redirect("address", f"alice@{FABRIKAM}", mailboxes=["alice"])
        creds = Credentials("alice", DEMO_PASSWORD)
        account = Account(f"alice@{CONTOSO}", credentials=creds, autodiscover=True,
                          access_type=DELEGATE)

        assert account.primary_smtp_address == f"alice@{FABRIKAM}"
        assert account.protocol.service_endpoint == fabrikam.ews_url
        assert account.calendar.name == "Calendar"
        assert answered(contoso) == [("RedirectAddress", f"alice@{CONTOSO} -> alice@{FABRIKAM}")]
        assert answered(fabrikam) == [("NoError", f"alice@{FABRIKAM}")]


def test_redirect_address_inside_one_sandbox_rediscovers_through_the_cached_endpoint(
        tmp_path, monkeypatch):
    with two_sites(tmp_path, monkeypatch) as (contoso, fabrikam):
        contoso.autodiscover_redirect("address", f"alice@{CONTOSO}")  # every address but alice
        creds = Credentials(f"bob@{CONTOSO}", DEMO_PASSWORD)
        ad, protocol = Autodiscovery(f"bob@{CONTOSO}", credentials=creds).discover()

        assert ad.autodiscover_smtp_address == f"alice@{CONTOSO}"
        assert protocol.service_endpoint == contoso.ews_url
        assert answered(contoso) == [("RedirectAddress", f"bob@{CONTOSO} -> alice@{CONTOSO}"),
                                     ("NoError", f"alice@{CONTOSO}")]
        assert answered(fabrikam) == []


def test_a_redirect_url_with_a_port_is_rejected_by_exchangelib(tmp_path, monkeypatch):
    """exchangelib's _redirect_url_is_valid resolves "host:port" as a DNS name, which fails, so it
    gives up (step 6) instead of following the redirect."""
    with two_sites(tmp_path, monkeypatch) as (contoso, fabrikam):
        contoso.autodiscover_redirect("url", fabrikam.autodiscover_url)  # https://host:PORT/...
        creds = Credentials(f"alice@{CONTOSO}", DEMO_PASSWORD)
        with pytest.raises(AutoDiscoverFailed):
            Autodiscovery(f"alice@{CONTOSO}", credentials=creds).discover()
        assert ("RedirectUrl", f"alice@{CONTOSO} -> {fabrikam.autodiscover_url}") \
            in answered(contoso)
        assert answered(fabrikam) == []


# -- the wire format and the knob (plain HTTP, the session sandbox) ------------------------------

def get_user_settings(sandbox: SandboxServer, *mailboxes: str) -> etree._Element:
    users = "".join(f"<a:User><a:Mailbox>{m}</a:Mailbox></a:User>" for m in mailboxes)
    body = (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:a="{ANS}">'
            "<s:Body><a:GetUserSettingsRequestMessage><a:Request>"
            f"<a:Users>{users}</a:Users><a:RequestedSettings><a:Setting>ExternalEwsUrl"
            "</a:Setting></a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage>"
            "</s:Body></s:Envelope>")
    r = requests.post(f"{sandbox.base_url}/autodiscover/autodiscover.svc", data=body.encode(),
                      headers={"Content-Type": "text/xml; charset=utf-8"},
                      auth=(f"svc-full@{CONTOSO}", DEMO_PASSWORD), timeout=10)
    assert r.status_code == 200
    return etree.fromstring(r.content)


def user_responses(envelope: etree._Element) -> list[etree._Element]:
    response = envelope.find(f".//{{{ANS}}}Response")
    assert response.findtext(f"{{{ANS}}}ErrorCode") == "NoError"  # the per-user code redirects
    return response.findall(f"{{{ANS}}}UserResponses/{{{ANS}}}UserResponse")


@pytest.mark.parametrize(("kind", "target", "code"), [
    ("url", FABRIKAM_AUTODISCOVER, "RedirectUrl"),
    ("address", f"alice@{FABRIKAM}", "RedirectAddress"),
])
def test_the_redirect_user_response_has_the_documented_shape(sandbox, kind, target, code):
    sandbox.autodiscover_redirect(kind, target, mailboxes=["alice"])
    alice, bob = user_responses(get_user_settings(sandbox, f"alice@{CONTOSO}", f"bob@{CONTOSO}"))

    assert [etree.QName(c).localname for c in alice] == USER_RESPONSE_CHILDREN
    assert alice.findtext(f"{{{ANS}}}ErrorCode") == code
    assert alice.findtext(f"{{{ANS}}}RedirectTarget") == target
    assert len(alice.find(f"{{{ANS}}}UserSettings")) == 0
    assert [etree.QName(c).localname for c in bob] == USER_RESPONSE_CHILDREN
    assert bob.findtext(f"{{{ANS}}}ErrorCode") == "NoError"
    assert bob.find(f"{{{ANS}}}RedirectTarget").get(
        "{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    entry = [e for e in sandbox.requests if e.operation == "Autodiscover"][-1]
    assert (entry.response_code, entry.detail) == (
        code, f"alice@{CONTOSO} -> {target}, bob@{CONTOSO}")


@pytest.mark.parametrize(("kind", "target", "field"), [
    ("url", FABRIKAM_AUTODISCOVER, "redirect_url"),
    ("address", f"alice@{FABRIKAM}", "redirect_address"),
])
def test_exchangelib_parses_the_redirect_target(sandbox, kind, target, field):
    sandbox.autodiscover_redirect(kind, target)
    protocol = AutodiscoverProtocol(config=Configuration(
        service_endpoint=sandbox.autodiscover_url, auth_type=BASIC,
        credentials=Credentials(f"alice@{CONTOSO}", DEMO_PASSWORD)))
    try:
        response = protocol.get_user_settings(user=f"alice@{CONTOSO}")
    finally:
        protocol.close()
    assert getattr(response, field) == target
    assert response.ews_url is None
    response.raise_errors()  # a redirect is not an error to exchangelib


def test_pox_autodiscover_answers_redirect_addr_and_redirect_url(sandbox):
    request = ('<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
               'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
               f"<EMailAddress>alice@{CONTOSO}</EMailAddress><AcceptableResponseSchema>http://"
               "schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
               "</AcceptableResponseSchema></Request></Autodiscover>")

    def account() -> etree._Element:
        r = requests.post(f"{sandbox.base_url}/autodiscover/autodiscover.xml",
                          data=request.encode(), auth=(f"alice@{CONTOSO}", DEMO_PASSWORD),
                          timeout=10)
        assert r.status_code == 200
        return etree.fromstring(r.content).find(f".//{{{POX_OUTLOOK}}}Account")

    sandbox.autodiscover_redirect("address", f"alice@{FABRIKAM}")
    addr = account()
    assert [(etree.QName(c).localname, c.text) for c in addr] == [
        ("Action", "redirectAddr"), ("RedirectAddr", f"alice@{FABRIKAM}")]
    sandbox.autodiscover_redirect("url", FABRIKAM_AUTODISCOVER)
    url = account()
    assert [(etree.QName(c).localname, c.text) for c in url] == [
        ("Action", "redirectUrl"),
        ("RedirectUrl", f"https://autodiscover.{FABRIKAM}/autodiscover/autodiscover.xml")]
    sandbox.autodiscover_redirect(None)
    assert account().findtext(f"{{{POX_OUTLOOK}}}Action") == "settings"


def test_control_api_sets_shows_and_clears_the_redirect(sandbox):
    base = f"{sandbox.base_url}/_sandbox/autodiscover-redirect"
    assert requests.get(base, timeout=5).json() is None
    r = requests.post(base, json={"kind": "url", "target": FABRIKAM_AUTODISCOVER,
                                  "mailboxes": ["alice", f"bob@{CONTOSO}"]}, timeout=5)
    assert r.status_code == 200
    assert requests.get(base, timeout=5).json() == {
        "kind": "url", "target": FABRIKAM_AUTODISCOVER,
        "mailboxes": [f"alice@{CONTOSO}", f"bob@{CONTOSO}"]}
    [alice] = user_responses(get_user_settings(sandbox, f"alice@{CONTOSO}"))
    assert alice.findtext(f"{{{ANS}}}ErrorCode") == "RedirectUrl"

    for bad in ({"kind": "moved", "target": "x"}, {"kind": "url", "target": "not a url"},
                {"kind": "address", "target": "nobody"}, {"kind": "url"},
                {"kind": "address", "target": 5}, {"kind": "url", "target": FABRIKAM_AUTODISCOVER,
                                                    "mailboxes": 5}):
        r = requests.post(base, json=bad, timeout=5)
        assert r.status_code == 400 and r.json()["ok"] is False, bad
    assert requests.get(base, timeout=5).json()["kind"] == "url"  # a bad request changes nothing

    assert requests.post(base, json={"kind": None}, timeout=5).status_code == 200
    assert requests.get(base, timeout=5).json() is None
    requests.post(base, json={"kind": "address", "target": f"alice@{FABRIKAM}"}, timeout=5)
    assert requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=5).status_code == 200
    assert sandbox.app.autodiscover_redirect is None
    [alice] = user_responses(get_user_settings(sandbox, f"alice@{CONTOSO}"))
    assert alice.findtext(f"{{{ANS}}}ErrorCode") == "NoError"
