"""NTLM that starts its handshake with the first request of a connection.

requests_ntlm sends every first request without credentials, waits for the 401 and only then
sends the NEGOTIATE message: three round trips per connection where NTLM needs two. This
handler sends NEGOTIATE with the first request and AUTHENTICATE with the second, as browsers
and Outlook do. Nothing else changes: the NEGOTIATE message carries no credential (it is not a
logon attempt), a rejected AUTHENTICATE comes back as the 401 it is and is never retried, and
the channel binding of an HTTPS connection is added to AUTHENTICATE exactly as requests_ntlm
adds it (Extended Protection).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

import requests
import spnego
from requests_ntlm import HttpNtlmAuth
from requests_ntlm.requests_ntlm import ShimSessionSecurity


def _challenge(response: requests.Response) -> bytes | None:
    """The server's NTLM CHALLENGE message, if the 401 carries one."""
    for value in response.headers.get("WWW-Authenticate", "").split(","):
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "ntlm" and token.strip():
            try:
                return base64.b64decode(token.strip(), validate=True)
            except ValueError:
                return None
    return None


class PrimedNtlmAuth(HttpNtlmAuth):
    """One instance per requests session, which exchangelib keeps to one connection."""

    def __init__(self, username: str | None, password: str | None) -> None:
        super().__init__(username, password)
        self.authenticated = False

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Connection"] = "Keep-Alive"
        if self.authenticated:
            # The connection is signed in; if it was dropped, the server's 401 starts the
            # ordinary requests_ntlm handshake on the new one.
            r.register_hook("response", self.response_hook)
            return r
        client = spnego.client(
            self.username, self.password, protocol="ntlm",
            hostname=urlsplit(r.url or "").hostname or "unspecified", service="http",
            options=spnego.NegotiateOptions.use_ntlm,
        )
        r.headers["Authorization"] = "NTLM " + base64.b64encode(client.step() or b"").decode()
        r.register_hook("response", lambda response, **kwargs: self._authenticate(
            client, response, kwargs))
        return r

    def _authenticate(self, client: Any, response: requests.Response,
                      args: dict[str, Any]) -> requests.Response:
        if response.status_code != 401:
            return response
        challenge = _challenge(response)
        if challenge is None:
            # No challenge for our NEGOTIATE (a proxy that dropped it, say): no credential has
            # been sent yet, so start over the way requests_ntlm does; if the server offers no
            # NTLM at all, that hands back this 401 as it is.
            del response.request.headers["Authorization"]
            return self.response_hook(response, **args)
        cert_hash = self._get_server_cert(response)
        bindings = spnego.channel_bindings.GssChannelBindings(
            application_data=b"tls-server-end-point:" + cert_hash) if cert_hash else None
        body = response.request.body
        if body is not None and hasattr(body, "seek"):
            body.seek(0)
        response.content  # noqa: B018 - read the 401 so its connection is free for the reply
        response.raw.release_conn()
        request = response.request.copy()
        if response.headers.get("set-cookie"):
            request.headers["Cookie"] = response.headers["set-cookie"]
        token = client.step(challenge, channel_bindings=bindings) or b""
        request.headers["Authorization"] = "NTLM " + base64.b64encode(token).decode()
        final = response.connection.send(request, **args)  # type: ignore[attr-defined]
        final.history.append(response)
        if final.status_code != 401:
            self.authenticated = True
            self.session_security = ShimSessionSecurity(client)
        return final
