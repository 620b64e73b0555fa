"""The checks themselves: each talks to Exchange and returns a :class:`Verdict` or raises.

A raised exception is interpreted by the runner (:func:`interpret.failure`); a check catches
only what is an expected answer for it (e.g. ErrorAccessDenied is a pass for the Inbox probe).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib import errors as ews

from app.exchange import addresses, powershell
from app.exchange.client import EwsSession, choose_auth, probe_endpoint
from app.exchange.diagnostics.interpret import (
    FAIL,
    PASS,
    WARN,
    Facts,
    Verdict,
    least_privilege,
    skipped,
)
from app.exchange.errors import Seen, observe
from app.exchange.outbound import RunState

if TYPE_CHECKING:
    from app.exchange.connector import Connector
    from app.exchange.diagnostics import DiagnosticsRequest

#: Subject of the write test's event; the run id makes the cleanup sweep find only its own.
TEST_SUBJECT = "Exchange Connect test – safe to delete"
UTC = EWSTimeZone("UTC")


@dataclass
class Context:
    """State the checks of one run share."""

    request: DiagnosticsRequest
    connector: Connector
    session: EwsSession
    run: RunState
    facts: Facts
    ews_url: str | None = None
    endpoint_method: str | None = None
    offered: tuple[str, ...] = ()
    auth_method: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def impersonate(self) -> bool:
        return self.facts.online or self.facts.level == "full"

    def account(self, mailbox: str | None = None, impersonate: bool | None = None) -> Any:
        return self.session.account(mailbox or self.request.mailbox,
                                    self.impersonate if impersonate is None else impersonate)


def _now() -> EWSDateTime:
    return EWSDateTime.now(tz=UTC).replace(microsecond=0)


class Failed(Exception):
    """A check's own verdict that is a failure without an exchangelib exception."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.explanation)
        self.verdict = verdict


def endpoint(ctx: Context) -> Verdict:
    """Find the EWS URL (Autodiscover or as entered), then probe it: DNS, TLS, HTTP."""
    request = ctx.request
    method = "the EWS URL you entered"
    if request.use_autodiscover:
        try:
            url, method, tried = ctx.session.autodiscover(request.service_account)
        except Exception as e:
            if ctx.run.auth_rejected:
                raise Failed(Verdict(FAIL, "Autodiscover rejected the service account's "
                                     "credentials (HTTP 401). We tried once and did not retry.",
                                     "HTTP 401", "authentication_failed")) from e
            raise
    else:
        url = request.ews_url or ""
    try:
        url = addresses.normalize_ews_url(url, ctx.connector.allow_hosts)
    except addresses.InvalidInput as e:
        raise Failed(Verdict(FAIL, str(e), None, "invalid_ews_url")) from e
    ctx.ews_url, ctx.endpoint_method = url, method
    result = probe_endpoint(url, ctx.connector.request_timeout)
    offered = ", ".join(s.upper() if s == "ntlm" else s.capitalize() for s in result.offered)
    seen = f"HTTP {result.status}" + (f" (offers {offered})" if offered else "")
    ctx.offered = result.offered
    if result.status == 401 or result.status == 200:
        return Verdict(PASS, f"EWS answered at {url}, found through {method}; DNS and TLS are "
                       "in order.", seen)
    if result.status == 403:
        raise Failed(Verdict(FAIL, f"{url} answered HTTP 403: EWS is disabled or blocked by "
                             "policy.", seen, "ews_blocked",
                             "Check EwsEnabled for the organisation and the mailbox.",
                             powershell.check_ews_enabled(request.mailbox).body))
    code = "server_unavailable" if result.status >= 500 else "endpoint_not_ews"
    raise Failed(Verdict(FAIL, f"{url} answered HTTP {result.status}, not like an EWS "
                         "endpoint.", seen, code))


def authentication(ctx: Context) -> Verdict:
    """Sign in once (ConvertId, as exchangelib's version check does) with the offered method."""
    facts = ctx.facts
    assert ctx.ews_url
    if facts.online:
        auth = None
        ctx.auth_method = "OAuth app-only (client credentials)"
    else:
        auth = choose_auth(ctx.offered)
        if auth is None:
            offered = ", ".join(ctx.offered) or "nothing"
            raise Failed(Verdict(FAIL, f"The server offers {offered}; we can sign in with NTLM "
                                 "or Basic only.", f"WWW-Authenticate: {offered}",
                                 "auth_method_unsupported"))
        ctx.auth_method = auth
    ctx.session.configure(ctx.ews_url, auth)
    version = ctx.session.protocol.version
    who = (f"the app {ctx.request.app_client_id}" if facts.online
           else facts.logon_name or facts.service_account)
    offered = ", ".join(ctx.offered) or "OAuth"
    return Verdict(PASS, f"Signed in as {who} with {ctx.auth_method} (the server offered "
                   f"{offered}); Exchange reports {version.fullname}.", "NoError")


def service_mailbox(ctx: Context) -> Verdict:
    if ctx.facts.online:
        return skipped("app-only sign-in has no mailbox of its own; rooms are listed with the "
                       "app's rights.")
    svc = ctx.facts.service_account
    EwsSession.open_calendar(ctx.account(svc, impersonate=False))
    return Verdict(PASS, f"{svc} has a mailbox, so it can list rooms and room lists.", "NoError")


def mailbox_access(ctx: Context) -> Verdict:
    facts, mailbox = ctx.facts, ctx.request.mailbox
    if facts.level == "free_busy":
        view = _free_busy(ctx, days=1, view="FreeBusy")
        return Verdict(PASS, f"{facts.service_account} sees the free/busy times of {mailbox} "
                       f"({view.view_type}).", "NoError")
    EwsSession.open_calendar(ctx.account())
    if facts.online:
        how = "the app's application access (full_access_as_app)"
    elif facts.level == "full":
        how = "impersonation (ApplicationImpersonation)"
    else:
        how = "delegate access to the Calendar folder"
    return Verdict(PASS, f"{facts.logon_name or facts.service_account} opens the Calendar of "
                   f"{mailbox} through {how}.", "NoError")


def calendar_read(ctx: Context) -> Verdict:
    if ctx.facts.level == "free_busy":
        return skipped("the Free-busy level reads no events; “Nothing beyond the chosen level” "
                       "checks that details stay hidden.")
    start = _now()
    items = list(EwsSession.calendar(ctx.account()).view(start=start, end=start + timedelta(
        days=7)).only("subject", "start", "end"))
    return Verdict(PASS, f"Read {len(items)} events in the coming week of {ctx.request.mailbox}.",
                   "NoError")


def calendar_write(ctx: Context) -> Verdict:
    """Create a clearly labelled event and delete it, sweeping up even if a step failed."""
    if ctx.facts.level == "free_busy":
        return skipped("the Free-busy level never writes to calendars.")
    if not ctx.request.write_test:
        return skipped("you did not tick “Also test writing”.")
    account = ctx.account()
    calendar = EwsSession.calendar(account)
    subject = f"{TEST_SUBJECT} [{secrets.token_hex(4)}]"
    start = (_now() + timedelta(days=1)).replace(minute=0, second=0)
    item = CalendarItem(account=account, folder=calendar, subject=subject, start=start,
                        end=start + timedelta(minutes=15), legacy_free_busy_status="Free",
                        body="Created by Exchange Connect's credential test and deleted at once.",
                        reminder_is_set=False)
    try:
        item.save(send_meeting_invitations="SendToNone")
    except ews.ResponseMessageError:
        raise  # Exchange refused the CreateItem: nothing was created
    except Exception:
        # The answer was lost (reset, timeout): the event may exist, so sweep it up.
        if _sweep(calendar, subject):
            raise Failed(_left_behind(subject, ctx.request.mailbox)) from None
        raise
    try:
        item.delete(send_meeting_cancellations="SendToNone")
    except Exception as e:
        if _sweep(calendar, subject):
            raise Failed(_left_behind(subject, ctx.request.mailbox)) from e
        return Verdict(PASS, f"Created the test event “{subject}” in {ctx.request.mailbox}; the "
                       f"first delete failed ({observe(e).detail}) but the cleanup removed it.",
                       "NoError")
    return Verdict(PASS, f"Created the test event “{subject}” in {ctx.request.mailbox} and "
                   "deleted it again.", "NoError")


def _left_behind(subject: str, mailbox: str) -> Verdict:
    return Verdict(FAIL, f"The test event “{subject}” was created in {mailbox} but could not "
                   "be deleted; delete it by hand.", None, "test_event_left_behind",
                   "Delete the event named above from the calendar.")


def _sweep(calendar: Any, subject: str) -> int:
    """Delete every event of this run; return how many could not be deleted."""
    left = 0
    for _attempt in range(2):
        try:
            found = list(calendar.filter(subject=subject).only("id", "changekey"))
        except Exception:  # the sweep itself failed: report whatever is known to be left
            left = 1
            continue
        left = 0
        for event in found:
            try:
                event.delete(send_meeting_cancellations="SendToNone")
            except ews.ErrorItemNotFound:
                pass
            except Exception:  # one more pass may succeed (a reset connection, throttling)
                left += 1
        if not left:
            return 0
    return left


def least_privilege_check(ctx: Context) -> Verdict:
    facts = ctx.facts
    if facts.level == "full":
        return skipped("the Full level acts as the mailbox owner; there is nothing narrower to "
                       "check.")
    try:
        if facts.level == "restricted":
            EwsSession.open_inbox(ctx.account())
        else:
            start = _now()
            list(EwsSession.calendar(ctx.account()).view(
                start=start, end=start + timedelta(days=7)).only("subject"))
    except ews.ErrorAccessDenied:
        return least_privilege(facts.level, ctx.request.mailbox, True, "ErrorAccessDenied")
    return least_privilege(facts.level, ctx.request.mailbox, False, "NoError")


def _utc_timezone() -> Any:
    from datetime import time

    from exchangelib.properties import DaylightTime, StandardTime, TimeZone

    rule = {"bias": 0, "time": time(2), "occurrence": 1, "iso_month": 1, "weekday": 7}
    return TimeZone(bias=0, standard_time=StandardTime(**rule),
                    daylight_time=DaylightTime(**rule))


def _free_busy(ctx: Context, days: int, view: str) -> Any:
    """GetUserAvailability with a fixed UTC zone: one request, no GetServerTimeZones first."""
    from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow
    from exchangelib.services import GetUserAvailability

    start = _now()
    result = list(GetUserAvailability(ctx.session.protocol).call(
        tzinfo=UTC,
        mailbox_data=[MailboxData(email=ctx.request.mailbox, attendee_type="Required",
                                  exclude_conflicts=False)],
        timezone=_utc_timezone(),
        free_busy_view_options=FreeBusyViewOptions(
            time_window=TimeWindow(start=start, end=start + timedelta(days=days)),
            merged_free_busy_interval=30, requested_view=view),
    ))
    first = result[0]
    if isinstance(first, Exception):
        raise first
    return first


def free_busy(ctx: Context) -> Verdict:
    view = _free_busy(ctx, days=7, view="DetailedMerged")
    events = view.calendar_events or []
    busy = sum(1 for e in events if getattr(e, "busy_type", "Free") != "Free")
    return Verdict(PASS, f"Free/busy for {ctx.request.mailbox} over the coming week: {busy} "
                   f"busy periods ({view.view_type}).", "NoError")


def rooms(ctx: Context) -> Verdict:
    if ctx.facts.level == "free_busy":
        return skipped("the Free-busy level does not list rooms.")
    protocol = ctx.session.protocol
    lists = list(protocol.get_roomlists())
    if not lists:
        script = powershell.create_room_list("Meeting rooms", [f"room-1@{ctx.facts.domain}"])
        return Verdict(WARN, "Exchange has no room lists, so no rooms can be offered for "
                       "booking.", "NoError (0 room lists)", "no_room_lists",
                       "Create a room list holding your room mailboxes (replace the example "
                       "room address).", script.body)
    names: list[str] = []
    for room_list in lists[:5]:
        found = list(protocol.get_rooms(room_list.email_address))
        names.extend(r.name or r.email_address for r in found)
    return Verdict(PASS, f"{len(lists)} room list(s) with {len(names)} rooms: "
                   + (", ".join(names[:10]) or "none") + ".", "NoError")


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "endpoint": endpoint,
    "authentication": authentication,
    "service_mailbox": service_mailbox,
    "mailbox_access": mailbox_access,
    "calendar_read": calendar_read,
    "calendar_write": calendar_write,
    "least_privilege": least_privilege_check,
    "free_busy": free_busy,
    "rooms": rooms,
}

__all__ = ["CHECKS", "Context", "Failed", "Seen", "observe"]
