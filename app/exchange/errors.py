"""Exchange failures in our terms: exchangelib's exceptions are translated here and nowhere else.

Each domain error carries a stable ``code`` (the catalogue in :mod:`app.exchange.catalogue`
explains each one); :func:`observe` turns any exception a check met into a :class:`Seen`, the
plain record of what Exchange or the network answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from exchangelib import errors as ews
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from app.exchange.outbound import OutboundBlocked, ResponseTooLarge, RunState


class ExchangeError(Exception):
    """Base for every failure this package reports."""

    code = "exchange_error"


class AuthenticationFailed(ExchangeError):
    code = "authentication_failed"


class AccountLocked(ExchangeError):
    code = "account_locked"


class ImpersonationDenied(ExchangeError):
    code = "impersonation_denied"


class MailboxNotFound(ExchangeError):
    code = "mailbox_not_found"


class AccessDenied(ExchangeError):
    code = "access_denied"


class ExchangeUnreachable(ExchangeError):
    code = "exchange_unreachable"


class ExchangeBusy(ExchangeError):
    code = "exchange_busy"

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  #: seconds, as Exchange asked


@dataclass(frozen=True)
class Seen:
    """What a check saw: an EWS ResponseCode, an HTTP status or a network condition."""

    #: ews, http, auth, tls, dns, blocked, network, timeout, malformed, autodiscover, oauth, busy
    kind: str
    #: What to show after "saw": ``ErrorAccessDenied``, ``HTTP 401``, ``connection reset``…
    detail: str
    #: The catalogue code this observation maps to when nothing more specific applies.
    code: str
    #: Seconds Exchange asked us to wait (ErrorServerBusy BackOffMilliseconds).
    back_off: float | None = None
    #: Host involved (TLS, DNS, blocked, autodiscover redirects).
    host: str | None = None

    @property
    def ews_code(self) -> str | None:
        return self.detail if self.kind == "ews" else None


_TLS_PATTERNS = (
    (re.compile(r"hostname mismatch|doesn't match|not valid for", re.I), "tls_name_mismatch",
     "certificate name mismatch"),
    (re.compile(r"expired", re.I), "tls_expired", "certificate expired"),
    (re.compile(r"self[- ]signed|unable to get local issuer|unknown ca|not trusted", re.I),
     "tls_untrusted", "certificate not trusted"),
)


def tls_seen(message: str, host: str | None = None) -> Seen:
    """Name a TLS failure plainly from the SSL library's message."""
    for pattern, code, detail in _TLS_PATTERNS:
        if pattern.search(message):
            return Seen("tls", detail, code, host=host)
    return Seen("tls", "TLS handshake failed", "tls_error", host=host)


def _network(message: str, run: RunState | None, check: str | None) -> Seen:
    if run is not None and check is not None:
        blocked = run.blocked_for(check)
        if blocked:
            b = blocked[-1]
            kind = "dns" if b.code == "dns_failed" else "blocked"
            return Seen(kind, b.reason if kind == "dns" else "request refused by the outbound "
                        "guard", b.code, host=b.host)
    lower = message.lower()
    if "responsetoolarge" in lower or "exceeded" in lower and "bytes" in lower:
        return Seen("malformed", "response too large", "response_too_large")
    if "ssl" in lower or "certificate" in lower:
        return tls_seen(message)
    if "timed out" in lower or "timeout" in lower:
        return Seen("timeout", "no answer in time", "timeout")
    if "no dns entry" in lower or "name or service not known" in lower:
        return Seen("dns", "no DNS entry", "dns_failed")
    if "reset" in lower or "aborted" in lower or "remotedisconnected" in lower or \
            "connection broken" in lower or "incompleteread" in lower:
        return Seen("network", "connection reset", "connection_reset")
    return Seen("network", "connection failed", "connection_failed")


def observe(exc: BaseException, run: RunState | None = None, check: str | None = None) -> Seen:
    """Return what ``exc`` says about Exchange, in our vocabulary (never with a secret in it)."""
    if isinstance(exc, ExchangeError):
        return Seen("ews", type(exc).__name__, exc.code)
    if isinstance(exc, OutboundBlocked):
        return Seen("blocked", "request refused by the outbound guard", exc.code, host=exc.host)
    if isinstance(exc, ResponseTooLarge):
        return Seen("malformed", "response too large", "response_too_large")
    if isinstance(exc, ews.UnauthorizedError):
        if run is not None and check is not None and run.blocked_for(check):
            return _network(str(exc), run, check)
        text = str(exc).lower()
        if "locked out" in text:
            return Seen("auth", "HTTP 401 (account locked out)", "account_locked")
        return Seen("auth", "HTTP 401", "authentication_failed")
    if isinstance(exc, ews.ErrorServerBusy):
        # exchangelib turns a lost connection into ErrorServerBusy when its pool is larger than
        # one; the trace says what really happened.
        last = run.traces(check)[-1] if run is not None and check and run.traces(check) else None
        if last is not None and last.get("error"):
            return _network(str(last["error"]), run, check)
        if "503" in str(exc):
            return Seen("http", "HTTP 503", "server_unavailable")
        return Seen("busy", "ErrorServerBusy", "exchange_busy", back_off=exc.back_off)
    if isinstance(exc, ews.ErrorTimeoutExpired):
        return _network(str(exc), run, check)
    if isinstance(exc, ews.ErrorImpersonateUserDenied | ews.ErrorImpersonationDenied
                  | ews.ErrorImpersonationFailed):
        return Seen("ews", type(exc).__name__, "impersonation_denied")
    if isinstance(exc, ews.ErrorNonExistentMailbox | ews.ErrorMailRecipientNotFound):
        return Seen("ews", type(exc).__name__, "mailbox_not_found")
    if isinstance(exc, ews.ErrorNoFreeBusyAccess):
        return Seen("ews", "ErrorNoFreeBusyAccess", "freebusy_denied")
    if isinstance(exc, ews.ErrorAccountDisabled):
        return Seen("ews", "ErrorAccountDisabled", "account_disabled")
    if isinstance(exc, ews.ErrorMailboxStoreUnavailable | ews.ErrorMailboxMoveInProgress):
        return Seen("ews", type(exc).__name__, "mailbox_unavailable")
    if isinstance(exc, ews.ErrorNameResolutionNoResults):
        return Seen("ews", "ErrorNameResolutionNoResults", "room_list_failed")
    if isinstance(exc, ews.ErrorAccessDenied):
        return Seen("ews", "ErrorAccessDenied", "access_denied")
    if isinstance(exc, ews.CASError):
        return Seen("http", "X-CasErrorCode", "server_unavailable")
    if isinstance(exc, ews.AutoDiscoverFailed | ews.AutoDiscoverCircularRedirect):
        return _autodiscover(str(exc), run, check)
    if isinstance(exc, ews.MalformedResponseError):
        return _malformed(str(exc))
    if isinstance(exc, ews.RedirectError):
        return Seen("http", "HTTP redirect", "endpoint_not_ews")
    if isinstance(exc, ews.ResponseMessageError):
        return Seen("ews", type(exc).__name__, "exchange_error")
    if isinstance(exc, ews.SOAPError):
        if "bad soap response" in str(exc).lower():
            return Seen("malformed", "malformed XML", "malformed_response")
        return Seen("malformed", "unknown SOAP fault", "exchange_error")
    if isinstance(exc, ews.TransportError):
        return _network(str(exc), run, check) if not _looks_malformed(str(exc)) else \
            _malformed(str(exc))
    if isinstance(exc, oauth_errors.OAuth2Error):
        return _oauth(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return tls_seen(str(exc))
    if isinstance(exc, requests.exceptions.RequestException | OSError):
        return _network(str(exc), run, check)
    if isinstance(exc, SyntaxError | ValueError) and "xml" in str(exc).lower():
        return _malformed(str(exc))
    return Seen("error", type(exc).__name__, "unexpected_error")


def _looks_malformed(message: str) -> bool:
    lower = message.lower()
    return any(s in lower for s in ("xml", "parse", "no valid version headers", "syntax"))


def _malformed(message: str) -> Seen:
    match = re.search(r"Code: (\d{3})", message)
    if match and match.group(1) == "403":
        return Seen("http", "HTTP 403", "ews_blocked")
    if match and match.group(1) == "404":
        return Seen("http", "HTTP 404", "endpoint_not_ews")
    if match and match.group(1) in ("500", "502", "504"):
        return Seen("http", f"HTTP {match.group(1)}", "server_unavailable")
    return Seen("malformed", "malformed XML", "malformed_response")


def _autodiscover(message: str, run: RunState | None, check: str | None) -> Seen:
    if run is not None and check is not None:
        for b in run.blocked_for(check):
            if b.code == "autodiscover_redirect_unconfirmed":
                return Seen("autodiscover", "redirect to another domain", b.code, host=b.host)
    return Seen("autodiscover", "AutoDiscoverFailed", "autodiscover_failed")


def _oauth(exc: oauth_errors.OAuth2Error) -> Seen:
    error = getattr(exc, "error", "") or ""
    code = {
        "invalid_client": "oauth_invalid_client",
        "unauthorized_client": "oauth_app_not_found",
    }.get(error, "oauth_token_failed")
    return Seen("oauth", f"token endpoint: {error or type(exc).__name__}", code)


@contextmanager
def translated(mailbox: str) -> Iterator[None]:
    """Run exchangelib calls, re-raising their errors as ours (for services outside diagnostics)."""
    try:
        yield
    # Specific ones first: ResponseMessageError subclasses TransportError.
    except ews.ErrorImpersonateUserDenied as e:
        raise ImpersonationDenied(f"The service account may not act as {mailbox}.") from e
    except ews.ErrorNonExistentMailbox as e:
        raise MailboxNotFound(f"{mailbox} has no mailbox.") from e
    except ews.ErrorAccessDenied as e:
        raise AccessDenied(f"The service account may not open {mailbox}'s folder.") from e
    except ews.ErrorServerBusy as e:
        raise ExchangeBusy("Exchange is throttling this account.", e.back_off) from e
    except ews.UnauthorizedError as e:
        if "locked out" in str(e).lower():
            raise AccountLocked("The service account is locked out.") from e
        raise AuthenticationFailed("Exchange rejected the service account's credentials.") from e
    except ews.TransportError as e:
        raise ExchangeUnreachable("Could not reach the EWS endpoint.") from e
