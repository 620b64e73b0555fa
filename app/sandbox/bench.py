"""Benchmark: FindItem (CalendarView, 50 events) requests per second through exchangelib."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from .directory import DEMO_FILE


def bench_finditem(seconds: float = 3.0) -> float:
    """Requests/second for a 50-event calendar view (one FindItem each, over keep-alive)."""
    from exchangelib import (
        BASIC,
        IMPERSONATION,
        Account,
        Build,
        Configuration,
        Credentials,
        EWSDateTime,
        EWSTimeZone,
        Version,
    )

    from .server import SandboxServer

    data = DEMO_FILE.read_text(encoding="utf-8")
    events = ",\n".join(
        f'  {{ mailbox = "carol", subject = "Bench {n}", day = {n % 7}, start = "{8 + n // 7}:00", '
        f'minutes = 30, time_zone = "UTC" }}' for n in range(48)
    )
    data = data.replace("events = [\n", f"events = [\n{events},\n")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(data, encoding="utf-8")
        with SandboxServer(directory=path) as server:
            tz = EWSTimeZone("UTC")
            config = Configuration(service_endpoint=server.ews_url,
                                   credentials=Credentials("svc-full@contoso.example",
                                                           "Sandbox-Pass-1"),
                                   auth_type=BASIC, version=Version(Build(15, 1, 2507, 6)))
            account = Account("carol@contoso.example", config=config, access_type=IMPERSONATION,
                              autodiscover=False, default_timezone=tz)
            now = EWSDateTime.now(tz)
            start = now - dt.timedelta(days=now.weekday() + 1)
            end = start + dt.timedelta(days=14)
            folder = account.calendar
            fields = ("subject", "start", "end", "legacy_free_busy_status")

            def once() -> int:
                return len(list(folder.view(start=start, end=end).only(*fields)))

            count = once()
            assert count == 50, count
            n = 0
            began = time.perf_counter()
            while time.perf_counter() - began < seconds:
                once()
                n += 1
            return n / (time.perf_counter() - began)


if __name__ == "__main__":
    print(f"FindItem (50 events): {bench_finditem():.0f} req/s")
