"""Tooling and content QA: each rule has a stable check id that fails when it is broken."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from referral_orchestrator import Orchestrator
from referral_orchestrator.launch import outputs as out
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.schedule import calendar_for, schedule
from referral_orchestrator.runners import AgentCall
from referral_orchestrator.runners.copywriting import default_charter, tracking_url
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.testing import ScriptedRunner, reply_with
from support import FakeClock

LANDING = "https://www.example.com/refer/customer-advocates"
REQ: dict[str, Any] = {"program": "Customer Advocates", "launch_date": "2026-12-10",
                       "as_of": "2026-11-25", "channels": ["email", "sms", "social"],
                       "segments": ["power users"], "audience": ["power users"],
                       "approvers": ["Legal"], "pattern": "diamond"}
CHARTER = default_charter(REQ).model_dump()


def _ids(results: list[dict[str, Any]], passed: bool = False) -> set[str]:
    return {r["id"] for r in results if r["passed"] is passed}


def _call(stage: str, output: type[BaseModel], feedback: tuple[str, ...] = (),
          key: str = "", **inputs: Any) -> Any:
    call = AgentCall(agent="lifecycle-ops", stage=stage, output_type=output,
                     inputs={"request": REQ, "charter": CHARTER, "landing_url": LANDING,
                             **inputs}, feedback=feedback, key=key)
    return OfflineDrafter().run(call).output.model_dump()


def _tooling() -> dict[str, Any]:
    return _call("tooling-qa", out.Tooling)


def _draft(channel: str, feedback: tuple[str, ...] = ()) -> dict[str, Any]:
    link = tracking_url(LANDING, req=REQ, channel=channel, segment="power users")
    return _call("communications", out.CommsDraft, feedback, channel=channel,
                 segment="power users", link=link)


def _comms() -> tuple[dict[str, Any], dict[str, str]]:
    comms = {f"{c}:power users": _draft(c) for c in REQ["channels"]}
    comms["partner-kit"] = _call("partner-kit", out.CommsDraft)
    comms["landing-page"] = _call("communications", out.CommsDraft, key="landing-page",
                                  channel="landing-page", segment="all visitors", link="")
    links = {f"{lk['channel']}:{lk['segment']}": lk["url"] for lk in _tooling()["tracking_links"]}
    return comms, links


def _tasks() -> list[dict[str, Any]]:
    owners = dict.fromkeys(["checklist", "tooling-qa", "communications", "go-live",
                            "enablement", "partner-kit", "post-launch-support",
                            "partner-workflows"], "lifecycle-ops")
    tasks: list[dict[str, Any]] = _call("checklist", out.Checklist, owners=owners)["tasks"]
    schedule(tasks, launch=dt.date(2026, 12, 10), as_of=dt.date(2026, 11, 25),
             calendar=calendar_for(REQ))  # as the node does
    return tasks


# -- links ---------------------------------------------------------------------------------


def test_the_drafters_own_output_passes_every_check() -> None:
    tooling = _tooling()
    results = qa.tooling_checks({"request": REQ, "tasks": _tasks()}, tooling)
    comms, links = _comms()
    results += qa.content_checks(REQ, comms, links)
    assert _ids(results, passed=False) == set()
    assert {"links.params", "links.consistent", "links.short", "comms.sms_optout",
            "comms.email_footer", "comms.disclosure", "comms.html",
            "comms.partner_kit"} <= _ids(results, passed=True)


@pytest.mark.parametrize(("url", "problem"), [
    ("https://x.example/r?utm_source=a&utm_medium=b&utm_campaign=c", "missing ref"),
    ("http://x.example/r?utm_source=a&utm_medium=b&utm_campaign=c&ref=1", "not an https URL"),
    ("https://x.example/r?ref=1", "missing utm_source"),
])
def test_incomplete_or_insecure_tracking_links_are_named(url: str, problem: str) -> None:
    assert any(problem in p for p in qa.link_problems(url))


def test_plain_http_is_accepted_only_on_loopback_staging() -> None:
    url = "http://127.0.0.1:8000/r?utm_source=a&utm_medium=b&utm_campaign=c&ref=1"
    assert qa.link_problems(url) == []


def test_a_missing_or_inconsistent_tracking_link_fails_its_link_check() -> None:
    tooling = _tooling()
    broken = copy.deepcopy(tooling)
    broken["tracking_links"] = broken["tracking_links"][1:]
    assert "links.coverage" in _ids(qa.link_checks(REQ, broken))
    drift = copy.deepcopy(tooling)
    drift["tracking_links"][0]["url"] = drift["tracking_links"][0]["url"].replace(
        "utm_campaign=customer-advocates", "utm_campaign=other")
    assert "links.consistent" in _ids(qa.link_checks(REQ, drift))
    medium = copy.deepcopy(tooling)
    medium["tracking_links"][1]["url"] = medium["tracking_links"][1]["url"].replace(
        "utm_medium=sms", "utm_medium=email")
    assert "links.consistent" in _ids(qa.link_checks(REQ, medium))
    no_short = copy.deepcopy(tooling)
    for link in no_short["tracking_links"]:
        link["short_url"] = ""
    failed = [r for r in qa.link_checks(REQ, no_short) if not r["passed"]]
    assert {(r["id"], r["target"]) for r in failed} == {
        ("links.short", "sms:power users"), ("links.short", "social:power users")}


def test_tracking_accuracy_is_the_pass_rate_of_the_link_checks() -> None:
    results = [qa.check("links.params", True, ""), qa.check("links.params", False, ""),
               qa.check("comms.length", False, "")]
    assert qa.accuracy(results) == 0.5


# -- tasks ---------------------------------------------------------------------------------


def test_task_checks_catch_missing_workstreams_coverage_cycles_and_bad_dates() -> None:
    tasks = _tasks()
    assert _ids(qa.task_checks(tasks, REQ)) == set()
    no_fulfillment = [t for t in tasks if t["function"] != "fulfillment"]
    assert "tasks.fulfillment" in _ids(qa.task_checks(no_fulfillment, REQ))
    no_tracking = [t for t in tasks if t["function"] != "tracking"]
    assert "tasks.tracking" in _ids(qa.task_checks(no_tracking, REQ))
    no_signoff = [t for t in tasks if t["function"] != "approval"]
    assert "tasks.approvers" in _ids(qa.task_checks(no_signoff, REQ))
    no_sms = [t for t in tasks if t["id"] != "creative-sms"]
    assert "tasks.channels" in _ids(qa.task_checks(no_sms, REQ))
    cyclic = copy.deepcopy(tasks)
    cyclic[0]["depends_on"] = ["launch"]
    assert "tasks.acyclic" in _ids(qa.task_checks(cyclic, REQ))
    early = copy.deepcopy(tasks)
    launch = next(t for t in early if t["id"] == "launch")
    launch["due"] = "2026-11-30"
    assert "tasks.dates" in _ids(qa.task_checks(early, REQ))


# -- comms ---------------------------------------------------------------------------------


def _asset(channel: str, **changes: Any) -> dict[str, Any]:
    asset = dict(_draft(channel)["assets"][0])
    asset.update(changes)
    return asset


def _asset_ids(asset: dict[str, Any]) -> set[str]:
    return _ids(list(qa.asset_checks(asset, "k", asset["cta_url"], req=REQ)))


def test_each_broken_copy_rule_fails_its_own_check() -> None:
    sms = _asset("sms")
    assert _asset_ids({**sms, "body": sms["body"] + " x" * 30}) == {"comms.length"}
    assert _asset_ids({**sms, "body": sms["body"].replace("Reply STOP to opt out.", "")}) == {
        "comms.sms_optout"}
    email = _asset("email")
    assert _asset_ids({**email, "footer": "Thanks!"}) == {"comms.email_footer"}
    assert _asset_ids({**email, "preheader": ""}) == {"comms.fields"}
    social = _asset("social")
    assert _asset_ids({**social, "body": "Join with my link " + social["short_url"]}) == {
        "comms.disclosure"}
    assert _asset_ids({**email, "cta_url": LANDING}) == {"comms.link"}


def test_a_channel_and_segment_without_a_draft_is_a_coverage_failure() -> None:
    comms, links = _comms()
    del comms["sms:power users"]
    failed = [r for r in qa.content_checks(REQ, comms, links) if not r["passed"]]
    assert [(r["id"], r["target"]) for r in failed] == [("comms.coverage", "sms:power users")]


def test_sms_outside_the_gsm_alphabet_gets_the_70_character_limit() -> None:
    assert qa.limits("sms", "plain text")["body"] == 160
    assert qa.limits("sms", "emoji 🎉")["body"] == 70


def test_html_check_flags_unescaped_user_text_and_missing_form_fields() -> None:
    page = ("<!DOCTYPE html><html><head><title>Acme <b>x</b></title></head><body>"
            "<form><input name='email'></form></body></html>")
    problems = qa.html_problems(page, ["Acme <b>x</b>"])
    assert any("unescaped" in p for p in problems)
    assert any("ref" in p for p in problems) and any("terms" in p for p in problems)


def test_user_text_that_only_occurs_in_the_page_s_fixed_script_is_not_flagged(
        tmp_path: Path) -> None:
    # "new" and "form" occur in the tracking snippet's own code: a segment or a program
    # called that used to fail the page and send the launch to the exec sponsor
    result = Orchestrator(tmp_path / "p").launch(
        program="form", launch_date="2026-12-10", as_of="2026-11-25",
        channels="email,landing-page", segments="new,var", out_dir=tmp_path / "out")
    assert result.status == "completed"
    html = [c for c in result.plan["qa"]["communications"]["checks"] if c["id"] == "comms.html"]
    assert len(html) == 3 and all(c["passed"] for c in html)


def test_user_text_put_into_a_script_is_still_flagged() -> None:
    from referral_orchestrator.launch.pages import static_scripts

    fixed = static_scripts("landing-page.html.j2")
    (snippet,) = fixed
    page = ("<!DOCTYPE html><html><head><title>t</title></head><body><form>"
            "<input name='ref'><input name='email'><input name='consent'></form>"
            "<a href='terms'>terms</a><script>" + snippet + "</script>"
            "<script>var who = 'Ada';</script></body></html>")
    assert qa.html_problems(page, ["new"], fixed) == []  # only in the fixed snippet
    assert qa.html_problems(page, ["Ada"], fixed) == ["user text inside a script"]
    assert qa.html_problems(page, ["new"]) == ["user text inside a script"]  # nothing fixed


# -- retries with modification -------------------------------------------------------------


def test_a_length_failure_makes_the_drafter_write_shorter_copy() -> None:
    first = _draft("email")["assets"][0]
    retry = _draft("email", ("comms.length email:power users: over limit: title 70/60",))
    shorter = retry["assets"][0]
    assert len(shorter["title"]) < len(first["title"])
    assert len(shorter["title"]) <= int(qa.limits("email")["title"] * 0.9)
    sms = _draft("sms", ("comms.length sms:power users: over limit: body 200/160",))
    body = sms["assets"][0]["body"]
    assert len(body) <= 144 and "STOP" in body and sms["assets"][0]["short_url"] in body


def _pad_sms(output: BaseModel, call: AgentCall) -> BaseModel:
    data = output.model_dump()
    for asset in data["assets"]:
        if asset["kind"] == "sms":
            asset["body"] = asset["body"].replace("Reply STOP to opt out.", "") + " " + "x" * 150
    return type(output).model_validate(data)


def test_a_failed_draft_is_retried_with_the_failure_as_feedback_and_then_passes(
    workdir: Path,
) -> None:
    runner = ScriptedRunner({("lifecycle-ops", "communications"): [reply_with(_pad_sms)]})
    feedback: list[tuple[str, ...]] = []
    original = runner.run

    def spy(call: AgentCall) -> Any:
        if call.key == "sms:all customers":
            feedback.append(call.feedback)
        return original(call)

    runner.run = spy  # type: ignore[method-assign]
    result = Orchestrator(workdir / "plans", model=runner, clock=FakeClock()).launch(
        "Customer Advocates", "2026-12-10", "sms", as_of="2026-11-25")
    assert result.status == "completed"
    assert not result.plan["escalation_log"]
    assert feedback[0] == ()
    assert qa.check_ids(feedback[1]) >= {"comms.length", "comms.sms_optout"}
    assert result.plan["qa"]["communications"]["passed"] is True
    runner.assert_all_used()
