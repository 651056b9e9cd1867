"""The chat-model runner's prompt layout keeps the cacheable prefix stable across a launch.

Every call binds every stage's tool (same order, same bytes) and forces its own with
``tool_choice``; the system prompt is persona + skills, then the stage prompt; a fan-out's
shared context comes first in the user turn. ``warm_fanout`` holds a wave's siblings back
until its first call has answered. Fake chat models for the layout, and the real
``ChatAnthropic`` / ``ChatOpenAI`` clients against the loopback stand-ins for the wire format.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI
from pydantic import Field

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import AgentError, InvalidAgentOutput
from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners import AgentCall
from referral_orchestrator.runners.chat_model import ChatModelRunner
from referral_orchestrator.runners.prompting import (
    agent_prefix,
    stage_of_tool,
    stage_prompt,
    tool_name,
)
from referral_orchestrator.runners.retry import no_wait_policy
from standins import ChatCompletionsStandIn, MessagesStandIn
from support import AS_OF
from test_chat_model_runner import (
    NO_SLEEP,
    DrafterChatModel,
    FlakyModel,
    ToolCallingFake,
    kit_args,
    kit_call,
    tool_reply,
)

EPHEMERAL = {"type": "ephemeral"}
ALL_TOOLS = [tool_name(stage) for stage in STAGE_OUTPUTS]


class RecordingModel(DrafterChatModel):
    """The drafter fake, also keeping the tools and tool choice each call was sent."""

    sent: list[dict[str, Any]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.sent.append({"tools": json.dumps(kwargs["tools"]),
                          "tool_choice": kwargs["tool_choice"],
                          "system": messages[0].content, "user": messages[1].content})
        return super()._generate(messages, stop, run_manager, **kwargs)


def launch(model: Any, tmp_path: Path, **options: Any) -> Any:
    runner = model if isinstance(model, ChatModelRunner) else ChatModelRunner(
        model, retry=NO_SLEEP, **options)
    result = Orchestrator(tmp_path / "plans", model=runner).launch(
        "Customer Advocates", "2026-12-10", "email,in-app", segments="power users,new customers",
        as_of=AS_OF, out_dir=tmp_path / "out")
    assert result.status == "completed"
    return result


def agent_of(system: str) -> str:
    match = re.search(r"^# You are .+ \(([a-z0-9-]+)\)$", system, re.M)
    assert match is not None
    return match.group(1)


# -- the layout, on a fake chat model ---------------------------------------------------------

def test_every_call_of_a_launch_is_sent_every_stage_tool_byte_for_byte(tmp_path: Path) -> None:
    model = RecordingModel(messages=iter([]))
    launch(model, tmp_path)
    assert len(model.sent) > 10
    (tools,) = {call["tools"] for call in model.sent}
    assert [tool["name"] for tool in json.loads(tools)] == ALL_TOOLS
    assert "cache_control" not in tools  # not an Anthropic model: no unknown keys
    assert {call["tool_choice"] for call in model.sent} <= set(ALL_TOOLS)
    assert len({call["tool_choice"] for call in model.sent}) >= 6  # one forced tool a stage


def test_calls_of_one_agent_share_the_system_prefix_and_a_stage_adds_only_its_prompt(
        tmp_path: Path) -> None:
    model = RecordingModel(messages=iter([]))
    launch(model, tmp_path)
    agents: dict[str, set[str]] = {}
    for call in model.sent:
        system, stage = call["system"], stage_of_tool(call["tool_choice"])
        assert isinstance(system, str) and stage is not None
        agent = agent_of(system)
        assert system == agent_prefix(agent) + "\n\n" + stage_prompt(stage)
        agents.setdefault(agent, set()).add(system[:len(agent_prefix(agent))])
    assert len(agents) >= 2 and all(len(prefixes) == 1 for prefixes in agents.values())


def test_fan_out_siblings_send_their_shared_context_before_their_own_item(
        tmp_path: Path) -> None:
    model = RecordingModel(messages=iter([]))
    launch(model, tmp_path)
    drafts = [c["user"] for c in model.sent if c["tool_choice"] == "submit_communications"]
    assert len(drafts) >= 4
    contexts = {user.split("</context>")[0] for user in drafts}
    (context,) = contexts
    assert context.startswith("Shared launch context") and '"charter"' in context
    assert len({user.split("</context>")[1] for user in drafts}) == len(drafts)


def test_a_call_to_another_stages_tool_is_re_asked_and_never_accepted() -> None:
    other = AIMessage(content="", tool_calls=[{"name": "submit_checklist", "args": kit_args(),
                                               "id": "call_0"}])
    model = ToolCallingFake(responses=[other, tool_reply(kit_args())])
    result = ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())
    assert isinstance(result.output, STAGE_OUTPUTS["partner-kit"])
    assert result.notes == ["re-asked: no call to submit_partner_kit"]
    (binding,) = model.bound
    assert binding["tool_choice"] == "submit_partner_kit"
    assert [tool["name"] for tool in binding["tools"]] == ALL_TOOLS


def test_only_calls_to_other_stages_tools_end_in_invalid_agent_output() -> None:
    other = AIMessage(content="", tool_calls=[{"name": "submit_go_live", "args": kit_args(),
                                               "id": "call_0"}])
    model = ToolCallingFake(responses=[other, other])
    with pytest.raises(InvalidAgentOutput):
        ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())


# -- the wire format, on the real clients -----------------------------------------------------

def breakpoints(body: dict[str, Any]) -> int:
    return json.dumps(body).count('"cache_control"')


def test_chat_anthropic_sends_cache_breakpoints_on_the_stable_prefix(tmp_path: Path) -> None:
    with MessagesStandIn() as api:
        model = ChatAnthropic(model_name="claude-haiku-5-5", base_url=api.url,
                              api_key="sk-ant-test")
        launch(ChatModelRunner(model, retry=no_wait_policy()), tmp_path)
    bodies = api.requests
    assert len(bodies) > 10
    (tools,) = {json.dumps(body["tools"]) for body in bodies}
    sent = json.loads(tools)
    assert [tool["name"] for tool in sent] == ALL_TOOLS
    assert [tool.get("cache_control") for tool in sent] == [None] * (len(sent) - 1) + [EPHEMERAL]
    personas: dict[str, set[str]] = {}
    fan_out = 0
    for body in bodies:
        stage = stage_of_tool(body["tool_choice"]["name"])
        assert body["tool_choice"]["type"] == "tool" and stage is not None
        persona, prompt = body["system"]
        assert persona["cache_control"] == prompt["cache_control"] == EPHEMERAL
        assert prompt["text"] == stage_prompt(stage)
        personas.setdefault(agent_of(persona["text"]), set()).add(json.dumps(persona))
        content = body["messages"][0]["content"]
        if isinstance(content, list) and len(content) == 2:
            fan_out += 1
            assert content[0]["cache_control"] == EPHEMERAL
            assert "<context>" in content[0]["text"] and "cache_control" not in content[1]
        assert breakpoints(body) <= 4  # the Messages API's limit
    assert fan_out >= 4
    assert all(len(blocks) == 1 for blocks in personas.values())


def test_chat_openai_gets_the_same_stable_prefix_without_cache_keys(tmp_path: Path) -> None:
    with ChatCompletionsStandIn() as api:
        model = ChatOpenAI(model="gpt-5.4-mini", base_url=api.url + "/v1", api_key="sk-test")
        launch(ChatModelRunner(model, retry=no_wait_policy()), tmp_path)
    bodies = api.requests
    (tools,) = {json.dumps(body["tools"]) for body in bodies}
    assert [tool["function"]["name"] for tool in json.loads(tools)] == ALL_TOOLS
    for body in bodies:
        assert breakpoints(body) == 0
        assert body["tool_choice"]["type"] == "function"
        assert body["tool_choice"]["function"]["name"] in ALL_TOOLS
        system, user = body["messages"][:2]
        assert system["content"].startswith(agent_prefix(agent_of(system["content"])))
        assert isinstance(user["content"], str)
    drafts = [b["messages"][1]["content"] for b in bodies
              if b["tool_choice"]["function"]["name"] == "submit_communications"]
    assert len({d.split("</context>")[0] for d in drafts}) == 1


# -- warming a fan-out wave -------------------------------------------------------------------

def siblings(count: int) -> list[AgentCall]:
    """Work items of one wave: same agent, stage and shared context; their own segment."""
    base = kit_call()
    return [dataclasses.replace(base, key=f"partner-kit-{i}",
                                inputs={**base.inputs, "segment": f"partners-{i}"})
            for i in range(count)]


class OrderModel(FlakyModel):
    """Notes, as each call starts, how many calls had already answered."""

    started_after: list[int] = Field(default_factory=list)
    answered: int = 0

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.started_after.append(self.answered)
        try:
            return super()._generate(messages, stop, run_manager, **kwargs)
        finally:
            self.answered += 1


def run_all(runner: ChatModelRunner, calls: list[AgentCall]) -> list[Any]:
    outcomes: list[Any] = []
    lock = threading.Lock()

    def work(call: AgentCall) -> None:
        try:
            outcome: Any = runner.run(call)
        except AgentError as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=work, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_with_warm_fanout_siblings_are_sent_only_after_the_first_has_answered() -> None:
    model = OrderModel(messages=iter([]))
    outcomes = run_all(ChatModelRunner(model, retry=NO_SLEEP, warm_fanout=True), siblings(6))
    assert len(outcomes) == 6 and not any(isinstance(o, AgentError) for o in outcomes)
    assert model.started_after[0] == 0
    assert all(after >= 1 for after in model.started_after[1:])


def test_a_first_sibling_that_fails_still_lets_the_others_go() -> None:
    model = OrderModel(messages=iter([]), failures=[ValueError("bad request")])
    outcomes = run_all(ChatModelRunner(model, retry=NO_SLEEP, warm_fanout=True), siblings(4))
    failed = [o for o in outcomes if isinstance(o, AgentError)]
    assert len(failed) == 1 and failed[0].code == "model_error" and len(outcomes) == 4


def test_a_call_outside_a_fan_out_never_waits_for_a_wave() -> None:
    leader_in, leader_go = threading.Event(), threading.Event()

    class HeldModel(DrafterChatModel):
        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                      run_manager: Any = None, **kwargs: Any) -> ChatResult:
            if "partner-kit-0" in str(messages[1].content):
                leader_in.set()
                leader_go.wait()
            return super()._generate(messages, stop, run_manager, **kwargs)

    runner = ChatModelRunner(HeldModel(messages=iter([])), retry=NO_SLEEP, warm_fanout=True)
    leader = threading.Thread(target=runner.run, args=(siblings(1)[0],))
    leader.start()
    leader_in.wait()
    try:
        plain = dataclasses.replace(kit_call(), key="")  # no fan-out: no shared context
        assert isinstance(runner.run(plain).output, STAGE_OUTPUTS["partner-kit"])
    finally:
        leader_go.set()
        leader.join()


def test_a_launch_with_warm_fanout_completes_with_the_same_calls(tmp_path: Path) -> None:
    cold, warm = RecordingModel(messages=iter([])), RecordingModel(messages=iter([]))
    launch(cold, tmp_path / "cold")
    launch(warm, tmp_path / "warm", warm_fanout=True)
    assert sorted(c["tool_choice"] for c in warm.sent) == sorted(
        c["tool_choice"] for c in cold.sent)
