"""The sandbox's access rules as pure functions over the demo directory."""

from __future__ import annotations

import datetime as dt

import pytest

from app.sandbox import DEMO_PASSWORD, load_directory
from app.sandbox.directory import DirectoryError, parse_directory
from app.sandbox.permissions import (
    Principal,
    can_impersonate,
    folder_rights,
    free_busy_detail,
    may_delete,
    may_edit,
    rights_for_level,
)
from app.sandbox.timezones import SerialTime, SerialZone, all_zones

D = load_directory()


def a(name: str) -> str:
    return f"{name}@contoso.example"


def test_demo_directory_has_the_documented_accounts_and_password():
    for name in ("svc-full", "svc-scoped", "svc-restricted", "svc-freebusy", "svc-nomailbox",
                 "svc-none", "alice", "bob", "carol", "room-a", "room-b", "rooms"):
        acct = D.account(a(name))
        assert acct is not None and acct.password == DEMO_PASSWORD
    assert D.members("Sales") == {a("alice"), a("bob")}
    assert D.room_lists[a("rooms")] == [a("room-a"), a("room-b")]
    assert D.mailbox(a("svc-nomailbox")) is None


def test_every_user_and_room_has_events_this_week_and_next():
    now = dt.datetime.now(dt.UTC)
    for name in ("alice", "bob", "carol", "room-a", "room-b"):
        starts = [e.start for e in D.events if e.mailbox == a(name)]
        assert any(s - now < dt.timedelta(days=8) for s in starts), name
        assert any(s > now for s in starts) or any(e.recurrence for e in D.events
                                                   if e.mailbox == a(name)), name


@pytest.mark.parametrize(("caller", "mailbox", "expected"), [
    ("svc-full", "carol", True), ("svc-scoped", "alice", True), ("svc-scoped", "carol", False),
    ("svc-restricted", "alice", False), ("svc-none", "alice", False),
    ("svc-nomailbox", "room-a", True),
])
def test_impersonation_follows_the_role_scope(caller, mailbox, expected):
    assert can_impersonate(D, Principal("account", a(caller)), a(mailbox)) is expected


def test_app_scope_governs_app_only_access():
    all_app, sales_app = sorted(D.apps, reverse=True)
    assert can_impersonate(D, Principal("app", D.apps[all_app].client_id), a("carol")) is True
    assert can_impersonate(D, Principal("app", D.apps[sales_app].client_id), a("carol")) is False
    assert can_impersonate(D, Principal("app", D.apps[sales_app].client_id), a("bob")) is True


def test_mail_folders_need_full_access_and_calendars_follow_the_folder_permission():
    assert folder_rights(D, a("svc-restricted"), a("alice"), "inbox").visible is False
    editor = folder_rights(D, a("svc-restricted"), a("alice"), "calendar")
    assert editor.level == "Editor" and editor.view_private and editor.edit == "all"
    assert folder_rights(D, a("svc-restricted"), a("carol"), "calendar").level == \
        "AvailabilityOnly"
    assert folder_rights(D, a("alice"), a("alice"), "inbox").level == "Owner"


@pytest.mark.parametrize(("caller", "mailbox", "detail"), [
    ("svc-freebusy", "alice", "times"), ("svc-none", "alice", "none"),
    ("svc-none", "carol", "times"), ("svc-limited", "bob", "limited"),
    ("svc-reviewer", "alice", "full"), ("alice", "alice", "full"), (None, "alice", "none"),
])
def test_free_busy_detail_follows_the_callers_calendar_permission(caller, mailbox, detail):
    assert free_busy_detail(D, a(caller) if caller else None, a(mailbox)) == detail


def test_author_edits_and_deletes_only_its_own_items():
    author = rights_for_level("Author")
    assert may_edit(author, "x", "x") and not may_edit(author, "x", "y")
    assert may_delete(author, "x", "x") and not may_delete(author, "x", "y")
    assert not may_edit(rights_for_level("Reviewer"), "x", "x")
    with pytest.raises(ValueError):
        rights_for_level("Superuser")


def test_inconsistent_data_files_are_rejected():
    with pytest.raises(DirectoryError):
        parse_directory({"domain": "x.example", "groups": [{"name": "G", "members": ["ghost"]}]})
    with pytest.raises(DirectoryError):
        parse_directory({"domain": "x.example", "users": [{"name": "u"}],
                         "calendar_permissions": [{"mailbox": "u", "user": "Default",
                                                   "level": "Boss"}]})


def test_time_zone_definitions_have_dst_rules_where_tzdata_has_them():
    zones = all_zones()
    berlin = zones["W. Europe Standard Time"]
    assert berlin.std_bias == -60 and berlin.dst_bias == -120
    assert {(t.period, t.month, t.weekday, t.occurrence) for t in berlin.transitions} == {
        ("Daylight", 3, "Sunday", -1), ("Standard", 10, "Sunday", -1)}
    assert zones["Tokyo Standard Time"].dst_bias is None


def test_serializable_time_zone_converts_across_dst():
    berlin = SerialZone(-60, SerialTime(0, 180, 5, 10, "Sunday"),
                        SerialTime(-60, 120, 5, 3, "Sunday"))
    winter = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 15, 12, tzinfo=dt.UTC)
    assert berlin.to_local(winter).hour == 13 and berlin.to_local(summer).hour == 14
    assert berlin.to_utc(dt.datetime(2026, 7, 15, 14)) == summer
