"""Multipart uploads (transcriptions, translations, image edits) are enrolled in experiments as JSON
requests are: their `model` and `user` form fields go through the same assignment, the variant's
group serves, `x-grid-experiment` names it and `/admin/experiments` counts it.

The official `openai` SDK sends the uploads (`user` as a form field before the file) to a running
gateway in front of the mock, which records the model each deployment received.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY
from tests.harness import CLIENT_TIMEOUT, GatewayProcess, openai_client
from tests.test_media import _entry, wav_file

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 500
MODES = {"ears-a": "audio_transcription", "ears-b": "audio_transcription"}
MODES |= {"brush-a": "image_generation", "brush-b": "image_generation"}


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [_entry(name, mock.url, MODES, model=f"openai/{name}-up") for name in MODES],
        "router_settings": {"num_retries": 0, "model_group_alias": {"ears": "ears-a", "brush": "brush-a"}},
        "general_settings": {"master_key": MASTER_KEY},
        "model_routing": {
            "experiments": [
                {"id": "hearing", "models": ["ears-a", "ears-b"], "applies_to": ["ears"], "unit": "user"},
                {"id": "painting", "models": ["brush-a", "brush-b"], "applies_to": ["brush"], "unit": "user"},
            ]
        },
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai_client(gw) as sdk:
        yield sdk


def assigned(gw: GatewayProcess, experiment_id: str) -> dict[str, int]:
    with httpx.Client(timeout=CLIENT_TIMEOUT) as http:
        report = http.get(
            f"{gw.url}/admin/experiments/{experiment_id}", headers={"Authorization": f"Bearer {MASTER_KEY}"}
        ).json()
    return {v["variant"]: v["assigned"] for v in report["variants"]}


def test_transcriptions_from_different_users_spread_over_the_variants(client, gw, mock):
    before = assigned(gw, "hearing")
    audio, served = wav_file(0.1), {}
    for i in range(16):
        raw = client.audio.transcriptions.with_raw_response.create(
            model="ears", file=("a.wav", audio, "audio/wav"), extra_body={"user": f"user-{i}"}
        )
        experiment, _, variant = raw.headers["x-grid-experiment"].partition("=")
        assert experiment == "hearing" and raw.headers["x-grid-model"] == variant
        assert f"by {variant}-up" in raw.parse().text  # the variant's deployment got the upload
        served[f"user-{i}"] = variant
    assert set(served.values()) == {"ears-a", "ears-b"}
    after = assigned(gw, "hearing")
    assert sum(after.values()) - sum(before.values()) == 16
    assert after["ears-b"] - before.get("ears-b", 0) == Counter(served.values())["ears-b"]
    # a user stays on its variant, for a translation too (same alias, same experiment)
    again = client.audio.translations.with_raw_response.create(
        model="ears", file=("a.wav", audio), extra_body={"user": "user-3"}
    )
    assert again.headers["x-grid-experiment"] == f"hearing={served['user-3']}"
    models = Counter(r["body"]["model"] for r in mock.requests("/v1/audio/transcriptions"))
    assert models == Counter(f"{v}-up" for v in served.values())


def test_image_edits_are_enrolled_by_their_user_field(client, gw, mock):
    variants = set()
    for i in range(16):
        raw = client.images.with_raw_response.edit(
            model="brush", image=("in.png", PNG, "image/png"), prompt="add a hat", user=f"painter-{i}"
        )
        experiment, _, variant = raw.headers["x-grid-experiment"].partition("=")
        assert experiment == "painting" and raw.headers["x-grid-model"] == variant
        variants.add(variant)
    assert variants == {"brush-a", "brush-b"}
    assert sum(assigned(gw, "painting").values()) >= 16


def test_an_upload_without_a_user_is_not_enrolled_in_a_user_unit_experiment(client, mock):
    raw = client.audio.transcriptions.with_raw_response.create(model="ears", file=("a.wav", wav_file(0.1)))
    assert "x-grid-experiment" not in raw.headers and raw.headers["x-grid-model"] == "ears-a"
