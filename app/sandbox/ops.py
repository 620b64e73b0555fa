"""One handler per EWS operation. Each takes the request element (child of s:Body) and a Context
and returns the response element; header-level problems raise SoapFault."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import permissions as perms
from .directory import Directory, Recurrence
from .soap import (
    NSMAP,
    XSI,
    Element,
    ResponseError,
    SoapFault,
    fmt_dt,
    m,
    parse_bool,
    parse_dt,
    response_message,
    sub,
    t,
    text_of,
)
from .store import (
    FOLDERS,
    CalendarItem,
    Store,
    folder_change_key,
    folder_id,
    iana_zone,
    ms_zone,
    parse_folder_id,
)
from .timezones import UTC_ZONE, SerialTime, SerialZone, all_zones, duration

MAX_AVAILABILITY_MAILBOXES = 100


def _children(el: Element, path: str) -> list[Element]:
    found = el.find(path, NSMAP)
    return list(found) if found is not None else []


@dataclass
class Context:
    directory: Directory
    store: Store
    principal: perms.Principal
    impersonated: str | None = None  # mailbox address named by ExchangeImpersonation

    @property
    def actor(self) -> str | None:
        """The account whose rights apply: the impersonated owner, else the caller's account."""
        if self.impersonated:
            return self.impersonated
        return None if self.principal.is_app else self.principal.name

    def own_mailbox(self) -> str:
        actor = self.actor
        if actor is None or self.directory.mailbox(actor) is None:
            raise ResponseError("ErrorNonExistentMailbox",
                                "The SMTP address has no mailbox associated with it.")
        return actor

    def rights(self, mailbox: str, folder: str) -> perms.FolderRights:
        actor = self.actor
        if actor is None:  # app-only without impersonation header: application scope
            if perms.can_impersonate(self.directory, self.principal, mailbox):
                return perms.OWNER_RIGHTS
            return perms.NO_RIGHTS
        return perms.folder_rights(self.directory, actor, mailbox, folder)

    @property
    def writer(self) -> str:
        return self.actor or self.principal.name


def access_denied() -> ResponseError:
    return ResponseError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def item_not_found() -> ResponseError:
    return ResponseError("ErrorItemNotFound",
                         "The specified object was not found in the store.")


# -- folders -------------------------------------------------------------------------------


def resolve_folder(ctx: Context, el: Element) -> tuple[str, str]:
    """(mailbox, distinguished name) for a t:DistinguishedFolderId or t:FolderId."""
    if el.tag == t("DistinguishedFolderId"):
        name = el.get("Id", "")
        address = text_of(el, "t:Mailbox/t:EmailAddress")
        if address:
            acct = ctx.directory.account(address)
            if acct is None or ctx.directory.mailbox(address) is None:
                raise ResponseError("ErrorNonExistentMailbox",
                                    "The SMTP address has no mailbox associated with it.")
            mailbox = acct.address
        else:
            mailbox = ctx.own_mailbox()
        if name not in FOLDERS:
            raise ResponseError("ErrorFolderNotFound",
                                "The specified folder could not be found in the store.")
        return mailbox, name
    parsed = parse_folder_id(el.get("Id", ""))
    if parsed is None:
        raise ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")
    mailbox, name = parsed
    if ctx.directory.mailbox(mailbox) is None or name not in FOLDERS:
        raise ResponseError("ErrorFolderNotFound",
                            "The specified folder could not be found in the store.")
    return mailbox, name


def check_folder(ctx: Context, mailbox: str, name: str) -> perms.FolderRights:
    rights = ctx.rights(mailbox, name)
    if not rights.visible:
        raise access_denied()
    return rights


def folder_element(ctx: Context, parent: Element, mailbox: str, name: str,
                   rights: perms.FolderRights) -> None:
    display, cls, parent_name = FOLDERS[name]
    tag = {"calendar": "t:CalendarFolder", "contacts": "t:ContactsFolder",
           "tasks": "t:TasksFolder"}.get(name, "t:Folder")
    f = sub(parent, tag)
    sub(f, "t:FolderId", Id=folder_id(mailbox, name), ChangeKey=folder_change_key(mailbox, name))
    if parent_name:
        sub(f, "t:ParentFolderId", Id=folder_id(mailbox, parent_name),
            ChangeKey=folder_change_key(mailbox, parent_name))
    if cls:
        sub(f, "t:FolderClass", cls)
    sub(f, "t:DisplayName", display)
    total = len(ctx.store.calendar(mailbox)) if name == "calendar" else 0
    sub(f, "t:TotalCount", total)
    sub(f, "t:ChildFolderCount", sum(1 for v in FOLDERS.values() if v[2] == name))
    er = sub(f, "t:EffectiveRights")
    for el_name, value in (
        ("CreateAssociated", rights.level == "Owner"),
        ("CreateContents", rights.create),
        ("CreateHierarchy", rights.level in ("Owner", "PublishingEditor", "PublishingAuthor")),
        ("Delete", rights.delete == "all"),
        ("Modify", rights.edit == "all"),
        ("Read", rights.read),
        ("ViewPrivateItems", rights.view_private),
    ):
        sub(er, f"t:{el_name}", value)
    if tag == "t:Folder":
        sub(f, "t:UnreadCount", 0)


def get_folder(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("GetFolderResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    for el in _children(req, "m:FolderIds"):
        try:
            mailbox, name = resolve_folder(ctx, el)
            rights = check_folder(ctx, mailbox, name)
        except ResponseError as err:
            response_message(msgs, "GetFolderResponseMessage", err)
            continue
        rm = response_message(msgs, "GetFolderResponseMessage")
        folder_element(ctx, sub(rm, "m:Folders"), mailbox, name, rights)
    return resp


def _descendants(name: str, deep: bool) -> list[str]:
    out = []
    for child, (_, _, parent) in FOLDERS.items():
        if parent == name:
            out.append(child)
            if deep:
                out.extend(_descendants(child, deep))
    return out


def find_folder(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("FindFolderResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    deep = req.get("Traversal") == "Deep"
    view = req.find("m:IndexedPageFolderView", NSMAP)
    offset = int(view.get("Offset", "0")) if view is not None else 0
    limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
    for el in _children(req, "m:ParentFolderIds"):
        try:
            mailbox, name = resolve_folder(ctx, el)
            check_folder(ctx, mailbox, name)
        except ResponseError as err:
            response_message(msgs, "FindFolderResponseMessage", err)
            continue
        children = [c for c in _descendants(name, deep) if ctx.rights(mailbox, c).visible]
        page = children[offset : offset + limit]
        rm = response_message(msgs, "FindFolderResponseMessage")
        last = offset + len(page) >= len(children)
        attrs = {"TotalItemsInView": str(len(children)),
                 "IncludesLastItemInRange": "true" if last else "false"}
        if not last:
            attrs["IndexedPagingOffset"] = str(offset + len(page))
        root = sub(rm, "m:RootFolder", **attrs)
        folders = sub(root, "t:Folders")
        for child in page:
            folder_element(ctx, folders, mailbox, child, ctx.rights(mailbox, child))
    return resp


# -- items: rendering --------------------------------------------------------------------

DEFAULT_PROPS = {"ItemId", "Subject", "Start", "End", "IsAllDayEvent", "LegacyFreeBusyStatus",
                 "Location", "CalendarItemType", "Organizer", "Sensitivity", "HasAttachments",
                 "IsRecurring", "IsMeeting", "IsCancelled", "MyResponseType", "DateTimeCreated",
                 "LastModifiedTime", "UID", "ParentFolderId", "ItemClass", "Importance"}

CALENDAR_ORDER = [
    "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body", "Categories",
    "Importance", "DateTimeCreated", "ReminderIsSet", "ReminderMinutesBeforeStart",
    "HasAttachments", "LastModifiedTime", "UID", "RecurrenceId", "Start", "End",
    "OriginalStart", "IsAllDayEvent", "LegacyFreeBusyStatus", "Location", "IsMeeting",
    "IsCancelled", "IsRecurring", "CalendarItemType", "MyResponseType", "Organizer",
    "RequiredAttendees", "OptionalAttendees", "Resources", "AppointmentSequenceNumber",
    "Recurrence", "StartTimeZone", "EndTimeZone",
]


def requested_props(shape: Element | None) -> set[str]:
    if shape is None:
        return {"ItemId"}
    base = text_of(shape, "t:BaseShape") or "IdOnly"
    props = {"ItemId"}
    if base == "Default":
        props |= DEFAULT_PROPS
    elif base == "AllProperties":
        props |= set(CALENDAR_ORDER)
    for uri in shape.iterfind("t:AdditionalProperties/t:FieldURI", NSMAP):
        props.add(uri.get("FieldURI", "").split(":", 1)[-1])
    return props


def _mailbox_el(parent: Element, tag: str, directory: Directory, address: str) -> None:
    mbx = sub(parent, tag)
    acct = directory.account(address)
    sub(mbx, "t:Name", acct.display_name if acct else address)
    sub(mbx, "t:EmailAddress", address)
    sub(mbx, "t:RoutingType", "SMTP")
    sub(mbx, "t:MailboxType", "Mailbox")


def _attendees(parent: Element, tag: str, directory: Directory, addresses: list[str]) -> None:
    if not addresses:
        return
    el = sub(parent, tag)
    for address in addresses:
        att = sub(el, "t:Attendee")
        _mailbox_el(att, "t:Mailbox", directory, address)
        sub(att, "t:ResponseType", "Accept" if directory.account(address) else "Unknown")


def _tz_el(parent: Element, tag: str, iana: str) -> None:
    ms = ms_zone(iana)
    zone = all_zones().get(ms)
    sub(parent, tag, Id=ms, Name=zone.name if zone else ms)


def render_item(ctx: Context, parent: Element, item: CalendarItem, props: set[str]) -> None:
    d = ctx.directory
    el = sub(parent, "t:CalendarItem")
    values: dict[str, Callable[[], None]] = {
        "ItemId": lambda: sub(el, "t:ItemId", Id=item.id, ChangeKey=item.change_key),
        "ParentFolderId": lambda: sub(el, "t:ParentFolderId",
                                      Id=folder_id(item.mailbox, "calendar"),
                                      ChangeKey=folder_change_key(item.mailbox, "calendar")),
        "ItemClass": lambda: sub(el, "t:ItemClass", "IPM.Appointment"),
        "Subject": lambda: sub(el, "t:Subject", item.subject),
        "Sensitivity": lambda: sub(el, "t:Sensitivity", item.sensitivity),
        "Body": lambda: sub(el, "t:Body", item.body, BodyType=item.body_type),
        "Categories": lambda: _strings(el, "t:Categories", item.categories),
        "Importance": lambda: sub(el, "t:Importance", item.importance),
        "DateTimeCreated": lambda: sub(el, "t:DateTimeCreated", fmt_dt(item.created)),
        "ReminderIsSet": lambda: sub(el, "t:ReminderIsSet", item.reminder_is_set),
        "ReminderMinutesBeforeStart": lambda: sub(el, "t:ReminderMinutesBeforeStart",
                                                  item.reminder_minutes),
        "HasAttachments": lambda: sub(el, "t:HasAttachments", False),
        "LastModifiedTime": lambda: sub(el, "t:LastModifiedTime", fmt_dt(item.modified)),
        "UID": lambda: sub(el, "t:UID", item.uid),
        "RecurrenceId": lambda: sub(el, "t:RecurrenceId", fmt_dt(item.start))
        if item.occurrence is not None else None,
        "Start": lambda: sub(el, "t:Start", fmt_dt(item.start)),
        "End": lambda: sub(el, "t:End", fmt_dt(item.end)),
        "OriginalStart": lambda: sub(el, "t:OriginalStart", fmt_dt(item.start))
        if item.occurrence is not None else None,
        "IsAllDayEvent": lambda: sub(el, "t:IsAllDayEvent", item.all_day),
        "LegacyFreeBusyStatus": lambda: sub(el, "t:LegacyFreeBusyStatus", item.show_as),
        "Location": lambda: sub(el, "t:Location", item.location) if item.location else None,
        "IsMeeting": lambda: sub(el, "t:IsMeeting", item.is_meeting),
        "IsCancelled": lambda: sub(el, "t:IsCancelled", False),
        "IsRecurring": lambda: sub(el, "t:IsRecurring", item.occurrence is not None),
        "CalendarItemType": lambda: sub(el, "t:CalendarItemType", item.calendar_item_type),
        "MyResponseType": lambda: sub(el, "t:MyResponseType",
                                      "Organizer" if item.organizer == item.mailbox else "Accept"),
        "Organizer": lambda: _mailbox_el(sub(el, "t:Organizer"), "t:Mailbox", d,
                                         item.organizer or item.mailbox),
        "RequiredAttendees": lambda: _attendees(el, "t:RequiredAttendees", d, item.required),
        "OptionalAttendees": lambda: _attendees(el, "t:OptionalAttendees", d, item.optional),
        "Resources": lambda: _attendees(el, "t:Resources", d, item.resources),
        "AppointmentSequenceNumber": lambda: sub(el, "t:AppointmentSequenceNumber",
                                                 item.version - 1),
        "Recurrence": lambda: _recurrence(el, item),
        "StartTimeZone": lambda: _tz_el(el, "t:StartTimeZone", item.time_zone),
        "EndTimeZone": lambda: _tz_el(el, "t:EndTimeZone", item.end_time_zone),
    }
    for name in CALENDAR_ORDER:
        if name in props:
            values[name]()


def _strings(parent: Element, tag: str, values: list[str]) -> None:
    if values:
        el = sub(parent, tag)
        for v in values:
            sub(el, "t:String", v)


def _recurrence(parent: Element, item: CalendarItem) -> None:
    rec = item.recurrence
    if rec is None or item.occurrence is not None:
        return
    el = sub(parent, "t:Recurrence")
    from zoneinfo import ZoneInfo

    local = item.start.astimezone(ZoneInfo(item.time_zone))
    if rec.pattern == "weekly":
        p = sub(el, "t:WeeklyRecurrence")
        sub(p, "t:Interval", rec.interval)
        sub(p, "t:DaysOfWeek", local.strftime("%A"))
        sub(p, "t:FirstDayOfWeek", "Monday")
    else:
        p = sub(el, "t:DailyRecurrence")
        sub(p, "t:Interval", rec.interval)
    r = sub(el, "t:NumberedRecurrence")
    sub(r, "t:StartDate", local.date().isoformat())
    sub(r, "t:NumberOfOccurrences", rec.count)


# -- items: parsing ----------------------------------------------------------------------


def _addresses(el: Element, path: str) -> list[str]:
    return [(a.text or "").strip().lower()
            for a in el.iterfind(f"{path}/t:Attendee/t:Mailbox/t:EmailAddress", NSMAP)]


def parse_item_fields(el: Element) -> dict[str, Any]:
    """Values present in a t:CalendarItem element (create or SetItemField)."""
    out: dict[str, Any] = {}
    for child in el:
        name = etree.QName(child).localname
        text = child.text or ""
        if name == "Subject":
            out["subject"] = text
        elif name == "Body":
            out["body"] = text
            out["body_type"] = child.get("BodyType", "Text")
        elif name == "Sensitivity":
            out["sensitivity"] = text
        elif name == "Importance":
            out["importance"] = text
        elif name == "ReminderIsSet":
            out["reminder_is_set"] = parse_bool(text)
        elif name == "ReminderMinutesBeforeStart":
            out["reminder_minutes"] = int(text)
        elif name == "Start":
            out["start"] = parse_dt(text)
        elif name == "End":
            out["end"] = parse_dt(text)
        elif name == "IsAllDayEvent":
            out["all_day"] = parse_bool(text)
        elif name == "LegacyFreeBusyStatus":
            out["show_as"] = text
        elif name == "Location":
            out["location"] = text
        elif name == "UID":
            out["uid"] = text
        elif name == "Categories":
            out["categories"] = [s.text or "" for s in child]
        elif name == "RequiredAttendees":
            out["required"] = _addresses(el, "t:RequiredAttendees")
        elif name == "OptionalAttendees":
            out["optional"] = _addresses(el, "t:OptionalAttendees")
        elif name == "Resources":
            out["resources"] = _addresses(el, "t:Resources")
        elif name == "StartTimeZone":
            out["time_zone"] = iana_zone(child.get("Id"))
        elif name == "EndTimeZone":
            out["end_time_zone"] = iana_zone(child.get("Id"))
        elif name == "Recurrence":
            out["recurrence"] = _parse_recurrence(child)
    return out


def _parse_recurrence(el: Element) -> Recurrence:
    pattern = el[0]
    kind = etree.QName(pattern).localname
    if kind not in ("DailyRecurrence", "WeeklyRecurrence"):
        raise ResponseError("ErrorInvalidOperation",
                            f"The sandbox supports daily and weekly recurrences, not {kind}.")
    interval = int(text_of(pattern, "t:Interval") or "1")
    count = int(text_of(el, "t:NumberedRecurrence/t:NumberOfOccurrences") or "0")
    if not count:
        end_date = text_of(el, "t:EndDateRecurrence/t:EndDate")
        start_date = text_of(el, "t:EndDateRecurrence/t:StartDate")
        if end_date and start_date:
            days = (dt.date.fromisoformat(end_date[:10]) - dt.date.fromisoformat(start_date[:10]))
            step = interval * (7 if kind == "WeeklyRecurrence" else 1)
            count = days.days // step + 1
        else:
            count = 52
    return Recurrence("weekly" if kind == "WeeklyRecurrence" else "daily", interval, count)


# -- items: operations -------------------------------------------------------------------


def _visible(ctx: Context, item: CalendarItem, rights: perms.FolderRights) -> bool:
    return not item.private or rights.view_private


def _restriction_value(item: CalendarItem, uri: str) -> Any:
    name = uri.split(":", 1)[-1]
    return {
        "Subject": item.subject, "Start": item.start, "End": item.end, "Location": item.location,
        "Categories": item.categories, "Sensitivity": item.sensitivity, "UID": item.uid,
        "IsAllDayEvent": item.all_day, "LegacyFreeBusyStatus": item.show_as,
        "DateTimeCreated": item.created, "LastModifiedTime": item.modified,
        "Body": item.body, "ItemClass": "IPM.Appointment",
        "CalendarItemType": item.calendar_item_type,
    }.get(name)


def _coerce(sample: Any, text: str) -> Any:
    if isinstance(sample, dt.datetime):
        return parse_dt(text)
    if isinstance(sample, bool):
        return parse_bool(text)
    return text


def matches(item: CalendarItem, expr: Element) -> bool:
    name = etree.QName(expr).localname
    if name == "And":
        return all(matches(item, e) for e in expr)
    if name == "Or":
        return any(matches(item, e) for e in expr)
    if name == "Not":
        return not matches(item, expr[0])
    uri_el = expr.find("t:FieldURI", NSMAP)
    value = _restriction_value(item, uri_el.get("FieldURI", "") if uri_el is not None else "")
    if name == "Exists":
        return value not in (None, "", [])
    const = expr.find(".//t:Constant", NSMAP)
    text = const.get("Value", "") if const is not None else ""
    if name == "Contains":
        mode = expr.get("ContainmentMode", "Substring")
        ignore_case = "IgnoreCase" in expr.get("ContainmentComparison", "")
        values = value if isinstance(value, list) else [value or ""]
        for v in values:
            a, b = (str(v).lower(), text.lower()) if ignore_case else (str(v), text)
            if (mode == "FullString" and a == b) or (mode == "Prefixed" and a.startswith(b)) or (
                    mode not in ("FullString", "Prefixed") and b in a):
                return True
        return False
    if isinstance(value, list):
        return name == "IsEqualTo" and text in value
    if value is None:
        return False
    other = _coerce(value, text)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "IsEqualTo": lambda a, b: a == b, "IsNotEqualTo": lambda a, b: a != b,
        "IsGreaterThan": lambda a, b: a > b, "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
        "IsLessThan": lambda a, b: a < b, "IsLessThanOrEqualTo": lambda a, b: a <= b,
    }
    if name not in ops:
        raise ResponseError("ErrorInvalidOperation", f"The sandbox does not support {name}.")
    return ops[name](value, other)


def find_item(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("FindItemResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    props = requested_props(req.find("m:ItemShape", NSMAP))
    cal_view = req.find("m:CalendarView", NSMAP)
    page_view = req.find("m:IndexedPageItemView", NSMAP)
    restriction = req.find("m:Restriction", NSMAP)
    for el in _children(req, "m:ParentFolderIds"):
        try:
            if cal_view is not None and restriction is not None:
                raise ResponseError("ErrorInvalidOperation",
                                    "Restrictions and sort order may not be specified for a "
                                    "CalendarView.")
            mailbox, name = resolve_folder(ctx, el)
            rights = ctx.rights(mailbox, name)
            if not rights.read:
                raise access_denied()
            items: list[CalendarItem] = []
            if name == "calendar":
                masters = [i for i in ctx.store.calendar(mailbox) if _visible(ctx, i, rights)]
                if cal_view is not None:
                    start = parse_dt(cal_view.get("StartDate", ""))
                    end = parse_dt(cal_view.get("EndDate", ""))
                    if end < start:
                        raise ResponseError("ErrorCalendarEndDateIsEarlierThanStartDate",
                                            "EndDate is earlier than StartDate")
                    for master in masters:
                        items.extend(o for o in master.occurrences()
                                     if o.start < end and o.end >= start)
                    items.sort(key=lambda i: (i.start, i.serial))
                else:
                    items = masters
            if restriction is not None and len(restriction):
                items = [i for i in items if matches(i, restriction[0])]
            for order in reversed(req.findall("m:SortOrder/t:FieldOrder", NSMAP)):
                uri = order.find("t:FieldURI", NSMAP)
                key = uri.get("FieldURI", "") if uri is not None else ""
                items.sort(key=lambda i, k=key: str(_restriction_value(i, k) or ""),  # type: ignore[misc]
                           reverse=order.get("Order") == "Descending")
        except ResponseError as err:
            response_message(msgs, "FindItemResponseMessage", err)
            continue
        total = len(items)
        attrs: dict[str, str] = {}
        if cal_view is not None:
            limit = int(cal_view.get("MaxEntriesReturned", "0") or 0)
            if limit:
                items = items[:limit]
            attrs = {"TotalItemsInView": str(len(items)), "IncludesLastItemInRange": "true"}
        else:
            offset = int(page_view.get("Offset", "0")) if page_view is not None else 0
            limit = int(page_view.get("MaxEntriesReturned", "1000")) if page_view is not None \
                else 1000
            if page_view is not None and page_view.get("BasePoint") == "End":
                items = items[max(0, total - offset - limit) : total - offset]
            else:
                items = items[offset : offset + limit]
            last = offset + len(items) >= total
            attrs = {"TotalItemsInView": str(total),
                     "IncludesLastItemInRange": "true" if last else "false"}
            if not last:
                attrs = {"IndexedPagingOffset": str(offset + len(items)), **attrs}
        rm = response_message(msgs, "FindItemResponseMessage")
        root = sub(rm, "m:RootFolder", **attrs)
        container = sub(root, "t:Items")
        for item in items:
            render_item(ctx, container, item, props)
    return resp


def _load_item(ctx: Context, item_id: str, need: str = "read"
               ) -> tuple[CalendarItem, CalendarItem | None, perms.FolderRights]:
    master, occ = ctx.store.resolve(item_id)
    if master is None:
        if not ctx.store.is_item_id(item_id):
            raise ResponseError("ErrorInvalidIdMalformed", "Id is malformed.")
        raise item_not_found()
    rights = ctx.rights(master.mailbox, "calendar")
    if not rights.read and need == "read":
        raise access_denied()
    if not _visible(ctx, master, rights):
        raise access_denied()
    return master, occ, rights


def get_item(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("GetItemResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    props = requested_props(req.find("m:ItemShape", NSMAP))
    for el in _children(req, "m:ItemIds"):
        try:
            if el.tag != t("ItemId"):
                raise ResponseError("ErrorInvalidOperation",
                                    "The sandbox only supports t:ItemId in GetItem.")
            with ctx.store.lock:
                master, occ, _ = _load_item(ctx, el.get("Id", ""))
                rm = response_message(msgs, "GetItemResponseMessage")
                render_item(ctx, sub(rm, "m:Items"), occ or master, props)
        except ResponseError as err:
            sub(response_message(msgs, "GetItemResponseMessage", err), "m:Items")
    return resp


def _propagate(ctx: Context, item: CalendarItem, send: str) -> None:
    """Deliver meeting copies to attendees in the directory (rooms auto-accept)."""
    if send in ("SendToNone", "") or item.organizer != item.mailbox:
        return
    for address in {*item.required, *item.optional, *item.resources}:
        if address == item.mailbox or ctx.directory.mailbox(address) is None:
            continue
        existing = [i for i in ctx.store.calendar(address) if i.uid == item.uid]
        fields = {k: v for k, v in item.__dict__.items()
                  if k not in ("serial", "mailbox", "version", "created_seq", "seq",
                               "deleted_occurrences", "creator", "occurrence")}
        if existing:
            for copy in existing:
                copy.__dict__.update(fields)
                ctx.store.touch(copy)
        else:
            ctx.store.add(CalendarItem(serial=0, mailbox=address, **fields), creator=item.mailbox)


def create_item(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("CreateItemResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    send = req.get("SendMeetingInvitations", "")
    folder_el = req.find("m:SavedItemFolderId", NSMAP)
    for el in _children(req, "m:Items"):
        try:
            kind = etree.QName(el).localname
            if kind in ("AcceptItem", "DeclineItem", "TentativelyAcceptItem",
                        "CancelCalendarItem", "RemoveItem"):
                ref = el.find("t:ReferenceItemId", NSMAP)
                if ref is None:
                    raise ResponseError("ErrorMissingInformationReferenceItemId",
                                        "ReferenceItemId is missing.")
                raise ResponseError("ErrorInvalidOperation",
                                    f"The sandbox does not implement {kind}.")
            if kind != "CalendarItem":
                raise ResponseError("ErrorInvalidOperation",
                                    f"The sandbox only stores calendar items, not {kind}.")
            if folder_el is not None and len(folder_el):
                mailbox, name = resolve_folder(ctx, folder_el[0])
            else:
                mailbox, name = ctx.own_mailbox(), "calendar"
            if name != "calendar":
                raise ResponseError("ErrorInvalidOperation",
                                    "The sandbox stores calendar items in the calendar folder.")
            if not send:
                raise ResponseError("ErrorSendMeetingInvitationsRequired",
                                    "SendMeetingInvitations attribute is required for "
                                    "calendar items.")
            rights = ctx.rights(mailbox, name)
            if not rights.create:
                raise access_denied()
            fields = parse_item_fields(el)
            if "start" not in fields or "end" not in fields:
                raise ResponseError("ErrorInvalidOperation", "Start and End are required.")
            if fields["end"] < fields["start"]:
                raise ResponseError("ErrorCalendarEndDateIsEarlierThanStartDate",
                                    "EndDate is earlier than StartDate")
            fields.setdefault("end_time_zone", fields.get("time_zone", "UTC"))
            with ctx.store.lock:
                item = ctx.store.add(CalendarItem(serial=0, mailbox=mailbox, organizer=mailbox,
                                                  **fields), creator=ctx.writer)
                _propagate(ctx, item, send)
        except ResponseError as err:
            sub(response_message(msgs, "CreateItemResponseMessage", err), "m:Items")
            continue
        rm = response_message(msgs, "CreateItemResponseMessage")
        items = sub(rm, "m:Items")
        ci = sub(items, "t:CalendarItem")
        sub(ci, "t:ItemId", Id=item.id, ChangeKey=item.change_key)
    return resp


_FIELD_ATTRS = {
    "Subject": "subject", "Body": "body", "Sensitivity": "sensitivity", "Importance": "importance",
    "ReminderIsSet": "reminder_is_set", "ReminderMinutesBeforeStart": "reminder_minutes",
    "Start": "start", "End": "end", "IsAllDayEvent": "all_day",
    "LegacyFreeBusyStatus": "show_as", "Location": "location", "Categories": "categories",
    "RequiredAttendees": "required", "OptionalAttendees": "optional", "Resources": "resources",
    "StartTimeZone": "time_zone", "EndTimeZone": "end_time_zone", "Recurrence": "recurrence",
}
_DEFAULTS: dict[str, Any] = {"subject": "", "body": "", "location": "", "categories": [],
                             "required": [], "optional": [], "resources": [], "recurrence": None,
                             "reminder_is_set": False}


def update_item(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("UpdateItemResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    conflict = req.get("ConflictResolution", "AutoResolve")
    send = req.get("SendMeetingInvitationsOrCancellations", "")
    for change in _children(req, "m:ItemChanges"):
        try:
            id_el = change[0]
            if id_el.tag != t("ItemId"):
                raise ResponseError("ErrorInvalidOperation",
                                    "The sandbox only supports t:ItemId in UpdateItem.")
            with ctx.store.lock:
                master, occ, rights = _load_item(ctx, id_el.get("Id", ""), need="write")
                if occ is not None:
                    raise ResponseError("ErrorInvalidOperation",
                                        "The sandbox does not modify single occurrences.")
                if not perms.may_edit(rights, ctx.writer, master.creator):
                    raise access_denied()
                ck = id_el.get("ChangeKey")
                if not ck and conflict != "AlwaysOverwrite":
                    raise ResponseError("ErrorChangeKeyRequiredForWriteOperations",
                                        "ChangeKey is required for this operation.")
                if ck and ck != master.change_key and conflict != "AlwaysOverwrite":
                    raise ResponseError("ErrorIrresolvableConflict",
                                        "The send or update operation could not be performed "
                                        "because the change key passed in the request does not "
                                        "match the current change key for the item.")
                updates: dict[str, Any] = {}
                for upd in _children(change, "t:Updates"):
                    uri = upd.find("t:FieldURI", NSMAP)
                    fname = (uri.get("FieldURI", "") if uri is not None else "").split(":")[-1]
                    kind = etree.QName(upd).localname
                    if kind == "DeleteItemField":
                        attr = _FIELD_ATTRS.get(fname)
                        if attr in _DEFAULTS:
                            updates[attr] = _DEFAULTS[attr]
                        continue
                    holder = upd.find("t:CalendarItem", NSMAP)
                    if holder is None:
                        raise ResponseError("ErrorInvalidOperation",
                                            "Only calendar item fields can be set.")
                    updates.update(parse_item_fields(holder))
                start = updates.get("start", master.start)
                end = updates.get("end", master.end)
                if end < start:
                    raise ResponseError("ErrorCalendarEndDateIsEarlierThanStartDate",
                                        "EndDate is earlier than StartDate")
                master.__dict__.update(updates)
                ctx.store.touch(master)
                _propagate(ctx, master, send)
        except ResponseError as err:
            sub(response_message(msgs, "UpdateItemResponseMessage", err), "m:Items")
            continue
        rm = response_message(msgs, "UpdateItemResponseMessage")
        ci = sub(sub(rm, "m:Items"), "t:CalendarItem")
        sub(ci, "t:ItemId", Id=master.id, ChangeKey=master.change_key)
        sub(sub(rm, "m:ConflictResults"), "t:Count", 0)
    return resp


def delete_item(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("DeleteItemResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    send = req.get("SendMeetingCancellations", "SendToNone")
    for el in _children(req, "m:ItemIds"):
        try:
            if el.tag != t("ItemId"):
                raise ResponseError("ErrorInvalidOperation",
                                    "The sandbox only supports t:ItemId in DeleteItem.")
            with ctx.store.lock:
                master, occ, rights = _load_item(ctx, el.get("Id", ""), need="write")
                if not perms.may_delete(rights, ctx.writer, master.creator):
                    raise access_denied()
                if occ is not None and occ.occurrence is not None:
                    master.deleted_occurrences.add(occ.occurrence)
                    ctx.store.touch(master)
                else:
                    ctx.store.delete(master)
                    if send != "SendToNone" and master.organizer == master.mailbox:
                        for address in {*master.required, *master.optional, *master.resources}:
                            for copy in ctx.store.calendar(address):
                                if copy.uid == master.uid:
                                    ctx.store.delete(copy)
        except ResponseError as err:
            response_message(msgs, "DeleteItemResponseMessage", err)
            continue
        response_message(msgs, "DeleteItemResponseMessage")
    return resp


# -- sync ----------------------------------------------------------------------------------


def _sync_state(mailbox: str, folder: str, seq: int) -> str:
    return base64.b64encode(f"S|{mailbox}|{folder}|{seq}".encode()).decode()


def _parse_sync_state(state: str, mailbox: str, folder: str) -> int | None:
    try:
        raw = base64.b64decode(state.encode(), validate=True).decode()
        kind, mbx, fld, seq = raw.split("|")
        if kind != "S" or mbx != mailbox or fld != folder:
            return None
        return int(seq)
    except (ValueError, UnicodeDecodeError):
        return None


def sync_folder_items(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("SyncFolderItemsResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    props = requested_props(req.find("m:ItemShape", NSMAP))
    max_changes = int(text_of(req, "m:MaxChangesReturned") or "100")
    state_in = text_of(req, "m:SyncState") or ""
    try:
        folder_el = req.find("m:SyncFolderId", NSMAP)
        if folder_el is None or not len(folder_el):
            raise ResponseError("ErrorInvalidOperation", "SyncFolderId is required.")
        mailbox, name = resolve_folder(ctx, folder_el[0])
        rights = ctx.rights(mailbox, name)
        if not rights.read:
            raise access_denied()
        since = _parse_sync_state(state_in, mailbox, name) if state_in else 0
        if since is None:
            raise ResponseError("ErrorInvalidSyncStateData", "Synchronization state data is "
                                "corrupt or otherwise invalid.")
        with ctx.store.lock:
            changes: list[tuple[int, str, Any]] = []
            if name == "calendar":
                for item in ctx.store.calendar(mailbox):
                    if item.seq > since and _visible(ctx, item, rights):
                        changes.append((item.seq,
                                        "Create" if item.created_seq > since else "Update", item))
                for seq, created, item_id in ctx.store.tombstones.get(mailbox, []):
                    if seq > since and created <= since:
                        changes.append((seq, "Delete", item_id))
            changes.sort(key=lambda c: c[0])
            page = changes[:max_changes]
            last = len(page) == len(changes)
            new_seq = page[-1][0] if page and not last else max(ctx.store.seq, since)
            rm = response_message(msgs, "SyncFolderItemsResponseMessage")
            sub(rm, "m:SyncState", _sync_state(mailbox, name, new_seq))
            sub(rm, "m:IncludesLastItemInRange", last)
            ch = sub(rm, "m:Changes")
            for _, kind, obj in page:
                c = sub(ch, f"t:{kind}")
                if kind == "Delete":
                    sub(c, "t:ItemId", Id=obj)
                else:
                    render_item(ctx, c, obj, props)
    except ResponseError as err:
        rm = response_message(msgs, "SyncFolderItemsResponseMessage", err)
        sub(rm, "m:SyncState", state_in)
        sub(rm, "m:IncludesLastItemInRange", True)
    return resp


def sync_folder_hierarchy(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("SyncFolderHierarchyResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    state_in = text_of(req, "m:SyncState") or ""
    try:
        folder_el = req.find("m:SyncFolderId", NSMAP)
        if folder_el is not None and len(folder_el):
            mailbox, name = resolve_folder(ctx, folder_el[0])
        else:
            mailbox, name = ctx.own_mailbox(), "msgfolderroot"
        check_folder(ctx, mailbox, name)
        rm = response_message(msgs, "SyncFolderHierarchyResponseMessage")
        sub(rm, "m:SyncState", _sync_state(mailbox, name, 1))
        sub(rm, "m:IncludesLastFolderInRange", True)
        ch = sub(rm, "m:Changes")
        if not state_in:
            for child in _descendants(name, True):
                folder_element(ctx, sub(ch, "t:Create"), mailbox, child,
                               ctx.rights(mailbox, child))
    except ResponseError as err:
        rm = response_message(msgs, "SyncFolderHierarchyResponseMessage", err)
        sub(rm, "m:SyncState", state_in)
        sub(rm, "m:IncludesLastFolderInRange", True)
    return resp


# -- protocol-level operations ---------------------------------------------------------------


def convert_id(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("ConvertIdResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    dest = req.get("DestinationFormat", "EwsId")
    for el in _children(req, "m:SourceIds"):
        item_id = el.get("Id", "")
        if not ctx.store.is_item_id(item_id) and parse_folder_id(item_id) is None:
            response_message(msgs, "ConvertIdResponseMessage",
                             ResponseError("ErrorInvalidIdMalformed", "Id is malformed."))
            continue
        rm = response_message(msgs, "ConvertIdResponseMessage")
        alt = sub(rm, "m:AlternateId", Format=dest, Id=item_id, Mailbox=el.get("Mailbox", ""))
        alt.set(f"{{{XSI}}}type", "t:AlternateIdType")
    return resp


def get_server_time_zones(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("GetServerTimeZonesResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    full = parse_bool(req.get("ReturnFullTimeZoneData", "true"))
    zones = all_zones()
    ids = [i.text or "" for i in req.iterfind("m:Ids/t:Id", NSMAP)]
    if ids and any(i not in zones for i in ids):
        response_message(msgs, "GetServerTimeZonesResponseMessage",
                         ResponseError("ErrorInvalidOperation", "Unknown time zone id."))
        return resp
    rm = response_message(msgs, "GetServerTimeZonesResponseMessage")
    defs = sub(rm, "m:TimeZoneDefinitions")
    for zid in ids or list(zones):
        z = zones[zid]
        d = sub(defs, "t:TimeZoneDefinition", Id=z.id, Name=z.name)
        if not full:
            continue
        periods = sub(d, "t:Periods")
        std_id = f"trule:Microsoft/Registry/{z.id}/Standard"
        dst_id = f"trule:Microsoft/Registry/{z.id}/Daylight"
        sub(periods, "t:Period", Bias=duration(z.std_bias), Name="Standard", Id=std_id)
        if z.dst_bias is not None:
            sub(periods, "t:Period", Bias=duration(z.dst_bias), Name="Daylight", Id=dst_id)
        groups = sub(d, "t:TransitionsGroups")
        g = sub(groups, "t:TransitionsGroup", Id="0")
        if not z.transitions:
            tr = sub(g, "t:Transition")
            sub(tr, "t:To", std_id, Kind="Period")
        for tr_def in z.transitions:
            tr = sub(g, "t:RecurringDayTransition")
            sub(tr, "t:To", std_id if tr_def.period == "Standard" else dst_id, Kind="Period")
            sub(tr, "t:TimeOffset", duration(tr_def.wall_minutes))
            sub(tr, "t:Month", tr_def.month)
            sub(tr, "t:DayOfWeek", tr_def.weekday)
            sub(tr, "t:Occurrence", tr_def.occurrence)
        trs = sub(d, "t:Transitions")
        sub(sub(trs, "t:Transition"), "t:To", "0", Kind="Group")
    return resp


def _serial_time(el: Element | None) -> SerialTime | None:
    if el is None:
        return None
    hh, mm, *_ = (text_of(el, "t:Time") or "00:00:00").split(":")
    return SerialTime(int(text_of(el, "t:Bias") or 0), int(hh) * 60 + int(mm),
                      int(text_of(el, "t:DayOrder") or 1), int(text_of(el, "t:Month") or 0),
                      text_of(el, "t:DayOfWeek") or "Sunday")


def _local_dt(text: str, zone: SerialZone) -> dt.datetime:
    text = text.strip()
    if text.endswith("Z") or "+" in text[10:] or "-" in text[10:]:
        return parse_dt(text)
    return zone.to_utc(dt.datetime.fromisoformat(text))


BUSY_CODES = {"Free": 0, "Tentative": 1, "Busy": 2, "OOF": 3, "NoData": 4,
              "WorkingElsewhere": 5}


def get_user_availability(ctx: Context, req: Element) -> Element:
    tz_el = req.find("t:TimeZone", NSMAP)
    zone = UTC_ZONE
    if tz_el is not None:
        zone = SerialZone(int(text_of(tz_el, "t:Bias") or 0),
                          _serial_time(tz_el.find("t:StandardTime", NSMAP)),
                          _serial_time(tz_el.find("t:DaylightTime", NSMAP)))
    mailboxes = req.findall("m:MailboxDataArray/t:MailboxData", NSMAP)
    if len(mailboxes) > MAX_AVAILABILITY_MAILBOXES:
        raise SoapFault("ErrorMailboxDataArrayTooBig",
                        f"There are too many target users in the MailboxData array. The allowed "
                        f"size = {MAX_AVAILABILITY_MAILBOXES}; the actual size = {len(mailboxes)}.")
    opts = req.find("t:FreeBusyViewOptions", NSMAP)
    if opts is None:
        raise SoapFault("ErrorInvalidOperation", "The sandbox needs FreeBusyViewOptions.")
    start = _local_dt(text_of(opts, "t:TimeWindow/t:StartTime") or "", zone)
    end = _local_dt(text_of(opts, "t:TimeWindow/t:EndTime") or "", zone)
    interval = int(text_of(opts, "t:MergedFreeBusyIntervalInMinutes") or 30)
    view = text_of(opts, "t:RequestedView") or "DetailedMerged"
    resp = etree.Element(m("GetUserAvailabilityResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    arr = sub(resp, "m:FreeBusyResponseArray")
    for md in mailboxes:
        address = (text_of(md, "t:Email/t:Address") or "").strip().lower()
        fbr = sub(arr, "m:FreeBusyResponse")
        acct = ctx.directory.mailbox(address)
        if acct is None:
            response_message(fbr, "ResponseMessage", ResponseError(
                "ErrorMailRecipientNotFound",
                "No mailbox with such guid or the SMTP address is not found."))
            continue
        if ctx.actor is None:
            detail = "full" if perms.can_impersonate(ctx.directory, ctx.principal,
                                                     acct.address) else "none"
        else:
            detail = perms.free_busy_detail(ctx.directory, ctx.actor, acct.address)
        if detail == "none":
            response_message(fbr, "ResponseMessage", ResponseError(
                "ErrorNoFreeBusyAccess",
                "Unable to retrieve free/busy information: the caller has no access."))
            continue
        view_priv = ctx.actor is None or perms.folder_rights(
            ctx.directory, ctx.actor, acct.address, "calendar").view_private
        response_message(fbr, "ResponseMessage")
        actual = view
        if detail == "times" and view.startswith("Detailed"):
            actual = view.replace("Detailed", "FreeBusy")
        fbv = sub(fbr, "m:FreeBusyView")
        sub(fbv, "t:FreeBusyViewType", actual)
        events = [o for item in ctx.store.calendar(acct.address) for o in item.occurrences()
                  if o.start < end and o.end > start and o.show_as != "Free"]
        events.sort(key=lambda o: o.start)
        if "Merged" in actual:
            slots = []
            cursor = start
            while cursor < end:
                nxt = cursor + dt.timedelta(minutes=interval)
                codes = [BUSY_CODES.get(o.show_as, 2) for o in events
                         if o.start < nxt and o.end > cursor]
                slots.append(str(max(codes, default=0)))
                cursor = nxt
            sub(fbv, "t:MergedFreeBusy", "".join(slots))
        if actual != "MergedOnly" and events:
            cea = sub(fbv, "t:CalendarEventArray")
            for o in events:
                ce = sub(cea, "t:CalendarEvent")
                sub(ce, "t:StartTime", zone.to_local(o.start).isoformat())
                sub(ce, "t:EndTime", zone.to_local(o.end).isoformat())
                sub(ce, "t:BusyType", o.show_as)
                if detail in ("limited", "full"):
                    det = sub(ce, "t:CalendarEventDetails")
                    hide = o.private and not (detail == "full" and view_priv)
                    if detail == "full":
                        sub(det, "t:ID", o.id)
                    if not hide:
                        sub(det, "t:Subject", o.subject)
                        sub(det, "t:Location", o.location)
                    sub(det, "t:IsMeeting", o.is_meeting)
                    sub(det, "t:IsRecurring", o.occurrence is not None)
                    sub(det, "t:IsException", False)
                    sub(det, "t:IsReminderSet", o.reminder_is_set)
                    sub(det, "t:IsPrivate", o.private)
        wh = sub(fbv, "t:WorkingHours")
        if tz_el is not None:
            wh.append(_copy_tz(tz_el))
        else:
            tz = sub(wh, "t:TimeZone")
            sub(tz, "t:Bias", 0)
        wpa = sub(wh, "t:WorkingPeriodArray")
        wp = sub(wpa, "t:WorkingPeriod")
        sub(wp, "t:DayOfWeek", "Monday Tuesday Wednesday Thursday Friday")
        sub(wp, "t:StartTimeInMinutes", 480)
        sub(wp, "t:EndTimeInMinutes", 1020)
    return resp


def _copy_tz(tz_el: Element) -> Element:
    copy = etree.fromstring(etree.tostring(tz_el))
    return copy  # type: ignore[no-any-return]


def _address_el(parent: Element, tag: str, name: str, address: str, kind: str) -> None:
    a = sub(parent, tag)
    sub(a, "t:Name", name)
    sub(a, "t:EmailAddress", address)
    sub(a, "t:RoutingType", "SMTP")
    sub(a, "t:MailboxType", kind)


def get_room_lists(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("GetRoomListsResponse"), nsmap=NSMAP,  # type: ignore[arg-type]
                         attrib={"ResponseClass": "Success"})
    sub(resp, "m:ResponseCode", "NoError")
    lists = sub(resp, "m:RoomLists")
    for address in sorted(ctx.directory.room_lists):
        acct = ctx.directory.accounts[address]
        _address_el(lists, "t:Address", acct.display_name, address, "PublicDL")
    return resp


def get_rooms(ctx: Context, req: Element) -> Element:
    address = (text_of(req, "m:RoomList/t:EmailAddress") or "").strip().lower()
    members = ctx.directory.room_lists.get(address)
    if members is None:
        resp = etree.Element(m("GetRoomsResponse"), nsmap=NSMAP,  # type: ignore[arg-type]
                             attrib={"ResponseClass": "Error"})
        sub(resp, "m:MessageText", "No results were found.")
        sub(resp, "m:ResponseCode", "ErrorNameResolutionNoResults")
        sub(resp, "m:DescriptiveLinkKey", "0")
        return resp
    resp = etree.Element(m("GetRoomsResponse"), nsmap=NSMAP,  # type: ignore[arg-type]
                         attrib={"ResponseClass": "Success"})
    sub(resp, "m:ResponseCode", "NoError")
    rooms = sub(resp, "m:Rooms")
    for member in members:
        acct = ctx.directory.accounts[member]
        _address_el(sub(rooms, "t:Room"), "t:Id", acct.display_name, member, "Mailbox")
    return resp


def resolve_names(ctx: Context, req: Element) -> Element:
    resp = etree.Element(m("ResolveNamesResponse"), nsmap=NSMAP)  # type: ignore[arg-type]
    msgs = sub(resp, "m:ResponseMessages")
    entry = (text_of(req, "m:UnresolvedEntry") or "").strip().lower()
    if entry.startswith("smtp:"):
        entry = entry[5:]
    full = parse_bool(req.get("ReturnFullContactData", "false"))
    hits = []
    for acct in ctx.directory.accounts.values():
        names = [acct.address, acct.local_part, acct.display_name.lower(),
                 *acct.display_name.lower().split()]
        if entry and any(n.startswith(entry) for n in names):
            hits.append(acct)
    hits.sort(key=lambda a: a.address)
    if not hits:
        response_message(msgs, "ResolveNamesResponseMessage",
                         ResponseError("ErrorNameResolutionNoResults", "No results were found."))
        return resp
    warning = None if len(hits) == 1 else ResponseError(
        "ErrorNameResolutionMultipleResults", "Multiple results were found.")
    rm = response_message(msgs, "ResolveNamesResponseMessage", warning=warning)
    rs = sub(rm, "m:ResolutionSet", TotalItemsInView=str(len(hits)),
             IncludesLastItemInRange="true")
    for acct in hits:
        res = sub(rs, "t:Resolution")
        kind = "PublicDL" if acct.kind == "roomlist" else "Mailbox"
        _address_el(res, "t:Mailbox", acct.display_name, acct.address, kind)
        if full:
            c = sub(res, "t:Contact")
            sub(c, "t:DisplayName", acct.display_name)
            ea = sub(c, "t:EmailAddresses")
            sub(ea, "t:Entry", f"SMTP:{acct.address}", Key="EmailAddress1")
            sub(c, "t:ContactSource", "ActiveDirectory")
    return resp


HANDLERS: dict[str, Callable[[Context, Element], Element]] = {
    "ConvertId": convert_id,
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "FindItem": find_item,
    "GetItem": get_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "SyncFolderItems": sync_folder_items,
    "SyncFolderHierarchy": sync_folder_hierarchy,
    "GetServerTimeZones": get_server_time_zones,
    "GetUserAvailabilityRequest": get_user_availability,
    "GetRoomLists": get_room_lists,
    "GetRooms": get_rooms,
    "ResolveNames": resolve_names,
}

# Operations that act on a mailbox and therefore honour ExchangeImpersonation.
ACCOUNT_OPERATIONS = {"GetFolder", "FindFolder", "FindItem", "GetItem", "CreateItem",
                      "UpdateItem", "DeleteItem", "SyncFolderItems", "SyncFolderHierarchy",
                      "GetUserAvailabilityRequest"}
