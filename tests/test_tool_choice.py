"""Tool choice per model: forced where the model accepts it, ``auto`` and the prompt where not.

Claude Sonnet 5.5, Opus 5.5, Fable 5.1+ and Mythos 5.1+ answer a forced ``tool_choice`` with
a 400 ``invalid_request_error``; the Messages stand-in refuses it the same way (and turning
thinking off, assistant prefill, a tool_use sent back without its thinking block), so both
runners run here on every default tier model, through the ``anthropic`` SDK and through
``ChatAnthropic``, over real HTTP on loopback.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_anthropic import chat_models as langchain_anthropic_models
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage

from mock_anthropic import FORCED_TOOL_CHOICE_ERROR, NO_FORCED_TOOL_CHOICE
from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import InvalidAgentOutput
from referral_orchestrator.runners import Usage
from referral_orchestrator.runners.anthropic import DEFAULT_TIERS, AnthropicRunner
from referral_orchestrator.runners.chat_model import ChatModelRunner
from referral_orchestrator.runners.prompting import forces_tool_choice, tool_choice
from referral_orchestrator.runners.retry import no_wait_policy
from standins import MessagesStandIn, answer, invalid, prose, served_totals
from support import SEED_REQUEST
from test_chat_model_runner import NO_SLEEP, kit_args, kit_call

CLIENTS = ["anthropic-sdk", "chat-anthropic"]
TIER_MODELS = sorted(DEFAULT_TIERS.values())
FORCEABLE = {"claude-haiku-5-5"}  # of the default tiers (what's-new pages of each model)


def sdk_models() -> set[str]:
    """Every model id in the installed ``anthropic`` SDK's model list."""
    return {arg for arg in typing.get_args(typing.get_args(anthropic.types.Model)[0])
            if isinstance(arg, str)}


def make_runner(client: str, api: MessagesStandIn,
                model: str) -> AnthropicRunner | ChatModelRunner:
    """The runner on the real client, every agent on ``model``."""
    if client == "anthropic-sdk":
        sdk = anthropic.Anthropic(base_url=api.url, api_key="sk-ant-test")
        return AnthropicRunner(model, pin=True, client=sdk, retry=no_wait_policy(), environ={})
    chat = ChatAnthropic(model_name=model, base_url=api.url, api_key="sk-ant-test")
    return ChatModelRunner(chat, retry=no_wait_policy())


def tokens_of(usage: Usage) -> dict[str, int]:
    return {k: getattr(usage, k) for k in ("input_tokens", "output_tokens",
                                           "cache_read_tokens", "cache_write_tokens")}


# -- the one table ------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "forced"), [
    ("claude-haiku-5-5", True), ("claude-sonnet-5-5", False), ("claude-opus-5-5", False),
    ("claude-sonnet-5", True), ("claude-opus-5", True), ("claude-fable-5", True),
    ("claude-fable-5-1", False), ("claude-fable-5-2", False), ("claude-mythos-5-1", False),
    ("claude-mythos-5-2", False), ("claude-opus-4-8", True), ("claude-haiku-4-5-20251001", True),
    ("claude-sonnet-4-5-20250929", True), ("claude-sonnet-4-20250514", True),
    ("claude-3-5-sonnet-20241022", True), ("claude-3-opus-20240229", True),
    ("us.anthropic.claude-sonnet-5-5-v1:0", False), ("anthropic.claude-haiku-5-5-v1:0", True),
    ("claude-opus-5-5@20260922", False), ("anthropic/claude-sonnet-5.5", False),
    ("claude-mythos-preview", False), ("claude-sonnet-6", False), ("claude-haiku-5-6", False),
    ("claude-nova-1", False), ("gpt-5.4-mini", True), ("ToolCallingFake", True),
])
def test_a_forced_tool_choice_goes_only_to_models_known_to_accept_it(
        model: str, forced: bool) -> None:
    assert forces_tool_choice(model) is forced
    expected = ({"type": "tool", "name": "submit_partner_kit"} if forced else {"type": "auto"})
    assert tool_choice(model, "partner-kit") == {**expected, "disable_parallel_tool_use": True}


def test_no_model_the_api_or_langchain_anthropic_refuses_to_force_is_forced() -> None:
    supports = getattr(langchain_anthropic_models, "_supports_forced_tool_choice", None)
    if supports is None:  # pragma: no cover - a langchain-anthropic without the check
        pytest.skip("langchain-anthropic no longer has _supports_forced_tool_choice")
    refused = {m for m in sdk_models() if not supports(m)} | NO_FORCED_TOOL_CHOICE
    assert {"claude-sonnet-5-5", "claude-opus-5-5"} <= refused
    assert not any(forces_tool_choice(m) for m in refused)
    assert {m for m in TIER_MODELS if forces_tool_choice(m)} == FORCEABLE


# -- the stand-in refuses what the API refuses ----------------------------------------------------

def request(model: str, **changes: Any) -> dict[str, Any]:
    """Keyword arguments of ``messages.create``; ``changes`` go into the JSON body as they are."""
    tool = {"name": "submit_x", "input_schema": {"type": "object"}}
    return {"model": model, "max_tokens": 64, "tools": [tool],
            "tool_choice": {"type": "tool", "name": "submit_x"},
            "messages": [{"role": "user", "content": "Call the tool submit_x exactly once."}],
            "extra_body": changes}


@pytest.mark.parametrize("changes", [
    {},  # the forced tool_choice alone
    {"tool_choice": {"type": "any"}},
    {"tool_choice": {"type": "auto"}, "thinking": {"type": "disabled"}},
    {"tool_choice": {"type": "auto"}, "temperature": 0.2},
    {"tool_choice": {"type": "auto"}, "messages": [
        {"role": "user", "content": "Call the tool submit_x exactly once."},
        {"role": "assistant", "content": "{"}]},
])
def test_the_stand_in_answers_what_sonnet_5_5_refuses_with_the_real_400(
        changes: dict[str, Any]) -> None:
    with MessagesStandIn(default=prose()) as api:
        client = anthropic.Anthropic(base_url=api.url, api_key="sk-ant-test", max_retries=0)
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(**request("claude-sonnet-5-5", **changes))
        accepted = client.messages.create(**request("claude-haiku-4-5", **changes))
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert api.statuses == [400, 200] and api.billed == 1
    assert accepted.stop_reason == "end_turn"


def test_the_forced_tool_choice_refusal_carries_the_apis_message() -> None:
    with MessagesStandIn() as api:
        client = anthropic.Anthropic(base_url=api.url, api_key="sk-ant-test", max_retries=0)
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(**request("claude-opus-5-5"))
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["message"] == FORCED_TOOL_CHOICE_ERROR


# -- both runners on every default tier model -----------------------------------------------------

@pytest.mark.parametrize("model", TIER_MODELS)
@pytest.mark.parametrize("client", CLIENTS)
def test_a_launch_on_each_default_tier_model_completes_against_the_api_stand_in(
        client: str, model: str, tmp_path: Path) -> None:
    with MessagesStandIn() as api:
        result = Orchestrator(tmp_path / "plans", model=make_runner(client, api, model)).launch(
            **SEED_REQUEST,
            out_dir=tmp_path / "out")
    assert result.status == "completed"
    assert set(api.statuses) == {200}
    assert {body["model"] for body in api.requests} == {model}
    kind = "tool" if model in FORCEABLE else "auto"
    assert {body["tool_choice"]["type"] for body in api.requests} == {kind}
    assert result.plan["usage"]["total"]["calls"] == api.billed == len(api.requests)


@pytest.mark.parametrize("model", ["claude-haiku-5-5", "claude-sonnet-5", "claude-opus-4-8"])
@pytest.mark.parametrize("client", CLIENTS)
def test_a_model_that_accepts_a_forced_tool_still_gets_the_stage_tool_forced(
        client: str, model: str) -> None:
    with MessagesStandIn() as api:
        make_runner(client, api, model).run(kit_call())
    (body,) = api.requests
    assert {k: body["tool_choice"][k] for k in ("type", "name")} == {
        "type": "tool", "name": "submit_partner_kit"}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_reply_without_a_tool_call_is_re_asked_once_and_both_requests_are_counted(
        client: str) -> None:
    with MessagesStandIn() as api:
        api.then(prose("I would start with the partner portal."))
        result = make_runner(client, api, "claude-sonnet-5-5").run(kit_call())
    assert result.usage is not None
    assert len(api.requests) == api.billed == result.usage.calls == 2
    assert tokens_of(result.usage) == served_totals(api)
    assert result.notes[0].startswith("re-asked: no call to submit_partner_kit")
    second = api.requests[1]
    assert second["tool_choice"]["type"] == "auto"
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    answer = second["messages"][1]["content"]
    assert [b["type"] for b in answer] == ["thinking", "text"]  # echoed as it came


@pytest.mark.parametrize("client", CLIENTS)
def test_two_replies_without_a_tool_call_fail_the_step_with_both_counted(client: str) -> None:
    with MessagesStandIn(default=prose()) as api, pytest.raises(InvalidAgentOutput) as info:
        make_runner(client, api, "claude-opus-5-5").run(kit_call())
    assert info.value.usage.calls == api.billed == len(api.requests) == 2


@pytest.mark.parametrize("client", CLIENTS)
def test_a_bad_tool_call_is_re_asked_with_its_thinking_block_sent_back_unmodified(
        client: str) -> None:
    with MessagesStandIn() as api:
        api.then(invalid())
        result = make_runner(client, api, "claude-sonnet-5-5").run(kit_call())
    assert result.usage is not None and result.usage.calls == 2
    assert set(api.statuses) == {200}
    sent_back = api.requests[1]["messages"][1]["content"]
    assert [b["type"] for b in sent_back] == ["thinking", "tool_use"]
    assert api.signatures[sent_back[1]["id"]] == sent_back[0]["signature"]


@pytest.mark.parametrize("client", CLIENTS)
def test_text_in_a_thinking_block_is_never_taken_for_the_answer(client: str) -> None:
    with MessagesStandIn() as api:
        api.then(prose("Drafting now.", thinking=json.dumps(kit_args())))
        result = make_runner(client, api, "claude-sonnet-5-5").run(kit_call())
    assert len(api.requests) == 2 and result.notes[0].startswith("re-asked: no call")


def test_a_json_answer_is_read_from_the_text_blocks_never_from_thinking() -> None:
    model = FakeMessagesListChatModel(responses=[
        AIMessage(content=[{"type": "thinking", "thinking": json.dumps(kit_args()),
                            "signature": "sig_1"},
                           {"type": "text", "text": "Let me think about the kit."}]),
        AIMessage(content=json.dumps(kit_args()))])
    result = ChatModelRunner(model, retry=NO_SLEEP).run(kit_call())
    assert result.notes == ["re-asked: the answer holds no JSON object"]


@pytest.mark.parametrize("client", CLIENTS)
def test_no_request_prefills_the_answer_or_sets_thinking_or_sampling(client: str) -> None:
    with MessagesStandIn() as api:
        api.then(prose(), answer(), invalid(), invalid())
        runner = make_runner(client, api, "claude-sonnet-5-5")
        runner.run(kit_call())
        with pytest.raises(InvalidAgentOutput):
            runner.run(kit_call())
    assert len(api.requests) == 4 and set(api.statuses) == {200}
    for body in api.requests:
        assert body["messages"][-1]["role"] == "user"
        assert not {"thinking", "temperature", "top_p", "top_k"} & set(body)
