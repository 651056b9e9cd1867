"""One price table for model calls: dollars per million tokens, from ``genai-prices``, overridable.

Prices come from the ``genai-prices`` data bundled with the installed package (maintained,
used by pydantic-ai; no network): per model, uncached input, output, prompt-cache reads and
5-minute cache writes, and the long-context tiers some models have (every token of a request
whose prompt is longer than the tier's threshold is billed at the tier's rate). A kind of
token the catalog gives no price for is billed like uncached input, as ``genai-prices``
itself computes it. ``Usage.input_tokens`` follows the Messages API and counts only the
*uncached* input, so

    prompt = input + cache_read + cache_write   (selects the tier)
    cost   = input * in + output * out + cache_write * write + cache_read * read

A model id the catalog does not know is priced like the dearest model of its provider
(``claude-...`` -> Anthropic's dearest; an id no provider claims -> the dearest of all), so a
budget is never passed because a price was unknown. Exact-id overrides win over the catalog:
``PriceTable.with_prices`` or a JSON file named by ``REFERRAL_ORCHESTRATOR_PRICES``
(``{"model-id": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75,
"long_context": [{"above": 200000, "input": 6, "output": 22.5}]}}``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from referral_orchestrator.errors import BudgetExceeded, ModelConfigError

PRICES_ENV = "REFERRAL_ORCHESTRATOR_PRICES"
_MTOK = 1_000_000
_FIELDS = {"input": "input_mtok", "output": "output_mtok", "cache_read": "cache_read_mtok",
           "cache_write": "cache_write_mtok"}


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of one model, with its long-context tiers."""

    input: float
    output: float
    cache_write: float | None = None  # default: 1.25 x input (5-minute cache)
    cache_read: float | None = None  # default: 0.1 x input
    # (threshold, price): a request whose prompt has more than ``threshold`` tokens is billed
    # entirely at ``price`` (the industry's "cliff" tiers); ascending thresholds.
    long_context: tuple[tuple[int, Price], ...] = ()

    @property
    def write(self) -> float:
        """Price of a prompt-cache write."""
        return self.input * 1.25 if self.cache_write is None else self.cache_write

    @property
    def read(self) -> float:
        """Price of a prompt-cache read."""
        return self.input * 0.1 if self.cache_read is None else self.cache_read

    def at(self, prompt_tokens: int) -> Price:
        """The flat price that applies to a request with ``prompt_tokens`` of prompt."""
        chosen = self
        for threshold, price in self.long_context:
            if prompt_tokens > threshold:
                chosen = price
        return chosen

    def dearest_rates(self) -> tuple[float, float]:
        """(output, input) at the dearest tier: the key for "the dearest known model"."""
        tiers = [self, *(p for _, p in self.long_context)]
        return max(p.output for p in tiers), max(p.input for p in tiers)

    def cost(self, *, input_tokens: int = 0, output_tokens: int = 0,
             cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float:
        """Dollar cost of one request's tokens (the tier follows the whole prompt's size)."""
        p = self.at(input_tokens + cache_read_tokens + cache_write_tokens)
        return (input_tokens * p.input + output_tokens * p.output
                + cache_write_tokens * p.write + cache_read_tokens * p.read) / _MTOK


def _rate(value: Decimal | TieredPrices | None, prompt_tokens: int) -> float | None:
    """The catalog's rate for a prompt of ``prompt_tokens`` (``genai-prices`` cliff rule)."""
    if value is None:
        return None
    if isinstance(value, TieredPrices):
        rate = value.base
        for tier in value.tiers:
            if prompt_tokens > tier.start:
                rate = tier.price
        return float(rate)
    return float(value)


def price_from_catalog(prices: ModelPrice) -> Price | None:
    """A :class:`Price` from a ``genai-prices`` model price (None if not priced per token)."""
    values = {name: getattr(prices, key) for name, key in _FIELDS.items()}
    if values["input"] is None or values["output"] is None:
        return None
    thresholds = sorted({t.start for v in values.values() if isinstance(v, TieredPrices)
                         for t in v.tiers})

    def flat(prompt_tokens: int) -> Price:
        rates = {name: _rate(v, prompt_tokens) for name, v in values.items()}
        base = rates["input"] or 0.0
        # genai-prices bills cache tokens it has no rate for like plain input: do the same
        return Price(input=base, output=rates["output"] or 0.0,
                     cache_write=base if rates["cache_write"] is None else rates["cache_write"],
                     cache_read=base if rates["cache_read"] is None else rates["cache_read"])

    tiers = tuple((t, flat(t + 1)) for t in thresholds)
    return replace(flat(0), long_context=tiers)


def _catalog_models(model: str) -> tuple[ModelInfo | None, list[ModelInfo]]:
    """The catalog entry of ``model`` and every model of its provider (all, if none claims it)."""
    snapshot = data_snapshot.get_snapshot()
    try:
        provider = snapshot.find_provider(model, None, None)
    except LookupError:
        return None, [m for p in snapshot.providers for m in p.models]
    return provider.find_model(model), list(provider.models)


@dataclass(frozen=True)
class PriceTable:
    """Exact-id overrides over the ``genai-prices`` catalog; unknown ids cost like the dearest.

    ``when`` is the date prices are looked up for (``None``: now) - the catalog knows
    price changes by date.
    """

    models: Mapping[str, Price] = field(default_factory=dict)
    when: dt.datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _cache: dict[str, tuple[Price, bool]] = field(default_factory=dict, repr=False,
                                                  compare=False)

    def price(self, model: str) -> Price:
        """The price of ``model``: override, else the catalog's, else its provider's dearest."""
        return self._lookup(model)[0]

    def knows(self, model: str) -> bool:
        """True when ``model`` has its own price (override or catalog), not a fallback."""
        return self._lookup(model)[1]

    def claims(self, model: str) -> bool:
        """True when ``model`` is known or a catalog provider claims its id (``gpt-``...)."""
        if self.knows(model):
            return True
        try:
            data_snapshot.get_snapshot().find_provider(model, None, None)
        except LookupError:
            return False
        return True

    def cost(self, model: str, **tokens: int) -> float:
        """Dollar cost of one request of ``model`` (token counts as keyword arguments)."""
        return self.price(model).cost(**tokens)

    def with_prices(self, prices: Mapping[str, Price | Mapping[str, Any]]) -> PriceTable:
        """A copy with extra exact-id prices; plain mappings (as in the JSON file) accepted."""
        models = dict(self.models)
        for key, value in prices.items():
            models[key] = value if isinstance(value, Price) else _price_from(key, value)
        return PriceTable(models, self.when)

    def _lookup(self, model: str) -> tuple[Price, bool]:
        with self._lock:
            hit = self._cache.get(model)
        if hit is not None:
            return hit
        found = (self.models[model], True) if model in self.models else self._from_catalog(model)
        with self._lock:
            self._cache[model] = found
        return found

    def _from_catalog(self, model: str) -> tuple[Price, bool]:
        when = self.when or dt.datetime.now(dt.UTC)
        entry, siblings = _catalog_models(model)
        own = price_from_catalog(entry.get_prices(when)) if entry is not None else None
        if own is not None:
            return own, True
        candidates = [p for p in (price_from_catalog(m.get_prices(when)) for m in siblings)
                      if p is not None]
        candidates += [p for key, p in self.models.items() if _same_provider(key, model)]
        return max(candidates, key=Price.dearest_rates), False


def _same_provider(a: str, b: str) -> bool:
    snapshot = data_snapshot.get_snapshot()
    ids = []
    for ref in (a, b):
        try:
            ids.append(snapshot.find_provider(ref, None, None).id)
        except LookupError:
            ids.append("")
    return ids[0] == ids[1]


def _price_from(key: str, value: Mapping[str, Any]) -> Price:
    try:
        tiers: Iterable[Mapping[str, Any]] = value.get("long_context") or ()
        long_context = tuple(sorted(
            ((int(t["above"]), _flat({k: v for k, v in t.items() if k != "above"}))
             for t in tiers), key=lambda pair: pair[0]))
        flat = _flat({k: v for k, v in value.items() if k != "long_context"})
        return replace(flat, long_context=long_context)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ModelConfigError(
            f"price for {key!r} is invalid ({exc!r}): give input and output dollars per "
            "million tokens, optionally cache_write, cache_read and long_context "
            "[{above, input, output}]") from exc


def _flat(value: Mapping[str, Any]) -> Price:
    rates = {k: float(v) for k, v in value.items()}
    unknown = set(rates) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    return Price(input=rates["input"], output=rates["output"],
                 cache_write=rates.get("cache_write"), cache_read=rates.get("cache_read"))


def default_price_table(environ: Mapping[str, str] | None = None) -> PriceTable:
    """The catalog, plus the JSON file named by ``REFERRAL_ORCHESTRATOR_PRICES``."""
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

    Every HTTP attempt first *reserves* its estimated cost; if spend so far, plus what
    parallel attempts have reserved, plus this estimate would pass the ceiling,
    :class:`BudgetExceeded` is raised and the request is never sent. Afterwards the
    reservation is settled at the billed cost from the response's usage block (0 when the
    response had none). So spend passes the ceiling only when attempts in flight cost
    more than their estimates, by at most those attempts' cost - one per parallel branch.
    """

    def __init__(self, max_usd: float | None = None, spent_usd: float = 0.0) -> None:
        if max_usd is not None and max_usd < 0:
            raise ModelConfigError(f"--max-cost-usd {max_usd} must be zero or more")
        self.max_usd = max_usd
        self.spent_usd = spent_usd
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, estimate_usd: float, what: str = "the next model call") -> None:
        """Hold ``estimate_usd`` for a request, or raise :class:`BudgetExceeded`."""
        with self._lock:
            projected = self.spent_usd + self._reserved + estimate_usd
            if self.max_usd is not None and projected > self.max_usd:
                raise BudgetExceeded(
                    f"{what} (about ${estimate_usd:.4f}) would take model spend to "
                    f"${projected:.4f}, past --max-cost-usd {self.max_usd:g}: raise the "
                    "budget, or answer the escalation (descope, postpone or halt)")
            self._reserved += estimate_usd

    def settle(self, estimate_usd: float, actual_usd: float) -> None:
        """Replace a reservation by the request's billed cost (0 when it was never billed)."""
        with self._lock:
            self._reserved = max(0.0, self._reserved - estimate_usd)
            self.spent_usd += actual_usd
