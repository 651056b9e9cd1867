"""The launch artifacts, read the way their users read them: CSV, iCalendar, HTML, Markdown."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.launch.channels import CHANNELS, slugify
from referral_orchestrator.launch.qa import REQUIRED_FUNCTIONS, html_problems, limits
from referral_orchestrator.launch.request import parse_request
from referral_orchestrator.launch.stages import RESPONSE_SLAS
from referral_orchestrator.runners.offline import build_tasks
from support import FakeClock

CHANNEL_IDS = "email,in-app,sms,push,social,landing-page,partner-portal"
SEGMENTS = "power users,new customers"
HOSTILE = 'Acme <script>alert("x")</script>'.replace("/", "")  # '/' is refused as a path
LONG = "The Extraordinarily Long Named Customer Loyalty And Advocacy Referral Programme"


def _launch(root: Path, program: str, channels: str = CHANNEL_IDS,
            segments: str = SEGMENTS) -> tuple[Any, Path]:
    out = root / "out"
    result = Orchestrator(root / "plans", clock=FakeClock()).launch(
        program, "2026-12-10", channels, segments=segments, as_of="2026-11-25", out_dir=out)
    return result, out


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """Every channel, two segments: the widest kit the catalog can produce."""
    return _launch(tmp_path_factory.mktemp("full"), "Customer Advocates")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A program and segment name full of HTML and Markdown syntax."""
    return _launch(tmp_path_factory.mktemp("hostile"), HOSTILE,
                   channels="email,sms,landing-page", segments='"VIP" <b>buyers | & co')


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "runbook.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _kit(out: Path, pattern: str = "*") -> list[Path]:
    return sorted((out / "comms-kit").glob(pattern))


# -- runbook --------------------------------------------------------------------------------


def test_runbook_csv_has_one_row_per_task_with_the_tracker_columns(full: tuple[Any, Path]) -> None:
    result, out = full
    rows = _rows(out)
    assert [r["id"] for r in rows] == [t["id"] for t in result.plan["tasks"]]
    assert {"id", "title", "owner_agent", "role", "function", "due", "status",
            "depends_on"} <= set(rows[0])
    ids = {r["id"] for r in rows}
    assert all(set(r["depends_on"].split()) <= ids for r in rows)
    assert all(r["title"] and r["owner_agent"] and r["role"] for r in rows)


def test_due_dates_are_business_days_after_the_planning_date_and_after_dependencies(
    full: tuple[Any, Path],
) -> None:
    rows = {r["id"]: r for r in _rows(full[1])}
    due = {k: dt.date.fromisoformat(r["due"]) for k, r in rows.items()}
    for tid, row in rows.items():
        assert due[tid].weekday() < 5, tid
        assert due[tid] > dt.date(2026, 11, 25), tid
        assert all(due[d] <= due[tid] for d in row["depends_on"].split()), tid
    assert due["launch"] == dt.date(2026, 12, 10)
    assert due["go-no-go"] < due["launch"] < due["week-one"] < due["review"]


def test_task_list_spans_every_workstream_and_fans_out_per_channel_segment_and_approver() -> None:
    req = parse_request(program="Customer Advocates", launch_date="2027-03-01",
                        channels=CHANNEL_IDS, segments=SEGMENTS, approvers="Legal,Finance",
                        as_of="2026-11-25").model_dump(mode="json")
    req["audience"] = req["segments"]
    owners = dict.fromkeys(["checklist", "tooling-qa", "communications", "go-live",
                            "enablement", "partner-kit", "post-launch-support",
                            "partner-workflows"], "lifecycle-ops")
    tasks = build_tasks(req, owners)
    ids = {t.id for t in tasks}
    assert set(REQUIRED_FUNCTIONS) <= {t.function for t in tasks}
    assert {f"creative-{c}" for c in CHANNEL_IDS.split(",")} <= ids
    assert {"audience-power-users", "audience-new-customers"} <= ids
    assert {"signoff-legal", "signoff-finance", "sms-consent", "sms-sender",
            "partner-portal"} <= ids
    assert {"test-sends-email", "test-sends-sms"} <= ids and "test-sends-social" not in ids
    go = next(t for t in tasks if t.id == "go-no-go")
    assert {"signoff-legal", "signoff-finance", "rollback", "qa-e2e"} <= set(go.depends_on)
    seed = build_tasks({**req, "channels": ["email"], "approvers": [],
                        "audience": ["all customers"]}, owners)
    assert not {"sms-consent", "partner-portal"} & {t.id for t in seed}


def test_a_launch_too_close_for_the_lead_times_names_the_compressed_tasks(
    full: tuple[Any, Path],
) -> None:
    result, out = full
    compressed = result.plan["compressed_tasks"]
    assert "terms" in compressed and "launch" not in compressed
    text = (out / "runbook.md").read_text()
    assert "Compressed schedule" in text
    assert all(f"`{tid}`" in text for tid in compressed)
    assert {r["id"] for r in _rows(out) if r["compressed"] == "yes"} == set(compressed)


def test_calendar_imports_with_one_event_per_task_and_session(full: tuple[Any, Path]) -> None:
    result, out = full
    cal = icalendar.Calendar.from_ical((out / "runbook.ics").read_bytes())
    events = list(cal.walk("VEVENT"))
    sessions = [e for e in events if str(e["UID"]).startswith("session-")]
    tasks = [e for e in events if not str(e["UID"]).startswith(("session-", "go-live@"))]
    assert len(tasks) == len(result.plan["tasks"]) and len(sessions) >= 2
    assert len({str(e["UID"]) for e in events}) == len(events)
    due = {t["id"]: t["due"] for t in result.plan["tasks"]}
    for event in tasks:
        tid = str(event["UID"]).split("@")[0]
        assert event.decoded("DTSTART").isoformat() == due[tid]
    assert all(isinstance(e.decoded("DTSTART"), dt.datetime) for e in sessions)


def test_every_markdown_artifact_is_clean_markdown(full: tuple[Any, Path],
                                                   hostile: tuple[Any, Path]) -> None:
    for out in (full[1], hostile[1]):
        for path in [*out.glob("*.md"), *_kit(out, "*.md")]:
            text = path.read_text()
            lines = text.split("\n")
            assert text.endswith("\n") and not text.endswith("\n\n"), path.name
            assert "\n\n\n" not in text, path.name
            fenced = False
            for before, line in itertools.pairwise(lines):
                if before.startswith("```"):
                    fenced = not fenced
                if fenced:
                    continue
                if line.startswith("#"):
                    assert before == "", f"{path.name}: no blank line before {line!r}"
                if before.startswith(">") or before.startswith("|"):
                    assert line == "" or line[0] == before[0], f"{path.name}: {line!r}"


def test_markdown_tables_keep_their_columns_with_pipes_in_user_text(
    hostile: tuple[Any, Path],
) -> None:
    out = hostile[1]
    for path in [out / "runbook.md", out / "comms-kit" / "index.md"]:
        table: list[int] = []
        for line in path.read_text().splitlines():
            if line.startswith("|"):
                table.append(len(re.split(r"(?<!\\)\|", line)))
            elif table:
                assert len(set(table)) == 1, (path.name, table)
                table = []


# -- comms kit ------------------------------------------------------------------------------


def test_every_channel_and_segment_has_its_own_asset_file(full: tuple[Any, Path]) -> None:
    result, out = full
    for channel in CHANNEL_IDS.split(","):
        for segment in SEGMENTS.split(","):
            ext = "html" if channel == "landing-page" else "md"
            assert (out / "comms-kit" / f"{channel}-{slugify(segment)}.{ext}").is_file()
    for name in ("landing-page.html", "partner-kit.md", "support-scripts.md", "faq.md",
                 "tracking-links.csv", "index.md"):
        assert (out / "comms-kit" / name).is_file(), name
    assert all(Path(p).is_file() for p in result.artifacts.values())


def test_index_links_every_asset_file_and_every_link_resolves(full: tuple[Any, Path]) -> None:
    out = full[1]
    index = (out / "comms-kit" / "index.md").read_text()
    targets = set(re.findall(r"\]\(([^)]+)\)", index))
    assert all((out / "comms-kit" / t).is_file() for t in targets)
    assert {p.name for p in _kit(out)} - {"index.md"} <= targets


def test_emails_carry_subject_preheader_cta_unsubscribe_and_postal_address(
    full: tuple[Any, Path],
) -> None:
    text = (full[1] / "comms-kit" / "email-power-users.md").read_text()
    assert text.count("- Subject: ") == 2 and text.count("- Preheader: ") == 2
    assert text.count("- CTA button: ") == 2
    assert text.count("Unsubscribe: https://") == 2 and text.count("[street address]") == 2


def test_short_channels_fit_their_limits_and_sms_says_how_to_opt_out(
    full: tuple[Any, Path],
) -> None:
    checks = full[0].plan["qa"]["communications"]["checks"]
    lengths = [c for c in checks if c["id"] == "comms.length"]
    assert lengths and all(c["passed"] for c in lengths)
    sms = (full[1] / "comms-kit" / "sms-new-customers.md").read_text()
    body = sms.split("```text\n")[1].split("\n```")[0]
    assert len(body) <= 160 and "Reply STOP to opt out." in body
    assert re.search(r"https://\S+/r/\w+\?ref=REFERRAL_CODE", body)


def test_long_program_names_still_fit_push_in_app_and_sms(tmp_path: Path) -> None:
    result, out = _launch(tmp_path, LONG, channels="in-app,push,sms,email",
                          segments="x" * 60)
    assert result.status == "completed"
    assert not result.plan["escalation_log"]
    for channel in ("in-app", "push", "sms"):
        text = (out / "comms-kit" / f"{channel}-{'x' * 60}.md").read_text()
        for used, cap in re.findall(r"(\d+)/(\d+)", text.split("- Length:")[1].split("\n")[0]):
            assert int(used) <= int(cap)
    assert all(c["passed"] for c in result.plan["qa"]["communications"]["checks"])
    assert limits("push")["body"] == CHANNELS["push"].max_chars


def test_social_posts_disclose_the_incentive_in_the_post_itself(full: tuple[Any, Path]) -> None:
    text = (full[1] / "comms-kit" / "social-power-users.md").read_text()
    posts = re.findall(r"```text\n(.*?)\n```", text, re.S)
    assert len(posts) == 2 and all("#ad" in p for p in posts)
    assert all(len(p) <= 280 for p in posts)


def test_every_tracking_link_in_the_kit_carries_the_same_utm_and_referral_parameters(
    full: tuple[Any, Path],
) -> None:
    out = full[1]
    urls = set()
    for path in [*_kit(out, "*.md"), *_kit(out, "*.csv"), *_kit(out, "*.html")]:
        urls |= set(re.findall(r"https://[^\s)|\"'<>,]+utm_[^\s)|\"'<>,]+", path.read_text()))
    assert len(urls) >= len(CHANNEL_IDS.split(",")) * 2
    params = [parse_qs(urlsplit(u).query) for u in urls]
    for p in params:
        assert {"utm_source", "utm_medium", "utm_campaign", "ref"} <= set(p)
    assert {p["utm_campaign"][0] for p in params} == {"customer-advocates"}
    assert {p["utm_source"][0] for p in params} == {"referral"}
    assert {p["ref"][0] for p in params} == {"REFERRAL_CODE"}
    with (out / "comms-kit" / "tracking-links.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        medium = parse_qs(urlsplit(row["url"]).query)["utm_medium"][0]
        assert medium == CHANNELS[row["channel"]].medium
        assert parse_qs(urlsplit(row["short_url"]).query)["ref"] == ["REFERRAL_CODE"]
    assert len({r["short_url"] for r in rows}) == len(rows)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            self.text[self._open[-1]] = self.text.get(self._open[-1], "") + data


def test_landing_pages_are_valid_html_with_user_text_escaped(hostile: tuple[Any, Path]) -> None:
    result, out = hostile
    pages = _kit(out, "*.html")
    assert len(pages) == 2
    for page in pages:
        html = page.read_text()
        assert html_problems(html, [HOSTILE]) == []
        parser = _Tags()
        parser.feed(html)
        assert parser.tags.count("script") == 1  # the tracking snippet, not the program name
        assert "<script>alert" not in html and "&lt;script&gt;" in html
        assert HOSTILE in parser.text["title"]
        assert "form" in parser.tags and "a" in parser.tags
    checks = [c for c in result.plan["qa"]["communications"]["checks"] if c["id"] == "comms.html"]
    assert checks and all(c["passed"] for c in checks)


def test_partner_kit_has_overview_assets_links_rules_and_contacts(full: tuple[Any, Path]) -> None:
    text = (full[1] / "comms-kit" / "partner-kit.md").read_text()
    for section in ("Program overview", "Assets", "Tracking links", "Rules",
                    "Support contacts"):
        assert f"\n## {section}\n" in text
    assert "utm_medium=partner" in text and "#ad" in text


def test_support_scripts_and_faq_are_ready_for_the_support_team(full: tuple[Any, Path]) -> None:
    scripts = (full[1] / "comms-kit" / "support-scripts.md").read_text()
    faq = (full[1] / "comms-kit" / "faq.md").read_text()
    assert scripts.count("\n## ") >= 5 and scripts.count("**Escalate:**") >= 5
    assert RESPONSE_SLAS["support_first_response"] in scripts
    assert faq.count("\n## ") >= 8 and "STOP" in faq


# -- monitoring plan ------------------------------------------------------------------------


def test_monitoring_plan_has_metrics_thresholds_contacts_incidents_and_kill_switch(
    full: tuple[Any, Path],
) -> None:
    text = (full[1] / "monitoring-plan.md").read_text()
    for heading in ("## Success metrics", "## Day-of checklist", "## Dashboards and metrics",
                    "## Alerts", "## On-call and escalation contacts", "## Incident response",
                    "## Rollback and kill switch"):
        assert f"\n{heading}\n" in text
    for name in ("Launch readiness", "Tracking accuracy"):
        assert f"| {name} |" in text
    assert all(v in text for v in RESPONSE_SLAS.values())
    assert "**Kill switch:**" in text and "referral-customer-advocates-enabled" in text
    for channel_metric in ("Email deliverability", "SMS delivery", "Push notifications"):
        assert channel_metric in text
    assert "| Executive sponsor (`exec-sponsor`) |" in text


def test_people_named_in_the_roster_show_up_as_on_call_contacts(tmp_path: Path) -> None:
    roster = tmp_path / "roster.yaml"
    roster.write_text("people:\n  Lifecycle Ops lead: Dana Kim\n  Risk analyst: Lee Park\n")
    out = tmp_path / "out"
    Orchestrator(tmp_path / "plans", clock=FakeClock()).launch(
        "Customer Advocates", "2026-12-10", "email", as_of="2026-11-25", roster=roster,
        out_dir=out)
    text = (out / "monitoring-plan.md").read_text()
    assert "| Dana Kim |" in text and "| Lee Park |" in text
    assert "Dana Kim" in (out / "runbook.md").read_text()


def test_plan_records_the_qa_checks_and_derives_tracking_accuracy_from_them(
    full: tuple[Any, Path],
) -> None:
    from referral_orchestrator.launch.qa import accuracy

    plan = full[0].plan
    checks = [c for stage in plan["qa"].values() for c in stage["checks"]]
    ids = {c["id"] for c in checks}
    assert {"links.params", "links.consistent", "links.short", "tasks.acyclic", "tasks.dates",
            "comms.length", "comms.email_footer", "comms.sms_optout", "comms.disclosure",
            "comms.html", "comms.partner_kit", "comms.coverage", "tasks.fulfillment",
            "tasks.tracking"} <= ids
    assert plan["success_metrics"]["tracking_accuracy"] == accuracy(checks) == 1.0


def test_descoping_a_channel_after_a_pause_removes_its_files_from_the_kit(tmp_path: Path) -> None:
    from referral_orchestrator.artifacts.render import render

    result, out = _launch(tmp_path, "Customer Advocates", channels="email,sms",
                          segments="power users")
    notes = out / "comms-kit" / "notes-from-legal.md"
    notes.write_text("kept")
    assert (out / "comms-kit" / "sms-power-users.md").is_file()
    plan = result.plan
    values = {"request": {**plan["request"]["normalized"], "channels": ["email"]},
              "roster": plan["request"]["roster"], "tasks": plan["tasks"],
              "charter": plan["charter"],
              "comms": {"email:power users": {"assets": []}, "partner-kit": {"assets": []}}}
    render(values, out, plan_id=result.plan_id, plan_path=result.plan_path)
    assert not (out / "comms-kit" / "sms-power-users.md").exists()
    assert notes.read_text() == "kept"
