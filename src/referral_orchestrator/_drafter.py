"""The offline drafter: deterministic, template-driven agent work with no network or key.

It reads the skills' data (``launch-runbook/tasks.yaml``, ``launch-comms/copy.yaml``) and
renders it with Jinja, so the same request and ``--as-of`` give the same output, byte for
byte. It implements the same :class:`AgentRunner` seam a real model does.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from . import _outputs as out
from ._content import skill_file
from ._request import CHANNELS, slugify
from ._runner import AgentCall, AgentResult
from ._schedule import add_business_days

POSTAL_ADDRESS = "[Company legal name], [street address], [city, postcode]"
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@functools.cache
def _data(skill: str, name: str) -> Any:
    return yaml.safe_load(skill_file(skill, name).read_text(encoding="utf-8"))


def _render(template: str, **ctx: Any) -> str:
    return _ENV.from_string(template).render(**ctx).strip()


def default_charter(program: str) -> out.Charter:
    """The incentive-design skill's default charter, used when none is given."""
    slug = slugify(program)
    return out.Charter(
        incentive="Double-sided account credit: $20 for the referrer and $20 for the friend",
        eligibility="Active customers in good standing; friends must be new customers",
        caps="10 rewarded referrals per referrer per calendar year",
        clawback_window_days=30,
        terms_url=f"https://www.example.com/{slug}/terms",
        success_metric="Referred sign-ups that stay active 30 days",
    )


def tracking_url(landing_url: str, *, program: str, channel: str, segment: str) -> str:
    """The tracking link of one channel and segment (UTM + referral-code parameter)."""
    params = {
        "utm_source": "referral",
        "utm_medium": CHANNELS[channel].medium if channel in CHANNELS else slugify(channel),
        "utm_campaign": slugify(program),
        "utm_content": slugify(segment),
        "ref": "REFERRAL_CODE",
    }
    return f"{landing_url}?{urlencode(params)}"


class OfflineDrafter:
    """Deterministic drafter for every stage; the default ``model``."""

    name = "offline"

    def run(self, call: AgentCall) -> AgentResult:
        """Draft the stage's output from templates."""
        handler: Callable[[AgentCall], BaseModel] = getattr(
            self, "_" + call.stage.replace("-", "_")
        )
        return AgentResult(output=handler(call))

    # -- stages -------------------------------------------------------------------------

    def _checklist(self, call: AgentCall) -> out.Checklist:
        req = call.inputs["request"]
        launch = dt.date.fromisoformat(req["launch_date"])
        owners: dict[str, str] = call.inputs["owners"]
        tasks: list[out.Task] = []
        for spec in _data("launch-runbook", "tasks.yaml"):
            if spec.get("when") and spec["when"] not in req["channels"]:
                continue
            fan: list[tuple[str, dict[str, str]]] = [("", {})]
            if spec.get("per") == "channel":
                fan = [(c, {"channel": CHANNELS[c].label}) for c in req["channels"]]
            elif spec.get("per") == "approver":
                fan = [(slugify(a), {"approver": a}) for a in req["approvers"]]
            for suffix, fmt in fan:
                deps = [d for d in spec["depends_on"]]
                tasks.append(out.Task(
                    id=f"{spec['id']}-{suffix}" if suffix else spec["id"],
                    title=spec["title"].format(**fmt),
                    function=spec["function"],
                    stage=spec["stage"],
                    owner=owners[spec["stage"]],
                    role=spec["role"].format(**fmt),
                    due=add_business_days(launch, -int(spec["lead"])).isoformat(),
                    depends_on=deps,
                    compressed=False,
                ))
        _expand_fanned_dependencies(tasks)
        return out.Checklist(charter=default_charter(req["program"]), tasks=tasks)

    def _tooling_qa(self, call: AgentCall) -> out.Tooling:
        req = call.inputs["request"]
        landing = call.inputs["landing_url"]
        links = [
            out.TrackingLink(channel=c, segment=s, url=tracking_url(
                landing, program=req["program"], channel=c, segment=s))
            for c in req["channels"] for s in req["audience"]
        ]
        return out.Tooling(
            landing_url=landing,
            tracking_links=links,
            forms=["Referrer enrollment form (email, consent checkbox, terms link)",
                   "Friend sign-up form with referral code pre-filled from ?ref="],
            workflows=["Referral invite sent -> reminder after 3 days",
                       "Friend converted -> notify referrer, queue reward",
                       "Reward released after clawback window -> thank-you message"],
            reward_fulfillment="Account credit issued by the billing system 30 days after the "
                               "friend's first payment; failures page the on-call ops engineer",
            fraud_rules=["Block self-referral (same device, payment method or household)",
                         "Hold rewards above 5 referrals per referrer per 24h for review",
                         "Block disposable e-mail domains"],
        )

    def _communications(self, call: AgentCall) -> out.CommsDraft:
        req, charter = call.inputs["request"], call.inputs["charter"]
        channel, segment, link = call.inputs["channel"], call.inputs["segment"], call.inputs["link"]
        copy = _data("launch-comms", "copy.yaml")
        reward = "$20"
        angles = copy["angles"]
        ctx: dict[str, Any] = {
            "program": req["program"], "reward": reward, "segment": segment, "link": link,
            "terms_url": charter["terms_url"], "launch_date": req["launch_date"],
            "unsubscribe_url": f"https://www.example.com/{slugify(req['program'])}/unsubscribe",
            "postal_address": POSTAL_ADDRESS,
        }
        ctx["angle"] = _render(angles.get(segment.lower(), angles["default"]), **ctx)
        ctx["angle_short"] = ctx["angle"].split(" - ")[0].split(".")[0] + "."
        fields = copy["channels"][channel]
        rendered = {k: _render(v, **ctx) for k, v in fields.items()}
        asset = out.Asset(
            kind=channel, channel=channel, segment=segment,
            title=rendered["title"], preheader=rendered.get("preheader", ""),
            body=rendered["body"], cta_label=rendered.get("cta_label", ""),
            cta_url=link, footer=rendered.get("footer", ""),
            disclosure=rendered.get("disclosure", ""),
        )
        return out.CommsDraft(assets=[asset])

    def _partner_kit(self, call: AgentCall) -> out.CommsDraft:
        req, charter = call.inputs["request"], call.inputs["charter"]
        link = tracking_url(call.inputs["landing_url"], program=req["program"],
                            channel="partner-portal", segment="partners")
        body = (
            f"{req['program']} pays partners for every new customer they refer.\n"
            f"Incentive: {charter['incentive']}.\nEligibility: {charter['eligibility']}.\n"
            f"Caps: {charter['caps']}.\nTerms: {charter['terms_url']}\n"
            "Disclose the incentive in every post. Support: partners@example.com"
        )
        return out.CommsDraft(assets=[out.Asset(
            kind="partner-kit", channel="partner-portal", segment="partners",
            title=f"{req['program']} partner kit", body=body, cta_label="Copy your partner link",
            cta_url=link, disclosure="I earn a reward when you join with my link.",
        )])

    def _enablement(self, call: AgentCall) -> out.Enablement:
        req = call.inputs["request"]
        launch = dt.date.fromisoformat(req["launch_date"])
        owner = call.agent
        return out.Enablement(
            sessions=[
                out.Session(title=f"{req['program']}: sales and CS enablement",
                            audience="Sales and customer success",
                            date=add_business_days(launch, -4).isoformat(),
                            duration_minutes=45, owner=owner),
                out.Session(title=f"{req['program']}: partner briefing", audience="Partners",
                            date=add_business_days(launch, -3).isoformat(),
                            duration_minutes=30, owner=owner),
            ],
            faq=[
                out.FaqEntry(question="Who can refer?",
                             answer="Any active customer in good standing."),
                out.FaqEntry(question="When is the reward paid?",
                             answer="30 days after your friend's first payment."),
                out.FaqEntry(question="Is there a limit?",
                             answer="Up to 10 rewarded referrals per calendar year."),
            ],
            help_center=[f"How the {req['program']} referral program works",
                         "Where to find your referral link", "Referral rewards and taxes"],
            partner_enablement=["Partner kit walkthrough", "Tracking-link and disclosure rules",
                                "Payout schedule and dispute process"],
        )

    def _partner_workflows(self, call: AgentCall) -> out.PartnerWorkflows:
        approvers = call.inputs["request"]["approvers"]
        steps = [f"{a}: review the comms kit and runbook, record a decision" for a in approvers]
        return out.PartnerWorkflows(
            onboarding=["Partner agreement signed", "Tax form collected (W-9 / W-8BEN)",
                        "Portal access and tracking link issued", "Success plan agreed"],
            reporting=["Weekly partner dashboard", "Monthly payout statement",
                       "Quarterly business review"],
            compliance=["Brand guidelines acknowledged", "Incentive disclosure in every post",
                        "Partner copy approved before publishing"],
            approval_steps=steps or ["No approvers named: lifecycle ops signs off the package"],
        )

    def _go_live(self, call: AgentCall) -> out.GoLive:
        return out.GoLive(
            day_of_checklist=["Enable referral flows", "Send launch comms in the planned order",
                              "Place a test referral end to end", "Confirm tracking in dashboards"],
            dashboards=["Referral funnel", "Reward fulfillment", "Fraud signals"],
            metrics=[
                out.Metric(name="Launch readiness", target=">= 95% of pre-launch tasks done",
                           alert_when="< 90% one business day before launch",
                           dashboard="Referral funnel"),
                out.Metric(name="Tracking accuracy", target=">= 98% of conversions attributed",
                           alert_when="< 95% over 4 hours", dashboard="Referral funnel"),
                out.Metric(name="Support first response", target="< 4 business hours",
                           alert_when="> 8 business hours", dashboard="Support queue"),
            ],
            alerts=["Invite sends drop 50% below forecast for 2 hours",
                    "Reward fulfillment queue older than 24 hours",
                    "Referral velocity above 5 per referrer per 24 hours"],
            incident_response=["Acknowledge within 15 minutes", "Assess impact and scope",
                               "Pause the affected channel if customers are harmed",
                               "Log the incident in the plan's remediation log"],
            rollback=["Disable the referral CTA feature flag", "Pause launch sends",
                      "Hold pending rewards", "Tell support and partners"],
            contacts=["Lifecycle Ops lead (first responder)", "Referral Architect",
                      "Executive sponsor"],
        )

    def _remediation(self, call: AgentCall) -> out.Remediation:
        failing = call.inputs.get("failing_channel")
        channels: list[str] = call.inputs["request"]["channels"]
        if failing and len(channels) > 1:
            return out.Remediation(
                summary=f"Descope {failing} and re-run {call.inputs['stage']} without it",
                action="descope_channel", channel=failing, rerun=True)
        return out.Remediation(
            summary=f"Re-run {call.inputs['stage']} once with the failure notes applied",
            action="adjust", rerun=True)


def _expand_fanned_dependencies(tasks: list[out.Task]) -> None:
    """Point dependencies on a fanned-out template (creative, signoff) at every instance."""
    ids = {t.id for t in tasks}
    for task in tasks:
        expanded: list[str] = []
        for dep in task.depends_on:
            if dep in ids:
                expanded.append(dep)
            else:
                expanded.extend(t.id for t in tasks if t.id.startswith(dep + "-"))
        task.depends_on = expanded
