"""The whole wizard against the Exchange sandbox, through Flask's test client."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.database import db
from app.models import Attempt, Connection
from tests.helpers import WizardActions

pytestmark = pytest.mark.integration


def test_an_admin_connects_with_full_access_and_lands_on_the_connected_page(client, sandbox):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(sandbox.ews_url)
    wizard.access(level="full")

    tested = wizard.test(mailbox="alice@contoso.example")
    done = wizard.authorize()

    assert "The connection works" in tested.get_data(as_text=True)
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/connect/{attempt_id}/done")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Your Exchange calendars are connected" in page
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    connection = db.session.get(Connection, attempt.connection_id)
    assert (connection.access_level, connection.service_account) == (
        "full", "svc-full@contoso.example")
    assert connection.secret_enc == attempt.secret_enc


def test_a_wrong_password_fails_the_test_and_keeps_continue_locked(client, sandbox):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(sandbox.ews_url, password="Wrong-Pass-9")
    wizard.access(level="full")

    tested = wizard.test(mailbox="alice@contoso.example")
    jump = client.get(wizard.url("authorize"))

    html = tested.get_data(as_text=True)
    assert "Something needs fixing" in html
    assert "authentication_failed" in html
    assert jump.status_code == 302 and jump.headers["Location"].endswith("/test")
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.step_reached == 3 and attempt.service_account == "svc-full@contoso.example"


def test_after_authorizing_the_wizard_pages_lead_to_the_connected_page(client, sandbox):
    wizard = WizardActions(client)
    wizard.start()
    wizard.account(sandbox.ews_url)
    wizard.access(level="full")
    wizard.test()
    wizard.authorize()

    response = client.get(wizard.url("account"))

    assert response.status_code == 302 and response.headers["Location"].endswith("/done")


def test_cancel_creates_no_connection(client, sandbox):
    wizard = WizardActions(client)
    attempt_id = wizard.start()
    wizard.account(sandbox.ews_url)
    wizard.access(level="full")
    wizard.test()

    response = wizard.authorize(action="cancel")

    assert response.status_code == 302
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.status == "cancelled" and attempt.connection_id is None
    assert db.session.scalars(
        select(Connection).where(Connection.service_account == "never@contoso.example")
    ).first() is None
