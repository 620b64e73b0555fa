"""The wizard opened on a vendor's behalf shows who is asking and what each level can serve."""

from __future__ import annotations

import re

import pytest

from app.database import db
from app.models import Attempt, OAuthClient
from app.services import onboarding
from app.wizard.state import WizardState
from tests.helpers import WizardActions, random_ref

pytestmark = pytest.mark.integration

EWS_URL = "https://mail.contoso.example/EWS/Exchange.asmx"


def _vendor_wizard(client, scope: tuple[str, ...]) -> WizardActions:
    client_id = random_ref("client")
    db.session.add(OAuthClient(client_id=client_id, name="Acme Rooms",
                               redirect_uris=["https://acme.example/cb"], scope=" ".join(scope)))
    db.session.commit()
    attempt = onboarding.start_attempt(onboarding.VendorRequest(
        client_id=client_id, client_name="Acme Rooms", redirect_uri="https://acme.example/cb",
        scope=scope, state="xyz", code_challenge="c" * 43, code_challenge_method="S256"))
    with client.session_transaction() as session:
        WizardState(attempt.id).save(session)
    wizard = WizardActions(client)
    wizard.attempt_id = attempt.id
    return wizard


def test_every_page_names_the_vendor_that_is_asking(client):
    wizard = _vendor_wizard(client, ("read_account", "read_events"))

    html = client.get(wizard.url("account")).get_data(as_text=True)

    assert "Requested by <strong>Acme Rooms</strong>" in html


def test_page_two_shows_which_requested_scopes_each_level_can_serve(client):
    wizard = _vendor_wizard(client, ("read_account", "read_events", "create_event"))
    wizard.account(EWS_URL)

    html = client.get(wizard.url("access")).get_data(as_text=True)

    free_busy_card = html[html.index('id="level-free_busy-desc"'):]
    free_busy_card = free_busy_card[: free_busy_card.index("</div>\n        </div>")]
    refused = re.findall(r'scope--refused"><span class="visually-hidden">Not allowed: </span>(\w+)',
                         free_busy_card)
    assert set(refused) == {"read_events", "create_event"}
    assert "Acme Rooms asked for" in html


def test_a_login_hint_prefills_the_service_account_but_never_the_ews_url(client):
    client_id = random_ref("client")
    db.session.add(OAuthClient(client_id=client_id, name="Acme", redirect_uris=[], scope=""))
    db.session.commit()
    attempt = onboarding.start_attempt(onboarding.VendorRequest(
        client_id=client_id, client_name="Acme", redirect_uri="https://acme.example/cb",
        scope=("read_account",), login_hint="svc-full@contoso.example"))
    with client.session_transaction() as session:
        WizardState(attempt.id).save(session)

    html = client.get(f"/connect/{attempt.id}/account").get_data(as_text=True)

    assert 'value="svc-full@contoso.example"' in html
    assert db.session.get(Attempt, attempt.id).ews_url is None
