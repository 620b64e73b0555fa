"""One run's exchangelib objects, built so nothing leaks between runs (SECURITY.md finding 3).

Every run gets its own credentials object (a run id makes it unequal to any other, so
exchangelib's Protocol cache never hands one test's configuration or password to another) and
removes its Protocol from the cache when it closes. Retry policy is always ``FailFast``: a 401
is never retried (findings 1 and 2).
"""

from __future__ import annotations

import contextvars
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    EWSTimeZone,
    FailFast,
    OAuth2Credentials,
)
from exchangelib.autodiscover import Autodiscovery
from exchangelib.autodiscover.cache import autodiscover_cache
from exchangelib.folders import Calendar, DistinguishedFolderId, Inbox, Root
from exchangelib.properties import Mailbox
from exchangelib.protocol import BaseProtocol, CachingProtocol, Protocol
from requests_ntlm import HttpNtlmAuth

from app.exchange.ntlm import PrimedNtlmAuth
from app.exchange.outbound import GuardedAdapter

#: Production authority for Exchange Online app-only tokens.
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
#: A ConvertId dummy, exactly as exchangelib's own auth probe sends it (EWS-NOTES §1.2).
PROBE_BODY = (
    b"<?xml version='1.0' encoding='utf-8'?>\n"
    b'<s:Envelope xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    b'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    b'<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>'
    b'<m:ConvertId DestinationFormat="EwsLegacyId"><m:SourceIds>'
    b'<t:AlternateId Format="EwsId" Id="DUMMY" Mailbox="DUMMY@example.com"/>'
    b"</m:SourceIds></m:ConvertId></s:Body></s:Envelope>"
)


_lane_config: contextvars.ContextVar[Configuration | None] = contextvars.ContextVar(
    "lane_config", default=None)


class RunCredentials(Credentials):
    """Username and password that compare equal only to themselves (one per run)."""

    def __init__(self, username: str, password: str, run_id: str) -> None:
        super().__init__(username, password)
        self.run_id = run_id


class PrimedProtocol(Protocol):
    """exchangelib's Protocol whose NTLM sessions send NEGOTIATE with their first request.

    Created by :meth:`EwsSession.configure` before anything else asks for the run's Protocol:
    exchangelib's Protocol cache then hands this instance to every Account of the run.
    """

    def create_session(self) -> Any:
        session = super().create_session()
        auth = session.auth
        if type(auth) is HttpNtlmAuth:
            session.auth = PrimedNtlmAuth(auth.username, auth.password)
        return session


class AppCredentials(OAuth2Credentials):
    """App-only (client credentials) OAuth with a configurable authority.

    exchangelib hard-wires login.microsoftonline.com as the token URL; the sandbox and sovereign
    clouds need another one.
    """

    def __init__(self, client_id: str, client_secret: str, tenant_id: str, authority: str,
                 run_id: str) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, tenant_id=tenant_id)
        self.authority = authority.rstrip("/")
        self.run_id = run_id

    def on_token_auto_refreshed(self, access_token: Any) -> None:
        """Keep the new token, and tell this run's redaction about it."""
        from app.exchange.outbound import current_run

        run = current_run()
        if run is not None and access_token:
            run.add_secret(access_token.get("access_token"))
        super().on_token_auto_refreshed(access_token)

    @property
    def token_url(self) -> str:
        return f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"


@dataclass(frozen=True)
class ProbeResult:
    """What the unauthenticated probe of an EWS URL saw."""

    status: int
    offered: tuple[str, ...]  #: auth schemes from WWW-Authenticate, lower case
    modern_auth: bool


def probe_endpoint(ews_url: str, timeout: float) -> ProbeResult:
    """POST the anonymous ConvertId probe and read which sign-in methods the server offers."""
    with requests.Session() as session:
        session.trust_env = False
        session.mount("http://", GuardedAdapter(max_retries=0))
        session.mount("https://", GuardedAdapter(max_retries=0))
        response = session.post(
            ews_url, data=PROBE_BODY, allow_redirects=False, timeout=timeout,
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
    values = response.raw.headers.getlist("WWW-Authenticate") if response.raw else []
    offered = []
    for value in values:
        for part in value.split(","):
            scheme = part.strip().split(" ", 1)[0].lower()
            if scheme and "=" not in scheme and scheme not in offered:
                offered.append(scheme)
    modern = "modern auth" in response.headers.get("ms-diagnostics-public", "").lower()
    return ProbeResult(response.status_code, tuple(offered), modern)


def choose_auth(offered: tuple[str, ...]) -> str | None:
    """Pick the sign-in method exchangelib would pick (NTLM over Basic; never Negotiate alone)."""
    if "ntlm" in offered:
        return NTLM
    if "basic" in offered:
        return BASIC
    return None


class EwsSession:
    """The exchangelib configuration of one credential test; close it when the test ends."""

    def __init__(self, *, deployment: str, username: str, secret: str,
                 tenant_id: str | None = None, client_id: str | None = None,
                 authority: str = DEFAULT_AUTHORITY, max_connections: int = 8) -> None:
        self.run_id = secrets.token_hex(8)
        self.deployment = deployment
        self.app_only = deployment == "online"
        self.credentials: Credentials | AppCredentials
        if self.app_only:
            self.credentials = AppCredentials(client_id or "", secret, tenant_id or "common",
                                              authority, self.run_id)
        else:
            self.credentials = RunCredentials(username, secret, self.run_id)
        self.max_connections = max_connections
        self.config: Configuration | None = None
        self._lane_credentials: list[Any] = []

    def configure(self, ews_url: str, auth_type: str | None) -> Configuration:
        """Fix the endpoint and sign-in method every account of this run uses."""
        self.config = Configuration(
            service_endpoint=ews_url,
            credentials=self.credentials,
            auth_type=OAUTH2 if self.app_only else auth_type,
            retry_policy=FailFast(),
            max_connections=1,
        )
        PrimedProtocol(config=self.config)
        return self.config

    @contextmanager
    def lane(self, index: int) -> Iterator[None]:
        """Give a lane of checks its own Protocol with one connection.

        exchangelib's pool deadlocks when a throttled request shrinks a pool whose sessions are
        all in use (``decrease_poolsize`` holds the pool lock while waiting for a session), so
        concurrent checks never share a pool. Lane 0 keeps sign-in's connection.
        """
        assert self.config is not None, "configure() first"
        if index == 0:
            yield
            return
        credentials: Any
        if isinstance(self.credentials, AppCredentials):
            base = self.credentials
            credentials = AppCredentials(base.client_id, base.client_secret, base.tenant_id,
                                         base.authority, f"{self.run_id}-{index}")
            credentials.access_token = base.access_token
        else:
            credentials = RunCredentials(self.credentials.username, self.credentials.password,
                                         f"{self.run_id}-{index}")
        self._lane_credentials.append(credentials)
        config = Configuration(
            service_endpoint=self.config.service_endpoint, credentials=credentials,
            auth_type=self.config.auth_type, version=self.config.version,
            retry_policy=FailFast(), max_connections=1,
        )
        PrimedProtocol(config=config)
        token = _lane_config.set(config)
        try:
            yield
        finally:
            _lane_config.reset(token)

    @property
    def current_config(self) -> Configuration:
        config = _lane_config.get() or self.config
        assert config is not None, "configure() first"
        return config

    def account(self, mailbox: str, impersonate: bool) -> Account:
        return Account(
            mailbox,
            config=self.current_config,
            access_type=IMPERSONATION if impersonate else DELEGATE,
            autodiscover=False,
            default_timezone=EWSTimeZone("UTC"),
        )

    @property
    def protocol(self) -> Protocol:
        """The run's Protocol, for operations not tied to a mailbox (free/busy, rooms)."""
        return Protocol(config=self.current_config)

    @staticmethod
    def calendar(account: Account) -> Calendar:
        # Never touch the mailbox root: a calendar-only delegate is denied it (exchangelib#1282).
        return Calendar(
            root=Root(account=account),
            _distinguished_id=DistinguishedFolderId(
                id="calendar", mailbox=Mailbox(email_address=account.primary_smtp_address)
            ),
        )

    @staticmethod
    def open_calendar(account: Account) -> Any:
        """GetFolder on the Calendar alone (no root), raising what Exchange answered."""
        return Calendar.get_distinguished(root=Root(account=account))

    @staticmethod
    def open_inbox(account: Account) -> Any:
        return Inbox.get_distinguished(root=Root(account=account))

    def autodiscover(self, email: str) -> tuple[str, str, list[str]]:
        """Find the EWS URL for ``email``; return it, the method that answered and URLs tried.

        exchangelib's Autodiscover cache is keyed by domain only on disk (finding 4), so this
        run clears the domain before and after, holding the cache lock throughout.
        """
        credentials = self.credentials
        domain = email.rsplit("@", 1)[-1].lower()
        discovery = _TracingAutodiscovery(email=email, credentials=credentials)
        with autodiscover_cache:
            _forget_autodiscover(domain, credentials)
            try:
                ad, protocol = discovery.discover()
                protocol.close()
                _forget_protocols(credentials)
            finally:
                _forget_autodiscover(domain, credentials)
        return ad.ews_url, discovery.method, discovery.tried

    def close(self) -> None:
        """Drop this run's Protocols from exchangelib's process-wide cache and close them."""
        for credentials in (self.credentials, *self._lane_credentials):
            _forget_protocols(credentials)


def _forget_protocols(credentials: Any) -> None:
    # Rebuild the cache rather than pop: OAuth credentials cache their client in __dict__, which
    # changes their hash after insertion, so a lookup by key can miss.
    with CachingProtocol._protocol_cache_lock:
        cache = CachingProtocol._protocol_cache
        keep = {}
        for key, value in list(cache.items()):
            if key[1] is credentials:
                protocol = value[0]
                if isinstance(protocol, BaseProtocol):
                    with protocol._session_pool_lock:
                        protocol.close()
            else:
                keep[key] = value
        cache.clear()
        cache.update(keep)


def _forget_autodiscover(domain: str, credentials: Any) -> None:
    del autodiscover_cache[(domain, credentials)]
    for key in [k for k in list(autodiscover_cache._protocols) if k[1] == credentials]:
        protocol = autodiscover_cache._protocols.pop(key, None)
        if protocol is not None:
            protocol.close()


class _TracingAutodiscovery(Autodiscovery):
    """exchangelib's Autodiscovery, remembering which step answered (for the report)."""

    STEPS = {
        1: "https://{domain}/autodiscover/autodiscover.svc",
        2: "https://autodiscover.{domain}/autodiscover/autodiscover.svc",
        3: "http redirect from autodiscover.{domain}",
        4: "DNS SRV record _autodiscover._tcp.{domain}",
    }

    def __init__(self, email: str, credentials: Any) -> None:
        super().__init__(email=email, credentials=credentials)
        self.method = ""
        self.tried: list[str] = []

    def _attempt_response(self, url: str) -> Any:
        self.tried.append(url)
        ok, response = super()._attempt_response(url)
        if ok and not self.method:
            host = urlsplit(url).hostname or ""
            domain = self.email.rsplit("@", 1)[-1].lower()
            if host == domain:
                self.method = "Autodiscover at the domain (step 1)"
            elif host == f"autodiscover.{domain}":
                self.method = "Autodiscover at autodiscover.<domain> (step 2)"
            else:
                self.method = "Autodiscover via redirect or DNS SRV record"
            self.method += f": {url}"
        return ok, response
