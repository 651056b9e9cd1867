"""Scheduling rules every task list obeys, whoever drafted it."""

from __future__ import annotations

import datetime as dt

from referral_orchestrator.launch.schedule import (
    add_business_days,
    is_business_day,
    schedule,
    us_holidays,
)


def test_thanksgiving_and_observed_holidays_are_not_business_days() -> None:
    assert not is_business_day(dt.date(2026, 11, 26))  # Thanksgiving
    assert not is_business_day(dt.date(2026, 7, 3))  # July 4th falls on a Saturday
    assert dt.date(2027, 12, 24) in us_holidays(2027)  # Christmas on a Saturday
    assert is_business_day(dt.date(2026, 11, 27))


def test_business_day_arithmetic_skips_weekends_and_holidays() -> None:
    assert add_business_days(dt.date(2026, 11, 25), 1) == dt.date(2026, 11, 27)
    assert add_business_days(dt.date(2026, 12, 10), -5) == dt.date(2026, 12, 3)


def test_schedule_moves_tasks_after_dependencies_and_flags_compression() -> None:
    tasks = [
        {"id": "a", "due": "2026-11-20", "depends_on": []},
        {"id": "b", "due": "2026-11-30", "depends_on": ["a"]},
        {"id": "c", "due": "2026-11-27", "depends_on": ["b"]},
    ]
    compressed = schedule(tasks, launch=dt.date(2026, 12, 10), as_of=dt.date(2026, 11, 25))
    due = {t["id"]: t["due"] for t in tasks}
    assert due == {"a": "2026-11-27", "b": "2026-11-30", "c": "2026-11-30"}
    assert compressed == ["a", "c"]
