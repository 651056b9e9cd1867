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

import datetime as dt
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from referral_orchestrator.errors import ReferralError
from referral_orchestrator.launch import outputs as out
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.channels import (
    CHANNELS,
    approver_slug,
    program_slug,
    segment_slug,
)
from referral_orchestrator.launch.content import read_content, skill_file
from referral_orchestrator.launch.schedule import calendar_for
from referral_orchestrator.launch.stages import RESPONSE_SLAS, stage_slug
from referral_orchestrator.launch.zones import clock_for

from .base import AgentCall, AgentResult
from .copywriting import (
    copy_context,
    default_charter,
    draft_asset,
    render_copy,
    repair,
    short_link,
    skill_data,
    tracking_url,
)


class OfflineDrafter:
    """Deterministic drafter for every stage; the default ``model``."""

    name = "offline"
    answers_at_once = True  # nothing to overlap with (runners.base.answers_at_once)

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
        copy = skill_data("launch-comms", "copy.yaml")
        ctx = copy_context(req, charter, link)
        angle = copy["angles"].get(segment.lower(), copy["angles"]["default"])
        ctx["angle"] = render_copy(angle["long"], **ctx)
        ctx["angle_short"] = render_copy(angle["short"], **ctx)
        failed = qa.check_ids(call.feedback)
        assets = []
        for spec in copy["channels"][channel]:
            asset = draft_asset(spec, kind=channel, channel=channel, segment=segment, ctx=ctx,
                                tight="comms.length" in failed)
            asset.cta_url = link
            if ctx["short_link"] and ctx["short_link"] in asset.body:
                asset.short_url = ctx["short_link"]
            assets.append(repair(asset, ctx, failed))
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
        copy = skill_data("launch-comms", "copy.yaml")
        template = read_content(skill_file("launch-comms", "templates/partner-kit-body.md.j2"))
        kit = copy["partner_kit"]
        partner = out.Asset(
            kind="partner-kit", channel="partner-portal", segment="partners",
            name="Partner kit", title=render_copy(kit["title"], **ctx),
            body=render_copy(template, **ctx), cta_label=kit["cta_label"], cta_url=link,
            short_url=ctx["short_link"], disclosure=render_copy(kit["disclosure"], **ctx),
            terms_url=charter["terms_url"], send_at="Published before the partner briefing")
        return out.CommsDraft(assets=[partner])

    def _landing_page(self, call: AgentCall) -> out.CommsDraft:
        """The shared landing page every tracking link lands on (lifecycle-ops)."""
        ctx, _ = self._shared_context(call)
        landing = ctx["landing_url"]
        copy = skill_data("launch-comms", "copy.yaml")
        page = draft_asset(copy["shared_landing"], kind="landing-page", channel="landing-page",
                           segment="all visitors", ctx=ctx,
                           tight="comms.length" in qa.check_ids(call.feedback))
        page.cta_url = landing  # the page itself: its form posts to <landing>/enroll
        return out.CommsDraft(assets=[page])

    def _enablement(self, call: AgentCall) -> out.Enablement:
        req = call.inputs["request"]
        ctx = copy_context(req, call.inputs.get("charter") or default_charter(req).model_dump())
        data = skill_data("launch-comms", "support.yaml")
        due = {t["id"]: t["due"] for t in call.inputs.get("tasks", [])}
        launch = dt.date.fromisoformat(req["launch_date"])
        cal = calendar_for(req)
        floor = cal.next_business_day(dt.date.fromisoformat(req["as_of"]) + dt.timedelta(days=1))
        sessions = []
        for spec in data["sessions"]:
            day = dt.date.fromisoformat(due[spec["task"]]) if spec["task"] in due else (
                cal.add_business_days(launch, -3))
            sessions.append(out.Session(
                title=render_copy(spec["title"], **ctx), audience=spec["audience"],
                date=min(max(day, floor), launch).isoformat(),
                duration_minutes=spec["minutes"], owner=call.agent))
        return out.Enablement(
            sessions=sessions,
            faq=[out.FaqEntry(question=render_copy(f["q"], **ctx),
                              answer=render_copy(f["a"], **ctx)) for f in data["faq"]],
            help_center=[render_copy(h, **ctx) for h in data["help_center"]],
            partner_enablement=[render_copy(p, **ctx) for p in data["partner_enablement"]],
            support_scripts=[out.SupportScript(scenario=render_copy(s["scenario"], **ctx),
                                               script=render_copy(s["script"], **ctx),
                                               escalation=render_copy(s["escalation"], **ctx))
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
        data = skill_data("launch-monitoring", "monitoring.yaml")
        clock, launch = clock_for(req), dt.date.fromisoformat(req["launch_date"])

        def at(hhmm: str) -> str:
            return clock.hhmm(clock.at(launch, dt.time.fromisoformat(hhmm)))

        ctx = {**copy_context(req, default_charter(req).model_dump()), "at": at,
               "channels": ", ".join(CHANNELS[c].label if c in CHANNELS else c
                                     for c in req["channels"]),
               "flag": f"referral-{program_slug(req)}-enabled"}

        def r(text: str) -> str:
            return render_copy(text, **ctx)

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
    catalog: list[dict[str, Any]] = skill_data("launch-runbook", "tasks.yaml")
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
