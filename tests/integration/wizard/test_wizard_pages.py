"""The wizard through Flask's test client: every page, the step order, and what is kept."""

from __future__ import annotations

import base64
import re
import zlib

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.database import db
from app.models import Attempt, StepRun
from tests.helpers import DEMO_PASSWORD, WizardActions, csrf_token

pytestmark = pytest.mark.integration

EWS_URL = "https://mail.contoso.example/EWS/Exchange.asmx"


def _attempt(attempt_id: str) -> Attempt:
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt is not None
    return attempt


def _decode_session(app: Flask, client: FlaskClient) -> tuple[dict, str]:
    """Return the session as the browser holds it: the signed payload, readable by anyone."""
    cookie = client.get_cookie("ec_session")
    assert cookie is not None
    payload = cookie.value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if cookie.value.startswith("."):
        raw = zlib.decompress(raw)
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(cookie.value), raw.decode()


def test_start_page_explains_the_four_steps_and_has_a_start_button(client):
    response = client.get("/connect/")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Create a service account" in html and "Authorize" in html
    assert 'action="/connect/new"' in html


def test_the_root_url_leads_to_the_wizard(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/connect/")


def test_starting_needs_a_post_with_a_csrf_token(client):
    response = client.post("/connect/new")

    assert response.status_code == 400
    assert db.session.scalars(select(Attempt)).all() is not None


def test_page_one_shows_both_powershell_variants_and_the_exchange_online_warning(client):
    wizard = WizardActions(client)
    wizard.start()

    html = client.get(wizard.url("account")).get_data(as_text=True)

    assert "New-Mailbox" in html
    assert "New-ServicePrincipal" in html
    assert "1 October 2026" in html and "1 April 2027" in html
    assert "ApplicationImpersonation" in html


def test_saving_page_one_moves_to_page_two_and_encrypts_the_password(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()

    response = wizard.account(EWS_URL)

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/connect/{attempt_id}/access")
    attempt = _attempt(attempt_id)
    assert attempt.service_account == "svc-full@contoso.example"
    assert attempt.secret_enc and DEMO_PASSWORD.encode() not in attempt.secret_enc
    assert attempt.step_reached == 2


def test_invalid_input_is_explained_next_to_the_field_and_what_was_typed_is_kept(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()

    response = wizard.account("http://mail.contoso.example/EWS/Exchange.asmx",
                              service_account="O’Brien@contoso.example")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "error-summary" in html
    assert 'value="http://mail.contoso.example/EWS/Exchange.asmx"' in html
    assert "O’Brien@contoso.example" in html
    assert _attempt(attempt_id).step_reached == 1
    runs = _attempt(attempt_id).steps
    assert runs[-1].outcome == "invalid" and runs[-1].inputs["password"] == "[redacted]"


def test_missing_password_is_required_only_until_one_is_saved(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()

    first = wizard.account(EWS_URL, password="")
    wizard.account(EWS_URL)
    again = wizard.account(EWS_URL, password="")

    assert "Enter the service account" in first.get_data(as_text=True)
    assert again.status_code == 302
    assert _attempt(attempt_id).secret_enc is not None


def test_exchange_online_needs_the_app_registration_fields(client):
    wizard = WizardActions(client)
    wizard.start()

    response = wizard.account(EWS_URL, deployment="online", password="")

    html = response.get_data(as_text=True)
    assert "tenant" in html.lower() and "Enter the app" in html


def test_jumping_ahead_sends_the_admin_back_to_the_step_they_are_on(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()

    response = client.get(wizard.url("authorize"), follow_redirects=True)

    assert response.request.path == f"/connect/{attempt_id}/account"
    assert "Finish “Create a service account” first." in response.get_data(as_text=True)


def test_back_and_refresh_show_what_was_saved(client):
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(EWS_URL)
    wizard.access(level="restricted", coverage="group", group="Sales")

    page_one = client.get(wizard.url("account")).get_data(as_text=True)
    page_two = client.get(wizard.url("access")).get_data(as_text=True)

    assert 'value="svc-full@contoso.example"' in page_one
    assert EWS_URL in page_one
    assert "A password is saved" in page_one
    assert DEMO_PASSWORD not in page_one
    assert re.search(r'value="restricted"[^>]*checked|checked[^>]*value="restricted"', page_two)
    assert 'value="Sales"' in page_two


def test_page_two_shows_the_powershell_for_the_saved_choice_with_a_download(client):
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(EWS_URL)

    wizard.access(level="restricted", coverage="list",
                  mailboxes="alice@contoso.example\nbob@contoso.example", action="preview")
    html = client.get(wizard.url("access")).get_data(as_text=True)
    download = client.get(wizard.url("access/script.ps1"))

    assert "Add-MailboxFolderPermission" in html
    assert "&#39;alice@contoso.example&#39;" in html or "'alice@contoso.example'" in html
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    assert "'bob@contoso.example'" in download.get_data(as_text=True)


def test_changing_the_access_level_after_a_test_requires_a_new_test(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(EWS_URL)
    wizard.access(level="full")
    attempt = _attempt(attempt_id)
    attempt.test_passed, attempt.step_reached = True, 4
    db.session.commit()

    wizard.access(level="free_busy")

    attempt = _attempt(attempt_id)
    assert attempt.step_reached == 3 and attempt.test_passed is False


def test_a_browser_that_never_started_the_attempt_cannot_open_it(app: Flask, client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    stranger = app.test_client()

    response = stranger.get(f"/connect/{attempt_id}/account", follow_redirects=True)

    assert response.request.path == "/connect/"
    assert "expired" in response.get_data(as_text=True)


def test_an_expired_attempt_says_so_and_restarts_cleanly(client):
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(EWS_URL)

    with time_machine.travel("2099-01-01", tick=False):
        response = client.get(wizard.url("access"), follow_redirects=True)

    assert response.request.path == "/connect/"
    assert "expired" in response.get_data(as_text=True)


def test_two_tabs_run_two_wizards_without_corrupting_each_other(client):
    tab_one, tab_two = WizardActions(client), WizardActions(client)
    first, second = tab_one.start(), tab_two.start()

    tab_one.account(EWS_URL, service_account="svc-full@contoso.example")
    tab_two.account(EWS_URL, service_account="svc-restricted@contoso.example")
    tab_one.access(level="full")
    tab_two.access(level="restricted")

    assert first != second
    assert (_attempt(first).service_account, _attempt(first).access_level) == (
        "svc-full@contoso.example", "full")
    assert (_attempt(second).service_account, _attempt(second).access_level) == (
        "svc-restricted@contoso.example", "restricted")
    assert client.get(tab_one.url("test")).status_code == 200
    assert client.get(tab_two.url("test")).status_code == 200


def test_the_session_cookie_holds_only_ids_and_steps(app: Flask, client):
    """SECURITY.md row 48: decode the cookie; no password, address or URL is in it."""
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(EWS_URL)
    wizard.access()

    session, raw = _decode_session(app, client)

    assert DEMO_PASSWORD not in raw
    assert "svc-full" not in raw and "contoso" not in raw
    assert session["wizards"][0]["a"] == attempt_id
    assert set(session) <= {"wizards", "csrf_token", "_permanent", "_flashes"}


def test_no_password_is_stored_unencrypted_anywhere_in_the_database(client):
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(EWS_URL, password="Unique-Pa55-" + "q" * 8)
    wizard.access()

    dump = []
    for table in ("attempts", "step_runs", "connections"):
        rows = db.session.execute(db_text(f"SELECT * FROM {table}")).all()
        dump.extend(repr(tuple(row)) for row in rows)

    assert "Unique-Pa55-qqqqqqqq" not in "\n".join(dump)


def db_text(sql: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    return text(sql)


def test_every_completed_step_is_recorded_with_secrets_redacted(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(EWS_URL)
    wizard.access(level="full")

    runs = db.session.scalars(
        select(StepRun).where(StepRun.attempt_id == attempt_id).order_by(StepRun.id)
    ).all()

    assert [(r.step, r.outcome) for r in runs] == [
        ("account", "completed"),
        ("access", "completed"),
    ]
    assert runs[0].inputs["password"] == "[redacted]"
    assert "csrf_token" not in runs[0].inputs


def test_the_test_page_refuses_continue_until_the_checks_passed(client):
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(EWS_URL)
    wizard.access()

    html = client.get(wizard.url("test")).get_data(as_text=True)

    assert "Continue is available once" in html
    assert wizard.url("authorize") not in html


def test_pages_are_not_framable_and_allow_no_inline_script(client):
    response = client.get("/connect/")

    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "form-action" not in csp  # SECURITY.md finding 9
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)


def test_a_form_posted_without_its_csrf_token_is_refused_and_nothing_changes(client):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(EWS_URL)

    response = client.post(wizard.url("account"), data={
        "deployment": "onprem", "service_account": "svc-none@contoso.example",
        "password": "x", "endpoint": "url", "ews_url": EWS_URL})

    assert response.status_code == 400
    assert _attempt(attempt_id).service_account == "svc-full@contoso.example"


def test_unknown_pages_get_a_friendly_404(client):
    response = client.get("/connect/nope/else/where")

    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_csrf_token_helper_finds_the_token(client):
    assert csrf_token(client.get("/connect/").get_data(as_text=True))
