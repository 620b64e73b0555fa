"""A response of every implemented operation validates against the official EWS schema."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import CalendarItem, EWSDateTime
from lxml import etree

from app.sandbox.ops import HANDLERS
from app.sandbox.schema import first_error
from app.sandbox.soap import SOAP, fault

from .conftest import TZ, make_account, this_week

pytestmark = pytest.mark.integration


def exercise_every_operation(sandbox) -> None:  # type: ignore[no-untyped-def]
    account = make_account(sandbox, "svc-full", "alice", auth_type=None)  # ConvertId
    start, end = this_week()
    list(account.calendar.view(start=start, end=end))  # GetFolder, FindItem, GetItem
    list(account.root.walk())  # FindFolder
    when = EWSDateTime.now(TZ).replace(microsecond=0)
    item = CalendarItem(account=account, folder=account.calendar, subject="Schema",
                        start=when, end=when + dt.timedelta(hours=1))
    item.save(send_meeting_invitations="SendToNone")  # CreateItem
    item.subject = "Schema 2"
    item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")  # UpdateItem
    item.delete(send_meeting_cancellations="SendToNone")  # DeleteItem
    list(account.calendar.sync_items())  # SyncFolderItems
    list(account.calendar.sync_hierarchy())  # SyncFolderHierarchy
    freebusy = make_account(sandbox, "svc-freebusy", "svc-freebusy")
    list(freebusy.protocol.get_free_busy_info(  # GetServerTimeZones, GetUserAvailabilityRequest
        accounts=[("alice@contoso.example", "Required", False)], start=start, end=end))
    list(freebusy.protocol.get_roomlists())  # GetRoomLists
    list(freebusy.protocol.get_rooms("rooms@contoso.example"))  # GetRooms
    freebusy.protocol.resolve_names(["a"])  # ResolveNames


def test_a_response_of_every_implemented_operation_validates_against_the_schema(sandbox):
    exercise_every_operation(sandbox)
    responses = dict(sandbox.app.last_responses)
    missing = sorted(set(HANDLERS) - set(responses))
    assert missing == []
    for operation in HANDLERS:
        envelope = etree.fromstring(responses[operation])
        header_info = envelope.find(f"{{{SOAP}}}Header")[0]
        assert first_error(header_info) is None
        body = envelope.find(f"{{{SOAP}}}Body")[0]
        assert first_error(body) is None, operation


def test_every_request_exchangelib_sent_was_schema_valid(sandbox):
    exercise_every_operation(sandbox)
    assert not [e for e in sandbox.requests if e.fault == "ErrorSchemaValidation"]


def test_fault_envelopes_carry_the_server_version_header():
    body = etree.fromstring(fault("ErrorServerBusy", "busy", {"BackOffMilliseconds": "5"}))
    header = body.find(f"{{{SOAP}}}Header")[0]
    assert first_error(header) is None
