"""Fixtures for the credential-diagnostics tests: a connector allowed to reach the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from exchangelib.protocol import CachingProtocol

from app.exchange.connector import Connector, apply_process_settings
from app.exchange.diagnostics import DiagnosticsRequest
from app.sandbox import DEMO_PASSWORD, SandboxServer

DOMAIN = "contoso.example"


def addr(name: str) -> str:
    return name if "@" in name else f"{name}@{DOMAIN}"


@pytest.fixture
def connector() -> Iterator[Connector]:
    """Short timeouts so fault tests finish in seconds; the sandbox host is allow-listed."""
    c = Connector(allow_hosts=("127.0.0.1", "localhost"), request_timeout=3.0,
                  check_timeout=3.0, total_budget=10.0, max_back_off=1.0)
    apply_process_settings(c)
    yield c
    apply_process_settings(Connector())


@pytest.fixture(autouse=True)
def _fresh_sandbox(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.reset()
    yield
    sandbox.reset()


def request_for(sandbox: SandboxServer, service: str, level: str, mailbox: str = "alice",
                **extra: Any) -> DiagnosticsRequest:
    values: dict[str, Any] = {
        "deployment": "onprem",
        "service_account": addr(service),
        "secret": DEMO_PASSWORD,
        "access_level": level,
        "mailbox": addr(mailbox),
        "ews_url": sandbox.ews_url,
        **extra,
    }
    return DiagnosticsRequest(**values)


def by_key(report: Any) -> dict[str, Any]:
    return {c.key: c for c in report.checks}


def protocol_cache_size() -> int:
    return len(CachingProtocol._protocol_cache)


def served(sandbox: SandboxServer, operation: str) -> int:
    """Requests for ``operation`` the sandbox answered as an authenticated caller."""
    return sum(1 for e in sandbox.requests if e.operation == operation and e.user is not None)
