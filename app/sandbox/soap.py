"""SOAP 1.1 envelopes, faults and ResponseMessages as Exchange 2016 writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeAlias

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"s": SOAP, "m": M, "t": T}

Element: TypeAlias = etree._Element

SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "1",
    "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6",
    "Version": "V2017_07_11",
}


class SoapFault(Exception):
    """A header-level or request-level problem that goes out as a SOAP Fault (HTTP 500)."""

    def __init__(self, code: str, message: str, values: dict[str, str] | None = None,
                 faultcode: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.values = values or {}
        self.faultcode = faultcode


class ResponseError(Exception):
    """A per-item or per-folder problem that goes out as a ResponseMessage with class Error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


def sub(parent: Element, tag: str, text: Any = None, **attrs: str) -> Element:
    """Append a child; ``tag`` is "m:Name" or "t:Name"."""
    prefix, name = tag.split(":", 1)
    el = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", attrs or None, None)
    if text is not None:
        el.text = text if isinstance(text, str) else fmt_value(text)
    return el


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return fmt_dt(value)
    return str(value)


def fmt_dt(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text: str) -> dt.datetime:
    """xs:dateTime with or without offset (no offset means UTC, as Exchange assumes)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true")


def envelope() -> tuple[Element, Element]:
    """A response envelope with the ServerVersionInfo header; returns (root, body)."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)  # type: ignore[arg-type]
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    etree.SubElement(header, t("ServerVersionInfo"), SERVER_VERSION)
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    return root, body


def serialize(root: Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")  # type: ignore[no-any-return]


def fault(code: str, message: str, values: dict[str, str] | None = None,
          faultcode: str | None = None) -> bytes:
    """A SOAP Fault body as Exchange sends it (detail/e:ResponseCode, optional t:MessageXml)."""
    root, body = envelope()
    f = etree.SubElement(body, f"{{{SOAP}}}Fault")
    fc = etree.SubElement(f, "faultcode", nsmap={"a": T})  # type: ignore[dict-item]
    fc.text = faultcode or f"a:{code}"
    fs = etree.SubElement(f, "faultstring")
    fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    fs.text = message
    detail = etree.SubElement(f, "detail")
    rc = etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E})  # type: ignore[dict-item]
    rc.text = code
    msg = etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E})  # type: ignore[dict-item]
    msg.text = message
    if values:
        mx = etree.SubElement(detail, t("MessageXml"))
        for name, value in values.items():
            v = etree.SubElement(mx, t("Value"), {"Name": name})
            v.text = value
    return serialize(root)


def response_message(parent: Element, tag: str, error: ResponseError | None = None,
                     warning: ResponseError | None = None) -> Element:
    """Append an ``m:<Op>ResponseMessage``; Success/NoError unless an error is given."""
    if error is not None:
        rm = sub(parent, f"m:{tag}", ResponseClass="Error")
        sub(rm, "m:MessageText", error.message)
        sub(rm, "m:ResponseCode", error.code)
        sub(rm, "m:DescriptiveLinkKey", "0")
        return rm
    if warning is not None:
        rm = sub(parent, f"m:{tag}", ResponseClass="Warning")
        sub(rm, "m:MessageText", warning.message)
        sub(rm, "m:ResponseCode", warning.code)
        sub(rm, "m:DescriptiveLinkKey", "0")
        return rm
    rm = sub(parent, f"m:{tag}", ResponseClass="Success")
    sub(rm, "m:ResponseCode", "NoError")
    return rm


def text_of(el: Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, NSMAP)
    return found.text if found is not None else None
