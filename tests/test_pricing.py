"""Model prices: the genai-prices catalog, long-context tiers, the unknown-model rule, overrides."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from referral_orchestrator.errors import ModelConfigError
from referral_orchestrator.runners.anthropic import DEFAULT_TIERS
from referral_orchestrator.runners.pricing import PRICES_ENV, Price, PriceTable, default_price_table

WHEN = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
TABLE = PriceTable(when=WHEN)


def genai_cost(model: str, *, input_tokens: int = 0, output_tokens: int = 0,
               cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float:
    """What genai-prices itself charges (its input_tokens include the cached ones)."""
    usage = GenaiUsage(input_tokens=input_tokens + cache_read_tokens + cache_write_tokens,
                       output_tokens=output_tokens, cache_read_tokens=cache_read_tokens,
                       cache_write_tokens=cache_write_tokens)
    return float(calc_price(usage, model, genai_request_timestamp=WHEN).total_price)


@pytest.mark.parametrize("model", [*DEFAULT_TIERS.values(), "claude-haiku-4-5",
                                   "claude-sonnet-4-5", "gpt-5.4-mini", "gpt-4o"])
@pytest.mark.parametrize("tokens", [
    {"input_tokens": 1200, "output_tokens": 800},
    {"input_tokens": 300, "output_tokens": 900, "cache_read_tokens": 9000,
     "cache_write_tokens": 2000},
    {"input_tokens": 150_000, "output_tokens": 4000, "cache_read_tokens": 60_000},
])
def test_costs_match_genai_prices_for_every_kind_of_token_and_prompt_size(
        model: str, tokens: dict[str, int]) -> None:
    assert TABLE.cost(model, **tokens) == pytest.approx(genai_cost(model, **tokens), rel=1e-9)


def test_the_default_tier_models_have_catalog_prices_not_a_fallback() -> None:
    assert all(TABLE.knows(model) for model in DEFAULT_TIERS.values())


def test_a_prompt_past_the_long_context_threshold_bills_every_token_at_the_tier_rate() -> None:
    price = TABLE.price("claude-haiku-5-5")
    assert price.long_context, "haiku 5.5 has a long-context tier in the catalog"
    threshold, tier = price.long_context[0]
    short = price.cost(input_tokens=threshold, output_tokens=1000)
    long = price.cost(input_tokens=threshold + 1, output_tokens=1000)
    assert long > 4 * short
    # cached tokens count towards the prompt size too
    assert price.at(threshold + 1) is tier
    assert price.cost(input_tokens=10, cache_read_tokens=threshold) == pytest.approx(
        (10 * tier.input + threshold * tier.read) / 1e6)


def test_an_unknown_claude_id_costs_like_the_dearest_known_anthropic_model() -> None:
    unknown = TABLE.price("claude-tomorrow-9")
    assert not TABLE.knows("claude-tomorrow-9") and TABLE.claims("claude-tomorrow-9")
    for model in [*DEFAULT_TIERS.values(), "claude-opus-4-8", "claude-fable-5-2"]:
        known = TABLE.price(model)
        assert unknown.output >= known.output and unknown.input >= known.input


def test_an_unknown_openai_id_costs_like_the_dearest_known_openai_model() -> None:
    assert TABLE.price("gpt-tomorrow").output >= TABLE.price("gpt-5.4-mini").output
    assert TABLE.claims("gpt-tomorrow")


def test_a_name_no_provider_claims_is_not_priced_by_chat_runners() -> None:
    assert not TABLE.claims("my-local-llama")


def test_an_override_file_wins_and_may_give_long_context_tiers(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"claude-sonnet-5-5": {
        "input": 3, "output": 15, "long_context": [{"above": 200_000, "input": 6,
                                                    "output": 22.5}]}}))
    table = default_price_table({PRICES_ENV: str(path)})
    price = table.price("claude-sonnet-5-5")
    assert (price.input, price.output, price.read, price.write) == pytest.approx((3, 15, 0.3, 3.75))
    assert price.at(200_001).output == 22.5
    assert table.price("claude-haiku-5-5") == default_price_table({}).price("claude-haiku-5-5")


@pytest.mark.parametrize("content", ['["not", "an object"]', "{oops",
                                     '{"m": {"input": "three", "output": 1}}',
                                     '{"m": {"input": 1, "output": 1, "speed": 2}}'])
def test_a_broken_override_file_is_a_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ModelConfigError) as info:
        default_price_table({PRICES_ENV: str(path)})
    assert info.value.exit_code == 2


def test_with_prices_accepts_price_objects_and_plain_mappings() -> None:
    table = TABLE.with_prices({"a-model": Price(input=1, output=2),
                               "b-model": {"input": 3, "output": 4, "cache_read": 0.5}})
    assert table.knows("a-model") and table.price("b-model").read == 0.5
    assert table.cost("a-model", input_tokens=1_000_000, output_tokens=1_000_000) == 3.0
