"""Page 3 through the test client: results, remediation, JSON report, live progress, catalogue."""

from __future__ import annotations

import json
import time

from flask.testing import FlaskClient

from app.sandbox import SandboxServer
from tests.helpers import WizardActions, csrf_token


def _ready(client: FlaskClient, sandbox: SandboxServer, service: str = "svc-full",
           level: str = "full", **account: str) -> WizardActions:
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(sandbox.ews_url, service_account=f"{service}@contoso.example", **account)
    wizard.access(level)
    return wizard


def test_results_page_shows_each_check_with_its_remediation_and_catalogue_link(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    wizard = _ready(client, sandbox, "svc-scoped")

    page = wizard.test("carol@contoso.example").get_data(as_text=True)

    assert "Access to the test mailbox" in page
    assert "ErrorImpersonateUserDenied" in page
    assert "New-ManagementRoleAssignment" in page
    assert "/docs/errors#impersonation_denied" in page
    assert "Download the report" in page


def test_passing_test_unlocks_step_four_and_is_saved_as_a_step_run(client: FlaskClient,
                                                                   sandbox: SandboxServer
                                                                   ) -> None:
    from app.database import db
    from app.models import StepRun

    wizard = _ready(client, sandbox)

    page = wizard.test().get_data(as_text=True)

    assert "The connection works" in page
    runs = db.session.query(StepRun).filter_by(attempt_id=wizard.attempt_id, step="test").all()
    assert [r.outcome for r in runs] == ["passed"]
    assert runs[0].result["checks"][0]["key"] == "endpoint"
    assert client.get(wizard.url("authorize")).status_code == 200


def test_report_downloads_as_json(client: FlaskClient, sandbox: SandboxServer) -> None:
    wizard = _ready(client, sandbox)
    wizard.test()

    response = client.get(wizard.url("test/report.json"))

    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    body = json.loads(response.get_data(as_text=True))
    assert body["report"]["passed"] is True
    assert {c["key"] for c in body["report"]["checks"]} >= {"endpoint", "rooms"}


def test_live_progress_lists_checks_as_they_finish_then_points_at_the_results(
        client: FlaskClient, sandbox: SandboxServer) -> None:
    wizard = _ready(client, sandbox)
    page = client.get(wizard.url("test")).get_data(as_text=True)
    assert 'data-test-start="' in page

    started = client.post(wizard.url("test/start"), data={
        "csrf_token": csrf_token(page), "mailbox": "alice@contoso.example"})

    assert started.status_code == 202
    url = started.get_json()["progress_url"]
    body: dict = {}
    for _ in range(100):
        body = client.get(url).get_json()
        if body["done"]:
            break
        time.sleep(0.05)
    assert body["done"] and body["passed"] is True
    assert [c["key"] for c in body["checks"]][:2] == ["endpoint", "authentication"]
    assert body["results_url"].endswith("/test")
    # The fixture's app context outlives requests, so drop what this thread's session cached
    # before the background thread saved the report (each real request gets a fresh session).
    from app.database import db

    db.session.expire_all()
    assert "The connection works" in client.get(body["results_url"]).get_data(as_text=True)


def test_error_catalogue_lists_every_code_with_an_anchor(client: FlaskClient) -> None:
    from app.exchange.catalogue import CATALOGUE

    page = client.get("/docs/errors").get_data(as_text=True)

    for code in CATALOGUE:
        assert f'id="{code}"' in page
    assert "two hours" in page
    assert "DOMAIN\\user" in page
