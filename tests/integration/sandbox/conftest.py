"""Helpers for the sandbox integration tests: exchangelib accounts against the live sandbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import exchangelib.protocol
import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    Account,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
)
from exchangelib.folders import Calendar, DistinguishedFolderId, Root
from exchangelib.properties import Mailbox

from app.sandbox import DEMO_PASSWORD, SandboxServer

DOMAIN = "contoso.example"
TZ = EWSTimeZone("Europe/Berlin")


def addr(name: str) -> str:
    return name if "@" in name else f"{name}@{DOMAIN}"


def make_account(server: SandboxServer, service: str, mailbox: str,
                 access: str = IMPERSONATION, auth_type: str | None = BASIC,
                 password: str = DEMO_PASSWORD, retry_policy: Any = None) -> Account:
    config = Configuration(service_endpoint=server.ews_url,
                           credentials=Credentials(addr(service), password),
                           auth_type=auth_type, retry_policy=retry_policy or FailFast())
    return Account(addr(mailbox), config=config, access_type=access, autodiscover=False,
                   default_timezone=TZ)


def route_https(monkeypatch: pytest.MonkeyPatch, ports: dict[str, int]) -> None:
    """Send connections to ``<host>.<domain>:443`` to 127.0.0.1 on the given sandbox port.

    exchangelib's Autodiscover only tries port 443, and these tests run unprivileged.
    """
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str):
            for domain, target in ports.items():
                if host.rstrip(".").endswith(domain):
                    host = "127.0.0.1"
                    port = target if port in (443, "443", "https") else port
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def calendar_without_root(account: Account) -> Calendar:
    """How the product reaches a delegate's calendar without touching the mailbox root."""
    return Calendar(root=Root(account=account), _distinguished_id=DistinguishedFolderId(
        id="calendar", mailbox=Mailbox(email_address=account.primary_smtp_address)))


def this_week() -> tuple[EWSDateTime, EWSDateTime]:
    now = EWSDateTime.now(TZ)
    monday = now - dt.timedelta(days=now.weekday(), hours=now.hour, minutes=now.minute,
                                seconds=now.second, microseconds=now.microsecond)
    return monday, monday + dt.timedelta(days=14)


@pytest.fixture(autouse=True)
def _plain_exchangelib_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Talk to the sandbox with exchangelib's own HTTP adapter.

    These tests are about the sandbox, so they must not depend on the product's outbound guard,
    which ``app.exchange`` installs process-wide once any product test has imported it.
    """
    from exchangelib.protocol import BaseProtocol
    from requests.adapters import HTTPAdapter

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", HTTPAdapter)


@pytest.fixture(autouse=True)
def _isolate(sandbox: SandboxServer) -> Iterator[None]:
    """Validate every response against the schema; reset faults, state and exchangelib caches."""
    sandbox.app.validate_responses = True
    yield
    errors = sandbox.schema_errors
    sandbox.reset()
    exchangelib.protocol.close_connections()
    assert errors == [], f"responses failed schema validation: {errors}"


__all__ = ["DELEGATE", "IMPERSONATION", "addr", "calendar_without_root", "make_account",
           "route_https", "this_week"]
