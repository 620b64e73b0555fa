"""The Exchange connector the app builds once from config and passes to services."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask


@dataclass(frozen=True)
class Connector:
    """Settings every Exchange call from this process obeys (boundary B)."""

    #: Hosts that may be reached over http or on loopback/private addresses (sandbox in dev).
    allow_hosts: tuple[str, ...] = ()
    #: Seconds before one EWS request is abandoned.
    request_timeout: float = 10.0
    #: Seconds the whole credential test may take.
    total_budget: float = 30.0
    extra: dict[str, object] = field(default_factory=dict)


def init_connector(app: Flask) -> None:
    """Build the connector from ``app.config`` and store it in ``app.extensions["exchange"]``."""
    app.extensions["exchange"] = Connector(
        allow_hosts=tuple(app.config.get("OUTBOUND_ALLOW_HOSTS", ())),
        request_timeout=float(app.config.get("EWS_TIMEOUT", 10.0)),
        total_budget=float(app.config.get("EWS_TOTAL_BUDGET", 30.0)),
    )
