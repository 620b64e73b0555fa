"""In-memory mailbox state: folders, calendar items (with ids and change keys), sync log."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from .directory import Directory, Recurrence

# distinguished id -> (display name, folder class, parent)
FOLDERS: dict[str, tuple[str, str, str | None]] = {
    "root": ("Top of Information Store", "", None),
    "msgfolderroot": ("Top of Information Store", "IPF.Note", "root"),
    "calendar": ("Calendar", "IPF.Appointment", "msgfolderroot"),
    "inbox": ("Inbox", "IPF.Note", "msgfolderroot"),
    "sentitems": ("Sent Items", "IPF.Note", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "IPF.Note", "msgfolderroot"),
    "drafts": ("Drafts", "IPF.Note", "msgfolderroot"),
    "outbox": ("Outbox", "IPF.Note", "msgfolderroot"),
    "junkemail": ("Junk Email", "IPF.Note", "msgfolderroot"),
    "contacts": ("Contacts", "IPF.Contact", "msgfolderroot"),
    "tasks": ("Tasks", "IPF.Task", "msgfolderroot"),
    "notes": ("Notes", "IPF.StickyNote", "msgfolderroot"),
    "journal": ("Journal", "IPF.Journal", "msgfolderroot"),
}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str | None:
    try:
        return base64.b64decode(text.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def ms_zone(iana: str) -> str:
    entry = IANA_TO_MS_TIMEZONE_MAP.get(iana)
    return entry[0] if entry else "UTC"


def iana_zone(ms_id: str | None) -> str:
    if not ms_id:
        return "UTC"
    return MS_TIMEZONE_TO_IANA_MAP.get(ms_id, "UTC")


def folder_id(mailbox: str, name: str) -> str:
    return _b64(f"F|{mailbox}|{name}")


def parse_folder_id(fid: str) -> tuple[str, str] | None:
    raw = _unb64(fid)
    if not raw or not raw.startswith("F|"):
        return None
    _, mailbox, name = raw.split("|", 2)
    return mailbox, name


def folder_change_key(mailbox: str, name: str) -> str:
    return _b64(f"FCK|{name}|1")


@dataclass
class CalendarItem:
    serial: int
    mailbox: str
    subject: str
    start: dt.datetime
    end: dt.datetime
    time_zone: str = "UTC"  # IANA
    end_time_zone: str = "UTC"
    all_day: bool = False
    location: str = ""
    body: str = ""
    body_type: str = "Text"
    sensitivity: str = "Normal"
    show_as: str = "Busy"
    importance: str = "Normal"
    organizer: str = ""
    required: list[str] = field(default_factory=list)
    optional: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    reminder_is_set: bool = False
    reminder_minutes: int = 15
    recurrence: Recurrence | None = None
    deleted_occurrences: set[int] = field(default_factory=set)
    creator: str = ""
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    modified: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    version: int = 1
    created_seq: int = 0
    seq: int = 0
    uid: str = ""
    occurrence: int | None = None  # set on expanded occurrences only

    @property
    def id(self) -> str:
        if self.occurrence is not None:
            return _b64(f"O|{self.mailbox}|{self.serial}|{self.occurrence}")
        return _b64(f"I|{self.mailbox}|{self.serial}")

    @property
    def master_id(self) -> str:
        return _b64(f"I|{self.mailbox}|{self.serial}")

    @property
    def change_key(self) -> str:
        return _b64(f"CK|{self.serial}|{self.version}")

    @property
    def private(self) -> bool:
        return self.sensitivity in ("Private", "Confidential")

    @property
    def is_meeting(self) -> bool:
        return bool(self.required or self.optional or self.resources)

    @property
    def calendar_item_type(self) -> str:
        if self.occurrence is not None:
            return "Occurrence"
        return "RecurringMaster" if self.recurrence else "Single"

    def occurrences(self) -> Iterator[CalendarItem]:
        """The master itself when single; else each (non-deleted) occurrence."""
        if self.recurrence is None:
            yield self
            return
        tz = ZoneInfo(self.time_zone)
        local_start = self.start.astimezone(tz)
        duration = self.end - self.start
        step_days = self.recurrence.interval * (7 if self.recurrence.pattern == "weekly" else 1)
        for index in range(self.recurrence.count):
            if index in self.deleted_occurrences:
                continue
            start = (local_start + dt.timedelta(days=index * step_days)).astimezone(dt.UTC)
            occ = CalendarItem(**{**self.__dict__, "start": start, "end": start + duration,
                                  "occurrence": index})
            yield occ

    def occurrence_at(self, index: int) -> CalendarItem | None:
        for occ in self.occurrences():
            if occ.occurrence == index:
                return occ
        return None


class Store:
    """All mailboxes' items, guarded by one re-entrant lock."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.lock = threading.RLock()
        self.items: dict[tuple[str, int], CalendarItem] = {}
        self.tombstones: dict[str, list[tuple[int, int, str]]] = {}  # mailbox -> (seq, created, id)
        self._serial = itertools.count(1)
        self._seq = itertools.count(1)
        self.seq = 0
        for ev in directory.events:
            self.add(
                CalendarItem(
                    serial=0,
                    mailbox=ev.mailbox,
                    subject=ev.subject,
                    start=ev.start,
                    end=ev.end,
                    time_zone=ev.time_zone,
                    end_time_zone=ev.time_zone,
                    all_day=ev.all_day,
                    location=ev.location,
                    body=ev.body,
                    sensitivity="Private" if ev.private else "Normal",
                    show_as=ev.show_as,
                    organizer=ev.mailbox,
                    required=[a for a in ev.attendees if not self._is_room(a)],
                    resources=[a for a in ev.attendees if self._is_room(a)],
                    recurrence=ev.recurrence,
                    creator=ev.mailbox,
                ),
                creator=ev.mailbox,
            )

    def _is_room(self, address: str) -> bool:
        acct = self.directory.account(address)
        return acct is not None and acct.kind == "room"

    def next_seq(self) -> int:
        self.seq = next(self._seq)
        return self.seq

    def add(self, item: CalendarItem, creator: str) -> CalendarItem:
        with self.lock:
            item.serial = next(self._serial)
            item.creator = creator
            item.uid = item.uid or f"sandbox-{item.serial:08d}@{self.directory.domain}"
            item.created_seq = item.seq = self.next_seq()
            self.items[(item.mailbox, item.serial)] = item
            return item

    def touch(self, item: CalendarItem) -> None:
        item.version += 1
        item.modified = dt.datetime.now(dt.UTC)
        item.seq = self.next_seq()

    def delete(self, item: CalendarItem) -> None:
        with self.lock:
            self.items.pop((item.mailbox, item.serial), None)
            self.tombstones.setdefault(item.mailbox, []).append(
                (self.next_seq(), item.created_seq, item.master_id)
            )

    def calendar(self, mailbox: str) -> list[CalendarItem]:
        with self.lock:
            return sorted((i for (mbx, _), i in self.items.items() if mbx == mailbox),
                          key=lambda i: (i.start, i.serial))

    def resolve(self, item_id: str) -> tuple[CalendarItem | None, CalendarItem | None]:
        """(master, occurrence-or-None) for an item id; (None, None) if unknown."""
        raw = _unb64(item_id)
        if not raw:
            return None, None
        parts = raw.split("|")
        try:
            if parts[0] == "I" and len(parts) == 3:
                return self.items.get((parts[1], int(parts[2]))), None
            if parts[0] == "O" and len(parts) == 4:
                master = self.items.get((parts[1], int(parts[2])))
                if master is None:
                    return None, None
                occ = master.occurrence_at(int(parts[3]))
                return (master, occ) if occ else (None, None)
        except ValueError:
            return None, None
        return None, None

    @staticmethod
    def is_item_id(item_id: str) -> bool:
        raw = _unb64(item_id)
        return bool(raw) and raw.split("|")[0] in ("I", "O")  # type: ignore[union-attr]
