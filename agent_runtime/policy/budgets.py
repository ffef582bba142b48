"""Namespace budgets: tokens and estimated cost a namespace may spend per UTC day and month.

Set by the installer under ``budgets:`` in the platform policy file (the one
``CONFIGURABLE_AGENTS_POLICY_FILE`` names; Helm ``policy.budgets``), never by a Workflow::

    budgets:
      onExceeded: pause            # or fail
      prices:                      # currency units per million tokens; most specific key wins:
        openai/gpt-4o: {input: 2.5, output: 10}   # provider/model, then model,
        openai/*: {input: 1, output: 4}           # then provider/*, then *
      namespaces:
        team-a: {tokensPerDay: 2000000, costPerMonth: 300}
        "*": {tokensPerDay: 500000}               # every namespace not named

Every mistake is a PolicyError of one line naming the file and the key
(``budgets.namespaces.team-a.tokensPerDay: must be >= 0``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from agent_runtime.policy.loading import BUDGETS_KEY, FILE_VARIABLE, read_policy_file
from agent_runtime.policy.model import PolicyError
from agent_runtime.spec.common import SpecModel
from agent_runtime.spec.errors import join_path
from agent_runtime.telemetry.prices import Price

ANY = "*"
#: A namespace name (an RFC 1123 label).
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
OnExceeded = Literal["fail", "pause"]
#: The limits, as the file names them (and as ``BudgetExceeded.limit`` reports them).
LIMITS = ("tokensPerDay", "tokensPerMonth", "costPerDay", "costPerMonth")


class NamespaceBudget(SpecModel):
    """What one namespace may spend; a limit left out is no limit."""

    tokens_per_day: int | None = Field(default=None, ge=0)
    tokens_per_month: int | None = Field(default=None, ge=0)
    cost_per_day: float | None = Field(default=None, ge=0)
    cost_per_month: float | None = Field(default=None, ge=0)

    @property
    def limited(self) -> bool:
        return any(getattr(self, f) is not None for f in type(self).model_fields)

    @property
    def limits_cost(self) -> bool:
        return self.cost_per_day is not None or self.cost_per_month is not None


class BudgetPolicy(SpecModel):
    """The platform's namespace budgets and the price table their costs are estimated with."""

    #: At a limit: fail the node naming the limit, or pause the run at an approval.
    on_exceeded: OnExceeded = "pause"
    #: ``provider/model``, ``model``, ``provider/*`` or ``*`` -> price per million tokens.
    prices: dict[str, Price] = Field(default_factory=dict)
    #: A namespace, or ``*`` for every namespace not named -> its budget.
    namespaces: dict[str, NamespaceBudget] = Field(default_factory=dict)

    @field_validator("prices")
    @classmethod
    def _price_keys(cls, value: dict[str, Price]) -> dict[str, Price]:
        for key in value:
            provider, slash, model = key.partition("/")
            if not key.strip() or key != key.strip() or (slash and not (provider and model)):
                raise ValueError(
                    f"{key!r}: expected provider/model, model, provider/* or * as the key"
                )
            if ANY in key and key != ANY and not (slash and model == ANY and ANY not in provider):
                raise ValueError(f"{key!r}: * stands for a whole model (provider/*) or for all")
        return value

    @field_validator("namespaces")
    @classmethod
    def _namespace_keys(cls, value: dict[str, NamespaceBudget]) -> dict[str, NamespaceBudget]:
        for key in value:
            if key != ANY and not _NAMESPACE.fullmatch(key):
                raise ValueError(f"{key!r}: expected a namespace name or *")
        return value

    @model_validator(mode="after")
    def _priced(self) -> BudgetPolicy:
        if not self.prices:
            for name, budget in self.namespaces.items():
                if budget.limits_cost:
                    field = "costPerDay" if budget.cost_per_day is not None else "costPerMonth"
                    raise ValueError(
                        f"namespaces.{name}.{field}: a cost limit needs prices (budgets.prices "
                        "is empty, so every call would cost 0)"
                    )
        return self

    def budget_for(self, namespace: str) -> NamespaceBudget | None:
        """The namespace's own budget, else the ``*`` one, else None (no budget)."""
        return self.namespaces.get(namespace) or self.namespaces.get(ANY)

    def price_for(self, provider: str, model: str) -> Price | None:
        for key in (f"{provider}/{model}", model, f"{provider}/{ANY}", ANY):
            if (price := self.prices.get(key)) is not None:
                return price
        return None

    def cost(self, provider: str, model: str, input_tokens: int, output_tokens: int) -> float:
        """The estimated cost of these tokens; 0 for a model the table does not price."""
        price = self.price_for(provider, model)
        if price is None:
            return 0.0
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


def budgets_from(data: Any, *, where: str = "") -> BudgetPolicy:
    """The budgets of a policy file's ``budgets:`` value; errors name ``where`` and the key."""
    prefix = f"{where}: " if where else ""
    if not isinstance(data, Mapping):
        expected = "expected a mapping (onExceeded, prices, namespaces)"
        raise PolicyError(f"{prefix}{BUDGETS_KEY}: {expected}")
    try:
        return BudgetPolicy.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if not error["loc"]:  # a rule over several settings names its key in the message
            raise PolicyError(f"{prefix}{BUDGETS_KEY}.{_message(error)}") from None
        path = join_path((BUDGETS_KEY, *error["loc"]))
        raise PolicyError(f"{prefix}{path}: {_message(error)}") from None


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "extra_forbidden":
        return "unknown setting"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "expected a whole number"
    if kind in ("float_parsing", "float_type"):
        return "expected a number"
    message: str = error["msg"]
    return message.removeprefix("Value error, ")


def load_budget_policy(
    environ: Mapping[str, str] | None = None, *, file: str | Path | None = None
) -> BudgetPolicy | None:
    """The budgets of the platform policy file (``file``, else the one the environment names);
    None when there is no file or it sets no budgets."""
    env = os.environ if environ is None else environ
    chosen = file if file is not None else (env.get(FILE_VARIABLE, "").strip() or None)
    if chosen is None:
        return None
    data = read_policy_file(chosen).get(BUDGETS_KEY)
    if data is None:
        return None
    return budgets_from(data, where=str(chosen))
