"""The Exchange connector the app builds once from config and passes to services."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask

from app.exchange import outbound
from app.exchange.client import DEFAULT_AUTHORITY


@dataclass(frozen=True)
class Connector:
    """Settings every Exchange call from this process obeys (boundary B)."""

    #: Hosts that may be reached over http or on loopback/private addresses (sandbox in dev).
    allow_hosts: tuple[str, ...] = ()
    #: Seconds before one EWS request is abandoned.
    request_timeout: float = 10.0
    #: Seconds the whole credential test may take.
    total_budget: float = 30.0
    #: Seconds one check may take.
    check_timeout: float = 10.0
    #: Longest ErrorServerBusy back-off a check waits out (once) before reporting throttling.
    max_back_off: float = 5.0
    #: Concurrent checks (and EWS connections) of one credential test.
    workers: int = 8
    #: DNS servers of the product's one resolver (empty: the system resolver).
    dns_nameservers: tuple[str, ...] = ()
    dns_port: int = 53
    #: CA bundle for TLS verification (None: the system store).
    ca_bundle: str | None = None
    #: Token authority for Exchange Online app-only sign-in.
    oauth_authority: str = DEFAULT_AUTHORITY
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def resolver(self) -> outbound.Resolver:
        return outbound.Resolver(self.dns_nameservers, self.dns_port,
                                 timeout=min(5.0, self.request_timeout))

    @property
    def policy(self) -> outbound.OutboundPolicy:
        """The outbound guard's policy for requests made on behalf of this connector."""
        return outbound.OutboundPolicy(
            allow_hosts=self.allow_hosts,
            resolver=self.resolver,
            ca_bundle=self.ca_bundle,
            timeout=self.request_timeout,
        )


def _nameservers(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value or ())  # type: ignore[attr-defined]


def init_connector(app: Flask) -> None:
    """Build the connector from ``app.config`` and store it in ``app.extensions["exchange"]``."""
    connector = Connector(
        allow_hosts=tuple(app.config.get("OUTBOUND_ALLOW_HOSTS", ())),
        request_timeout=float(app.config.get("EWS_TIMEOUT", 10.0)),
        total_budget=float(app.config.get("EWS_TOTAL_BUDGET", 30.0)),
        check_timeout=float(app.config.get("EWS_CHECK_TIMEOUT", 10.0)),
        max_back_off=float(app.config.get("EWS_MAX_BACK_OFF", 5.0)),
        workers=int(app.config.get("EWS_WORKERS", 8)),
        dns_nameservers=_nameservers(app.config.get("DNS_NAMESERVERS", ())),
        dns_port=int(app.config.get("DNS_PORT", 53)),
        ca_bundle=app.config.get("EWS_CA_BUNDLE") or None,
        oauth_authority=str(app.config.get("OAUTH_AUTHORITY") or DEFAULT_AUTHORITY),
    )
    app.extensions["exchange"] = connector
    apply_process_settings(connector)


def apply_process_settings(connector: Connector) -> None:
    """Point exchangelib's process-wide knobs at this connector (its documented settings only)."""
    from exchangelib.autodiscover import Autodiscovery

    outbound.set_default_policy(connector.policy)
    outbound.install()
    # exchangelib's Autodiscovery resolves candidate hosts with dnspython through these.
    Autodiscovery.DNS_RESOLVER_KWARGS = {"configure": not connector.dns_nameservers}
    Autodiscovery.DNS_RESOLVER_ATTRS = connector.resolver.exchangelib_attrs
    Autodiscovery.DNS_RESOLVER_LIFETIME = min(10.0, connector.request_timeout)
