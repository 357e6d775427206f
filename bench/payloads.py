"""The canned bytes of the benchmark: one small chat request and the upstream's answers.

They are fixed so every run sends and receives exactly the same thing; nginx serves the answers from
its config (see `upstream.py`), so they must not contain `$` (nginx would expand it as a variable).
"""

from __future__ import annotations

import json

MODEL = "bench-model"
STREAM_CHUNKS = 20  # the default stream: about what a short real answer streams
LONG_STREAM_CHUNKS = 200  # the relay-throughput stream: many small events per response


# Replaced by a running number in every request wrk and the probe send (wrk_post.lua, latency.py): no
# two bodies are alike, so nothing the gateway remembers by content (the selector's verdicts, say) can
# answer a request for free, as it could if one body came back 100,000 times.
VARY_MARK = "@N@"


def chat_request(model: str, stream: bool, deterministic: bool = False, repeated: bool = False) -> bytes:
    """The request body clients send: small, like a typical short chat turn. It carries `VARY_MARK`
    unless `repeated` (every request the same: what a response cache answers); `deterministic` adds
    `temperature: 0` (what makes a request cacheable)."""
    visitor = "1" if repeated else VARY_MARK
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": f"Say hello in five words to visitor {visitor}."},
        ],
        "max_tokens": 32,
    }
    if deterministic:
        body["temperature"] = 0
    if stream:
        body["stream"] = True
        # Ask for the usage event, so the client expects every event the upstream sends.
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()


def chat_completion() -> str:
    """A non-streaming OpenAI chat completion, about 400 bytes like a short real answer."""
    return _dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello there, how are you?"},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 24, "completion_tokens": 7, "total_tokens": 31},
        }
    )


def chat_stream(chunks: int = STREAM_CHUNKS) -> str:
    """An SSE chat stream: `chunks` content events (the last one finishing), a usage event, `[DONE]`."""
    events = []
    for i in range(chunks):
        delta: dict[str, str] = {"content": f"tok{i} "}
        if i == 0:
            delta["role"] = "assistant"
        finish = "stop" if i == chunks - 1 else None
        events.append(_chunk([{"index": 0, "delta": delta, "finish_reason": finish}]))
    usage = {"prompt_tokens": 24, "completion_tokens": chunks, "total_tokens": 24 + chunks}
    events.append(_chunk([], usage=usage))
    return "".join(f"data: {e}\n\n" for e in events) + "data: [DONE]\n\n"


def models_list() -> str:
    """`GET /v1/models`."""
    model = {"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "bench"}
    return _dumps({"object": "list", "data": [model]})


def sse_events(body: bytes) -> int:
    """Data events in an SSE body, `[DONE]` excluded: how many chunks a client received."""
    return body.count(b"data: ") - body.count(b"data: [DONE]")


def _chunk(choices: list[dict[str, object]], usage: dict[str, int] | None = None) -> str:
    chunk: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return _dumps(chunk)


def _dumps(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"))
    if "$" in text:
        raise ValueError("canned bodies must not contain '$' (nginx expands variables)")
    return text
