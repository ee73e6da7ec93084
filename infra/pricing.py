"""Model prices (USD per million tokens) and the cost of a call.

Defaults are the providers' published list prices for standard (non-batch, non-cached) usage as of 2025; prices
change, so ``pricing:`` in the config overrides or extends them. A model missing from both costs 0 and is
reported as unpriced."""

from __future__ import annotations

from collections.abc import Mapping

from schemas.config import ModelPrice

__all__ = ["DEFAULT_PRICES", "PriceTable"]

DEFAULT_PRICES: dict[str, ModelPrice] = {
    name: ModelPrice(input_per_mtok=i, output_per_mtok=o)
    for name, (i, o) in {
        # OpenAI
        "gpt-4o": (2.50, 10.00),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "o3": (2.00, 8.00),
        "o3-mini": (1.10, 4.40),
        "o4-mini": (1.10, 4.40),
        # Anthropic
        "claude-opus-4": (15.00, 75.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-3-7-sonnet": (3.00, 15.00),
        "claude-3-5-sonnet": (3.00, 15.00),
        "claude-3-5-haiku": (0.80, 4.00),
        "claude-3-haiku": (0.25, 1.25),
        # Google
        "gemini-2.5-pro": (1.25, 10.00),
        "gemini-2.5-flash": (0.30, 2.50),
        "gemini-2.0-flash": (0.10, 0.40),
        "gemini-1.5-pro": (1.25, 5.00),
        "gemini-1.5-flash": (0.075, 0.30),
    }.items()
}


class PriceTable:
    """Prices by model name; a dated or suffixed name (``claude-3-5-haiku-20241022``) matches its base."""

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._by_length = sorted(self._prices, key=len, reverse=True)

    def price(self, model: str) -> ModelPrice | None:
        found = self._prices.get(model)
        if found is not None:
            return found
        base = model.split("/")[-1]
        for name in self._by_length:  # longest prefix first: gpt-4o-mini before gpt-4o
            if base.startswith(name):
                return self._prices[name]
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.price(model)
        if p is None:
            return 0.0
        return (prompt_tokens * p.input_per_mtok + completion_tokens * p.output_per_mtok) / 1_000_000

    def estimate(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Like :meth:`cost` but ``None`` when the model has no price (strategies rank those last)."""
        return None if self.price(model) is None else self.cost(model, prompt_tokens, completion_tokens)
