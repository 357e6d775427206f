"""The benchmark scenarios: each is one small value saying what to run and against what.

To add one, append a `Scenario` to `SCENARIOS`; `config` builds the gateway's YAML from the running
upstream (None means wrk goes straight at the upstream, the reference every gateway row is compared
with).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.grid import MASTER_KEY
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

    @property
    def via_gateway(self) -> bool:
        return self.config is not None


def group_config(deployments: int, stream: bool = False, **router_settings: Any) -> ConfigBuilder:
    """A config with one model group `bench` of `deployments` deployments, all on the upstream."""

    def build(upstream: Upstream) -> dict[str, Any]:
        model_list = [
            {
                "model_name": "bench",
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": upstream.api_base(stream),
                    "api_key": "sk-bench",
                },
                "model_info": {"id": f"bench-{i + 1}"},
            }
            for i in range(deployments)
        ]
        config: dict[str, Any] = {"model_list": model_list, "general_settings": {"master_key": MASTER_KEY}}
        if router_settings:
            config["router_settings"] = dict(router_settings)
        return config

    return build


SCENARIOS: list[Scenario] = [
    Scenario("direct", "wrk straight at the upstream: the ceiling and the baseline"),
    Scenario("gateway", "non-streaming through the gateway, 1 deployment", config=group_config(1)),
    Scenario(
        "gateway-3", "non-streaming, a group of 3 deployments, default strategy", config=group_config(3)
    ),
    Scenario(
        "stream",
        "streaming through the gateway, 1 deployment, SSE of 20 chunks",
        config=group_config(1, stream=True),
        stream=True,
    ),
]


def select(names: str | None) -> list[Scenario]:
    """The scenarios named (comma-separated), in the order given; all of them for None."""
    if not names:
        return list(SCENARIOS)
    by_name = {s.name: s for s in SCENARIOS}
    unknown = [n for n in names.split(",") if n.strip() not in by_name]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return [by_name[n.strip()] for n in names.split(",")]
