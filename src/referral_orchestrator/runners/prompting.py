"""Prompt assembly for real models: a cacheable prefix, a stage prompt, the work item.

Every model call is laid out so the expensive part is identical, byte for byte, across
calls - Anthropic caches a prompt *prefix* (tools, then system, then messages):

1. ``tools`` - one tool per stage output type, always all of them, in the stage
   registry's order (``launch/stages.py``); the call asks for its own tool with
   ``tool_choice`` (:func:`tool_choice`: forced where the model allows it, ``auto`` where it
   does not), which does not break the cached prefix. Cache breakpoint on the last tool:
   shared by every agent.
2. ``system[0]`` - the agent's persona (``agents/<name>.md``) and the skills it uses
   (``skills/<skill>/SKILL.md``), plus the house rules. Cache breakpoint: shared by every
   call of that agent, whatever the stage.
3. ``system[1]`` - the stage prompt (``prompts/<stage>.md``), not cached.
4. one user message - the stage, attempt, work item and inputs as JSON, and the feedback
   of a failed attempt. For a fanned-out work item the inputs it shares with its siblings
   come first with a fourth breakpoint (see :func:`user_content`).

Nothing here imports a provider SDK: the Claude runner sends these blocks as they are; the
chat-model runner binds the same tools and sends the same blocks as langchain-core messages
(flattened to strings, in the same order, for providers without cache breakpoints).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel

from referral_orchestrator.errors import ModelConfigError
from referral_orchestrator.launch.content import load_agents, load_prompt, load_skills
from referral_orchestrator.launch.stages import STAGE_OUTPUTS, stage_slug

from .base import AgentCall

CACHE_CONTROL: dict[str, str] = {"type": "ephemeral"}
ITEM_KEYS = frozenset({"channel", "segment", "link", "key"})  # what differs between siblings

HOUSE_RULES = """\
# How you work in this launch
- You are one agent node in a referral-program launch run by referral-orchestrator, a
  deterministic state machine. Code decides who works next; you do your stage's work only.
- You answer by calling the one tool the request names, exactly once, with input that
  matches its JSON schema. No prose outside the tool call.
- Use only facts from the inputs, your persona and your skills. Where a fact is missing
  (a name, an address, a price), write a clearly marked placeholder in [square brackets]
  instead of inventing one.
- Dates are ISO (YYYY-MM-DD). Ids are lowercase kebab-case. Agent names are the roster's.
- When the request carries feedback from a failed attempt, fix every point it lists;
  the same checks run again on your answer.
"""


def tool_name(stage: str) -> str:
    """The tool a stage's output is submitted with (``submit_tooling_qa``)."""
    return "submit_" + stage_slug(stage)


def stage_of_tool(name: str) -> str | None:
    """The stage a tool name submits, or ``None``."""
    for stage in STAGE_OUTPUTS:
        if tool_name(stage) == name:
            return stage
    return None


# -- tool choice per model -----------------------------------------------------------------

# The last version of each Claude family that accepts a forced ``tool_choice`` (``{"type":
# "tool"}`` / ``{"type": "any"}``). Claude Sonnet 5.5, Opus 5.5, Fable 5.1 and Mythos 5.1 and
# later answer one with a 400 invalid_request_error ("tool_choice: type "tool" and "any" are
# not supported for this model"); ``auto`` works on every model. A family or version not in
# this table - a model released after it was written - gets ``auto``: the safe default.
# Sources: platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5 (and the
# opus-5-5, fable-5-1, fable-5-2 pages), #forced-tool-use-is-not-supported.
FORCED_TOOL_CHOICE_UP_TO: dict[str, tuple[int, ...]] = {
    "haiku": (5, 5),
    "sonnet": (5,),
    "opus": (5,),
    "fable": (5,),
    "mythos": (5,),
}
_OLD_CLAUDE = re.compile(r"claude-\d+(?:[-.]\d+)?-(?:haiku|sonnet|opus)(?![a-z])")
_CLAUDE = re.compile(r"claude-(?P<family>[a-z]+)-(?P<version>\d{1,2}(?:[-.]\d{1,2})*)(?!\d)")


def forces_tool_choice(model: str) -> bool:
    """Whether ``model`` may be sent a forced ``tool_choice`` naming the stage's tool.

    Claude ids are looked up in :data:`FORCED_TOOL_CHOICE_UP_TO` whatever the spelling around
    them (``claude-sonnet-4-5-20250929``, ``us.anthropic.claude-sonnet-5-5-v1:0``,
    ``claude-opus-5-5@20260922``, ``anthropic/claude-sonnet-5.5``); Claude 3 ids
    (``claude-3-5-sonnet-...``) are forced. Any other Claude id is not. A model that is not
    Claude is forced: its provider's integration translates the named choice (OpenAI's
    ``tool_choice: {"type": "function", ...}``), as it always has.
    """
    if "claude" not in model:
        return True
    if _OLD_CLAUDE.search(model):
        return True
    match = _CLAUDE.search(model)
    if match is None:
        return False
    last = FORCED_TOOL_CHOICE_UP_TO.get(match["family"])
    version = tuple(int(part) for part in re.split(r"[-.]", match["version"]))
    return last is not None and version <= last


def tool_choice(model: str, stage: str) -> dict[str, Any]:
    """The Messages API ``tool_choice`` for a call of ``stage`` on ``model``.

    Forced to the stage's tool where the model allows it; otherwise ``auto``, and the prompt
    (house rules, stage prompt, last line of the user turn) says which tool to call. Either
    way at most one tool call (``disable_parallel_tool_use``, accepted with both types).
    """
    if forces_tool_choice(model):
        return {"type": "tool", "name": tool_name(stage), "disable_parallel_tool_use": True}
    return {"type": "auto", "disable_parallel_tool_use": True}


def _strip_titles(node: Any, *, in_properties: bool = False) -> Any:
    # pydantic adds a "title" to every schema; they only cost tokens. A *property* named
    # "title" (Asset.title) is data, not the keyword, so keys of "properties" are kept.
    if isinstance(node, dict):
        return {k: _strip_titles(v, in_properties=k in ("properties", "$defs")
                                 and not in_properties)
                for k, v in node.items() if in_properties or k != "title"}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


@functools.cache
def _schema_json(output_type: type[BaseModel]) -> str:
    return json.dumps(_strip_titles(output_type.model_json_schema()), sort_keys=True)


def output_schema(output_type: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema a model must fill in for ``output_type`` (titles stripped)."""
    schema: dict[str, Any] = json.loads(_schema_json(output_type))
    return schema


def _describe(stage: str, output_type: type[BaseModel]) -> str:
    doc = (output_type.__doc__ or output_type.__name__).strip().splitlines()[0]
    return f"Submit the {stage} stage's result. {doc}"


@functools.cache
def _tools_json() -> str:
    tools: list[dict[str, Any]] = [
        {"name": tool_name(stage), "description": _describe(stage, output_type),
         "input_schema": output_schema(output_type)}
        for stage, output_type in STAGE_OUTPUTS.items()
    ]
    tools[-1]["cache_control"] = dict(CACHE_CONTROL)
    return json.dumps(tools)


def stage_tools() -> list[dict[str, Any]]:
    """Every stage's tool, last one carrying the cache breakpoint (same bytes every call)."""
    tools: list[dict[str, Any]] = json.loads(_tools_json())
    return tools


@functools.cache
def agent_prefix(agent: str) -> str:
    """The agent's stable prompt: persona, skills and house rules (the cached prefix)."""
    agents = load_agents()
    if agent not in agents:
        raise ModelConfigError(
            f"no agent file for {agent!r}: add agents/{agent}.md or fix the roster")
    spec, skills = agents[agent], load_skills()
    parts = [f"# You are {spec.role} ({spec.name})", spec.description.strip(), "",
             spec.persona.strip(), ""]
    for name in spec.skills:
        skill = skills.get(name)
        if skill is None:
            raise ModelConfigError(
                f"agents/{agent}.md names skill {name!r} but skills/{name}/SKILL.md is missing")
        parts += [f"# Skill: {skill.name}", skill.description.strip(), "", skill.body.strip(), ""]
    parts.append(HOUSE_RULES)
    return "\n".join(parts)


def stage_prompt(stage: str) -> str:
    """The stage's instructions from ``prompts/<stage>.md``."""
    try:
        return load_prompt(stage).strip()
    except FileNotFoundError as exc:
        raise ModelConfigError(f"prompts/{stage}.md is missing: add the stage prompt") from exc


def system_blocks(agent: str, stage: str) -> list[dict[str, Any]]:
    """System content blocks: persona + skills, then the stage prompt; both cache breakpoints."""
    return [
        {"type": "text", "text": agent_prefix(agent), "cache_control": dict(CACHE_CONTROL)},
        {"type": "text", "text": stage_prompt(stage), "cache_control": dict(CACHE_CONTROL)},
    ]


def user_prompt(call: AgentCall) -> str:
    """The work item: stage, attempt, inputs as JSON, feedback of the last attempt."""
    lines = [f"Stage: {call.stage}", f"Attempt: {call.attempt}"]
    if call.key:
        lines.append(f"Work item: {call.key}")
    lines += ["<inputs>", json.dumps(call.inputs, sort_keys=True, default=str),
              "</inputs>"]
    if call.feedback:
        lines.append("The previous attempt failed these checks - fix every one:")
        lines += [f"- {note}" for note in call.feedback]
    lines.append(f"Call the tool {tool_name(call.stage)} exactly once.")
    return "\n".join(lines)


def shared_context(call: AgentCall) -> str | None:
    """The context block a fanned-out work item shares with its siblings, or ``None``.

    Set only for a work item (``call.key``) whose inputs mix shared fields with its own
    (:data:`ITEM_KEYS`): the text is byte-identical for every sibling of one wave.
    """
    shared = {k: v for k, v in call.inputs.items() if k not in ITEM_KEYS}
    if not call.key or len(shared) == len(call.inputs):
        return None
    return ("Shared launch context of every work item of this stage:\n<context>\n"
            + json.dumps(shared, sort_keys=True, default=str) + "\n</context>")


def user_content(call: AgentCall) -> str | list[dict[str, Any]]:
    """The user turn for the Messages API.

    A fanned-out work item (``call.key`` set, e.g. one channel x segment draft) shares most
    of its inputs with its siblings: those go first, in their own block with a cache
    breakpoint, so the siblings read them from the cache; the item's own fields follow.
    """
    context = shared_context(call)
    if context is None:
        return user_prompt(call)
    own = {k: v for k, v in call.inputs.items() if k in ITEM_KEYS}
    item = user_prompt(AgentCall(call.agent, call.stage, call.output_type, own, call.attempt,
                                 call.feedback, call.key))
    return [{"type": "text", "text": context, "cache_control": dict(CACHE_CONTROL)},
            {"type": "text", "text": item}]


def reask_prompt(stage: str, problem: str) -> str:
    """Ask again after output that did not validate, quoting the validation error."""
    return (f"That answer could not be accepted: {problem}\n"
            f"Call {tool_name(stage)} again with corrected input that matches its schema "
            "exactly (required fields, allowed values, no extra fields).")


def inputs_from_prompt(content: str | list[dict[str, Any]]) -> dict[str, Any]:
    """The inputs of a :func:`user_prompt` or :func:`user_content` (for mocks, simulators)."""
    text = content if isinstance(content, str) else "\n".join(b["text"] for b in content)
    data: dict[str, Any] = {}
    for tag in ("context", "inputs"):
        if f"<{tag}>\n" in text:
            start = text.index(f"<{tag}>\n") + len(tag) + 3
            data.update(json.loads(text[start:text.index(f"\n</{tag}>")]))
    return data


def tool_asked_for(content: str | list[dict[str, Any]]) -> str | None:
    """The tool the last line of a :func:`user_prompt` asks for (for mocks, simulators)."""
    text = content if isinstance(content, str) else "\n".join(b["text"] for b in content)
    match = re.search(r"^Call the tool (\S+) exactly once\.$", text, re.M)
    return match.group(1) if match else None


def flat_system(agent: str, stage: str) -> str:
    """The system prompt as one string (for chat models without content blocks)."""
    return "\n\n".join(block["text"] for block in system_blocks(agent, stage))
