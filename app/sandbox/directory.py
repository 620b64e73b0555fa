"""The sandbox's directory: the organisation's accounts, rights and seeded calendar data.

Loaded from a TOML or JSON file (see ``demo.toml``, the built-in contoso.example organisation).
Seeded event times are relative to Monday 00:00 of the current week, computed at load time.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEMO_PASSWORD = "Sandbox-Pass-1"
DEMO_FILE = Path(__file__).with_name("demo.toml")

LEVELS = (
    "None",
    "AvailabilityOnly",
    "LimitedDetails",
    "Contributor",
    "Reviewer",
    "NonEditingAuthor",
    "Author",
    "PublishingAuthor",
    "Editor",
    "PublishingEditor",
    "Owner",
)


class DirectoryError(ValueError):
    """The data file is inconsistent."""


@dataclass
class Account:
    """A mail-enabled principal: user, room, service account (mailbox optional) or room list."""

    address: str
    display_name: str
    kind: str  # "user" | "room" | "service" | "roomlist"
    password: str = DEMO_PASSWORD
    has_mailbox: bool = True
    time_zone: str = "UTC"
    capacity: int | None = None

    @property
    def local_part(self) -> str:
        return self.address.split("@", 1)[0]


@dataclass
class FolderPermission:
    user: str  # address, or "Default"
    level: str
    can_view_private_items: bool = False
    receive_copies_of_meeting_messages: bool = False


@dataclass
class App:
    tenant_id: str
    client_id: str
    client_secret: str
    display_name: str
    scope: str  # "organization" | "group:<name>"


@dataclass
class Recurrence:
    pattern: str  # "daily" | "weekly"
    interval: int = 1
    count: int = 10


@dataclass
class SeedEvent:
    mailbox: str
    subject: str
    start: dt.datetime  # aware, UTC
    end: dt.datetime
    time_zone: str  # IANA
    all_day: bool = False
    private: bool = False
    location: str = ""
    body: str = ""
    show_as: str = "Busy"
    attendees: list[str] = field(default_factory=list)
    recurrence: Recurrence | None = None


@dataclass
class Directory:
    domain: str
    accounts: dict[str, Account]
    groups: dict[str, set[str]]
    room_lists: dict[str, list[str]]
    impersonation: dict[str, list[str]]  # service address -> scopes
    calendar_permissions: dict[str, list[FolderPermission]]  # mailbox -> entries
    full_access: dict[str, set[str]]  # mailbox -> addresses with FullAccess
    apps: dict[str, App]  # client_id -> app
    events: list[SeedEvent]

    # -- look-ups ---------------------------------------------------------------------------
    def account(self, address: str) -> Account | None:
        return self.accounts.get(address.strip().lower())

    def mailbox(self, address: str) -> Account | None:
        acct = self.account(address)
        if acct is None or not acct.has_mailbox or acct.kind == "roomlist":
            return None
        return acct

    def members(self, group: str) -> set[str]:
        return self.groups.get(group, set())

    def in_scope(self, scope: str, mailbox: str) -> bool:
        if scope == "organization":
            return True
        if scope.startswith("group:"):
            return mailbox in self.members(scope[len("group:") :])
        return scope == mailbox

    def permission(self, mailbox: str, user: str) -> FolderPermission:
        """The calendar permission entry that applies to ``user`` (falls back to Default)."""
        entries = self.calendar_permissions.get(mailbox, [])
        for entry in entries:
            if entry.user == user:
                return entry
        for entry in entries:
            if entry.user == "Default":
                return entry
        return FolderPermission("Default", "AvailabilityOnly")

    def mailboxes(self) -> list[Account]:
        return [a for a in self.accounts.values() if a.has_mailbox and a.kind != "roomlist"]


# ---------------------------------------------------------------------------------------------


def _addr(name: str, domain: str) -> str:
    name = name.strip().lower()
    return name if "@" in name else f"{name}@{domain}"


def _week_start(tz: ZoneInfo, now: dt.datetime) -> dt.datetime:
    local = now.astimezone(tz)
    monday = local.date() - dt.timedelta(days=local.weekday())
    return dt.datetime.combine(monday, dt.time(0, 0), tzinfo=tz)


def _targets(spec: str, domain: str, groups: dict[str, set[str]]) -> list[str]:
    if spec.startswith("group:"):
        name = spec[len("group:") :]
        if name not in groups:
            raise DirectoryError(f"unknown group {name!r}")
        return sorted(groups[name])
    return [_addr(spec, domain)]


def parse_directory(data: dict[str, Any], now: dt.datetime | None = None) -> Directory:
    """Build a Directory from the parsed contents of a data file."""
    now = now or dt.datetime.now(dt.UTC)
    domain = str(data["domain"]).lower()
    default_password = str(data.get("default_password", DEMO_PASSWORD))
    accounts: dict[str, Account] = {}

    def add(entry: dict[str, Any], kind: str) -> None:
        address = _addr(entry["name"], domain)
        accounts[address] = Account(
            address=address,
            display_name=entry.get("display_name", entry["name"]),
            kind=kind,
            password=entry.get("password", default_password),
            has_mailbox=bool(entry.get("mailbox", kind != "roomlist")),
            time_zone=entry.get("time_zone", "UTC"),
            capacity=entry.get("capacity"),
        )

    for entry in data.get("users", []):
        add(entry, "user")
    for entry in data.get("rooms", []):
        add(entry, "room")
    for entry in data.get("service_accounts", []):
        add(entry, "service")
    room_lists: dict[str, list[str]] = {}
    for entry in data.get("room_lists", []):
        add(entry, "roomlist")
        room_lists[_addr(entry["name"], domain)] = [_addr(m, domain) for m in entry["members"]]
    groups = {g["name"]: {_addr(m, domain) for m in g["members"]} for g in data.get("groups", [])}
    for members in [*groups.values(), *room_lists.values()]:
        for member in members:
            if member not in accounts:
                raise DirectoryError(f"unknown member {member!r}")

    impersonation: dict[str, list[str]] = {}
    for entry in data.get("impersonation", []):
        scope = entry.get("scope", "organization")
        if scope.startswith("group:") and scope[6:] not in groups:
            raise DirectoryError(f"unknown group in scope {scope!r}")
        impersonation.setdefault(_addr(entry["user"], domain), []).append(scope)

    permissions: dict[str, list[FolderPermission]] = {}
    for entry in data.get("calendar_permissions", []):
        level = entry["level"]
        if level not in LEVELS:
            raise DirectoryError(f"unknown permission level {level!r}")
        user = entry["user"]
        user = "Default" if user == "Default" else _addr(user, domain)
        for mailbox in _targets(entry["mailbox"], domain, groups):
            entries = permissions.setdefault(mailbox, [])
            entries[:] = [e for e in entries if e.user != user]
            entries.append(
                FolderPermission(
                    user,
                    level,
                    bool(entry.get("can_view_private_items", False)),
                    bool(entry.get("receive_copies_of_meeting_messages", False)),
                )
            )
    full_access: dict[str, set[str]] = {}
    for entry in data.get("full_access", []):
        for mailbox in _targets(entry["mailbox"], domain, groups):
            full_access.setdefault(mailbox, set()).add(_addr(entry["user"], domain))

    apps = {}
    for entry in data.get("apps", []):
        apps[entry["client_id"]] = App(
            tenant_id=entry["tenant_id"],
            client_id=entry["client_id"],
            client_secret=entry.get("client_secret", default_password),
            display_name=entry.get("display_name", entry["client_id"]),
            scope=entry.get("scope", "organization"),
        )

    events = []
    for entry in data.get("events", []):
        mailbox = _addr(entry["mailbox"], domain)
        if mailbox not in accounts:
            raise DirectoryError(f"event for unknown mailbox {mailbox!r}")
        tzname = entry.get("time_zone", accounts[mailbox].time_zone)
        tz = ZoneInfo(tzname)
        day = _week_start(tz, now) + dt.timedelta(days=int(entry.get("day", 0)))
        all_day = bool(entry.get("all_day", False))
        if all_day:
            start = day
            end = day + dt.timedelta(days=int(entry.get("days", 1)))
        else:
            hh, mm = (int(x) for x in entry.get("start", "09:00").split(":"))
            start = day.replace(hour=hh, minute=mm)
            end = start + dt.timedelta(minutes=int(entry.get("minutes", 60)))
        rec = entry.get("recurrence")
        events.append(
            SeedEvent(
                mailbox=mailbox,
                subject=entry["subject"],
                start=start.astimezone(dt.UTC),
                end=end.astimezone(dt.UTC),
                time_zone=tzname,
                all_day=all_day,
                private=bool(entry.get("private", False)),
                location=entry.get("location", ""),
                body=entry.get("body", ""),
                show_as=entry.get("show_as", "Busy"),
                attendees=[_addr(a, domain) for a in entry.get("attendees", [])],
                recurrence=Recurrence(
                    rec.get("pattern", "weekly"), int(rec.get("interval", 1)), int(rec["count"])
                )
                if rec
                else None,
            )
        )
    return Directory(
        domain=domain,
        accounts=accounts,
        groups=groups,
        room_lists=room_lists,
        impersonation=impersonation,
        calendar_permissions=permissions,
        full_access=full_access,
        apps=apps,
        events=events,
    )


def load_directory(path: str | Path | None = None, now: dt.datetime | None = None) -> Directory:
    """Load a directory from a TOML or JSON file; None loads the built-in demo organisation."""
    path = Path(path) if path is not None else DEMO_FILE
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    return parse_directory(data, now=now)
