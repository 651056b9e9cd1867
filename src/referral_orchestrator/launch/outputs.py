"""Typed outputs of each stage: what an agent (offline drafter or model) must return.

A real model is asked for exactly these shapes (their JSON Schema becomes the tool input
schema), and the offline drafter builds the same objects, so the graph never cares which
one did the work.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Function = Literal[
    "ops",
    "legal",
    "privacy",
    "finance",
    "fraud",
    "tooling",
    "tracking",
    "fulfillment",
    "automation",
    "qa",
    "creative",
    "support",
    "enablement",
    "partner",
    "approval",
    "golive",
    "rollback",
    "review",
]
AssetKind = Literal[
    "email",
    "in-app",
    "sms",
    "push",
    "social",
    "landing-page",
    "partner-portal",
    "partner-kit",
    "support-script",
    "faq",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Task(_Out):
    """One runbook task."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    function: Function
    stage: str = Field(description="capability whose agent owns the task")
    owner: str = Field(description="agent name that owns the task")
    role: str = Field(description="human role that does the work")
    due: str = Field(description="ISO date the task is due")
    depends_on: list[str] = Field(default_factory=list)
    status: Literal["todo", "in_progress", "done", "blocked", "descoped"] = "todo"
    compressed: bool = Field(default=False, description="lead time did not fit before launch")


class Charter(_Out):
    """The design charter the checklist starts from."""

    incentive: str
    eligibility: str
    caps: str
    clawback_window_days: int
    terms_url: str
    success_metric: str
    referrer_reward: str = Field(
        default="", description="what the referrer gets, short, e.g. '$20'"
    )
    friend_reward: str = Field(
        default="", description="what the referred friend gets, short, e.g. '$20'"
    )


class Checklist(_Out):
    """Output of the checklist stage."""

    charter: Charter
    tasks: list[Task]
    compressed_tasks: list[str] = Field(default_factory=list)


class TrackingLink(_Out):
    """A tracking link for one channel and segment."""

    channel: str
    segment: str
    url: str = Field(
        description="full https tracking link with utm_source, utm_medium, "
        "utm_campaign, utm_content and the ref (referral code) parameter"
    )
    short_url: str = Field(
        default="",
        description=(
            "branded short link that redirects to url and passes ?ref= through; printed where "
            "length counts (SMS, social)"
        ),
    )


class Tooling(_Out):
    """Output of the tooling stage (QA checks run on it afterwards)."""

    landing_url: str
    tracking_links: list[TrackingLink]
    forms: list[str]
    workflows: list[str]
    reward_fulfillment: str
    fraud_rules: list[str]


class Asset(_Out):
    """One piece of copy in the comms kit."""

    kind: AssetKind
    channel: str
    segment: str
    title: str = Field(description="subject line, headline or asset name")
    preheader: str = ""
    body: str
    cta_label: str = ""
    cta_url: str = ""
    footer: str = Field(default="", description="email footer: unsubscribe link and postal address")
    disclosure: str = Field(default="", description="incentive disclosure (social, partner assets)")
    name: str = Field(
        default="", description="what the asset is, e.g. 'Launch email', 'Reminder email'"
    )
    send_at: str = Field(
        default="", description="when it is sent or shown, relative to the launch date"
    )
    short_url: str = Field(
        default="", description="short link printed in the body; redirects to cta_url"
    )
    terms_url: str = Field(default="", description="program terms linked from the asset")


class CommsDraft(_Out):
    """Output of one communications task (one channel x segment, or a shared asset)."""

    assets: list[Asset]


class Session(_Out):
    """An enablement session on the calendar."""

    title: str
    audience: str
    date: str
    duration_minutes: int
    owner: str


class FaqEntry(_Out):
    """One question and answer for support and the help center."""

    question: str
    answer: str


class SupportScript(_Out):
    """A support macro: the situation, what the agent says, and when to hand it on."""

    scenario: str = Field(description="the customer's situation, e.g. 'Reward not received'")
    script: str = Field(description="what the support agent says or sends")
    escalation: str = Field(default="", description="when and to whom the agent escalates")


class Enablement(_Out):
    """Output of the enablement stage."""

    sessions: list[Session]
    faq: list[FaqEntry]
    help_center: list[str]
    partner_enablement: list[str]
    support_scripts: list[SupportScript] = Field(
        default_factory=list, description="support macros for the referral ticket queue"
    )


class PartnerWorkflows(_Out):
    """Output of the partner-ops node: partner workflows and the approval package."""

    onboarding: list[str]
    reporting: list[str]
    compliance: list[str]
    approval_steps: list[str]


class Metric(_Out):
    """A monitored metric with its target and alert threshold."""

    name: str
    target: str
    alert_when: str
    dashboard: str
    owner: str = Field(default="", description="human role that watches the metric and is paged")


class Contact(_Out):
    """An on-call or escalation contact, by role."""

    role: str = Field(description="human role, e.g. 'Lifecycle Ops lead'")
    responsibility: str = Field(description="what this role handles during the launch")
    page_when: str = Field(description="when to page or call this role")
    agent: str = Field(
        default="", description="agent of the roster that stands for the role, if any"
    )


class GoLive(_Out):
    """Output of the go-live & monitoring stage."""

    day_of_checklist: list[str]
    dashboards: list[str]
    metrics: list[Metric]
    alerts: list[str]
    incident_response: list[str]
    rollback: list[str]
    contacts: list[str]
    oncall: list[Contact] = Field(
        default_factory=list, description="on-call and escalation contacts by role"
    )
    rollback_triggers: list[str] = Field(
        default_factory=list, description="conditions that call for the kill switch"
    )
    kill_switch: str = Field(
        default="", description="the one control that stops the program, and who may pull it"
    )


class Remediation(_Out):
    """Rung 2's answer to a stage that failed past its retry limit."""

    summary: str
    action: Literal["descope_channel", "move_date", "adjust", "none"]
    channel: str | None = None
    new_launch_date: str | None = None
    rerun: bool = True

