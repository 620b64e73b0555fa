"""exchangelib 5.6.0 drives every implemented EWS operation of the sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from exchangelib import NTLM, CalendarItem, EWSDateTime
from exchangelib.errors import (
    ErrorInvalidOperation,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorMailRecipientNotFound,
    ErrorNameResolutionNoResults,
    ErrorSchemaValidation,
)
from exchangelib.properties import ItemId
from exchangelib.services import GetUserAvailability

from app.sandbox import SandboxServer

from .conftest import TZ, calendar_without_root, make_account, this_week

pytestmark = pytest.mark.integration


def test_version_detection_goes_through_convertid_and_reports_exchange_2016(sandbox):
    account = make_account(sandbox, "svc-full", "alice", auth_type=None)
    assert account.version.build.major_version == 15
    assert account.version.api_version == "Exchange2016"
    assert sandbox.count("ConvertId") >= 1


def test_calendar_view_returns_seeded_events_of_this_and_next_week_with_occurrences(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    start, end = this_week()
    items = list(account.calendar.view(start=start, end=end))
    subjects = [i.subject for i in items]
    assert subjects.count("Weekly sales sync") == 2
    assert "Offsite" in subjects and "Doctor appointment" in subjects
    weekly = next(i for i in items if i.subject == "Weekly sales sync")
    assert weekly.is_recurring and weekly.type == "Occurrence"
    assert weekly.location == "Room A"
    assert next(i for i in items if i.subject == "Offsite").is_all_day


def test_calendar_view_window_includes_items_ending_at_start_and_caps_max_items(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    start, end = this_week()
    first = min(account.calendar.view(start=start, end=end), key=lambda i: i.start)
    touching = list(account.calendar.view(start=first.end, end=first.end + dt.timedelta(minutes=1)))
    assert first.id in [i.id for i in touching] or first.subject in [i.subject for i in touching]
    assert len(list(account.calendar.view(start=start, end=end, max_items=2))) == 2


def test_find_item_pages_through_a_calendar_with_an_indexed_view(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    qs = account.calendar.all().order_by("subject").only("subject")
    qs.page_size = 2
    subjects = [i.subject for i in qs]
    assert len(subjects) == 5
    assert sandbox.count("FindItem") >= 3


def test_restriction_filters_items_and_is_refused_on_a_calendar_view(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    assert [i.subject for i in account.calendar.filter(subject__startswith="Cust")] == [
        "Customer call: Fabrikam"]
    start, end = this_week()
    with pytest.raises(ErrorInvalidOperation):
        list(account.calendar.view(start=start, end=end).filter(subject="x"))


def test_get_item_fetches_by_id_and_returns_item_not_found_for_a_stale_id(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    first = next(iter(account.calendar.all().only("id", "changekey")))
    fetched = list(account.fetch([first, ItemId(id="SXxhbGljZUBjb250b3NvLmV4YW1wbGV8OTk5OQ==")]))
    assert fetched[0].subject
    assert isinstance(fetched[1], ErrorItemNotFound)


def test_create_update_delete_round_trip_with_change_keys(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    start = EWSDateTime.now(TZ).replace(microsecond=0) + dt.timedelta(days=1)
    item = CalendarItem(account=account, folder=account.calendar, subject="Sandbox meeting",
                        start=start, end=start + dt.timedelta(hours=1), location="Room 1",
                        body="hello", required_attendees=["bob@contoso.example"])
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")
    first_key = item.changekey
    item.subject = "Renamed"
    item.save(update_fields=["subject"], send_meeting_invitations="SendToAllAndSaveCopy")
    assert item.changekey != first_key
    again = account.calendar.get(id=item.id)
    assert again.subject == "Renamed" and again.location == "Room 1"
    stale = account.calendar.get(id=item.id)
    stale.changekey = first_key
    stale.subject = "Stale"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
    item_id = item.id
    item.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    with pytest.raises(ErrorItemNotFound):
        account.calendar.get(id=item_id)


def test_meeting_invitations_land_in_the_attendees_and_rooms_calendars(sandbox):
    alice = make_account(sandbox, "svc-full", "alice")
    start = EWSDateTime.now(TZ).replace(microsecond=0) + dt.timedelta(days=2)
    item = CalendarItem(account=alice, folder=alice.calendar, subject="Booked",
                        start=start, end=start + dt.timedelta(hours=1),
                        required_attendees=["bob@contoso.example"],
                        resources=["room-b@contoso.example"])
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")
    for mailbox in ("bob", "room-b"):
        other = make_account(sandbox, "svc-full", mailbox)
        assert "Booked" in [i.subject for i in other.calendar.view(start=start, end=start +
                                                                      dt.timedelta(hours=1))]


def test_get_folder_and_find_folder_list_the_mailbox_folders(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    assert account.root.name == "Top of Information Store"
    assert account.calendar.folder_class == "IPF.Appointment"
    assert account.inbox.name == "Inbox"
    names = {f.name for f in account.root.walk()}
    assert {"Calendar", "Inbox", "Sent Items"} <= names


def test_free_busy_for_availability_only_shows_times_and_reports_unknown_mailboxes(sandbox):
    account = make_account(sandbox, "svc-freebusy", "svc-freebusy")
    start, end = this_week()
    views = list(account.protocol.get_free_busy_info(
        accounts=[("alice@contoso.example", "Required", False),
                  ("carol@contoso.example", "Required", False),
                  ("nobody@contoso.example", "Required", False)],
        start=start, end=end))
    alice, carol, nobody = views
    assert alice.view_type == "FreeBusyMerged" and alice.calendar_events
    assert all(e.details is None for e in alice.calendar_events)
    assert "2" in alice.merged  # busy intervals
    assert carol.calendar_events  # Default is AvailabilityOnly outside Sales
    assert isinstance(nobody, ErrorMailRecipientNotFound)


def test_free_busy_detail_follows_limited_details_and_reviewer_permissions(sandbox):
    start, end = this_week()
    limited = make_account(sandbox, "svc-limited", "svc-limited")
    (view,) = limited.protocol.get_free_busy_info(
        accounts=[("alice@contoso.example", "Required", False)], start=start, end=end)
    details = [e.details for e in view.calendar_events]
    assert view.view_type == "DetailedMerged"
    assert any(d.subject == "Weekly sales sync" for d in details)
    assert all(d.id is None for d in details)
    private = next(d for d in details if d.is_private)
    assert private.subject is None
    reviewer = make_account(sandbox, "svc-restricted", "svc-restricted")
    (view,) = reviewer.protocol.get_free_busy_info(
        accounts=[("alice@contoso.example", "Required", False)], start=start, end=end)
    assert any(e.details.subject == "Doctor appointment" for e in view.calendar_events)


def test_free_busy_refuses_more_than_100_mailboxes_per_request(sandbox):
    account = make_account(sandbox, "svc-freebusy", "svc-freebusy")
    start, end = this_week()
    tz = next(account.protocol.get_timezones(timezones=[TZ], return_full_timezone_data=True))
    from exchangelib.errors import ErrorMailboxDataArrayTooBig
    from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow, TimeZone
    service = GetUserAvailability(protocol=account.protocol, chunk_size=200)
    data = [MailboxData(email=Mailbox_(f"user{n}@contoso.example"), attendee_type="Required",
                        exclude_conflicts=False) for n in range(101)]
    options = FreeBusyViewOptions(time_window=TimeWindow(start=start, end=end),
                                  merged_free_busy_interval=30, requested_view="DetailedMerged")
    with pytest.raises(ErrorMailboxDataArrayTooBig):
        list(service.call(tzinfo=TZ, timezone=TimeZone.from_server_timezone(tz, start.year),
                          mailbox_data=data, free_busy_view_options=options))


def Mailbox_(address):  # noqa: N802 - keeps the call site short
    from exchangelib.properties import Email

    return Email(email_address=address)


def test_room_lists_rooms_and_unknown_room_list(sandbox):
    account = make_account(sandbox, "svc-none", "svc-none")
    lists = account.protocol.get_roomlists()
    assert [r.email_address for r in lists] == ["rooms@contoso.example"]
    rooms = account.protocol.get_rooms("rooms@contoso.example")
    assert sorted(r.email_address for r in rooms) == ["room-a@contoso.example",
                                                      "room-b@contoso.example"]
    with pytest.raises(ErrorNameResolutionNoResults):
        list(account.protocol.get_rooms("nothere@contoso.example"))


def test_resolve_names_finds_one_many_or_none(sandbox):
    account = make_account(sandbox, "svc-none", "svc-none")
    assert account.protocol.version
    (alice,) = account.protocol.resolve_names(["alice"])
    assert alice.email_address == "alice@contoso.example"
    assert len(account.protocol.resolve_names(["room"])) == 3  # Room A, Room B, Rooms
    (missing,) = account.protocol.resolve_names(["zzz"])
    assert isinstance(missing, ErrorNameResolutionNoResults)


def test_server_time_zones_cover_the_windows_zones_with_transitions(sandbox):
    account = make_account(sandbox, "svc-none", "svc-none")
    zones = list(account.protocol.get_timezones(return_full_timezone_data=True))
    assert 100 <= len(zones) <= 160
    berlin = next(z for z in zones if z.id == "W. Europe Standard Time")
    std, dst, period = berlin.get_std_and_dst(for_year=2026)
    assert period.bias_in_minutes == -60 and dst.bias == -60 and dst.iso_month == 3


def test_sync_folder_items_reports_creates_updates_and_deletes_since_a_sync_state(sandbox):
    account = make_account(sandbox, "svc-full", "carol")
    first = list(account.calendar.sync_items())
    assert {change for change, _ in first} == {"create"}
    state = account.calendar.item_sync_state
    start = EWSDateTime.now(TZ).replace(microsecond=0)
    item = CalendarItem(account=account, folder=account.calendar, subject="New",
                        start=start, end=start + dt.timedelta(hours=1))
    item.save(send_meeting_invitations="SendToNone")
    assert [c for c, _ in account.calendar.sync_items(sync_state=state)] == ["create"]
    state = account.calendar.item_sync_state
    item.delete(send_meeting_cancellations="SendToNone")
    assert [c for c, _ in account.calendar.sync_items(sync_state=state)] == ["delete"]


def test_unimplemented_operations_fail_with_invalid_operation_not_a_version_error(sandbox):
    account = make_account(sandbox, "svc-full", "alice")
    with pytest.raises(ErrorInvalidOperation):
        account.oof_settings  # noqa: B018 - GetUserOofSettings
    assert sandbox.count("GetUserOofSettingsRequest") == 1


def test_schema_invalid_requests_get_error_schema_validation(sandbox):
    body = (b"<?xml version='1.0' encoding='utf-8'?><s:Envelope xmlns:s='http://schemas.xmlsoap"
            b".org/soap/envelope/' xmlns:m='http://schemas.microsoft.com/exchange/services/2006/"
            b"messages' xmlns:t='http://schemas.microsoft.com/exchange/services/2006/types'>"
            b"<s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
            b"</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id='kalender'/>"
            b"</m:FolderIds></m:GetFolder></s:Body></s:Envelope>")
    r = requests.post(sandbox.ews_url, data=body, auth=("svc-full@contoso.example",
                                                         "Sandbox-Pass-1"), timeout=10)
    assert r.status_code == 500 and r.text.startswith("<?xml")
    assert "ErrorSchemaValidation" in r.text and "kalender" in r.text
    assert ErrorSchemaValidation  # the class exchangelib maps this code to


def test_delegate_calendar_without_root_works_with_ntlm(sandbox):
    account = make_account(sandbox, "svc-restricted", "alice", access="delegate",
                           auth_type=NTLM)
    start, end = this_week()
    # Full items would make exchangelib fetch via GetItem with a Folder(root=account.root), and a
    # calendar-only delegate is denied the root, as on real Exchange; .only() avoids GetItem.
    view = calendar_without_root(account).view(start=start, end=end)
    assert [i.subject for i in view.only("subject", "start", "end")]


def test_sandbox_server_starts_on_a_free_port_and_stops():
    with SandboxServer() as server:
        assert requests.get(server.base_url + "/_sandbox/health", timeout=5).json()["ok"]
    with pytest.raises(requests.ConnectionError):
        requests.get(server.base_url + "/_sandbox/health", timeout=2)
