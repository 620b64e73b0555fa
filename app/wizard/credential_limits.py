"""Limits on the credential test, so it cannot become a password sprayer (SECURITY.md row 33).

Per client address (Flask-Limiter, on the views), per service account and per Exchange host
(failed sign-ins only), and one test at a time per account. Counters live in the limiter's
storage and the lock in Redis when REDIS_URL is set, so every worker process shares them; a
storage failure fails closed (the 500 page, before any EWS request: row 34).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from app.extensions import limiter
from app.services import onboarding


def ip_limit() -> str:
    return str(current_app.config.get("CREDENTIAL_TEST_IP_LIMIT", "20 per hour"))


ip_limit_decorator = limiter.shared_limit(
    ip_limit, scope="credential-test-ip", methods=["POST"],
    error_message="Too many credential tests from your address. Wait a few minutes and try "
                  "again.",
)


class Refused(Exception):
    """A test the limits or the lock did not let run; the message says when to retry."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, max(1, retry_after)


def limit_target(attempt: onboarding.AttemptView) -> tuple[str, str]:
    """The (Exchange host, account) pair the credential-test limits count against."""
    host = (urlsplit(attempt.ews_url).hostname or "") if attempt.ews_url else \
        f"autodiscover:{attempt.domain or ''}"
    user = (attempt.logon_name or attempt.service_account or attempt.app_client_id or "")
    return host.lower(), user.strip().lower()


def failure_limits(attempt: onboarding.AttemptView) -> list[tuple[Any, str]]:
    from limits import parse

    host, user = limit_target(attempt)
    account = parse(str(current_app.config.get("CREDENTIAL_TEST_ACCOUNT_FAILURES",
                                               "3 per 15 minutes")))
    per_host = parse(str(current_app.config.get("CREDENTIAL_TEST_HOST_FAILURES",
                                                "5 per 15 minutes")))
    return [(account, f"account:{host}:{user}"), (per_host, f"host:{host}")]


def check_allowed(attempt: onboarding.AttemptView) -> None:
    """Refuse the test when this account or host had too many failed tests lately."""
    strategy = limiter.limiter
    for item, key in failure_limits(attempt):
        if not strategy.test(item, "credential-test-failures", key):
            reset, _ = strategy.get_window_stats(item, "credential-test-failures", key)
            wait = int(reset - time.time()) + 1
            what = "this service account" if key.startswith("account:") else "this Exchange server"
            at = (datetime.now(UTC) + timedelta(seconds=wait)).strftime("%H:%M UTC")
            raise Refused(
                f"Several credential tests for {what} failed in the last minutes, so we paused "
                f"testing to keep the account from being locked out. Try again after {at} "
                f"(in about {max(1, wait // 60)} min).", wait)


def record_outcome(attempt: onboarding.AttemptView, failed_sign_in: bool) -> None:
    if failed_sign_in:
        for item, key in failure_limits(attempt):
            limiter.limiter.hit(item, "credential-test-failures", key)


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


@contextmanager
def account_lock(app: Any, attempt: onboarding.AttemptView) -> Iterator[None]:
    """Serialise credential tests of one account (a Redis lock when REDIS_URL is set)."""
    host, user = limit_target(attempt)
    key = f"credential-test:{host}:{user}"
    # Long enough for the test ahead to finish within its budget.
    wait = float(app.config.get("CREDENTIAL_TEST_LOCK_WAIT")
                 or float(app.config.get("EWS_TOTAL_BUDGET", 30.0)) + 5)
    url = app.config.get("REDIS_URL")
    if url:
        import redis

        lock: Any = redis.Redis.from_url(url, socket_timeout=2).lock(
            f"ec:{key}", timeout=wait + 30, blocking_timeout=wait)
    else:
        with _local_locks_guard:
            lock = _local_locks.setdefault(key, threading.Lock())
    acquired = lock.acquire(blocking_timeout=wait) if url else lock.acquire(timeout=wait)
    if not acquired:
        raise Refused("A test for this service account is still running; try again when it "
                          "has finished.", int(wait))
    try:
        yield
    finally:
        lock.release()
