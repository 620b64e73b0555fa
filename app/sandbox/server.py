"""The sandbox's WSGI application and SandboxServer (background thread, free port, TLS)."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from lxml import etree

from . import autodiscover, schema
from .auth import Authenticator, tls_channel_bindings
from .directory import Directory, load_directory
from .faults import FaultScript, ScriptedFault
from .httpd import WSGIServer
from .ops import HANDLERS, Context
from .permissions import Principal, can_impersonate
from .soap import NSMAP, SOAP, SoapFault, envelope, fault, serialize
from .store import Store

EWS_PATH = "/ews/exchange.asmx"
XML_TYPE = "text/xml; charset=utf-8"


@dataclass
class LogEntry:
    operation: str
    user: str | None
    status: int
    impersonated: str | None = None
    fault: str | None = None
    response_code: str | None = None
    ms: float = 0.0
    at: float = field(default_factory=time.time)
    detail: str | None = None  # Autodiscover: the addresses asked about, "-> target" if redirected


class SandboxApp:
    """WSGI callable: EWS, Autodiscover, OAuth token endpoint and the /_sandbox/ control API."""

    def __init__(self, directory: Directory, latency_ms: int = 0, validate_responses: bool = False,
                 log_dir: str | Path | None = None,
                 auth_methods: tuple[str, ...] = ("NTLM", "Basic"),
                 source: str | Path | None = None, channel_bindings: Any = None) -> None:
        self.source = source
        self.directory = directory
        self.store = Store(directory)
        self.channel_bindings = channel_bindings
        self.auth = Authenticator(directory, channel_bindings)
        self.faults = FaultScript()
        self.latency_ms = latency_ms
        self.validate_requests = True
        self.validate_responses = validate_responses
        self.auth_methods = auth_methods
        self.log: list[LogEntry] = []
        self.schema_errors: list[tuple[str, str]] = []
        self.last_responses: dict[str, bytes] = {}
        self.ews_url = ""
        self.autodiscover_redirect: autodiscover.Redirect | None = None
        self._lock = threading.Lock()
        self.log_file = Path(log_dir) / "requests.jsonl" if log_dir else None

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        directory = load_directory(self.source)
        with self._lock:
            self.faults.clear()
            self.latency_ms = 0
            self.autodiscover_redirect = None
            self.log.clear()
            self.schema_errors.clear()
            self.last_responses.clear()
            self.directory = directory
            self.store = Store(directory)
            self.auth = Authenticator(directory, self.channel_bindings)

    def record(self, entry: LogEntry) -> None:
        with self._lock:
            self.log.append(entry)
        if self.log_file is not None:
            with self._lock, self.log_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(entry)) + "\n")

    def count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for e in self.log if operation in (None, e.operation))

    # -- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        lower = path.lower()
        if lower.startswith("/_sandbox/"):
            return self.control(environ, start_response, lower[len("/_sandbox/") :], method)
        if lower.endswith("/oauth2/v2.0/token") and method == "POST":
            return self.token(environ, start_response, path.strip("/").split("/")[0])
        if lower.startswith("/autodiscover/"):
            return autodiscover.handle(self, environ, start_response)
        if lower == EWS_PATH:
            if method != "POST":
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"Exchange sandbox EWS endpoint: POST SOAP 1.1 here.\n"]
            return self.ews(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    def token(self, environ: dict[str, Any], start_response: Any, tenant: str) -> list[bytes]:
        body = _read(environ).decode("utf-8", "replace")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
        status, payload = self.auth.issue_token(tenant, form)
        self.record(LogEntry("OAuthToken", form.get("client_id"), status))
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", "application/json")])
        return [json.dumps(payload).encode()]

    def challenge_headers(self) -> list[tuple[str, str]]:
        headers = [("Content-Type", "text/html")]
        for method in self.auth_methods:
            value = f'Basic realm="{self.directory.domain}"' if method == "Basic" else method
            headers.append(("WWW-Authenticate", value))
        return headers

    def unauthorized(self, start_response: Any, challenge: str | None = None) -> list[bytes]:
        headers = [("Content-Type", "text/html"), ("WWW-Authenticate", challenge)] if challenge \
            else self.challenge_headers()
        start_response("401 Unauthorized", headers)
        return [b"<html><body>401 - Unauthorized: Access is denied due to invalid "
                b"credentials.</body></html>"]

    def ews(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        started = time.perf_counter()
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        raw = _read(environ)
        try:
            doc = etree.fromstring(raw, parser=_PARSER)
            body_el = doc.find(f"{{{SOAP}}}Body")
            request = body_el[0] if body_el is not None and len(body_el) else None
        except etree.XMLSyntaxError:
            doc, request = None, None
        operation = etree.QName(request).localname if request is not None else "(invalid)"
        result = self.auth.authenticate(environ)
        if result.principal is None:
            self.record(LogEntry(operation, None, 401, fault=result.reason))
            return self.unauthorized(start_response, result.challenge)
        principal = result.principal
        scripted = self.faults.take(operation)
        if scripted is not None:
            return self.apply_fault(environ, start_response, scripted, operation, principal,
                                    doc, request)
        status, payload, code, impersonated = self.dispatch(doc, request, operation, principal)
        ms = (time.perf_counter() - started) * 1000
        self.record(LogEntry(operation, principal.name, status, impersonated,
                             fault=code if status != 200 else None, response_code=code, ms=ms))
        start_response("200 OK" if status == 200 else "500 Internal Server Error",
                       [("Content-Type", XML_TYPE), ("Content-Length", str(len(payload)))])
        return [payload]

    def dispatch(self, doc: Any, request: Any, operation: str, principal: Principal
                 ) -> tuple[int, bytes, str, str | None]:
        impersonated = None
        try:
            if request is None:
                raise SoapFault("ErrorSchemaValidation",
                                "The request failed schema validation: the body is not a SOAP "
                                "envelope with an operation element.")
            handler = HANDLERS.get(operation)
            if handler is None:
                raise SoapFault("ErrorInvalidOperation",
                                f"The sandbox does not implement the operation {operation}.")
            if self.validate_requests:
                error = schema.first_error(request)
                if error:
                    raise SoapFault("ErrorSchemaValidation",
                                    f"The request failed schema validation: {error}",
                                    {"LineNumber": "1", "LinePosition": "1",
                                     "Violation": error})
            with self._lock:
                directory, store = self.directory, self.store
            header = doc.find(f"{{{SOAP}}}Header")
            imp = header.find("t:ExchangeImpersonation", NSMAP) if header is not None else None
            if imp is not None:
                impersonated = self.impersonate(directory, principal, imp)
            ctx = Context(directory, store, principal, impersonated)
            with store.lock:
                response = handler(ctx, request)
            root, body = envelope()
            body.append(response)
            payload = serialize(root)
            code = _first_code(response)
            if self.validate_responses:
                error = schema.first_error(response)
                if error:
                    self.schema_errors.append((operation, error))
            self.last_responses[operation] = payload
            return 200, payload, code, impersonated
        except SoapFault as exc:
            payload = fault(exc.code, exc.message, exc.values, exc.faultcode)
            self.last_responses[f"{operation}:fault"] = payload
            return 500, payload, exc.code, impersonated

    def impersonate(self, directory: Directory, principal: Principal, imp: Any) -> str:
        sid = imp.find("t:ConnectingSID", NSMAP)
        ids = [c for c in sid] if sid is not None else []
        if len(ids) != 1:
            raise SoapFault("ErrorInvalidExchangeImpersonationHeaderData",
                            "The impersonation header must name exactly one identity.")
        ident = etree.QName(ids[0]).localname
        value = (ids[0].text or "").strip().lower()
        if ident == "PrincipalName" and "@" not in value:
            value = f"{value}@{directory.domain}"
        if ident == "SID":
            raise SoapFault("ErrorImpersonationFailed",
                            "The sandbox resolves impersonation by SMTP address or UPN only.")
        target = directory.mailbox(value)
        if target is None:
            raise SoapFault("ErrorNonExistentMailbox",
                            "The SMTP address has no mailbox associated with it.")
        if not can_impersonate(directory, principal, target.address):
            raise SoapFault("ErrorImpersonateUserDenied",
                            "The account does not have permission to impersonate the requested "
                            "user.")
        return target.address

    # -- faults -----------------------------------------------------------------------------
    def apply_fault(self, environ: dict[str, Any], start_response: Any, f: ScriptedFault,
                    operation: str, principal: Principal, doc: Any, request: Any) -> list[bytes]:
        self.record(LogEntry(operation, principal.name, 500, fault=f.kind))
        if f.kind == "server_busy" or f.kind == "soap_fault":
            code = "ErrorServerBusy" if f.kind == "server_busy" else f.code
            values = {"BackOffMilliseconds": str(f.back_off_ms)} if code == "ErrorServerBusy" \
                else None
            payload = fault(code, "The server cannot service this request right now. "
                                  "Try again later." if code == "ErrorServerBusy" else code, values)
            start_response("500 Internal Server Error", [("Content-Type", XML_TYPE)])
            return [payload]
        if f.kind == "http_500":
            start_response("500 Internal Server Error", [("Content-Type", "text/html")])
            return [b"<html><body><h1>500 - Internal server error.</h1></body></html>"]
        if f.kind == "http_503":
            start_response("503 Service Unavailable", [("Content-Type", "text/html")])
            return [b"<html><body>Service Unavailable</body></html>"]
        if f.kind == "unauthorized":
            return self.unauthorized(start_response)
        if f.kind == "reset":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            raise ConnectionResetError("sandbox: scripted connection reset")
        _, payload, _, _ = self.dispatch(doc, request, operation, principal)
        if f.kind == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        else:  # malformed
            payload = b"<?xml version='1.0' encoding='utf-8'?>\n<<Exchange sandbox: malformed>>"
        start_response("200 OK", [("Content-Type", XML_TYPE),
                                  ("Content-Length", str(len(payload)))])
        return [payload]

    def set_autodiscover_redirect(self, kind: str | None, target: str | None = None,
                                  mailboxes: Iterable[str] | None = None) -> None:
        """Answer Autodiscover with redirects (kind "url" or "address"); None turns it off."""
        self.autodiscover_redirect = None if kind is None else autodiscover.Redirect.make(
            kind, target, mailboxes, self.directory.domain)

    # -- control API ------------------------------------------------------------------------
    def control(self, environ: dict[str, Any], start_response: Any, action: str,
                method: str) -> list[bytes]:
        payload: Any = {"ok": True}
        status = "200 OK"
        data: dict[str, Any] = {}
        if method == "POST":
            raw = _read(environ)
            data = json.loads(raw) if raw.strip() else {}
        if action == "health":
            payload = {"ok": True, "ews_url": self.ews_url}
        elif action == "requests":
            with self._lock:
                payload = [asdict(e) for e in self.log]
        elif action == "counters":
            with self._lock:
                counts: dict[str, int] = {}
                for e in self.log:
                    counts[e.operation] = counts.get(e.operation, 0) + 1
            payload = counts
        elif action == "reset" and method == "POST":
            self.reset()
        elif action == "latency" and method == "POST":
            self.latency_ms = int(data.get("ms", 0))
        elif action == "faults" and method == "POST":
            try:
                self.faults.add(ScriptedFault(**data))
            except (TypeError, ValueError) as exc:
                status, payload = "400 Bad Request", {"ok": False, "error": str(exc)}
        elif action == "faults":
            payload = [asdict(f) for f in self.faults.pending()]
        elif action == "autodiscover-redirect" and method == "POST":
            try:
                self.set_autodiscover_redirect(data.get("kind"), data.get("target"),
                                               data.get("mailboxes"))
            except (TypeError, ValueError) as exc:
                status, payload = "400 Bad Request", {"ok": False, "error": str(exc)}
        elif action == "autodiscover-redirect":
            redirect = self.autodiscover_redirect
            payload = redirect.as_dict() if redirect is not None else None
        else:
            status, payload = "404 Not Found", {"ok": False, "error": "unknown control action"}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(payload).encode()]


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _read(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _first_code(response: Any) -> str:
    code = response.find(".//m:ResponseCode", NSMAP)
    return code.text if code is not None and code.text else "NoError"


class SandboxServer:
    """Run the sandbox in a background thread: ``with SandboxServer() as server: ...``."""

    def __init__(self, directory: str | Path | None = None, host: str = "127.0.0.1",
                 port: int = 0, latency_ms: int = 0, tls_cert: str | Path | None = None,
                 tls_key: str | Path | None = None, log_dir: str | Path | None = None,
                 validate_responses: bool = False,
                 auth_methods: tuple[str, ...] = ("NTLM", "Basic"),
                 hostname: str | None = None, extended_protection: bool = False) -> None:
        if extended_protection and not tls_cert:
            raise ValueError("Extended Protection binds NTLM to TLS: give tls_cert too")
        bindings = tls_channel_bindings(tls_cert) if extended_protection and tls_cert else None
        self.app = SandboxApp(load_directory(directory), latency_ms, validate_responses,
                              log_dir, auth_methods, source=directory,
                              channel_bindings=bindings)
        self.host = host
        self.port = port
        self.hostname = hostname or host
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        schema.preload()
        ssl_context = None
        if self.tls_cert:
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(str(self.tls_cert), str(self.tls_key or self.tls_cert))
        self._server = WSGIServer(self.host, self.port, self.app, ssl_context)
        self.port = self._server.server_port
        self.app.ews_url = self.ews_url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"ews-sandbox-{self.port}")
        self._thread.start()
        schema.get_schema()  # wait until the schema is loaded so the first request is fast
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.hostname}:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.base_url}/autodiscover/autodiscover.svc"

    def token_url(self, tenant_id: str) -> str:
        return f"{self.base_url}/{tenant_id}/oauth2/v2.0/token"

    # -- knobs ------------------------------------------------------------------------------
    @property
    def directory(self) -> Directory:
        return self.app.directory

    def script_fault(self, operation: str = "*", kind: str = "server_busy", count: int = 1,
                     back_off_ms: int = 30000, after: int = 0,
                     code: str = "ErrorServerBusy") -> None:
        self.app.faults.add(ScriptedFault(operation, kind, count, after, back_off_ms, code))

    def set_latency(self, ms: int) -> None:
        self.app.latency_ms = ms

    def autodiscover_redirect(self, kind: str | None, target: str | None = None, *,
                              mailboxes: Iterable[str] | None = None) -> None:
        """Make Autodiscover answer with redirects, as Exchange does for moved mailboxes.

        kind "url": ErrorCode RedirectUrl, RedirectTarget ``target`` (the Autodiscover URL to ask
        instead); "address": ErrorCode RedirectAddress, RedirectTarget ``target`` (the e-mail
        address to autodiscover instead). ``mailboxes`` limits it to those addresses (names
        without "@" get the directory's domain); None turns redirects off. reset() does too.
        """
        self.app.set_autodiscover_redirect(kind, target, mailboxes)

    @property
    def requests(self) -> list[LogEntry]:
        return list(self.app.log)

    def count(self, operation: str | None = None) -> int:
        return self.app.count(operation)

    @property
    def schema_errors(self) -> list[tuple[str, str]]:
        return list(self.app.schema_errors)

    def reset(self) -> None:
        self.app.reset()


