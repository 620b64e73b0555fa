"""The credential test's wall time against the sandbox at 100 ms latency, beside the same checks
run one after another with plain exchangelib in the same process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta

import requests

from app.exchange.client import PROBE_BODY
from app.exchange.connector import Connector, apply_process_settings
from app.exchange.diagnostics import DiagnosticsRequest, run_checks
from app.sandbox import DEMO_PASSWORD, SandboxServer

LATENCY_MS = 100
ROUNDS = 3
SERVICE, MAILBOX = "svc-full@contoso.example", "alice@contoso.example"


def _request(server: SandboxServer) -> DiagnosticsRequest:
    return DiagnosticsRequest(deployment="onprem", service_account=SERVICE,
                              secret=DEMO_PASSWORD, access_level="full", mailbox=MAILBOX,
                              ews_url=server.ews_url, write_test=True)


def product(server: SandboxServer, connector: Connector) -> float:
    started = time.perf_counter()
    report = run_checks(_request(server), connector)
    elapsed = time.perf_counter() - started
    assert report.passed, [(c.key, c.status, c.explanation) for c in report.checks]
    return elapsed


def plain_exchangelib(server: SandboxServer) -> float:
    """The same checks, one after another, the way a script with exchangelib would do them."""
    from exchangelib import (
        DELEGATE,
        IMPERSONATION,
        Account,
        CalendarItem,
        Configuration,
        Credentials,
        EWSDateTime,
        EWSTimeZone,
        FailFast,
    )
    from exchangelib.folders import Calendar, Root
    from exchangelib.protocol import close_connections

    utc = EWSTimeZone("UTC")
    started = time.perf_counter()
    probe = requests.post(server.ews_url, data=PROBE_BODY, timeout=10,
                          headers={"Content-Type": "text/xml; charset=utf-8"})
    assert probe.status_code == 401
    config = Configuration(service_endpoint=server.ews_url,
                           credentials=Credentials(SERVICE, DEMO_PASSWORD),
                           retry_policy=FailFast())
    try:
        own = Account(SERVICE, config=config, access_type=DELEGATE, autodiscover=False,
                      default_timezone=utc)
        _ = own.protocol.version  # sign in (auth detection + ConvertId)
        Calendar.get_distinguished(root=Root(account=own))  # the service account's mailbox
        account = Account(MAILBOX, config=config, access_type=IMPERSONATION, autodiscover=False,
                          default_timezone=utc)
        calendar = Calendar.get_distinguished(root=Root(account=account))  # impersonation
        now = EWSDateTime.now(tz=utc)
        list(calendar.view(start=now, end=now + timedelta(days=7)).only("subject", "start",
                                                                        "end"))
        start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        item = CalendarItem(account=account, folder=calendar, subject="bench",
                            start=start, end=start + timedelta(minutes=15))
        item.save(send_meeting_invitations="SendToNone")
        item.delete(send_meeting_cancellations="SendToNone")
        try:
            list(account.protocol.get_free_busy_info(
                accounts=[(MAILBOX, "Required", False)], start=now,
                end=now + timedelta(days=7)))
        except Exception:  # Default None on Sales calendars: same answer the product reports
            pass
        for room_list in account.protocol.get_roomlists():
            list(account.protocol.get_rooms(room_list.email_address))
    finally:
        close_connections()
    return time.perf_counter() - started


def run() -> Iterator[tuple[str, float, str]]:
    connector = Connector(allow_hosts=("127.0.0.1",), request_timeout=10.0,
                          check_timeout=10.0, total_budget=30.0)
    apply_process_settings(connector)
    with SandboxServer() as server:
        product(server, connector)  # warm up (schema, imports) without latency
        plain_exchangelib(server)
        server.set_latency(LATENCY_MS)
        ours = statistics.median(product(server, connector) for _ in range(ROUNDS))
        plain = statistics.median(plain_exchangelib(server) for _ in range(ROUNDS))
    yield "diagnostics_wall", round(ours * 1000), "ms"
    yield "diagnostics_plain_exchangelib_wall", round(plain * 1000), "ms"
    yield "diagnostics_ratio", round(ours / plain, 3), "ratio"
