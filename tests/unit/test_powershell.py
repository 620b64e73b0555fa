"""PowerShell quoting and the scripts of wizard steps 1 and 2 (SECURITY.md finding 8, row 31)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exchange.access import Coverage
from app.exchange.addresses import InvalidInput
from app.exchange.powershell import (
    APP_ID_PLACEHOLDER,
    check_ews_enabled,
    create_room_list,
    create_service_account,
    fix_calendar_permission,
    fix_free_busy_default,
    fix_impersonation,
    grant_access,
    quote,
)

# PowerShell CharTraits.IsSingleQuote: U+0027 and U+2018..U+201B. Not tree-sitter's idea of it.
PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
PAYLOAD = "x\u2019; Start-Process calc; \u2018"
HOSTILE = "'\u2018\u2019\u201a\u201b\"\u201c\u201d\u201e$`;|&(){}"


def parse_single_quoted(text: str, start: int = 0) -> tuple[str, int]:
    """Read one single-quoted literal at ``start`` the way PowerShell's tokenizer does.

    Tokenizer.ScanStringLiteral: any single-quote char opens; inside, a quote char followed by
    another quote char appends the second one; a quote char not followed by one closes.
    Returns the value and the index just past the closing quote.
    """
    if start >= len(text) or text[start] not in PS_SINGLE_QUOTES:
        raise ValueError("not a single-quoted literal")
    value = []
    i = start + 1
    while True:
        if i >= len(text):
            raise ValueError("unterminated string")
        c = text[i]
        if c in PS_SINGLE_QUOTES:
            if i + 1 < len(text) and text[i + 1] in PS_SINGLE_QUOTES:
                value.append(text[i + 1])
                i += 2
                continue
            return "".join(value), i + 1
        value.append(c)
        i += 1


def assignments(body: str) -> dict[str, str]:
    """Return every ``$Name = '…'`` value in a script, parsed with PowerShell's quote rules."""
    found = {}
    for match in re.finditer(r"^\$(\w+) = (?=['\u2018-\u201b])", body, re.MULTILINE):
        value, end = parse_single_quoted(body, match.end())
        rest = body[end : body.find("\n", end) if "\n" in body[end:] else len(body)]
        assert rest.strip() == "", f"a token follows the literal of ${match.group(1)}: {rest!r}"
        found[match.group(1)] = value
    return found


def test_oracle_follows_powershell_rather_than_ascii_only_quotes():
    naive = "'" + PAYLOAD.replace("'", "''") + "'"

    value, end = parse_single_quoted(naive)

    assert value == "x"
    assert naive[end:] == "; Start-Process calc; \u2018'"


def test_the_calc_payload_stays_one_harmless_string():
    literal = quote(PAYLOAD)

    value, end = parse_single_quoted(literal)

    assert value == PAYLOAD
    assert end == len(literal)


@given(st.text(alphabet=HOSTILE + "abcXYZ 09@.-"))
def test_every_quoted_string_parses_back_to_itself_with_nothing_after_it(text):
    literal = quote(text)

    value, end = parse_single_quoted(literal)

    assert value == text
    assert end == len(literal)


@given(st.text(alphabet=HOSTILE + "ab"), st.text(alphabet=HOSTILE + "ab"))
def test_two_quoted_strings_in_one_statement_stay_two_tokens(first, second):
    line = f"{quote(first)}, {quote(second)}"

    value1, end1 = parse_single_quoted(line)
    value2, end2 = parse_single_quoted(line, end1 + 2)

    assert (value1, value2, end2) == (first, second, len(line))


@pytest.mark.parametrize("text", ["$(calc)", "`n", '"; calc; "', "a|b&c;d", "${env:PATH}"])
def test_dollar_backtick_and_double_quotes_are_left_inert(text):
    assert quote(text) == f"'{text}'"


@pytest.mark.parametrize(
    "text", ["a\nb", "a\rb", "a\x00b", "a\u2028b", "a\u2029b", "a\u0085b", "a\tb", "a\u202eb"]
)
def test_control_characters_and_line_separators_are_rejected(text):
    with pytest.raises(InvalidInput):
        quote(text)


def test_each_quote_is_doubled_as_itself():
    assert (
        quote("a'\u2018\u2019\u201a\u201bz")
        == "'a''\u2018\u2018\u2019\u2019\u201a\u201a\u201b\u201bz'"
    )


ALL = Coverage("all")
GROUP = Coverage("group", group=PAYLOAD)
LIST = Coverage("list", mailboxes=("alex@contoso.test", "room.1@contoso.test"))


def all_scripts():
    """Yield every script the module can produce, fed hostile values where admins type."""
    for deployment in ("onprem", "online"):
        yield create_service_account(deployment, PAYLOAD, display_name=PAYLOAD, logon_name=PAYLOAD)
        yield fix_impersonation(deployment, PAYLOAD, app_id=PAYLOAD)
        for level in ("full", "restricted", "free_busy"):
            for coverage in (ALL, GROUP, LIST):
                yield grant_access(level, deployment, PAYLOAD, coverage, app_id=PAYLOAD)
    yield fix_calendar_permission(PAYLOAD, PAYLOAD, "Editor")
    yield fix_free_busy_default(PAYLOAD)
    yield create_room_list(PAYLOAD, (PAYLOAD, "room@contoso.test"))
    yield check_ews_enabled(PAYLOAD)


@pytest.mark.parametrize("script", list(all_scripts()), ids=lambda s: s.filename)
def test_hostile_values_only_ever_appear_inside_quoted_literals(script):
    literal = quote(PAYLOAD)

    outside = script.body.replace(literal, "")

    assert literal in script.body
    assert "Start-Process" not in outside
    assert not set(outside) & set("\u2018\u2019\u201a\u201b")


@pytest.mark.parametrize("script", list(all_scripts()), ids=lambda s: s.filename)
def test_every_assignment_is_one_literal_with_nothing_after_it(script):
    values = assignments(script.body)

    assert values  # assignments() fails on any token after a literal


@pytest.mark.parametrize("script", list(all_scripts()), ids=lambda s: s.filename)
def test_every_script_explains_itself_and_downloads_with_a_bom(script):
    data = script.as_bytes()

    assert script.body.startswith("# Exchange Connect: ")
    assert script.filename.endswith(".ps1")
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").replace("\r\n", "\n") == script.body


def test_onprem_account_script_asks_for_the_password_and_never_embeds_one():
    script = create_service_account("onprem", "svc-connect@contoso.test", logon_name="CONTOSO\\svc")

    assert "-Password $Password" in script.body
    assert "Read-Host -AsSecureString" in script.body
    assert "-PasswordNeverExpires $true" in script.body
    assert assignments(script.body)["SamAccountName"] == "svc"


def test_online_account_script_creates_a_service_principal_with_placeholders_to_fill():
    script = create_service_account("online", "svc-connect@contoso.test")

    values = assignments(script.body)

    assert "New-ServicePrincipal -AppId $AppId -ObjectId $ObjectId" in script.body
    assert values["AppId"] == APP_ID_PLACEHOLDER
    assert "ApplicationImpersonation" in script.body  # explains why it is not used
    assert "throw 'Replace the <...> placeholder" in script.body


def test_onprem_full_access_for_a_group_scopes_impersonation_to_the_groups_members():
    script = grant_access("full", "onprem", "svc@contoso.test", Coverage("group", group="Sales"))

    assert "(Get-DistributionGroup -Identity $Group -ErrorAction Stop).DistinguishedName" in (
        script.body
    )
    assert "New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $Filter" in script.body
    assert "-Role ApplicationImpersonation -User $ServiceAccount -CustomRecipientWriteScope" in (
        script.body
    )
    assert "-GetEffectiveUsers" in script.body
    assert "2 hours" in script.body


def test_onprem_full_access_for_everyone_needs_no_scope():
    script = grant_access("full", "onprem", "svc@contoso.test", ALL)

    assert "ManagementScope" not in script.body
    assert "-CustomRecipientWriteScope" not in script.body


def test_list_coverage_builds_the_filter_in_powershell_from_an_array():
    script = grant_access("full", "onprem", "svc@contoso.test", LIST)

    assert assignments(script.body) == {
        "ServiceAccount": "svc@contoso.test",
        "ScopeName": "Exchange Connect - covered mailboxes",
        "AssignmentName": "Exchange Connect - service account",
    }
    assert "$MailboxAddresses = @(\n    'alex@contoso.test',\n    'room.1@contoso.test'\n)" in (
        script.body
    )
    assert "-join ' -or '" in script.body
    assert "alex@contoso.test'\"" not in script.body  # never concatenated into the filter


def test_exchange_online_full_access_uses_rbac_for_applications_not_impersonation():
    script = grant_access("full", "online", "svc@contoso.test", LIST, app_id="abc")

    assert "-Role ApplicationImpersonation" not in script.body
    assert "-App $AppId -Role 'Application EWS.AccessAsApp' -CustomResourceScope" in script.body
    assert "Test-ServicePrincipalAuthorization -Identity $AppId" in script.body
    assert "Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy" in script.body
    assert "Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs" in script.body
    assert "1 October 2026" in script.body and "1 April 2027" in script.body


@pytest.mark.parametrize("deployment", ["onprem", "online"])
def test_restricted_access_shares_only_the_localised_calendar_folder(deployment):
    script = grant_access("restricted", deployment, "svc@contoso.test", ALL)

    assert "Get-MailboxFolderStatistics -Identity $Address -FolderScope Calendar" in script.body
    assert "Where-Object FolderType -eq 'Calendar'" in script.body
    assert ":\\Calendar" not in script.body
    assert "AccessRights = 'Editor'" in script.body
    assert "Add-MailboxFolderPermission @Entry" in script.body
    assert "Set-MailboxFolderPermission @Entry" in script.body
    assert "ApplicationImpersonation" not in script.body
    assert "mail and every other folder remain out of its reach" in script.body


def test_delegate_flag_is_only_used_where_exchange_has_it():
    onprem = grant_access("restricted", "onprem", "svc@contoso.test", ALL)
    online = grant_access("restricted", "online", "svc@contoso.test", ALL, app_id="abc")

    assert "SharingPermissionFlags" not in onprem.body
    assert "SharingPermissionFlags = 'Delegate'" in online.body


def test_free_busy_access_grants_availability_only_and_mentions_the_default_entry():
    script = grant_access("free_busy", "onprem", "svc@contoso.test", Coverage("group", group="All"))

    assert "AccessRights = 'AvailabilityOnly'" in script.body
    assert "Editor" not in script.body
    assert "Default" in script.body
    assert "Get-DistributionGroupMember -Identity $Group" in script.body


def test_unknown_level_or_deployment_is_a_programming_error():
    with pytest.raises(ValueError):
        grant_access("admin", "onprem", "svc@contoso.test", ALL)
    with pytest.raises(ValueError):
        create_service_account("cloud", "svc@contoso.test")


def test_remediation_snippets_are_short():
    snippets = [
        fix_impersonation("onprem", "svc@contoso.test"),
        fix_calendar_permission("alex@contoso.test", "svc@contoso.test", "Reviewer"),
        fix_free_busy_default("alex@contoso.test"),
        create_room_list("Building 1", ("room1@contoso.test",)),
        check_ews_enabled("alex@contoso.test"),
    ]

    assert all(len(s.body.splitlines()) <= 20 for s in snippets)
    assert "-User Default -AccessRights AvailabilityOnly" in snippets[2].body
    assert "New-DistributionGroup -Name $RoomListName -RoomList -Members $Rooms" in snippets[3].body


@given(st.text())
def test_any_text_is_either_refused_or_round_trips(text):
    try:
        literal = quote(text)
    except InvalidInput:
        return

    assert parse_single_quoted(literal) == (text, len(literal))
