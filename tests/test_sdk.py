"""The official `openai` SDK, sync and async, pointed at a running gateway in front of the mock.

Every OpenAI feature a client uses unchanged must come back with the mock's exact answer: chat
(plain, streamed, with usage, tools, `n`, JSON mode), embeddings (base64 and float), legacy
completions, models, raw responses with GRID's headers, and the paths without the `/v1` prefix.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, TOOLS, deployment
from tests.harness import GatewayProcess, user

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            deployment("gpt-4o-mini", mock.url, dep_id="mini-a"),
            deployment("embedder", mock.url, dep_id="embed-a"),
            {
                # group name differs from the upstream model: only `model` is rewritten
                "model_name": "writer",
                "litellm_params": {
                    "model": "openai/mock-gpt",
                    "api_base": f"{mock.url}/v1",
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "writer-a"},
            },
        ],
        "router_settings": {"model_group_alias": {"fast": "gpt-4o-mini"}, "num_retries": 1},
        "general_settings": {"master_key": MASTER_KEY},
    }
    with GatewayProcess(config) as process:
        yield process


@pytest_asyncio.fixture(params=["sync", "async"], loop_scope="function")
async def client(request: pytest.FixtureRequest, gw: GatewayProcess) -> AsyncIterator[Any]:
    if request.param == "sync":
        sdk: Any = openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=10)
        yield sdk
        sdk.close()
    else:
        sdk = openai.AsyncOpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=10)
        yield sdk
        await sdk.close()


async def done(value: Any) -> Any:
    """The sync client returns values, the async one awaitables: one test body serves both."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream: Any) -> list[Any]:
    if hasattr(stream, "__aiter__"):
        return [chunk async for chunk in stream]
    return list(stream)


# -- chat completions ------------------------------------------------------------------------------


async def test_chat_completion_returns_the_upstream_answer(client: Any, mock: MockUpstream) -> None:
    reply = await done(client.chat.completions.create(model="gpt-4o-mini", messages=user("hello there")))
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "mock reply: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 2
    assert reply.usage.completion_tokens == 4
    sent = mock.requests(CHAT)
    assert len(sent) == 1
    assert sent[0]["body"]["messages"] == user("hello there")


async def test_only_the_model_is_rewritten_for_the_upstream(client: Any, mock: MockUpstream) -> None:
    reply = await done(
        client.chat.completions.create(
            model="writer", messages=user("write"), temperature=0.25, max_tokens=50, user="u-1"
        )
    )
    assert reply.choices[0].message.content == "mock reply: write"
    assert reply.model == "mock-gpt"  # the mock echoes the model it was sent
    body = mock.requests(CHAT)[-1]["body"]
    assert body == {
        "model": "mock-gpt",
        "messages": user("write"),
        "temperature": 0.25,
        "max_tokens": 50,
        "user": "u-1",
    }


async def test_alias_serves_its_group(client: Any, mock: MockUpstream) -> None:
    raw = await done(client.chat.completions.with_raw_response.create(model="fast", messages=user("hi")))
    reply = await done(raw.parse())
    assert reply.choices[0].message.content == "mock reply: hi"
    assert raw.headers["x-grid-model"] == "gpt-4o-mini"
    assert mock.requests(CHAT)[-1]["body"]["model"] == "gpt-4o-mini"


async def test_chat_stream_relays_every_piece(client: Any) -> None:
    stream = await done(
        client.chat.completions.create(model="gpt-4o-mini", messages=user("stream me please"), stream=True)
    )
    chunks = await collect(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "mock reply: stream me please"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 5  # one per word
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


async def test_chat_stream_with_include_usage_ends_with_a_usage_chunk(client: Any) -> None:
    stream = await done(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=user("count my tokens"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    chunks = await collect(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == 3
    assert last.usage.completion_tokens == 5
    assert last.usage.total_tokens == 8
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "mock reply: count my tokens"


async def test_tool_call_round_trip(client: Any, mock: MockUpstream) -> None:
    first = await done(
        client.chat.completions.create(model="gpt-4o-mini", messages=user("weather in Paris"), tools=TOOLS)
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"echo": "weather in Paris"}
    assert mock.requests(CHAT)[-1]["body"]["tools"] == TOOLS

    messages = [
        *user("weather in Paris"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    second = await done(client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS))
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "mock reply: tool said sunny, 21C"
    assert mock.requests(CHAT)[-1]["body"]["messages"][2]["tool_call_id"] == call.id


async def test_streamed_tool_call_assembles(client: Any) -> None:
    stream = await done(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=user("weather in Oslo"), tools=TOOLS, stream=True
        )
    )
    chunks = await collect(stream)
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert calls[0].id.startswith("call_mock")
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(arguments) == {"echo": "weather in Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_n_choices(client: Any) -> None:
    reply = await done(client.chat.completions.create(model="gpt-4o-mini", messages=user("twice"), n=2))
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.message.content for c in reply.choices] == ["mock reply: twice", "mock reply: twice #1"]


async def test_json_mode_content_parses(client: Any) -> None:
    reply = await done(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=user("give json"),
            response_format={"type": "json_object"},
        )
    )
    assert json.loads(reply.choices[0].message.content) == {"echo": "give json"}


# -- embeddings and legacy completions ----------------------------------------------------------------


def direct_embedding(mock: MockUpstream, text: str, **params: Any) -> list[float]:
    """What the mock itself answers, asked directly with floats."""
    response = httpx.post(
        f"{mock.url}/v1/embeddings",
        json={"model": "embedder", "input": text, "encoding_format": "float", **params},
        headers={"authorization": f"Bearer {PROVIDER_KEY}"},
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["data"][0]["embedding"]


async def test_embeddings_base64_default_decodes(client: Any, mock: MockUpstream) -> None:
    result = await done(client.embeddings.create(model="embedder", input=["alpha", "beta"]))
    assert [d.index for d in result.data] == [0, 1]
    vectors = [d.embedding for d in result.data]
    assert all(len(v) == 16 for v in vectors)
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-5)
    expected = direct_embedding(mock, "alpha")
    assert vectors[0] == pytest.approx(expected, rel=1e-6)
    assert vectors[0] != pytest.approx(vectors[1])
    assert mock.requests("/v1/embeddings")[0]["body"]["encoding_format"] == "base64"


async def test_embeddings_float_with_dimensions(client: Any, mock: MockUpstream) -> None:
    result = await done(
        client.embeddings.create(model="embedder", input="gamma", encoding_format="float", dimensions=8)
    )
    (item,) = result.data
    assert len(item.embedding) == 8
    assert item.embedding == pytest.approx(direct_embedding(mock, "gamma", dimensions=8))
    assert result.usage.prompt_tokens == 1


async def test_legacy_completion(client: Any, mock: MockUpstream) -> None:
    result = await done(client.completions.create(model="gpt-4o-mini", prompt="say this", max_tokens=20))
    assert result.object == "text_completion"
    assert result.choices[0].text == "mock completion: say this"
    assert mock.requests("/v1/completions")[0]["body"]["prompt"] == "say this"


async def test_legacy_completion_stream(client: Any) -> None:
    stream = await done(client.completions.create(model="gpt-4o-mini", prompt="go on", stream=True))
    chunks = await collect(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "mock completion: go on"


# -- models ---------------------------------------------------------------------------------------


async def test_models_list_names_groups_and_aliases(client: Any) -> None:
    page = await done(client.models.list())
    ids = [m.id for m in page.data]
    assert sorted(ids) == ["embedder", "fast", "gpt-4o-mini", "writer"]
    assert all(m.object == "model" for m in page.data)


async def test_models_retrieve(client: Any) -> None:
    model = await done(client.models.retrieve("fast"))
    assert model.id == "fast"
    with pytest.raises(openai.NotFoundError) as info:
        await done(client.models.retrieve("no-such-model"))
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert "no-such-model" in info.value.message


# -- raw responses and GRID headers -------------------------------------------------------------------


async def test_raw_response_carries_grid_headers(client: Any) -> None:
    raw = await done(
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=user("headers"), extra_headers={"X-Request-ID": "sdk-raw-1"}
        )
    )
    headers = raw.headers
    assert headers["x-request-id"] == "sdk-raw-1"
    assert headers["x-grid-model"] == "gpt-4o-mini"
    assert headers["x-grid-deployment"] == "mini-a"
    assert headers["x-grid-attempts"] == "1"
    assert headers["x-grid-fallbacks"] == "0"
    overhead = float(headers["x-grid-overhead-ms"])
    assert 0.0 <= overhead < 5000
    reply = await done(raw.parse())
    assert reply.choices[0].message.content == "mock reply: headers"


async def test_raw_stream_response_carries_grid_headers(client: Any) -> None:
    raw = await done(
        client.chat.completions.with_raw_response.create(
            model="fast", messages=user("streamed headers"), stream=True
        )
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-grid-model"] == "gpt-4o-mini"
    assert raw.headers["x-grid-deployment"] == "mini-a"
    assert raw.headers["x-grid-attempts"] == "1"
    assert raw.headers["x-grid-fallbacks"] == "0"
    float(raw.headers["x-grid-overhead-ms"])
    chunks = await collect(await done(raw.parse()))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "mock reply: streamed headers"
    )


async def test_raw_embeddings_response_headers(client: Any) -> None:
    raw = await done(client.embeddings.with_raw_response.create(model="embedder", input="x"))
    assert raw.headers["x-grid-model"] == "embedder"
    assert raw.headers["x-grid-deployment"] == "embed-a"
    result = await done(raw.parse())
    assert len(result.data[0].embedding) == 16


# -- paths without /v1 -----------------------------------------------------------------------------


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=gw.url, headers=headers, timeout=10) as session:
        yield session


def test_paths_without_v1_prefix(http: httpx.Client, mock: MockUpstream) -> None:
    chat = http.post("/chat/completions", json={"model": "fast", "messages": user("bare path")})
    assert chat.status_code == 200
    assert chat.json()["choices"][0]["message"]["content"] == "mock reply: bare path"
    assert chat.headers["x-grid-deployment"] == "mini-a"
    assert mock.requests(CHAT)[-1]["body"]["model"] == "gpt-4o-mini"

    emb = http.post("/embeddings", json={"model": "embedder", "input": "x", "encoding_format": "float"})
    assert emb.status_code == 200
    assert len(emb.json()["data"][0]["embedding"]) == 16

    comp = http.post("/completions", json={"model": "gpt-4o-mini", "prompt": "legacy"})
    assert comp.status_code == 200
    assert comp.json()["choices"][0]["text"] == "mock completion: legacy"

    models = http.get("/models")
    assert models.status_code == 200
    assert "fast" in [m["id"] for m in models.json()["data"]]
    assert http.get("/models/writer").json()["id"] == "writer"
    missing = http.get("/models/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_stream_without_v1_prefix(http: httpx.Client) -> None:
    body = {"model": "gpt-4o-mini", "messages": user("raw sse"), "stream": True}
    with http.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "mock reply: raw sse"
