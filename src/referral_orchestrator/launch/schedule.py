"""Business-day arithmetic and the scheduling rules every task list must obey.

Rules (whoever drafted the tasks): no due date on a weekend or US federal holiday, none
before the planning date, none before a task it depends on. Lead times that do not fit
are flagged as a compressed schedule with the tasks named, never silently squeezed.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from referral_orchestrator.errors import ReferralError


def _observed(day: dt.date) -> dt.date:
    """A fixed-date holiday on a weekend is observed on the Friday before or Monday after."""
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th given weekday of a month (n = -1: the last one)."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


@functools.cache
def us_holidays(year: int) -> frozenset[dt.date]:
    """US federal holidays (observed dates): nobody signs off a launch task on Thanksgiving."""
    fixed = [dt.date(year, m, d) for m, d in ((1, 1), (6, 19), (7, 4), (11, 11), (12, 25))]
    floating = [_nth_weekday(year, 1, 0, 3), _nth_weekday(year, 2, 0, 3),
                _nth_weekday(year, 5, 0, -1), _nth_weekday(year, 9, 0, 1),
                _nth_weekday(year, 10, 0, 2), _nth_weekday(year, 11, 3, 4)]
    return frozenset([*map(_observed, fixed), *floating])


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday, US federal holidays excluded."""
    return day.weekday() < 5 and day not in us_holidays(day.year)


def next_business_day(day: dt.date) -> dt.date:
    """``day`` itself if it is a business day, else the following Monday."""
    while not is_business_day(day):
        day += dt.timedelta(days=1)
    return day


def previous_business_day(day: dt.date) -> dt.date:
    """``day`` itself if it is a business day, else the Friday before."""
    while not is_business_day(day):
        day -= dt.timedelta(days=1)
    return day


def add_business_days(day: dt.date, n: int) -> dt.date:
    """Move ``n`` business days from ``day`` (negative = back). Weekend starts snap first."""
    step = 1 if n >= 0 else -1
    day = next_business_day(day) if n >= 0 else previous_business_day(day)
    for _ in range(abs(n)):
        day += dt.timedelta(days=step)
        while not is_business_day(day):
            day += dt.timedelta(days=step)
    return day


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Business days in ``(start, end]``."""
    days, cur = 0, start
    while cur < end:
        cur += dt.timedelta(days=1)
        days += is_business_day(cur)
    return days


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
    tasks: Iterable[dict[str, Any]], *, launch: dt.date, as_of: dt.date
) -> list[str]:
    """Fix every task's ``due`` in place so the rules hold; return the compressed task ids.

    A task is compressed when its due date had to move later than its lead time asked
    (because of the planning date or a dependency) and so eats into the time after it.
    """
    items = list(tasks)
    by_id = {t["id"]: t for t in items}
    earliest = next_business_day(as_of + dt.timedelta(days=1))
    compressed: list[str] = []
    for tid in topological_order(items):
        task = by_id[tid]
        wanted = previous_business_day(dt.date.fromisoformat(task["due"]))
        due = max([wanted, earliest] + [
            dt.date.fromisoformat(by_id[d]["due"]) for d in task.get("depends_on", [])
        ])
        due = next_business_day(due)
        task["due"] = due.isoformat()
        late_for_launch = due > launch and wanted <= launch
        if due > wanted or late_for_launch:
            task["compressed"] = True
            task["slip_days"] = business_days_between(wanted, due)
            compressed.append(tid)
    return compressed


def full_lead_launch(tasks: Iterable[dict[str, Any]], launch: dt.date) -> dt.date:
    """The earliest launch date that gives every task its full lead time."""
    slip = max((t.get("slip_days", 0) for t in tasks), default=0)
    return add_business_days(launch, slip) if slip else launch
