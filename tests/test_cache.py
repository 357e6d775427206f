"""The response cache end to end: the official SDK against a gateway in front of the mock.

The mock numbers its completions (`chatcmpl-mockN`), so an answer from the cache is the very answer
stored (same id) and a fresh one is not; the mock's request log says whether the provider was called.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from gateway.cache.store import LocalStore
from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess, http_client, metric_value, openai_client, user

KEY_A = "sk-cache-team-a"
KEY_B = "sk-cache-team-b"


def config(mock: MockUpstream, cache: object, **router: object) -> dict:
    quiet = deployment("quiet", mock.url, dep_id="quiet-dep")
    quiet["model_info"]["cache"] = False
    return {
        "model_list": [
            deployment("gpt-4o-mini", mock.url, dep_id="mini-a"),
            deployment("embedder", mock.url, dep_id="embed-a"),
            quiet,
        ],
        "router_settings": {"cache": cache, "model_group_alias": {"fast": "gpt-4o-mini"}, **router},
        "general_settings": {"master_key": MASTER_KEY, "api_keys": [{"key": KEY_A}, {"key": KEY_B}]},
    }


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(mock, True)) as process:
        yield process


def chat(gw: GatewayProcess, text: str, key: str = MASTER_KEY, headers: dict | None = None, **params):
    with openai_client(gw, key=key) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=params.pop("model", "gpt-4o-mini"), messages=user(text), extra_headers=headers, **params
        )
        return raw.headers.get("x-grid-cache"), raw.parse()


def upstream_calls(mock: MockUpstream, path: str = "/v1/chat/completions") -> int:
    return len(mock.requests(path))


def unique(name: str) -> str:
    """A prompt no other test (or earlier run of the module's gateway) has cached."""
    return f"{name} {time.monotonic_ns()}"


def test_a_deterministic_request_is_a_miss_then_a_hit(gw: GatewayProcess, mock: MockUpstream) -> None:
    text = unique("capital of France")
    first_state, first = chat(gw, text, temperature=0)
    second_state, second = chat(gw, text, temperature=0)
    assert (first_state, second_state) == ("miss", "hit")
    assert second.id == first.id and second.choices[0].message.content == first.choices[0].message.content
    assert upstream_calls(mock) == 1


def test_a_deterministic_responses_call_is_cached_json_and_stream(
    gw: GatewayProcess, mock: MockUpstream
) -> None:
    text = unique("responses")
    with openai_client(gw) as client:
        create = client.responses.with_raw_response.create
        first = create(model="gpt-4o-mini", input=text, temperature=0)
        second = create(model="gpt-4o-mini", input=text, temperature=0)
        assert (first.headers["x-grid-cache"], second.headers["x-grid-cache"]) == ("miss", "hit")
        assert (
            second.parse().id == first.parse().id and second.parse().output_text == first.parse().output_text
        )
        assert len(mock.requests("/v1/responses")) == 1

        def streamed() -> tuple[str, list[str]]:
            with client.responses.with_streaming_response.create(
                model="gpt-4o-mini", input=text, temperature=0, stream=True
            ) as raw:
                return raw.headers["x-grid-cache"], [line for line in raw.iter_lines() if line]

        (miss, original), (hit, replayed) = streamed(), streamed()
    assert (miss, hit) == ("miss", "hit") and replayed == original
    assert any("response.completed" in line for line in original)
    assert len(mock.requests("/v1/responses")) == 2  # the JSON call and the first stream


def test_an_alias_and_its_group_share_entries_and_parameters_split_them(
    gw: GatewayProcess, mock: MockUpstream
) -> None:
    text = unique("alias")
    assert chat(gw, text, seed=7)[0] == "miss"
    assert chat(gw, text, seed=7, model="fast")[0] == "hit"
    assert chat(gw, text, seed=7, max_tokens=5)[0] == "miss"  # another parameter, another answer
    assert chat(gw, text, seed=7, user="someone-else")[0] == "hit"  # `user` does not change the answer
    assert upstream_calls(mock) == 2


def test_sampling_requests_are_skipped_unless_the_client_opts_in(
    gw: GatewayProcess, mock: MockUpstream
) -> None:
    text = unique("poem")
    assert chat(gw, text, temperature=0.8)[0] == "skip"
    assert chat(gw, text, temperature=0.8)[0] == "skip"
    assert upstream_calls(mock) == 2
    on = {"x-grid-cache": "on"}
    assert chat(gw, text, headers=on, temperature=0.8)[0] == "miss"
    assert chat(gw, text, headers=on, temperature=0.8)[0] == "hit"
    assert chat(gw, text, headers={"x-grid-cache": "off"}, temperature=0)[0] == "skip"
    assert upstream_calls(mock) == 4


def test_cache_control_bypasses_lookup_or_storing(gw: GatewayProcess, mock: MockUpstream) -> None:
    text = unique("bypass")
    assert chat(gw, text, headers={"cache-control": "no-store"}, temperature=0)[0] == "miss"
    assert chat(gw, text, headers={"cache-control": "no-cache"}, temperature=0)[0] == "skip"  # stored
    assert chat(gw, text, temperature=0)[0] == "hit"
    assert upstream_calls(mock) == 2


def test_a_hit_never_crosses_keys(gw: GatewayProcess, mock: MockUpstream) -> None:
    text = unique("isolated")
    assert chat(gw, text, key=KEY_A, temperature=0)[0] == "miss"
    state_b, answer_b = chat(gw, text, key=KEY_B, temperature=0)
    assert state_b == "miss"
    state_a, answer_a = chat(gw, text, key=KEY_A, temperature=0)
    assert state_a == "hit" and answer_a.id != answer_b.id
    assert upstream_calls(mock) == 2


def test_a_group_with_cache_false_and_embeddings(gw: GatewayProcess, mock: MockUpstream) -> None:
    text = unique("quiet")
    assert chat(gw, text, model="quiet", temperature=0)[0] == "skip"
    with openai_client(gw) as client:
        states = [
            client.embeddings.with_raw_response.create(model="embedder", input=text).headers["x-grid-cache"]
            for _ in range(2)
        ]
    assert states == ["miss", "hit"] and upstream_calls(mock, "/v1/embeddings") == 1


def test_a_cached_stream_is_replayed_as_the_same_sse(gw: GatewayProcess, mock: MockUpstream) -> None:
    body = {"model": "gpt-4o-mini", "messages": user(unique("stream me")), "temperature": 0, "stream": True}
    with http_client(gw) as http:
        first = http.post("/v1/chat/completions", json=body)
        second = http.post("/v1/chat/completions", json=body)
    assert first.headers["x-grid-cache"] == "miss" and second.headers["x-grid-cache"] == "hit"
    assert second.headers["content-type"].startswith("text/event-stream")
    assert second.content == first.content and first.content.endswith(b"data: [DONE]\n\n")
    with openai_client(gw) as client:  # and the SDK reads it as a stream
        chunks = list(client.chat.completions.create(**body))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("mock reply") and upstream_calls(mock) == 1


def test_hits_are_counted_in_metrics(gw: GatewayProcess) -> None:
    with http_client(gw) as http:
        before = metric_value(http.get("/metrics").text, "grid_cache_requests_total", 0.0, result="hit")
        text = unique("metrics")
        chat(gw, text, temperature=0)
        chat(gw, text, temperature=0)
        page = http.get("/metrics").text
    assert metric_value(page, "grid_cache_requests_total", 0.0, result="hit") == before + 1
    assert (metric_value(page, "grid_cache_saved_tokens_total", 0.0, model="gpt-4o-mini") or 0) > 0
    assert (metric_value(page, "grid_cache_saved_cost_usd_total", 0.0, model="gpt-4o-mini") or 0) > 0


def test_entries_expire_after_their_ttl(mock: MockUpstream, start_gateway) -> None:
    gw = start_gateway(config(mock, {"ttl": 1}))
    text = unique("short-lived")
    assert chat(gw, text, temperature=0)[0] == "miss"
    assert chat(gw, text, temperature=0)[0] == "hit"
    time.sleep(1.2)
    assert chat(gw, text, temperature=0)[0] == "miss"
    assert upstream_calls(mock) == 2


def test_global_scope_shares_entries_across_keys(mock: MockUpstream, start_gateway) -> None:
    gw = start_gateway(config(mock, {"scope": "global", "max_size_mb": 1}))
    text = unique("shared")
    assert chat(gw, text, key=KEY_A, temperature=0)[0] == "miss"
    assert chat(gw, text, key=KEY_B, temperature=0)[0] == "hit"


def test_without_a_cache_there_is_no_header(mock: MockUpstream, start_gateway) -> None:
    gw = start_gateway(config(mock, False))
    assert chat(gw, unique("off"), temperature=0)[0] is None


def test_an_error_answer_is_not_cached(gw: GatewayProcess, mock: MockUpstream) -> None:
    text = unique("fails")
    mock.add_fault({"match": {"path": "/v1/chat/completions"}, "status": 400, "times": 1})
    with openai_client(gw) as client, pytest.raises(openai.BadRequestError) as failed:
        client.chat.completions.create(model="gpt-4o-mini", messages=user(text), temperature=0)
    assert failed.value.response.headers["x-grid-cache"] == "miss"
    assert chat(gw, text, temperature=0)[0] == "miss"


async def test_the_local_store_evicts_the_least_recently_used_by_size_and_expires() -> None:
    now = [100.0]
    store = LocalStore(max_bytes=10, clock=lambda: now[0])
    await store.set("a", b"aaaa", ttl=5)
    await store.set("b", b"bbbb", ttl=5)
    assert await store.get("a") == b"aaaa"  # a is now the most recently used
    await store.set("c", b"cccc", ttl=5)  # 12 bytes > 10: b goes
    assert await store.get("b") is None and await store.get("a") == b"aaaa" and store.size == 8
    await store.set("huge", b"x" * 11, ttl=5)  # bigger than the whole store: not kept, nothing evicted
    assert len(store) == 2
    now[0] += 5
    assert await store.get("a") is None and store.size == 4


def test_litellm_cache_settings_turn_the_cache_on(mock: MockUpstream, start_gateway) -> None:
    cfg = config(mock, None)
    cfg["litellm_settings"] = {"cache": True, "cache_params": {"type": "local", "ttl": 600}}
    gw = start_gateway(cfg)
    text = unique("litellm")
    assert [chat(gw, text, temperature=0)[0] for _ in range(2)] == ["miss", "hit"]
    assert "litellm_settings.cache" not in gw.logs()  # not warned about as unused


def test_a_bad_cache_setting_is_a_config_error(tmp_path) -> None:
    from gateway.config.loader import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("model_list: []\nrouter_settings: {cache: {scope: everyone}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path), {})
    assert "router_settings.cache.scope" in str(err.value)


def test_a_reload_turns_the_cache_off_and_on(mock: MockUpstream, start_gateway) -> None:
    gw = start_gateway(config(mock, True))
    text = unique("reloaded")
    assert [chat(gw, text, temperature=0)[0] for _ in range(2)] == ["miss", "hit"]
    gw.write_config(config(mock, False))
    with http_client(gw) as http:
        assert http.post("/admin/config/reload").status_code == 200
    assert chat(gw, text, temperature=0)[0] is None
    gw.write_config(config(mock, True))
    with http_client(gw) as http:
        assert http.post("/admin/config/reload").status_code == 200
    assert chat(gw, text, temperature=0)[0] == "miss"  # a new cache starts empty
