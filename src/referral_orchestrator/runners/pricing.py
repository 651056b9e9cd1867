"""One price table for model calls: dollars per million tokens, overridable.

Anthropic bills four kinds of tokens differently: uncached input, output, prompt-cache
writes (1.25x input for the default 5-minute cache) and prompt-cache reads (0.1x input).
``Usage.input_tokens`` follows the Messages API and counts only the *uncached* input, so

    cost = input * in + output * out + cache_write * write + cache_read * read

A model id is priced by exact match first, then by family (``haiku``, ``sonnet``,
``opus``) so dated snapshots and new generations are priced without a code change. An id
that matches nothing is priced like the most expensive family - a budget should never be
exceeded because a price was unknown. Override with ``PriceTable.with_prices`` or a JSON
file named by ``REFERRAL_ORCHESTRATOR_PRICES`` (``{"model-id": {"input": 3, "output": 15}}``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from referral_orchestrator.errors import BudgetExceeded, ModelConfigError

PRICES_ENV = "REFERRAL_ORCHESTRATOR_PRICES"
_MTOK = 1_000_000


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of one model."""

    input: float
    output: float
    cache_write: float | None = None  # default: 1.25 x input (5-minute cache)
    cache_read: float | None = None  # default: 0.1 x input

    @property
    def write(self) -> float:
        """Price of a prompt-cache write."""
        return self.input * 1.25 if self.cache_write is None else self.cache_write

    @property
    def read(self) -> float:
        """Price of a prompt-cache read."""
        return self.input * 0.1 if self.cache_read is None else self.cache_read

    def cost(self, *, input_tokens: int = 0, output_tokens: int = 0,
             cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float:
        """Dollar cost of one call's tokens."""
        return (input_tokens * self.input + output_tokens * self.output
                + cache_write_tokens * self.write + cache_read_tokens * self.read) / _MTOK


# List prices per million tokens for the families (update here, or override).
FAMILY_PRICES: dict[str, Price] = {
    "haiku": Price(input=1.0, output=5.0),
    "sonnet": Price(input=3.0, output=15.0),
    "opus": Price(input=5.0, output=25.0),
}
_MOST_EXPENSIVE = "opus"


@dataclass(frozen=True)
class PriceTable:
    """Exact-id prices over family prices; unknown ids cost like the dearest family."""

    models: Mapping[str, Price] = field(default_factory=dict)
    families: Mapping[str, Price] = field(default_factory=lambda: dict(FAMILY_PRICES))

    def price(self, model: str) -> Price:
        """The price of ``model`` (exact id, else its family, else the dearest family)."""
        if model in self.models:
            return self.models[model]
        for family, price in self.families.items():
            if family in model:
                return price
        return self.families.get(_MOST_EXPENSIVE) or max(
            self.families.values(), key=lambda p: p.output)

    def cost(self, model: str, **tokens: int) -> float:
        """Dollar cost of one call of ``model`` (token counts as keyword arguments)."""
        return self.price(model).cost(**tokens)

    def with_prices(self, prices: Mapping[str, Price | Mapping[str, float]]) -> PriceTable:
        """A copy with extra exact-id (or family) prices; plain mappings are accepted."""
        models, families = dict(self.models), dict(self.families)
        for key, value in prices.items():
            price = value if isinstance(value, Price) else _price_from(key, value)
            (families if key in families else models)[key] = price
        return PriceTable(models, families)


def _price_from(key: str, value: Mapping[str, Any]) -> Price:
    try:
        return Price(**{k: float(v) for k, v in value.items()})
    except (TypeError, ValueError) as exc:
        raise ModelConfigError(
            f"price for {key!r} is invalid ({exc}): give input and output dollars per "
            "million tokens, optionally cache_write and cache_read") from exc


def default_price_table(environ: Mapping[str, str] | None = None) -> PriceTable:
    """The built-in table, plus the JSON file named by ``REFERRAL_ORCHESTRATOR_PRICES``."""
    env = os.environ if environ is None else environ
    table = PriceTable()
    path = env.get(PRICES_ENV)
    if not path:
        return table
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelConfigError(
            f"{PRICES_ENV}={path} cannot be read as JSON ({exc}): fix the file or unset it",
        ) from exc
    if not isinstance(data, dict):
        raise ModelConfigError(f"{PRICES_ENV}={path} must hold an object of model -> price")
    return table.with_prices(data)


class Budget:
    """The launch's spend ceiling (``--max-cost-usd``), safe to share between threads.

    A call first *reserves* its estimated cost; if spend so far, plus what parallel calls
    have reserved, plus this estimate would pass the ceiling, :class:`BudgetExceeded` is
    raised and the call is never sent. Afterwards the reservation is settled at the
    actual cost from the response's usage.
    """

    def __init__(self, max_usd: float | None = None, spent_usd: float = 0.0) -> None:
        if max_usd is not None and max_usd < 0:
            raise ModelConfigError(f"--max-cost-usd {max_usd} must be zero or more")
        self.max_usd = max_usd
        self.spent_usd = spent_usd
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, estimate_usd: float, what: str = "the next model call") -> None:
        """Hold ``estimate_usd`` for a call, or raise :class:`BudgetExceeded`."""
        with self._lock:
            projected = self.spent_usd + self._reserved + estimate_usd
            if self.max_usd is not None and projected > self.max_usd:
                raise BudgetExceeded(
                    f"{what} (about ${estimate_usd:.4f}) would take model spend to "
                    f"${projected:.4f}, past --max-cost-usd {self.max_usd:g}: raise the "
                    "budget, or answer the escalation (descope, postpone or halt)")
            self._reserved += estimate_usd

    def settle(self, estimate_usd: float, actual_usd: float) -> None:
        """Replace a reservation by the call's actual cost (0 when it was never billed)."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - estimate_usd)
            self.spent_usd += actual_usd
