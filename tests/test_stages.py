"""The stage registry is complete: each stage has its prompt, output, drafter method and node."""

from __future__ import annotations

import json
from typing import get_args, get_type_hints

import pytest
from pydantic import BaseModel

from referral_orchestrator.engine.graph import build_graph
from referral_orchestrator.engine.roster import load_roster
from referral_orchestrator.engine.state import LaunchState
from referral_orchestrator.launch.content import content_root
from referral_orchestrator.launch.stages import (
    NODES,
    PLAN_STAGES,
    STAGE_OUTPUTS,
    STAGES,
    NodeId,
    Stage,
    StageId,
    follows,
)
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.runners.prompting import tool_name

AGENT_STAGES = [s for s in STAGES if s.output is not None]


def test_every_stage_id_is_declared_once_and_the_literal_lists_them_all() -> None:
    assert [s.id for s in STAGES] == list(get_args(StageId))


@pytest.mark.parametrize("stage", AGENT_STAGES, ids=lambda s: s.id)
def test_every_agent_stage_has_a_prompt_an_output_model_and_a_drafter_method(
    stage: Stage,
) -> None:
    prompt = content_root() / "prompts" / f"{stage.id}.md"
    assert f"`{tool_name(stage.id)}`" in prompt.read_text(encoding="utf-8")
    assert stage.output is not None and issubclass(stage.output, BaseModel)
    assert callable(getattr(OfflineDrafter, f"_{stage.slug}", None))


def test_the_prompts_folder_holds_exactly_the_agent_stages() -> None:
    prompts = sorted(p.stem for p in (content_root() / "prompts").glob("*.md"))
    assert prompts == sorted(STAGE_OUTPUTS) == sorted(s.id for s in AGENT_STAGES)


def test_every_stage_runs_on_a_node_of_the_compiled_graph_and_every_node_is_declared() -> None:
    nodes = set(build_graph().get_graph().nodes) - {"__start__", "__end__"}
    assert {s.node for s in STAGES} <= nodes
    assert nodes == set(NODES) == set(get_args(NodeId))


def test_every_state_key_is_a_field_of_the_graph_state() -> None:
    fields = get_type_hints(LaunchState)
    assert {s.state_key for s in STAGES if s.state_key} <= set(fields)


def test_every_stage_has_exactly_one_owner_in_the_roster() -> None:
    roster = load_roster()
    for stage in STAGES:
        owners = [a for a in roster.agents.values() if stage.owner in a.capabilities]
        assert len(owners) == 1, stage.id


def test_the_plan_schema_accepts_every_node_and_only_those() -> None:
    schema = json.loads((content_root() / "schemas" / "plan.schema.json").read_text())
    assert schema["$defs"]["transition"]["properties"]["node"]["enum"] == list(NODES)


def test_each_stage_spells_its_id_node_and_state_key_in_one_entry() -> None:
    (tooling,) = [s for s in STAGES if s.id == "tooling-qa"]
    assert (tooling.id, tooling.node, tooling.state_key, tooling.slug) == (
        "tooling-qa", "tooling_qa", "tooling", "tooling_qa")


def test_the_plan_stages_run_in_flow_order_and_each_next_is_a_later_stage() -> None:
    order = [s.node for s in PLAN_STAGES]
    for stage in PLAN_STAGES:
        target = follows(stage.id, approvers=True)
        assert target == "__end__" or order.index(target) > order.index(stage.node)


@pytest.mark.parametrize(("stage", "approvers", "expected"), [
    ("checklist", True, "tooling_qa"),
    ("tooling-qa", True, "communications"),
    ("communications", True, "partner_ops"),
    ("partner-kit", True, "partner_ops"),
    ("enablement", False, "partner_ops"),
    ("partner-workflows", True, "approval_gate"),
    ("partner-workflows", False, "go_live"),
    ("approval", True, "go_live"),
    ("go-live", False, "__end__"),
])
def test_follows_skips_the_approval_gate_when_no_approvers_are_named(
    stage: StageId, approvers: bool, expected: str
) -> None:
    assert follows(stage, approvers=approvers) == expected


def test_the_ladders_work_is_no_step_of_the_flow() -> None:
    with pytest.raises(ValueError):
        follows("remediation", approvers=True)
