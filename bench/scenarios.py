"""The benchmark scenarios: each is one small value saying what to run and against what.

To add one, append a `Scenario` to `SCENARIOS`; `config` builds the server's config from the running
upstream (None means wrk goes straight at the upstream, the reference every other row is compared
with). `server` says what runs that config: the gateway (`grid`), or a peer for `make bench-peers`
(`litellm`, `portkey`; see `bench/peers.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import payloads
from bench.grid import MASTER_KEY
from bench.state import LIMITED_KEY, limited_config
from bench.upstream import Upstream

ConfigBuilder = Callable[[Upstream], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    config: ConfigBuilder | None = None
    stream: bool = False
    model: str = "bench"
    workers: int = 1
    chunks: int = payloads.STREAM_CHUNKS  # content events per upstream stream (20 or 200)
    server: str = "grid"
    deterministic: bool = False  # requests carry temperature 0 (cacheable)
    repeated: bool = False  # every request the same body (a response cache answers all but the first)
    key: str | None = None  # the client key wrk sends (default: the master key)

    @property
    def via_gateway(self) -> bool:
        return self.config is not None


def _deployment(group: str, upstream: Upstream, dep_id: str, stream: bool = False, chunks: int = 20) -> dict:
    return {
        "model_name": group,
        "litellm_params": {
            "model": "openai/bench-model",
            "api_base": upstream.api_base(stream, chunks),
            "api_key": "sk-bench",
        },
        "model_info": {"id": dep_id},
    }


def _config(model_list: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"model_list": model_list, "general_settings": {"master_key": MASTER_KEY}}
    config.update({k: v for k, v in sections.items() if v})
    return config


def group_config(
    deployments: int, stream: bool = False, chunks: int = payloads.STREAM_CHUNKS, **router_settings: Any
) -> ConfigBuilder:
    """A config with one model group `bench` of `deployments` deployments, all on the upstream."""

    def build(upstream: Upstream) -> dict[str, Any]:
        model_list = [
            _deployment("bench", upstream, f"bench-{i + 1}", stream, chunks) for i in range(deployments)
        ]
        return _config(model_list, router_settings=dict(router_settings))

    return build


AUTO_GROUPS = ("bench-small", "bench-medium", "bench-large")


def auto_config(upstream: Upstream) -> dict[str, Any]:
    """Three groups with `model_routing.capabilities`; clients send `model="auto"` (docs/auto-routing.md).

    The bench request ("Say hello in five words.", with a system prompt) is simple chat: the selector
    analyses it, scores the three candidates and routes it, as it would in production."""
    model_list = [_deployment(g, upstream, f"{g}-1") for g in AUTO_GROUPS]
    capabilities = {
        "bench-small": {
            "quality": 0.6,
            "tasks": {"general_chat": 0.7, "question_answering": 0.65, "summarization": 0.7},
            "max_complexity": 0.6,
            "input_cost_per_million": 0.15,
            "output_cost_per_million": 0.6,
        },
        "bench-medium": {
            "quality": 0.75,
            "tasks": ["code_generation", "code_review", "creative_writing"],
            "input_cost_per_million": 1.0,
            "output_cost_per_million": 5.0,
        },
        "bench-large": {"quality": 0.9, "input_cost_per_million": 2.5, "output_cost_per_million": 10.0},
    }
    return _config(model_list, model_routing={"capabilities": capabilities, "tradeoff": 5})


def experiment_config(upstream: Upstream) -> dict[str, Any]:
    """Requests for `bench` are all enrolled (traffic_percentage 100) in an A/B experiment between the
    groups `bench` (control) and `bench-b`; `unit: request` spreads them over both variants."""
    model_list = [_deployment("bench", upstream, "bench-1"), _deployment("bench-b", upstream, "bench-b-1")]
    experiment = {
        "id": "bench-ab",
        "models": ["bench", "bench-b"],
        "weights": [50, 50],
        "traffic_percentage": 100,
        "unit": "request",
        "status": "running",
    }
    return _config(model_list, model_routing={"experiments": [experiment]})


_RECEIVER = None


def traced_config(ratio: float) -> ConfigBuilder:
    """`group_config(1)` with OpenTelemetry on: spans exported over OTLP/HTTP to a receiver in the bench
    process (started once, counting what it gets), `ratio` of the requests sampled."""

    def build(upstream: Upstream) -> dict[str, Any]:
        global _RECEIVER
        if _RECEIVER is None:
            from bench.otlp_receiver import OtlpReceiver

            _RECEIVER = OtlpReceiver(decode=False).__enter__()  # a daemon thread: gone with the bench
        config = group_config(1)(upstream)
        otel = {"endpoint": _RECEIVER.url, "sampler": "parentbased_traceidratio", "sampler_arg": ratio}
        config["general_settings"]["otel"] = otel
        return config

    return build


SCENARIOS: list[Scenario] = [
    Scenario("direct", "wrk straight at the upstream: the ceiling and the baseline"),
    Scenario("gateway", "non-streaming through the gateway, 1 deployment", config=group_config(1)),
    Scenario(
        "gateway-3", "non-streaming, a group of 3 deployments, default strategy", config=group_config(3)
    ),
    Scenario(
        "traced", "`gateway` with OpenTelemetry traces, every request sampled", config=traced_config(1.0)
    ),
    Scenario("traced-1pct", "`gateway` with OpenTelemetry traces, 1 % sampled", config=traced_config(0.01)),
    Scenario(
        "auto",
        'model="auto": request analysis + selection among 3 groups',
        config=auto_config,
        model="auto",
    ),
    Scenario(
        "auto-fixed",
        "the `auto` config, the request naming one of its groups (bench-small): no selection",
        config=auto_config,
        model="bench-small",
    ),
    Scenario(
        "experiment",
        "every request enrolled in an A/B experiment between 2 groups",
        config=experiment_config,
    ),
    Scenario(
        "key-limits",
        "non-streaming, a key with rpm/tpm/parallel/budget limits, in-process backend",
        config=limited_config(redis=False),
        key=LIMITED_KEY,
    ),
    Scenario(
        "key-limits-redis",
        "the same key's limits shared through a local redis-server (one Lua script per request)",
        config=limited_config(redis=True),
        key=LIMITED_KEY,
    ),
    Scenario(
        "workers-2",
        "non-streaming, --workers 2 on both CPUs (wrk and nginx stay on CPU 1)",
        config=group_config(1),
        workers=2,
    ),
    Scenario(
        "cache-hit",
        "response cache on, the same temperature-0 request every time: answered from the cache",
        config=group_config(1, cache=True),
        deterministic=True,
        repeated=True,
    ),
    Scenario(
        "cache-miss",
        "response cache on, temperature-0 requests all different: looked up, relayed, stored",
        config=group_config(1, cache=True),
        deterministic=True,
    ),
    Scenario(
        "stream",
        "streaming through the gateway, 1 deployment, SSE of 20 chunks",
        config=group_config(1, stream=True),
        stream=True,
    ),
    Scenario(
        "stream-200",
        "streaming, SSE of 200 small chunks: relay throughput",
        config=group_config(1, stream=True, chunks=payloads.LONG_STREAM_CHUNKS),
        stream=True,
        chunks=payloads.LONG_STREAM_CHUNKS,
    ),
]


def select(names: str | None, among: list[Scenario] | None = None) -> list[Scenario]:
    """The scenarios named (comma-separated), in the order given; all of them for None."""
    pool = SCENARIOS if among is None else among
    if not names:
        return list(pool)
    by_name = {s.name: s for s in pool}
    unknown = [n for n in names.split(",") if n.strip() not in by_name]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return [by_name[n.strip()] for n in names.split(",")]
