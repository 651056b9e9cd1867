"""Business-day arithmetic in the launch's holiday calendar, and the scheduling rules.

Rules (whoever drafted the tasks): no due date on a weekend or a public holiday of the
launch's country (and subdivision), none before the planning date, none before a task it
depends on. Lead times that do not fit are flagged as a compressed schedule with the tasks
named, never silently squeezed.

The holidays come from the ``holidays`` package: public holidays plus, where the package
lists them, bank holidays (Japan's year-end closure, Sweden's Christmas Eve), with
observed days - including an observed day that falls in the year before the holiday
(New Year's Day 2028, a Saturday, is observed in the US on Friday 2027-12-31). The weekend
is the country's own (Friday-Saturday in Israel).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from referral_orchestrator.errors import InvalidRequest, ReferralError

DEFAULT_COUNTRY = "US"
_COUNTRY_ALIASES = {"UK": "GB"}  # the common name; ISO 3166 and CLDR say GB
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _holiday_set(country: str, subdivision: str | None, years: Iterable[int]) -> Any:
    import holidays  # ~80 ms: only when a launch needs a calendar, never for --help

    probe = holidays.country_holidays(country, subdiv=subdivision)
    wanted = tuple(c for c in (holidays.PUBLIC, holidays.BANK)
                   if c in probe.supported_categories)
    return holidays.country_holidays(country, subdiv=subdivision, years=list(years),
                                     categories=wanted)


@functools.cache
def _year(country: str, subdivision: str | None, year: int) -> dict[dt.date, str]:
    # Observed days cross year ends (2027-12-31 for New Year's Day 2028): load the
    # neighbouring years too and keep the days that fall in this one.
    table = _holiday_set(country, subdivision, range(year - 1, year + 2))
    return {day: name for day, name in sorted(table.items()) if day.year == year}


@functools.cache
def _has_bank(country: str) -> bool:
    import holidays

    return holidays.BANK in _holiday_set(country, None, ()).supported_categories


@functools.cache
def _weekend(country: str) -> frozenset[int]:
    return frozenset(getattr(_holiday_set(country, None, ()), "weekend", {5, 6}))


@functools.cache
def _known(code: str) -> bool:
    # one country's module, not the ~250 that list_supported_countries() imports (0.1 s)
    import holidays

    try:
        holidays.country_holidays(code)
    except NotImplementedError:
        return False
    return True


def normalize_country(value: str | None) -> str:
    """An ISO 3166-1 alpha-2 code the holidays package knows, upper-cased (``uk`` -> ``GB``)."""
    code = (value or DEFAULT_COUNTRY).strip().upper()
    code = _COUNTRY_ALIASES.get(code, code)
    if not (len(code) == 2 and code.isascii() and code.isalpha() and _known(code)):
        raise InvalidRequest(
            f"--country {value!r} is not an ISO 3166-1 alpha-2 code with a holiday calendar: "
            "use e.g. US, GB, DE, JP, FR",
            code="bad_country",
        )
    return code


def normalize_subdivision(country: str, value: str | None) -> str | None:
    """The holidays package's code of a subdivision (``eng``, ``England`` -> ``ENG``)."""
    if value is None or not value.strip():
        return None
    import holidays

    probe = holidays.country_holidays(country)
    codes = {c.upper(): c for c in probe.subdivisions}
    aliases = {a.upper(): c for a, c in getattr(probe, "subdivisions_aliases", {}).items()}
    key = value.strip().upper()
    code = codes.get(key) or aliases.get(key)
    if code is None:
        known = ", ".join(probe.subdivisions) or "none"
        raise InvalidRequest(
            f"--subdivision {value.strip()!r} is not a subdivision of {country}: use one of "
            f"{known}",
            code="bad_subdivision",
        )
    return code


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days of one country (and subdivision): its weekend and holidays excluded."""

    country: str
    subdivision: str | None = None

    def holidays(self, year: int) -> dict[dt.date, str]:
        """The year's holidays (observed dates) with their names."""
        return _year(self.country, self.subdivision, year)

    def holiday(self, day: dt.date) -> str | None:
        """The name of the holiday on ``day``, if it is one."""
        return self.holidays(day.year).get(day)

    def is_business_day(self, day: dt.date) -> bool:
        """Not a weekend day of the country and not a holiday."""
        return day.weekday() not in _weekend(self.country) and day not in self.holidays(
            day.year)

    def next_business_day(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a business day, else the next one."""
        while not self.is_business_day(day):
            day += dt.timedelta(days=1)
        return day

    def previous_business_day(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a business day, else the one before."""
        while not self.is_business_day(day):
            day -= dt.timedelta(days=1)
        return day

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """Move ``n`` business days from ``day`` (negative = back); non-business starts snap."""
        step = 1 if n >= 0 else -1
        day = self.next_business_day(day) if n >= 0 else self.previous_business_day(day)
        for _ in range(abs(n)):
            day += dt.timedelta(days=step)
            while not self.is_business_day(day):
                day += dt.timedelta(days=step)
        return day

    def business_days_between(self, start: dt.date, end: dt.date) -> int:
        """Business days in ``(start, end]``."""
        days, cur = 0, start
        while cur < end:
            cur += dt.timedelta(days=1)
            days += self.is_business_day(cur)
        return days

    def describe(self) -> str:
        """One line for the runbook: which days count as business days, and why."""
        from babel import Locale

        name = Locale("en").territories.get(self.country, self.country)
        where = f"{name} ({self.country}" + (f"-{self.subdivision})" if self.subdivision
                                             else ")")
        workdays = [d for d in range(7) if d not in _weekend(self.country)]
        span = (f"{_DAY_NAMES[workdays[0]]}-{_DAY_NAMES[workdays[-1]]}"
                if workdays == list(range(workdays[0], workdays[-1] + 1))
                else ", ".join(_DAY_NAMES[d] for d in workdays))
        kinds = "public and bank" if _has_bank(self.country) else "public"
        return f"{span}, except the {kinds} holidays of {where} (holidays package)"


def calendar_for(req: Mapping[str, Any]) -> BusinessCalendar:
    """The business calendar a request asks for (plans from before ``--country``: US)."""
    return BusinessCalendar(req.get("country") or DEFAULT_COUNTRY, req.get("subdivision"))


def topological_order(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Task ids in dependency order; raises on unknown dependencies or cycles."""
    ids = {t["id"] for t in tasks}
    deps = {t["id"]: [d for d in t.get("depends_on", [])] for t in tasks}
    for tid, ds in deps.items():
        for d in ds:
            if d not in ids:
                raise ReferralError(f"task {tid!r} depends on unknown task {d!r}")
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(tid: str, path: tuple[str, ...]) -> None:
        if state.get(tid) == 2:
            return
        if state.get(tid) == 1:
            raise ReferralError("task dependencies form a cycle: " + " -> ".join((*path, tid)))
        state[tid] = 1
        for d in deps[tid]:
            visit(d, (*path, tid))
        state[tid] = 2
        order.append(tid)

    for t in tasks:
        visit(t["id"], ())
    return order


def schedule(
    tasks: Iterable[dict[str, Any]], *, launch: dt.date, as_of: dt.date,
    calendar: BusinessCalendar,
) -> list[str]:
    """Fix every task's ``due`` in place so the rules hold; return the compressed task ids.

    A task is compressed when its due date had to move later than its lead time asked
    (because of the planning date or a dependency) and so eats into the time after it.
    """
    items = list(tasks)
    by_id = {t["id"]: t for t in items}
    earliest = calendar.next_business_day(as_of + dt.timedelta(days=1))
    compressed: list[str] = []
    for tid in topological_order(items):
        task = by_id[tid]
        wanted = calendar.previous_business_day(dt.date.fromisoformat(task["due"]))
        due = max([wanted, earliest] + [
            dt.date.fromisoformat(by_id[d]["due"]) for d in task.get("depends_on", [])
        ])
        due = calendar.next_business_day(due)
        task["due"] = due.isoformat()
        late_for_launch = due > launch and wanted <= launch
        if due > wanted or late_for_launch:
            task["compressed"] = True
            task["slip_days"] = calendar.business_days_between(wanted, due)
            compressed.append(tid)
    return compressed


def full_lead_launch(tasks: Iterable[dict[str, Any]], launch: dt.date,
                     calendar: BusinessCalendar) -> dt.date:
    """The earliest launch date that gives every task its full lead time."""
    slip = max((t.get("slip_days", 0) for t in tasks), default=0)
    return calendar.add_business_days(launch, slip) if slip else launch
