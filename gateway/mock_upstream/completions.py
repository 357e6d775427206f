"""`POST /v1/completions` (the legacy text API): `"mock completion: " + prompt`, JSON or SSE."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import DONE, Call, data_event, send_json, stream_events
from gateway.mock_upstream.text import ECHO_LIMIT, split_pieces, truncate_words, word_count

MAX_N = 128


def _prompts(prompt: Any) -> list[str] | None:
    """The prompts as text: one string, a list of strings, or token lists (shown as their numbers)."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, int) for p in prompt):
            return [" ".join(map(str, prompt))]
        if all(isinstance(p, list) for p in prompt):
            return [" ".join(map(str, p)) for p in prompt]
    return None


def plan_texts(body: dict[str, Any], prompts: list[str]) -> list[tuple[str, str]]:
    """(text, finish_reason) for each choice: prompt after prompt, `n` choices each."""
    n = body.get("n") or 1
    limit = body.get("max_tokens")
    out = []
    for prompt in prompts:
        for i in range(n):
            text = "mock completion: " + prompt[:ECHO_LIMIT] + (f" #{i}" if i else "")
            finish = "stop"
            if isinstance(limit, int) and not isinstance(limit, bool):
                text, cut = truncate_words(text, limit)
                finish = "length" if cut else "stop"
            out.append((text, finish))
    return out


async def completions(call: Call) -> web.StreamResponse:
    body = call.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_response(400, "you must provide a model parameter", param="model")
    prompts = _prompts(body.get("prompt"))
    if prompts is None:
        return error_response(
            400, "'prompt' must be a string, a list of strings or token lists", param="prompt"
        )
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N):
        return error_response(400, f"'n' must be an integer from 1 to {MAX_N}", param="n")
    texts = plan_texts(body, prompts)
    prompt_tokens = max(1, sum(word_count(p) for p in prompts))
    completion_tokens = sum(word_count(text) for text, _ in texts)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    head = {
        "id": f"cmpl-mock{call.state.next_seq()}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body["model"],
    }
    if body.get("stream"):
        return await stream_events(call, _chunks(call, head, texts, usage))
    choices = [
        {"text": text, "index": i, "logprobs": None, "finish_reason": finish}
        for i, (text, finish) in enumerate(texts)
    ]
    return await send_json(call, {**head, "choices": choices, "usage": usage})


def _chunks(call: Call, head: dict[str, Any], texts: list[tuple[str, str]], usage: dict) -> Iterator[bytes]:
    options = call.body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    pieces_wanted = call.fault.chunks if call.fault else None
    for i, (text, finish) in enumerate(texts):
        for piece in split_pieces(text, pieces_wanted):
            yield data_event(
                {**head, "choices": [{"text": piece, "index": i, "logprobs": None, "finish_reason": None}]}
            )
        yield data_event(
            {**head, "choices": [{"text": "", "index": i, "logprobs": None, "finish_reason": finish}]}
        )
    if include_usage:
        yield data_event({**head, "choices": [], "usage": usage})
    yield DONE
