"""Shared fixtures: real mock upstreams (in-process threads) and real gateway processes."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.harness import MASTER_KEY, PROVIDER_KEY, GatewayProcess

__all__ = ["MASTER_KEY", "PROVIDER_KEY", "TOOLS", "anthropic_deployment", "deployment"]

# one function tool, as clients send it (the mock answers it with a call to it)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="session")
def mock() -> Iterator[MockUpstream]:
    """One mock upstream for the session; faults and records are reset for each test."""
    with MockUpstream("mock-a", require_key=PROVIDER_KEY) as upstream:
        yield upstream


@pytest.fixture(scope="session")
def mock_b() -> Iterator[MockUpstream]:
    """A second mock upstream, for groups of two deployments on two servers (reset as `mock` is)."""
    with MockUpstream("mock-b", require_key=PROVIDER_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def _reset_mock(request: pytest.FixtureRequest) -> None:
    for name in ("mock", "mock_b"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


def deployment(
    name: str, base: str, *, dep_id: str | None = None, key: str = PROVIDER_KEY, **params: Any
) -> dict:
    """A model_list entry for an OpenAI-wire deployment on a mock upstream."""
    entry: dict[str, Any] = {
        "model_name": name,
        "litellm_params": {"model": f"openai/{name}", "api_base": f"{base}/v1", "api_key": key, **params},
    }
    if dep_id:
        entry["model_info"] = {"id": dep_id}
    return entry


def anthropic_deployment(name: str, base: str, dep_id: str, model: str | None = None) -> dict:
    """A model_list entry for an Anthropic deployment on a mock upstream (its api_base is the host)."""
    return {
        "model_name": name,
        "litellm_params": {"model": f"anthropic/{model or name}", "api_base": base, "api_key": PROVIDER_KEY},
        "model_info": {"id": dep_id},
    }


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateway processes with a config dict; all are stopped after the test."""
    started: list[GatewayProcess] = []

    def start(config: dict[str, Any], env: dict[str, str] | None = None, workers: int = 1) -> GatewayProcess:
        gw = GatewayProcess(config, env=env, workers=workers).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def pytest_configure(config: pytest.Config) -> None:
    """The fuzz suite's random seed is in its test ids: chosen once, here, by the main process, so every
    pytest-xdist worker (started after this, inheriting the environment) collects the same ids."""
    if not hasattr(config, "workerinput"):
        os.environ.setdefault("GRID_FUZZ_SEED", str(random.SystemRandom().randrange(2**32)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadscope` (make test), with the long tests split out and handed out first."""
    if config.getoption("dist") != "loadscope":
        return None
    from tests.xdist_schedule import LongFirstScopeScheduling

    return LongFirstScopeScheduling(config, log)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the random order's seed even under -q, so a failing order can be replayed."""
    seed = getattr(config.option, "randomly_seed", None)
    if seed is not None:
        terminalreporter.write_line(
            f"test order: pytest-randomly seed {seed} (replay: --randomly-seed={seed})"
        )
