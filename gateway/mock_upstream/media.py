"""Images, audio and moderations: deterministic answers derived from what was sent.

An answer names what the mock received (the byte count and SHA-256 of an uploaded file, the
prompt, the model), so a test can tell that the gateway relayed the upload intact and rewrote only
`model`. Multipart bodies are read as a stream (`read_multipart`): a file part is hashed as it
arrives, never held whole, so a 20 MB upload costs the mock no more memory than a small one.
"""

from __future__ import annotations

import hashlib
import struct
import time
from typing import Any

from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import Call, send_json

# the smallest valid PNG (1x1, transparent): what every generated "image" is
TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
SPEECH_CHUNK = 16 * 1024
FLAGGED_WORDS = ("kill", "hate")


async def read_multipart(request: web.Request) -> dict[str, Any]:
    """The form's text fields as strings; each file field as {filename, bytes, sha256, wav}."""
    fields: dict[str, Any] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        name = part.name or ""
        if part.filename is None:
            fields[name] = (await part.read()).decode("utf-8", "replace")
            continue
        digest, size, head = hashlib.sha256(), 0, b""
        while chunk := await part.read_chunk(64 * 1024):
            if not head:
                head = chunk[:4]
            digest.update(chunk)
            size += len(chunk)
        wav = head == b"RIFF"
        fields[name] = {"filename": part.filename, "bytes": size, "sha256": digest.hexdigest(), "wav": wav}
    return fields


def _image_data(call: Call, prompt: str, count: int) -> web.Response | list[dict[str, Any]]:
    fmt = call.body.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        return error_response(400, "'response_format' must be 'url' or 'b64_json'", param="response_format")
    item = {"revised_prompt": f"{call.model}: {prompt}"}
    if fmt == "url":
        item["url"] = f"https://mock.invalid/images/{hashlib.sha256(prompt.encode()).hexdigest()[:16]}.png"
    else:
        item["b64_json"] = TINY_PNG_B64
    return [dict(item) for _ in range(count)]


async def image_generations(call: Call) -> web.StreamResponse:
    prompt = call.body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return error_response(400, "you must provide a prompt", param="prompt")
    n = call.body.get("n") or 1
    if not isinstance(n, int) or not 1 <= n <= 10:
        return error_response(400, "'n' must be an integer from 1 to 10", param="n")
    data = _image_data(call, prompt, n)
    if isinstance(data, web.Response):
        return data
    return await send_json(call, {"created": int(time.time()), "data": data})


async def image_edits(call: Call) -> web.StreamResponse:
    image = call.body.get("image") or call.body.get("image[]")
    if not isinstance(image, dict):
        return error_response(400, "you must provide an image file", param="image")
    prompt = call.body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return error_response(400, "you must provide a prompt", param="prompt")
    data = _image_data(call, f"{prompt} [edit of {image['bytes']} bytes, sha256 {image['sha256']}]", 1)
    if isinstance(data, web.Response):
        return data
    return await send_json(call, {"created": int(time.time()), "data": data})


async def _audio_in(call: Call, task: str) -> web.StreamResponse:
    upload = call.body.get("file")
    if not isinstance(upload, dict):
        return error_response(400, "you must provide an audio file", param="file")
    if not call.model:
        return error_response(400, "you must provide a model parameter", param="model")
    kind = "wav" if upload["wav"] else "audio"
    text = f"mock {task} by {call.model} of {upload['bytes']} bytes of {kind}, sha256 {upload['sha256']}"
    fmt = call.body.get("response_format") or "json"
    if fmt == "text":
        return web.Response(text=text, content_type="text/plain")
    if fmt == "verbose_json":
        return await send_json(call, {"task": task, "language": "english", "duration": 1.0, "text": text})
    if fmt != "json":
        return error_response(
            400, "'response_format' must be json, text or verbose_json", param="response_format"
        )
    return await send_json(call, {"text": text})


async def transcriptions(call: Call) -> web.StreamResponse:
    return await _audio_in(call, "transcribe")


async def translations(call: Call) -> web.StreamResponse:
    return await _audio_in(call, "translate")


def speech_bytes(model: str, text: str) -> bytes:
    """A WAV file whose samples come from a hash of (model, input): the same request, the same audio."""
    seed = hashlib.shake_128(f"{model}\n{text}".encode()).digest(4 * max(len(text), 1))
    samples = seed * 8
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += (
        struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(samples))
    )
    return header + samples


async def speech(call: Call) -> web.StreamResponse:
    text = call.body.get("input")
    if not isinstance(text, str) or not text:
        return error_response(400, "you must provide an input", param="input")
    if not isinstance(call.body.get("voice"), str):
        return error_response(400, "you must provide a voice", param="voice")
    audio = speech_bytes(call.model, text)
    response = web.StreamResponse(headers={"content-type": "audio/wav"})
    response.content_length = len(audio)
    await response.prepare(call.request)
    for start in range(0, len(audio), SPEECH_CHUNK):
        await response.write(audio[start : start + SPEECH_CHUNK])
    await response.write_eof()
    return response


async def moderations(call: Call) -> web.StreamResponse:
    value = call.body.get("input")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        return error_response(400, "you must provide an input", param="input")
    results = []
    for item in items:
        text = item if isinstance(item, str) else str(item)
        flagged = any(word in text.lower() for word in FLAGGED_WORDS)
        results.append(
            {
                "flagged": flagged,
                "categories": {"violence": flagged, "hate": False},
                "category_scores": {"violence": 0.9 if flagged else 0.01, "hate": 0.0},
            }
        )
    model = call.model or "omni-moderation-latest"
    body = {"id": f"modr-{hashlib.sha256(str(items).encode()).hexdigest()[:12]}", "model": model}
    return await send_json(call, {**body, "results": results})
