"""Prompt size estimates, for the context-window check made before a model group is called.

A prompt that cannot fit any deployment of a group would only earn a "maximum context length" 400
from the upstream, so the fallback chain skips the group up front and goes to its
`context_window_fallbacks`, exactly as if the upstream had said so. The estimate is deliberately
cheap (no tokenizer): the length of the JSON-serialised prompt divided by four, about four bytes per
token for English text. It errs on the long side, so it can only skip a group whose window a prompt
nearly fills; nothing is skipped for a deployment whose window is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from gateway import model_map
from gateway.config.model import Deployment
from gateway.upstream.failures import ContextWindowExceeded, mark

BYTES_PER_TOKEN = 4
PROMPT_FIELDS = ("messages", "prompt", "input")  # chat, legacy completions, embeddings


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """About how many tokens the prompt of a request body holds (0 when it has none)."""
    parts = [body[name] for name in PROMPT_FIELDS if body.get(name) is not None]
    if not parts:
        return 0
    try:
        size = len(orjson.dumps(parts[0] if len(parts) == 1 else parts))
    except TypeError:
        return 0
    return math.ceil(size / BYTES_PER_TOKEN)


def context_window(dep: Deployment) -> int | None:
    """The deployment's input window: `model_info.max_input_tokens`, else LiteLLM's map for
    `model_info.base_model` or the model itself; None when unknown."""
    configured = dep.model_info.get("max_input_tokens")
    if isinstance(configured, (int, float)) and not isinstance(configured, bool) and configured > 0:
        return int(configured)
    base = dep.model_info.get("base_model")
    return model_map.context_window(base if isinstance(base, str) and base else dep.model)


def group_window(deployments: Iterable[Deployment]) -> int | None:
    """The most prompt tokens some deployment of a group can take; None when any deployment's window
    is unknown (it might take anything) or there is none. Computed once per config snapshot."""
    windows = [context_window(d) for d in deployments]
    if not windows or any(w is None for w in windows):
        return None
    return max(windows)  # type: ignore[type-var]


def too_long_for(group: str, window: int | None, tokens: int) -> ContextWindowExceeded | None:
    """The error to act on when a prompt of `tokens` exceeds the group's `window`, else None."""
    if window is None or tokens <= 0 or tokens <= window:
        return None
    exc = ContextWindowExceeded(
        400,
        f"This model's maximum context length is {window} tokens, and the prompt is about {tokens} "
        f"tokens (model group '{group}'): the request was not sent.",
    )
    exc.code = "context_length_exceeded"
    return mark(exc, None, False)  # type: ignore[return-value]
