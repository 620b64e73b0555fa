"""Access levels, scopes and coverage (DESIGN.md, VENDOR-API.md §2)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exchange.access import (
    ACCESS_LEVELS,
    ALL_SCOPES,
    LEVELS,
    SCOPES,
    Coverage,
    RefusedScope,
    UnknownAccessLevel,
    UnknownScope,
    access_level,
    compare_levels,
    grant,
    parse_scope,
)
from app.exchange.addresses import InvalidInput

EVENT_SCOPES = {"list_calendars", "read_events", "create_event", "delete_event"}


def test_scope_string_is_split_deduplicated_and_put_in_canonical_order():
    assert parse_scope("read_free_busy read_account  read_account") == (
        "read_account",
        "read_free_busy",
    )


def test_read_events_implies_read_free_busy():
    assert parse_scope("read_events") == ("read_events", "read_free_busy")


def test_aliases_are_expanded():
    assert parse_scope("read_write") == (
        "read_account",
        "list_calendars",
        "read_events",
        "create_event",
        "delete_event",
        "read_free_busy",
    )
    assert parse_scope("read_only") == (
        "read_account",
        "list_calendars",
        "read_events",
        "read_free_busy",
    )
    assert parse_scope("free_busy") == ("read_account", "read_free_busy")


def test_service_account_compatibility_scopes_are_accepted():
    assert parse_scope("service_account/accounts/manage service_account/resources/manage") == (
        "service_account/accounts/manage",
        "service_account/resources/manage",
    )


def test_unknown_scopes_are_an_error_naming_each_of_them_never_dropped():
    with pytest.raises(UnknownScope) as excinfo:
        parse_scope("read_account admin Read_Events admin")

    assert excinfo.value.scopes == ("admin", "Read_Events")
    assert excinfo.value.code == "invalid_scope"


def test_empty_scope_parses_to_nothing():
    assert parse_scope("") == ()


def test_full_level_grants_everything_asked_for():
    result = grant(list(ALL_SCOPES), "full")

    assert result.granted == ALL_SCOPES
    assert result.refused == ()


def test_restricted_level_grants_calendar_scopes_and_room_listing():
    result = grant(list(SCOPES), "restricted")

    assert result.granted == SCOPES
    assert result.refused == ()


def test_free_busy_level_grants_only_read_account_and_read_free_busy():
    result = grant(["read_write", "list_resources"], "free_busy")

    assert result.granted == ("read_account", "read_free_busy")
    assert result.scope == "read_account read_free_busy"
    assert result.refused == (
        RefusedScope("list_calendars", "access_level_free_busy"),
        RefusedScope("read_events", "access_level_free_busy"),
        RefusedScope("create_event", "access_level_free_busy"),
        RefusedScope("delete_event", "access_level_free_busy"),
        RefusedScope("list_resources", "access_level_free_busy"),
    )
    assert result.useful


@given(st.lists(st.sampled_from(ALL_SCOPES + ("read_only", "read_write", "free_busy"))))
def test_free_busy_level_can_never_grant_an_event_scope(requested):
    result = grant(requested, "free_busy")

    assert set(result.granted) <= {"read_account", "read_free_busy"}
    assert not set(result.granted) & EVENT_SCOPES


@given(st.lists(st.sampled_from(ALL_SCOPES)), st.sampled_from(LEVELS))
def test_every_requested_scope_is_either_granted_or_refused_never_both(requested, level):
    result = grant(requested, level)

    refused = {r.scope for r in result.refused}
    assert set(requested) <= set(result.granted) | refused
    assert not set(result.granted) & refused
    assert set(result.granted) <= ACCESS_LEVELS[level].scopes


def test_a_grant_of_only_read_account_when_more_was_asked_is_not_useful():
    result = grant(["read_account", "create_event"], "free_busy")

    assert result.granted == ("read_account",)
    assert not result.useful


def test_asking_for_read_account_alone_is_useful():
    assert grant(["read_account"], "free_busy").useful


def test_unknown_level_is_refused():
    with pytest.raises(UnknownAccessLevel):
        grant(["read_account"], "admin")
    with pytest.raises(UnknownAccessLevel):
        access_level("everything")


def test_unknown_scope_in_a_grant_request_is_an_error():
    with pytest.raises(UnknownScope):
        grant(["read_account", "mail.read"], "full")


def test_side_by_side_comparison_covers_every_level_in_order():
    rows = compare_levels(["read_events"])

    assert [level.key for level, _ in rows] == list(LEVELS)
    assert rows[2][1].granted == ("read_free_busy",)


def test_each_level_explains_what_it_can_and_cannot_do():
    for key in LEVELS:
        level = access_level(key)
        assert level.title and level.summary and level.can and level.cannot


def test_coverage_of_a_group_is_described_by_name():
    coverage = Coverage.from_form("group", group="  Sales team ")

    assert coverage.group == "Sales team"
    assert coverage.describe() == "The mailboxes that are members of the group “Sales team”."


def test_coverage_of_a_long_list_names_the_first_three():
    coverage = Coverage.from_form("list", mailboxes="a@x.test b@x.test; c@x.test,d@x.test")

    assert coverage.describe() == "4 listed mailboxes: a@x.test, b@x.test, c@x.test and 1 more."


def test_coverage_of_everyone_is_described_plainly():
    assert Coverage("all").describe() == "Every user and room mailbox in your organisation."


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "some"}, {"mode": "group"}, {"mode": "list"}, {"mode": "group", "group": ""}],
)
def test_inconsistent_coverage_is_rejected(kwargs):
    with pytest.raises(InvalidInput):
        Coverage(**kwargs)


def test_coverage_from_the_form_rejects_a_quoted_group_name():
    with pytest.raises(InvalidInput):
        Coverage.from_form("group", group="Sales' -or Name -like '*")
