"""Which request-body fields may reach an upstream: an allow-list of OpenAI request parameters.

A client body is data, never configuration. LiteLLM's call functions accept, beside the OpenAI
parameters, options that decide where a request goes and with what credentials (`api_base`,
`base_url`, `api_key`, `extra_headers`, `custom_llm_provider`, `mock_response`, ...): merged from a
body, they would send the deployment's key to a URL the client picked. So only the parameters below
leave the gateway, on both upstream paths; every other field of the body is dropped silently (as
an OpenAI-compatible server ignores what it does not know). Where a request goes, with which key
and headers, comes from the deployment alone.

The lists are per endpoint. The pass-through path also forwards a few sampling extensions that
OpenAI-compatible servers (vLLM, llama.cpp, Ollama, Together, ...) read; they only shape the
model's output. `chat_template` and the like, which hand the upstream code to run, are not on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# https://platform.openai.com/docs/api-reference/chat/create
OPENAI_CHAT = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)

# https://platform.openai.com/docs/api-reference/completions/create
OPENAI_COMPLETIONS = frozenset(
    {
        "model",
        "prompt",
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
)

# https://platform.openai.com/docs/api-reference/embeddings/create
OPENAI_EMBEDDINGS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})

# Sampling extensions of OpenAI-compatible servers: they change what the model samples, nothing else.
SAMPLING_EXTENSIONS = frozenset({"top_k", "min_p", "repetition_penalty"})

# The pass-through path: the upstream speaks OpenAI; the body is forwarded as JSON.
PASSTHROUGH: Mapping[str, frozenset[str]] = {
    "chat/completions": OPENAI_CHAT | SAMPLING_EXTENSIONS,
    "completions": OPENAI_COMPLETIONS | SAMPLING_EXTENSIONS,
    "embeddings": OPENAI_EMBEDDINGS,
}

# The LiteLLM path: the body becomes keyword arguments of `litellm.acompletion` & co. `metadata`
# and `store` are dropped there (LiteLLM reads `metadata` as its own logging options, and no
# translated provider stores completions); `top_k` is passed on to the providers that take it.
# LiteLLM's own `thinking` is not: `reasoning_effort`, the OpenAI parameter, is what it translates.
LITELLM: Mapping[str, frozenset[str]] = {
    "chat/completions": (OPENAI_CHAT - {"metadata", "store"}) | {"top_k"},
    "completions": OPENAI_COMPLETIONS | {"top_k"},
    "embeddings": OPENAI_EMBEDDINGS,
}


def allowed(body: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """The fields of `body` named in `names`, as a new dict (the body itself is left unchanged)."""
    if body.keys() <= names:  # nearly every request: nothing to drop, one C-level subset test
        return dict(body)
    return {k: v for k, v in body.items() if k in names}
