"""LiteLLM's bundled model price and context-window map, read without importing LiteLLM.

The gateway needs per-model costs, context windows and capability flags (for `gateway check`, cost
metrics and auto selection), and LiteLLM ships the best public table of them. Importing `litellm`
to get it costs seconds and, unless told otherwise, fetches a fresh copy over the network, so we
locate the package with `importlib.util.find_spec` and read its JSON file directly. A missing or
unreadable file is an empty map: the gateway then simply knows no prices.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

# When LiteLLM is imported later (the translation path), make it use its bundled map instead of
# downloading one at import time: startup must not depend on GitHub being reachable.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MAP_FILE = "model_prices_and_context_window_backup.json"
_SPEC_ENTRY = "sample_spec"  # the file's documentation entry, not a model


def litellm_dir() -> Path | None:
    """The installed LiteLLM package's folder, found without importing it; None when not installed."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def map_path() -> Path | None:
    """Where the installed LiteLLM keeps its bundled map, or None when LiteLLM is not installed."""
    package = litellm_dir()
    return package / MAP_FILE if package is not None else None


@lru_cache(maxsize=1)
def load_map() -> Mapping[str, Mapping[str, Any]]:
    """The whole map, read once per process; empty when the file is missing or malformed."""
    path = map_path()
    if path is None:
        return MappingProxyType({})
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return MappingProxyType({})
    if not isinstance(data, dict):
        return MappingProxyType({})
    return MappingProxyType(
        {
            name: MappingProxyType(entry)
            for name, entry in data.items()
            if name != _SPEC_ENTRY and isinstance(entry, dict)
        }
    )


def _candidates(model: str) -> tuple[str, ...]:
    """Keys to try: as written, without the provider prefix, then the canonical `provider/name`.

    The map keys OpenAI and Anthropic models bare (`gpt-4o-mini`) and most others with a prefix
    (`groq/llama-3.1-8b-instant`); a model without a prefix is an OpenAI model, like LiteLLM says.
    """
    provider, sep, name = model.partition("/")
    if not (sep and name):
        return (model, f"openai/{model}")
    return (model, name, f"{provider}/{name}")


@lru_cache(maxsize=1024)
def model_info(model: str) -> Mapping[str, Any] | None:
    """The map's entry for `model` (e.g. "openai/gpt-4o-mini"), or None when it is not listed.

    Remembered: the context-window check and the cost metric ask for every request, per deployment,
    and the entries are read-only views."""
    table = load_map()
    for key in _candidates(model):
        entry = table.get(key)
        if entry is not None:
            return entry
    return None


def clear_caches() -> None:
    """Forget the loaded map and every lookup made in it (tests that swap the file)."""
    load_map.cache_clear()
    model_info.cache_clear()


def is_known(model: str) -> bool:
    return model_info(model) is not None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def context_window(model: str) -> int | None:
    """How many tokens a request may hold: `max_input_tokens`, else the legacy `max_tokens`."""
    info = model_info(model)
    if info is None:
        return None
    return _as_int(info.get("max_input_tokens")) or _as_int(info.get("max_tokens"))


def cost_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) price in USD per token; None when the map has no price for the model.

    A price given for one direction only (embeddings list no output price) counts the other as 0.
    """
    info = model_info(model)
    if info is None:
        return None
    cost_in = _as_float(info.get("input_cost_per_token"))
    cost_out = _as_float(info.get("output_cost_per_token"))
    if cost_in is None and cost_out is None:
        return None
    return (cost_in or 0.0, cost_out or 0.0)


def supports(model: str, feature: str) -> bool | None:
    """Whether the map says `model` supports `feature` ("function_calling", "vision", "response_schema").

    None means the model is not in the map at all. For a listed model an absent flag means no, which
    is how LiteLLM's own `supports_*` helpers read the table.
    """
    info = model_info(model)
    if info is None:
        return None
    return bool(info.get(f"supports_{feature}", False))
