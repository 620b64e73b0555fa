"""Validation of what the admin types in the wizard, before it reaches Exchange or a script.

Every function is pure: it takes the raw text and returns the normalised value, or raises
:class:`InvalidInput` with a message the wizard can show as it is (SECURITY.md rows 27 and 32).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from urllib.parse import urlsplit


class InvalidInput(ValueError):
    """A value the admin typed that we refuse, with a plain-language reason."""

    def __init__(self, message: str, code: str = "invalid_input") -> None:
        super().__init__(message)
        self.message = message  #: shown to the admin as it is
        self.code = code  #: stable identifier for forms, logs and the API


#: Every character PowerShell treats as a single quote (PowerShell ``CharTraits.IsSingleQuote``).
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
#: Every character PowerShell treats as a double quote (``CharTraits.IsDoubleQuote``).
DOUBLE_QUOTES = frozenset('"\u201c\u201d\u201e')
#: Single and double quotes of every kind, including U+201F, which no parser should ever see.
QUOTES = SINGLE_QUOTES | DOUBLE_QUOTES | {"\u201f", "`"}

MAX_ADDRESS = 254
MAX_LOCAL_PART = 64
MAX_ADDRESS_LIST = 500
MAX_GROUP_NAME = 64

_LOCAL_PART = re.compile(r"[A-Za-z0-9._+-]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NETBIOS = re.compile(r"[A-Za-z0-9-]{1,15}")
_SAM_FORBIDDEN = frozenset('"/\\[]:;|=,+*?<>')
_GROUP_EXTRA = frozenset(" ._-&()@")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TENANT_DOMAIN = re.compile(r"([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.onmicrosoft\.com")
_SPLIT_LIST = re.compile(r"[,;\s]+")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
#: Bidirectional overrides and isolates make text display differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

EWS_PATH = "/EWS/Exchange.asmx"

_IDN_MESSAGE = (
    "Internationalised domain names are not accepted; use the ASCII form of the domain, "
    "one of your organisation's verified plain-ASCII domains (for example the "
    "tenant.onmicrosoft.com domain). Look-alike letters from other alphabets can make a "
    "different domain read like yours, so we do not take the risk."
)


def is_control(char: str) -> bool:
    """Tell whether ``char`` is a control, line/paragraph separator, surrogate or bidi control."""
    category = unicodedata.category(char)
    return category in ("Cc", "Zl", "Zp", "Cs") or char in _BIDI_CONTROLS


def _has_control(value: str) -> bool:
    return any(is_control(c) for c in value)


def shown(value: str, limit: int = 60) -> str:
    """Return ``value`` safe to echo in a message: controls replaced, length capped."""
    text = "".join("\ufffd" if is_control(c) else c for c in value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _check_domain(domain: str, code: str) -> str:
    """Return the lowercased ASCII domain, refusing IDNs and malformed labels."""
    if not domain.isascii():
        try:
            ascii_form = domain.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_form = None
        hint = f" (its ASCII form would be {ascii_form})" if ascii_form else ""
        raise InvalidInput(_IDN_MESSAGE.replace("; use", f"{hint}; use", 1), code)
    domain = domain.lower()
    labels = domain.split(".")
    if any(label.startswith("xn--") for label in labels):
        raise InvalidInput(_IDN_MESSAGE, code)
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        raise InvalidInput(
            f"“{shown(domain)}” is not a valid domain: use letters, digits and hyphens, "
            "with dots between the parts (for example contoso.com).",
            code,
        )
    if labels[-1].isdigit():
        raise InvalidInput("The domain must be a name, not an IP address.", code)
    return domain


def normalize_address(value: str) -> str:
    """Return the SMTP address or UPN the admin typed, trimmed, with its domain lowercased.

    Only what real mailboxes use is accepted: ASCII letters, digits and ``. _ - +`` before the
    ``@``. Apostrophes of every kind are refused (SECURITY.md row 32): they are quotes to
    PowerShell and look-alikes to people.
    """
    code = "invalid_address"
    value = value.strip()
    if not value:
        raise InvalidInput("Enter an email address, such as svc-connect@contoso.com.", code)
    if _has_control(value):
        raise InvalidInput("The address contains a control character or line break.", code)
    if any(c in SINGLE_QUOTES for c in value):
        raise InvalidInput(
            "Addresses with an apostrophe (such as O’Brien@…) are not accepted, because an "
            "apostrophe is a quote character in PowerShell. Use the mailbox's primary SMTP "
            "address without an apostrophe (Get-Mailbox <name> | fl PrimarySmtpAddress shows it).",
            code,
        )
    if any(c in QUOTES for c in value):
        raise InvalidInput("The address contains a quotation mark or backtick.", code)
    if any(c.isspace() for c in value):
        raise InvalidInput("The address contains a space.", code)
    if value.count("@") != 1:
        raise InvalidInput("An address has exactly one @, such as alex@contoso.com.", code)
    local, domain = value.split("@")
    if not local or not _LOCAL_PART.fullmatch(local):
        raise InvalidInput(
            "Before the @, an address may only use letters A–Z, digits and . _ - +.", code
        )
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidInput("Before the @, dots cannot start, end or follow each other.", code)
    if len(local) > MAX_LOCAL_PART:
        raise InvalidInput(f"The part before the @ exceeds {MAX_LOCAL_PART} characters.", code)
    address = f"{local}@{_check_domain(domain, code)}"
    if len(address) > MAX_ADDRESS:
        raise InvalidInput(f"The address is longer than {MAX_ADDRESS} characters.", code)
    return address


def normalize_logon_name(value: str | None) -> str:
    """Return a ``DOMAIN\\user`` logon name with the NetBIOS domain uppercased, or "" if empty."""
    code = "invalid_logon_name"
    value = (value or "").strip()
    if not value:
        return ""
    if _has_control(value):
        raise InvalidInput("The logon name contains a control character or line break.", code)
    if any(c in QUOTES for c in value):
        raise InvalidInput("The logon name contains a quotation mark or apostrophe.", code)
    if value.count("\\") != 1:
        raise InvalidInput("Write the logon name as DOMAIN\\user, e.g. CONTOSO\\svc-connect.", code)
    domain, user = value.split("\\")
    if not _NETBIOS.fullmatch(domain):
        raise InvalidInput(
            "The domain part (before the \\) is the NetBIOS domain name: up to 15 letters, "
            "digits or hyphens.",
            code,
        )
    if not user or len(user) > 20:
        raise InvalidInput("The user part (after the \\) must be 1 to 20 characters.", code)
    bad = sorted({c for c in user if c in _SAM_FORBIDDEN})
    if bad:
        raise InvalidInput(
            f"The user part cannot contain {' '.join(bad)} (Active Directory forbids them).", code
        )
    if user.strip(". ") == "" or user != user.strip():
        raise InvalidInput("The user part cannot start or end with a space, or be only dots.", code)
    return f"{domain.upper()}\\{user}"


def normalize_group_name(value: str) -> str:
    """Return a distribution or security group's name (or its address, if it has an @)."""
    code = "invalid_group_name"
    value = value.strip()
    if not value:
        raise InvalidInput("Enter the group's name or email address.", code)
    if _has_control(value):
        raise InvalidInput("The group name contains a control character or line break.", code)
    if any(c in QUOTES for c in value):
        raise InvalidInput("The group name contains a quote, apostrophe or backtick.", code)
    if "@" in value:
        return normalize_address(value)
    bad = sorted({c for c in value if not (c.isalnum() or c in _GROUP_EXTRA)})
    if bad:
        raise InvalidInput(
            f"The group name cannot contain {' '.join(bad)}; use letters, digits, spaces and "
            ". _ - & ( ) only, or the group's email address.",
            code,
        )
    if len(value) > MAX_GROUP_NAME:
        raise InvalidInput(f"The group name is longer than {MAX_GROUP_NAME} characters.", code)
    return value


def parse_address_list(text: str) -> tuple[str, ...]:
    """Return the addresses in ``text`` (split on commas, semicolons, whitespace), deduplicated.

    Exchange compares addresses without regard to case, so the first spelling of each one wins.
    """
    entries = [e for e in _SPLIT_LIST.split(text or "") if e]
    result: dict[str, str] = {}
    for position, entry in enumerate(entries, start=1):
        try:
            address = normalize_address(entry)
        except InvalidInput as e:
            raise InvalidInput(
                f"Entry {position} (“{shown(entry)}”) is not accepted: {e.message}", e.code
            ) from e
        result.setdefault(address.casefold(), address)
        if len(result) > MAX_ADDRESS_LIST:
            raise InvalidInput(
                f"At most {MAX_ADDRESS_LIST} mailboxes can be listed; use a group instead.",
                "too_many_addresses",
            )
    return tuple(result.values())


def _allowed(host: str, allowed_hosts: Collection[str]) -> bool:
    """Tell whether ``host`` is on the operator's allow-list (entries may carry a port)."""
    names = set()
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if entry.startswith("["):
            entry = entry[1:].split("]", 1)[0]
        elif entry.count(":") == 1:
            entry = entry.split(":", 1)[0]
        names.add(entry.rstrip("."))
    return host in names


def _is_ip_literal(host: str) -> bool:
    """Tell whether a URL host is an IP address in any spelling a resolver accepts.

    WHATWG URL and ``inet_aton`` read a host whose last label is numeric (``2130706433``,
    ``0x7f.1``, ``0177.0.0.1``, ``127.1``) as IPv4, and bracketed hosts are IPv6.
    """
    return ":" in host or bool(_NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]))


def normalize_ews_url(value: str, allowed_hosts: Collection[str] = ()) -> str:
    """Return the EWS endpoint as ``https://host/EWS/Exchange.asmx`` (SECURITY.md rows 21, 27).

    Hosts in ``allowed_hosts`` (the sandbox, in development) may use http, any port and an IP
    address; every other URL must be plain https to a DNS name on port 443.
    """
    code = "invalid_ews_url"
    value = value.strip()
    if not value:
        raise InvalidInput("Enter the EWS URL: https://mail.contoso.com/EWS/Exchange.asmx.", code)
    if _has_control(value) or any(c.isspace() for c in value) or "\\" in value:
        raise InvalidInput("The URL contains a space, backslash or control character.", code)
    if not value.isascii():
        raise InvalidInput(_IDN_MESSAGE, code)
    try:
        parts = urlsplit(value)
    except ValueError as e:
        raise InvalidInput("The URL is malformed.", code) from e
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not value.lower().startswith(f"{scheme}://"):
        raise InvalidInput("The EWS URL must start with https://.", code)
    if "@" in parts.netloc:
        raise InvalidInput("The URL cannot contain a user name or password (user@host).", code)
    if "?" in value or "#" in value:
        raise InvalidInput("The URL cannot have a query (?…) or fragment (#…).", code)
    try:
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError as e:
        raise InvalidInput("The port in the URL is not a number between 0 and 65535.", code) from e
    if not host:
        raise InvalidInput("The URL has no server name.", code)
    allowed = _allowed(host, allowed_hosts)
    if scheme == "http" and not allowed:
        raise InvalidInput("The EWS URL must use https://, so credentials travel encrypted.", code)
    if port not in (None, 443) and not allowed:
        raise InvalidInput("The EWS URL must use the standard https port 443.", code)
    if not allowed:
        if _is_ip_literal(host):
            raise InvalidInput("Use the server's DNS name, not an IP address.", code)
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidInput("The EWS URL cannot point at this machine (localhost).", code)
        _check_domain(host, code)
    if parts.path.lower() != EWS_PATH.lower():
        raise InvalidInput(f"The EWS URL's path must be {EWS_PATH}.", code)
    netloc = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme == "https" else 80
    if port is not None and port != default_port:
        netloc = f"{netloc}:{port}"
    return f"{scheme}://{netloc}{EWS_PATH}"


def _guid(value: str) -> str | None:
    """Return ``value`` as a lowercase GUID, accepting surrounding braces, or None."""
    text = value.strip().lower()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if _GUID.fullmatch(text) and text.strip("0-"):
        return text
    return None


def normalize_tenant_id(value: str) -> str:
    """Return a Microsoft Entra tenant id: a GUID or the tenant's ``*.onmicrosoft.com`` domain."""
    code = "invalid_tenant_id"
    guid = _guid(value)
    if guid:
        return guid
    text = value.strip().lower()
    if text.isascii() and not _has_control(text) and _TENANT_DOMAIN.fullmatch(text):
        return text
    raise InvalidInput(
        "Enter the tenant ID (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47) or the "
        "tenant's initial domain (such as contoso.onmicrosoft.com).",
        code,
    )


def normalize_client_id(value: str) -> str:
    """Return a Microsoft Entra application (client) id, which is always a GUID."""
    guid = _guid(value)
    if guid:
        return guid
    raise InvalidInput(
        "Enter the Application (client) ID from the app registration's Overview page: "
        "a GUID such as 00001111-aaaa-2222-bbbb-3333cccc4444.",
        "invalid_client_id",
    )
