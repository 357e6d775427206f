"""Images, audio and moderations through the gateway with the official `openai` SDK, in front of the mock.

Each endpoint is called through an alias (only `model` rewritten upstream) and served by a fallback
group when its own group's deployment fails; errors come back OpenAI-shaped. A multipart upload is
relayed intact (the mock answers with the byte count and SHA-256 of the file it received).
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.mock_upstream.media import TINY_PNG_B64, speech_bytes
from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, deployment
from tests.harness import LITELLM_ENV, GatewayProcess, http_client, openai_client

MODES = {
    "whisper": "audio_transcription",
    "whisper-b": "audio_transcription",
    "painter": "image_generation",
    "painter-b": "image_generation",
    "tts": "audio_speech",
    "tts-b": "audio_speech",
    "mod": "moderation",
    "mod-b": "moderation",
}


def _entry(name: str, url: str, modes: dict[str, str] = MODES, **params: str) -> dict:
    entry = deployment(name, url, dep_id=f"{name}-dep", **params)
    entry["model_info"]["mode"] = modes[name]
    return entry


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [_entry(name, mock.url) for name in MODES],
        "router_settings": {
            "num_retries": 0,
            "model_group_alias": {"ears": "whisper", "brush": "painter", "voice": "tts", "judge": "mod"},
            "fallbacks": [{"whisper": ["whisper-b"]}, {"painter": ["painter-b"]}, {"tts": ["tts-b"]}]
            + [{"mod": ["mod-b"]}],
        },
        "general_settings": {"master_key": MASTER_KEY, "max_request_size_mb": 1},
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    sdk = openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    yield sdk
    sdk.close()


def wav_file(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A real WAV file: a 440 Hz tone, 16-bit mono."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
        w.writeframes(b"".join(struct.pack("<h", f) for f in frames))
    return out.getvalue()


def fail_once(mock: MockUpstream, path: str, model: str) -> None:
    mock.add_fault({"match": {"path": path, "model": model}, "status": 500, "times": 1})


def upstream_models(mock: MockUpstream, path: str) -> list[str]:
    return [r["body"].get("model") for r in mock.requests(path)]


def test_transcription_of_a_wav_file_through_an_alias(client: openai.OpenAI, mock: MockUpstream) -> None:
    audio = wav_file()
    raw = client.audio.transcriptions.with_raw_response.create(
        model="ears", file=("tone.wav", audio, "audio/wav")
    )
    text = raw.parse().text
    assert f"of {len(audio)} bytes of wav, sha256 {hashlib.sha256(audio).hexdigest()}" in text
    assert "by whisper" in text  # the alias resolved; the deployment's own model name went upstream
    assert raw.headers["x-grid-model"] == "whisper" and raw.headers["x-grid-deployment"] == "whisper-dep"
    assert upstream_models(mock, "/v1/audio/transcriptions") == ["whisper"]


def test_transcription_as_text_and_translation(client: openai.OpenAI) -> None:
    audio = wav_file(0.1)
    text = client.audio.transcriptions.create(model="whisper", file=("a.wav", audio), response_format="text")
    assert isinstance(text, str) and text.startswith("mock transcribe by whisper")
    translated = client.audio.translations.create(model="ears", file=("a.wav", audio))
    assert translated.text.startswith("mock translate by whisper")


def test_transcription_falls_back_and_resends_the_whole_upload(
    client: openai.OpenAI, mock: MockUpstream
) -> None:
    audio = wav_file(2.0)  # 32 kB: more than one read of the body
    fail_once(mock, "/v1/audio/transcriptions", "whisper")
    raw = client.audio.transcriptions.with_raw_response.create(model="ears", file=("t.wav", audio))
    assert raw.headers["x-grid-model"] == "whisper-b" and raw.headers["x-grid-fallbacks"] == "1"
    assert hashlib.sha256(audio).hexdigest() in raw.parse().text
    assert upstream_models(mock, "/v1/audio/transcriptions") == ["whisper", "whisper-b"]


def test_image_generation_and_edit(client: openai.OpenAI, mock: MockUpstream) -> None:
    raw = client.images.with_raw_response.generate(model="brush", prompt="a red fox")
    image = raw.parse()
    assert image.data[0].b64_json and image.data[0].revised_prompt == "painter: a red fox"
    assert raw.headers["x-grid-model"] == "painter"
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 2000
    edited = client.images.edit(model="brush", image=("in.png", png, "image/png"), prompt="add a hat")
    assert hashlib.sha256(png).hexdigest() in (edited.data[0].revised_prompt or "")


def test_image_generation_falls_back(client: openai.OpenAI, mock: MockUpstream) -> None:
    fail_once(mock, "/v1/images/generations", "painter")
    raw = client.images.with_raw_response.generate(model="brush", prompt="a fox")
    assert (
        raw.headers["x-grid-model"] == "painter-b"
        and raw.parse().data[0].revised_prompt == "painter-b: a fox"
    )


def test_speech_returns_the_upstream_audio_bytes(client: openai.OpenAI) -> None:
    raw = client.audio.speech.with_raw_response.create(model="voice", voice="alloy", input="hello there")
    assert raw.content == speech_bytes("tts", "hello there")
    assert raw.headers["content-type"] == "audio/wav" and raw.headers["x-grid-model"] == "tts"


def test_speech_falls_back(client: openai.OpenAI, mock: MockUpstream) -> None:
    fail_once(mock, "/v1/audio/speech", "tts")
    raw = client.audio.speech.with_raw_response.create(model="voice", voice="alloy", input="hi")
    assert raw.content == speech_bytes("tts-b", "hi") and raw.headers["x-grid-fallbacks"] == "1"


def test_moderations_through_an_alias_and_a_fallback(client: openai.OpenAI, mock: MockUpstream) -> None:
    result = client.moderations.create(model="judge", input=["I will kill it", "a nice day"])
    assert [r.flagged for r in result.results] == [True, False] and result.model == "mod"
    fail_once(mock, "/v1/moderations", "mod")
    raw = client.moderations.with_raw_response.create(model="judge", input="fine")
    assert raw.headers["x-grid-model"] == "mod-b" and raw.parse().model == "mod-b"


def test_the_paths_without_v1(gw: GatewayProcess) -> None:
    with openai_client(gw.url) as client:  # base URL without /v1: /audio/..., /images/..., /moderations
        assert client.moderations.create(model="mod", input="fine").model == "mod"
        assert client.images.generate(model="painter", prompt="x").data[0].b64_json == TINY_PNG_B64
        assert (
            "by whisper"
            in client.audio.translations.create(model="whisper", file=("a.wav", wav_file(0.05))).text
        )
        assert client.audio.speech.create(model="tts", voice="alloy", input="x").content == speech_bytes(
            "tts", "x"
        )


def test_errors_are_openai_shaped(client: openai.OpenAI, gw: GatewayProcess) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.images.generate(model="no-such-model", prompt="x")
    assert "no-such-model" in missing.value.message
    with pytest.raises(openai.NotFoundError) as upload_missing:
        client.audio.transcriptions.create(model="no-such-ears", file=("a.wav", wav_file(0.05)))
    assert "no-such-ears" in upload_missing.value.message
    with pytest.raises(openai.BadRequestError):
        client.moderations.create(model="mod", input="")
    with pytest.raises(openai.BadRequestError) as no_voice:
        client.audio.speech.create(model="tts", voice=None, input="")  # type: ignore[arg-type]
    assert no_voice.value.body["param"] == "input"
    with http_client(gw) as http:
        # a multipart body whose model field comes after its file
        body = (
            b'--b1\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF....\r\n'
            b'--b1\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--b1--\r\n'
        )
        multipart = {"content-type": "multipart/form-data; boundary=b1"}
        resp = http.post("/v1/audio/transcriptions", content=body, headers=multipart)
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "model"
        resp = http.post("/audio/transcriptions", content=b"{}", headers={"content-type": "application/json"})
        assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"


def test_a_key_limited_to_other_models_gets_403_on_uploads(mock: MockUpstream, start_gateway) -> None:
    config = {
        "model_list": [_entry("whisper", mock.url), _entry("painter", mock.url)],
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [{"key": "sk-painter", "models": ["painter"]}],
        },
    }
    gw = start_gateway(config)
    with openai_client(gw, key="sk-painter") as client:
        with pytest.raises(openai.PermissionDeniedError):
            client.audio.transcriptions.create(model="whisper", file=("a.wav", wav_file(0.05)))
        assert client.images.generate(model="painter", prompt="ok").data
    assert mock.requests("/v1/audio/transcriptions") == []


def test_an_upload_over_the_body_limit_is_a_413(gw: GatewayProcess) -> None:
    big = b"\0" * (2 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:  # no content-length: the limit is found while relaying
        boundary = b"xx"
        yield b'--xx\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n'
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]
        yield b"\r\n--" + boundary + b"--\r\n"

    with httpx.Client(base_url=gw.url, timeout=20, headers={"authorization": f"Bearer {MASTER_KEY}"}) as http:
        resp = http.post(
            "/v1/audio/transcriptions",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=xx"},
        )
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_too_large"


def _litellm_entry(name: str, url: str, mode: str) -> dict:
    entry = deployment(name, url, dep_id=f"{name}-ll")
    entry["model_info"].update(mode=mode, grid_path="litellm")
    return entry


def test_litellm_path_images_and_moderations_and_a_clear_400_for_uploads(
    mock: MockUpstream, start_gateway
) -> None:
    config = {
        "model_list": [
            _litellm_entry("painter", mock.url, "image_generation"),
            _litellm_entry("mod", mock.url, "moderation"),
            _litellm_entry("whisper", mock.url, "audio_transcription"),
            _litellm_entry("tts", mock.url, "audio_speech"),
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }
    gw = start_gateway(config, env=dict(LITELLM_ENV))
    with openai_client(gw) as client:
        image = client.images.generate(model="painter", prompt="a fox")
        assert image.data[0].b64_json == TINY_PNG_B64
        moderation = client.moderations.create(model="mod", input="I will kill it")
        assert moderation.results[0].flagged is True
        with pytest.raises(openai.BadRequestError) as upload:
            client.audio.transcriptions.create(model="whisper", file=("a.wav", wav_file(0.05)))
        assert "LiteLLM" in upload.value.message
        with pytest.raises(openai.BadRequestError) as speech:
            client.audio.speech.create(model="tts", voice="alloy", input="hi")
        assert "LiteLLM" in speech.value.message
    calls = [r for r in mock.requests() if r["path"] != "/v1/models"]  # (the start-up probe)
    assert [r["path"] for r in calls] == ["/v1/images/generations", "/v1/moderations"]
    # the deployment's key went upstream, never the client's
    assert all(r["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}" for r in calls)
