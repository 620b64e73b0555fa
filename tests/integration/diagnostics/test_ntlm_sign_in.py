"""NTLM sign-in: NEGOTIATE goes with the first request of each connection (two round trips, not
three), the TLS channel binding still reaches Exchange, and a dropped connection signs in again."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import spnego
from requests_ntlm import HttpNtlmAuth

from app.exchange.client import EwsSession
from app.exchange.connector import Connector, apply_process_settings
from app.exchange.diagnostics import run_checks
from app.exchange.ntlm import PrimedNtlmAuth
from app.sandbox import DEMO_PASSWORD, SandboxServer

from .conftest import addr, by_key, request_for

SERVICE = addr("svc-full")


def _anonymous(sandbox: SandboxServer) -> list[Any]:
    return [e for e in sandbox.requests if e.status == 401 and e.fault == "no credentials"]


def _challenges(sandbox: SandboxServer) -> list[Any]:
    return [e for e in sandbox.requests if e.status == 401 and e.fault == ""]


def test_every_connection_signs_in_with_negotiate_on_its_first_request(
        sandbox: SandboxServer, connector: Connector) -> None:
    report = run_checks(request_for(sandbox, "svc-full", "full", write_test=True), connector)

    assert report.passed, [(c.key, c.status, c.explanation) for c in report.checks]
    # Only the endpoint check's probe goes without credentials: it asks what the server offers.
    assert len(_anonymous(sandbox)) == 1
    signed_in = {e.operation for e in sandbox.requests if e.status == 200}
    assert {"ConvertId", "CreateItem", "GetFolder", "FindItem", "GetRoomLists"} <= signed_in
    # One NEGOTIATE per connection; every connection's next request is the one signed in.
    assert 1 <= len(_challenges(sandbox)) <= len(report.checks)


def test_a_wrong_password_is_still_one_authenticate_and_no_retry(
        sandbox: SandboxServer, connector: Connector) -> None:
    report = run_checks(request_for(sandbox, "svc-full", "full", secret="Wrong-Pass-7"),
                        connector)

    assert by_key(report)["authentication"].code == "authentication_failed"
    rejected = [e for e in sandbox.requests if e.status == 401 and "rejected" in (e.fault or "")]
    assert len(rejected) == 1
    assert len(_challenges(sandbox)) == 1
    assert sandbox.count("ConvertId") == 3  # probe, NEGOTIATE, AUTHENTICATE


def test_a_dropped_connection_signs_in_again(sandbox: SandboxServer,
                                             connector: Connector) -> None:
    session = EwsSession(deployment="onprem", username=SERVICE, secret=DEMO_PASSWORD)
    try:
        session.configure(sandbox.ews_url, "NTLM")
        protocol = session.protocol
        _ = protocol.version
        pooled = protocol.get_session()
        assert isinstance(pooled.auth, PrimedNtlmAuth) and pooled.auth.authenticated
        pooled.close()  # the server or a proxy closed the connection
        protocol.release_session(pooled)
        sandbox.reset()

        EwsSession.open_calendar(session.account(addr("alice"), impersonate=True))

        # The new connection's first request carried no credentials, so the server asked for
        # them; requests_ntlm's own handshake signed it in.
        assert [e.operation for e in _anonymous(sandbox)] == ["GetFolder"]
        assert [e.status for e in sandbox.requests] == [401, 401, 200]
    finally:
        session.close()


# --- Extended Protection: the channel binding is in the AUTHENTICATE message ----------------


@pytest.fixture
def protected(tmp_path: Any) -> Iterator[tuple[SandboxServer, Connector, str]]:
    from app.sandbox.tls import make_ca_and_cert

    files = make_ca_and_cert(tmp_path, ["127.0.0.1"])
    with SandboxServer(tls_cert=files.cert, tls_key=files.key,
                       extended_protection=True) as server:
        connector = Connector(allow_hosts=("127.0.0.1",), request_timeout=3.0,
                              check_timeout=5.0, total_budget=12.0,
                              ca_bundle=str(files.ca_cert))
        apply_process_settings(connector)
        try:
            yield server, connector, str(files.ca_cert)
        finally:
            apply_process_settings(Connector())


def test_sign_in_carries_the_tls_channel_binding(protected: Any) -> None:
    server, connector, _ca = protected

    report = run_checks(request_for(server, "svc-full", "full"), connector)

    assert report.passed, [(c.key, c.status, c.explanation) for c in report.checks]
    assert by_key(report)["authentication"].status == "pass"


def test_the_protected_sandbox_refuses_ntlm_without_the_channel_binding(protected: Any) -> None:
    """The control for the test above: without CBT the same server says 401."""
    server, _connector, ca = protected
    with requests.Session() as http:
        http.verify = ca
        http.trust_env = False
        http.mount("https://", requests.adapters.HTTPAdapter())
        without = http.post(server.ews_url, data=b"<x/>",
                            auth=HttpNtlmAuth(SERVICE, DEMO_PASSWORD, send_cbt=False))
    assert without.status_code == 401
    assert any("rejected" in (e.fault or "") for e in server.requests)


# --- a server that ignores the first NEGOTIATE ------------------------------------------------


class _ForgetfulNtlm(BaseHTTPRequestHandler):
    """Answers a connection's first NEGOTIATE with a bare `WWW-Authenticate: NTLM`, as a proxy
    that strips it would, then runs NTLM properly (any password is accepted)."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        header = self.headers.get("Authorization", "")
        # One handler instance serves one connection, so it holds the connection's state.
        state = getattr(self, "ntlm", None)
        token = base64.b64decode(header[5:]) if header.startswith("NTLM ") else b""
        kind = token[8] if len(token) > 8 else 0
        self.seen.append(f"type{kind}" if kind else "none")
        if kind == 1 and not getattr(self, "ignored", False):
            self.ignored = True
            return self._reply(401, "NTLM")
        if kind == 1:
            state = {"ctx": spnego.server(protocol="ntlm")}
            self.ntlm = state
            out = state["ctx"].step(token)
            return self._reply(401, "NTLM " + base64.b64encode(out or b"").decode())
        if kind == 3 and state:
            return self._reply(200, None)
        return self._reply(401, "NTLM")

    def _reply(self, status: int, challenge: str | None) -> None:
        self.send_response(status)
        if challenge:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_negotiate_the_server_ignored_falls_back_to_the_ordinary_handshake() -> None:
    _ForgetfulNtlm.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ForgetfulNtlm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(f"http://127.0.0.1:{server.server_port}/EWS/Exchange.asmx",
                                 data=b"<x/>", auth=PrimedNtlmAuth("user", "secret"))
    finally:
        server.shutdown()
        server.server_close()

    assert response.status_code == 200
    # Our NEGOTIATE was ignored; requests_ntlm's retry sent NEGOTIATE then AUTHENTICATE once.
    assert _ForgetfulNtlm.seen == ["type1", "type1", "type3"]
