"""The Claude runner, through the real ``anthropic`` client on a mock HTTP transport."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import pytest

from mock_anthropic import (
    MockAnthropic,
    Reply,
    cut_off,
    disconnect,
    error,
    malformed,
    overloaded,
    prose,
    rate_limited,
    server_error,
    timeout,
)
from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import (
    AgentError,
    AgentTimeout,
    BudgetExceeded,
    InvalidAgentOutput,
    ModelConfigError,
)
from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners import AgentCall, resolve_runner
from referral_orchestrator.runners.anthropic import DEFAULT_TIERS, AnthropicRunner
from referral_orchestrator.runners.prompting import output_schema, tool_asked_for, tool_name
from referral_orchestrator.runners.retry import RetryPolicy
from support import AS_OF, SEED_REQUEST

REQUEST: dict[str, Any] = {"program": "Customer Advocates", "launch_date": "2026-12-10",
                           "as_of": AS_OF, "channels": ["email"], "audience": ["power users"],
                           "approvers": []}


class Sleeps:
    """An injected sleep that records waits and moves a fake monotonic clock."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def api() -> MockAnthropic:
    return MockAnthropic()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_runner(api: MockAnthropic, sleeps: Sleeps) -> Callable[..., AnthropicRunner]:
    def make(model: str = "claude-sonnet-5-5", *, attempts: int = 4, total: float = 90.0,
             **options: Any) -> AnthropicRunner:
        policy = RetryPolicy(max_attempts=attempts, max_total_s=total, sleep=sleeps.sleep,
                             clock=sleeps.clock, rng=lambda: 0.5)
        return AnthropicRunner(model, client=api.client(), retry=policy, environ={}, **options)

    return make


def partner_kit_call(**changes: Any) -> AgentCall:
    inputs = {"request": REQUEST, "landing_url": "https://www.example.com/refer/x",
              "channel": "partner-kit", "segment": "partners", "link": "",
              "charter": {"incentive": "$20 credit", "eligibility": "customers",
                          "caps": "10 a year", "clawback_window_days": 30,
                          "terms_url": "https://www.example.com/terms",
                          "success_metric": "active referred sign-ups"}}
    base: dict[str, Any] = {"agent": "partner-manager", "stage": "partner-kit",
                            "output_type": STAGE_OUTPUTS["partner-kit"], "inputs": inputs,
                            "key": "partner-kit"}
    return AgentCall(**{**base, **changes})


def test_default_tier_ids_are_models_the_installed_sdk_knows() -> None:
    known = typing.get_args(typing.get_args(anthropic.types.Model)[0])
    assert set(DEFAULT_TIERS.values()) <= set(known)


def test_a_full_launch_on_claude_completes_and_records_usage_per_agent(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner], tmp_path: Path) -> None:
    runner = make_runner()
    result = Orchestrator(tmp_path / "plans", model=runner).launch(
        **SEED_REQUEST,
        out_dir=tmp_path / "out")
    assert result.status == "completed"
    usage = result.plan["usage"]
    assert usage["total"]["calls"] == len(api.messages)
    assert {"lifecycle-ops", "partner-manager", "partner-ops"} <= set(usage["by_agent"])
    assert usage["total"]["cache_read_tokens"] > 0 and usage["total"]["cost_usd"] > 0
    assert [r["path"] for r in api.requests[:2]] == ["/v1/models/claude-haiku-5-5",
                                                     "/v1/models/claude-sonnet-5-5"]


def test_each_agent_runs_on_the_model_of_its_front_matter_tier(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    runner = make_runner("claude-opus-5-5")
    runner.run(partner_kit_call())
    runner.run(partner_kit_call(agent="lifecycle-ops"))
    assert [m["model"] for m in api.messages] == ["claude-sonnet-5-5", "claude-haiku-5-5"]
    assert runner.model_for("exec-sponsor") == "claude-opus-5-5"  # model: inherit


def test_pinning_the_model_runs_every_agent_on_it(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    runner = make_runner("claude-opus-5-5", pin=True)
    runner.run(partner_kit_call(agent="lifecycle-ops"))
    assert api.messages[0]["model"] == "claude-opus-5-5"
    env_pinned = AnthropicRunner("claude-sonnet-5-5", client=api.client(),
                                 environ={"REFERRAL_ORCHESTRATOR_AGENT_MODEL": "claude-haiku-5-5"})
    assert env_pinned.models_in_use() == ["claude-haiku-5-5"]


def test_tier_ids_are_configurable_and_must_be_claude_ids(api: MockAnthropic) -> None:
    runner = AnthropicRunner(client=api.client(), tiers={"haiku": "claude-haiku-4-5"},
                             environ={"REFERRAL_ORCHESTRATOR_SONNET_MODEL": "claude-sonnet-4-6"})
    assert runner.models_in_use() == ["claude-haiku-4-5", "claude-sonnet-4-6"]
    with pytest.raises(ModelConfigError):
        AnthropicRunner(client=api.client(), tiers={"haiku": "gpt-5"}, environ={})


def test_requests_carry_cached_system_blocks_all_stage_tools_and_ask_for_the_stage_tool(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    runner = make_runner()
    runner.run(partner_kit_call())
    runner.run(partner_kit_call(stage="enablement", output_type=STAGE_OUTPUTS["enablement"]))
    first, second = api.messages
    for body in (first, second):
        assert [b["type"] for b in body["system"]] == ["text", "text"]
        assert all(b["cache_control"] == {"type": "ephemeral"} for b in body["system"])
        assert [t["name"] for t in body["tools"]] == [tool_name(s) for s in STAGE_OUTPUTS]
        assert [("cache_control" in t) for t in body["tools"]] == [False] * 7 + [True]
    assert first["model"] == "claude-sonnet-5-5"  # refuses a forced tool_choice
    assert first["tool_choice"] == second["tool_choice"] == {
        "type": "auto", "disable_parallel_tool_use": True}
    assert tool_asked_for(first["messages"][0]["content"]) == "submit_partner_kit"
    assert first["tools"] == second["tools"]
    assert first["system"][0]["text"] == second["system"][0]["text"]  # persona + skills
    assert first["system"][1]["text"] != second["system"][1]["text"]  # stage prompt
    schema = next(t for t in first["tools"] if t["name"] == "submit_partner_kit")
    assert schema["input_schema"] == output_schema(STAGE_OUTPUTS["partner-kit"])


def test_the_sdks_own_retries_are_off_so_one_failure_is_one_request(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    api.then(server_error())
    with pytest.raises(AgentError) as info:
        make_runner(attempts=1).run(partner_kit_call())
    assert info.value.code == "model_retries_exhausted"
    assert len(api.messages) == 1


def test_a_429_is_retried_after_the_retry_after_the_server_asked_for(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner], sleeps: Sleeps) -> None:
    api.then(rate_limited(retry_after="7"))
    result = make_runner().run(partner_kit_call())
    assert len(api.messages) == 2
    assert sleeps.waits == [7.5]  # retry-after + half the jitter (rng pinned to 0.5)
    assert result.usage is not None and result.usage.calls == 1


@pytest.mark.parametrize("failure", [overloaded, server_error, timeout, disconnect,
                                     lambda: error(503, "api_error")])
def test_transient_failures_are_retried_with_growing_backoff(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner], sleeps: Sleeps,
        failure: Callable[[], Reply]) -> None:
    api.then(failure(), failure())
    make_runner().run(partner_kit_call())
    assert len(api.messages) == 3
    assert sleeps.waits == [1.5, 2.5]


def test_exhausted_timeouts_become_an_agent_timeout_after_the_attempt_limit(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    api.then(*[timeout() for _ in range(5)])
    with pytest.raises(AgentTimeout):
        make_runner(attempts=3).run(partner_kit_call())
    assert len(api.messages) == 3


def test_retries_stop_when_the_next_wait_would_pass_the_total_time_bound(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner], sleeps: Sleeps) -> None:
    api.then(rate_limited(retry_after="50"))
    with pytest.raises(AgentError) as info:
        make_runner(total=30).run(partner_kit_call())
    assert info.value.code == "model_retries_exhausted"
    assert len(api.messages) == 1 and sleeps.waits == []


@pytest.mark.parametrize(("status", "kind", "code"), [
    (400, "invalid_request_error", "model_request_refused"),
    (401, "authentication_error", "model_auth"),
    (403, "permission_error", "model_auth"),
])
def test_client_errors_are_not_retried(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner],
        status: int, kind: str, code: str) -> None:
    api.then(error(status, kind))
    with pytest.raises(AgentError) as info:
        make_runner().run(partner_kit_call())
    assert info.value.code == code
    assert len(api.messages) == 1


def test_invalid_output_is_re_asked_once_with_the_validation_error(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    api.then(malformed({"assets": [{"kind": "billboard"}]}))
    result = make_runner().run(partner_kit_call())
    assert len(api.messages) == 2
    follow_up = api.messages[1]["messages"]
    assert [m["role"] for m in follow_up] == ["user", "assistant", "user"]
    tool_result = follow_up[2]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["is_error"] is True
    (tool_use,) = [b for b in follow_up[1]["content"] if b["type"] == "tool_use"]
    assert tool_result["tool_use_id"] == tool_use["id"]
    assert "assets.0.kind" in tool_result["content"]
    assert result.usage is not None and result.usage.calls == 2


def test_output_invalid_twice_raises_invalid_agent_output(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    api.then(prose(), malformed({"assets": "none"}))
    with pytest.raises(InvalidAgentOutput):
        make_runner().run(partner_kit_call())
    assert len(api.messages) == 2


def test_an_answer_cut_off_at_max_tokens_is_asked_again_with_more_room(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    api.then(cut_off())
    make_runner(max_tokens=4000).run(partner_kit_call())
    assert [m["max_tokens"] for m in api.messages] == [4000, 8000]


def test_usage_records_cache_tokens_and_prices_them_from_the_table(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    runner = make_runner()
    first = runner.run(partner_kit_call()).usage
    second = runner.run(partner_kit_call()).usage
    assert first is not None and second is not None
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens and second.cache_write_tokens == 0
    price = runner.prices.price("claude-sonnet-5-5")
    assert second.cost_usd == pytest.approx(price.cost(
        input_tokens=second.input_tokens, output_tokens=second.output_tokens,
        cache_read_tokens=second.cache_read_tokens))


def test_a_call_that_would_pass_the_budget_is_never_sent(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    with pytest.raises(BudgetExceeded):
        make_runner(max_cost_usd=0.001).run(partner_kit_call())
    assert api.messages == []


def test_a_budget_breach_mid_launch_escalates_instead_of_crashing(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner], tmp_path: Path) -> None:
    runner = make_runner(max_cost_usd=0.03)
    result = Orchestrator(tmp_path / "plans", model=runner).launch(
        **SEED_REQUEST,
        out_dir=tmp_path / "out")
    assert result.status in ("awaiting_decision", "completed")
    assert result.plan["usage"]["total"]["cost_usd"] <= 0.03
    assert any("budget_exceeded" in t["reason"] for t in result.plan["transitions"])


def test_a_missing_key_is_reported_before_any_request(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "no-config"))
    runner = resolve_runner("claude-sonnet-5-5")
    with pytest.raises(ModelConfigError) as info:
        runner.preflight()  # type: ignore[attr-defined]
    assert info.value.code == "model_key_missing"


@pytest.mark.parametrize(("status", "kind", "code"), [
    (401, "authentication_error", "model_key_rejected"),
    (404, "not_found_error", "model_not_found"),
])
def test_a_rejected_key_or_unknown_model_stops_the_launch_before_anything_is_written(
        tmp_path: Path, sleeps: Sleeps, status: int, kind: str, code: str) -> None:
    api = MockAnthropic(models_reply=error(status, kind))
    runner = AnthropicRunner(client=api.client(), environ={},
                             retry=RetryPolicy(sleep=sleeps.sleep, clock=sleeps.clock))
    with pytest.raises(ModelConfigError) as info:
        Orchestrator(tmp_path / "plans", model=runner).launch(
            "Customer Advocates", "2026-12-10", "email", as_of=AS_OF)
    assert info.value.code == code and info.value.exit_code == 2
    assert len(api.requests) == 1 and api.messages == []
    assert not list((tmp_path / "plans").glob("plan-*.json"))


def test_the_cli_refuses_a_claude_model_without_a_key_with_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from referral_orchestrator.surfaces.cli import main

    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "no-config"))
    code = main(["launch-program", "--program", "Customer Advocates", "--launch-date",
                 "2026-12-10", "--channels", "email", "--as-of", AS_OF, "--model",
                 "claude-sonnet-5-5", "--plans-dir", str(tmp_path / "plans")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "ANTHROPIC_API_KEY" in err
    assert not (tmp_path / "plans").exists() or not list((tmp_path / "plans").iterdir())


def test_one_runner_serves_parallel_threads_and_counts_every_call(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    runner = make_runner(max_cost_usd=100.0)
    api.then(*[overloaded() for _ in range(3)])  # < max_attempts even if one thread gets all
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: runner.run(partner_kit_call()), range(16)))
    usages = [r.usage for r in results if r.usage is not None]
    assert sum(u.calls for u in usages) == 16 and len(api.messages) == 19
    assert runner.budget.spent_usd == pytest.approx(sum(u.cost_usd for u in usages))


def test_a_fanned_out_item_sends_its_shared_context_first_behind_a_cache_breakpoint(
        api: MockAnthropic, make_runner: Callable[..., AnthropicRunner]) -> None:
    make_runner().run(partner_kit_call(feedback=("comms.link partner-kit: no CTA link",)))
    context, item = api.messages[0]["messages"][0]["content"]
    assert context["cache_control"] == {"type": "ephemeral"} and "<context>" in context["text"]
    assert "cache_control" not in item and "comms.link partner-kit: no CTA link" in item["text"]
    own = json.loads(item["text"].split("<inputs>\n")[1].split("\n</inputs>")[0])
    assert own == {"channel": "partner-kit", "link": "", "segment": "partners"}


def test_each_command_closes_the_client_its_runner_built_and_leaves_a_given_one_open(
        tmp_path: Path) -> None:
    """A runner made from a model id is the command's: its HTTP client is closed at the end.

    A long-lived host (MCP server, notebook) runs many commands; each used to leave an open
    client (its connection pool) behind. A client the caller passed in stays the caller's.
    """
    api = MockAnthropic()
    built: list[Any] = []

    def factory() -> Any:
        built.append(api.client())
        return built[-1]

    orch = Orchestrator(tmp_path / "plans", model="claude-sonnet-5-5",
                        runner_options={"client_factory": factory, "environ": {}})
    first = orch.launch("Customer Advocates", "2026-12-10", "email", as_of=AS_OF,
                        approvers="legal", out_dir=tmp_path / "out")
    assert first.status == "awaiting_approval" and len(built) == 1
    assert built[0].is_closed()
    orch.approve(first.plan_id, "legal")
    assert len(built) == 2 and built[1].is_closed()

    given = api.client()
    mine = AnthropicRunner(client=given, environ={})
    Orchestrator(tmp_path / "plans2", model=mine).launch(
        "Customer Advocates", "2026-12-10", "email", as_of=AS_OF, out_dir=tmp_path / "out2")
    assert not given.is_closed()
    given.close()
