"""HTTP authentication as Exchange offers it: Basic, NTLM (pyspnego acceptor) and Bearer."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import spnego
import spnego.exceptions

from .directory import Directory
from .permissions import Principal

TOKEN_LIFETIME = 3599

_ntlm_lock = threading.Lock()
_ntlm_entries: dict[str, str] = {}
_ntlm_file: str | None = None


def register_ntlm_users(directory: Directory) -> None:
    """pyspnego's acceptor reads credentials from the file named by NTLM_USER_FILE (process-wide),
    so every running sandbox adds its accounts to one shared file."""
    global _ntlm_file
    netbios = directory.domain.split(".")[0].upper()
    with _ntlm_lock:
        for acct in directory.accounts.values():
            if acct.kind == "roomlist":
                continue
            _ntlm_entries[f":{acct.address}"] = acct.password
            _ntlm_entries[f"{netbios}:{acct.local_part}"] = acct.password
        if _ntlm_file is None:
            fd, _ntlm_file = tempfile.mkstemp(prefix="sandbox-ntlm-", suffix=".txt")
            os.close(fd)
        with open(_ntlm_file, "w", encoding="utf-8") as fh:
            for user, password in _ntlm_entries.items():
                fh.write(f"{user}:{password}\n")
        os.environ["NTLM_USER_FILE"] = _ntlm_file


@dataclass
class AuthResult:
    principal: Principal | None
    challenge: str | None = None  # WWW-Authenticate value for a 401 continuation
    reason: str = ""


class Authenticator:
    def __init__(self, directory: Directory, channel_bindings: Any = None) -> None:
        self.directory = directory
        #: Extended Protection: the TLS channel binding every NTLM AUTHENTICATE must carry.
        self.channel_bindings = channel_bindings
        self.tokens: dict[str, tuple[str, float]] = {}
        self._conns: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        register_ntlm_users(directory)

    def _account_for(self, username: str) -> str | None:
        user = username.strip().lower()
        if "\\" in user:
            domain, user = user.split("\\", 1)
        if "@" not in user:
            user = f"{user}@{self.directory.domain}"
        acct = self.directory.account(user)
        return acct.address if acct and acct.kind != "roomlist" else None

    # -- Bearer -----------------------------------------------------------------------------
    def issue_token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "Only client_credentials is supported."}
        app = self.directory.apps.get(form.get("client_id", ""))
        if app is None or app.tenant_id != tenant:
            return 400, {"error": "unauthorized_client",
                         "error_description": "AADSTS700016: Application not found in tenant."}
        if not secrets.compare_digest(form.get("client_secret", ""), app.client_secret):
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided."}
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = (app.client_id, time.time() + TOKEN_LIFETIME)
        return 200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME,
                     "ext_expires_in": TOKEN_LIFETIME, "access_token": token}

    # -- request authentication ---------------------------------------------------------------
    def authenticate(self, environ: dict[str, Any]) -> AuthResult:
        header = environ.get("HTTP_AUTHORIZATION", "")
        conn = environ.get("werkzeug.socket")
        state = self._conns.get(conn) if conn is not None else None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if not header:
            if state and state.get("principal"):
                return AuthResult(state["principal"])
            return AuthResult(None, reason="no credentials")
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return AuthResult(None, reason="malformed Basic header")
            address = self._account_for(user)
            acct = self.directory.account(address) if address else None
            if acct is None or not secrets.compare_digest(acct.password, password):
                return AuthResult(None, reason="wrong user name or password")
            return AuthResult(Principal("account", acct.address))
        if scheme == "bearer":
            with self._lock:
                entry = self.tokens.get(value.strip())
            if entry is None or entry[1] < time.time():
                return AuthResult(None, reason="invalid or expired token")
            return AuthResult(Principal("app", entry[0]))
        if scheme in ("ntlm", "negotiate"):
            return self._ntlm(conn, value.strip())
        return AuthResult(None, reason=f"unsupported scheme {scheme}")

    def _ntlm(self, conn: Any, token: str) -> AuthResult:
        try:
            raw = base64.b64decode(token)
        except ValueError:
            return AuthResult(None, reason="malformed NTLM token")
        if conn is None:
            return AuthResult(None, reason="NTLM needs a persistent connection")
        # message type is the little-endian uint32 after the 8-byte signature
        msg_type = int.from_bytes(raw[8:12], "little") if len(raw) >= 12 else 0
        with self._lock:
            if msg_type == 1:
                ctx = spnego.server(protocol="ntlm", channel_bindings=self.channel_bindings)
                self._conns[conn] = {"ctx": ctx}
            state = self._conns.get(conn)
        if state is None or "ctx" not in state:
            return AuthResult(None, reason="NTLM message out of sequence")
        ctx = state["ctx"]
        try:
            out = ctx.step(raw)
        except (spnego.exceptions.SpnegoError, ValueError) as exc:
            with self._lock:
                self._conns.pop(conn, None)
            return AuthResult(None, reason=f"NTLM rejected: {exc.__class__.__name__}")
        if not ctx.complete:
            return AuthResult(None, challenge="NTLM " + base64.b64encode(out or b"").decode())
        address = self._account_for(str(ctx.client_principal or ""))
        if address is None:
            return AuthResult(None, reason="unknown NTLM user")
        principal = Principal("account", address)
        with self._lock:
            self._conns[conn] = {"principal": principal}
        return AuthResult(principal)


def tls_channel_bindings(cert_file: str | os.PathLike[str]) -> Any:
    """The ``tls-server-end-point`` binding of the certificate in ``cert_file`` (RFC 5929), as
    Exchange checks it when Extended Protection is on."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from requests_ntlm.requests_ntlm import _get_certificate_hash
    from spnego.channel_bindings import GssChannelBindings

    with open(cert_file, "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    digest = _get_certificate_hash(cert.public_bytes(serialization.Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
