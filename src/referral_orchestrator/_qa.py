"""QA checks run over what the agents produced. Each check has a stable id.

Tooling checks run at the tooling-qa stage; content checks at the merge gate. A failed
check is a QA failure the guardrails retry (with the failure as feedback) and escalate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._errors import ReferralError
from ._request import CHANNELS
from ._schedule import is_business_day, topological_order

REQUIRED_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "ref")


def check(check_id: str, passed: bool, detail: str, target: str = "") -> dict[str, Any]:
    """One check result, as it lands in the plan JSON."""
    return {"id": check_id, "passed": passed, "detail": detail, "target": target}


def link_problems(url: str) -> list[str]:
    """What is missing from a tracking link (empty when it is complete)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        return [f"{url!r} is not an https URL"]
    params = parse_qs(parts.query)
    return [f"missing {p}" for p in REQUIRED_PARAMS if not params.get(p)]


def tooling_checks(state: dict[str, Any], tooling: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks over the tooling output and the task list."""
    req = state["request"]
    results: list[dict[str, Any]] = []
    links = {(link["channel"], link["segment"]): link["url"] for link in tooling["tracking_links"]}
    for channel in req["channels"]:
        for segment in req["audience"]:
            url = links.get((channel, segment))
            target = f"{channel}:{segment}"
            if url is None:
                results.append(check("links.coverage", False, f"no tracking link for {target}",
                                     target))
                continue
            problems = link_problems(url)
            results.append(check("links.params", not problems,
                                 "; ".join(problems) or "UTM and referral-code parameters present",
                                 target))
    results.extend(task_checks(state.get("tasks", []), req))
    results.append(check("tooling.fulfillment", bool(tooling.get("reward_fulfillment")),
                         "reward fulfillment defined" if tooling.get("reward_fulfillment")
                         else "no reward fulfillment process"))
    return results


def task_checks(tasks: list[dict[str, Any]], req: dict[str, Any]) -> list[dict[str, Any]]:
    """Task-list checks: required functions present, dependencies acyclic, dates legal."""
    results: list[dict[str, Any]] = []
    functions = {t["function"] for t in tasks}
    for needed in ("fulfillment", "tracking", "legal", "qa", "rollback"):
        results.append(check(f"tasks.{needed}", needed in functions,
                             f"{needed} task present" if needed in functions
                             else f"no {needed} task in the checklist"))
    try:
        topological_order(tasks)
        results.append(check("tasks.acyclic", True, "dependencies name real tasks, no cycles"))
    except ReferralError as exc:
        results.append(check("tasks.acyclic", False, str(exc)))
        return results
    as_of = dt.date.fromisoformat(req["as_of"])
    due = {t["id"]: dt.date.fromisoformat(t["due"]) for t in tasks}
    bad = [t["id"] for t in tasks if not is_business_day(due[t["id"]]) or due[t["id"]] <= as_of
           or any(due[d] > due[t["id"]] for d in t.get("depends_on", []))]
    results.append(check("tasks.dates", not bad,
                         "due dates on business days, after the planning date, after dependencies"
                         if not bad else "bad due dates: " + ", ".join(bad)))
    return results


def content_checks(req: dict[str, Any], comms: dict[str, Any],
                   links: dict[str, str]) -> list[dict[str, Any]]:
    """Checks over the comms drafts (coverage, limits, footers, disclosures, links)."""
    results: list[dict[str, Any]] = []
    for channel in req["channels"]:
        for segment in req["audience"]:
            key = f"{channel}:{segment}"
            draft = comms.get(key)
            if not draft or not draft.get("assets"):
                results.append(check("comms.coverage", False, f"no draft for {key}", key))
                continue
            for asset in draft["assets"]:
                results.extend(asset_checks(asset, key, links.get(key)))
    return results


def asset_checks(asset: dict[str, Any], key: str, link: str | None) -> Iterable[dict[str, Any]]:
    """Checks of one asset against its channel's rules."""
    channel = CHANNELS.get(asset["channel"])
    if channel is not None and channel.max_chars is not None:
        n = len(asset["body"])
        yield check("comms.length", n <= channel.max_chars,
                    f"{n}/{channel.max_chars} characters", key)
    if asset["kind"] == "email":
        footer = asset.get("footer", "").lower()
        ok = "unsubscribe" in footer and bool(footer.strip())
        yield check("comms.email_footer", ok,
                    "unsubscribe link and postal address" if ok
                    else "email footer needs an unsubscribe link and postal address", key)
    if asset["kind"] in ("social", "partner-portal", "partner-kit"):
        ok = bool(asset.get("disclosure", "").strip())
        yield check("comms.disclosure", ok, "incentive disclosed" if ok
                    else "public post must disclose the referral incentive", key)
    if asset["kind"] == "sms":
        ok = "stop" in asset["body"].lower()
        yield check("comms.sms_optout", ok, "opt-out text present" if ok
                    else "SMS must say how to opt out (Reply STOP)", key)
    if asset.get("cta_url") or link:
        problems = link_problems(asset.get("cta_url", "")) if asset.get("cta_url") else [
            "no CTA link"]
        if link and asset.get("cta_url") and asset["cta_url"] != link:
            problems.append("CTA link differs from the channel's tracking link")
        yield check("comms.link", not problems, "; ".join(problems) or "tracking link", key)


def failing(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed checks of a result list."""
    return [r for r in results if not r["passed"]]


def accuracy(results: list[dict[str, Any]], prefix: str = "links.") -> float:
    """Share of passing checks whose id starts with ``prefix`` (tracking accuracy)."""
    relevant = [r for r in results if r["id"].startswith(prefix)]
    if not relevant:
        return 0.0
    return round(sum(bool(r["passed"]) for r in relevant) / len(relevant), 4)
