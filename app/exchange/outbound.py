"""The outbound guard: every HTTP request exchangelib makes goes through :class:`GuardedAdapter`.

SECURITY.md finding 10 and rows 21-26: the host is resolved with the product's one resolver,
every answer must be a public address (unless the operator allow-listed the host), and the
connection goes to the address that was checked, keeping SNI and certificate checks on the
name. The adapter also enforces the credential test's own rules: no credentials over http, no
credentials to a host outside the admin's domain during Autodiscover, no second logon after a
401, bounded response sizes and per-check timeouts. It records each exchange, redacted, for the
support console.
"""

from __future__ import annotations

import base64
import contextvars
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import dns.exception
import dns.resolver
import requests
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)

#: Bytes of one response body we read before giving up (row 29).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
#: Bytes of each body kept in a stored trace.
MAX_TRACE_BODY = 20 * 1024
REDACTED = "[redacted]"

#: Public addresses that are still cloud metadata or platform endpoints (finding 10).
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",  # AWS, GCP, Azure IMDS
        "168.63.129.16/32",  # Azure WireServer: public, so is_global is True
        "100.100.100.200/32",  # Alibaba Cloud
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
        "192.0.0.192/32",  # Oracle Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.I)


class OutboundBlocked(requests.exceptions.ConnectionError):
    """The guard refused to send a request; ``code`` says why in catalogue terms."""

    def __init__(self, message: str, code: str, host: str) -> None:
        super().__init__(message)
        self.code = code
        self.host = host


class ResponseTooLarge(requests.exceptions.ConnectionError):
    """The server sent more than :data:`MAX_RESPONSE_BYTES`."""

    code = "response_too_large"


def classify_ip(value: str) -> str | None:
    """Return why an address must not be reached (``loopback``, ``metadata``…), or ``None``."""
    ip = ipaddress.ip_address(value.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return classify_ip(str(ip.ipv4_mapped))
        if ip in _NAT64:
            return classify_ip(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        if ip.sixtofour is not None:
            return classify_ip(str(ip.sixtofour))
        if ip.teredo is not None:
            return "reserved"
    if any(ip in net for net in METADATA_NETWORKS):
        return "metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-public"
    return None


def literal_ip(host: str) -> str | None:
    """Return the address a URL host denotes when it is an IP literal in any spelling.

    ``inet_aton`` (and so ``getaddrinfo``) reads ``2130706433``, ``0x7f.1`` and ``127.1`` as IPv4.
    """
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


class Resolver:
    """The product's one resolver: dnspython at the configured nameservers, else the system's."""

    def __init__(self, nameservers: Sequence[str] = (), port: int = 53,
                 timeout: float = 5.0) -> None:
        self.nameservers = tuple(nameservers)
        self.port = port
        self.timeout = timeout

    @property
    def exchangelib_attrs(self) -> dict[str, Any]:
        """The ``Autodiscovery.DNS_RESOLVER_ATTRS`` that point exchangelib at the same servers."""
        attrs: dict[str, Any] = {"timeout": self.timeout}
        if self.nameservers:
            attrs.update(nameservers=list(self.nameservers), port=self.port)
        return attrs

    def resolve(self, host: str) -> list[str]:
        """Return every address of ``host``; raises :class:`OSError` when there is none."""
        ip = literal_ip(host)
        if ip is not None:
            return [ip]
        if not self.nameservers:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            return list(dict.fromkeys(str(info[4][0]) for info in infos))
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(self.nameservers)
        resolver.port = self.port
        resolver.timeout = self.timeout
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = resolver.resolve(f"{host.rstrip('.')}.", rdtype, lifetime=self.timeout)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as e:
                raise OSError(f"DNS lookup of {host} failed: {type(e).__name__}") from e
            found.extend(r.address for r in answer)
        if not found:
            raise OSError(f"{host} has no DNS entry")
        return found


def host_matches(host: str, entries: Sequence[str], port: int | None = None) -> bool:
    """Tell whether ``host`` (and ``port``) is on an allow-list whose entries may carry a port."""
    host = host.strip("[]").lower().rstrip(".")
    for entry in entries:
        entry = entry.strip().lower()
        entry_port: int | None = None
        if entry.startswith("["):
            name, _, rest = entry[1:].partition("]")
            if rest.startswith(":"):
                entry_port = int(rest[1:])
        elif entry.count(":") == 1:
            name, _, p = entry.partition(":")
            entry_port = int(p)
        else:
            name = entry
        if name.rstrip(".") == host and (entry_port is None or port is None or entry_port == port):
            return True
    return False


def in_domain(host: str, domain: str) -> bool:
    """Tell whether ``host`` is ``domain`` or one of its subdomains."""
    host, domain = host.lower().rstrip("."), domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


@dataclass(frozen=True)
class OutboundPolicy:
    """What this process may connect to; built once from config by the connector."""

    allow_hosts: tuple[str, ...] = ()
    resolver: Resolver = field(default_factory=Resolver)
    #: CA bundle for TLS verification (tests use a CA they made); None means the system store.
    ca_bundle: str | None = None
    #: Seconds before one request is abandoned.
    timeout: float = 10.0
    max_response_bytes: int = MAX_RESPONSE_BYTES

    def allowed(self, host: str, port: int | None = None) -> bool:
        return host_matches(host, self.allow_hosts, port)


# -- per-run state -------------------------------------------------------------------------


@dataclass
class Exchange:
    """One recorded HTTP request and response, already redacted."""

    check: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    ms: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Blocked:
    check: str
    host: str
    code: str
    reason: str


class RunState:
    """The state one credential test shares between its checks and the adapter (thread-safe)."""

    def __init__(self, secrets: Sequence[str] = (), confine_to: str | None = None,
                 confirmed_hosts: Sequence[str] = ()) -> None:
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self.blocked: list[Blocked] = []
        self.auth_rejected = False
        self.credentialed_requests = 0
        #: During Autodiscover: the admin's domain; other hosts need the admin's confirmation.
        self.confine_to = confine_to
        self.confirmed_hosts = tuple(h.lower() for h in confirmed_hosts)
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str | None) -> None:
        """Remember a value that must never appear in a trace (also in base64 and URL forms)."""
        if not secret or len(secret) < 4:
            return
        with self._lock:
            self._secrets.add(secret)
            self._secrets.add(quote(secret, safe=""))

    def add_login(self, username: str, password: str) -> None:
        self.add_secret(password)
        for user in {username, "\\" + username}:
            self.add_secret(base64.b64encode(f"{user}:{password}".encode()).decode())

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return redact_text(text)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def block(self, blocked: Blocked) -> None:
        with self._lock:
            self.blocked.append(blocked)

    def traces(self, check: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e.to_dict() for e in self.exchanges if e.check == check]

    def blocked_for(self, check: str) -> list[Blocked]:
        with self._lock:
            return [b for b in self.blocked if b.check == check]


_TOKEN_PATTERNS = (
    (re.compile(r"(?i)\b(Basic|Bearer|NTLM|Negotiate)\s+[A-Za-z0-9+/=._~-]{8,}"),
     r"\1 " + REDACTED),
    (re.compile(r"""(?i)(["']?(?:access_token|refresh_token|id_token|client_secret|password)"""
                r"""["']?\s*[:=]\s*["']?)[^"'&\s,}]+"""), r"\1" + REDACTED),
)


def redact_text(text: str) -> str:
    """Remove credentials a generic pattern can recognise (auth headers, token fields)."""
    for pattern, replacement in _TOKEN_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_policy: contextvars.ContextVar[OutboundPolicy | None] = contextvars.ContextVar(
    "outbound_policy", default=None
)
_run: contextvars.ContextVar[RunState | None] = contextvars.ContextVar("outbound_run", default=None)
_check: contextvars.ContextVar[str] = contextvars.ContextVar("outbound_check", default="")
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "outbound_deadline", default=None
)
#: Used when no run set a policy (e.g. a thread exchangelib started itself): production-strict.
_default_policy = OutboundPolicy()


def set_default_policy(policy: OutboundPolicy) -> None:
    """Make ``policy`` the process default (the connector does this once in ``create_app``)."""
    global _default_policy
    _default_policy = policy


def current_policy() -> OutboundPolicy:
    return _policy.get() or _default_policy


def current_run() -> RunState | None:
    return _run.get()


@contextmanager
def using(policy: OutboundPolicy, run: RunState | None = None) -> Iterator[None]:
    """Apply ``policy`` (and record into ``run``) for requests made in this context."""
    t1, t2 = _policy.set(policy), _run.set(run)
    try:
        yield
    finally:
        _run.reset(t2)
        _policy.reset(t1)


@contextmanager
def in_check(key: str, deadline: float | None) -> Iterator[None]:
    """Attribute requests to check ``key`` and end each of them by ``deadline`` (monotonic)."""
    t1, t2 = _check.set(key), _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(t2)
        _check.reset(t1)


def _ntlm_type(value: str) -> int:
    try:
        raw = base64.b64decode(value.split(None, 1)[1])
    except (IndexError, ValueError):
        return 0
    return int.from_bytes(raw[8:12], "little") if len(raw) >= 12 else 0


def _credential_kind(request: requests.PreparedRequest) -> str | None:
    """Return ``"logon"`` for a request that is a logon attempt, ``"handshake"`` for NTLM type 1."""
    header = request.headers.get("Authorization", "")
    scheme = header.split(" ", 1)[0].lower()
    if scheme in ("basic", "bearer"):
        return "logon"
    if scheme in ("ntlm", "negotiate"):
        return "logon" if _ntlm_type(header) == 3 else "handshake"
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if b"client_secret=" in body:
        return "logon"
    return None


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        text = body[:MAX_TRACE_BODY].decode("utf-8", "replace")
        truncated = len(body) > MAX_TRACE_BODY
    else:
        text, truncated = str(body)[:MAX_TRACE_BODY], len(str(body)) > MAX_TRACE_BODY
    return text + ("\n[truncated]" if truncated else "")


def _headers(headers: Any, run: RunState) -> dict[str, str]:
    clean = {}
    for name, value in headers.items():
        if name.lower() in ("authorization", "proxy-authorization", "cookie", "set-cookie"):
            value = f"{str(value).split(' ', 1)[0]} {REDACTED}" if value else REDACTED
        elif name.lower() == "www-authenticate" and " " in str(value):
            scheme, _, rest = str(value).partition(" ")
            if scheme.lower() in ("ntlm", "negotiate"):
                value = f"{scheme} {REDACTED}"
        clean[name] = run.redact(str(value))
    return clean


class GuardedAdapter(HTTPAdapter):
    """An HTTP adapter that checks every destination and connects to the address it checked."""

    def send(self, request: requests.PreparedRequest, stream: bool = False,  # type: ignore[override]
             timeout: Any = None, verify: Any = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        policy, run, check = current_policy(), current_run(), _check.get()
        url = urlsplit(request.url or "")
        scheme, host = url.scheme.lower(), (url.hostname or "").lower()
        port = url.port or (443 if scheme == "https" else 80)
        kind = _credential_kind(request)

        def refuse(code: str, reason: str) -> OutboundBlocked:
            if run is not None:
                run.block(Blocked(check, host, code, reason))
            log.warning("Outbound request to %s refused: %s", host, code)
            return OutboundBlocked(reason, code, host)

        if scheme not in ("http", "https") or not host:
            raise refuse("address_blocked", f"Only http(s) URLs can be reached, not {scheme}.")
        allowed = policy.allowed(host, port)
        confining = run is not None and run.confine_to is not None
        if scheme == "http" and kind is not None and (confining or not allowed):
            raise refuse("credentials_over_http", "Credentials are never sent over plain http.")
        if scheme == "http" and not allowed and request.method != "GET":
            raise refuse("credentials_over_http", "Only an unauthenticated GET may use http.")
        if (run is not None and run.confine_to is not None
                and not in_domain(host, run.confine_to) and host not in run.confirmed_hosts):
            raise refuse("autodiscover_redirect_unconfirmed",
                         f"Autodiscover led to {host}, outside {run.confine_to}.")
        if run is not None and kind is not None and run.auth_rejected:
            raise refuse("authentication_failed",
                         "Exchange already rejected these credentials; not trying again.")
        try:
            addresses = policy.resolver.resolve(host)
        except (OSError, UnicodeError) as e:
            if run is not None:
                run.block(Blocked(check, host, "dns_failed", str(e)))
            raise requests.exceptions.ConnectionError(f"{host} has no DNS entry") from e
        if not allowed:
            for address in addresses:
                reason = classify_ip(address)
                if reason is not None:
                    raise refuse("address_blocked",
                                 f"{host} resolves to a {reason} address, which is not reachable.")
        pinned = addresses[0]
        request._guard_ip = pinned  # type: ignore[attr-defined]
        default = 443 if scheme == "https" else 80
        request.headers["Host"] = host if port == default else f"{host}:{port}"
        if policy.ca_bundle and verify is not False:
            verify = policy.ca_bundle
        timeout = self._timeout(timeout, policy)
        exchange = None
        if run is not None:
            exchange = Exchange(check, request.method or "", run.redact(request.url or ""),
                                _headers(request.headers, run), run.redact(_text(request.body)))
            if kind == "logon":
                run.credentialed_requests += 1
        started = time.monotonic()
        try:
            response = super().send(request, stream=True, timeout=timeout, verify=verify,
                                    cert=cert, proxies={})
            if not stream and response.status_code != 401:
                self._read_capped(response, policy.max_response_bytes)
            elif int(response.headers.get("Content-Length") or 0) > policy.max_response_bytes:
                response.close()
                raise ResponseTooLarge("The response exceeded the size limit.")
        except Exception as e:
            if exchange is not None and run is not None:
                exchange.error = run.redact(f"{type(e).__name__}: {e}")[:500]
                exchange.ms = int((time.monotonic() - started) * 1000)
                run.record(exchange)
            raise
        if exchange is not None and run is not None:
            exchange.status = response.status_code
            exchange.response_headers = _headers(response.headers, run)
            exchange.response_body = "" if stream or response.status_code == 401 else \
                run.redact(_text(response.content))
            exchange.ms = int((time.monotonic() - started) * 1000)
            run.record(exchange)
            if response.status_code == 401 and kind == "logon":
                # One wrong password is one logon attempt at the customer's Exchange (row 35).
                run.auth_rejected = True
        return response

    @staticmethod
    def _timeout(given: Any, policy: OutboundPolicy) -> Any:
        limit = policy.timeout
        deadline = _deadline.get()
        if deadline is not None:
            limit = max(0.05, min(limit, deadline - time.monotonic()))
        if isinstance(given, tuple):
            return tuple(min(t, limit) if t else limit for t in given)
        return min(given, limit) if given else limit

    @staticmethod
    def _read_capped(response: requests.Response, cap: int) -> None:
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > cap:
                response.close()
                raise ResponseTooLarge(f"The response exceeded {cap} bytes.")
            chunks.append(chunk)
        response._content = b"".join(chunks)  # type: ignore[attr-defined]
        response._content_consumed = True  # type: ignore[attr-defined]

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        pinned = getattr(request, "_guard_ip", None)
        if pinned is None:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"]
        host_params["host"] = pinned
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname  # type: ignore[typeddict-unknown-key]
            pool_kwargs["assert_hostname"] = hostname  # type: ignore[typeddict-unknown-key]
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)


class RedactingFilter(logging.Filter):
    """Rewrite log records of HTTP and auth libraries so no credential reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop its arguments rather than fail
            message = str(record.msg)
        run = current_run()
        record.msg = run.redact(message) if run is not None else redact_text(message)
        record.args = None
        return True


_LOGGERS = ("exchangelib", "requests_oauthlib", "oauthlib", "requests_ntlm", "spnego", "urllib3",
            "authlib")
_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Attach the redacting filter to every existing logger of the HTTP and auth libraries."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in _LOGGERS]
    for name in [*_LOGGERS, *names]:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


def install() -> None:
    """Route all of exchangelib's HTTP through the guard (idempotent; runs at import)."""
    from exchangelib.protocol import BaseProtocol

    BaseProtocol.HTTP_ADAPTER_CLS = GuardedAdapter
    install_log_redaction()


install()
