"""model="auto" end to end: the openai SDK against real gateway processes, mock upstreams behind.

Two candidate groups everywhere: `cheap` (small context window, no tools, no images, no JSON mode,
cheap) and `strong` (everything, dear). Each deployment sends its id as the upstream model name, so
the mock's request log tells which group served and fault rules can target one group.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import CLIENT_TIMEOUT, GatewayProcess, metric_value

CHAT = "/v1/chat/completions"
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
REASON = "x-grid-route-reason"
LIMITED_KEY = "sk-only-cheap"
PROOF = "Prove rigorously, step by step, that there are infinitely many primes. Justify each step."
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]

CHEAP = {
    "quality": 0.5,
    "input_cost_per_million": 0.1,
    "output_cost_per_million": 0.4,
    "context_window": 2000,
    "supports_tools": False,
    "supports_vision": False,
    "supports_json": False,
}
STRONG = {
    "quality": 0.95,
    "input_cost_per_million": 5,
    "output_cost_per_million": 15,
    "context_window": 128000,
    "supports_tools": True,
    "supports_vision": True,
    "supports_json": True,
}


def config(
    base: str, *, tradeoff: float, caps: dict[str, Any] | None = None, **router: Any
) -> dict[str, Any]:
    return {
        "model_list": [
            deployment("cheap", base, dep_id="cheap-1", model="openai/cheap-1"),
            deployment("strong", base, dep_id="strong-1", model="openai/strong-1"),
            deployment("embed", base, dep_id="embed-1", model="openai/embed-1"),
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 100, **router},
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [{"key": LIMITED_KEY, "name": "limited", "models": ["cheap"]}],
        },
        "model_routing": {
            "tradeoff": tradeoff,
            "session_ttl": 600,
            "capabilities": caps or {"cheap": CHEAP, "strong": STRONG},
        },
    }


def sdk(gw: GatewayProcess, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=15)


def ask(gw: GatewayProcess, content: Any = "hi", key: str = MASTER_KEY, **kwargs: Any):
    """One model=auto chat call: (response headers, completion)."""
    messages = [{"role": "user", "content": content}]
    raw = sdk(gw, key).chat.completions.with_raw_response.create(model="auto", messages=messages, **kwargs)
    return raw.headers, raw.parse()


def chat_body(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def served(mock: MockUpstream) -> list[str]:
    return [(r["body"] or {}).get("model") for r in mock.requests(CHAT)]


def metric(gw: GatewayProcess, name: str, **labels: str) -> float | None:
    return metric_value(httpx.get(f"{gw.url}/metrics", timeout=CLIENT_TIMEOUT).text, name, **labels)


def reload(gw: GatewayProcess, new_config: dict[str, Any]) -> None:
    gw.write_config(new_config)
    resp = httpx.post(f"{gw.url}/admin/config/reload", headers=ADMIN)
    assert resp.status_code == 200, resp.text


@pytest.fixture(scope="module")
def cheapest(mock: MockUpstream) -> Iterator[GatewayProcess]:
    """tradeoff 10: the cheapest candidate that passes the hard filters wins."""
    with GatewayProcess(config(mock.url, tradeoff=10)) as gw:
        yield gw


BALANCED = 3  # quality-leaning: hard prompts go strong, easy ones cheap, each by a wide margin


@pytest.fixture(scope="module")
def balanced(mock: MockUpstream) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(mock.url, tradeoff=BALANCED)) as gw:
        yield gw


# -- routing, header, hard filters ------------------------------------------------------------------


def test_auto_routes_and_explains_itself_in_the_header(cheapest, mock):
    headers, completion = ask(cheapest, "Translate 'good night' into German")
    assert headers["x-grid-model"] == "cheap"
    assert completion.choices[0].message.content.startswith("mock reply:")
    reason = headers[REASON]
    assert reason.isascii() and len(reason) < 200
    fields = dict(part.split("=", 1) for part in reason.split("; "))
    assert fields["task"] == "translation" and fields["chosen"] == "cheap"
    tasks = [t.split(":") for t in fields["tasks"].split(",")]  # the likeliest tasks, likeliest first
    assert tasks[0][0] == "translation" and 0 < float(tasks[0][1]) <= 1
    assert [float(p) for _, p in tasks] == sorted((float(p) for _, p in tasks), reverse=True)
    assert 0 <= float(fields["complexity"]) <= 1
    assert [c.split(":")[0] for c in fields["candidates"].split(",")] == ["cheap", "strong"]
    assert served(mock) == ["cheap-1"]


def test_context_window_too_small_routes_to_the_bigger_group(cheapest, mock):
    headers, _ = ask(
        cheapest, "Summarize this: " + "the committee met again and talked about budgets. " * 300
    )
    assert headers["x-grid-model"] == "strong" and "filtered=cheap" in headers[REASON]
    headers, _ = ask(cheapest, "hi", max_tokens=2500)  # prompt + max_tokens must fit the window
    assert headers["x-grid-model"] == "strong"
    assert served(mock) == ["strong-1", "strong-1"]


def test_tools_vision_and_json_mode_need_a_group_that_supports_them(cheapest, mock):
    assert ask(cheapest, "What's the weather in Oslo?", tools=TOOLS)[0]["x-grid-model"] == "strong"
    image = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert ask(cheapest, image)[0]["x-grid-model"] == "strong"
    json_mode = ask(cheapest, "List three colours", response_format={"type": "json_object"})
    assert json_mode[0]["x-grid-model"] == "strong"
    assert ask(cheapest, "List three colours")[0]["x-grid-model"] == "cheap"


def test_auto_streams(cheapest, mock):
    with sdk(cheapest).chat.completions.with_streaming_response.create(
        model="auto", messages=[{"role": "user", "content": "hello there"}], stream=True
    ) as response:
        assert response.headers["x-grid-model"] == "cheap"
        assert response.headers[REASON].startswith("task=general_chat;")
        text = "".join(chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices)
    assert text == "mock reply: hello there"


def test_auto_is_listed_and_counted_and_logged(cheapest, mock):
    assert "auto" in [m.id for m in sdk(cheapest).models.list()]
    assert "auto" in [m.id for m in sdk(cheapest, LIMITED_KEY).models.list()]
    before = metric(cheapest, "grid_auto_route_total", task="math", model="strong") or 0
    headers, _ = ask(cheapest, "Solve for x: 3x + 7 = 22", tools=TOOLS)
    request_id = headers["x-request-id"]
    assert metric(cheapest, "grid_auto_route_total", task="math", model="strong") == before + 1
    line = next(
        json.loads(x) for x in cheapest.logs().splitlines() if request_id in x and '"grid.access"' in x
    )
    assert line["task"] == "math" and line["model"] == "auto" and line["model_served"] == "strong"
    assert 0 <= line["complexity"] <= 1 and line["route_reason"] == headers[REASON]


def test_key_permissions_limit_the_candidates(cheapest, mock):
    assert ask(cheapest, "hi", key=LIMITED_KEY)[0]["x-grid-model"] == "cheap"
    with pytest.raises(openai.BadRequestError) as info:
        ask(cheapest, "What's the weather?", key=LIMITED_KEY, tools=TOOLS)
    assert info.value.body["code"] == "no_suitable_model" and "no tool calling" in info.value.body["message"]
    assert served(mock) == ["cheap-1"]


def test_concurrent_requests_each_get_their_own_decision(cheapest, mock):
    """Thirty requests at once: each gets the decision, the header and the error of its own body and
    key, whatever else is in flight. (That the requests of one loop turn are decided together, in one
    batch, is pinned where it is observable, in test_batched.py; from outside the process a batched and
    an unbatched gateway answer alike.)"""
    memo = (
        "The committee met on Tuesday to review the {n}th draft of the budget. Spending on parks rises by "
        "4%, road repairs are deferred to spring, and the library keeps its weekend hours. "
    )
    long_text = "Summarize this memo in three bullet points:\n\n" + "".join(
        memo.format(n=n) for n in range(90)
    )
    asks = [
        ("Translate 'good night' into German", MASTER_KEY, {}, ("cheap", "translation")),
        ("What's the weather in Oslo?", MASTER_KEY, {"tools": TOOLS}, ("strong", "question_answering")),
        (long_text, MASTER_KEY, {}, ("strong", "summarization")),
        ("Solve for x: 3x + 7 = 22", MASTER_KEY, {}, ("cheap", "math")),
        ("What's the weather?", LIMITED_KEY, {"tools": TOOLS}, "no_suitable_model"),
    ] * 6

    async def one(client: openai.AsyncOpenAI, content: str, extra: dict[str, Any]) -> Any:
        messages = [{"role": "user", "content": content}]
        raw = await client.chat.completions.with_raw_response.create(model="auto", messages=messages, **extra)
        fields = dict(part.split("=", 1) for part in raw.headers[REASON].split("; "))
        return raw.headers["x-grid-model"], fields["task"]

    async def burst() -> list[Any]:
        clients = {
            key: openai.AsyncOpenAI(base_url=cheapest.base_url, api_key=key, max_retries=0, timeout=15)
            for key in (MASTER_KEY, LIMITED_KEY)
        }
        try:
            calls = [one(clients[key], content, extra) for content, key, extra, _ in asks]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            for client in clients.values():
                await client.close()

    for (content, _, _, expected), got in zip(asks, asyncio.run(burst()), strict=True):
        if isinstance(expected, str):
            assert isinstance(got, openai.BadRequestError) and got.body["code"] == expected, content[:40]
        else:
            assert got == expected, content[:40]
    assert sorted(served(mock)) == ["cheap-1"] * 12 + ["strong-1"] * 12


def test_auto_is_for_chat_and_an_override_bypasses_it(cheapest, mock):
    with pytest.raises(openai.BadRequestError):
        sdk(cheapest).embeddings.create(model="auto", input="hi")
    with pytest.raises(openai.BadRequestError):
        sdk(cheapest).completions.create(model="auto", prompt="hi")
    raw = sdk(cheapest).chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-grid-model-override": "strong"},
    )
    assert raw.headers["x-grid-model"] == "strong" and REASON not in raw.headers


# -- /models/recommend and the stats -------------------------------------------------------------


def test_recommend_ranks_without_calling_any_upstream(cheapest, mock):
    body = {
        "messages": [{"role": "user", "content": "What's the weather in Oslo?"}],
        "tools": TOOLS,
        "limit": 3,
    }
    resp = httpx.post(f"{cheapest.url}/models/recommend", json=body, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert set(answer) >= {"task", "complexity", "estimated_prompt_tokens", "requires", "recommendations"}
    probabilities = answer["task_probabilities"]  # the top three tasks with their probabilities
    assert len(probabilities) == 3 and list(probabilities)[0] == answer["task"]
    assert 0 < sum(probabilities.values()) <= 1.0001
    assert list(probabilities.values()) == sorted(probabilities.values(), reverse=True)
    assert answer["requires"]["tools"] is True and answer["estimated_prompt_tokens"] > 0
    assert [r["model"] for r in answer["recommendations"]] == ["strong"]
    assert answer["rejected"] == [{"model": "cheap", "reasons": ["no tool calling"]}]
    plain = httpx.post(
        f"{cheapest.url}/v1/models/recommend",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers=ADMIN,
    ).json()
    ranked = plain["recommendations"]
    assert [r["model"] for r in ranked] == ["cheap", "strong"]
    assert ranked[0]["score"] >= ranked[1]["score"]
    assert ranked[0]["estimated_cost_usd"] < ranked[1]["estimated_cost_usd"]
    assert set(ranked[0]) == {"model", "score", "capability_match", "estimated_cost_usd", "reasons"}
    assert mock.requests() == []  # no upstream was called
    bad = httpx.post(f"{cheapest.url}/models/recommend", json={"messages": [], "limit": 0}, headers=ADMIN)
    assert bad.status_code == 400


def test_selector_stats_are_admin_only(cheapest, mock):
    ask(cheapest, "hi")
    assert (
        httpx.get(
            f"{cheapest.url}/admin/model-selector/stats", headers={"Authorization": f"Bearer {LIMITED_KEY}"}
        ).status_code
        == 403
    )
    stats = httpx.get(f"{cheapest.url}/admin/model-selector/stats", headers=ADMIN).json()
    assert stats["enabled"] and stats["candidates"] == ["cheap", "strong"]
    assert stats["groups"]["cheap"]["requests"] >= 1 and "general_chat" in stats["groups"]["cheap"]["tasks"]
    assert stats["decisions"]["general_chat"]["cheap"] >= 1 and stats["decisions_total"] >= 1
    assert {"hits", "misses", "sessions"} <= set(stats["sessions"])


# -- tradeoff and stickiness ------------------------------------------------------------------------


def test_tradeoff_zero_and_ten_choose_different_groups(balanced, mock):
    question = "Compare two approaches to caching and explain the trade-offs."
    try:
        reload(balanced, config(mock.url, tradeoff=0))
        assert ask(balanced, question)[0]["x-grid-model"] == "strong"
        reload(balanced, config(mock.url, tradeoff=10))
        assert ask(balanced, question)[0]["x-grid-model"] == "cheap"
    finally:
        reload(balanced, config(mock.url, tradeoff=BALANCED))


def test_a_session_keeps_its_model_while_it_suits_the_turn(start_gateway, mock):
    # a gateway of its own: no latency history from other tests' requests; tradeoff 10, so that no
    # latency sample of a loaded test machine can make `strong` the better choice for a chat
    gw = start_gateway(config(mock.url, tradeoff=10))
    session = {"x-session-id": f"conv-{time.monotonic()}"}
    assert ask(gw, "hi", extra_headers=session)[0]["x-grid-model"] == "cheap"
    headers, _ = ask(gw, "hello again, how are you?", extra_headers=session)
    assert headers["x-grid-model"] == "cheap" and "sticky=1" in headers[REASON]
    user = f"user-{time.monotonic()}"
    assert ask(gw, "hello!", user=user)[0]["x-grid-model"] == "cheap"
    headers, _ = ask(gw, "hey, what's up?", user=user)  # the body's `user` also names a session
    assert headers["x-grid-model"] == "cheap" and "sticky=1" in headers[REASON]


def test_a_session_leaves_its_model_when_the_new_turn_needs_a_better_one(start_gateway, mock):
    """Issue 18: stickiness kept a chat session on the cheap model for a rigorous proof."""
    # a gateway of its own, and no request to `strong` before the proof: a slow first sample of it
    # on a loaded machine would rightly make `cheap` the better choice
    gw = start_gateway(config(mock.url, tradeoff=BALANCED))
    assert (
        httpx.post(f"{gw.url}/models/recommend", json=chat_body(PROOF), headers=ADMIN, timeout=15).json()[
            "recommendations"
        ][0]["model"]
        == "strong"
    )  # no session: the hard proof goes strong
    session = {"x-session-id": f"conv-{time.monotonic()}"}
    assert ask(gw, "hi", extra_headers=session)[0]["x-grid-model"] == "cheap"
    headers, _ = ask(gw, PROOF, extra_headers=session)
    assert headers["x-grid-model"] == "strong" and "sticky=1" not in headers[REASON]


# -- history, breakers, fallback ---------------------------------------------------------------------

TWINS = {  # two near-equal groups: `cheap` wins by a hair until its history says otherwise
    "cheap": {"quality": 0.8, "input_cost_per_million": 1.0, "output_cost_per_million": 1.0},
    "strong": {"quality": 0.8, "input_cost_per_million": 1.2, "output_cost_per_million": 1.2},
}


def test_history_moves_the_choice_away_from_a_failing_group(start_gateway, mock):
    gw = start_gateway(config(mock.url, tradeoff=5, caps=TWINS))
    assert ask(gw, "hi")[0]["x-grid-model"] == "cheap"
    mock.add_fault({"match": {"model": "cheap-1"}, "status": 500})
    headers, _ = ask(gw, "hi")  # cheap fails, the chain falls back to the next-best candidate
    assert headers["x-grid-model"] == "strong" and headers["x-grid-fallbacks"] == "1"
    headers, _ = ask(gw, "hi")  # one recent failure costs cheap half its score: strong first now
    assert headers["x-grid-model"] == "strong" and headers["x-grid-fallbacks"] == "0"
    assert headers[REASON].split("candidates=")[1].startswith("strong:")
    states = httpx.get(f"{gw.url}/admin/load-balancer/stats", headers=ADMIN).json()
    assert states["groups"]["cheap"]["deployments"][0]["state"] == "closed"  # history did it, not a breaker


def test_history_moves_the_choice_away_from_a_slow_group(start_gateway, mock):
    gw = start_gateway(config(mock.url, tradeoff=5, caps=TWINS))
    mock.add_fault({"match": {"model": "cheap-1"}, "delay": 0.6})
    client = sdk(gw)
    for group in ("cheap", "strong", "cheap", "strong"):  # explicit requests feed the history too
        client.chat.completions.create(model=group, messages=[{"role": "user", "content": "hi"}])
    headers, _ = ask(gw, "hi")
    assert headers["x-grid-model"] == "strong"
    assert "recent latency" in json.dumps(
        httpx.post(
            f"{gw.url}/models/recommend",
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers=ADMIN,
        ).json()
    )


def test_auto_falls_back_then_skips_a_group_whose_breaker_opened(start_gateway, mock):
    gw = start_gateway(config(mock.url, tradeoff=10, allowed_fails=1, cooldown_time=60))
    mock.add_fault({"match": {"model": "cheap-1"}, "status": 500, "times": 1})
    headers, _ = ask(gw, "hi")  # cheap fails once: its breaker opens, the next-best candidate serves
    assert headers["x-grid-model"] == "strong" and headers["x-grid-fallbacks"] == "1"
    headers, _ = ask(gw, "hi")
    assert headers["x-grid-model"] == "strong" and headers["x-grid-fallbacks"] == "0"
    assert "filtered=cheap" in headers[REASON]
    answer = httpx.post(
        f"{gw.url}/models/recommend", json={"messages": [{"role": "user", "content": "hi"}]}, headers=ADMIN
    ).json()
    assert answer["rejected"] == [{"model": "cheap", "reasons": ["every deployment's breaker is open"]}]
    assert served(mock) == ["cheap-1", "strong-1", "strong-1"]


def test_auto_select_routes_named_models_unless_overridden(start_gateway, mock):
    cfg = config(mock.url, tradeoff=10)
    cfg["model_routing"]["auto_select"] = True
    gw = start_gateway(cfg)
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="strong", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-grid-model"] == "cheap" and REASON in raw.headers
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model="strong", messages=[{"role": "user", "content": "hi"}], extra_query={"override_model": "strong"}
    )
    assert raw.headers["x-grid-model"] == "strong" and REASON not in raw.headers


@pytest.mark.parametrize("classifier", ["lexicon", "learned", "stacked"])
def test_an_unsure_request_goes_to_the_default_group_and_says_so(start_gateway, mock, classifier):
    """Issue 18: `model_routing.min_confidence` sends requests the classifier is unsure about to
    `model_routing.default`; sure ones are ranked as usual (tradeoff 10: cheap). Whichever
    classifier is configured."""
    cfg = config(mock.url, tradeoff=10)
    cfg["model_routing"].update({"min_confidence": 0.8, "default": "strong", "classifier": classifier})
    gw = start_gateway(cfg)
    sure, _ = ask(gw, "hi")
    assert sure["x-grid-model"] == "cheap" and "low_confidence" not in sure[REASON]
    unsure, _ = ask(gw, "Say hello in five words to visitor 100.")
    fields = dict(part.split("=", 1) for part in unsure[REASON].split("; "))
    assert unsure["x-grid-model"] == "strong" and fields["chosen"] == "strong"
    assert float(fields["low_confidence"]) < 0.8
    assert float(fields["tasks"].split(",")[0].split(":")[1]) == float(fields["low_confidence"])


def test_the_classifier_is_chosen_by_config_and_recommend_shows_its_probabilities(start_gateway, mock):
    """`model_routing.classifier` swaps the lexicon (the default) for the learned model or the
    stacked one: the same request gets that classifier's probabilities in /models/recommend and in
    the reason header."""
    body = {"messages": [{"role": "user", "content": "Translate 'good night' into German"}]}
    seen = {}
    for name in ("lexicon", "learned", "stacked"):
        cfg = config(mock.url, tradeoff=10)
        if name != "lexicon":
            cfg["model_routing"]["classifier"] = name
        gw = start_gateway(cfg)
        answer = httpx.post(f"{gw.url}/models/recommend", json=body, headers=ADMIN, timeout=10).json()
        headers, _ = ask(gw, body["messages"][0]["content"])
        assert answer["task"] == "translation", name
        tasks = dict(part.split("=", 1) for part in headers[REASON].split("; "))["tasks"]
        top, p = tasks.split(",")[0].split(":")
        assert top == "translation" and abs(float(p) - answer["task_probabilities"]["translation"]) < 0.006
        seen[name] = answer["task_probabilities"]
    assert len({tuple(sorted(p.items())) for p in seen.values()}) == 3
