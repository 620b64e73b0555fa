"""Validation of what the admin types (SECURITY.md rows 21, 27 and 32)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exchange.addresses import (
    InvalidInput,
    normalize_address,
    normalize_client_id,
    normalize_ews_url,
    normalize_group_name,
    normalize_logon_name,
    normalize_tenant_id,
    parse_address_list,
)
from app.exchange.powershell import quote

QUOTE_CHARS = "'\u2018\u2019\u201a\u201b\"\u201c\u201d\u201e\u201f`"


def test_an_address_is_trimmed_and_its_domain_lowercased():
    assert (
        normalize_address("  Svc.Connect+cal@Contoso.EXAMPLE ") == "Svc.Connect+cal@contoso.example"
    )


@pytest.mark.parametrize("address", ["O\u2019Brien@contoso.example", "O'Brien@contoso.example"])
def test_an_apostrophe_in_an_address_is_refused_with_advice(address):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_address(address)

    assert excinfo.value.code == "invalid_address"
    assert "apostrophe" in str(excinfo.value)
    assert "primary SMTP address" in str(excinfo.value)


@pytest.mark.parametrize(
    "address", ["user@xn--80ak6aa92e.com", "user@\u0430pple.com", "a@b\u00fccher.de"]
)
def test_internationalised_domains_are_refused(address):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_address(address)

    assert "Internationalised domain names are not accepted" in str(excinfo.value)
    assert "ASCII form" in str(excinfo.value)


def test_the_refusal_of_a_unicode_domain_shows_its_ascii_form():
    with pytest.raises(InvalidInput) as excinfo:
        normalize_address("a@b\u00fccher.de")

    assert "xn--bcher-kva.de" in str(excinfo.value)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "alex",
        "alex@",
        "@contoso.example",
        "a@b@contoso.example",
        "alex smith@contoso.example",
        "alex@contoso",
        "alex@-contoso.example",
        "alex@contoso..example",
        ".alex@contoso.example",
        "al..ex@contoso.example",
        "alex$(calc)@contoso.example",
        "alex`n@contoso.example",
        "alex;calc@contoso.example",
        'alex"@contoso.example',
        "\u201calex\u201d@contoso.example",
        "alex\n@contoso.example",
        "alex\x00@contoso.example",
        "alex\u2028@contoso.example",
        "alex@127.0.0.1",
        "x" * 65 + "@contoso.example",
        "a@" + ".".join(["b" * 60] * 5) + ".example",
        "\u0430lex@contoso.example",
    ],
)
def test_addresses_a_mailbox_cannot_have_are_refused(address):
    with pytest.raises(InvalidInput):
        normalize_address(address)


@given(st.text(alphabet=QUOTE_CHARS + "ab@.c", min_size=1))
def test_no_accepted_address_ever_contains_a_quote(text):
    try:
        address = normalize_address(text)
    except InvalidInput:
        return

    assert not set(address) & set(QUOTE_CHARS)
    assert quote(address) == f"'{address}'"


def test_a_logon_name_is_optional():
    assert normalize_logon_name("") == ""
    assert normalize_logon_name(None) == ""


def test_a_logon_name_keeps_the_user_and_uppercases_the_netbios_domain():
    assert normalize_logon_name(" contoso\\svc-Connect ") == "CONTOSO\\svc-Connect"


@pytest.mark.parametrize(
    "logon",
    [
        "svc-connect",
        "CONTOSO/svc",
        "A\\B\\C",
        "CONTOSO-DOMAIN-LONG\\svc",
        "CONTOSO\\" + "s" * 21,
        "CONTOSO\\svc*",
        "CONTOSO\\svc'",
        "CONTOSO\\svc\u2019",
        "CONTOSO\\svc\nx",
        "CONT OSO\\svc",
        "CONTOSO\\...",
    ],
)
def test_malformed_logon_names_are_refused(logon):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_logon_name(logon)

    assert excinfo.value.code == "invalid_logon_name"


def test_a_group_name_may_use_spaces_ampersands_and_accents():
    assert normalize_group_name(" Ventes & Marketing (Genève) ") == "Ventes & Marketing (Genève)"


def test_a_group_address_is_validated_as_an_address():
    assert normalize_group_name("Sales@Contoso.Example") == "Sales@contoso.example"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Sales'",
        "Sales\u2019",
        "Sales\u201c",
        "Sales`",
        "Sales$x",
        "Sales\nAll",
        "Sales;x",
        "x" * 65,
    ],
)
def test_group_names_with_quotes_or_script_characters_are_refused(name):
    with pytest.raises(InvalidInput):
        normalize_group_name(name)


def test_an_address_list_is_split_normalised_and_deduplicated_in_order():
    text = "b@X.test, a@x.test;\nB@x.test  c@x.test\r\n"

    assert parse_address_list(text) == ("b@x.test", "a@x.test", "c@x.test")


def test_the_bad_entry_of_an_address_list_is_named():
    with pytest.raises(InvalidInput) as excinfo:
        parse_address_list("a@x.test, O\u2019Brien@x.test")

    assert "Entry 2" in str(excinfo.value)
    assert "O\u2019Brien@x.test" in str(excinfo.value)


def test_an_address_list_is_capped_at_500():
    text = " ".join(f"user{i}@x.test" for i in range(501))

    with pytest.raises(InvalidInput) as excinfo:
        parse_address_list(text)

    assert excinfo.value.code == "too_many_addresses"


def test_an_empty_address_list_is_empty():
    assert parse_address_list(" ,; \n") == ()


def test_an_ews_url_is_normalised():
    url = " HTTPS://Mail.Contoso.Example:443/ews/exchange.ASMX "

    assert normalize_ews_url(url, ()) == "https://mail.contoso.example/EWS/Exchange.asmx"


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.contoso.example/EWS/Exchange.asmx",
        "https://mail.contoso.example:8443/EWS/Exchange.asmx",
        "https://a@b.example/EWS/Exchange.asmx",
        "https://user:pw@mail.contoso.example/EWS/Exchange.asmx",
        "file:///etc/passwd",
        "ftp://mail.contoso.example/EWS/Exchange.asmx",
        "https://mail.contoso.example/owa/",
        "https://mail.contoso.example/EWS/Exchange.asmx/../x",
        "https://mail.contoso.example/EWS/Exchange.asmx?x=1",
        "https://mail.contoso.example/EWS/Exchange.asmx#x",
        "https://127.0.0.1/EWS/Exchange.asmx",
        "https://2130706433/EWS/Exchange.asmx",
        "https://0x7f.1/EWS/Exchange.asmx",
        "https://0177.0.0.1/EWS/Exchange.asmx",
        "https://127.1/EWS/Exchange.asmx",
        "https://[::1]/EWS/Exchange.asmx",
        "https://[::ffff:127.0.0.1]/EWS/Exchange.asmx",
        "https://localhost/EWS/Exchange.asmx",
        "https://xn--80ak6aa92e.com/EWS/Exchange.asmx",
        "https://\u0430pple.com/EWS/Exchange.asmx",
        "https://mail.contoso.example\\@evil.example/EWS/Exchange.asmx",
        "https://mail.contoso.example:99999/EWS/Exchange.asmx",
        "https://[::1/EWS/Exchange.asmx",
        "https:mail.contoso.example/EWS/Exchange.asmx",
        "https://mail\n.contoso.example/EWS/Exchange.asmx",
        "",
    ],
)
def test_dangerous_ews_urls_are_refused(url):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_ews_url(url, ())

    assert excinfo.value.code == "invalid_ews_url"


def test_an_allow_listed_host_may_use_http_a_port_and_an_ip_address():
    url = "http://127.0.0.1:8765/EWS/Exchange.asmx"

    assert normalize_ews_url(url, ["127.0.0.1:8765"]) == url


def test_the_allow_list_is_matched_by_spelling_not_by_address():
    with pytest.raises(InvalidInput):
        normalize_ews_url("http://2130706433:8765/EWS/Exchange.asmx", ["127.0.0.1"])


def test_an_allow_listed_host_still_needs_the_ews_path():
    with pytest.raises(InvalidInput):
        normalize_ews_url("http://localhost:8765/", ["localhost"])


def test_tenant_ids_are_guids_or_onmicrosoft_domains():
    assert (
        normalize_tenant_id(" {72F988BF-86F1-41AF-91AB-2D7CD011DB47} ")
        == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    )
    assert normalize_tenant_id("Contoso.onmicrosoft.com") == "contoso.onmicrosoft.com"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "contoso.com",
        "contoso.mail.onmicrosoft.com",
        "00000000-0000-0000-0000-000000000000",
        "72f988bf86f141af91ab2d7cd011db47x",
        "contoso\u2019.onmicrosoft.com",
    ],
)
def test_other_tenant_ids_are_refused(value):
    with pytest.raises(InvalidInput) as excinfo:
        normalize_tenant_id(value)

    assert excinfo.value.code == "invalid_tenant_id"


def test_a_client_id_must_be_a_guid():
    assert (
        normalize_client_id("00001111-AAAA-2222-bbbb-3333cccc4444")
        == "00001111-aaaa-2222-bbbb-3333cccc4444"
    )
    with pytest.raises(InvalidInput) as excinfo:
        normalize_client_id("contoso.onmicrosoft.com")
    assert excinfo.value.code == "invalid_client_id"
