"""The stage registry - the one place a stage is declared - and the rules every layer reads.

Each :class:`Stage` says everything the rest of the package needs to know about one unit of
launch work: its id (plan, prompt file, agents' capabilities), the graph node that runs it,
its labels, where its output lands in the graph state, the output model a runner returns,
which capability's agent owns it, whether it runs in sequence or fanned out, and what
follows it. The graph, the routing, the plan, the progress display, the prompts and the
offline drafter all read this table; none of them restates it.

Adding a stage is one :data:`STAGES` entry, its output model (``outputs.py``), its prompt
(``prompts/<id>.md``) and a drafter method (``runners/offline.py``, ``_<slug>``);
``tests/test_stages.py`` checks every entry has all four and a node in the compiled graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel

from . import outputs as out

StageId = Literal["checklist", "tooling-qa", "communications", "partner-kit", "enablement",
                  "partner-workflows", "approval", "go-live", "remediation"]
NodeId = Literal["checklist", "tooling_qa", "communications", "enablement", "merge_gate",
                 "partner_ops", "approval_gate", "go_live", "reassign", "referral_architect",
                 "exec_sponsor"]
End = Literal["__end__"]
Target = NodeId | End
# What a node records in ``outcome[stage]`` for routing to read.
Outcome = Literal["ok", "retry", "escalate", "reassign", "waived", "pending", "rework"]
# What the ladder (and its substitution) records in ``outcome["ladder"]``.
LadderMove = Literal["rerun", "replan", "sponsor", "proceed", "halt", "reassign"]
Execution = Literal["sequential", "parallel"]
END: End = "__end__"


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One unit of launch work, as every layer sees it."""

    id: StageId  # plan, prompts/<id>.md, the agents' capabilities
    node: NodeId  # the graph node that runs it
    label: str  # the plan's name for it
    state_key: str | None  # where its output lands in the graph state
    output: type[BaseModel] | None  # what a runner returns (None: people decide)
    owner: StageId  # the capability whose agent owns it (agents/*.md front matter)
    execution: Execution  # parallel stages are fanned out with Send and joined
    next: Target | None  # what follows on ok / on the sponsor's "proceed"
    in_plan: bool = True  # False: a work item inside another stage, or the ladder's work
    needs_approvers: bool = False  # skipped when the launch names no approvers

    @property
    def slug(self) -> str:
        """The id as a Python name: tool ``submit_<slug>``, drafter method ``_<slug>``."""
        return stage_slug(self.id)


def stage_slug(stage: str) -> str:
    """A stage id as a Python name (``tooling-qa`` -> ``tooling_qa``)."""
    return stage.replace("-", "_")


STAGES: tuple[Stage, ...] = (
    Stage(id="checklist", node="checklist", label="Checklist", state_key="tasks",
          output=out.Checklist, owner="checklist", execution="sequential", next="tooling_qa"),
    Stage(id="tooling-qa", node="tooling_qa", label="Tooling & QA", state_key="tooling",
          output=out.Tooling, owner="tooling-qa", execution="sequential",
          next="communications"),
    Stage(id="communications", node="communications", label="Communications",
          state_key="comms", output=out.CommsDraft, owner="communications",
          execution="parallel", next="partner_ops"),
    Stage(id="partner-kit", node="communications", label="Partner kit", state_key="comms",
          output=out.CommsDraft, owner="partner-kit", execution="parallel", next="partner_ops",
          in_plan=False),
    Stage(id="enablement", node="enablement", label="Training & enablement",
          state_key="enablement", output=out.Enablement, owner="enablement",
          execution="parallel", next="partner_ops"),
    Stage(id="partner-workflows", node="partner_ops", label="Partner workflows",
          state_key="partner_workflows", output=out.PartnerWorkflows, owner="partner-workflows",
          execution="sequential", next="approval_gate"),
    Stage(id="approval", node="approval_gate", label="Approval gate", state_key=None,
          output=None, owner="partner-workflows", execution="sequential", next="go_live",
          needs_approvers=True),
    Stage(id="go-live", node="go_live", label="Go-live & monitoring", state_key="golive",
          output=out.GoLive, owner="go-live", execution="sequential", next=END),
    Stage(id="remediation", node="referral_architect", label="Remediation", state_key=None,
          output=out.Remediation, owner="remediation", execution="sequential", next=None,
          in_plan=False),
)

# Every graph node in flow order, as progress names it; the ladder's rungs come last.
NODES: dict[NodeId, str] = {
    "checklist": "checklist",
    "tooling_qa": "tooling & QA",
    "communications": "communications",
    "enablement": "enablement",
    "merge_gate": "merge gate",
    "partner_ops": "partner ops",
    "approval_gate": "approval gate",
    "go_live": "go-live & monitoring",
    "reassign": "reassign (fallback)",
    "referral_architect": "referral architect (rung 2)",
    "exec_sponsor": "exec sponsor (rung 3)",
}

STAGE: dict[StageId, Stage] = {s.id: s for s in STAGES}
PLAN_STAGES: tuple[Stage, ...] = tuple(s for s in STAGES if s.in_plan)
# What a runner must return per stage; also the order of the tools a model is offered.
STAGE_OUTPUTS: dict[StageId, type[BaseModel]] = {
    s.id: s.output for s in STAGES if s.output is not None}
# Nodes of the fanned-out stages: they start together (the drafts) and meet at the merge gate.
DRAFT_NODES: tuple[NodeId, ...] = tuple(dict.fromkeys(
    s.node for s in STAGES if s.execution == "parallel"))


def stages_at(node: str) -> tuple[Stage, ...]:
    """The stages a graph node runs (the communications node runs two kinds of item)."""
    return tuple(s for s in STAGES if s.node == node)


def node_ids() -> tuple[NodeId, ...]:
    """Every node id of the graph, in flow order."""
    return get_args(NodeId)


def follows(stage: StageId, *, approvers: bool) -> Target:
    """The node after ``stage``, skipping stages that need approvers when none are named."""
    target = STAGE[stage].next
    if target is None:
        raise ValueError(f"{stage} is not a step of the flow: nothing follows it")
    while target != END:
        (step,) = [s for s in stages_at(target) if s.in_plan]
        if approvers or not step.needs_approvers:
            return target
        target = step.next if step.next is not None else END
    return target


MAX_RETRIES = 2
RESPONSE_SLAS = {"incident_acknowledge": "15 minutes", "support_first_response": "4 business hours",
                 "partner_question": "1 business day", "approval_turnaround": "2 business days"}


def readiness(values: dict[str, Any]) -> float:
    """Launch readiness %: share of launch gates that are ready.

    Gates: a dated task list whose lead times fit before launch, tooling QA, comms QA,
    enablement, partner workflows, the go-live plan, and each approval.
    """
    outcomes = values.get("outcome", {})
    tasks = values.get("tasks")
    gates = [bool(tasks), bool(tasks) and not values.get("compressed_tasks"),
             outcomes.get("tooling-qa") in ("ok", "waived"),
             outcomes.get("communications") in ("ok", "waived"), bool(values.get("enablement")),
             bool(values.get("partner_workflows")), bool(values.get("golive"))]
    gates += [a["status"] == "approved" for a in values.get("approvals", {}).values()]
    return round(100 * sum(gates) / len(gates), 1)


def on_schedule(values: dict[str, Any]) -> float:
    """Share of tasks that get their full lead time (not compressed)."""
    tasks = values.get("tasks") or []
    if not tasks:
        return 0.0
    squeezed = set(values.get("compressed_tasks", []))
    return round(100 * sum(t["id"] not in squeezed for t in tasks) / len(tasks), 1)
