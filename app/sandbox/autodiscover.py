"""Autodiscover: SOAP GetUserSettings (what exchangelib 5 uses) and a minimal POX responder.

A scripted :class:`Redirect` makes both answer with Autodiscover redirect responses, as real
Exchange does: SOAP ``UserResponse`` ErrorCode ``RedirectUrl``/``RedirectAddress`` with the target
in ``RedirectTarget``; POX ``Account/Action`` ``redirectUrl``/``redirectAddr`` with ``RedirectUrl``/
``RedirectAddr``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from .soap import SERVER_VERSION, SOAP

if TYPE_CHECKING:
    from .server import SandboxApp

ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
POX_REQ = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
POX_RESP = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
POX_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
SCHEMAS = ("Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
           "Exchange2013, Exchange2013_SP1, Exchange2016")


REDIRECT_KINDS = {"url": "RedirectUrl", "address": "RedirectAddress"}
_REDIRECT_MESSAGES = {"url": "Redirection URL.", "address": "Redirection address."}


@dataclass(frozen=True)
class Redirect:
    """Answer Autodiscover for ``mailboxes`` (None: every address asked about) with a redirect.

    ``kind`` "url": go ask the Autodiscover service at ``target`` (an https URL) instead;
    "address": start Autodiscover again for the e-mail address ``target``. An address is never
    redirected to itself, so an address redirect inside one sandbox does not loop.
    """

    kind: str
    target: str
    mailboxes: frozenset[str] | None = None

    @classmethod
    def make(cls, kind: str, target: str | None, mailboxes: Iterable[str] | None = None,
             domain: str = "") -> Redirect:
        if kind not in REDIRECT_KINDS:
            raise ValueError(f"redirect kind must be one of {sorted(REDIRECT_KINDS)}, "
                             f"not {kind!r}")
        if target is not None and not isinstance(target, str):
            raise ValueError(f"the redirect target must be a string, not {target!r}")
        target = (target or "").strip()
        if kind == "url" and not target.lower().startswith(("https://", "http://")):
            raise ValueError(f"a URL redirect needs an http(s) URL as target, not {target!r}")
        if kind == "address" and "@" not in target:
            raise ValueError(f"an address redirect needs an e-mail address, not {target!r}")
        if kind == "address":
            target = target.lower()
        boxes = None
        if mailboxes is not None:
            if isinstance(mailboxes, str):
                mailboxes = [mailboxes]
            names = [str(m).strip().lower() for m in mailboxes]
            boxes = frozenset(m if "@" in m else f"{m}@{domain}" for m in names)
        return cls(kind, target, boxes)

    @property
    def error_code(self) -> str:
        return REDIRECT_KINDS[self.kind]

    def applies_to(self, address: str) -> bool:
        address = address.strip().lower()
        if self.kind == "address" and address == self.target:
            return False
        return self.mailboxes is None or address in self.mailboxes

    def pox_target(self) -> str:
        """POX clients POST autodiscover.xml: point a .svc URL at the POX endpoint instead."""
        if self.kind == "url" and self.target.lower().endswith("/autodiscover.svc"):
            return self.target[: -len("autodiscover.svc")] + "autodiscover.xml"
        return self.target

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target,
                "mailboxes": sorted(self.mailboxes) if self.mailboxes is not None else None}


def _settings(app: SandboxApp, address: str, display: str) -> dict[str, str]:
    return {
        "ExternalEwsUrl": app.ews_url,
        "InternalEwsUrl": app.ews_url,
        "AutoDiscoverSMTPAddress": address,
        "UserDisplayName": display,
        "EwsSupportedSchemas": SCHEMAS,
        "CasVersion": "15.01.2507.006",
        "ExternalMailboxServer": app.ews_url.split("/")[2].split(":")[0],
    }


def handle(app: SandboxApp, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ.get("PATH_INFO", "").lower()
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("POST",):
        start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
        return [b"POST only\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    result = app.auth.authenticate(environ)
    from .server import LogEntry

    if result.principal is None:
        app.record(LogEntry("Autodiscover", None, 401, fault=result.reason))
        return app.unauthorized(start_response, result.challenge)
    try:
        doc = etree.fromstring(raw)
    except etree.XMLSyntaxError:
        app.record(LogEntry("Autodiscover", result.principal.name, 400, fault="malformed XML"))
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"malformed XML\n"]
    answers: list[tuple[str, str, str | None]] = []  # (address, error code, redirect target)
    if path.endswith("autodiscover.xml"):
        payload = _pox(app, doc, answers)
    else:
        payload = _soap(app, doc, answers)
    redirected = [a for a in answers if a[2] is not None]
    code = redirected[0][1] if redirected else (answers[0][1] if answers else "NoError")
    detail = ", ".join(f"{a} -> {t}" if t else a for a, _, t in answers) or None
    app.record(LogEntry("Autodiscover", result.principal.name, 200, response_code=code,
                        detail=detail))
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                              ("Content-Length", str(len(payload)))])
    return [payload]


def _soap(app: SandboxApp, doc: Any, answers: list[tuple[str, str, str | None]]) -> bytes:
    users = [(u.text or "").strip().lower() for u in doc.iter(f"{{{ANS}}}Mailbox")]
    wanted = [s.text or "" for s in doc.iter(f"{{{ANS}}}Setting")]
    root = etree.Element(f"{{{SOAP}}}Envelope",
                         nsmap={"s": SOAP, "a": WSA, "i": XSI})  # type: ignore[dict-item]
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    action = etree.SubElement(header, f"{{{WSA}}}Action")
    action.text = f"{ANS}/Autodiscover/GetUserSettingsResponse"
    info = etree.SubElement(header, f"{{{ANS}}}ServerVersionInfo", nsmap={"h": ANS})
    for name in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"):
        etree.SubElement(info, f"{{{ANS}}}{name}").text = SERVER_VERSION[name]
    etree.SubElement(info, f"{{{ANS}}}Version").text = "Exchange2015"
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    msg = etree.SubElement(body, f"{{{ANS}}}GetUserSettingsResponseMessage", nsmap={None: ANS})
    resp = etree.SubElement(msg, f"{{{ANS}}}Response")
    etree.SubElement(resp, f"{{{ANS}}}ErrorCode").text = "NoError"
    etree.SubElement(resp, f"{{{ANS}}}ErrorMessage")
    urs = etree.SubElement(resp, f"{{{ANS}}}UserResponses")
    redirect = app.autodiscover_redirect
    for address in users:
        ur = etree.SubElement(urs, f"{{{ANS}}}UserResponse")
        if redirect is not None and redirect.applies_to(address):
            # No settings: the client must ask again at RedirectTarget (RedirectUrl) or for
            # RedirectTarget (RedirectAddress). The empty lists keep the documented child order.
            etree.SubElement(ur, f"{{{ANS}}}ErrorCode").text = redirect.error_code
            etree.SubElement(ur, f"{{{ANS}}}ErrorMessage").text = \
                _REDIRECT_MESSAGES[redirect.kind]
            etree.SubElement(ur, f"{{{ANS}}}RedirectTarget").text = redirect.target
            etree.SubElement(ur, f"{{{ANS}}}UserSettingErrors")
            etree.SubElement(ur, f"{{{ANS}}}UserSettings")
            answers.append((address, redirect.error_code, redirect.target))
            continue
        acct = app.directory.mailbox(address)
        if acct is None:
            etree.SubElement(ur, f"{{{ANS}}}ErrorCode").text = "InvalidUser"
            etree.SubElement(ur, f"{{{ANS}}}ErrorMessage").text = f"Invalid user: '{address}'"
            answers.append((address, "InvalidUser", None))
            continue
        answers.append((address, "NoError", None))
        etree.SubElement(ur, f"{{{ANS}}}ErrorCode").text = "NoError"
        etree.SubElement(ur, f"{{{ANS}}}ErrorMessage").text = "No error."
        etree.SubElement(ur, f"{{{ANS}}}RedirectTarget").set(f"{{{XSI}}}nil", "true")
        etree.SubElement(ur, f"{{{ANS}}}UserSettingErrors")
        settings = etree.SubElement(ur, f"{{{ANS}}}UserSettings")
        values = _settings(app, acct.address, acct.display_name)
        for name in wanted:
            if name in values:
                s = etree.SubElement(settings, f"{{{ANS}}}UserSetting")
                s.set(f"{{{XSI}}}type", "StringSetting")
                etree.SubElement(s, f"{{{ANS}}}Name").text = name
                etree.SubElement(s, f"{{{ANS}}}Value").text = values[name]
    payload: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return payload


def _pox(app: SandboxApp, doc: Any, answers: list[tuple[str, str, str | None]]) -> bytes:
    email = (doc.findtext(f".//{{{POX_REQ}}}EMailAddress") or "").strip().lower()
    acct = app.directory.mailbox(email)
    redirect = app.autodiscover_redirect
    root = etree.Element(f"{{{POX_RESP}}}Autodiscover", nsmap={None: POX_RESP})
    resp = etree.SubElement(root, f"{{{POX_OUTLOOK}}}Response", nsmap={None: POX_OUTLOOK})
    if redirect is not None and redirect.applies_to(email):
        # As MS-OXDSCLI 4.2's example: Account holds only Action and RedirectAddr/RedirectUrl.
        account = etree.SubElement(resp, f"{{{POX_OUTLOOK}}}Account")
        if redirect.kind == "url":
            etree.SubElement(account, f"{{{POX_OUTLOOK}}}Action").text = "redirectUrl"
            url = etree.SubElement(account, f"{{{POX_OUTLOOK}}}RedirectUrl")
            url.text = redirect.pox_target()
        else:
            etree.SubElement(account, f"{{{POX_OUTLOOK}}}Action").text = "redirectAddr"
            etree.SubElement(account, f"{{{POX_OUTLOOK}}}RedirectAddr").text = redirect.target
        answers.append((email, redirect.error_code, redirect.pox_target()))
    elif acct is None:
        answers.append((email, "InvalidUser", None))
        err = etree.SubElement(resp, f"{{{POX_OUTLOOK}}}Error")
        etree.SubElement(err, f"{{{POX_OUTLOOK}}}ErrorCode").text = "500"
        message = etree.SubElement(err, f"{{{POX_OUTLOOK}}}Message")
        message.text = "The email address can't be found."
    else:
        answers.append((email, "NoError", None))
        user = etree.SubElement(resp, f"{{{POX_OUTLOOK}}}User")
        etree.SubElement(user, f"{{{POX_OUTLOOK}}}DisplayName").text = acct.display_name
        etree.SubElement(user, f"{{{POX_OUTLOOK}}}AutoDiscoverSMTPAddress").text = acct.address
        account = etree.SubElement(resp, f"{{{POX_OUTLOOK}}}Account")
        etree.SubElement(account, f"{{{POX_OUTLOOK}}}AccountType").text = "email"
        etree.SubElement(account, f"{{{POX_OUTLOOK}}}Action").text = "settings"
        proto = etree.SubElement(account, f"{{{POX_OUTLOOK}}}Protocol")
        etree.SubElement(proto, f"{{{POX_OUTLOOK}}}Type").text = "EXPR"
        etree.SubElement(proto, f"{{{POX_OUTLOOK}}}EwsUrl").text = app.ews_url
        etree.SubElement(proto, f"{{{POX_OUTLOOK}}}ASUrl").text = app.ews_url
    payload: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return payload
