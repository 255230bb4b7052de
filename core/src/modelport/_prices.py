"""Prices of models, in dollars per million tokens, and what a call cost.

Prices come from the `register_prices` hook (a plugin ships a table; an installed
distribution with an entry point of the `modelport.prices` group is loaded the first time a
price is looked up) or from `Registry.register_price`. A model name is matched exactly
(`"openai/gpt-4o"`), else by the longest pattern with `*` that matches
(`"openai/gpt-4o-2024-*"`).

A call sent through a provider's batch API (`GenerateConfig(batch=...)`) is priced at the
price's `batch` multiplier: by default the provider's documented batch discount
(`BATCH_DISCOUNTS`: half price for OpenAI, Anthropic, Google's Gemini API and Mistral).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping

import attrs

from ._output import ModelUsage

__all__ = ["BATCH_DISCOUNTS", "Price", "call_cost"]

BATCH_DISCOUNTS: Mapping[str, float] = {
    "anthropic": 0.5,  # Message Batches: 50% of the standard prices, on all usage
    "google": 0.5,  # Gemini API batch mode: 50% of the standard price
    "mistral": 0.5,  # Batch API: 50% of the standard price
    "openai": 0.5,  # Batch API: 50% of the standard price, input and output
}
"""The multiplier of a batched call's price, per provider, as each documents it (a provider
not listed: 1, no discount)."""


def _dollars(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a price must be a number of dollars, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a price must be a finite number of dollars >= 0, not {value!r}")
    return float(value)


def _multiplier(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a batch multiplier must be a number, not {value!r}")
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"a batch multiplier must be a number from 0 to 1, not {value!r}")
    return float(value)


def _required(value: float) -> float:
    dollars = _dollars(value)
    if dollars is None:
        raise TypeError("a price must be a number of dollars, not None")
    return dollars


@attrs.frozen
class Price:
    """What a model's tokens cost, in dollars per million tokens."""

    input: float = attrs.field(converter=_required)
    """Each million input tokens (not read from or written to the provider's prompt cache)."""

    output: float = attrs.field(converter=_required)
    """Each million output tokens (reasoning included)."""

    cache_read: float | None = attrs.field(default=None, converter=_dollars)
    """Each million input tokens read from the prompt cache (None: the input price)."""

    cache_write: float | None = attrs.field(default=None, converter=_dollars)
    """Each million input tokens written to the prompt cache (None: the input price)."""

    batch: float | None = attrs.field(default=None, converter=_multiplier)
    """What a call sent through the provider's batch API pays, as a multiplier of every
    price above (0.5: half price); None: the provider's documented discount
    (`BATCH_DISCOUNTS`), else 1."""

    def batch_multiplier(self, provider: str) -> float:
        """The multiplier of a batched call of `provider` at this price."""
        if self.batch is not None:
            return self.batch
        return BATCH_DISCOUNTS.get(provider, 1.0)


def call_cost(usage: ModelUsage | None, price: Price, multiplier: float = 1.0) -> float | None:
    """Dollars a call with this usage cost at `price` (times `multiplier`: a batched call's
    `Price.batch_multiplier`); None without usage.

    The input tokens not read from or written to the prompt cache are `total_tokens` less the
    output and cache tokens (so it holds whether a provider counts cached tokens in
    `input_tokens`, as OpenAI does, or apart, as Anthropic does).
    """
    if usage is None:
        return None
    read = usage.input_tokens_cache_read or 0
    write = usage.input_tokens_cache_write or 0
    total = usage.total_tokens or (usage.input_tokens + usage.output_tokens)
    plain = max(0, total - usage.output_tokens - read - write)
    read_price = price.input if price.cache_read is None else price.cache_read
    write_price = price.input if price.cache_write is None else price.cache_write
    dollars = (
        plain * price.input
        + usage.output_tokens * price.output
        + read * read_price
        + write * write_price
    )
    return dollars * multiplier / 1_000_000


def find_price(prices: dict[str, Price], model: str) -> Price | None:
    """The price of `model` ("<provider>/<name>"): exact, else the longest matching pattern."""
    found = prices.get(model)
    if found is not None:
        return found
    best: tuple[int, Price] | None = None
    for pattern, price in prices.items():
        longer = best is None or len(pattern) > best[0]
        if longer and "*" in pattern and fnmatch.fnmatchcase(model, pattern):
            best = (len(pattern), price)
    return None if best is None else best[1]
