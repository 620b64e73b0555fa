"""Access levels, the mailboxes they cover, and the one mapping from a level to OAuth scopes.

Boundary A (vendor scopes) may never exceed boundary B (what the service account can do in
Exchange), so every place that grants or checks a scope asks this module (DESIGN.md, VENDOR-API
§2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from app.exchange.addresses import (
    InvalidInput,
    normalize_group_name,
    parse_address_list,
)

#: The calendar-API scopes, in the order tokens list them.
SCOPES = (
    "read_account",
    "list_calendars",
    "read_events",
    "create_event",
    "delete_event",
    "read_free_busy",
    "list_resources",
)
#: Compatibility scopes for minting per-mailbox tokens (Cronofy's service-account flow).
SERVICE_ACCOUNT_SCOPES = (
    "service_account/accounts/manage",
    "service_account/resources/manage",
)
ALL_SCOPES = SCOPES + SERVICE_ACCOUNT_SCOPES

#: Aliases accepted on input and expanded in the token response (VENDOR-API §2).
ALIASES: dict[str, tuple[str, ...]] = {
    "read_only": ("read_account", "list_calendars", "read_events", "read_free_busy"),
    "read_write": (
        "read_account",
        "list_calendars",
        "read_events",
        "create_event",
        "delete_event",
        "read_free_busy",
    ),
    "free_busy": ("read_account", "read_free_busy"),
}
#: Scopes that bring others with them: reading events reveals free/busy anyway (as Cronofy).
IMPLIES: dict[str, tuple[str, ...]] = {"read_events": ("read_free_busy",)}

LEVELS = ("full", "restricted", "free_busy")
COVERAGE_MODES = ("all", "group", "list")


class UnknownScope(ValueError):
    """A requested scope we do not know; RFC 6749 §4.1.2.1 calls for ``invalid_scope``."""

    code = "invalid_scope"

    def __init__(self, scopes: Sequence[str]) -> None:
        super().__init__(f"Unknown scope: {' '.join(scopes)}")
        self.scopes = tuple(scopes)  #: the offending names, as requested


class UnknownAccessLevel(ValueError):
    """An access level name that is not one of :data:`LEVELS`."""

    code = "unknown_access_level"


@dataclass(frozen=True)
class AccessLevel:
    """One of the three ways the admin can let the service account into mailboxes."""

    key: str
    title: str
    #: one plain-language sentence for the wizard
    summary: str
    #: the scopes a token may carry at this level
    scopes: frozenset[str]
    #: bullet points: what the vendor can do
    can: tuple[str, ...]
    #: bullet points: what the vendor cannot do
    cannot: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        """Tell whether a token at this level may carry ``scope``."""
        return scope in self.scopes


ACCESS_LEVELS: dict[str, AccessLevel] = {
    "full": AccessLevel(
        key="full",
        title="Full",
        summary=(
            "The service account acts as each covered mailbox's owner (impersonation), so the "
            "vendor can read and change calendars and list rooms."
        ),
        scopes=frozenset(ALL_SCOPES),
        can=(
            "Read, create, change and delete events in covered calendars",
            "See free/busy times",
            "List room lists and rooms",
        ),
        cannot=(
            "Reach mailboxes outside the covered set",
            "Do anything Exchange Connect's API does not offer (it never reads mail)",
        ),
    ),
    "restricted": AccessLevel(
        key="restricted",
        title="Restricted",
        summary=(
            "The service account gets Editor rights on each covered mailbox's Calendar folder "
            "only, so mail and every other folder stay out of reach."
        ),
        scopes=frozenset(ALL_SCOPES),
        can=(
            "Read, create, change and delete events in covered calendars",
            "See free/busy times",
            "List room lists and rooms (any mailbox may do this)",
        ),
        cannot=(
            "Open mail, contacts or any folder other than the Calendar",
            "Reach mailboxes whose Calendar was not shared with the service account",
        ),
    ),
    "free_busy": AccessLevel(
        key="free_busy",
        title="Free-busy",
        summary=(
            "The service account sees only when covered people are busy or free, never what "
            "their events are."
        ),
        scopes=frozenset({"read_account", "read_free_busy"}),
        can=("See free/busy times of covered mailboxes",),
        cannot=(
            "Read event subjects, bodies or attendees",
            "Create, change or delete events",
            "List calendars or rooms",
        ),
    ),
}


def access_level(key: str) -> AccessLevel:
    """Return the level called ``key``, or raise :class:`UnknownAccessLevel`."""
    try:
        return ACCESS_LEVELS[key]
    except KeyError:
        raise UnknownAccessLevel(f"Unknown access level: {key!r}") from None


def expand_scopes(requested: Iterable[str]) -> tuple[str, ...]:
    """Return the scopes ``requested`` names, aliases expanded, deduplicated, in canonical order.

    :raises UnknownScope: naming every scope we do not know; none is ever silently dropped.
    """
    wanted: set[str] = set()
    unknown: list[str] = []
    for name in requested:
        if name in ALIASES:
            wanted.update(ALIASES[name])
        elif name in ALL_SCOPES:
            wanted.add(name)
        elif name not in unknown:
            unknown.append(name)
    if unknown:
        raise UnknownScope(unknown)
    for name in list(wanted):
        wanted.update(IMPLIES.get(name, ()))
    return tuple(s for s in ALL_SCOPES if s in wanted)


def parse_scope(text: str) -> tuple[str, ...]:
    """Return the scopes in an OAuth ``scope`` string (RFC 6749 §3.3: space-delimited)."""
    return expand_scopes((text or "").split())


@dataclass(frozen=True)
class RefusedScope:
    """A requested scope the access level cannot serve, and why (``scope_refused`` entries)."""

    scope: str
    reason: str


@dataclass(frozen=True)
class Grant:
    """The scopes a token will carry and the ones refused."""

    granted: tuple[str, ...]
    refused: tuple[RefusedScope, ...] = field(default=())

    @property
    def scope(self) -> str:
        """Return the granted scopes as an OAuth ``scope`` string."""
        return " ".join(self.granted)

    @property
    def useful(self) -> bool:
        """Tell whether the grant gives more than ``read_account`` when more was asked for.

        When it does not, the OAuth layer answers ``unable_to_grant_scope`` instead of
        issuing a token that can do nothing the vendor wanted.
        """
        asked = set(self.granted) | {r.scope for r in self.refused}
        if not asked - {"read_account"}:
            return True
        return bool(set(self.granted) - {"read_account"})


def grant(requested: Sequence[str], level: str) -> Grant:
    """Split the ``requested`` scopes (aliases allowed) into those ``level`` grants and refuses."""
    allowed = access_level(level)
    scopes = expand_scopes(requested)
    return Grant(
        granted=tuple(s for s in scopes if allowed.allows(s)),
        refused=tuple(
            RefusedScope(s, f"access_level_{level}") for s in scopes if not allowed.allows(s)
        ),
    )


def compare_levels(requested: Sequence[str]) -> tuple[tuple[AccessLevel, Grant], ...]:
    """Return what each level would grant of ``requested``, for the wizard's side-by-side view."""
    return tuple((ACCESS_LEVELS[key], grant(requested, key)) for key in LEVELS)


@dataclass(frozen=True)
class Coverage:
    """Which mailboxes the access level applies to: all, a group's members, or a list."""

    mode: str
    group: str | None = None
    mailboxes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in COVERAGE_MODES:
            raise InvalidInput(f"Unknown coverage {self.mode!r}.", "invalid_coverage")
        if self.mode == "group" and not self.group:
            raise InvalidInput("Enter the group whose members are covered.", "invalid_coverage")
        if self.mode == "list" and not self.mailboxes:
            raise InvalidInput("List at least one mailbox to cover.", "invalid_coverage")

    @classmethod
    def from_form(cls, mode: str, group: str = "", mailboxes: str = "") -> Coverage:
        """Build a coverage from the wizard's fields, validating the group or the address list."""
        if mode == "group":
            return cls("group", group=normalize_group_name(group))
        if mode == "list":
            return cls("list", mailboxes=parse_address_list(mailboxes))
        return cls(mode)

    def describe(self) -> str:
        """Return a plain-language sentence naming the covered mailboxes."""
        if self.mode == "all":
            return "Every user and room mailbox in your organisation."
        if self.mode == "group":
            return f"The mailboxes that are members of the group “{self.group}”."
        count = len(self.mailboxes)
        shown = ", ".join(self.mailboxes[:3])
        more = f" and {count - 3} more" if count > 3 else ""
        noun = "mailbox" if count == 1 else "mailboxes"
        return f"{count} listed {noun}: {shown}{more}."
