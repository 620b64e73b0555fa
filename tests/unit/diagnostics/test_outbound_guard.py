"""The outbound guard's pure parts: address classes, IP spellings, DNS answers (rows 21-24)."""

from __future__ import annotations

import pytest
import requests

from app.exchange import outbound
from app.exchange.outbound import (
    GuardedAdapter,
    OutboundBlocked,
    OutboundPolicy,
    Resolver,
    classify_ip,
    literal_ip,
)


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.5", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("168.63.129.16", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("169.254.10.10", "link-local"),
    ("0.0.0.0", "reserved"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:7f00:1::", "loopback"),
])
def test_non_public_and_metadata_addresses_are_classified(address: str, reason: str) -> None:
    """Row 22: metadata endpoints, including Azure's public WireServer, are never reachable."""
    assert classify_ip(address) == reason


def test_public_addresses_pass() -> None:
    assert classify_ip("52.96.0.1") is None
    assert classify_ip("2603:1036::1") is None


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("[::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
])
def test_every_ip_spelling_is_read_as_the_address_it_denotes(host: str, address: str) -> None:
    """Row 21: decimal, hex and short forms are IP literals, not names."""
    assert literal_ip(host) == address


class StubResolver(Resolver):
    """Answers from a script, one list per call (DNS rebinding and mixed answers)."""

    def __init__(self, *answers: list[str]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.calls = 0

    def resolve(self, host: str) -> list[str]:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _send(policy: OutboundPolicy, url: str, timeout: float = 0.2) -> GuardedAdapter:
    adapter = GuardedAdapter(max_retries=0)
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    with outbound.using(policy, outbound.RunState()):
        try:
            session.get(url, timeout=timeout)
        except OutboundBlocked:
            raise
        except requests.RequestException:
            pass  # the public test address is not really reachable from here
    return adapter


@pytest.mark.parametrize("answer", [["169.254.169.254"], ["168.63.129.16"], ["fd00:ec2::254"],
                                    ["100.100.100.200"]])
def test_a_name_resolving_to_metadata_is_blocked_before_any_connection(answer: list[str]) -> None:
    policy = OutboundPolicy(resolver=StubResolver(answer))

    with pytest.raises(OutboundBlocked) as info:
        _send(policy, "https://ews.attacker.test/EWS/Exchange.asmx")

    assert info.value.code == "address_blocked"


def test_a_mixed_answer_is_blocked_when_any_address_is_private() -> None:
    """Row 24: every answer must pass, not just the first."""
    policy = OutboundPolicy(resolver=StubResolver(["52.96.0.1", "10.0.0.5"]))

    with pytest.raises(OutboundBlocked):
        _send(policy, "https://mail.attacker.test/EWS/Exchange.asmx")


def test_dns_rebinding_connects_to_the_checked_address_or_is_blocked() -> None:
    """Row 23: first answer public, second loopback; no connection ever goes to 127.0.0.1."""
    resolver = StubResolver(["52.96.0.1"], ["127.0.0.1"])
    policy = OutboundPolicy(resolver=resolver, timeout=0.2)

    adapter = _send(policy, "https://rebind.attacker.test/EWS/Exchange.asmx")
    with pytest.raises(OutboundBlocked):
        _send(policy, "https://rebind.attacker.test/EWS/Exchange.asmx")

    hosts = {key.key_host for key in adapter.poolmanager.pools.keys()}
    assert hosts == {"52.96.0.1"}
    assert resolver.calls == 2


def test_redaction_removes_auth_headers_and_token_fields() -> None:
    run = outbound.RunState(secrets=["Sandbox-Pass-1"])
    run.add_login("svc@contoso.example", "Sandbox-Pass-1")
    text = ("Authorization: Basic c3ZjQGNvbnRvc28uZXhhbXBsZTpTYW5kYm94LVBhc3MtMQ== "
            '{"access_token": "eyJabc.def", "token_type": "Bearer"} client_secret=s3cr3t&x=1 '
            "password Sandbox-Pass-1 Bearer abcdefghijklmnop")

    clean = run.redact(text)

    for secret in ("Sandbox-Pass-1", "c3ZjQGNvbnRvc28", "eyJabc", "s3cr3t", "abcdefghijklmnop"):
        assert secret not in clean
