"""Prompt assembly: a stable cacheable prefix, one prompt per stage, schemas as tools."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from referral_orchestrator.errors import ModelConfigError
from referral_orchestrator.launch.content import content_root, load_agents, load_skills
from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners import AgentCall
from referral_orchestrator.runners.prompting import (
    agent_prefix,
    inputs_from_prompt,
    output_schema,
    stage_of_tool,
    stage_tools,
    system_blocks,
    tool_name,
    user_content,
    user_prompt,
)

MODEL_AGENTS = [a.name for a in load_agents().values() if a.kind == "agent"]


@pytest.mark.parametrize("agent", MODEL_AGENTS)
def test_the_prefix_holds_the_persona_and_every_skill_the_agent_uses(agent: str) -> None:
    spec, skills = load_agents()[agent], load_skills()
    prefix = agent_prefix(agent)
    assert spec.persona.strip() in prefix
    for skill in spec.skills:
        assert skills[skill].body.strip() in prefix


def test_the_cached_prefix_is_byte_identical_whatever_the_stage() -> None:
    blocks = [system_blocks("lifecycle-ops", stage) for stage in STAGE_OUTPUTS]
    assert len({json.dumps(b[0]) for b in blocks}) == 1
    assert all(b[0]["cache_control"] == {"type": "ephemeral"} for b in blocks)
    assert len({b[1]["text"] for b in blocks}) == len(STAGE_OUTPUTS)


def test_every_stage_has_a_prompt_file_that_names_its_tool() -> None:
    prompts = content_root() / "prompts"
    assert sorted(p.stem for p in prompts.glob("*.md")) == sorted(STAGE_OUTPUTS)
    for stage in STAGE_OUTPUTS:
        assert f"`{tool_name(stage)}`" in (prompts / f"{stage}.md").read_text(encoding="utf-8")


def test_tools_cover_every_stage_with_valid_schemas_and_one_breakpoint_at_the_end() -> None:
    tools = stage_tools()
    assert [stage_of_tool(t["name"]) for t in tools] == list(STAGE_OUTPUTS)
    assert [("cache_control" in t) for t in tools] == [False] * (len(tools) - 1) + [True]
    for tool in tools:
        Draft202012Validator.check_schema(tool["input_schema"])
        assert tool["input_schema"]["type"] == "object"
    assert json.dumps(stage_tools()) == json.dumps(tools)  # same bytes every call


def test_schema_titles_are_stripped_but_a_field_named_title_is_kept() -> None:
    schema = output_schema(STAGE_OUTPUTS["communications"])
    asset = schema["$defs"]["Asset"]
    assert "title" not in schema and "title" not in asset
    assert "title" in asset["properties"] and "title" in asset["required"]


def test_the_user_prompt_carries_inputs_as_json_and_the_feedback_to_fix() -> None:
    call = AgentCall(agent="lifecycle-ops", stage="tooling-qa",
                     output_type=STAGE_OUTPUTS["tooling-qa"], attempt=2,
                     inputs={"request": {"program": "Advocates"}, "landing_url": "https://x"},
                     feedback=("links.params email:power users: missing ref",))
    text = user_prompt(call)
    assert inputs_from_prompt(text) == call.inputs
    assert "Attempt: 2" in text and "- links.params email:power users: missing ref" in text
    assert text.endswith("Call the tool submit_tooling_qa exactly once.")


def test_an_unknown_agent_is_a_configuration_error() -> None:
    with pytest.raises(ModelConfigError):
        agent_prefix("nobody")


def test_only_fanned_out_items_split_their_inputs_into_shared_and_own() -> None:
    inputs = {"request": {"program": "Advocates"}, "channel": "email", "segment": "vips",
              "link": "https://x/?ref=1"}
    single = AgentCall(agent="lifecycle-ops", stage="communications",
                       output_type=STAGE_OUTPUTS["communications"], inputs=inputs)
    assert isinstance(user_content(single), str)
    fanned = AgentCall(agent="lifecycle-ops", stage="communications",
                       output_type=STAGE_OUTPUTS["communications"], inputs=inputs,
                       key="email:vips")
    blocks = user_content(fanned)
    assert isinstance(blocks, list) and inputs_from_prompt(blocks) == inputs
