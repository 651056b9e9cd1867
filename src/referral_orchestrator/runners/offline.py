"""The offline drafter: deterministic, template-driven agent work with no network or key.

It reads the skills' data (``launch-runbook/tasks.yaml``, ``launch-comms/copy.yaml`` and
``support.yaml``, ``launch-monitoring/monitoring.yaml``) and renders it with Jinja, so the
same request and ``--as-of`` give the same output, byte for byte. It implements the same
:class:`AgentRunner` seam a real model does.

Retries are "with modification": the failure notes in ``call.feedback`` name QA check ids
(``comms.length``, ``comms.sms_optout``, ...) and the drafter changes what it writes for
each one - the shortest copy variant after a length failure, the opt-out line after a
missing opt-out, and so on - so a retry does not repeat the draft that failed.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import StrictUndefined, Template, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from referral_orchestrator.errors import ReferralError
from referral_orchestrator.launch import outputs as out
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.channels import (
    CHANNELS,
    REF_PARAM,
    approver_slug,
    is_gsm7,
    limits,
    measure,
    program_slug,
    segment_slug,
    slugify,
    sms_encoding,
)
from referral_orchestrator.launch.content import load_yaml, read_content, skill_file
from referral_orchestrator.launch.money import money_for
from referral_orchestrator.launch.schedule import calendar_for
from referral_orchestrator.launch.stages import RESPONSE_SLAS, stage_slug
from referral_orchestrator.launch.zones import clock_for

from .base import AgentCall, AgentResult

POSTAL_ADDRESS = "[Company legal name], [street address], [city, postcode], [country]"
REF_PLACEHOLDER = "REFERRAL_CODE"
OPT_OUT = "Reply STOP to opt out."
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_TEXT = ("title", "preheader", "body", "cta_label", "footer", "disclosure", "send_at", "name")


@functools.cache
def _data(skill: str, name: str) -> Any:
    return load_yaml(read_content(skill_file(skill, name)))


@functools.lru_cache(maxsize=512)
def _compiled(template: str) -> Template:
    # Compiling costs ~2 ms and a launch renders the same few templates over a hundred times.
    return _ENV.from_string(template)


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def _render(template: str, **ctx: Any) -> str:
    # Most copy strings only substitute plain names: skip compiling those (a CLI run would
    # otherwise spend ~0.2 s in Jinja's compiler). Anything richer goes through Jinja.
    if "{%" not in template and "{#" not in template and (
            template.count("{{") == len(_SIMPLE.findall(template))):
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in ctx:  # same contract as StrictUndefined
                raise UndefinedError(f"'{name}' is undefined")
            return str(ctx[name])

        return _SIMPLE.sub(value, template).strip()
    return _compiled(template).render(**ctx).strip()


def default_charter(req: dict[str, Any]) -> out.Charter:
    """The incentive-design skill's default charter, used when none is given.

    The reward is in the launch's currency, written for its country (``$20``, ``20 €``,
    ``¥3,000``: ``incentive-design/rewards.yaml``).
    """
    slug = program_slug(req)
    reward = money_for(req).reward()
    return out.Charter(
        incentive=f"Double-sided account credit: {reward} for the referrer and {reward} for "
                  "the friend",
        eligibility="Active customers in good standing; friends must be new customers",
        caps="Up to 10 rewarded referrals per referrer per calendar year",
        clawback_window_days=30,
        terms_url=f"https://www.example.com/{slug}/terms",
        success_metric="Referred sign-ups that stay active 30 days",
        referrer_reward=reward,
        friend_reward=reward,
    )


def tracking_url(landing_url: str, *, req: dict[str, Any], channel: str, segment: str) -> str:
    """The tracking link of one channel and segment (UTM + referral-code parameter).

    ``utm_campaign`` is the program's slug and ``utm_content`` the segment's, unique within
    the launch, so every segment has its own link and short link.
    """
    parts = urlsplit(landing_url)
    params = [*parse_qsl(parts.query), ("utm_source", "referral"),
              ("utm_medium", CHANNELS[channel].medium if channel in CHANNELS
               else slugify(channel)),
              ("utm_campaign", program_slug(req)), ("utm_content", segment_slug(req, segment)),
              (REF_PARAM, REF_PLACEHOLDER)]
    return urlunsplit(parts._replace(query=urlencode(params)))


def short_link(url: str) -> str:
    """The branded short link of a tracking link: ``https://<host>/r/<code>?ref=...``.

    The code is a digest of the link without its referral code, so it is stable; the
    redirect passes ``ref`` through to the full link (see comms-kit/tracking-links.csv).
    """
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != REF_PARAM]
    digest = hashlib.sha256(urlencode(query).encode() + parts.path.encode()).digest()
    code = base64.b32encode(digest).decode().lower()[:7]
    ref = dict(parse_qsl(parts.query)).get(REF_PARAM, REF_PLACEHOLDER)
    return urlunsplit((parts.scheme, parts.netloc, f"/r/{code}",
                       urlencode({REF_PARAM: ref}), ""))


def _cut(text: str, limit: int) -> str:
    """Cut at a word boundary to at most ``limit`` characters, ending with '...'."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 3, 0)].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return head + "..."


def _fit(text: str, limit: int, keep_from: str = "") -> str:
    """Fit ``text`` in ``limit``; the tail from ``keep_from`` (a link) is never cut."""
    if len(text) <= limit:
        return text
    at = text.find(keep_from) if keep_from else -1
    if at <= 0:
        return _cut(text, limit)
    tail = text[at:]
    return _cut(text[:at].rstrip(), limit - len(tail) - 1) + " " + tail


_SMS_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " "})


def _sms_text(text: str, currency: str) -> str:
    """Keep an SMS in GSM-7 where that loses nothing a reader needs.

    Typographic quotes, dashes and no-break spaces become plain ones, a Latin letter GSM-7
    lacks loses its accent (``ç`` -> ``c``), and a currency symbol outside GSM-7 becomes the
    ISO code (``₹1,500`` -> ``INR 1,500``). Other scripts stay as written: such a message is
    UCS-2, with 70 units to a message (see ``channels.sms_encoding``).
    """
    text = text.translate(_SMS_PLAIN)
    symbols = {ch for ch in text if unicodedata.category(ch) == "Sc" and not is_gsm7(ch)}
    if symbols:
        pattern = re.compile(r"(?P<pre>\S?) ?[" + re.escape("".join(sorted(symbols)))
                             + r"] ?(?P<post>\S?)")

        def code(m: re.Match[str]) -> str:
            pre, post = m.group("pre"), m.group("post")
            return (pre + (" " if pre else "") + currency
                    + (" " if post[:1].isalnum() else "") + post)

        text = pattern.sub(code, text)

    def fold(ch: str) -> str:
        base = unicodedata.normalize("NFKD", ch)[:1]
        keep = is_gsm7(ch) or not unicodedata.category(ch).startswith("L")
        return ch if keep or not (base.isascii() and base.isalpha()) else base

    return "".join(map(fold, text))


def _fit_sms(text: str, cap: int, keep_from: str = "") -> str:
    """Fit an SMS body in ``cap`` units of its encoding (GSM-7 extension characters: 2)."""
    while (units := sms_encoding(text).units) > cap:
        shorter = _fit(text, len(text) - (units - cap), keep_from)
        if len(shorter) >= len(text):  # only the kept link is left: cut it too
            shorter = _cut(text, len(text) - (units - cap))
        text = shorter
    return text


def _fit_field(channel: str, name: str, text: str, cap: int, keep_from: str = "") -> str:
    if channel == "sms" and name == "body":
        return _fit_sms(text, cap, keep_from)
    return _fit(text, cap, keep_from)


def copy_context(req: dict[str, Any], charter: dict[str, Any], link: str = "") -> dict[str, Any]:
    """The variables every copy template is rendered with."""
    slug = program_slug(req)
    reward = charter.get("referrer_reward") or money_for(req).reward()
    friend = charter.get("friend_reward") or reward
    return {
        "program": req["program"], "program_short": _cut(req["program"], 24),
        "currency": money_for(req).currency,
        "reward": reward, "friend_reward": friend,
        "both_get": f"you both get {reward}" if reward == friend
        else f"you get {reward} and your friend gets {friend}",
        "link": link, "short_link": short_link(link) if link else "",
        "terms_url": charter["terms_url"], "launch_date": req["launch_date"],
        "unsubscribe_url": f"https://www.example.com/{slug}/unsubscribe",
        "preferences_url": f"https://www.example.com/{slug}/preferences",
        "postal_address": POSTAL_ADDRESS, "caps": charter["caps"].rstrip("."),
        "eligibility": charter["eligibility"].rstrip("."),
        "incentive": charter["incentive"].rstrip("."),
        "clawback_days": charter["clawback_window_days"],
        "support_sla": RESPONSE_SLAS["support_first_response"],
        "partner_sla": RESPONSE_SLAS["partner_question"],
        "incident_sla": RESPONSE_SLAS["incident_acknowledge"],
        "approval_sla": RESPONSE_SLAS["approval_turnaround"],
    }


def draft_asset(spec: dict[str, Any], *, kind: out.AssetKind, channel: str, segment: str,
                ctx: dict[str, Any], tight: bool = False) -> out.Asset:
    """Render one asset: the first variant that fits the channel's limits.

    ``tight`` (after a comms.length failure) starts from the shortest variant and keeps
    10% headroom under every limit, cutting at word boundaries if it still does not fit.
    """
    variants = spec.get("variants") or [{}]
    fixed = {k: v for k, v in spec.items() if k in _TEXT}
    data: dict[str, str] = {}
    for variant in (variants[-1:] if tight else variants):
        data = {k: _render(str(v), **ctx) for k, v in {**fixed, **variant}.items()}
        if kind == "sms":
            data["body"] = _sms_text(data["body"], ctx["currency"])
        if not qa.length_problems({"channel": channel, **data}):
            break
    caps = limits(channel, data.get("body", ""))
    for name, cap in caps.items():
        target = int(cap * 0.9) if tight else cap
        if measure(channel, name, data.get(name, "")) > target:
            data[name] = _fit_field(channel, name, data[name], target,
                                    ctx.get("short_link", ""))
    return out.Asset(
        kind=kind, channel=channel, segment=segment, title=data.get("title", ""),
        preheader=data.get("preheader", ""), body=data.get("body", ""),
        cta_label=data.get("cta_label", ""), footer=data.get("footer", ""),
        disclosure=data.get("disclosure", ""), name=data.get("name", ""),
        send_at=data.get("send_at", ""), terms_url=ctx["terms_url"],
    )


def _repair(asset: out.Asset, ctx: dict[str, Any], failed: set[str]) -> out.Asset:
    """Fix what the failed checks named (a retry with modification)."""
    if "comms.sms_optout" in failed and asset.kind == "sms" and "STOP" not in asset.body:
        room = limits("sms", asset.body)["body"] - len(OPT_OUT) - 1
        asset.body = _fit_sms(asset.body, room) + " " + OPT_OUT
    if "comms.email_footer" in failed and asset.kind == "email":
        asset.footer = (f"Unsubscribe: {ctx['unsubscribe_url']} | Manage preferences: "
                        f"{ctx['preferences_url']}\n{ctx['postal_address']}")
    if "comms.disclosure" in failed and asset.kind == "social" and "#ad" not in asset.body:
        asset.body = "#ad " + asset.body
    if "comms.short_link" in failed and asset.short_url and asset.short_url not in asset.body:
        asset.body = asset.body + " " + asset.short_url
    if failed & {"comms.sms_optout", "comms.disclosure", "comms.short_link"}:
        caps = limits(asset.channel, asset.body)
        if "body" in caps:
            asset.body = _fit_field(asset.channel, "body", asset.body, caps["body"],
                                    asset.short_url or "http")
    return asset


class OfflineDrafter:
    """Deterministic drafter for every stage; the default ``model``."""

    name = "offline"

    def run(self, call: AgentCall) -> AgentResult:
        """Draft the stage's output from templates."""
        handler: Callable[[AgentCall], BaseModel] = getattr(self, "_" + stage_slug(call.stage))
        return AgentResult(output=handler(call))

    # -- stages -------------------------------------------------------------------------

    def _checklist(self, call: AgentCall) -> out.Checklist:
        req = call.inputs["request"]
        return out.Checklist(charter=default_charter(req),
                             tasks=build_tasks(req, call.inputs["owners"]))

    def _tooling_qa(self, call: AgentCall) -> out.Tooling:
        req = call.inputs["request"]
        landing = call.inputs["landing_url"]
        links = []
        for c in req["channels"]:
            for s in req["audience"]:
                url = tracking_url(landing, req=req, channel=c, segment=s)
                links.append(out.TrackingLink(channel=c, segment=s, url=url,
                                              short_url=short_link(url)))
        return out.Tooling(
            landing_url=landing,
            tracking_links=links,
            forms=["Referrer enrollment form: email, consent checkbox, privacy notice, terms "
                   "link; issues the referral code",
                   "Friend sign-up form: referral code pre-filled from ?ref=, hidden utm_* "
                   "fields, consent checkbox"],
            workflows=["Invite sent -> reminder after 3 business days if not shared",
                       "Friend converted -> notify referrer, start the clawback window",
                       "Clawback window passed -> issue reward -> thank-you message",
                       "Fraud hold -> review queue -> release or reverse"],
            reward_fulfillment="Account credit issued by the billing system when the friend "
                               "has stayed 30 days; failures alert the Marketing ops engineer "
                               "and are retried daily",
            fraud_rules=["Block self-referral (same device, payment method, household or IP)",
                         "Hold rewards above 5 referrals per referrer per 24 hours for review",
                         "Block disposable e-mail domains and existing customers as friends",
                         "Reverse rewards for friends refunded or cancelled inside 30 days"],
        )

    def _communications(self, call: AgentCall) -> out.CommsDraft:
        if call.key == "landing-page":
            return self._landing_page(call)
        req, charter = call.inputs["request"], call.inputs["charter"]
        channel, segment, link = call.inputs["channel"], call.inputs["segment"], call.inputs["link"]
        copy = _data("launch-comms", "copy.yaml")
        ctx = copy_context(req, charter, link)
        angle = copy["angles"].get(segment.lower(), copy["angles"]["default"])
        ctx["angle"] = _render(angle["long"], **ctx)
        ctx["angle_short"] = _render(angle["short"], **ctx)
        failed = qa.check_ids(call.feedback)
        assets = []
        for spec in copy["channels"][channel]:
            asset = draft_asset(spec, kind=channel, channel=channel, segment=segment, ctx=ctx,
                                tight="comms.length" in failed)
            asset.cta_url = link
            if ctx["short_link"] and ctx["short_link"] in asset.body:
                asset.short_url = ctx["short_link"]
            assets.append(_repair(asset, ctx, failed))
        return out.CommsDraft(assets=assets)

    @staticmethod
    def _shared_context(call: AgentCall) -> tuple[dict[str, Any], str]:
        """Copy context of the shared assets (partner kit, landing page) and the partner link."""
        req, charter = call.inputs["request"], call.inputs["charter"]
        landing = call.inputs["landing_url"]
        link = tracking_url(landing, req=req, channel="partner-portal",
                            segment="partners")
        return {**copy_context(req, charter, link), "landing_url": landing}, link

    def _partner_kit(self, call: AgentCall) -> out.CommsDraft:
        charter = call.inputs["charter"]
        ctx, link = self._shared_context(call)
        copy = _data("launch-comms", "copy.yaml")
        template = read_content(skill_file("launch-comms", "templates/partner-kit-body.md.j2"))
        kit = copy["partner_kit"]
        partner = out.Asset(
            kind="partner-kit", channel="partner-portal", segment="partners",
            name="Partner kit", title=_render(kit["title"], **ctx),
            body=_render(template, **ctx), cta_label=kit["cta_label"], cta_url=link,
            short_url=ctx["short_link"], disclosure=_render(kit["disclosure"], **ctx),
            terms_url=charter["terms_url"], send_at="Published before the partner briefing")
        return out.CommsDraft(assets=[partner])

    def _landing_page(self, call: AgentCall) -> out.CommsDraft:
        """The shared landing page every tracking link lands on (lifecycle-ops)."""
        ctx, _ = self._shared_context(call)
        landing = ctx["landing_url"]
        copy = _data("launch-comms", "copy.yaml")
        page = draft_asset(copy["shared_landing"], kind="landing-page", channel="landing-page",
                           segment="all visitors", ctx=ctx,
                           tight="comms.length" in qa.check_ids(call.feedback))
        page.cta_url = landing  # the page itself: its form posts to <landing>/enroll
        return out.CommsDraft(assets=[page])

    def _enablement(self, call: AgentCall) -> out.Enablement:
        req = call.inputs["request"]
        ctx = copy_context(req, call.inputs.get("charter") or default_charter(req).model_dump())
        data = _data("launch-comms", "support.yaml")
        due = {t["id"]: t["due"] for t in call.inputs.get("tasks", [])}
        launch = dt.date.fromisoformat(req["launch_date"])
        cal = calendar_for(req)
        floor = cal.next_business_day(dt.date.fromisoformat(req["as_of"]) + dt.timedelta(days=1))
        sessions = []
        for spec in data["sessions"]:
            day = dt.date.fromisoformat(due[spec["task"]]) if spec["task"] in due else (
                cal.add_business_days(launch, -3))
            sessions.append(out.Session(
                title=_render(spec["title"], **ctx), audience=spec["audience"],
                date=min(max(day, floor), launch).isoformat(),
                duration_minutes=spec["minutes"], owner=call.agent))
        return out.Enablement(
            sessions=sessions,
            faq=[out.FaqEntry(question=_render(f["q"], **ctx), answer=_render(f["a"], **ctx))
                 for f in data["faq"]],
            help_center=[_render(h, **ctx) for h in data["help_center"]],
            partner_enablement=[_render(p, **ctx) for p in data["partner_enablement"]],
            support_scripts=[out.SupportScript(scenario=_render(s["scenario"], **ctx),
                                               script=_render(s["script"], **ctx),
                                               escalation=_render(s["escalation"], **ctx))
                             for s in data["scripts"]],
        )

    def _partner_workflows(self, call: AgentCall) -> out.PartnerWorkflows:
        approvers = call.inputs["request"]["approvers"]
        steps = [f"{a}: review the comms kit, runbook and monitoring plan; approve or reject "
                 f"with a note within {RESPONSE_SLAS['approval_turnaround']}" for a in approvers]
        return out.PartnerWorkflows(
            onboarding=["Partner agreement signed", "Tax form collected (W-9 / W-8BEN)",
                        "Portal access and partner tracking link issued",
                        "Partner kit walkthrough done", "Success plan agreed"],
            reporting=["Weekly partner dashboard: clicks, sign-ups, qualified referrals",
                       "Monthly payout statement", "Quarterly business review"],
            compliance=["Brand guidelines acknowledged", "Incentive disclosure in every post",
                        "No paid search on brand terms, no coupon sites",
                        "Partner copy approved before publishing"],
            approval_steps=steps or ["No approvers named: the Lifecycle Ops lead signs off the "
                                     "package at the go/no-go review"],
        )

    def _go_live(self, call: AgentCall) -> out.GoLive:
        req = call.inputs["request"]
        data = _data("launch-monitoring", "monitoring.yaml")
        clock, launch = clock_for(req), dt.date.fromisoformat(req["launch_date"])

        def at(hhmm: str) -> str:
            return clock.hhmm(clock.at(launch, dt.time.fromisoformat(hhmm)))

        ctx = {**copy_context(req, default_charter(req).model_dump()), "at": at,
               "channels": ", ".join(CHANNELS[c].label if c in CHANNELS else c
                                     for c in req["channels"]),
               "flag": f"referral-{program_slug(req)}-enabled"}

        def r(text: str) -> str:
            return _render(text, **ctx)

        metric_specs = [*data["metrics"], *(m for c in req["channels"]
                                            for m in data["channel_metrics"].get(c, []))]
        oncall = [out.Contact(**{k: r(v) for k, v in c.items()}) for c in data["oncall"]]
        return out.GoLive(
            day_of_checklist=[r(x) for x in data["day_of_checklist"]],
            dashboards=[r(x) for x in data["dashboards"]],
            metrics=[out.Metric(**{k: r(v) for k, v in m.items()}) for m in metric_specs],
            alerts=[r(x) for x in data["alerts"]],
            incident_response=[r(x) for x in data["incident_response"]],
            rollback=[r(x) for x in data["rollback"]],
            contacts=[f"{c.role}: {c.page_when}" for c in oncall],
            oncall=oncall,
            rollback_triggers=[r(x) for x in data["rollback_triggers"]],
            kill_switch=r(data["kill_switch"]),
        )

    def _remediation(self, call: AgentCall) -> out.Remediation:
        failing = call.inputs.get("failing_channel")
        channels: list[str] = call.inputs["request"]["channels"]
        trigger = call.inputs.get("trigger")
        if trigger == "approval_slipped":
            return out.Remediation(
                summary="Chase the late approvers today and give them two more business days; "
                        "the launch date holds", action="adjust", rerun=True)
        if trigger == "rejections_exhausted":
            return out.Remediation(
                summary="Rework the launch package once more against the approver's notes "
                        f"({call.inputs.get('reason', '')}) and walk them through it",
                action="adjust", rerun=True)
        if trigger == "budget_exceeded":
            return out.Remediation(summary="Model budget spent: a person decides", action="none",
                                   rerun=False)
        if failing and len(channels) > 1:
            return out.Remediation(
                summary=f"Descope {failing} and re-run {call.inputs['stage']} without it",
                action="descope_channel", channel=failing, rerun=True)
        return out.Remediation(
            summary=f"Re-run {call.inputs['stage']} once with the failure notes applied",
            action="adjust", rerun=True)


def build_tasks(req: dict[str, Any], owners: dict[str, str]) -> list[out.Task]:
    """The launch-runbook task catalog, fanned out over channels, segments and approvers.

    Due dates are the lead times counted back from the launch; the checklist node then
    applies the scheduling rules (planning date, dependencies, weekends).
    """
    launch = dt.date.fromisoformat(req["launch_date"])
    cal = calendar_for(req)
    catalog: list[dict[str, Any]] = _data("launch-runbook", "tasks.yaml")
    known = {spec["id"] for spec in catalog}
    instances: dict[str, list[str]] = {}
    drafts: list[tuple[out.Task, list[str], str]] = []
    for spec in catalog:
        only = spec.get("channels")
        fan: list[tuple[str, dict[str, str]]] = [("", {})]
        if spec.get("per") == "channel":
            fan = [(c, {"channel": CHANNELS[c].label if c in CHANNELS else c})
                   for c in req["channels"] if not only or c in only]
        elif spec.get("per") == "segment":
            fan = [(segment_slug(req, s), {"segment": s}) for s in req["audience"]]
        elif spec.get("per") == "approver":
            fan = [(approver_slug(req, a), {"approver": a}) for a in req["approvers"]]
        elif only and not set(only) & set(req["channels"]):
            fan = []
        for suffix, fmt in fan:
            tid = f"{spec['id']}-{suffix}" if suffix else spec["id"]
            instances.setdefault(spec["id"], []).append(tid)
            task = out.Task(
                id=tid, title=spec["title"].format(**fmt), function=spec["function"],
                stage=spec["stage"], owner=owners[spec["stage"]],
                role=spec["role"].format(**fmt),
                due=cal.add_business_days(launch, -int(spec["lead"])).isoformat())
            drafts.append((task, list(spec["depends_on"]), suffix))
    for task, deps, suffix in drafts:
        resolved: list[str] = []
        for dep in deps:
            if "{suffix}" in dep:
                resolved.append(dep.format(suffix=suffix))
            elif dep in known:
                resolved.extend(instances.get(dep, []))  # not in this launch: no dependency
            else:
                raise ReferralError(f"tasks.yaml: {task.id} depends on unknown task {dep!r}")
        task.depends_on = resolved
    return [task for task, _, _ in drafts]
