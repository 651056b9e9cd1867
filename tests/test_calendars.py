"""Launches outside the US: holiday calendars, time zones and calendar files, via the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from referral_orchestrator.launch.schedule import BusinessCalendar
from referral_orchestrator.surfaces.cli import main


def _launch(workdir: Path, *args: str, out: str = "out") -> dict:
    plans = workdir / ".claude" / "plans"
    before = set(plans.glob("plan-*.json"))
    code = main(["launch-program", "--program", "Customer Advocates", "--channels", "email",
                 "--out", out, "-q", *args])
    assert code == 0
    (new,) = set(plans.glob("plan-*.json")) - before
    return json.loads(new.read_text())


def _sessions(out: Path) -> list[icalendar.Event]:
    cal = icalendar.Calendar.from_ical((out / "runbook.ics").read_bytes())
    return [e for e in cal.walk("VEVENT") if str(e["UID"]).startswith("session-")]


@pytest.mark.parametrize(
    ("country", "launch", "as_of", "deadline"),
    [
        # US: New Year's Day 2028 (a Saturday) is observed on Friday 2027-12-31
        ("US", "2028-01-07", "2027-12-01", "2027-12-30"),
        # GB: Christmas and Boxing Day (observed Monday 28th) are bank holidays
        ("GB", "2027-01-05", "2026-12-01", "2026-12-24"),
        # DE: Pentecost Monday 2027-05-17
        ("DE", "2027-05-21", "2027-04-01", "2027-05-13"),
        # JP: Golden Week, Showa Day to Children's Day
        ("JP", "2027-05-07", "2027-04-01", "2027-04-26"),
    ],
)
def test_approval_deadlines_and_due_dates_follow_the_countrys_calendar(
    workdir: Path, country: str, launch: str, as_of: str, deadline: str,
) -> None:
    where = ["--country", country] if country != "US" else []  # US: the default
    plan = _launch(workdir, *where, "--launch-date", launch, "--as-of", as_of,
                   "--approvers", "legal")
    assert plan["status"] == "awaiting_approval"
    assert [a["deadline"] for a in plan["approvals"]] == [deadline]
    calendar = BusinessCalendar(country)
    assert all(calendar.is_business_day(dt.date.fromisoformat(t["due"]))
               for t in plan["tasks"])
    assert plan["request"]["normalized"]["country"] == country
    runbook = (workdir / "out" / "runbook.md").read_text()
    assert "holidays of" in runbook and f"({country})" in runbook


def test_a_subdivision_adds_its_regional_holidays(workdir: Path) -> None:
    # Easter Monday is a bank holiday in England, not in the UK-wide calendar
    plan = _launch(workdir, "--country", "gb", "--subdivision", "England",
                   "--launch-date", "2027-04-02", "--as-of", "2027-03-01",
                   "--approvers", "legal")
    assert plan["request"]["normalized"]["subdivision"] == "ENG"
    assert [a["deadline"] for a in plan["approvals"]] == ["2027-03-24"]  # UK-wide: 03-25
    assert "(GB-ENG)" in (workdir / "out" / "runbook.md").read_text()


@pytest.mark.parametrize(
    ("flag", "value", "code"),
    [("--country", "XX", "bad_country"), ("--country", "USA", "bad_country"),
     ("--subdivision", "Atlantis", "bad_subdivision"),
     ("--timezone", "Mars/Olympus", "bad_timezone"),
     ("--timezone", "../../etc/passwd", "bad_timezone"),
     ("--currency", "DOLLARS", "bad_currency")],
)
def test_unknown_country_subdivision_timezone_or_currency_is_bad_input(
    workdir: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, code: str,
) -> None:
    from referral_orchestrator import InvalidRequest, parse_request

    assert main(["launch-program", "--program", "Customer Advocates", "--channels", "email",
                 "--launch-date", "2026-12-10", "--as-of", "2026-11-25", flag, value]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (workdir / ".claude").exists()
    with pytest.raises(InvalidRequest) as err:
        parse_request(program="P", launch_date="2026-12-10", channels="email",
                      as_of="2026-11-25", **{flag[2:]: value})
    assert err.value.code == code


def test_us_sessions_stay_at_eleven_new_york_time_across_the_march_change(
    workdir: Path,
) -> None:
    # DST starts 2027-03-14: one session before it (EST), one after (EDT)
    _launch(workdir, "--timezone", "America/New_York", "--launch-date", "2027-03-18",
            "--as-of", "2027-02-01")
    sessions = _sessions(workdir / "out")
    starts = sorted(e.decoded("DTSTART") for e in sessions)
    assert {s.astimezone(dt.UTC).hour for s in starts} == {16, 15}  # EST, then EDT
    assert {s.astimezone(ZoneInfo("America/New_York")).hour for s in starts} == {11}
    runbook = (workdir / "out" / "runbook.md").read_text()
    assert "11:00 EST (UTC-05:00)" in runbook and "11:00 EDT (UTC-04:00)" in runbook
    assert "America/New_York" in runbook


def test_berlin_sessions_follow_the_october_change_by_default(workdir: Path) -> None:
    # Germany has one zone, so --country DE alone puts sessions on Berlin's clock;
    # summer time ends 2026-10-25
    plan = _launch(workdir, "--country", "DE", "--launch-date", "2026-10-29",
                   "--as-of", "2026-09-01")
    assert plan["request"]["normalized"]["timezone"] == "Europe/Berlin"
    starts = sorted(e.decoded("DTSTART") for e in _sessions(workdir / "out"))
    assert {s.astimezone(dt.UTC).hour for s in starts} == {9, 10}  # CEST, then CET
    assert {s.astimezone(ZoneInfo("Europe/Berlin")).hour for s in starts} == {11}
    monitoring = (workdir / "out" / "monitoring-plan.md").read_text()
    assert "Europe/Berlin" in monitoring and "- [ ] 09:00 Enable" in monitoring


def test_a_country_with_several_zones_gets_utc_and_says_so(workdir: Path) -> None:
    plan = _launch(workdir, "--launch-date", "2026-12-10", "--as-of", "2026-11-25")
    req = plan["request"]["normalized"]
    assert (req["timezone"], req["timezone_source"]) == ("UTC", "utc")
    runbook = (workdir / "out" / "runbook.md").read_text()
    assert "New York" not in runbook and "London" not in runbook
    assert "16:00 UTC" in runbook and "--timezone" in runbook
    starts = [e.decoded("DTSTART") for e in _sessions(workdir / "out")]
    assert starts and all(s.utcoffset() == dt.timedelta(0) and s.hour == 16 for s in starts)


def test_go_live_day_is_a_timed_event_on_the_launch_clock(workdir: Path) -> None:
    _launch(workdir, "--country", "JP", "--launch-date", "2026-12-10", "--as-of", "2026-11-25")
    cal = icalendar.Calendar.from_ical((workdir / "out" / "runbook.ics").read_bytes())
    (golive,) = [e for e in cal.walk("VEVENT") if str(e["UID"]).startswith("go-live@")]
    start = golive.decoded("DTSTART").astimezone(ZoneInfo("Asia/Tokyo"))
    assert (start.date().isoformat(), start.hour) == ("2026-12-10", 9)
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Tokyo"


def test_calendar_uids_are_unique_per_plan_and_stable_across_rerenders(workdir: Path) -> None:
    first = _launch(workdir, "--launch-date", "2026-12-10", "--as-of", "2026-11-25",
                    "--approvers", "legal", out="a")
    before = (workdir / "a" / "runbook.ics").read_bytes()
    second = _launch(workdir, "--launch-date", "2026-12-10", "--as-of", "2026-11-25", out="b")
    assert first["plan_id"] != second["plan_id"]
    uids = [{str(e["UID"]) for e in icalendar.Calendar.from_ical(
        (workdir / out / "runbook.ics").read_bytes()).walk("VEVENT")} for out in ("a", "b")]
    assert not uids[0] & uids[1]
    assert first["plan_id"] not in before.decode()  # a digest, not the id itself
    # approving re-renders the same plan: the events keep their UIDs
    assert main(["approve", first["plan_id"], "--approver", "legal", "-q"]) == 0
    after = (workdir / "a" / "runbook.ics").read_bytes()
    assert {str(e["UID"]) for e in icalendar.Calendar.from_ical(after).walk("VEVENT")} == uids[0]
