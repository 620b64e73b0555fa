"""Exchange's access rules: each service account against mailboxes inside and outside its reach,
with Basic, NTLM and (for the Exchange Online app-only path) OAuth."""

from __future__ import annotations

import pytest
from exchangelib import BASIC, NTLM, OAUTH2, Account, Configuration, FailFast, Identity
from exchangelib.credentials import OAuth2Credentials
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorNoFreeBusyAccess,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)
from oauthlib.oauth2.rfc6749.errors import InvalidClientError

from .conftest import DELEGATE, TZ, addr, calendar_without_root, make_account, this_week

pytestmark = pytest.mark.integration

CONTOSO_TENANT = "contoso-tenant"
APP_ALL = "00000000-0000-4000-8000-00000000a11a"
APP_SALES = "00000000-0000-4000-8000-0000000005a1"


def subjects(folder) -> list[str]:  # type: ignore[no-untyped-def]
    start, end = this_week()
    return [i.subject for i in folder.view(start=start, end=end).only("subject", "start", "end")]


@pytest.mark.parametrize(
    ("service", "mailbox", "allowed"),
    [
        ("svc-full", "alice", True),
        ("svc-full", "carol", True),
        ("svc-full", "room-a", True),
        ("svc-scoped", "alice", True),
        ("svc-scoped", "bob", True),
        ("svc-scoped", "carol", False),
        ("svc-restricted", "alice", False),
        ("svc-freebusy", "alice", False),
        ("svc-nomailbox", "carol", True),
        ("svc-none", "alice", False),
        ("svc-none", "carol", False),
    ],
)
def test_impersonation_acts_as_the_owner_only_within_the_role_scope(sandbox, service, mailbox,
                                                                   allowed):
    account = make_account(sandbox, service, mailbox)
    if allowed:
        assert subjects(account.calendar)
        assert account.inbox.name == "Inbox"
    else:
        with pytest.raises(ErrorImpersonateUserDenied):
            subjects(account.calendar)


def test_impersonating_an_unknown_mailbox_gives_non_existent_mailbox(sandbox):
    account = make_account(sandbox, "svc-full", "nobody")
    with pytest.raises(ErrorNonExistentMailbox):
        account.calendar  # noqa: B018


def test_impersonating_an_account_without_mailbox_gives_non_existent_mailbox(sandbox):
    account = make_account(sandbox, "svc-full", "svc-nomailbox")
    with pytest.raises(ErrorNonExistentMailbox):
        account.calendar  # noqa: B018


@pytest.mark.parametrize("auth_type", [BASIC, NTLM])
def test_editor_delegate_reads_and_writes_the_sales_calendars_but_not_root_or_inbox(sandbox,
                                                                                    auth_type):
    import datetime as dt

    from exchangelib import CalendarItem, EWSDateTime

    account = make_account(sandbox, "svc-restricted", "alice", access=DELEGATE,
                           auth_type=auth_type)
    calendar = calendar_without_root(account)
    assert "Doctor appointment" in subjects(calendar)  # private, CanViewPrivateItems set
    start = EWSDateTime.now(TZ).replace(microsecond=0)
    item = CalendarItem(account=account, folder=calendar, subject="By delegate", start=start,
                        end=start + dt.timedelta(minutes=30))
    item.save(send_meeting_invitations="SendToNone")
    found = calendar.filter(subject="By delegate").only("subject")
    assert [i.subject for i in found] == ["By delegate"]
    with pytest.raises(ErrorAccessDenied):
        account.root  # noqa: B018 - calendar-only delegates are denied the mailbox root
    with pytest.raises(ErrorAccessDenied):
        account.inbox  # noqa: B018


def test_editor_delegate_is_denied_a_calendar_outside_sales(sandbox):
    account = make_account(sandbox, "svc-restricted", "carol", access=DELEGATE)
    with pytest.raises(ErrorAccessDenied):
        subjects(calendar_without_root(account))


def test_reviewer_delegate_does_not_see_private_items_and_cannot_write(sandbox):
    import datetime as dt

    from exchangelib import CalendarItem, EWSDateTime

    account = make_account(sandbox, "svc-reviewer", "alice", access=DELEGATE)
    calendar = calendar_without_root(account)
    seen = subjects(calendar)
    assert "Customer call: Fabrikam" in seen and "Doctor appointment" not in seen
    start = EWSDateTime.now(TZ).replace(microsecond=0)
    item = CalendarItem(account=account, folder=calendar, subject="Nope", start=start,
                        end=start + dt.timedelta(minutes=30))
    with pytest.raises(ErrorAccessDenied):
        item.save(send_meeting_invitations="SendToNone")


def test_availability_only_delegate_cannot_open_the_calendar_items(sandbox):
    account = make_account(sandbox, "svc-freebusy", "alice", access=DELEGATE)
    with pytest.raises(ErrorAccessDenied):
        subjects(calendar_without_root(account))


def test_no_rights_account_gets_no_free_busy_for_sales_but_default_for_others(sandbox):
    account = make_account(sandbox, "svc-none", "svc-none")
    start, end = this_week()
    with pytest.raises(ErrorNoFreeBusyAccess):
        list(account.protocol.get_free_busy_info(
            accounts=[("alice@contoso.example", "Required", False)], start=start, end=end))
    (carol,) = account.protocol.get_free_busy_info(
        accounts=[("carol@contoso.example", "Required", False)], start=start, end=end)
    assert carol.calendar_events and all(e.details is None for e in carol.calendar_events)


def test_account_without_mailbox_has_no_calendar_of_its_own(sandbox):
    account = make_account(sandbox, "svc-nomailbox", "svc-nomailbox", access=DELEGATE)
    with pytest.raises(ErrorNonExistentMailbox):
        subjects(calendar_without_root(account))


@pytest.mark.parametrize("auth_type", [BASIC, NTLM])
def test_wrong_password_is_401_and_unauthorized(sandbox, auth_type):
    account = make_account(sandbox, "svc-full", "alice", auth_type=auth_type, password="wrong")
    with pytest.raises(UnauthorizedError):
        account.calendar  # noqa: B018
    assert any(e.status == 401 for e in sandbox.requests)


def test_auth_detection_picks_ntlm_from_the_401_challenge(sandbox):
    account = make_account(sandbox, "svc-full", "alice", auth_type=None)
    assert subjects(account.calendar)
    assert account.protocol.auth_type == NTLM
    first = sandbox.requests[0]
    assert first.status == 401 and first.user is None


class SandboxOAuth(OAuth2Credentials):
    """OAuth2Credentials with the sandbox's token endpoint (exchangelib hard-wires Entra ID)."""

    sandbox_token_url = ""

    @property
    def token_url(self) -> str:
        return self.sandbox_token_url


def oauth_account(sandbox, client_id: str, mailbox: str, secret: str = "Sandbox-Pass-1"):  # type: ignore[no-untyped-def]
    creds = SandboxOAuth(client_id=client_id, client_secret=secret, tenant_id=CONTOSO_TENANT,
                         identity=Identity(primary_smtp_address=addr(mailbox)))
    creds.sandbox_token_url = sandbox.token_url(CONTOSO_TENANT)
    config = Configuration(service_endpoint=sandbox.ews_url, credentials=creds,
                           auth_type=OAUTH2, retry_policy=FailFast())
    from exchangelib import IMPERSONATION

    return Account(addr(mailbox), config=config, access_type=IMPERSONATION, autodiscover=False,
                   default_timezone=TZ)


@pytest.fixture
def insecure_oauth(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.usefixtures("insecure_oauth")
def test_app_only_oauth_with_organisation_scope_reaches_every_mailbox(sandbox):
    for mailbox in ("alice", "carol"):
        assert subjects(oauth_account(sandbox, APP_ALL, mailbox).calendar)
    assert sandbox.count("OAuthToken") >= 1


@pytest.mark.usefixtures("insecure_oauth")
def test_app_only_oauth_scoped_to_sales_is_denied_other_mailboxes(sandbox):
    assert subjects(oauth_account(sandbox, APP_SALES, "bob").calendar)
    with pytest.raises(ErrorImpersonateUserDenied):
        subjects(oauth_account(sandbox, APP_SALES, "carol").calendar)


@pytest.mark.usefixtures("insecure_oauth")
def test_app_only_oauth_with_a_wrong_secret_gets_no_token(sandbox):
    with pytest.raises(InvalidClientError):
        oauth_account(sandbox, APP_ALL, "alice", secret="wrong").calendar  # noqa: B018
