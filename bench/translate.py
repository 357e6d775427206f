"""`python -m bench.translate`: what translating an Anthropic Messages request and its answer costs,
GRID's own translation (`gateway.translate.anthropic_chat`) against LiteLLM's `AnthropicAdapter`.

In-process, no network: one request (system prompt, a tool, a tool_use / tool_result turn) to chat
and one chat answer back, per round. Also prints what importing LiteLLM costs (time, peak RSS), which
a gateway with only OpenAI-wire deployments never pays when it translates with its own module.

    LITELLM_LOCAL_MODEL_COST_MAP=True python -m bench.translate [--rounds 5000]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

from gateway.translate import anthropic_chat

REQUEST: dict[str, Any] = {
    "model": "m",
    "max_tokens": 256,
    "system": "You are helpful.",
    "messages": [
        {"role": "user", "content": "What is the weather in Paris today? " * 5},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
}
ANSWER: dict[str, Any] = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "It is sunny."}}
    ],
    "usage": {"prompt_tokens": 40, "completion_tokens": 4, "total_tokens": 44},
}


def _per_round(fn: Callable[[], object], rounds: int) -> float:
    for _ in range(min(rounds, 100)):  # warm up
        fn()
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    rounds = parser.parse_args().rounds

    ours = _per_round(
        lambda: (anthropic_chat.to_chat(REQUEST), anthropic_chat.from_chat(ANSWER, "m")), rounds
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    from litellm.llms.anthropic.messages.adapters.transformation import AnthropicAdapter
    from litellm.types.utils import ModelResponse

    imported = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    adapter, answer = AnthropicAdapter(), ModelResponse(**ANSWER)
    theirs = _per_round(
        lambda: (
            adapter.translate_completion_input_params(dict(REQUEST)),
            adapter.translate_completion_output_params(answer),
        ),
        max(rounds // 5, 1),
    )
    print(f"GRID translation:        {ours:8.1f} µs per request + answer")
    print(f"LiteLLM AnthropicAdapter: {theirs:8.1f} µs per request + answer ({theirs / ours:.0f}x)")
    print(f"importing LiteLLM:        {imported:8.2f} s, peak RSS +{(rss_after - rss_before) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
