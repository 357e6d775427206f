"""What a request cost: its usage (tokens the upstream reported, streams included) priced by LiteLLM's
bundled price map. One place for the `grid_cost_usd_total` metric and for keys' budgets, so both
count the same dollars."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from gateway.model_map import cost_per_token


def priced_model(dep: Any) -> str | None:
    """The name to price a deployment by: `model_info.base_model` (e.g. behind an Azure name) first."""
    if dep is None:
        return None
    return dep.model_info.get("base_model") or dep.model


def usage_tokens(scope: Scope) -> tuple[int, int] | None:
    """(prompt, completion) tokens the upstream reported for this request; None when it did not."""
    usage = scope.get("grid.usage")
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return prompt, completion


def cost(model: str | None, prompt: int, completion: int) -> float:
    prices = cost_per_token(model) if model else None
    return prompt * prices[0] + completion * prices[1] if prices else 0.0


# deployment -> its (input, output) price per token, or None: looked up once per deployment (a
# deployment hashes by identity), not three calls deep per request; a reload's new deployments are
# new keys, and the table is emptied should reloads ever pile up more than `_PRICED_MAX` of them
_PRICES: dict[Any, tuple[float, float] | None] = {}
_PRICED_MAX = 4096


def deployment_cost(dep: Any, prompt: int, completion: int) -> float:
    """`cost` of `prompt` and `completion` tokens served by `dep` (priced by `priced_model`)."""
    try:
        prices = _PRICES[dep]
    except KeyError:
        if len(_PRICES) >= _PRICED_MAX:
            _PRICES.clear()
        model = priced_model(dep)
        prices = _PRICES[dep] = cost_per_token(model) if model else None
    return prompt * prices[0] + completion * prices[1] if prices else 0.0


def request_spend(scope: Scope) -> tuple[int, float]:
    """(total tokens, USD) of a finished request; (0, 0.0) when nothing was served. The access log's
    bookkeeping (gateway.middleware.observe) usually priced it already: `grid.spent`."""
    tokens = usage_tokens(scope)
    trace = scope.get("grid.trace")
    if tokens is None or trace is None:
        return 0, 0.0
    spent = scope.get("grid.spent")
    if spent is None:
        spent = cost(priced_model(trace.deployment), *tokens)
    return tokens[0] + tokens[1], spent
