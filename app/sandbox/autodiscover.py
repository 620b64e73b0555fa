"""Autodiscover: SOAP GetUserSettings (what exchangelib 5 uses) and a minimal POX responder."""

from __future__ import annotations

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
    app.record(LogEntry("Autodiscover", result.principal.name, 200))
    try:
        doc = etree.fromstring(raw)
    except etree.XMLSyntaxError:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"malformed XML\n"]
    if path.endswith("autodiscover.xml"):
        return _pox(app, doc, start_response)
    return _soap(app, doc, start_response)


def _soap(app: SandboxApp, doc: Any, start_response: Any) -> list[bytes]:
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
    for address in users:
        ur = etree.SubElement(urs, f"{{{ANS}}}UserResponse")
        acct = app.directory.mailbox(address)
        if acct is None:
            etree.SubElement(ur, f"{{{ANS}}}ErrorCode").text = "InvalidUser"
            etree.SubElement(ur, f"{{{ANS}}}ErrorMessage").text = f"Invalid user: '{address}'"
            continue
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
    payload = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                              ("Content-Length", str(len(payload)))])
    return [payload]


def _pox(app: SandboxApp, doc: Any, start_response: Any) -> list[bytes]:
    email = (doc.findtext(f".//{{{POX_REQ}}}EMailAddress") or "").strip().lower()
    acct = app.directory.mailbox(email)
    root = etree.Element(f"{{{POX_RESP}}}Autodiscover", nsmap={None: POX_RESP})
    resp = etree.SubElement(root, f"{{{POX_OUTLOOK}}}Response", nsmap={None: POX_OUTLOOK})
    if acct is None:
        err = etree.SubElement(resp, f"{{{POX_OUTLOOK}}}Error")
        etree.SubElement(err, f"{{{POX_OUTLOOK}}}ErrorCode").text = "500"
        message = etree.SubElement(err, f"{{{POX_OUTLOOK}}}Message")
        message.text = "The email address can't be found."
    else:
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
    payload = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                              ("Content-Length", str(len(payload)))])
    return [payload]
