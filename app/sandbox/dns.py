"""A tiny DNS responder on loopback: A records for the demo domain and autodiscover.<domain>,
and the _autodiscover._tcp SRV record (exchangelib resolves autodiscover hosts with dnspython,
which ignores /etc/hosts; point it here via Autodiscovery.DNS_RESOLVER_KWARGS/ATTRS)."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DNSResponder:
    def __init__(self, domain: str, address: str = "127.0.0.1", host: str = "127.0.0.1",
                 port: int = 0, srv_port: int = 443,
                 hosts: dict[str, str] | None = None) -> None:
        self.domain = domain.rstrip(".").lower()
        self.address = address
        #: Further A records (name → address), e.g. a second organisation's autodiscover host.
        self.hosts = {k.rstrip(".").lower(): v for k, v in (hosts or {}).items()}
        self.srv_port = srv_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="sandbox-dns")

    @property
    def resolver_kwargs(self) -> dict[str, object]:
        return {"configure": False}

    @property
    def resolver_attrs(self) -> dict[str, object]:
        return {"nameservers": [self.host], "port": self.port, "timeout": 2.0}

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text().rstrip(".").lower()
            if question.rdtype == dns.rdatatype.A and name in self.hosts:
                response.answer.append(dns.rrset.from_text(
                    question.name, 60, "IN", "A", self.hosts[name]))
            elif question.rdtype == dns.rdatatype.A and name in (
                    self.domain, f"autodiscover.{self.domain}"):
                response.answer.append(dns.rrset.from_text(
                    question.name, 60, "IN", "A", self.address))
            elif (question.rdtype == dns.rdatatype.SRV
                  and name == f"_autodiscover._tcp.{self.domain}"):
                response.answer.append(dns.rrset.from_text(
                    question.name, 60, "IN", "SRV",
                    f"0 0 {self.srv_port} autodiscover.{self.domain}."))
            elif not name.endswith(self.domain) and name not in self.hosts:
                response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()  # type: ignore[no-any-return]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, client = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                self.sock.sendto(self.answer(wire), client)
            except Exception:  # noqa: BLE001 - a bad packet must not stop the responder
                continue

    def start(self) -> DNSResponder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> DNSResponder:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
