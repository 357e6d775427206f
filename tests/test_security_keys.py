"""Issue 17, keys and ids: a key's model list bounds every group that may serve it, and feedback on a
request is accepted only from the key that made it.

A real gateway process, the openai SDK (and httpx) as the client, the mock upstream behind. Each group
sends its own upstream model name, so the mock's request log tells which group served and fault rules
can fail one group.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import openai
import pytest

from gateway.middleware.request_id import new_request_id
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess

HI = [{"role": "user", "content": "hi"}]
FAST_ONLY = "sk-grid-fast-only"  # may use "fast" (an alias of ctl) and the auto candidate "cheap"
FAST_AND_VAR = "sk-grid-fast-and-var"
ALICE = "sk-grid-alice"
MALLORY = "sk-grid-mallory"

CAPS = {
    "cheap": {"quality": 0.5, "input_cost_per_million": 0.1, "output_cost_per_million": 0.4},
    "strong": {"quality": 0.95, "input_cost_per_million": 5, "output_cost_per_million": 15},
}


def config(mock_url: str) -> dict[str, Any]:
    groups = ("ctl", "var", "spare", "cheap", "strong", "big")
    small = deployment("small", mock_url, dep_id="small-1", model="openai/small-up")
    small["model_info"]["max_input_tokens"] = 16
    return {
        "model_list": [
            *(deployment(g, mock_url, dep_id=f"{g}-1", model=f"openai/{g}-up") for g in groups),
            small,
        ],
        "router_settings": {
            "num_retries": 0,
            "retry_after": 0,
            "allowed_fails": 1000,
            "model_group_alias": {"fast": "ctl", "rated": "ctl"},
            "fallbacks": [{"ctl": ["spare"]}, {"cheap": ["spare"]}],
            "context_window_fallbacks": [{"small": ["big"]}],
        },
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [
                {"key": FAST_ONLY, "name": "fast-only", "models": ["fast", "cheap", "small"]},
                {"key": FAST_AND_VAR, "name": "fast-and-var", "models": ["fast", "var"]},
                {"key": ALICE, "name": "alice"},
                {"key": MALLORY, "name": "mallory"},
            ],
        },
        "model_routing": {
            "capabilities": CAPS,
            "experiments": [
                {"id": "split", "models": ["ctl", "var"], "applies_to": ["fast"]},
                {"id": "rated", "models": ["ctl", "var"], "applies_to": ["rated"], "unit": "request"},
            ],
        },
    }


@pytest.fixture(scope="module")
def gw(mock):
    with GatewayProcess(config(mock.url)) as process:
        yield process


def sdk(gw: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=15)


def chat(client: openai.OpenAI, model: str, **kwargs: Any) -> httpx.Headers:
    return client.chat.completions.with_raw_response.create(model=model, messages=HI, **kwargs).headers


def upstream_models(mock) -> Counter:
    return Counter(r["body"]["model"] for r in mock.requests("/v1/chat/completions"))


# -- a key's model list bounds variants, auto candidates and fallbacks --------------------------------


def test_a_restricted_key_is_never_enrolled_in_a_variant_outside_its_list(gw, mock):
    with sdk(gw, FAST_ONLY) as client:
        for i in range(12):
            headers = chat(client, "fast", user=f"user-{i}")
            assert headers["x-grid-model"] == "ctl"
            assert "x-grid-experiment" not in headers
    assert upstream_models(mock) == {"ctl-up": 12}


def test_a_key_that_lists_every_variant_is_enrolled(gw, mock):
    served = Counter()
    with sdk(gw, FAST_AND_VAR) as client:
        for i in range(12):
            headers = chat(client, "fast", user=f"user-{i}")
            served[headers["x-grid-model"]] += 1
            assert headers["x-grid-experiment"] == f"split={headers['x-grid-model']}"
    assert served["ctl"] and served["var"]


def test_a_restricted_key_skips_fallbacks_outside_its_list(gw, mock):
    mock.add_fault({"match": {"model": "ctl-up"}, "status": 500})
    with sdk(gw, FAST_ONLY) as client, pytest.raises(openai.InternalServerError) as info:
        chat(client, "fast", user="falls-back")
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"
    assert upstream_models(mock) == {"ctl-up": 1}  # "spare" is ctl's fallback, but not on the key's list
    with sdk(gw, MASTER_KEY) as client:  # a key without a list falls back as configured
        assert chat(client, "ctl")["x-grid-model"] == "spare"


def test_a_restricted_key_skips_context_window_fallbacks_outside_its_list(gw, mock):
    long = [{"role": "user", "content": "a long question " * 20}]  # over small's 16-token window
    with sdk(gw, FAST_ONLY) as client, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="small", messages=long)
    assert info.value.body["code"] == "context_length_exceeded"
    assert not mock.requests("/v1/chat/completions")  # "big" is small's fallback, not on the list
    with sdk(gw, MASTER_KEY) as client:
        raw = client.chat.completions.with_raw_response.create(model="small", messages=long)
    assert raw.headers["x-grid-model"] == "big"


def test_auto_selection_for_a_restricted_key_neither_picks_nor_falls_back_outside_its_list(gw, mock):
    with sdk(gw, FAST_ONLY) as client:
        for _ in range(3):
            assert chat(client, "auto")["x-grid-model"] == "cheap"
        mock.reset()
        mock.add_fault({"match": {"model": "cheap-up"}, "status": 500})
        with pytest.raises(openai.InternalServerError) as info:
            chat(client, "auto")
    assert info.value.status_code == 502
    assert upstream_models(mock) == {"cheap-up": 1}  # neither "spare" (cheap's fallback) nor "strong"


def test_a_restricted_key_still_gets_403_for_a_model_outside_its_list(gw, mock):
    with sdk(gw, FAST_ONLY) as client, pytest.raises(openai.PermissionDeniedError) as info:
        chat(client, "var")
    assert info.value.body["type"] == "permission_error"
    assert not mock.requests("/v1/chat/completions")


# -- request ids and feedback --------------------------------------------------------------------------


def test_generated_request_ids_do_not_come_from_the_process_prng():
    random.seed(17)
    first = new_request_id()
    random.seed(17)
    assert new_request_id() != first  # a seeded (or observed) Mersenne Twister does not predict them
    assert first.startswith("req_") and len(first) == 4 + 24


def rate(gw: GatewayProcess, key: str, request_id: str, value: Any) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/feedback",
        json={"request_id": request_id, "value": value},
        headers={"Authorization": f"Bearer {key}"},
        timeout=15,
    )


def test_reusing_another_clients_request_id_neither_takes_over_nor_rates_its_request(gw, mock):
    admin = {"Authorization": f"Bearer {MASTER_KEY}"}
    with sdk(gw, ALICE) as alice, sdk(gw, MALLORY) as mallory:
        headers = chat(alice, "rated")
        rid = headers["x-request-id"]
        variant = headers["x-grid-experiment"].split("=")[1]
        reused = chat(mallory, "rated", extra_headers={"X-Request-ID": rid})  # Mallory sends Alice's id
        assert reused["x-request-id"] == rid
    before = httpx.get(f"{gw.url}/admin/experiments/rated", headers=admin, timeout=15).json()
    count = {v["variant"]: v["feedback"]["count"] for v in before["variants"]}[variant]

    theirs = rate(gw, MALLORY, rid, 0)  # Mallory rates only her own request under that id...
    assert theirs.status_code == 200, theirs.text
    mine = rate(gw, ALICE, rid, 1)  # ...and Alice's request is still hers to rate
    assert mine.status_code == 200, mine.text
    assert mine.json()["variant"] == variant
    for key in (MALLORY, ALICE):
        again = rate(gw, key, rid, 1)
        assert again.status_code == 409 and again.json()["error"]["code"] == "feedback_already_recorded"
    after = httpx.get(f"{gw.url}/admin/experiments/rated", headers=admin, timeout=15).json()
    feedback = {v["variant"]: v["feedback"] for v in after["variants"]}[variant]
    assert feedback["count"] == count + 2


def test_only_the_key_that_made_a_request_may_rate_it(gw, mock):
    with sdk(gw, ALICE) as alice:
        rid = chat(alice, "rated")["x-request-id"]
    for other in (MALLORY, MASTER_KEY):  # another client, even an admin key
        refused = rate(gw, other, rid, 1)
        assert refused.status_code == 404
        error = refused.json()["error"]
        assert error["code"] == "request_not_found" and error["type"] == "invalid_request_error"
    assert rate(gw, ALICE, rid, 1).status_code == 200
