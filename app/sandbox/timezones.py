"""Windows time-zone definitions (GetServerTimeZones) generated from tzdata, and the
SerializableTimeZone arithmetic GetUserAvailability needs."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def duration(minutes: int) -> str:
    """xs:duration for a signed number of minutes: -60 -> '-PT1H'."""
    sign = "-" if minutes < 0 else ""
    minutes = abs(minutes)
    h, mi = divmod(minutes, 60)
    if not h and not mi:
        return "PT0M"
    return f"{sign}PT" + (f"{h}H" if h else "") + (f"{mi}M" if mi else "")


@dataclass(frozen=True)
class Transition:
    period: str  # "Standard" | "Daylight"
    wall_minutes: int  # local wall-clock time of day before the transition, minutes
    month: int
    weekday: str
    occurrence: int  # 1..4, or -1 for "last"


@dataclass(frozen=True)
class ZoneDefinition:
    id: str
    name: str
    std_bias: int  # minutes, Exchange sign (UTC = local + bias)
    dst_bias: int | None  # total bias during daylight time
    transitions: tuple[Transition, ...]


def _define(ms_id: str, iana: str, year: int) -> ZoneDefinition:
    zone = ZoneInfo(iana)
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    changes: list[tuple[dt.datetime, int, int]] = []
    prev = zone.utcoffset(start.replace(tzinfo=None))
    hour = dt.timedelta(hours=1)
    t = start
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    while t < end:
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            # refine to the hour
            u = t - dt.timedelta(days=1)
            while u.astimezone(zone).utcoffset() == prev:
                u += hour
            assert prev is not None and off is not None
            changes.append((u, int(prev.total_seconds() // 60), int(off.total_seconds() // 60)))
            prev = off
        t += dt.timedelta(days=1)
    if len(changes) != 2:
        off = (end - dt.timedelta(days=1)).astimezone(zone).utcoffset()
        assert off is not None
        return ZoneDefinition(ms_id, ms_id, -int(off.total_seconds() // 60), None, ())
    std = min(c[1] for c in changes)
    dst = max(c[1] for c in changes)
    transitions = []
    for when, before, after in changes:
        wall = when + dt.timedelta(minutes=before)
        last = wall.day + 7 > calendar.monthrange(wall.year, wall.month)[1]
        transitions.append(
            Transition(
                "Daylight" if after == dst else "Standard",
                wall.hour * 60 + wall.minute,
                wall.month,
                WEEKDAYS[wall.weekday()],
                -1 if last else (wall.day - 1) // 7 + 1,
            )
        )
    return ZoneDefinition(ms_id, ms_id, -std, -dst, tuple(transitions))


@lru_cache(maxsize=1)
def all_zones() -> dict[str, ZoneDefinition]:
    year = dt.datetime.now(dt.UTC).year
    zones = {"UTC": ZoneDefinition("UTC", "(UTC) Coordinated Universal Time", 0, None, ())}
    for ms_id, iana in sorted(MS_TIMEZONE_TO_IANA_MAP.items()):
        try:
            zones[ms_id] = _define(ms_id, iana, year)
        except (KeyError, ValueError):  # pragma: no cover - tzdata without that zone
            continue
    return zones


# -- SerializableTimeZone (GetUserAvailability) ---------------------------------------------


@dataclass(frozen=True)
class SerialTime:
    bias: int
    minutes: int  # time of day
    day_order: int  # 1..5 (5 = last)
    month: int
    weekday: str


@dataclass(frozen=True)
class SerialZone:
    bias: int
    standard: SerialTime | None
    daylight: SerialTime | None

    def _nth(self, year: int, st: SerialTime) -> dt.datetime:
        wd = WEEKDAYS.index(st.weekday) if st.weekday in WEEKDAYS else 6
        days = calendar.monthrange(year, st.month)[1]
        matches = [d for d in range(1, days + 1) if dt.date(year, st.month, d).weekday() == wd]
        day = matches[min(st.day_order, len(matches)) - 1]
        return dt.datetime(year, st.month, day) + dt.timedelta(minutes=st.minutes)

    def offset_at(self, utc: dt.datetime) -> int:
        """UTC offset in minutes (local = UTC + offset)."""
        std = self.standard
        dst = self.daylight
        if not std or not dst or dst.bias == 0 or std.month == 0 or dst.month == 0:
            return -self.bias
        local_std = utc.replace(tzinfo=None) - dt.timedelta(minutes=self.bias)
        start = self._nth(local_std.year, dst)
        end = self._nth(local_std.year, std) + dt.timedelta(minutes=dst.bias)
        in_dst = start <= local_std < end if start < end else not (end <= local_std < start)
        return -(self.bias + dst.bias) if in_dst else -(self.bias + std.bias)

    def to_local(self, utc: dt.datetime) -> dt.datetime:
        utc = utc.astimezone(dt.UTC)
        return (utc + dt.timedelta(minutes=self.offset_at(utc))).replace(tzinfo=None)

    def to_utc(self, local: dt.datetime) -> dt.datetime:
        guess = (local + dt.timedelta(minutes=self.bias)).replace(tzinfo=dt.UTC)
        return (local - dt.timedelta(minutes=self.offset_at(guess))).replace(tzinfo=dt.UTC)


UTC_ZONE = SerialZone(0, None, None)
