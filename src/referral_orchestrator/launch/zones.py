"""The launch's wall clock: the IANA time zone of enablement sessions and go-live times.

Rule for the default (no ``--timezone``): when every tz-database zone of the country keeps
the same UTC offsets over the launch window (Germany's Europe/Berlin and Europe/Busingen,
Japan's one Asia/Tokyo), the launch uses that zone. A country whose zones differ (the US,
Canada, Australia, Spain with the Canaries) gets UTC instead of pretending the capital's
clock is everyone's: every time is then written and labelled in UTC, with office hours set
by the country's first tz-database zone at its standard offset (11:00 in New York in
winter = 16:00 UTC for a US launch), and the runbook says so. Pass ``--timezone`` to get
local wall-clock times.

Local times are converted with :mod:`zoneinfo` (``tzdata`` supplies the database where
the system has none, e.g. on Windows), so a session at 11:00 stays at 11:00 across a
daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from referral_orchestrator.errors import InvalidRequest

ZoneSource = Literal["given", "country", "utc"]
UTC_ZONE = "UTC"
SESSION_START = dt.time(11, 0)  # enablement sessions, local wall clock
GO_LIVE_WINDOW = (dt.time(9, 0), dt.time(17, 0))  # the day-of checklist's working day


def aware_clock(clock: Callable[[], dt.datetime]) -> Callable[[], dt.datetime]:
    """``clock`` with a naive reading (``datetime.now``: local time, no zone) taken as the
    machine's local time and given in UTC, so every time a plan records is an instant
    (RFC 3339 ``date-time`` needs the offset). An aware reading is returned as it is."""
    if getattr(clock, "aware", False):
        return clock

    def now() -> dt.datetime:
        value = clock()
        return value if value.tzinfo is not None else value.astimezone(dt.UTC)

    now.aware = True  # type: ignore[attr-defined]
    return now


@functools.cache
def country_zones(country: str) -> tuple[str, ...]:
    """The tz-database zones of a country, in ``zone.tab`` order (empty when none)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(
        encoding="utf-8")
    return tuple(cols[2] for line in text.splitlines()
                 if line and not line.startswith("#")
                 and (cols := line.split("\t"))[0] == country)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@functools.cache
def _agree(first: str, other: str, start_year: int, end_year: int) -> bool:
    """True when two zones give the same UTC offset at every sample of the years.

    Sampled every three hours: zones that disagree do so for longer than that (a
    different standard offset, or daylight saving on other days).
    """
    a, b = _zone(first), _zone(other)
    t = dt.datetime(start_year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(end_year + 1, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=3)
    while t < end:
        if t.astimezone(a).utcoffset() != t.astimezone(b).utcoffset():
            return False
        t += step
    return True


def default_timezone(country: str, start: dt.date, end: dt.date) -> tuple[str, ZoneSource]:
    """The country's zone when its zones agree from ``start`` to ``end``, else UTC."""
    zones = country_zones(country)
    probes = [dt.datetime(y, m, 15, 12, tzinfo=dt.UTC) for y in (start.year, end.year)
              for m in (1, 7)]
    # most multi-zone countries differ at a glance (winter and summer noon); scan the rest
    if zones and all(p.astimezone(_zone(z)).utcoffset() == p.astimezone(_zone(zones[0]))
                     .utcoffset() for z in zones[1:] for p in probes) and all(
            _agree(zones[0], z, start.year, end.year) for z in zones[1:]):
        return zones[0], "country"
    return UTC_ZONE, "utc"


def normalize_timezone(value: str) -> str:
    """Validate an IANA zone name (``Europe/Berlin``); raise ``InvalidRequest`` otherwise."""
    name = value.strip()
    try:
        _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"--timezone {value!r} is not an IANA time zone: use e.g. Europe/Berlin, "
            "America/New_York, Asia/Tokyo or UTC",
            code="bad_timezone",
        ) from None
    return name


def _offset(delta: dt.timedelta | None) -> str:
    minutes = int((delta or dt.timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class WallClock:
    """Turns the launch's wall-clock times (11:00 on a date) into exact instants."""

    zone: str
    source: ZoneSource = "given"
    country: str = ""

    @property
    def _anchor(self) -> str | None:
        """The country zone whose office hours set UTC times when the clock is UTC."""
        zones = country_zones(self.country) if self.source == "utc" else ()
        return zones[0] if zones else None

    def _standard_shift(self, year: int) -> dt.timedelta:
        anchor = self._anchor
        if anchor is None:
            return dt.timedelta()
        tz = _zone(anchor)
        return min(dt.datetime(year, m, 15, 12, tzinfo=tz).utcoffset() or dt.timedelta()
                   for m in (1, 7))

    def at(self, day: dt.date, wall: dt.time) -> dt.datetime:
        """The instant of ``wall`` o'clock on ``day`` (aware; UTC when the clock is UTC)."""
        if self.zone == UTC_ZONE and self._anchor is not None:
            naive = dt.datetime.combine(day, wall) - self._standard_shift(day.year)
            return naive.replace(tzinfo=dt.UTC)
        return dt.datetime.combine(day, wall, tzinfo=_zone(self.zone))

    def label(self, when: dt.datetime) -> str:
        """``11:00 CET (UTC+01:00)`` in the launch zone, or ``16:00 UTC``: never a guess."""
        local = when.astimezone(_zone(self.zone))
        abbrev = local.tzname() or ""
        if self.zone == UTC_ZONE:
            return f"{local:%H:%M} UTC"
        offset = _offset(local.utcoffset())
        if abbrev and abbrev[0] not in "+-" and abbrev != offset:
            return f"{local:%H:%M} {abbrev} ({offset})"
        return f"{local:%H:%M} {offset}"

    def hhmm(self, when: dt.datetime) -> str:
        """``09:00``: the time of an instant on this clock, for lists that name the zone once."""
        return f"{when.astimezone(_zone(self.zone)):%H:%M}"

    def describe(self) -> str:
        """One line for the runbook and monitoring plan: which clock the times are on."""
        if self.zone == UTC_ZONE and self._anchor is None:
            return "UTC" + (" (as given with --timezone)" if self.source == "given" else "")
        from babel import Locale

        name = Locale("en").territories.get(self.country, self.country)
        if self.zone != UTC_ZONE:
            how = ("as given with --timezone" if self.source == "given"
                   else f"the time zone of {name}")
            return f"local wall-clock time in {self.zone} ({how})"
        return (f"UTC: {name} ({self.country}) has several time zones and no --timezone was "
                f"given, so times follow office hours in {self._anchor} standard time, "
                "written in UTC; pass --timezone for local wall-clock times")


def clock_for(req: dict[str, Any]) -> WallClock:
    """The wall clock a request asks for (plans from before ``--timezone``: the US rule)."""
    country = req.get("country") or "US"
    if req.get("timezone"):
        return WallClock(req["timezone"], req.get("timezone_source", "given"), country)
    as_of = dt.date.fromisoformat(req["as_of"])
    zone, source = default_timezone(country, as_of, dt.date.fromisoformat(req["launch_date"]))
    return WallClock(zone, source, country)
