"""Scheduling rules every task list obeys, whoever drafted it."""

from __future__ import annotations

import datetime as dt

from referral_orchestrator.launch.schedule import BusinessCalendar, schedule

US = BusinessCalendar("US")


def test_thanksgiving_and_observed_holidays_are_not_business_days() -> None:
    assert not US.is_business_day(dt.date(2026, 11, 26))  # Thanksgiving
    assert not US.is_business_day(dt.date(2026, 7, 3))  # July 4th falls on a Saturday
    assert dt.date(2027, 12, 24) in US.holidays(2027)  # Christmas on a Saturday
    assert US.is_business_day(dt.date(2026, 11, 27))


def test_an_observed_holiday_in_the_year_before_the_holiday_is_not_a_business_day() -> None:
    # New Year's Day 2028 is a Saturday: the US observes it on Friday 2027-12-31
    assert not US.is_business_day(dt.date(2027, 12, 31))
    assert US.holiday(dt.date(2027, 12, 31))
    assert US.add_business_days(dt.date(2028, 1, 3), -1) == dt.date(2027, 12, 30)


def test_business_day_arithmetic_skips_weekends_and_holidays() -> None:
    assert US.add_business_days(dt.date(2026, 11, 25), 1) == dt.date(2026, 11, 27)
    assert US.add_business_days(dt.date(2026, 12, 10), -5) == dt.date(2026, 12, 3)


def test_each_country_has_its_own_holidays_and_weekend() -> None:
    easter_monday = dt.date(2027, 3, 29)
    assert not BusinessCalendar("DE").is_business_day(easter_monday)
    assert US.is_business_day(easter_monday)
    assert not BusinessCalendar("GB", "ENG").is_business_day(easter_monday)
    assert not BusinessCalendar("GB").is_business_day(dt.date(2026, 12, 28))  # Boxing Day
    assert not BusinessCalendar("JP").is_business_day(dt.date(2027, 5, 4))  # Greenery Day
    assert not BusinessCalendar("JP").is_business_day(dt.date(2026, 12, 31))  # year-end
    assert BusinessCalendar("JP").is_business_day(dt.date(2027, 1, 4))
    sunday = dt.date(2026, 12, 6)
    assert BusinessCalendar("IL").is_business_day(sunday)  # Friday-Saturday weekend
    assert not BusinessCalendar("IL").is_business_day(dt.date(2026, 12, 4))


def test_schedule_moves_tasks_after_dependencies_and_flags_compression() -> None:
    tasks = [
        {"id": "a", "due": "2026-11-20", "depends_on": []},
        {"id": "b", "due": "2026-11-30", "depends_on": ["a"]},
        {"id": "c", "due": "2026-11-27", "depends_on": ["b"]},
    ]
    compressed = schedule(tasks, launch=dt.date(2026, 12, 10), as_of=dt.date(2026, 11, 25),
                          calendar=US)
    due = {t["id"]: t["due"] for t in tasks}
    assert due == {"a": "2026-11-27", "b": "2026-11-30", "c": "2026-11-30"}
    assert compressed == ["a", "c"]


def test_schedule_keeps_tasks_off_the_launch_countrys_holidays() -> None:
    tasks = [{"id": "a", "due": "2027-05-04", "depends_on": []}]
    schedule(tasks, launch=dt.date(2027, 5, 20), as_of=dt.date(2027, 4, 1),
             calendar=BusinessCalendar("JP"))
    assert tasks[0]["due"] == "2027-04-30"  # Golden Week: May 3-5 are holidays
