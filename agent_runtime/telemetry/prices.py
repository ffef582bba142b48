"""What tokens cost: a price table (model -> USD per million input and output tokens).

``CONFIGURABLE_AGENTS_PRICES`` names a YAML or JSON file; without it no cost is recorded::

    gpt-4o-mini: {input: 0.15, output: 0.60}
    openai/gpt-4o: {input: 2.50, output: 10.00}   # provider/model wins over the bare model

A bad table is a clear error at start-up naming the entry, never a failed run later.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_runtime.errors import AgentRuntimeError

PRICES_ENV = "CONFIGURABLE_AGENTS_PRICES"


class PriceError(AgentRuntimeError, ValueError):
    """The price table cannot be read; the message names the file and the entry."""

    code = "invalid_prices"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: USD per million input (prompt) tokens.
    input: float = Field(ge=0)
    #: USD per million output (completion) tokens.
    output: float = Field(ge=0)


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        try:
            text = Path(path).read_text()
            raw = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise PriceError(f"{PRICES_ENV}={path}: cannot read the price table: {exc}") from None
        if not isinstance(raw, dict):
            raise PriceError(f"{PRICES_ENV}={path}: expected a mapping of model -> prices")
        prices: dict[str, Price] = {}
        for model, entry in raw.items():
            try:
                prices[str(model)] = Price.model_validate(entry)
            except ValidationError as exc:
                problem = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise PriceError(f"{PRICES_ENV}={path}: {model}: {problem}") from None
        return cls(prices)

    def cost(
        self, provider: str, model: str, input_tokens: int, output_tokens: int
    ) -> float | None:
        """USD for these tokens, or None when the model has no price."""
        price = self.prices.get(f"{provider}/{model}") or self.prices.get(model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


@lru_cache(maxsize=4)
def _load(path: str) -> PriceTable:
    return PriceTable.load(path)


def price_table() -> PriceTable | None:
    """The table ``CONFIGURABLE_AGENTS_PRICES`` names (read once), or None."""
    path = os.environ.get(PRICES_ENV, "").strip()
    return _load(path) if path else None
