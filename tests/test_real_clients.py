"""The runners with real provider clients over real HTTP, against loopback API stand-ins.

Three clients: the ``anthropic`` SDK (``AnthropicRunner``), ``langchain_anthropic.ChatAnthropic``
and ``langchain_openai.ChatOpenAI`` (both through ``ChatModelRunner``). Each test counts what
the stand-in saw: every request the retry policy sent (never the SDK's own retries on top)
and every billed response (counted in the usage, on success and on failure alike).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price
from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import (
    AgentError,
    AgentTimeout,
    BudgetExceeded,
    InvalidAgentOutput,
)
from referral_orchestrator.runners import AgentResult, Usage
from referral_orchestrator.runners.anthropic import AnthropicRunner
from referral_orchestrator.runners.chat_model import ChatModelRunner
from referral_orchestrator.runners.retry import no_wait_policy
from referral_orchestrator.surfaces.cli import main
from standins import (
    ChatCompletionsStandIn,
    MessagesStandIn,
    Reply,
    StandIn,
    answer,
    billed_error,
    hang,
    invalid,
    overloaded,
    pricey,
    rate_limited,
    served_totals,
    server_error,
)
from support import SEED, SEED_REQUEST
from test_chat_model_runner import kit_call

CLIENTS = ["anthropic-sdk", "chat-anthropic", "chat-openai"]
MODEL = {"anthropic-sdk": "claude-sonnet-5-5", "chat-anthropic": "claude-haiku-5-5",
         "chat-openai": "gpt-5.4-mini"}
SHORT_TIMEOUT = 0.2  # seconds: the client gives up on a hung request this fast
ATTEMPTS = 4  # RetryPolicy's default max_attempts


def make_stand_in(client: str, default: Reply | None = None) -> StandIn:
    return (ChatCompletionsStandIn if client == "chat-openai" else MessagesStandIn)(
        default=default)


def make_runner(client: str, api: StandIn, *, timeout: float = 30.0,
                **options: Any) -> AnthropicRunner | ChatModelRunner:
    """A runner on the real client, SDK retries left at their default (2) on purpose."""
    if client == "anthropic-sdk":
        sdk = anthropic.Anthropic(base_url=api.url, api_key="sk-ant-test")
        assert sdk.max_retries == 2
        return AnthropicRunner(MODEL[client], client=sdk, retry=no_wait_policy(),
                               timeout=timeout, environ={}, **options)
    if client == "chat-anthropic":
        model: Any = ChatAnthropic(model_name=MODEL[client], base_url=api.url,
                                   api_key="sk-ant-test", timeout=timeout)
    else:
        model = ChatOpenAI(model=MODEL[client], base_url=api.url + "/v1", api_key="sk-test",
                           timeout=timeout)
    return ChatModelRunner(model, retry=no_wait_policy(), **options)


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def serve(client: str) -> Iterator[Callable[..., StandIn]]:
    """Start the client's stand-in (optionally with a default reply); stop it after the test."""
    started: list[StandIn] = []

    def start(default: Reply | None = None) -> StandIn:
        api = make_stand_in(client, default).__enter__()
        started.append(api)
        return api

    yield start
    for api in started:
        api.__exit__(None, None, None)


def billed_cost(api: StandIn) -> float:
    """What the provider would charge for the usage blocks the stand-in sent (genai-prices)."""
    total = 0.0
    for model, block in zip(api.billed_models, api.usage_sent, strict=True):
        if "prompt_tokens" in block:
            usage = GenaiUsage(input_tokens=block["prompt_tokens"],
                               cache_read_tokens=block["prompt_tokens_details"]["cached_tokens"],
                               output_tokens=block["completion_tokens"])
        else:
            read, write = block["cache_read_input_tokens"], block["cache_creation_input_tokens"]
            usage = GenaiUsage(input_tokens=block["input_tokens"] + read + write,
                               cache_read_tokens=read, cache_write_tokens=write,
                               output_tokens=block["output_tokens"])
        total += float(calc_price(usage, model).total_price)
    return total


def tokens_of(usage: Usage) -> dict[str, int]:
    return {k: getattr(usage, k) for k in ("input_tokens", "output_tokens",
                                           "cache_read_tokens", "cache_write_tokens")}


# -- retries: one layer, exact request counts -------------------------------------------------

@pytest.mark.parametrize("failure", [rate_limited, server_error, overloaded])
def test_a_failing_call_sends_exactly_the_policys_attempts_whatever_the_client(
        client: str, serve: Callable[..., StandIn], failure: Callable[[], Reply]) -> None:
    api = serve(default=failure())
    with pytest.raises(AgentError) as info:
        make_runner(client, api).run(kit_call())
    assert info.value.code == "model_retries_exhausted"
    assert len(api.requests) == ATTEMPTS and api.billed == 0


def test_a_hung_server_costs_exactly_the_policys_attempts_of_the_client_timeout(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve(default=hang())
    with pytest.raises(AgentTimeout):
        make_runner(client, api, timeout=SHORT_TIMEOUT).run(kit_call())
    assert len(api.requests) == ATTEMPTS


def test_a_429_then_an_answer_is_two_requests_and_one_billed_call(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve().then(rate_limited(retry_after="3"))
    result = make_runner(client, api).run(kit_call())
    assert (len(api.requests), api.billed) == (2, 1)
    assert result.usage is not None and result.usage.calls == 1


# -- usage: every billed response counted ------------------------------------------------------

def test_a_529_then_a_valid_answer_records_the_billed_response_and_its_cost(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve().then(overloaded())
    result = make_runner(client, api).run(kit_call())
    assert (len(api.requests), api.billed) == (2, 1)
    assert isinstance(result, AgentResult) and result.usage is not None
    assert result.usage.calls == api.billed
    assert tokens_of(result.usage) == served_totals(api)
    assert result.usage.cost_usd == pytest.approx(billed_cost(api), abs=1e-7)


def test_output_that_never_validates_is_still_counted_on_the_error(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve(default=invalid())
    runner = make_runner(client, api)
    with pytest.raises(InvalidAgentOutput) as info:
        runner.run(kit_call())
    usage = info.value.usage
    assert isinstance(usage, Usage)
    assert usage.calls == api.billed == len(api.requests) == 2  # the answer and the re-ask
    assert tokens_of(usage) == served_totals(api)
    assert usage.cost_usd == pytest.approx(billed_cost(api), abs=1e-7)
    assert runner.budget.spent_usd == pytest.approx(usage.cost_usd, abs=1e-7)


def test_mixed_failures_count_every_billed_response_and_only_those(
        client: str, serve: Callable[..., StandIn]) -> None:
    # ask 1: 429, then an invalid answer (billed); the re-ask: 500, a 500 that was billed,
    # then a valid answer (billed)
    api = serve().then(rate_limited(), invalid(), server_error(), billed_error(), answer())
    result = make_runner(client, api).run(kit_call())
    assert result.usage is not None
    assert (len(api.requests), api.billed, result.usage.calls) == (5, 3, 3)
    assert tokens_of(result.usage) == served_totals(api)
    assert result.usage.cost_usd == pytest.approx(billed_cost(api), abs=1e-7)


def test_a_step_that_gives_up_after_billed_failures_carries_their_usage(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve(default=billed_error())
    with pytest.raises(AgentError) as info:
        make_runner(client, api).run(kit_call())
    assert info.value.code == "model_retries_exhausted"
    assert info.value.usage.calls == api.billed == len(api.requests) == ATTEMPTS


# -- whole launches: the plan's usage is what the provider billed ------------------------------

def launch(runner: Any, tmp_path: Path, **options: Any) -> Any:
    return Orchestrator(tmp_path / "plans", model=runner, **options).launch(
        **SEED_REQUEST,
        out_dir=tmp_path / "out")


def test_a_launch_on_a_model_that_never_answers_validly_records_every_billed_request(
        client: str, serve: Callable[..., StandIn], tmp_path: Path) -> None:
    api = serve(default=invalid())
    runner = make_runner(client, api)
    result = launch(runner, tmp_path)
    assert result.status == "awaiting_decision"
    total = result.plan["usage"]["total"]
    assert total["calls"] == api.billed == len(api.requests)
    assert total["cost_usd"] == pytest.approx(billed_cost(api), abs=1e-6)
    assert runner.budget.spent_usd == pytest.approx(total["cost_usd"], abs=1e-6)


def test_a_launch_with_mixed_failures_records_every_billed_request(
        client: str, serve: Callable[..., StandIn], tmp_path: Path) -> None:
    api = serve().then(overloaded(), invalid(), billed_error(), rate_limited(), invalid(),
                       server_error(), invalid())
    result = launch(make_runner(client, api), tmp_path)
    assert result.status == "completed" and api.unused == 0
    total = result.plan["usage"]["total"]
    assert total["calls"] == api.billed == len(api.requests) - 3
    assert {k: total[k] for k in served_totals(api)} == served_totals(api)
    assert total["cost_usd"] == pytest.approx(billed_cost(api), abs=1e-6)


def test_the_budget_counts_invalid_answers_and_is_never_passed(
        client: str, serve: Callable[..., StandIn], tmp_path: Path) -> None:
    # budgets that let a few requests through: each is reserved at a deliberately high
    # estimate (2048 output tokens for chat models), then settled at what it was billed
    budget = {"anthropic-sdk": 0.003, "chat-anthropic": 0.002, "chat-openai": 0.015}[client]
    api = serve(default=invalid())
    runner = make_runner(client, api, max_cost_usd=budget)
    result = launch(runner, tmp_path)
    total = result.plan["usage"]["total"]
    assert total["calls"] == api.billed == len(api.requests) > 1
    assert total["cost_usd"] == pytest.approx(runner.budget.spent_usd, abs=1e-6)
    assert total["cost_usd"] <= budget
    assert any("budget_exceeded" in t["reason"] for t in result.plan["transitions"])


def test_a_response_dearer_than_its_estimate_passes_the_budget_once_then_nothing_is_sent(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve(default=pricey())
    runner = make_runner(client, api, max_cost_usd=0.05)
    runner.run(kit_call())
    overshoot = runner.budget.spent_usd - 0.05
    assert overshoot > 0  # the one request in flight cost more than its estimate
    with pytest.raises(BudgetExceeded):
        runner.run(kit_call())
    assert len(api.requests) == api.billed == 1
    assert runner.budget.spent_usd == pytest.approx(billed_cost(api), abs=1e-7)


def test_parallel_branches_pass_the_budget_by_at_most_one_request_each(
        client: str, serve: Callable[..., StandIn]) -> None:
    api = serve(default=pricey())
    runner = make_runner(client, api, max_cost_usd=0.05)

    def branch(_: int) -> str:
        try:
            runner.run(kit_call())
            runner.run(kit_call())  # each branch tries a second request after its first
        except BudgetExceeded as exc:
            return exc.code
        return "completed"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(branch, range(4)))
    assert outcomes == ["budget_exceeded"] * 4
    assert 1 <= len(api.requests) == api.billed <= 4  # no branch got a second request out
    per_request = billed_cost(api) / api.billed
    assert runner.budget.spent_usd <= 0.05 + api.billed * per_request + 1e-9


def test_the_cli_on_a_claude_id_records_every_billed_request_in_the_plan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with MessagesStandIn(default=invalid()) as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        code = main([*SEED, "--model", "claude-sonnet-5-5", "--plans-dir", str(tmp_path / "plans"),
                     "--out", str(tmp_path / "out"), "--format", "json"])
        data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["status"] == "awaiting_decision"
    plan = json.loads(Path(data["plan_path"]).read_text())
    assert plan["usage"]["total"]["calls"] == api.billed == len(api.requests) > 2


# -- the clients themselves ----------------------------------------------------------------------

def _literals(alias: Any) -> set[str]:
    found: set[str] = set()
    for arg in typing.get_args(alias):
        found |= {arg} if isinstance(arg, str) else _literals(arg)
    return found


def test_the_models_these_tests_run_are_in_the_installed_sdks_model_lists() -> None:
    assert {MODEL["anthropic-sdk"], MODEL["chat-anthropic"]} <= _literals(anthropic.types.Model)
    assert MODEL["chat-openai"] in _literals(openai.types.ChatModel)


def test_chat_openai_clients_built_at_construction_are_rebuilt_without_retries() -> None:
    model = ChatOpenAI(model="gpt-5.4-mini", base_url="http://127.0.0.1:9/v1",
                       api_key="sk-test")
    copy: Any = ChatModelRunner(model, retry=no_wait_policy()).model
    assert (copy.root_client.max_retries, copy.root_async_client.max_retries) == (0, 0)
    assert copy.client._client is copy.root_client
    assert copy.async_client._client is copy.root_async_client
    assert model.root_client.max_retries == 2  # the caller's model is left alone


def test_chat_anthropic_lazily_built_client_comes_up_without_retries() -> None:
    model = ChatAnthropic(model_name="claude-haiku-5-5", base_url="http://127.0.0.1:9",
                          api_key="sk-ant-test")
    assert model._client.max_retries == 2  # built before the runner sees the model
    copy: Any = ChatModelRunner(model, retry=no_wait_policy()).model
    assert copy._client.max_retries == 0 and copy._async_client.max_retries == 0
