"""Responses API ids across replicas, and continuations pinned to the deployment holding them.

Two gateway processes share one real `redis-server` (Debian's, on a free port): a response created
through one is found through the other (`retrieve`, `input_items`, `delete`, `previous_response_id`)
for an OpenAI-wire group (the provider holds the response) and for a translated Anthropic group (the
gateway holds it); another key still gets a 404. A `previous_response_id` made on one OpenAI-wire
deployment of a two-deployment group is always continued there, and answered with a clear 503 when
that deployment is cooling down, never sent to its sibling. Clients: the official `openai` SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, anthropic_deployment, deployment
from tests.harness import LITELLM_ENV, GatewayProcess, openai_client
from tests.redis_server import RedisServer
from tests.test_responses_api import assert_unseen_by

OTHER_KEY = "sk-grid-other-replica-team"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def config(mock: MockUpstream, mock_b: MockUpstream, **router: object) -> dict:
    return {
        "model_list": [
            deployment("gpt-r", mock.url, dep_id="r-a"),
            deployment("gpt-r", mock_b.url, dep_id="r-b"),
            deployment("gpt-other", mock.url, dep_id="other-a"),
            anthropic_deployment("claude", mock.url, "claude-a", model="claude-haiku-4-5"),
        ],
        "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 0, **router},
        "general_settings": {"master_key": MASTER_KEY, "api_keys": [{"key": OTHER_KEY, "name": "other"}]},
    }


@pytest.fixture(scope="module")
def replicas(mock: MockUpstream, mock_b: MockUpstream, redis_server: RedisServer) -> Iterator[tuple]:
    cfg = config(mock, mock_b, redis_url=redis_server.url)
    with GatewayProcess(cfg, env=dict(LITELLM_ENV)) as a, GatewayProcess(cfg, env=dict(LITELLM_ENV)) as b:
        yield a, b


def made_on_each_deployment(client: openai.OpenAI, **params) -> dict[str, str]:
    """deployment id -> the id of a response it made (the balancer spreads them at random)."""
    made: dict[str, str] = {}
    for i in range(60):
        raw = client.responses.with_raw_response.create(model="gpt-r", input=f"turn {i}", **params)
        made.setdefault(raw.headers["x-grid-deployment"], raw.parse().id)
        if len(made) == 2:
            return made
    raise AssertionError(f"60 responses all went to {set(made)}")


def test_an_openai_wire_response_made_on_one_replica_is_found_on_the_other(replicas, mock, mock_b):
    a, b = replicas
    mocks = {"r-a": mock, "r-b": mock_b}
    with openai_client(a) as on_a, openai_client(b) as on_b:
        made = made_on_each_deployment(on_a)
        for dep, response_id in made.items():
            got = on_b.responses.with_raw_response.retrieve(response_id)
            assert got.parse().id == response_id and got.headers["x-grid-deployment"] == dep
            assert mocks[dep].requests(f"/v1/responses/{response_id}")
            assert on_b.responses.input_items.list(response_id).data[0].content[0].text.startswith("turn")
            with pytest.raises(openai.BadRequestError):  # not a background response: the provider's 400
                on_b.responses.cancel(response_id)
            assert mocks[dep].requests(f"/v1/responses/{response_id}/cancel")
            go_on = on_b.responses.with_raw_response.create(
                model="gpt-r", input="and then?", previous_response_id=response_id
            )
            assert go_on.headers["x-grid-deployment"] == dep  # pinned on the replica that did not make it
        assert_unseen_by(b, OTHER_KEY, made.values())
        for response_id in made.values():
            on_b.responses.delete(response_id)
            for client in (on_a, on_b):  # gone for every replica
                with pytest.raises(openai.NotFoundError):
                    client.responses.retrieve(response_id)


def test_a_translated_conversation_is_continued_on_the_other_replica(replicas, mock):
    a, b = replicas
    with openai_client(a) as on_a, openai_client(b) as on_b:
        first = on_a.responses.create(model="claude", input="my name is Ada")
        events = []
        with on_a.responses.create(model="claude", input="and I like tea", stream=True) as stream:
            events = list(stream)
        streamed_id = events[-1].response.id
        assert on_b.responses.retrieve(first.id).output_text == "mock reply: my name is Ada"
        assert on_b.responses.input_items.list(first.id).data[0].content == "my name is Ada"
        second = on_b.responses.create(
            model="claude", input="what is my name?", previous_response_id=first.id
        )
        assert second.output_text == "mock reply: what is my name?"
        history = json.dumps(mock.requests("/v1/messages")[-1]["body"]["messages"])
        assert "my name is Ada" in history and "mock reply: my name is Ada" in history
        assert on_b.responses.retrieve(streamed_id).output_text == "mock reply: and I like tea"
        # the continuation made on B is known to A in turn
        assert on_a.responses.retrieve(second.id).output_text == second.output_text
        with openai_client(b, key=OTHER_KEY) as other, pytest.raises(openai.NotFoundError):
            other.responses.create(model="claude", input="hi", previous_response_id=first.id)
        on_b.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            on_a.responses.create(model="claude", input="again", previous_response_id=first.id)


def test_a_continuation_goes_only_to_the_deployment_holding_it(mock, mock_b, start_gateway):
    gw = start_gateway(config(mock, mock_b, allowed_fails=1, cooldown_time=300))
    mocks = {"r-a": mock, "r-b": mock_b}
    with openai_client(gw) as client:
        made = made_on_each_deployment(client)
        for dep, response_id in made.items():
            for i in range(6):
                raw = client.responses.with_raw_response.create(
                    model="gpt-r", input=f"more {i}", previous_response_id=response_id, stream=i % 2 == 1
                )
                assert raw.headers["x-grid-deployment"] == dep
                parsed = raw.parse()
                if i % 2 == 1:
                    assert list(parsed)[-1].type == "response.completed"  # the stream, read to its end
            for upstream_dep, upstream in mocks.items():
                continued = [
                    r for r in upstream.requests("/v1/responses") if r["body"].get("previous_response_id")
                ]
                held = [r for r in continued if r["body"]["previous_response_id"] == response_id]
                assert len(held) == (6 if upstream_dep == dep else 0), upstream_dep
        with pytest.raises(openai.BadRequestError) as other_model:
            client.responses.create(model="gpt-other", input="x", previous_response_id=made["r-a"])
        assert other_model.value.param == "previous_response_id" and "gpt-r" in other_model.value.message
        # r-b fails and its breaker opens: continuing its response is a clear 503, not a trip to r-a
        mock_b.add_fault({"match": {"path": "/v1/responses"}, "status": 500})
        with pytest.raises(openai.InternalServerError):  # the failure itself (502): no sibling tried
            client.responses.create(model="gpt-r", input="x", previous_response_id=made["r-b"])
        with pytest.raises(openai.APIStatusError) as cooling:
            client.responses.create(model="gpt-r", input="y", previous_response_id=made["r-b"])
        assert cooling.value.status_code == 503 and cooling.value.response.headers.get("retry-after")
        assert "holds previous response" in cooling.value.message
        assert not [
            r for r in mock.requests("/v1/responses") if r["body"].get("previous_response_id") == made["r-b"]
        ]
        # a new conversation still goes to the healthy deployment
        fresh = client.responses.with_raw_response.create(model="gpt-r", input="new topic")
        assert fresh.headers["x-grid-deployment"] == "r-a"


def test_with_redis_gone_a_replica_still_finds_the_ids_it_made(mock, mock_b, start_gateway):
    with RedisServer() as server:
        gw = start_gateway(config(mock, mock_b, redis_url=server.url), env=dict(LITELLM_ENV))
        with openai_client(gw) as client:
            before = client.responses.create(model="claude", input="made while Redis was up")
            server.stop()
            during = client.responses.create(model="claude", input="made while Redis is down")
            for made in (before, during):
                assert client.responses.retrieve(made.id).output_text == made.output_text
            go_on = client.responses.create(model="claude", input="and now?", previous_response_id=during.id)
            assert go_on.output_text == "mock reply: and now?"
    assert "Traceback" not in gw.logs()
