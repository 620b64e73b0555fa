"""Exchange's access rules, as pure functions over a Directory.

- ApplicationImpersonation (or an app-only registration's scope) lets the caller act as the
  mailbox owner; the acting identity then has owner rights.
- Without impersonation, the caller reaches another mailbox as a delegate: FullAccess gives
  everything; otherwise only the calendar, governed by its folder permission (the Default entry
  applies to callers without their own entry).
- Free/busy detail follows the caller's calendar permission.
"""

from __future__ import annotations

from dataclasses import dataclass

from .directory import LEVELS, Directory

CALENDAR = "calendar"

# level -> (read items, create, edit: "none"|"own"|"all", delete: "none"|"own"|"all")
_LEVEL_RIGHTS: dict[str, tuple[bool, bool, str, str]] = {
    "None": (False, False, "none", "none"),
    "AvailabilityOnly": (False, False, "none", "none"),
    "LimitedDetails": (False, False, "none", "none"),
    "Contributor": (False, True, "none", "none"),
    "Reviewer": (True, False, "none", "none"),
    "NonEditingAuthor": (True, True, "none", "own"),
    "Author": (True, True, "own", "own"),
    "PublishingAuthor": (True, True, "own", "own"),
    "Editor": (True, True, "all", "all"),
    "PublishingEditor": (True, True, "all", "all"),
    "Owner": (True, True, "all", "all"),
}


@dataclass(frozen=True)
class Principal:
    """Who authenticated: a directory account (by address) or an app-only registration."""

    kind: str  # "account" | "app"
    name: str  # address or client id

    @property
    def is_app(self) -> bool:
        return self.kind == "app"


@dataclass(frozen=True)
class FolderRights:
    level: str
    read: bool
    create: bool
    edit: str
    delete: str
    view_private: bool
    free_busy: str  # "none" | "times" | "limited" | "full"

    @property
    def visible(self) -> bool:
        """Whether the folder itself can be bound to (GetFolder/FindItem)."""
        return self.read or self.create


OWNER_RIGHTS = FolderRights("Owner", True, True, "all", "all", True, "full")
NO_RIGHTS = FolderRights("None", False, False, "none", "none", False, "none")


def rights_for_level(level: str, view_private: bool = False) -> FolderRights:
    if level not in LEVELS:
        raise ValueError(f"unknown permission level {level!r}")
    read, create, edit, delete = _LEVEL_RIGHTS[level]
    if read:
        free_busy = "full"
    elif level == "LimitedDetails":
        free_busy = "limited"
    elif level in ("AvailabilityOnly", "Contributor"):
        free_busy = "times"
    else:
        free_busy = "none"
    return FolderRights(level, read, create, edit, delete, view_private, free_busy)


def can_impersonate(d: Directory, caller: Principal, mailbox: str) -> bool:
    """ApplicationImpersonation (accounts) or application scope (apps) over ``mailbox``."""
    if caller.is_app:
        app = d.apps.get(caller.name)
        return app is not None and d.in_scope(app.scope, mailbox)
    return any(d.in_scope(scope, mailbox) for scope in d.impersonation.get(caller.name, []))


def has_full_access(d: Directory, actor: str, mailbox: str) -> bool:
    return actor == mailbox or actor in d.full_access.get(mailbox, set())


def folder_rights(d: Directory, actor: str, mailbox: str, folder: str) -> FolderRights:
    """Rights of the acting account ``actor`` on a distinguished folder of ``mailbox``."""
    if has_full_access(d, actor, mailbox):
        return OWNER_RIGHTS
    if folder != CALENDAR:
        return NO_RIGHTS
    entry = d.permission(mailbox, actor)
    return rights_for_level(entry.level, entry.can_view_private_items)


def free_busy_detail(d: Directory, actor: str | None, mailbox: str) -> str:
    """What GetUserAvailability shows ``actor`` of ``mailbox``'s calendar."""
    if actor is None:
        return "none"
    return folder_rights(d, actor, mailbox, CALENDAR).free_busy


def may_edit(rights: FolderRights, actor: str, creator: str) -> bool:
    return rights.edit == "all" or (rights.edit == "own" and actor == creator)


def may_delete(rights: FolderRights, actor: str, creator: str) -> bool:
    return rights.delete == "all" or (rights.delete == "own" and actor == creator)
