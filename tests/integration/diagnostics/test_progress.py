"""Live progress lives in the database: any worker process answers the poll, a dead worker's
test is reported as interrupted, and a refused background test says when to retry."""

from __future__ import annotations

import threading
import time
from typing import Any

import time_machine
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.database import db
from app.models import StepRun
from app.sandbox import SandboxServer
from app.services import credential_test
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import WizardActions, csrf_token

from .conftest import addr


def _ready(client: FlaskClient, sandbox: SandboxServer) -> WizardActions:
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(sandbox.ews_url, service_account=addr("svc-full"))
    wizard.access("full")
    return wizard


def _other_worker(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second app on the same database, as another gunicorn worker would be, with the
    browser's cookies: it shares nothing in memory with ``app``."""
    other = create_app({"TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"],
                        "ENCRYPTION_KEYS": (ENCRYPTION_KEY,),
                        "DATABASE_URL": app.config["DATABASE_URL"],
                        "OUTBOUND_ALLOW_HOSTS": ("127.0.0.1",),
                        "RATELIMIT_STORAGE_URI": "memory://", "SERVER_NAME": "localhost"})
    other_client = other.test_client()
    for cookie in client._cookies.values():
        other_client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    return other_client


def test_another_worker_answers_the_progress_poll_while_the_test_runs(
        app: Flask, client: FlaskClient, sandbox: SandboxServer) -> None:
    wizard = _ready(client, sandbox)
    attempt_id = wizard.attempt_id or ""
    run_id = credential_test.begin(attempt_id, addr("alice"), False)
    first_saved, release = threading.Event(), threading.Event()

    def hold_after_first(check: Any) -> None:
        first_saved.set()
        release.wait(10)

    def work() -> None:
        with app.app_context():
            credential_test.run(run_id, app.extensions["exchange"], app.extensions["secret_box"],
                                on_progress=hold_after_first)
            db.session.remove()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert first_saved.wait(10)
        other = _other_worker(app, client)
        url = wizard.url(f"test/progress/{run_id}")

        during = other.get(url).get_json()

        assert during["done"] is False
        assert [c["key"] for c in during["checks"]] == ["endpoint"]
        assert "trace" not in during["checks"][0]
    finally:
        release.set()
        worker.join(20)
    after = _other_worker(app, client).get(wizard.url(f"test/progress/{run_id}")).get_json()
    assert after["done"] is True and after["passed"] is True
    assert {c["key"] for c in after["checks"]} >= {"endpoint", "authentication", "rooms"}


def test_a_test_whose_worker_died_is_reported_as_interrupted(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    wizard = _ready(client, sandbox)
    run_id = credential_test.begin(wizard.attempt_id or "", addr("alice"), False)
    url = wizard.url(f"test/progress/{run_id}")
    assert client.get(url).get_json()["done"] is False

    with time_machine.travel(time.time() + 600):
        body = client.get(url).get_json()

    assert body["done"] is True and body["passed"] is None
    assert "interrupted" in body["error"]
    db.session.expire_all()
    assert db.session.get(StepRun, run_id).outcome == "interrupted"  # type: ignore[union-attr]


def test_a_run_of_another_attempt_is_not_found(client: FlaskClient,
                                               sandbox: SandboxServer) -> None:
    mine, theirs = _ready(client, sandbox), _ready(client, sandbox)
    run_id = credential_test.begin(theirs.attempt_id or "", addr("alice"), False)

    response = client.get(mine.url(f"test/progress/{run_id}"))

    assert response.status_code == 404


def test_a_background_test_refused_by_the_lock_says_when_to_retry(
        app: Flask, client: FlaskClient, sandbox: SandboxServer) -> None:
    from app.services import onboarding
    from app.wizard import credential_limits

    app.config["CREDENTIAL_TEST_LOCK_WAIT"] = 0.1
    wizard = _ready(client, sandbox)
    page = client.get(wizard.url("test")).get_data(as_text=True)
    attempt = onboarding.get_attempt(wizard.attempt_id or "")
    sandbox.reset()
    with credential_limits.account_lock(app, attempt):
        started = client.post(wizard.url("test/start"), data={
            "csrf_token": csrf_token(page), "mailbox": addr("alice")})
        url = started.get_json()["progress_url"]
        for _ in range(100):
            response = client.get(url)
            if response.get_json()["done"]:
                break
            time.sleep(0.05)

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "still running" in response.get_json()["error"]
    assert sandbox.count() == 0
