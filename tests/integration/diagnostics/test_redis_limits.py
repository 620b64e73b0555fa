"""Row 33 against a real Redis: the credential-test limits and the per-account lock hold across
worker processes (two apps that share nothing in memory). Skipped without TEST_REDIS_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.sandbox import SandboxServer
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import WizardActions, csrf_token

from .conftest import addr

WRONG = "Wrong-Pass-7"


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis at {url} is not reachable")
    yield url
    client.flushdb()


def _worker(database_url: str, redis_url: str, **config: object) -> Flask:
    return create_app({"TESTING": True, "SECRET_KEY": "k" * 40, "DATABASE_URL": database_url,
                       "ENCRYPTION_KEYS": (ENCRYPTION_KEY,), "SERVER_NAME": "localhost",
                       "OUTBOUND_ALLOW_HOSTS": ("127.0.0.1",), "REDIS_URL": redis_url,
                       "RATELIMIT_STORAGE_URI": redis_url, **config})


def _same_browser(one: FlaskClient, other: Flask) -> FlaskClient:
    client = other.test_client()
    for cookie in one._cookies.values():
        client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    return client


def _post_test(client: FlaskClient, wizard: WizardActions) -> int:
    page = client.get(wizard.url("test")).get_data(as_text=True)
    return client.post(wizard.url("test"), data={
        "csrf_token": csrf_token(page), "mailbox": addr("alice")}).status_code


def test_failed_tests_counted_by_one_worker_stop_the_next_on_another(
        database_url: str, redis_url: str, sandbox: SandboxServer) -> None:
    first, second = _worker(database_url, redis_url), _worker(database_url, redis_url)
    client = first.test_client()
    with first.app_context():
        wizard = WizardActions(client)
        wizard.start()
        wizard.account(sandbox.ews_url, service_account=addr("svc-full"), password=WRONG)
        wizard.access("full")
        statuses = [_post_test(client, wizard) for _ in range(3)]
    other = _same_browser(client, second)
    sandbox.reset()

    with second.app_context():
        refused = _post_test(other, wizard)

    assert statuses == [200, 200, 200]
    assert refused == 429
    assert sandbox.count() == 0


def test_a_test_running_on_one_worker_holds_the_account_on_another(
        database_url: str, redis_url: str, sandbox: SandboxServer) -> None:
    from app.services import onboarding
    from app.wizard import credential_limits

    first = _worker(database_url, redis_url)
    second = _worker(database_url, redis_url, CREDENTIAL_TEST_LOCK_WAIT=0.2)
    client = first.test_client()
    with first.app_context():
        wizard = WizardActions(client)
        wizard.start()
        wizard.account(sandbox.ews_url, service_account=addr("svc-full"))
        wizard.access("full")
        attempt = onboarding.get_attempt(wizard.attempt_id or "")
    other = _same_browser(client, second)
    sandbox.reset()

    with first.app_context(), credential_limits.account_lock(first, attempt):
        with second.app_context():
            page = other.get(wizard.url("test")).get_data(as_text=True)
            response = other.post(wizard.url("test"), data={
                "csrf_token": csrf_token(page), "mailbox": addr("alice")})

    assert response.status_code == 429
    assert "still running" in response.get_data(as_text=True)
    assert sandbox.count() == 0
    with second.app_context():
        assert _post_test(other, wizard) == 200  # the lock was released
