"""Any langchain-core chat model as the agents' backend, tested with fake chat models."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import AgentError, AgentTimeout, InvalidAgentOutput
from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners import AgentCall, resolve_runner
from referral_orchestrator.runners.chat_model import ChatModelRunner, without_sdk_retries
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.runners.prompting import inputs_from_prompt, stage_of_tool
from referral_orchestrator.runners.retry import RetryPolicy
from support import AS_OF, SEED_REQUEST

NO_SLEEP = RetryPolicy(sleep=lambda _s: None, rng=lambda: 0.0)
USAGE = {"input_tokens": 1000, "output_tokens": 100, "total_tokens": 1100,
         "input_token_details": {"cache_read": 800, "cache_creation": 0}}


class ToolCallingFake(FakeMessagesListChatModel):
    """FakeMessagesListChatModel that accepts tools, answering with scripted AIMessages."""

    bound: list[dict[str, Any]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None,
                   **kwargs: Any) -> Any:
        self.bound.append({"tools": list(tools), "tool_choice": tool_choice})
        return self.bind(tools=list(tools), tool_choice=tool_choice, **kwargs)


class DrafterChatModel(GenericFakeChatModel):
    """A fake chat model that calls the forced tool with what the offline drafter writes."""

    model_name: str = "claude-haiku-5-5"
    llm_type: str = "generic-fake-chat-model"
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None,
                   **kwargs: Any) -> Any:
        return self.bind(tools=list(tools), tool_choice=tool_choice, **kwargs)

    @property
    def _llm_type(self) -> str:
        return self.llm_type

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.seen.append(messages)
        stage = stage_of_tool(kwargs["tool_choice"])
        assert stage is not None
        system = messages[0].content
        text = system if isinstance(system, str) else system[0]["text"]  # type: ignore[index]
        match = re.search(r"^# You are .+ \(([a-z0-9-]+)\)$", str(text), re.M)
        assert match is not None
        call = AgentCall(agent=match.group(1), stage=stage, output_type=STAGE_OUTPUTS[stage],
                         inputs=inputs_from_prompt(messages[1].content))  # type: ignore[arg-type]
        args = OfflineDrafter().run(call).output.model_dump(mode="json")
        reply = AIMessage(content="", tool_calls=[{"name": kwargs["tool_choice"], "args": args,
                                                   "id": f"call_{len(self.seen)}"}],
                          usage_metadata=USAGE,  # type: ignore[arg-type]
                          response_metadata={"model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=reply)])


class RateLimitError(Exception):
    """Shaped like a provider SDK's 429 error."""

    status_code = 429


class FlakyModel(DrafterChatModel):
    """Fails with the given errors first, then answers."""

    failures: list[Exception] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if self.failures:
            raise self.failures.pop(0)
        return super()._generate(messages, stop, run_manager, **kwargs)


class FirstAnswerBad(DrafterChatModel):
    """Submits a wrong shape first, then the drafter's answer."""

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        result = super()._generate(messages, stop, run_manager, **kwargs)
        if len(self.seen) == 1:
            result.generations[0].message.tool_calls[0]["args"] = {"assets": "none"}  # type: ignore[attr-defined]
        return result


class RetryingModel(DrafterChatModel):
    """A model with its own client retries, like ChatAnthropic and ChatOpenAI."""

    max_retries: int = 2


def kit_call() -> AgentCall:
    inputs = {"request": {"program": "Customer Advocates", "launch_date": "2026-12-10",
                          "as_of": AS_OF, "channels": ["email"], "audience": ["power users"],
                          "approvers": []},
              "landing_url": "https://www.example.com/refer/x", "channel": "partner-kit",
              "segment": "partners", "link": "",
              "charter": {"incentive": "$20 credit", "eligibility": "customers",
                          "caps": "10 a year", "clawback_window_days": 30,
                          "terms_url": "https://www.example.com/terms",
                          "success_metric": "active referred sign-ups"}}
    return AgentCall(agent="partner-manager", stage="partner-kit",
                     output_type=STAGE_OUTPUTS["partner-kit"], inputs=inputs, key="partner-kit")


def kit_args() -> dict[str, Any]:
    return {"assets": [{"kind": "partner-kit", "channel": "partner-portal",
                        "segment": "partners", "title": "Kit", "body": "Refer and earn.",
                        "disclosure": "I earn a reward."}]}


def tool_reply(args: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": "submit_partner_kit", "args": args,
                                              "id": "call_1"}])


def test_a_chat_model_is_resolved_to_the_chat_model_runner() -> None:
    runner = resolve_runner(DrafterChatModel(messages=iter([])), max_cost_usd=1.0)
    assert isinstance(runner, ChatModelRunner) and runner.budget.max_usd == 1.0


def test_a_full_launch_runs_on_a_tool_calling_chat_model(tmp_path: Path) -> None:
    model = DrafterChatModel(messages=iter([]))
    runner = ChatModelRunner(model, retry=NO_SLEEP)
    result = Orchestrator(tmp_path / "plans", model=runner).launch(
        **SEED_REQUEST,
        out_dir=tmp_path / "out")
    assert result.status == "completed"
    usage = result.plan["usage"]
    assert usage["total"]["calls"] == len(model.seen)
    assert {"lifecycle-ops", "partner-manager", "partner-ops"} <= set(usage["by_agent"])
    assert usage["total"]["cache_read_tokens"] == 800 * len(model.seen)


def test_the_stage_schema_is_bound_as_a_forced_tool() -> None:
    model = ToolCallingFake(responses=[tool_reply(kit_args())])
    output = ChatModelRunner(model, retry=NO_SLEEP).run(kit_call()).output
    assert output.model_dump()["assets"][0]["kind"] == "partner-kit"
    (binding,) = model.bound
    assert binding["tool_choice"] == "submit_partner_kit"
    tools = {tool["name"]: tool for tool in binding["tools"]}
    assert tools["submit_partner_kit"]["input_schema"]["properties"]["assets"]["type"] == "array"


def test_invalid_tool_input_is_re_asked_once_with_a_tool_error_message() -> None:
    model = ToolCallingFake(responses=[tool_reply({"assets": "none"}), tool_reply(kit_args())])
    result = ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())
    assert result.usage is not None and result.usage.calls == 2
    assert result.notes and "assets" in result.notes[0]


def test_invalid_output_twice_raises_invalid_agent_output() -> None:
    model = ToolCallingFake(responses=[AIMessage(content="I cannot use tools."),
                                       tool_reply({"assets": "none"})])
    with pytest.raises(InvalidAgentOutput):
        ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())


def test_the_re_ask_carries_the_bad_answer_and_its_error_back_to_the_model() -> None:
    model = FirstAnswerBad(messages=iter([]))
    ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())
    retry = model.seen[1]
    assert isinstance(retry[2], AIMessage) and isinstance(retry[3], ToolMessage)
    assert retry[3].status == "error" and "assets" in str(retry[3].content)


def test_usage_metadata_becomes_usage_with_cache_tokens_and_cost() -> None:
    runner = ChatModelRunner(DrafterChatModel(messages=iter([])), retry=NO_SLEEP)
    usage = runner.run(kit_call()).usage
    assert usage is not None
    assert (usage.model, usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (
        "claude-haiku-5-5", 200, 800, 100)
    # genai-prices counts input_tokens as the whole prompt, cached tokens included
    billed = calc_price(GenaiUsage(input_tokens=1000, cache_read_tokens=800, output_tokens=100),
                        "claude-haiku-5-5", provider_id="anthropic")
    assert usage.cost_usd == pytest.approx(float(billed.total_price))


def test_transient_provider_errors_are_retried_inside_the_runner() -> None:
    model = FlakyModel(messages=iter([]),
                       failures=[RateLimitError("slow down"), ConnectionError("reset")])
    result = ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())
    assert result.usage is not None and result.usage.calls == 1 and len(model.seen) == 1


def test_exhausted_timeouts_become_agent_timeouts() -> None:
    model = FlakyModel(messages=iter([]), failures=[TimeoutError()] * 5)
    with pytest.raises(AgentTimeout):
        ChatModelRunner(model, retry=RetryPolicy(max_attempts=3, sleep=lambda _s: None)).run(
            kit_call())
    assert len(model.failures) == 2  # three attempts, no more


def test_non_transient_provider_errors_fail_the_step_without_retry() -> None:
    model = FlakyModel(messages=iter([]), failures=[ValueError("bad request"),
                                                             ValueError("again")])
    with pytest.raises(AgentError) as info:
        ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())
    assert info.value.code == "model_error" and len(model.failures) == 1


def test_the_models_own_retries_are_switched_off_on_a_copy() -> None:
    model = RetryingModel(messages=iter([]))
    runner = ChatModelRunner(model, retry=NO_SLEEP)
    assert model.max_retries == 2
    assert runner.model.max_retries == 0  # type: ignore[attr-defined]
    assert without_sdk_retries(runner.model) is runner.model


def test_cache_breakpoints_go_only_to_anthropic_chat_models() -> None:
    plain = DrafterChatModel(messages=iter([]))
    ChatModelRunner(plain, retry=NO_SLEEP).run(kit_call())
    assert isinstance(plain.seen[0][0].content, str)
    claude = DrafterChatModel(messages=iter([]), llm_type="anthropic-chat")
    ChatModelRunner(claude, retry=NO_SLEEP).run(kit_call())
    system = claude.seen[0][0]
    assert isinstance(system, SystemMessage) and isinstance(system.content, list)
    assert all(block["cache_control"] == {"type": "ephemeral"}  # type: ignore[index]
               for block in system.content)


def test_a_model_without_tool_calling_answers_with_json_text() -> None:
    model = FakeListChatModel(responses=["Sure:\n" + json.dumps(kit_args())])
    output = ChatModelRunner(model, retry=NO_SLEEP).run(kit_call()).output
    assert output.model_dump()["assets"][0]["segment"] == "partners"


def test_one_chat_model_runner_serves_parallel_threads() -> None:
    model = DrafterChatModel(messages=iter([]))
    runner = ChatModelRunner(model, retry=NO_SLEEP, max_cost_usd=10.0)
    results: list[Any] = []
    lock = threading.Lock()

    def work() -> None:
        result = runner.run(kit_call())
        with lock:
            results.append(result)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 12
    assert runner.budget.spent_usd == pytest.approx(sum(r.usage.cost_usd for r in results))
