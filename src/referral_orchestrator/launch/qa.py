"""QA checks run over what the agents produced. Each check has a stable id.

Tooling checks run at the tooling-qa stage; content checks at the merge gate. A failed
check is a QA failure the guardrails retry (with the failure as feedback) and escalate.
Every result is ``{"id", "passed", "detail", "target"}``; ``docs/artifacts.md`` lists the
ids. Tracking accuracy is the pass rate of the ``links.*`` checks (:func:`accuracy`).

The copy limits live here too (:func:`limits`), so the drafter writes to the same numbers
QA checks against.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import marshal
import re
from collections.abc import Collection, Iterable, Mapping
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from referral_orchestrator.errors import ReferralError

from .channels import (
    CHANNELS,
    REF_PARAM,
    REQUIRED_PARAMS,
    approver_slug,
    limits,
    measure,
    segment_slug,
    slugify,
    sms_encoding,
)
from .schedule import calendar_for, topological_order

REQUIRED_FUNCTIONS = ("legal", "privacy", "finance", "fraud", "fulfillment", "tracking",
                      "automation", "qa", "support", "enablement", "partner", "golive",
                      "rollback", "review")
SHORT_LINK_CHANNELS = ("sms", "social")
SHARED_KEYS = ("partner-kit", "landing-page")  # shared work items (see _routing)
PARTNER_KIT_SECTIONS = ("Program overview", "Assets", "Tracking links", "Rules",
                        "Support contacts")
_CHECK_ID = re.compile(r"^([a-z_]+\.[a-z_]+)\b")


def check(check_id: str, passed: bool, detail: str, target: str = "") -> dict[str, Any]:
    """One check result, as it lands in the plan JSON."""
    return {"id": check_id, "passed": passed, "detail": detail, "target": target}


def check_ids(notes: Iterable[str]) -> set[str]:
    """The check ids named at the start of failure notes (``"comms.length sms:x: ..."``)."""
    return {m.group(1) for n in notes if (m := _CHECK_ID.match(n))}


def _sizes(asset: dict[str, Any]) -> list[tuple[str, int, int]]:
    kind = asset.get("kind", asset["channel"])
    caps = limits(kind, asset.get("body", ""))
    return [(name, measure(kind, name, asset.get(name) or ""), cap) for name, cap in caps.items()]


def _size(name: str, size: int, cap: int, asset: dict[str, Any]) -> str:
    if asset.get("kind", asset["channel"]) == "sms" and name == "body":
        sms = sms_encoding(asset.get("body", ""))
        return f"body {size}/{cap} {sms.encoding} units ({sms.parts} part{'s' * (sms.parts > 1)})"
    return f"{name} {size}/{cap}"


def length_problems(asset: dict[str, Any]) -> list[str]:
    r"""Fields of an asset over their channel's limit, as ``"field n/limit"``.

    SMS bodies are counted in units of their encoding: GSM-7 extension characters
    (``€ [ ] { } ^ ~ | \``) cost two, and any character outside GSM-7 switches the whole
    message to UCS-2 with 70 units - an SMS over its limit goes out as several messages.
    """
    return [_size(name, size, cap, asset) for name, size, cap in _sizes(asset) if size > cap]


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def link_problems(url: str) -> list[str]:
    """What is missing from a tracking link (empty when it is complete).

    Links must be https; plain http is accepted only on loopback (a local staging page).
    """
    return list(_link_problems(url))


@functools.lru_cache(maxsize=4096)
def _link_problems(url: str) -> tuple[str, ...]:
    """:func:`link_problems`, cached per URL (a link is checked once per asset using it)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and _local(parts.hostname or ""))
    if not secure or not parts.netloc:
        return (f"{url!r} is not an https URL",)
    params = parse_qs(parts.query)
    return tuple(f"missing {p}" for p in REQUIRED_PARAMS if not params.get(p))


@functools.lru_cache(maxsize=4096)
def _params(url: str) -> Mapping[str, str]:
    """A URL's query parameters, first value each (read-only: cached per URL)."""
    return MappingProxyType({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})


def link_checks(req: dict[str, Any], tooling: dict[str, Any]) -> list[dict[str, Any]]:
    """Tracking links: one per channel x segment, complete, consistent, with short links."""
    results: list[dict[str, Any]] = []
    links = {(lk["channel"], lk["segment"]): lk for lk in tooling["tracking_links"]}
    present: list[tuple[str, dict[str, Any]]] = []
    for channel in req["channels"]:
        for segment in req["audience"]:
            target = f"{channel}:{segment}"
            link = links.get((channel, segment))
            if link is None:
                results.append(check("links.coverage", False, f"no tracking link for {target}",
                                     target))
                continue
            problems = link_problems(link["url"])
            results.append(check("links.params", not problems,
                                 "; ".join(problems) or "UTM and referral-code parameters present",
                                 target))
            present.append((target, link))
    campaigns = {_params(lk["url"]).get("utm_campaign") for _, lk in present}
    sources = {_params(lk["url"]).get("utm_source") for _, lk in present}
    refs = {_params(lk["url"]).get(REF_PARAM) for _, lk in present}
    hosts = {urlsplit(lk["url"]).netloc for _, lk in present}
    for target, link in present:
        p = _params(link["url"])
        channel, _, segment = target.partition(":")
        problems = []
        medium = CHANNELS[channel].medium if channel in CHANNELS else slugify(channel)
        if p.get("utm_medium") != medium:
            problems.append(f"utm_medium {p.get('utm_medium')!r} should be {medium!r}")
        content = segment_slug(req, segment)
        if p.get("utm_content", content) != content:
            problems.append(f"utm_content {p.get('utm_content')!r} should be {content!r}")
        for name, seen in (("utm_campaign", campaigns), ("utm_source", sources),
                           (REF_PARAM, refs)):
            if len(seen) > 1:
                problems.append(f"{name} differs across links: {sorted(map(str, seen))}")
        if len(hosts) > 1:
            problems.append(f"links point at different hosts: {sorted(hosts)}")
        results.append(check("links.consistent", not problems,
                             "; ".join(problems) or "same campaign, source, ref and landing host; "
                             "medium and content match channel and segment", target))
    shorts: dict[str, str] = {}
    for target, link in present:
        short = link.get("short_url", "")
        if not short:
            if target.split(":")[0] in SHORT_LINK_CHANNELS:
                results.append(check("links.short", False,
                                     "SMS and social need a short link", target))
            continue
        problems = [] if urlsplit(short).scheme == "https" or _local(
            urlsplit(short).hostname or "") else ["short link is not https"]
        if _params(short).get(REF_PARAM) != _params(link["url"]).get(REF_PARAM):
            problems.append("short link does not carry the referral code")
        if short in shorts and shorts[short] != link["url"]:
            problems.append(f"short link also used for {shorts[short]}")
        shorts[short] = link["url"]
        results.append(check("links.short", not problems,
                             "; ".join(problems) or "short link redirects to the tracking link",
                             target))
    return results


def tooling_checks(state: dict[str, Any], tooling: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks over the tooling output and the task list (and the live page, if asked)."""
    req = state["request"]
    results = link_checks(req, tooling)
    results.extend(task_checks(state.get("tasks", []), req))
    fulfillment = bool(tooling.get("reward_fulfillment", "").strip())
    results.append(check("tooling.fulfillment", fulfillment,
                         "reward fulfillment defined" if fulfillment
                         else "no reward fulfillment process"))
    fraud = bool(tooling.get("fraud_rules"))
    results.append(check("tooling.fraud", fraud, "fraud rules defined" if fraud
                         else "no fraud rules (self-referral, velocity)"))
    consent = any("consent" in f.lower() for f in tooling.get("forms", []))
    results.append(check("tooling.forms", consent,
                         "enrollment form captures consent" if consent
                         else "no form captures consent and links the terms"))
    if state.get("probe_landing"):
        from .probe import probe_checks

        results.extend(probe_checks(state["landing_url"]))
    return results


def task_checks(tasks: list[dict[str, Any]], req: dict[str, Any]) -> list[dict[str, Any]]:
    """Task-list checks: functions and coverage present, dependencies acyclic, dates legal."""
    results: list[dict[str, Any]] = []
    live = [t for t in tasks if t.get("status") != "descoped"]
    functions = {t["function"] for t in live}
    for needed in REQUIRED_FUNCTIONS:
        results.append(check(f"tasks.{needed}", needed in functions,
                             f"{needed} task present" if needed in functions
                             else f"no {needed} task in the checklist"))
    for channel in req["channels"]:
        ok = any(t["function"] == "creative" and channel in t["id"] for t in live)
        results.append(check("tasks.channels", ok, "creative task present" if ok
                             else f"no creative task for {channel}", channel))
    for segment in req["audience"]:
        ok = any(t["id"].endswith("-" + segment_slug(req, segment)) for t in live)
        results.append(check("tasks.segments", ok, "audience task present" if ok
                             else f"no task builds the {segment} audience", segment))
    for approver in req["approvers"]:
        suffix = "-" + approver_slug(req, approver)
        ok = any(t["function"] == "approval" and t["id"].endswith(suffix) for t in live)
        results.append(check("tasks.approvers", ok, "sign-off task present" if ok
                             else f"no sign-off task for {approver}", approver))
    ids = [t["id"] for t in tasks]
    unowned = [t["id"] for t in tasks if not t.get("owner") or not t.get("role")]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    results.append(check("tasks.owners", not unowned and not dupes,
                         "every task has a unique id, an owner agent and a role"
                         if not unowned and not dupes else
                         "; ".join(([f"no owner: {', '.join(unowned)}"] if unowned else [])
                                   + ([f"duplicate ids: {', '.join(dupes)}"] if dupes else []))))
    try:
        topological_order(tasks)
        results.append(check("tasks.acyclic", True, "dependencies name real tasks, no cycles"))
    except ReferralError as exc:
        results.append(check("tasks.acyclic", False, str(exc)))
        return results
    as_of = dt.date.fromisoformat(req["as_of"])
    due = {t["id"]: dt.date.fromisoformat(t["due"]) for t in tasks}
    cal = calendar_for(req)
    bad = [t["id"] for t in tasks if not cal.is_business_day(due[t["id"]]) or due[t["id"]] <= as_of
           or any(due[d] > due[t["id"]] for d in t.get("depends_on", []))]
    results.append(check("tasks.dates", not bad,
                         "due dates on business days, after the planning date, after dependencies"
                         if not bad else "bad due dates: " + ", ".join(bad)))
    return results


def content_checks(req: dict[str, Any], comms: dict[str, Any],
                   links: dict[str, str]) -> list[dict[str, Any]]:
    """Checks over the comms drafts (coverage, limits, footers, disclosures, links, HTML)."""
    results: list[dict[str, Any]] = []
    for channel in req["channels"]:
        for segment in req["audience"]:
            key = f"{channel}:{segment}"
            draft = comms.get(key)
            assets = [a for a in (draft or {}).get("assets", []) if a["channel"] == channel]
            if not assets:
                results.append(check("comms.coverage", False, f"no {channel} draft for {key}",
                                     key))
                continue
            results.append(check("comms.coverage", True, f"{len(assets)} asset(s)", key))
            results.extend(item_checks(req, key, (draft or {})["assets"], links.get(key)))
    # Shared assets are work items of their own (key = kind): failures re-draft just them.
    for kind in SHARED_KEYS:
        shared = (comms.get(kind) or {}).get("assets", [])
        ok = any(a["kind"] == kind for a in shared)
        results.append(check("comms.coverage", ok,
                             f"{kind} drafted" if ok else f"no {kind} drafted", kind))
        results.extend(item_checks(req, kind, shared, None))
    return results


def item_checks(req: dict[str, Any], key: str, assets: list[dict[str, Any]],
                link: str | None) -> list[dict[str, Any]]:
    """The checks of one work item's assets (``key``: channel:segment, or a shared kind).

    The same inputs are checked once per process: a draft's branch checks its item as
    soon as the draft is in, while other drafts are still out, and the merge gate's
    :func:`content_checks` gets those results back for byte-equal inputs (parsing the
    landing pages' HTML was two thirds of the gate's time). The gate still checks every
    item; an item drafted, resumed or edited elsewhere is simply checked there.
    """
    try:  # marshal: equal bytes are equal values, types and key order included
        blob = marshal.dumps((req, key, assets, link or None), 2)
    except ValueError:  # a type marshal does not write: check it here, uncached
        return [r for a in assets for r in asset_checks(a, key, link or None, req=req)]
    return [dict(r) for r in _item_results(blob)]  # copies: callers own their results


@functools.lru_cache(maxsize=1024)
def _item_results(blob: bytes) -> tuple[dict[str, Any], ...]:
    req, key, assets, link = marshal.loads(blob)
    return tuple(r for a in assets for r in asset_checks(a, key, link, req=req))


def _disclosed(text: str) -> bool:
    low = text.lower()
    return "#ad" in low or "reward" in low or "earn" in low or "paid" in low


def asset_checks(asset: dict[str, Any], key: str, link: str | None, *,
                 req: dict[str, Any] | None = None) -> Iterable[dict[str, Any]]:
    """Checks of one asset against its channel's rules."""
    kind = asset["kind"]
    if limits(kind):
        over = length_problems(asset)
        sizes = ", ".join(_size(*s, asset) for s in _sizes(asset))
        yield check("comms.length", not over, "over limit: " + "; ".join(over) if over
                    else sizes, key)
    if kind == "email":
        missing = [f for f in ("title", "preheader", "body", "cta_label", "cta_url", "footer")
                   if not (asset.get(f) or "").strip()]
        yield check("comms.fields", not missing, "missing " + ", ".join(missing) if missing
                    else "subject, preheader, body, CTA and footer present", key)
        footer = asset.get("footer", "")
        problems = []
        if "unsubscribe" not in footer.lower() or "https://" not in footer:
            problems.append("no unsubscribe link")
        if not re.search(r"\d|\[street address\]|street|road|ave|p\.?o\.? box", footer.lower()):
            problems.append("no postal address")
        yield check("comms.email_footer", not problems, "; ".join(problems)
                    or "unsubscribe link and postal address", key)
    if kind == "sms":
        ok = "stop" in asset["body"].lower()
        yield check("comms.sms_optout", ok, "opt-out text present" if ok
                    else "SMS must say how to opt out (Reply STOP)", key)
    if kind == "social":
        ok = _disclosed(asset["body"])
        yield check("comms.disclosure", ok, "incentive disclosed in the post" if ok
                    else "the post itself must disclose the referral incentive (#ad)", key)
    if kind in ("partner-portal", "partner-kit"):
        ok = _disclosed(asset.get("disclosure", ""))
        yield check("comms.disclosure", ok, "incentive disclosure rule present" if ok
                    else "partners must be told to disclose the incentive", key)
    if kind == "partner-kit":
        missing = [s for s in PARTNER_KIT_SECTIONS if f"## {s}" not in asset["body"]]
        yield check("comms.partner_kit", not missing, "missing sections: " + ", ".join(missing)
                    if missing else "overview, assets, tracking links, rules, support contacts",
                    key)
    if kind == "landing-page":
        yield check("comms.html", *_landing_problems(asset, req or {}), key)
    if asset.get("short_url"):
        short = asset["short_url"]
        ok = short in asset["body"] and _params(short).get(REF_PARAM) is not None
        yield check("comms.short_link", ok, "body carries the short link with the referral code"
                    if ok else "short link missing from the body or without ?ref=", key)
    elif kind in SHORT_LINK_CHANNELS and "http" not in asset["body"]:
        yield check("comms.short_link", False, "no link in the body", key)
    if kind != "landing-page" and (asset.get("cta_url") or link):
        problems = link_problems(asset.get("cta_url", "")) if asset.get("cta_url") else [
            "no CTA link"]
        if link and asset.get("cta_url") and asset["cta_url"] != link:
            problems.append("CTA link differs from the channel's tracking link")
        yield check("comms.link", not problems, "; ".join(problems) or "tracking link", key)


def _landing_problems(asset: dict[str, Any], req: dict[str, Any]) -> tuple[bool, str]:
    from .pages import landing_page_html, static_scripts

    if not req:
        return False, "no request to render the page with"
    page = landing_page_html(asset, req)
    user_text = [req["program"], *req.get("audience", []), asset["title"], asset["body"],
                 asset.get("cta_label", "")]
    problems = html_problems(page, user_text, static_scripts("landing-page.html.j2"))
    return not problems, "; ".join(problems) or "valid HTML, user text escaped, form and terms"


class _Html(HTMLParser):
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                      "meta", "source", "track", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            open_tag = self.stack[-1] if self.stack else ""
            self.problems.append(f"</{tag}> does not close <{open_tag}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "script":
            self.scripts.append(data)


def html_problems(page: str, user_text: Iterable[str] = (),
                  fixed_scripts: Collection[str] = ()) -> list[str]:
    """Structural and escaping problems of a landing page (empty when it is fine).

    ``fixed_scripts``: script bodies that are the template's own fixed text; user text
    that merely occurs in them (a segment called "new" in ``new URLSearchParams``) was
    not put there. Any other script holding user text is a problem.
    """
    parser = _Html()
    parser.feed(page)
    parser.close()
    problems = list(parser.problems)
    if parser.stack:
        problems.append("unclosed: " + ", ".join(parser.stack))
    if not parser.doctype:
        problems.append("no <!DOCTYPE html>")
    names = {t for t, _ in parser.tags}
    for needed in ("html", "head", "title", "body", "form"):
        if needed not in names:
            problems.append(f"no <{needed}>")
    inputs = {a.get("name") for t, a in parser.tags if t == "input"}
    for field in (REF_PARAM, "email", "consent"):
        if field not in inputs:
            problems.append(f"form has no {field} field")
    if not any(t == "a" and "terms" in a.get("href", "") for t, a in parser.tags):
        problems.append("no link to the program terms")
    for text in user_text:
        # a stray '&' can only make an entity (text); '<', '>' and quotes make markup
        if text and any(c in text for c in "<>\"'") and text in page:
            problems.append(f"unescaped user text: {text[:40]!r}")
        if text and any(text in s for s in parser.scripts if s not in fixed_scripts):
            problems.append("user text inside a script")
    return problems


def failing(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed checks of a result list."""
    return [r for r in results if not r["passed"]]


def accuracy(results: list[dict[str, Any]], prefix: str = "links.") -> float:
    """Share of passing checks whose id starts with ``prefix`` (tracking accuracy)."""
    relevant = [r for r in results if r["id"].startswith(prefix)]
    if not relevant:
        return 0.0
    return round(sum(bool(r["passed"]) for r in relevant) / len(relevant), 4)
